//! What a run needs before its first step: the data its config names, the device, and the model
//! initialised from the run's seed.

use crate::config::RunConfig;
use crate::model::DualTaskModel;
use anyhow::{anyhow, bail, Context};
use grace_core::rundir::{DataRecord, DATA_FILE};
use grace_data::{prepare, write_data, write_rul, DataError, DataSource, DataSpec, Prepared, RawSubset, Subset};
use std::path::Path;
use tch::{nn, Device};

/// Loads the raw data set a run config names (a C-MAPSS folder or zip, or the synthetic fleet).
pub fn load_raw(cfg: &RunConfig) -> anyhow::Result<RawSubset> {
    cfg.data.open().load_subset(&cfg.data.subset).map_err(|e| match e {
        DataError::UnknownSubset(m) => anyhow!("data.subset: {m}"),
        e => e.into(),
    })
}

/// The raw subset, split and preprocessed as the config says (docs/reference.md §2).
pub fn load_data(cfg: &RunConfig) -> anyhow::Result<Prepared> {
    Ok(prepare(&load_raw(cfg)?, &cfg.data.prep)?)
}

/// [`load_data`], and the record of what was read: the source and a sha256 of each file.
pub fn load_recorded(cfg: &RunConfig) -> anyhow::Result<(Prepared, DataRecord)> {
    let raw = load_raw(cfg)?;
    let record = data_record(cfg, &raw)?;
    Ok((prepare(&raw, &cfg.data.prep)?, record))
}

/// The fingerprint of the data behind `raw`. The files are read a second time rather than taken
/// from the loader, so that every check the loader makes still applies; the synthetic fleet has no
/// files and is fingerprinted by its text in NASA's layout.
pub fn data_record(cfg: &RunConfig, raw: &RawSubset) -> anyhow::Result<DataRecord> {
    let source = cfg.data.source.as_str();
    let files: Vec<(String, String)> = match cfg.data.spec() {
        DataSpec::Synthetic => {
            let name = &raw.name;
            vec![
                (format!("train_{name}.txt"), write_data(&raw.train)),
                (format!("test_{name}.txt"), write_data(&raw.test)),
                (format!("RUL_{name}.txt"), write_rul(&raw.test_rul)),
            ]
        }
        DataSpec::Path(p) => {
            let names = raw.name.parse::<Subset>().map_err(|e| anyhow!("data.subset: {e}"))?.files();
            let texts = DataSource::from_path(p).read_texts(&names)?;
            names.into_iter().zip(texts).collect()
        }
    };
    let bytes: Vec<(String, &[u8])> = files.iter().map(|(n, t)| (n.clone(), t.as_bytes())).collect();
    Ok(DataRecord::of(source, &raw.name, &bytes))
}

/// Parses a device name: `cpu`, `cuda`, `cuda:N` or `auto`; a CUDA device must be usable here.
pub fn device_of(name: &str) -> anyhow::Result<Device> {
    Ok(match name {
        "cpu" => Device::Cpu,
        "auto" => Device::cuda_if_available(),
        "cuda" => {
            if !tch::Cuda::is_available() {
                bail!("--device cuda: no CUDA device is usable here (tch::Cuda::is_available() is false); use --device cpu or auto")
            }
            Device::Cuda(0)
        }
        other => match other.strip_prefix("cuda:").and_then(|n| n.parse::<usize>().ok()) {
            Some(i) if (i as i64) < tch::Cuda::device_count() => Device::Cuda(i),
            _ => bail!("unknown or unavailable device '{other}': use cpu, cuda, cuda:N or auto"),
        },
    })
}

/// The run's device and threads, and its model initialised from the run's seed: the same
/// starting point for training and for the diagnosis of that training.
pub fn seeded_model(cfg: &RunConfig) -> anyhow::Result<(Device, nn::VarStore, DualTaskModel)> {
    let device = device_of(&cfg.train.device)?;
    if cfg.train.threads > 0 {
        tch::set_num_threads(cfg.train.threads as i32);
    }
    tch::manual_seed(cfg.train.seed as i64);
    let vs = nn::VarStore::new(device);
    let model = DualTaskModel::new(&vs.root(), &cfg.model.config);
    Ok((device, vs, model))
}

/// The data record of the run in `dir` (`data.json`), or `None` for a run without one.
pub fn recorded_data(dir: &Path) -> anyhow::Result<Option<DataRecord>> {
    let path = dir.join(DATA_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("{} is not a grace data record", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// `None` when `now` holds the data of `recorded`; else both fingerprints and the files that differ.
pub fn data_difference(recorded: &DataRecord, now: &DataRecord) -> Option<String> {
    if recorded.fingerprint == now.fingerprint {
        return None;
    }
    let changed: Vec<&str> =
        now.files.iter().filter(|f| !recorded.files.contains(f)).map(|f| f.name.as_str()).collect();
    Some(format!(
        "{} {} has fingerprint {}, the run recorded {} from {} {} in {DATA_FILE}; files that differ: {}",
        now.source,
        now.subset,
        now.fingerprint,
        recorded.fingerprint,
        recorded.source,
        recorded.subset,
        if changed.is_empty() { "none by content (other files)".to_string() } else { changed.join(", ") }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use grace_data::prep::validation_indices;

    fn units(sets: &[&str]) -> (Vec<u32>, Vec<u32>) {
        let mut all = vec!["data.synthetic.n_train=10".to_string(), "data.synthetic.n_test=2".to_string()];
        all.extend(sets.iter().map(|s| s.to_string()));
        let data = load_data(&RunConfig::resolve("small", None, &all).unwrap()).unwrap();
        (data.train_units, data.val_units)
    }

    #[test]
    fn folds_hold_out_whole_engines_and_folds_zero_keeps_todays_split() {
        // today's split: 20% of 10 engines, seeded by data.prep.seed (42); synthetic units are 1..=10
        let (train, val) = units(&[]);
        let want: Vec<u32> = validation_indices(10, 0.2, 42).iter().map(|&i| i as u32 + 1).collect();
        assert_eq!((val.clone(), train.len()), (want, 8));
        // 3 folds of 10 engines: 4, 3, 3 held out; never an engine on both sides; each engine once
        let mut held = Vec::new();
        for fold in 0..3 {
            let (train, val) = units(&["data.prep.folds=3", &format!("data.prep.fold={fold}")]);
            assert_eq!((train.len() + val.len(), val.len()), (10, [4, 3, 3][fold]));
            assert!(val.iter().all(|u| !train.contains(u)), "fold {fold}: {val:?} in {train:?}");
            held.extend(val);
        }
        held.sort_unstable();
        assert_eq!(held, (1..=10).collect::<Vec<u32>>());
    }

    /// Checks that calibration engines came out of the validation set of `off` (the same config
    /// without calibration), and train and select nothing.
    fn check_calibration_split(off: &Prepared, on: &Prepared) {
        assert_eq!(on.train_units, off.train_units, "calibration engines are validation engines, never training ones");
        let mut held: Vec<u32> = on.val_units.iter().chain(&on.calibration_units).copied().collect();
        held.sort_unstable();
        assert_eq!(held, off.val_units);
        assert!(on.calibration_units.iter().all(|u| !on.val_units.contains(u)));
        let units = |s: &grace_data::Split| s.engines.iter().map(|e| e.unit).collect::<Vec<_>>();
        assert_eq!((units(&on.val), units(&on.calibration)), (on.val_units.clone(), on.calibration_units.clone()));
        assert_eq!(on.preprocessing.mean, off.preprocessing.mean, "the fit sees the training engines only");
    }

    #[test]
    fn calibration_engines_are_a_seeded_half_of_the_synthetic_validation_engines() {
        let cfg = |sets: &[&str]| {
            let mut all = vec!["data.synthetic.n_train=20".to_string(), "data.synthetic.n_test=2".to_string()];
            all.extend(sets.iter().map(|s| s.to_string()));
            RunConfig::resolve("small", None, &all).unwrap()
        };
        let off = load_data(&cfg(&[])).unwrap();
        let on = load_data(&cfg(&["data.prep.calibration=0.5"])).unwrap();
        assert_eq!((on.val_units.len(), on.calibration_units.len()), (2, 2));
        check_calibration_split(&off, &on);
        assert_eq!(on.calibration_units, load_data(&cfg(&["data.prep.calibration=0.5"])).unwrap().calibration_units);
        assert!(off.calibration.engines.is_empty() && off.calibration_units.is_empty());
        let e = load_data(&cfg(&["data.prep.calibration=0.1"])).unwrap_err().to_string();
        assert!(
            e.contains("data.prep.calibration = 0.1 of the 4 validation engines leaves no calibration engine"),
            "{e}"
        );
    }

    #[test]
    fn fd001_calibration_half_gives_ten_selection_and_ten_calibration_engines() {
        let Ok(dir) = std::env::var("GRACE_CMAPSS_DIR") else {
            eprintln!("skipped: GRACE_CMAPSS_DIR is not set");
            return;
        };
        let cfg = |sets: &[&str]| {
            let mut all = vec![format!("data.source=\"{dir}\""), "data.subset=\"FD001\"".to_string()];
            all.extend(sets.iter().map(|s| s.to_string()));
            RunConfig::resolve("small", None, &all).unwrap()
        };
        let off = load_data(&cfg(&[])).unwrap();
        let on = load_data(&cfg(&["data.prep.calibration=0.5"])).unwrap();
        assert_eq!((on.train_units.len(), on.val_units.len(), on.calibration_units.len()), (80, 10, 10));
        check_calibration_split(&off, &on);
    }
}
