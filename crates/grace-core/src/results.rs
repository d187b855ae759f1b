//! The schema of a run's `results.json`: written by the trainer, read by `grace evaluate`, sweeps
//! and reports. NaN is written as null by JSON, so every float reads null back as NaN.

use crate::conformal::{Combine, IntervalKind, IntervalReport};
use crate::metrics;
use serde::{Deserialize, Deserializer, Serialize};

fn nan_if_null<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

fn nan() -> f64 {
    f64::NAN
}

/// RMSE, NASA score (sum) and MAE of RUL predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulScores {
    #[serde(deserialize_with = "nan_if_null", default = "nan")]
    pub rmse: f64,
    #[serde(deserialize_with = "nan_if_null", default = "nan")]
    pub nasa: f64,
    #[serde(deserialize_with = "nan_if_null", default = "nan")]
    pub mae: f64,
}

impl Default for RulScores {
    fn default() -> Self {
        RulScores { rmse: f64::NAN, nasa: f64::NAN, mae: f64::NAN }
    }
}

impl RulScores {
    /// NaN for an empty or mismatched set rather than an error: a score that could not be
    /// computed is reported as missing, never as zero.
    pub fn of(pred: &[f64], truth: &[f64]) -> RulScores {
        RulScores {
            rmse: metrics::rmse(pred, truth).unwrap_or(f64::NAN),
            nasa: metrics::nasa_score(pred, truth).unwrap_or(f64::NAN),
            mae: metrics::mae(pred, truth).unwrap_or(f64::NAN),
        }
    }
}

/// The test-set figures of one model (docs/reference.md §2.8, §6).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TestReport {
    pub engines: usize,
    /// Truth capped at R_max, as the model was trained to predict.
    pub capped: RulScores,
    /// Truth exactly as in the RUL file.
    pub uncapped: RulScores,
    #[serde(deserialize_with = "nan_if_null")]
    pub health_accuracy: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub health_macro_f1: f64,
    /// Rows: true class, columns: predicted class.
    pub confusion: Vec<Vec<u64>>,
}

/// How the numbers were obtained, so a result carries its own protocol.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Protocol {
    pub selection_metric: String,
    pub evaluated_weights: String,
    pub test_protocol: String,
    pub test_scored_once: bool,
    pub validation_units: Vec<u32>,
    pub train_units: usize,
    pub test_units: usize,
    pub max_rul: f64,
    pub window: usize,
    pub features: Vec<String>,
    pub n_conditions: usize,
    /// The data's fingerprint (`data.json` in the run directory); empty where none was recorded.
    pub data_fingerprint: String,
    /// Validation engines set aside to calibrate intervals (`data.prep.calibration`); they neither
    /// trained nor selected the checkpoint. Absent when calibration is off.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub calibration_units: Vec<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ValidationSummary {
    pub best_epoch: usize,
    #[serde(deserialize_with = "nan_if_null")]
    pub best_val_rmse: f64,
    /// Test-like figure: validation engines cut at a seeded random cycle, one window each.
    pub cut: RulScores,
    pub stopped_early: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Versions {
    pub grace: String,
    pub tch: String,
    pub libtorch: String,
    pub device: String,
    pub threads: i32,
}

/// `results.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunResults {
    pub method: String,
    /// "FD001" … or "SYNTHETIC".
    pub subset: String,
    pub synthetic: bool,
    pub seed: u64,
    pub protocol: Protocol,
    pub validation: ValidationSummary,
    pub test: TestReport,
    pub epochs_run: usize,
    pub steps: u64,
    #[serde(deserialize_with = "nan_if_null")]
    pub train_seconds: f64,
    pub versions: Versions,
    /// Calibrated intervals on the test set; absent when calibration is off (docs/intervals.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intervals: Option<IntervalsSummary>,
}

/// The test-set metrics of one interval kind at every level (docs/intervals.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindIntervals {
    #[serde(flatten)]
    pub kind: IntervalKind,
    #[serde(flatten)]
    pub report: IntervalReport,
}

/// The `intervals` section of `results.json`: what the intervals were calibrated on, and their
/// coverage, width and coverage by true-RUL band per kind and level on the test set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IntervalsSummary {
    pub calibration_engines: usize,
    /// Test-like cuts (residuals) the quantiles were fitted on.
    pub calibration_cuts: usize,
    pub cuts_per_engine: usize,
    /// How the calibration residuals were gathered (split by default; absent in older results).
    pub scheme: Scheme,
    /// What the normalised kind divides by: "difficulty" (a single model's σ̂), "difficulty (mean
    /// of N members)" or "member spread" (an ensemble); absent without that kind and in older results.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<String>,
    pub kinds: Vec<KindIntervals>,
}

/// How the residuals of a calibration were gathered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Scheme {
    /// One model (or a seed ensemble) calibrated on its own calibration engines.
    #[default]
    Split,
    /// Members trained on different folds, each scored on its own held-out calibration engines,
    /// residuals pooled (docs/intervals.md, "Cross-conformal over folds").
    CrossConformal { folds: usize, members: usize },
}

impl Scheme {
    /// In words, for tables and reports.
    pub fn describe(&self) -> String {
        match self {
            Scheme::Split => "split-conformal".into(),
            Scheme::CrossConformal { folds, members } => {
                format!("cross-conformal over {folds} folds ({members} members)")
            }
        }
    }
}

/// Capped and uncapped test scores of one model or ensemble.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RulPair {
    pub capped: RulScores,
    pub uncapped: RulScores,
}

/// One member of an ensemble, as its own `results.json` scored it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EnsembleMember {
    pub run_dir: String,
    pub method: String,
    pub seed: u64,
    pub test: RulPair,
}

/// `results.json` of an ensemble written by `grace evaluate --runs … --out DIR`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EnsembleResults {
    pub subset: String,
    pub synthetic: bool,
    pub combine: Combine,
    pub engines: usize,
    pub data_fingerprint: String,
    /// The ensemble's test scores.
    pub ensemble: RulPair,
    /// The mean of the members' scores, each figure averaged separately: the single-model baseline.
    pub mean_member: RulPair,
    pub members: Vec<EnsembleMember>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intervals: Option<IntervalsSummary>,
}

impl RunResults {
    /// "SYNTHETIC" for the synthetic fleet whatever subset its config names.
    pub fn label(&self) -> String {
        if self.synthetic {
            "SYNTHETIC".into()
        } else {
            self.subset.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmeasured_scores_round_trip_through_json_as_nan() {
        let r = RunResults {
            validation: ValidationSummary { best_val_rmse: f64::NAN, ..Default::default() },
            ..Default::default()
        };
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains("\"best_val_rmse\":null"), "{text}");
        let back: RunResults = serde_json::from_str(&text).unwrap();
        assert!(back.validation.best_val_rmse.is_nan() && back.test.capped.rmse.is_nan());
        // extra fields (newer writers) are ignored, missing ones default
        let v: RunResults = serde_json::from_str(r#"{"method":"grace","subset":"FD001","extra":1}"#).unwrap();
        assert_eq!(v.label(), "FD001");
        // calibration off: neither field is written, and an old file reads them as absent
        assert!(!text.contains("intervals") && !text.contains("calibration_units"), "{text}");
        assert!(v.intervals.is_none() && v.protocol.calibration_units.is_empty());
    }

    #[test]
    fn interval_sections_round_trip_with_the_kind_beside_the_metrics() {
        use crate::conformal::{default_bands, Interval, LevelIntervals};
        let level = LevelIntervals { level: 0.9, intervals: vec![Interval { lower: 10.0, upper: None }] };
        let report = IntervalReport::of(&[level], &[140.0], 125.0, &default_bands()).unwrap();
        let kinds = vec![KindIntervals { kind: IntervalKind::LowerBound, report }];
        let r = RunResults {
            intervals: Some(IntervalsSummary {
                calibration_engines: 2,
                calibration_cuts: 20,
                cuts_per_engine: 10,
                scheme: Scheme::CrossConformal { folds: 3, members: 3 },
                scale: Some("difficulty (mean of 3 members)".into()),
                kinds,
            }),
            ..Default::default()
        };
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains(r#""kinds":[{"kind":"lower_bound","max_rul":125.0,"capped":"#), "{text}");
        assert!(text.contains(r#""scheme":{"name":"cross_conformal","folds":3,"members":3}"#), "{text}");
        let back: RunResults = serde_json::from_str(&text).unwrap();
        assert_eq!(back.intervals, r.intervals);
        // results written before the scheme and the scale were recorded read as split, without a scale
        let scale = r#""scale":"difficulty (mean of 3 members)","#;
        assert!(text.contains(scale), "{text}");
        let old = text.replace(r#""scheme":{"name":"cross_conformal","folds":3,"members":3},"#, "").replace(scale, "");
        let back = serde_json::from_str::<RunResults>(&old).unwrap().intervals.unwrap();
        assert_eq!((back.scheme, back.scale), (Scheme::Split, None));
    }

    #[test]
    fn scores_of_hand_computed_errors() {
        // d = (+10, −13): RMSE √((100+169)/2) = 11.5974; NASA (e^{1} − 1) + (e^{1} − 1) = 3.43656; MAE 11.5
        let s = RulScores::of(&[60.0, 37.0], &[50.0, 50.0]);
        assert!((s.rmse - (269.0f64 / 2.0).sqrt()).abs() < 1e-12);
        assert!((s.nasa - 2.0 * (1f64.exp() - 1.0)).abs() < 1e-12);
        assert!((s.mae - 11.5).abs() < 1e-12);
        assert!(RulScores::of(&[], &[]).rmse.is_nan());
    }
}
