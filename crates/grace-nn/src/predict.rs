//! Prediction for new engines from a finished run: the run's own fitted preprocessing (never
//! refitted), its selected weights, and the last window of each engine's history.

use crate::config::RunConfig;
use crate::evaluate;
use crate::io::write_atomic;
use crate::train::{device_of, load_best, BEST_FILE, CONFIG_FILE, PREPROCESSING_FILE};
use anyhow::{anyhow, bail, Context};
use grace_data::{parse_rows, Preprocessing, Split};
use serde::{Deserialize, Serialize};
use std::path::Path;

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
/// run in `dir`. `device` overrides the run's own device.
pub fn predict_file(dir: &Path, engines_file: &Path, device: Option<&str>) -> anyhow::Result<Forecast> {
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
            }
        })
        .collect::<Vec<EngineForecast>>();
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

/// Writes the per-engine predictions as CSV, atomically.
pub fn write_csv(path: &Path, engines: &[EngineForecast]) -> anyhow::Result<()> {
    write_atomic(path, |tmp| {
        let mut w = csv::Writer::from_path(tmp)
            .with_context(|| format!("writing {} (is the folder writable?)", path.display()))?;
        for e in engines {
            w.serialize(e)?;
        }
        w.flush()?;
        Ok(())
    })
}
