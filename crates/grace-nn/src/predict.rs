//! Prediction for new engines from a finished run: the run's own fitted preprocessing (never
//! refitted), its selected weights, and the last window of each engine's history.

use crate::config::RunConfig;
use crate::evaluate;
use crate::intervals::ensemble::{ensemble_calibration_of, EnsembleOptions};
use crate::intervals::{check_levels, CalibrationRecord, CALIBRATION_FILE};
use crate::io::write_atomic;
use crate::train::{device_of, load_best, BEST_FILE, CONFIG_FILE, PREPROCESSING_FILE};
use anyhow::{anyhow, bail, Context};
use grace_core::conformal::{combine, IntervalKind};
use grace_data::{parse_rows, Preprocessing, Split};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

mod warnings;
pub use warnings::{unfinished, unlike_training, INPUT_SIGMA_LIMIT, SETTINGS_SIGMA_LIMIT};

/// Health class names, in the model's class order.
pub use grace_core::rundir::HEALTH_CLASSES as HEALTH_NAMES;

/// What the predictions come from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub run_dir: String,
    pub engines_file: String,
    pub method: String,
    /// The subset the model was trained on ("FD001" … or "SYNTHETIC").
    pub subset: String,
    pub synthetic: bool,
    pub max_rul: f64,
    pub window: usize,
    pub n_conditions: usize,
    pub note: String,
}

/// One engine's prediction from its last window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineForecast {
    pub unit: u32,
    /// Cycles in the engine's history (the file's rows for this unit).
    pub cycles: usize,
    /// Predicted remaining useful life after the last cycle, in cycles.
    pub rul: f64,
    pub health: String,
    pub health_class: usize,
    pub p_normal: f64,
    pub p_degrading: f64,
    pub p_critical: f64,
    /// Operating-condition index (of the run's fitted conditions) of the last cycle.
    pub condition: u8,
    /// Fewer cycles than the window: the first cycle was repeated to fill it.
    pub front_padded: bool,
    /// Calibrated bounds per coverage level, when the run has `calibration.json` (docs/intervals.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intervals: Vec<Bounds>,
}

/// The calibrated bounds of one prediction at one coverage level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    pub level: f64,
    /// One-sided: RUL ≥ `at_least` with probability `level` (the lower-bound kind).
    pub at_least: f64,
    /// Two-sided symmetric interval; `upper` is `None` when the calibration set was too small
    /// for the level.
    pub lower: f64,
    pub upper: Option<f64>,
}

/// Adds the lower-bound and symmetric intervals of `record` at each of its levels to every engine.
fn attach_bounds(record: &CalibrationRecord, engines: &mut [EngineForecast]) -> anyhow::Result<()> {
    let pred: Vec<f64> = engines.iter().map(|e| e.rul).collect();
    let kind = |k| record.of_kind(k).with_context(|| format!("{CALIBRATION_FILE} has no {k:?} calibration"));
    let one_sided = kind(IntervalKind::LowerBound)?.apply(&pred, None)?;
    let symmetric = kind(IntervalKind::Symmetric)?.apply(&pred, None)?;
    for (l, s) in one_sided.iter().zip(&symmetric) {
        for (i, e) in engines.iter_mut().enumerate() {
            let (a, b) = (l.intervals[i], s.intervals[i]);
            e.intervals.push(Bounds { level: l.level, at_least: a.lower, lower: b.lower, upper: b.upper });
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Forecast {
    pub header: Header,
    pub engines: Vec<EngineForecast>,
    /// Why some predictions deserve less trust (an unfinished run, short or unfamiliar engines),
    /// each with the numbers that triggered it; empty when nothing stands out.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// Reads a finished run's configuration and fitted preprocessing, refusing a folder that lacks
/// any of the files prediction needs.
pub fn open_run(dir: &Path) -> anyhow::Result<(RunConfig, Preprocessing)> {
    if !dir.is_dir() {
        bail!("run directory {} does not exist: pass the folder `grace train --out` wrote", dir.display());
    }
    let missing: Vec<&str> =
        [CONFIG_FILE, PREPROCESSING_FILE, BEST_FILE].into_iter().filter(|f| !dir.join(f).is_file()).collect();
    if !missing.is_empty() {
        bail!(
            "{} is not a trained run: it has no {}; train one with `grace train --out {}` \
             (or finish an interrupted one with `grace train --resume {}`)",
            dir.display(),
            missing.join(", "),
            dir.display(),
            dir.display()
        );
    }
    let cfg_path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&cfg_path).with_context(|| format!("reading {}", cfg_path.display()))?;
    let cfg = RunConfig::from_toml(&text).map_err(|e| anyhow!("{}: {e}", cfg_path.display()))?;
    let pre_path = dir.join(PREPROCESSING_FILE);
    // Checked as it is read: a damaged file is one error naming the field, never a panic or NaN later.
    let pre = Preprocessing::load(&pre_path)?;
    let m = &cfg.model.config;
    if pre.n_features() as i64 != m.n_features || pre.config.window as i64 != m.window {
        bail!(
            "{}: preprocessing ({} features, window {}) does not match the model in {} ({} features, window {})",
            dir.display(),
            pre.n_features(),
            pre.config.window,
            CONFIG_FILE,
            m.n_features,
            m.window
        );
    }
    Ok((cfg, pre))
}

/// Predicts RUL and health for every engine in `engines_file` (NASA's 26-column layout) with the
/// run in `dir`. `device` overrides the run's own device; `levels` replace the run's stored coverage
/// levels for this call (refitted in memory from its calibration residuals).
pub fn predict_file(
    dir: &Path,
    engines_file: &Path,
    device: Option<&str>,
    levels: Option<&[f64]>,
) -> anyhow::Result<Forecast> {
    if let Some(l) = levels {
        check_levels(l)?;
    }
    let (cfg, pre) = open_run(dir)?;
    let text = std::fs::read_to_string(engines_file)
        .with_context(|| format!("reading --engines {}", engines_file.display()))?;
    // The run's own schema: a run trained on another data family reads that family's layout.
    let raw = parse_rows(&pre.schema, &engines_file.display().to_string(), &text)?;
    let device = device_of(device.unwrap_or(&cfg.train.device))?;
    if cfg.train.threads > 0 {
        tch::set_num_threads(cfg.train.threads as i32);
    }
    let (_vs, model) = load_best(dir, &cfg, device)?;
    let window = pre.config.window;
    let split = Split { engines: pre.apply(&raw, None)?, n_features: pre.n_features(), window };
    let refs = split.last_windows();
    let p = evaluate::predict(&model, &split, &refs, cfg.train.eval_batch_size, device);
    let classes = p.classes();
    let engines = refs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let e = &split.engines[r.engine as usize];
            EngineForecast {
                unit: e.unit,
                cycles: e.n_cycles(),
                rul: p.rul[i],
                health: HEALTH_NAMES[classes[i]].to_string(),
                health_class: classes[i],
                p_normal: p.probs[i][0],
                p_degrading: p.probs[i][1],
                p_critical: p.probs[i][2],
                condition: *e.condition.last().expect("parsed engines have at least one cycle"),
                front_padded: e.n_cycles() < window,
                intervals: Vec::new(),
            }
        })
        .collect::<Vec<EngineForecast>>();
    let mut engines = engines;
    if let Some(record) = CalibrationRecord::load(dir)? {
        let record = match levels {
            Some(l) => record.refit(l)?,
            None => record,
        };
        attach_bounds(&record, &mut engines)?;
    }
    let mut warnings: Vec<String> = unfinished(dir, cfg.train.epochs).into_iter().collect();
    warnings.extend(engines.iter().filter(|e| e.front_padded).map(|e| {
        format!(
            "unit {} has {} cycles, fewer than the window of {window}: its first cycle was repeated to fill the \
             window, so its prediction is less reliable",
            e.unit, e.cycles
        )
    }));
    warnings.extend(unlike_training(&pre, &raw));
    let synthetic = cfg.data.is_synthetic();
    let max_rul = pre.config.max_rul;
    Ok(Forecast {
        header: Header {
            run_dir: dir.display().to_string(),
            engines_file: engines_file.display().to_string(),
            method: cfg.method.name.clone(),
            subset: if synthetic { grace_data::synthetic::SYNTHETIC_NAME.to_string() } else { cfg.data.subset.clone() },
            synthetic,
            max_rul,
            window,
            n_conditions: pre.n_conditions(),
            note: format!(
                "the model was trained on RUL targets capped at max_rul = {max_rul}, so it never learned lives longer \
                 than that: a prediction near {max_rul} means '{max_rul} cycles or more', not an exact remaining life"
            ),
        },
        engines,
        warnings,
    })
}

/// Predicts with the ensemble of the finished runs `dirs`: every member predicts every engine (with
/// its own preprocessing), the RUL predictions combine per engine by `opts.combine` and the class
/// probabilities by their mean; the bounds come from the ensemble's calibration (as `grace evaluate
/// --runs` fits it, cross-conformal when asked). Members that differ in preprocessing or data are refused.
pub fn predict_ensemble(
    dirs: &[PathBuf],
    engines_file: &Path,
    device: Option<&str>,
    opts: &EnsembleOptions,
) -> anyhow::Result<Forecast> {
    let how = opts.combine;
    let record = ensemble_calibration_of(dirs, opts)?;
    let forecasts =
        dirs.iter().map(|d| predict_file(d, engines_file, device, None)).collect::<anyhow::Result<Vec<_>>>()?;
    let ruls: Vec<Vec<f64>> = forecasts.iter().map(|f| f.engines.iter().map(|e| e.rul).collect()).collect();
    let rul = combine(&ruls, how)?;
    let mean_prob = |i: usize, p: fn(&EngineForecast) -> f64| {
        forecasts.iter().map(|f| p(&f.engines[i])).sum::<f64>() / forecasts.len() as f64
    };
    let mut first = forecasts[0].clone();
    for (i, e) in first.engines.iter_mut().enumerate() {
        let probs = [mean_prob(i, |e| e.p_normal), mean_prob(i, |e| e.p_degrading), mean_prob(i, |e| e.p_critical)];
        let class = (0..3).max_by(|&a, &b| probs[a].total_cmp(&probs[b])).unwrap_or(0);
        *e = EngineForecast {
            rul: rul[i],
            health: HEALTH_NAMES[class].to_string(),
            health_class: class,
            p_normal: probs[0],
            p_degrading: probs[1],
            p_critical: probs[2],
            intervals: Vec::new(),
            ..e.clone()
        };
    }
    if let Some(record) = &record {
        attach_bounds(record, &mut first.engines)?;
    }
    let mut warnings: Vec<String> = forecasts.into_iter().flat_map(|f| f.warnings).collect();
    warnings.sort();
    warnings.dedup();
    first.warnings = warnings;
    first.header.run_dir = dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ");
    first.header.note = format!(
        "{}ensemble of {} runs ({} per engine; health probabilities averaged); {}",
        if opts.cross_conformal { "cross-conformal " } else { "" },
        dirs.len(),
        how.name(),
        first.header.note
    );
    Ok(first)
}

/// Writes the per-engine predictions as CSV, atomically; calibrated bounds become the columns
/// `at_least_L`, `lower_L` and `upper_L` per level L (an unbounded `upper` is left empty).
pub fn write_csv(path: &Path, engines: &[EngineForecast]) -> anyhow::Result<()> {
    write_atomic(path, |tmp| {
        let mut w = csv::Writer::from_path(tmp)
            .with_context(|| format!("writing {} (is the folder writable?)", path.display()))?;
        match engines.first().map(|e| e.intervals.as_slice()) {
            Some(levels) if !levels.is_empty() => {
                let mut header = base_record(&engines[0], true)?;
                for b in levels {
                    let l = level_label(b.level);
                    header.extend([format!("at_least_{l}"), format!("lower_{l}"), format!("upper_{l}")]);
                }
                w.write_record(&header)?;
                for e in engines {
                    let mut row = base_record(e, false)?;
                    for b in &e.intervals {
                        let upper = b.upper.map(|u| u.to_string()).unwrap_or_default();
                        row.extend([b.at_least.to_string(), b.lower.to_string(), upper]);
                    }
                    w.write_record(&row)?;
                }
            }
            _ => engines.iter().try_for_each(|e| w.serialize(e))?,
        }
        w.flush()?;
        Ok(())
    })
}

/// The columns of one engine without its bounds, exactly as the plain CSV writes them (or their
/// names, for the header).
fn base_record(e: &EngineForecast, header: bool) -> anyhow::Result<Vec<String>> {
    let mut w = csv::WriterBuilder::new().has_headers(header).from_writer(Vec::new());
    w.serialize(EngineForecast { intervals: Vec::new(), ..e.clone() })?;
    let bytes = w.into_inner().map_err(|e| anyhow!("{e}"))?;
    let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(bytes.as_slice());
    let first = r.records().next().context("a serialised row")??;
    Ok(first.iter().map(String::from).collect())
}

/// A level as a column suffix: 0.9 → "0.9", 0.95 → "0.95".
fn level_label(level: f64) -> String {
    let s = format!("{level:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}
