//! Calibrated RUL intervals for a trained model: test-like cuts of the calibration engines are
//! predicted, split-conformal quantiles fitted on their residuals and applied to the test set.

use crate::config::RunConfig;
use crate::evaluate::predict;
use crate::io::write_json_atomic;
use crate::model::DualTaskModel;
use anyhow::{bail, Context};
use grace_core::conformal::{calibration_cuts, default_bands, Calibration, IntervalKind, IntervalReport};
use grace_core::results::{IntervalsSummary, KindIntervals};
use grace_data::{Prepared, WindowRef};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::Device;

pub mod ensemble;

/// The file a run's (or an ensemble's) fitted calibration is stored in.
pub const CALIBRATION_FILE: &str = "calibration.json";

/// The kinds fitted for one model; the normalised kind needs a per-engine scale, which only an
/// ensemble (its member spread) has.
pub const MODEL_KINDS: [IntervalKind; 3] =
    [IntervalKind::Symmetric, IntervalKind::LowerBound, IntervalKind::Asymmetric];

/// One calibration residual: calibration engine `unit` cut after its 0-based cycle `last_cycle`,
/// with the capped target there and the model's prediction from the window ending there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CutPrediction {
    pub unit: u32,
    pub last_cycle: usize,
    pub truth: f64,
    pub prediction: f64,
    /// The members' sample standard deviation (ensembles only): the normalised kind's scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<f64>,
}

/// `calibration.json`: the residuals and the calibrations fitted on them, so later predictions get
/// the same intervals and an ensemble can recombine its members' residuals without a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationRecord {
    /// `data.prep.seed`, which chose the calibration engines and seeds the cuts.
    pub seed: u64,
    pub cuts_per_engine: usize,
    /// R_max: calibration used the truth capped at it.
    pub max_rul: f64,
    pub units: Vec<u32>,
    pub cuts: Vec<CutPrediction>,
    pub calibrations: Vec<Calibration>,
}

impl CalibrationRecord {
    /// The stored calibration of `kind`, if it was fitted.
    pub fn of_kind(&self, kind: IntervalKind) -> Option<&Calibration> {
        self.calibrations.iter().find(|c| std::mem::discriminant(&c.kind) == std::mem::discriminant(&kind))
    }

    /// Reads `calibration.json` from `dir`; `None` when the run was trained without calibration.
    pub fn load(dir: &Path) -> anyhow::Result<Option<Self>> {
        let path = dir.join(CALIBRATION_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .with_context(|| format!("{} is not a grace calibration record", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        write_json_atomic(&dir.join(CALIBRATION_FILE), self)
    }

    /// The interval metrics of every stored kind on test predictions `pred` against the uncapped
    /// truth (scored capped at `max_rul` and uncapped); `scales` feed the normalised kind.
    pub fn summarise(
        &self,
        pred: &[f64],
        truth_uncapped: &[f64],
        scales: Option<&[f64]>,
    ) -> anyhow::Result<IntervalsSummary> {
        let kinds = self
            .calibrations
            .iter()
            .map(|c| {
                let s = matches!(c.kind, IntervalKind::Normalised { .. }).then_some(scales).flatten();
                let levels = c.apply(pred, s)?;
                let report = IntervalReport::of(&levels, truth_uncapped, self.max_rul, &default_bands())?;
                Ok(KindIntervals { kind: c.kind, report })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(IntervalsSummary {
            calibration_engines: self.units.len(),
            calibration_cuts: self.cuts.len(),
            cuts_per_engine: self.cuts_per_engine,
            kinds,
        })
    }
}

/// Fits every kind in `kinds` at `levels` on the residuals of `cuts` (their spreads as the
/// normalised kind's scale).
pub fn fit(cuts: &[CutPrediction], kinds: &[IntervalKind], levels: &[f64]) -> anyhow::Result<Vec<Calibration>> {
    let pred: Vec<f64> = cuts.iter().map(|c| c.prediction).collect();
    let truth: Vec<f64> = cuts.iter().map(|c| c.truth).collect();
    let spread: Option<Vec<f64>> = cuts.iter().map(|c| c.spread).collect();
    kinds
        .iter()
        .map(|&kind| {
            let scales = match kind {
                IntervalKind::Normalised { .. } => {
                    Some(spread.as_deref().context("the normalised kind needs spreads")?)
                }
                _ => None,
            };
            Ok(Calibration::fit(kind, &pred, &truth, scales, levels)?)
        })
        .collect()
}

/// The model's predictions on the test-like cuts of the calibration engines: `eval.cuts_per_engine`
/// seeded truncation points per engine (seed `data.prep.seed`, so every seed of a sweep is
/// calibrated on the same cuts), each scored from the window ending there.
pub fn cut_predictions(
    cfg: &RunConfig,
    model: &DualTaskModel,
    data: &Prepared,
    device: Device,
) -> anyhow::Result<Vec<CutPrediction>> {
    let split = &data.calibration;
    let lengths: Vec<usize> = split.engines.iter().map(|e| e.n_cycles()).collect();
    let cuts = calibration_cuts(&lengths, cfg.data.prep.seed, cfg.eval.cuts_per_engine)?;
    let refs: Vec<WindowRef> =
        cuts.iter().map(|c| WindowRef { engine: c.engine as u32, end: c.last_cycle as u32 }).collect();
    let p = predict(model, split, &refs, cfg.train.eval_batch_size, device);
    if let Some(bad) = p.rul.iter().find(|v| !v.is_finite()) {
        bail!("the model predicts {bad} on a calibration cut: the weights are damaged or diverged");
    }
    Ok(cuts
        .iter()
        .zip(p.rul.iter().zip(&p.truth_rul))
        .map(|(c, (&prediction, &truth))| CutPrediction {
            unit: split.engines[c.engine].unit,
            last_cycle: c.last_cycle,
            truth,
            prediction,
            spread: None,
        })
        .collect())
}

/// Calibrates a model on `data`'s calibration engines and scores the intervals on its test
/// predictions `test_pred`; `None` when calibration is off (no calibration engines).
pub fn calibrate(
    cfg: &RunConfig,
    model: &DualTaskModel,
    data: &Prepared,
    device: Device,
    test_pred: &[f64],
) -> anyhow::Result<Option<(CalibrationRecord, IntervalsSummary)>> {
    if data.calibration.engines.is_empty() {
        return Ok(None);
    }
    let cuts = cut_predictions(cfg, model, data, device)?;
    let record = CalibrationRecord {
        seed: cfg.data.prep.seed,
        cuts_per_engine: cfg.eval.cuts_per_engine,
        max_rul: cfg.data.prep.max_rul,
        units: data.calibration_units.clone(),
        calibrations: fit(&cuts, &MODEL_KINDS, &cfg.eval.coverage)?,
        cuts,
    };
    let truth: Vec<f64> = data.test_truth_uncapped.iter().map(|&v| v as f64).collect();
    let summary = record.summarise(test_pred, &truth, None)?;
    Ok(Some((record, summary)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use grace_core::conformal::{combine, member_spread, Combine};
    use rand::{Rng, SeedableRng};

    /// Standard normal by Box–Muller.
    fn normal(rng: &mut rand_chacha::ChaCha8Rng) -> f64 {
        let (u1, u2): (f64, f64) = (1.0 - rng.gen::<f64>(), rng.gen());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// `n` engines seen by 5 members whose disagreement tracks the engine's difficulty σ (1 or 8):
    /// truth y, member m predicts y + σ·(shared + own noise); one cut per engine.
    fn ensemble_cuts(rng: &mut rand_chacha::ChaCha8Rng, n: usize) -> Vec<CutPrediction> {
        (0..n)
            .map(|i| {
                let y = 40.0 + 60.0 * rng.gen::<f64>();
                let sigma = if rng.gen::<bool>() { 1.0 } else { 8.0 };
                let shared = normal(rng);
                let members: Vec<Vec<f64>> = (0..5).map(|_| vec![y + sigma * (shared + normal(rng))]).collect();
                CutPrediction {
                    unit: i as u32,
                    last_cycle: 0,
                    truth: y,
                    prediction: combine(&members, Combine::Mean).unwrap()[0],
                    spread: Some(member_spread(&members).unwrap()[0]),
                }
            })
            .collect()
    }

    #[test]
    fn fitted_kinds_cover_fresh_exchangeable_points_near_nominal() {
        let kinds = [MODEL_KINDS.to_vec(), vec![IntervalKind::normalised()]].concat();
        let (reps, level) = (200, 0.9);
        let (mut cov, mut width) = (vec![0.0; kinds.len()], vec![0.0; kinds.len()]);
        for seed in 0..reps {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let cal = ensemble_cuts(&mut rng, 200);
            let test = ensemble_cuts(&mut rng, 500);
            let record = CalibrationRecord {
                seed,
                cuts_per_engine: 1,
                max_rul: 1e9,
                units: vec![],
                calibrations: fit(&cal, &kinds, &[level]).unwrap(),
                cuts: cal,
            };
            let pred: Vec<f64> = test.iter().map(|c| c.prediction).collect();
            let truth: Vec<f64> = test.iter().map(|c| c.truth).collect();
            let spread: Vec<f64> = test.iter().map(|c| c.spread.unwrap()).collect();
            let s = record.summarise(&pred, &truth, Some(&spread)).unwrap();
            for (k, r) in s.kinds.iter().enumerate() {
                cov[k] += r.report.capped[0].coverage / reps as f64;
                width[k] += r.report.capped[0].mean_width.unwrap_or(f64::NAN) / reps as f64;
            }
        }
        // exchangeable points: 181/201 = 0.9005 in expectation for every kind
        for (k, c) in kinds.iter().zip(&cov) {
            assert!((c - 0.9005).abs() < 0.01, "{k:?}: coverage {c}");
        }
        // the members' spread tracks difficulty, so the normalised interval is sharper than the symmetric one
        assert!(width[3] < 0.8 * width[0], "normalised {} vs symmetric {}", width[3], width[0]);
    }
}
