//! `grace evaluate`: scores a finished run again, on the data it was trained on (proved the same
//! by their fingerprint) or, when asked explicitly, on other data into a folder of its own.

use crate::config::RunConfig;
use crate::evaluate::{load_best, score, write_predictions, TrainingSummary};
use crate::io::write_json_atomic;
use crate::setup::{data_difference, data_record, device_of, load_raw, load_recorded, recorded_data};
use anyhow::{anyhow, bail, Context};
use grace_core::lock::RunLock;
use grace_core::results::RunResults;
use grace_core::rundir::{BEST_FILE, CONFIG_FILE, DATA_FILE, PREDICTIONS_FILE, PREPROCESSING_FILE, RESULTS_FILE};
use grace_data::{EngineSplit, Prepared, Preprocessing, RawSubset, Split};
use std::path::Path;
use tch::Device;

/// Data other than the run's own to score it on, and the folder for those results.
#[derive(Debug, Clone)]
pub struct OtherData<'a> {
    /// A C-MAPSS folder or zip, or `synthetic`.
    pub source: &'a str,
    /// The run's own subset when `None`.
    pub subset: Option<&'a str>,
    /// Where results, predictions and the data record go; never the run directory.
    pub out: &'a Path,
}

/// Re-scores a finished run on its own data and rewrites its `predictions.csv`. Refuses when the
/// data no longer match the fingerprint the run recorded: scoring different data under the run's
/// name would replace its outputs with figures about something else.
pub fn evaluate_run(dir: &Path, device: Option<&str>) -> anyhow::Result<RunResults> {
    let (cfg, previous) = finished_run(dir)?;
    let device = runtime(&cfg, device)?;
    let lock = RunLock::acquire(dir, "grace evaluate")?;
    lock.report_stale();
    let (data, record) = load_recorded(&cfg)?;
    match recorded_data(dir)? {
        Some(old) => {
            if let Some(diff) = data_difference(&old, &record) {
                bail!(
                    "{} was not trained on these data: {diff}. To score the run on other data, pass --data PATH \
                     --out DIR: the results go to DIR and the run's own files stay as they are",
                    dir.display()
                );
            }
        }
        None => eprintln!(
            "warning: {} has no {DATA_FILE} (made before grace fingerprinted data): the data at {} cannot be \
             checked against the data it was trained on",
            dir.display(),
            cfg.data.source
        ),
    }
    let weights = dir.join(BEST_FILE);
    let (_vs, model) = load_best(dir, &cfg, device)?;
    let (mut results, rows, calibration) = score(&cfg, &data, &model, device, &summary_of(&previous), &weights)?;
    results.protocol.data_fingerprint = record.fingerprint;
    write_predictions(&dir.join(PREDICTIONS_FILE), &rows)?;
    if let Some(c) = calibration {
        c.write(dir)?;
    }
    Ok(results)
}

/// Scores a finished run's selected weights on other data, preprocessed with the run's own fitted
/// preprocessing (as `grace predict` does), and writes `results.json`, `predictions.csv` and
/// `data.json` into `other.out`. The run directory is only read.
pub fn evaluate_on(dir: &Path, other: &OtherData, device: Option<&str>) -> anyhow::Result<RunResults> {
    let (cfg, previous) = finished_run(dir)?;
    let (_, pre) = crate::predict::open_run(dir)?;
    refuse_run_folder(dir, other.out)?;
    let device = runtime(&cfg, device)?;
    let mut data_cfg = cfg.clone();
    data_cfg.data.source = other.source.to_string();
    data_cfg.data.source = data_cfg.data.absolute_source().map_err(|e| anyhow!("--data: {e}"))?;
    if let Some(s) = other.subset {
        data_cfg.data.subset = s.to_string();
    }
    let raw = load_raw(&data_cfg)?;
    let record = data_record(&data_cfg, &raw)?;
    let data = prepare_with(&raw, &pre)?;
    let weights = dir.join(BEST_FILE);
    let (_vs, model) = load_best(dir, &cfg, device)?;
    let (mut results, rows, calibration) = score(&cfg, &data, &model, device, &summary_of(&previous), &weights)?;
    results.protocol.data_fingerprint = record.fingerprint.clone();
    results.subset = data.name.clone();
    results.synthetic = data_cfg.data.is_synthetic();
    std::fs::create_dir_all(other.out).with_context(|| format!("creating --out {}", other.out.display()))?;
    let _lock = RunLock::acquire(other.out, "grace evaluate --out")?;
    write_predictions(&other.out.join(PREDICTIONS_FILE), &rows)?;
    write_json_atomic(&other.out.join(DATA_FILE), &record)?;
    if let Some(c) = calibration {
        c.write(other.out)?;
    }
    write_json_atomic(&other.out.join(RESULTS_FILE), &results)?;
    Ok(results)
}

/// A finished run's config and results.
fn finished_run(dir: &Path) -> anyhow::Result<(RunConfig, RunResults)> {
    let cfg_path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&cfg_path)
        .with_context(|| format!("{} is not a run directory (no {CONFIG_FILE})", dir.display()))?;
    let cfg = RunConfig::from_toml(&text).map_err(|e| anyhow!("{}: {e}", cfg_path.display()))?;
    let results_path = dir.join(RESULTS_FILE);
    let text = std::fs::read_to_string(&results_path)
        .with_context(|| format!("{}: the run has not finished (no {RESULTS_FILE})", dir.display()))?;
    let previous = serde_json::from_str(&text).with_context(|| format!("reading {}", results_path.display()))?;
    Ok((cfg, previous))
}

/// The device (the run's own unless overridden) and the run's thread count.
fn runtime(cfg: &RunConfig, device: Option<&str>) -> anyhow::Result<Device> {
    let device = device_of(device.unwrap_or(&cfg.train.device))?;
    if cfg.train.threads > 0 {
        tch::set_num_threads(cfg.train.threads as i32);
    }
    Ok(device)
}

fn summary_of(r: &RunResults) -> TrainingSummary {
    TrainingSummary {
        best_epoch: r.validation.best_epoch,
        best_val_rmse: r.validation.best_val_rmse,
        stopped_early: r.validation.stopped_early,
        epochs_run: r.epochs_run,
        steps: r.steps,
        train_seconds: r.train_seconds,
    }
}

/// Results about other data must not land in a run's folder, this one's or another's.
fn refuse_run_folder(dir: &Path, out: &Path) -> anyhow::Result<()> {
    let same = match (std::fs::canonicalize(dir), std::fs::canonicalize(out)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same || out.join(CONFIG_FILE).exists() {
        bail!(
            "--out {} is a run directory: scores on other data go to a folder of their own, so that no run's \
             results are replaced",
            out.display()
        );
    }
    Ok(())
}

/// Splits `raw` as the run split its own data and applies the run's fitted preprocessing (never
/// refitted: the weights only make sense on inputs normalised the way they were trained on).
fn prepare_with(raw: &RawSubset, pre: &Preprocessing) -> anyhow::Result<Prepared> {
    if raw.schema != pre.schema {
        bail!(
            "{} has a different column layout from the run's data ({} in {PREPROCESSING_FILE})",
            raw.name,
            pre.schema.name
        );
    }
    let c = &pre.config;
    let held = EngineSplit::of(raw.train.len(), c)?;
    let pick = |idx: &[usize]| idx.iter().map(|&i| raw.train[i].clone()).collect::<Vec<_>>();
    let (tr, va, ca) = (pick(&held.train), pick(&held.selection), pick(&held.calibration));
    let split = |engines| Split { engines, n_features: pre.n_features(), window: c.window };
    Ok(Prepared {
        name: raw.name.clone(),
        train_units: tr.iter().map(|e| e.unit).collect(),
        val_units: va.iter().map(|e| e.unit).collect(),
        calibration_units: ca.iter().map(|e| e.unit).collect(),
        test_units: raw.test.iter().map(|e| e.unit).collect(),
        test_truth_uncapped: raw.test_rul.iter().map(|&v| v as f32).collect(),
        // nothing is trained here: the training engines only count in the protocol
        train: split(Vec::new()),
        val: split(pre.apply(&va, None)?),
        calibration: split(pre.apply(&ca, None)?),
        test: split(pre.apply(&raw.test, Some(&raw.test_rul))?),
        preprocessing: pre.clone(),
    })
}
