//! Calibrated RUL intervals for a trained model: test-like cuts of the calibration engines are
//! predicted, split-conformal quantiles fitted on their residuals and applied to the test set.

use crate::config::RunConfig;
use crate::evaluate::{predict, EnginePrediction};
use crate::io::write_json_atomic;
use crate::model::DualTaskModel;
use anyhow::{bail, Context};
use grace_core::conformal::{
    calibration_cuts, check_level, default_bands, normalised_scales, Calibration, DifficultyScale, IntervalKind,
    IntervalReport, DEFAULT_SCALE_FLOOR,
};
pub use grace_core::results::Scheme;
use grace_core::results::{IntervalsSummary, KindIntervals};
use grace_core::rundir::PREDICTIONS_FILE;
use grace_data::{Prepared, Split, WindowRef};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::Device;

pub mod ensemble;

/// The file a run's (or an ensemble's) fitted calibration is stored in.
pub const CALIBRATION_FILE: &str = "calibration.json";

/// The unnormalised kinds, fitted for every model; the normalised kind is added where a per-engine
/// scale exists (a difficulty estimate, or an ensemble's member spread).
pub const MODEL_KINDS: [IntervalKind; 3] =
    [IntervalKind::Symmetric, IntervalKind::LowerBound, IntervalKind::Asymmetric];

/// [`MODEL_KINDS`] with the normalised kind after the symmetric one, the order results list them in.
pub fn kinds_with_normalised() -> Vec<IntervalKind> {
    let mut kinds = MODEL_KINDS.to_vec();
    kinds.insert(1, IntervalKind::normalised());
    kinds
}

/// One calibration residual: calibration engine `unit` cut after its 0-based cycle `last_cycle`,
/// with the capped target there and the model's prediction from the window ending there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CutPrediction {
    pub unit: u32,
    pub last_cycle: usize,
    pub truth: f64,
    pub prediction: f64,
    /// The members' sample standard deviation (seed ensembles only): the normalised kind's scale
    /// when the record has no difficulty estimate.
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
    /// σ̂(ŷ), the normalised kind's scale: a single model's, fitted on the selection engines'
    /// test-like cuts, or an ensemble's mean of its members'. Absent in runs calibrated before it
    /// existed and in ensembles of such runs (which fall back to the member spread).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difficulty: Option<DifficultyScale>,
    /// Which scale the normalised kind was fitted with ([`DIFFICULTY_SCALE`], [`SPREAD_SCALE`] or
    /// [`mean_difficulty_scale`]'s name); absent without that kind and in older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<String>,
    #[serde(default, skip_serializing_if = "is_split")]
    pub scheme: Scheme,
}

/// The normalised kind's scale of a single model: its difficulty estimate σ̂(ŷ).
pub const DIFFICULTY_SCALE: &str = "difficulty";

/// The normalised kind's scale of an ensemble whose members lack a difficulty estimate.
pub const SPREAD_SCALE: &str = "member spread";

/// The normalised kind's scale of an ensemble of `members` models with difficulty estimates.
pub fn mean_difficulty_scale(members: usize) -> String {
    format!("difficulty (mean of {members} members)")
}

fn is_split(s: &Scheme) -> bool {
    *s == Scheme::Split
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

    /// The stored levels (those of the first kind; every kind is fitted at the same ones).
    pub fn levels(&self) -> Vec<f64> {
        self.calibrations.first().map(|c| c.levels.iter().map(|l| l.level).collect()).unwrap_or_default()
    }

    /// The same kinds refitted at `levels` from the stored residuals (and scales): what
    /// `--coverage` asks for, in memory only.
    pub fn refit(&self, levels: &[f64]) -> anyhow::Result<Self> {
        let kinds: Vec<IntervalKind> = self.calibrations.iter().map(|c| c.kind).collect();
        let calibrations = fit(&self.cuts, &kinds, levels, self.difficulty.as_ref())?;
        Ok(CalibrationRecord { calibrations, ..self.clone() })
    }

    /// The normalised kind's scales for predictions `pred`: the difficulty estimate when the record
    /// has one (as [`fit`] used it on the cuts), else the member `spread`.
    fn scales(&self, pred: &[f64], spread: Option<&[f64]>) -> anyhow::Result<Vec<f64>> {
        normalised_scales(self.difficulty.as_ref(), pred, spread)?
            .context("the normalised kind needs a difficulty estimate or the members' spread")
    }

    /// The recorded scale of the normalised kind; for files written before it was recorded, the one
    /// [`fit`] would pick. `None` without a normalised calibration.
    pub fn scale_name(&self) -> Option<String> {
        self.of_kind(IntervalKind::normalised())?;
        self.scale.clone().or_else(|| match (&self.difficulty, self.cuts.iter().all(|c| c.spread.is_some())) {
            (Some(_), _) => Some(DIFFICULTY_SCALE.into()),
            (None, true) => Some(SPREAD_SCALE.into()),
            (None, false) => None,
        })
    }

    /// The interval metrics of every stored kind on test predictions `pred` against the uncapped
    /// truth (scored capped at `max_rul` and uncapped); `spread` feeds the normalised kind of an
    /// ensemble without a difficulty estimate.
    pub fn summarise(
        &self,
        pred: &[f64],
        truth_uncapped: &[f64],
        spread: Option<&[f64]>,
    ) -> anyhow::Result<IntervalsSummary> {
        let kinds = self
            .calibrations
            .iter()
            .map(|c| {
                let s = match c.kind {
                    IntervalKind::Normalised { .. } => Some(self.scales(pred, spread)?),
                    _ => None,
                };
                let levels = c.apply(pred, s.as_deref())?;
                let report = IntervalReport::of(&levels, truth_uncapped, self.max_rul, &default_bands())?;
                Ok(KindIntervals { kind: c.kind, report })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(IntervalsSummary {
            calibration_engines: self.units.len(),
            calibration_cuts: self.cuts.len(),
            cuts_per_engine: self.cuts_per_engine,
            scheme: self.scheme,
            scale: self.scale_name(),
            kinds,
        })
    }
}

/// Refuses coverage levels outside (0, 1) and an empty list, naming the value.
pub fn check_levels(levels: &[f64]) -> anyhow::Result<()> {
    if levels.is_empty() {
        bail!("no coverage level given: pass levels in (0, 1), e.g. 0.9 or 0.8,0.9,0.95");
    }
    for &l in levels {
        check_level(l).map_err(|_| anyhow::anyhow!("coverage level {l} is not in (0, 1)"))?;
    }
    Ok(())
}

/// Fits every kind in `kinds` at `levels` on the residuals of `cuts`. The normalised kind is scaled
/// by `difficulty` when given, else by the cuts' member spreads (an ensemble of older runs).
pub fn fit(
    cuts: &[CutPrediction],
    kinds: &[IntervalKind],
    levels: &[f64],
    difficulty: Option<&DifficultyScale>,
) -> anyhow::Result<Vec<Calibration>> {
    check_levels(levels)?;
    let pred: Vec<f64> = cuts.iter().map(|c| c.prediction).collect();
    let truth: Vec<f64> = cuts.iter().map(|c| c.truth).collect();
    // An empty list of cuts collects into `Some(vec![])`: no spread to scale by.
    let spread: Option<Vec<f64>> =
        cuts.iter().map(|c| c.spread).collect::<Option<_>>().filter(|s: &Vec<f64>| !s.is_empty());
    let scales = normalised_scales(difficulty, &pred, spread.as_deref())?;
    kinds
        .iter()
        .map(|&kind| {
            let s = match kind {
                IntervalKind::Normalised { .. } => {
                    Some(scales.as_deref().context("the normalised kind needs spreads or a difficulty estimate")?)
                }
                _ => None,
            };
            Ok(Calibration::fit(kind, &pred, &truth, s, levels)?)
        })
        .collect()
}

/// The test-like cuts of the engines of `split` that interval calibration scores: `eval.cuts_per_engine`
/// seeded truncation points per engine (seed `data.prep.seed`, so every seed of a sweep is cut the
/// same way), one window ending at each.
pub fn calibration_windows(cfg: &RunConfig, split: &Split) -> anyhow::Result<Vec<WindowRef>> {
    let lengths: Vec<usize> = split.engines.iter().map(|e| e.n_cycles()).collect();
    let cuts = calibration_cuts(&lengths, cfg.data.prep.seed, cfg.eval.cuts_per_engine)?;
    Ok(cuts.iter().map(|c| WindowRef { engine: c.engine as u32, end: c.last_cycle as u32 }).collect())
}

/// The model's predictions on the [`calibration_windows`] of `split`.
fn cut_predictions(
    cfg: &RunConfig,
    model: &DualTaskModel,
    split: &Split,
    device: Device,
) -> anyhow::Result<Vec<CutPrediction>> {
    let refs = calibration_windows(cfg, split)?;
    let p = predict(model, split, &refs, cfg.train.eval_batch_size, device);
    if let Some(bad) = p.rul.iter().find(|v| !v.is_finite()) {
        bail!("the model predicts {bad} on a test-like cut: the weights are damaged or diverged");
    }
    Ok(refs
        .iter()
        .zip(p.rul.iter().zip(&p.truth_rul))
        .map(|(r, (&prediction, &truth))| CutPrediction {
            unit: split.engines[r.engine as usize].unit,
            last_cycle: r.end as usize,
            truth,
            prediction,
            spread: None,
        })
        .collect())
}

/// σ̂(ŷ) from the selection engines' test-like cuts, never the calibration engines', so the
/// calibration scores stay exchangeable with the test engines'; `None` without selection engines.
fn difficulty_of(
    cfg: &RunConfig,
    model: &DualTaskModel,
    data: &Prepared,
    device: Device,
) -> anyhow::Result<Option<DifficultyScale>> {
    let cuts = cut_predictions(cfg, model, &data.val, device)?;
    if cuts.is_empty() {
        return Ok(None);
    }
    let pred: Vec<f64> = cuts.iter().map(|c| c.prediction).collect();
    let truth: Vec<f64> = cuts.iter().map(|c| c.truth).collect();
    Ok(Some(DifficultyScale::fit(&pred, &truth, DEFAULT_SCALE_FLOOR)?))
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
    let cuts = cut_predictions(cfg, model, &data.calibration, device)?;
    let difficulty = difficulty_of(cfg, model, data, device)?;
    let kinds = if difficulty.is_some() { kinds_with_normalised() } else { MODEL_KINDS.to_vec() };
    let record = CalibrationRecord {
        seed: cfg.data.prep.seed,
        cuts_per_engine: cfg.eval.cuts_per_engine,
        max_rul: cfg.data.prep.max_rul,
        units: data.calibration_units.clone(),
        calibrations: fit(&cuts, &kinds, &cfg.eval.coverage, difficulty.as_ref())?,
        cuts,
        scale: difficulty.as_ref().map(|_| DIFFICULTY_SCALE.to_string()),
        difficulty,
        scheme: Scheme::Split,
    };
    let truth: Vec<f64> = data.test_truth_uncapped.iter().map(|&v| v as f64).collect();
    let summary = record.summarise(test_pred, &truth, None)?;
    Ok(Some((record, summary)))
}

/// The intervals section of the scored run (or scores folder) `dir` at `levels` instead of its
/// stored ones, refitted in memory from its `calibration.json` and scored on its `predictions.csv`;
/// `None` when it has no calibration. Nothing is written.
pub fn intervals_at(dir: &Path, levels: &[f64]) -> anyhow::Result<Option<IntervalsSummary>> {
    let Some(record) = CalibrationRecord::load(dir)? else { return Ok(None) };
    let path = dir.join(PREDICTIONS_FILE);
    let rows = csv::Reader::from_path(&path)
        .and_then(|mut r| r.deserialize().collect::<Result<Vec<EnginePrediction>, _>>())
        .with_context(|| format!("reading {}", path.display()))?;
    let pred: Vec<f64> = rows.iter().map(|r| r.prediction).collect();
    let truth: Vec<f64> = rows.iter().map(|r| r.truth).collect();
    Ok(Some(record.refit(levels)?.summarise(&pred, &truth, None)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use grace_core::conformal::{combine, member_spread, Combine};
    use rand::{Rng, SeedableRng};

    /// Standard normal by Box–Muller.
    pub(super) fn normal(rng: &mut rand_chacha::ChaCha8Rng) -> f64 {
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
    fn calibration_files_written_before_the_scale_was_recorded_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let cuts: Vec<CutPrediction> = [(50.0, 47.0), (30.0, 36.0), (80.0, 80.5)]
            .iter()
            .enumerate()
            .map(|(i, &(truth, prediction))| CutPrediction {
                unit: i as u32,
                last_cycle: 9,
                truth,
                prediction,
                spread: Some(2.0),
            })
            .collect();
        let calibrations = fit(&cuts, &kinds_with_normalised(), &[0.5], None).unwrap();
        // an ensemble's file as written before `difficulty` and `scale` existed: spreads on the cuts
        let old = serde_json::json!({
            "seed": 7, "cuts_per_engine": 1, "max_rul": 125.0, "units": [0, 1, 2],
            "cuts": cuts, "calibrations": calibrations,
        });
        std::fs::write(dir.path().join(CALIBRATION_FILE), old.to_string()).unwrap();
        let rec = CalibrationRecord::load(dir.path()).unwrap().unwrap();
        assert_eq!((rec.scale.as_ref(), rec.difficulty.as_ref(), rec.scheme), (None, None, Scheme::Split));
        assert_eq!(rec.scale_name().as_deref(), Some(SPREAD_SCALE));
        // |y − ŷ| / 2 = 1.5, 3, 0.25: rank ⌈4 · 0.5⌉ = 2 gives 1.5, so ŷ = 40 with spread 4 is 40 ± 6
        let s = rec.summarise(&[40.0], &[45.0], Some(&[4.0])).unwrap();
        assert_eq!((s.scale.as_deref(), s.kinds[1].report.capped[0].mean_width), (Some(SPREAD_SCALE), Some(12.0)));
        // written again, the scale is recorded
        CalibrationRecord { scale: rec.scale_name(), ..rec }.write(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(CALIBRATION_FILE)).unwrap();
        assert!(text.contains(r#""scale": "member spread""#), "{text}");
    }

    #[test]
    fn levels_outside_the_unit_interval_are_refused_naming_the_value() {
        assert!(check_levels(&[0.5, 0.9]).is_ok());
        for (bad, named) in [(vec![0.9, 1.0], "level 1 is"), (vec![0.0], "level 0 is"), (vec![f64::NAN], "NaN")] {
            let e = check_levels(&bad).unwrap_err().to_string();
            assert!(e.contains(named), "{e}");
        }
        assert!(check_levels(&[]).unwrap_err().to_string().contains("no coverage level"));
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
                calibrations: fit(&cal, &kinds, &[level], None).unwrap(),
                cuts: cal,
                difficulty: None,
                scale: None,
                scheme: Scheme::Split,
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
