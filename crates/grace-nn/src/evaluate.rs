//! Scoring a model on windows: batched eval-mode predictions, validation RMSE for selection, and
//! the test protocol of docs/reference.md §2.8 (last window per engine, truth capped and uncapped),
//! scored once at the end of a run or again by `grace evaluate`.

use crate::checkpoint::first_non_finite;
use crate::config::{RunConfig, Select};
use crate::intervals::{self, CalibrationRecord};
use crate::io::{write_atomic, write_json_atomic};
use crate::model::DualTaskModel;
use crate::setup::recorded_data;
use anyhow::bail;
use grace_core::metrics;
use grace_core::results::{Protocol, RunResults, ValidationSummary, Versions};
use grace_core::rundir::{BEST_FILE, CONFIG_FILE, PREDICTIONS_FILE, RESULTS_FILE};
use grace_data::{Prepared, Split, WindowRef};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub use crate::rescore::{evaluate_on, evaluate_run, OtherData};
pub use grace_core::results::{RulScores, TestReport};
use tch::{nn, Device, Kind, Tensor};

/// Eval-mode predictions for `refs`: RUL and class probabilities per window.
pub struct Predictions {
    pub rul: Vec<f64>,
    pub probs: Vec<[f64; 3]>,
    pub truth_rul: Vec<f64>,
    pub truth_health: Vec<usize>,
}

impl Predictions {
    pub fn classes(&self) -> Vec<usize> {
        self.probs.iter().map(|p| (0..3).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(0)).collect()
    }
}

pub fn predict(model: &DualTaskModel, split: &Split, refs: &[WindowRef], batch: usize, device: Device) -> Predictions {
    let (mut x, mut y, mut h) = (Vec::new(), Vec::new(), Vec::new());
    let mut p = Predictions { rul: vec![], probs: vec![], truth_rul: vec![], truth_health: vec![] };
    let shape = |n: usize| [n as i64, split.window as i64, split.n_features as i64];
    tch::no_grad(|| {
        for chunk in refs.chunks(batch.max(1)) {
            split.gather(chunk, &mut x, &mut y, &mut h);
            let xt = Tensor::from_slice(&x).view(shape(chunk.len())).to_device(device);
            let out = model.forward_t(&xt, false);
            let rul: Vec<f64> =
                Vec::try_from(&out.rul.to_kind(Kind::Double).to_device(Device::Cpu)).expect("1-d RUL output");
            let probs: Vec<f64> =
                Vec::try_from(&out.logits.softmax(-1, Kind::Double).to_device(Device::Cpu).view([-1]))
                    .expect("probabilities");
            p.rul.extend(rul);
            p.probs.extend(probs.chunks(3).map(|c| [c[0], c[1], c[2]]));
            p.truth_rul.extend(y.iter().map(|&v| v as f64));
            p.truth_health.extend(h.iter().map(|&v| v as usize));
        }
    });
    p
}

/// One row of `predictions.csv`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnginePrediction {
    pub engine: u32,
    pub truth: f64,
    pub truth_capped: f64,
    pub prediction: f64,
    pub error: f64,
    pub health_true: usize,
    pub health_pred: usize,
    pub p_normal: f64,
    pub p_degrading: f64,
    pub p_critical: f64,
}

pub fn test_report(
    model: &DualTaskModel,
    data: &Prepared,
    batch: usize,
    device: Device,
) -> (TestReport, Vec<EnginePrediction>) {
    let refs = data.test.last_windows();
    let p = predict(model, &data.test, &refs, batch, device);
    let uncapped: Vec<f64> = data.test_truth_uncapped.iter().map(|&v| v as f64).collect();
    let classes = p.classes();
    let report = TestReport {
        engines: refs.len(),
        capped: RulScores::of(&p.rul, &p.truth_rul),
        uncapped: RulScores::of(&p.rul, &uncapped),
        health_accuracy: metrics::accuracy(&classes, &p.truth_health, 3).unwrap_or(f64::NAN),
        health_macro_f1: metrics::macro_f1(&classes, &p.truth_health, 3).unwrap_or(f64::NAN),
        confusion: metrics::confusion_matrix(&classes, &p.truth_health, 3).unwrap_or_default(),
    };
    let rows = refs
        .iter()
        .enumerate()
        .map(|(i, r)| EnginePrediction {
            engine: data.test_units.get(r.engine as usize).copied().unwrap_or(r.engine + 1),
            truth: uncapped[i],
            truth_capped: p.truth_rul[i],
            prediction: p.rul[i],
            error: p.rul[i] - uncapped[i],
            health_true: p.truth_health[i],
            health_pred: classes[i],
            p_normal: p.probs[i][0],
            p_degrading: p.probs[i][1],
            p_critical: p.probs[i][2],
        })
        .collect();
    (report, rows)
}

/// Validation engines cut at `per_engine` distinct seeded cycles each (all of them where an engine
/// has fewer), one window per cut, as NASA cut the test engines: a test-like figure that still uses
/// no test data. The cut rule and draw are the calibration cuts' (docs/reference.md §6); the seed
/// is salted so that selection and calibration engines are not cut at the same positions.
pub fn cut_windows(split: &Split, seed: u64, per_engine: usize) -> Vec<WindowRef> {
    let lengths: Vec<usize> = split.engines.iter().map(|e| e.n_cycles()).collect();
    let cuts = grace_core::conformal::calibration_cuts(&lengths, seed ^ 0x5eed_c0de, per_engine.max(1));
    // Only zero cuts per engine is refused, and `max(1)` rules that out.
    let cuts = cuts.unwrap_or_default();
    cuts.iter().map(|c| WindowRef { engine: c.engine as u32, end: c.last_cycle as u32 }).collect()
}

/// What selected the checkpoint, in words for `results.json`.
fn selection_metric(cfg: &RunConfig) -> String {
    match cfg.train.select {
        Select::Windows => {
            "validation RMSE over all windows of the held-out training engines (averaged weights)".into()
        }
        Select::Cuts => format!(
            "validation RMSE over {} seeded test-like cuts per held-out training engine (averaged weights)",
            cfg.train.select_cuts
        ),
    }
}

/// Loads a run's selected (averaged) weights into a fresh model.
pub fn load_best(dir: &Path, cfg: &RunConfig, device: Device) -> anyhow::Result<(nn::VarStore, DualTaskModel)> {
    let vs = nn::VarStore::new(device);
    let model = DualTaskModel::new(&vs.root(), &cfg.model.config);
    let path = dir.join(BEST_FILE);
    crate::weights::load_into(&vs, &path, CONFIG_FILE)?;
    if let Some(name) = first_non_finite(&vs.variables()) {
        bail!(
            "{} holds NaN or infinite values (in `{name}`): these weights cannot be scored; the file is damaged or \
             was replaced — restore it from a copy, or train the run again",
            path.display()
        );
    }
    Ok((vs, model))
}

/// What training leaves for the results besides the test scores.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainingSummary {
    pub best_epoch: usize,
    pub best_val_rmse: f64,
    pub stopped_early: bool,
    pub epochs_run: usize,
    pub steps: u64,
    pub train_seconds: f64,
}

/// Scores the selected weights once on the test set and writes predictions and results; nothing
/// is written unless every score is a number.
pub(crate) fn finish(
    cfg: &RunConfig,
    dir: &Path,
    data: &Prepared,
    device: Device,
    summary: &TrainingSummary,
) -> anyhow::Result<RunResults> {
    let (_vs, best) = load_best(dir, cfg, device)?;
    let (mut results, rows, calibration) = score(cfg, data, &best, device, summary, &dir.join(BEST_FILE))?;
    results.protocol.data_fingerprint = recorded_data(dir)?.map(|r| r.fingerprint).unwrap_or_default();
    write_predictions(&dir.join(PREDICTIONS_FILE), &rows)?;
    if let Some(c) = calibration {
        c.write(dir)?;
    }
    write_json_atomic(&dir.join(RESULTS_FILE), &results)?;
    Ok(results)
}

/// What [`score`] gives: the results, one row per test engine, and the calibration fitted on the
/// calibration engines (`None` when calibration is off).
pub type Scored = (RunResults, Vec<EnginePrediction>, Option<CalibrationRecord>);

/// The test-set evaluation shared by training and `grace evaluate`, so both give the same numbers:
/// the results, one row per test engine and the calibration, checked to be finite (`weights` is
/// the file blamed otherwise). Nothing is written.
pub fn score(
    cfg: &RunConfig,
    data: &Prepared,
    model: &DualTaskModel,
    device: Device,
    summary: &TrainingSummary,
    weights: &Path,
) -> anyhow::Result<Scored> {
    let b = cfg.train.eval_batch_size;
    let (test, rows) = test_report(model, data, b, device);
    let cut = predict(model, &data.val, &cut_windows(&data.val, cfg.train.seed, cfg.train.select_cuts), b, device);
    tracing::info!(
        weights = %weights.display(),
        engines = test.engines,
        rmse = test.capped.rmse,
        nasa = test.capped.nasa,
        health_accuracy = test.health_accuracy,
        "test set scored"
    );
    let results = RunResults {
        method: cfg.method.name.clone(),
        subset: data.name.clone(),
        synthetic: cfg.data.is_synthetic(),
        seed: cfg.train.seed,
        protocol: protocol(cfg, data),
        validation: ValidationSummary {
            best_epoch: summary.best_epoch,
            best_val_rmse: summary.best_val_rmse,
            cut: RulScores::of(&cut.rul, &cut.truth_rul),
            stopped_early: summary.stopped_early,
        },
        test,
        epochs_run: summary.epochs_run,
        steps: summary.steps,
        train_seconds: summary.train_seconds,
        versions: versions(device),
        intervals: None,
    };
    ensure_finite(&results, &rows, weights)?;
    let pred: Vec<f64> = rows.iter().map(|r| r.prediction).collect();
    let calibrated = intervals::calibrate(cfg, model, data, device, &pred)?;
    let (results, record) = match calibrated {
        Some((record, summary)) => (RunResults { intervals: Some(summary), ..results }, Some(record)),
        None => (results, None),
    };
    Ok((results, rows, record))
}

/// Refuses scores that are not numbers: weights that predict NaN are damaged or diverged, and
/// their scores would replace a run's good outputs with nonsense.
fn ensure_finite(r: &RunResults, rows: &[EnginePrediction], weights: &Path) -> anyhow::Result<()> {
    let bad = rows
        .iter()
        .filter(|e| ![e.prediction, e.p_normal, e.p_degrading, e.p_critical].iter().all(|v| v.is_finite()))
        .count();
    if bad > 0 {
        bail!(
            "the weights in {} predict NaN or infinity for {bad} of {} test engines: the file is damaged or the run \
             diverged; nothing was written",
            weights.display(),
            rows.len()
        );
    }
    let (t, v) = (&r.test, &r.validation);
    let figures = [
        ("test RMSE", t.capped.rmse),
        ("test NASA score", t.capped.nasa),
        ("test MAE", t.capped.mae),
        ("uncapped test RMSE", t.uncapped.rmse),
        ("uncapped test NASA score", t.uncapped.nasa),
        ("uncapped test MAE", t.uncapped.mae),
        ("health accuracy", t.health_accuracy),
        ("health macro-F1", t.health_macro_f1),
        ("cut validation RMSE", v.cut.rmse),
        ("best validation RMSE", v.best_val_rmse),
    ];
    if let Some((name, value)) = figures.iter().find(|(_, x)| !x.is_finite()) {
        bail!(
            "the {name} of the weights in {} is {value}, not a number (predictions range {:.4e} to {:.4e}); \
             nothing was written",
            weights.display(),
            rows.iter().map(|e| e.prediction).fold(f64::INFINITY, f64::min),
            rows.iter().map(|e| e.prediction).fold(f64::NEG_INFINITY, f64::max)
        );
    }
    Ok(())
}

/// Writes per-engine rows (`predictions.csv` of a run or an ensemble) as CSV, atomically.
pub fn write_predictions<R: Serialize>(path: &Path, rows: &[R]) -> anyhow::Result<()> {
    write_atomic(path, |tmp| {
        let mut w = csv::Writer::from_path(tmp)?;
        for r in rows {
            w.serialize(r)?;
        }
        w.flush()?;
        Ok(())
    })
}

/// How the numbers were obtained, written into the results so they carry their own protocol.
fn protocol(cfg: &RunConfig, data: &Prepared) -> Protocol {
    Protocol {
        selection_metric: selection_metric(cfg),
        evaluated_weights: "exponential moving average of the weights at the best validation epoch".into(),
        test_protocol: "last window per test engine; truth from the RUL file, capped at max_rul and uncapped".into(),
        test_scored_once: true,
        validation_units: data.val_units.clone(),
        train_units: data.train_units.len(),
        test_units: data.test_units.len(),
        max_rul: cfg.data.prep.max_rul,
        window: cfg.data.prep.window,
        features: data.preprocessing.feature_names.clone(),
        n_conditions: data.preprocessing.n_conditions(),
        data_fingerprint: String::new(),
        calibration_units: data.calibration_units.clone(),
    }
}

fn versions(device: Device) -> Versions {
    Versions {
        grace: env!("CARGO_PKG_VERSION").into(),
        tch: "0.24.0".into(),
        libtorch: "2.11.0".into(),
        device: format!("{device:?}"),
        threads: tch::get_num_threads(),
    }
}
