//! The files of a run directory and the rows of its two CSV logs, defined once for the trainer that
//! writes them and for the sweeps and reports that read them (next to `results.rs`, the results schema).

use serde::{Deserialize, Serialize};

pub const CONFIG_FILE: &str = "config.toml";
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
/// The averaged weights of the selected (best validation) epoch.
pub const BEST_FILE: &str = "best.safetensors";
pub const RESULTS_FILE: &str = "results.json";
pub const PREPROCESSING_FILE: &str = "preprocessing.json";
/// One [`GradientRow`] per optimiser step.
pub const GRADIENT_LOG: &str = "gradient_log.csv";
/// One [`EpochRow`] per epoch.
pub const EPOCH_LOG: &str = "epochs.csv";
/// One row per test engine (last window).
pub const PREDICTIONS_FILE: &str = "predictions.csv";
/// The trainer's console output when a sweep runs it in a child process.
pub const TRAIN_LOG: &str = "train.log";
/// Which data the run read: a [`DataRecord`].
pub const DATA_FILE: &str = "data.json";
/// The recipe (built-in name or file) a run's settings started from, one line; absent without one.
/// The run keeps it so that a resumed or re-scored run names its recipe in the test log too.
pub const RECIPE_FILE: &str = "recipe.txt";
/// Held by the one process writing the run (`lock.rs`).
pub const LOCK_FILE: &str = ".lock";

/// The health classes in label order (0, 1, 2): the columns `p_normal`, `p_degrading`, `p_critical`.
pub const HEALTH_CLASSES: [&str; 3] = ["normal", "degrading", "critical"];

/// One file a run read, by name, size and content digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    pub name: String,
    pub bytes: usize,
    /// sha256 of the bytes, lower-case hex (the digest `sha256sum` prints).
    pub sha256: String,
}

/// `data.json`: where a run's data came from and a fingerprint of what was read, so that scoring
/// the run later can prove it reads the same data, wherever it is started from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataRecord {
    /// An absolute path, or `synthetic`.
    pub source: String,
    pub subset: String,
    pub files: Vec<FileDigest>,
    /// sha256 over the files' names and digests in order: one value to compare.
    pub fingerprint: String,
}

impl DataRecord {
    /// The record of `files` (name, content) read from `source` for `subset`.
    pub fn of(source: &str, subset: &str, files: &[(String, &[u8])]) -> DataRecord {
        let files: Vec<FileDigest> = files
            .iter()
            .map(|(name, bytes)| FileDigest { name: name.clone(), bytes: bytes.len(), sha256: sha256_hex(bytes) })
            .collect();
        let listing: String = files.iter().map(|f| format!("{}  {}\n", f.sha256, f.name)).collect();
        DataRecord {
            source: source.to_string(),
            subset: subset.to_string(),
            fingerprint: sha256_hex(listing.as_bytes()),
            files,
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// One row of `epochs.csv`. Unmeasured (non-finite) figures are written as empty cells.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochRow {
    pub epoch: usize,
    /// Optimiser steps taken by the end of the epoch.
    pub steps: u64,
    pub lr: f64,
    #[serde(with = "blank_if_not_finite")]
    pub train_loss_rul: f64,
    #[serde(with = "blank_if_not_finite")]
    pub train_loss_health: f64,
    /// λ* of the epoch's last step.
    pub lambda_rul: f64,
    pub lambda_health: f64,
    /// Validation RMSE of the averaged weights: the selection metric.
    #[serde(with = "blank_if_not_finite")]
    pub val_rmse: f64,
    #[serde(with = "blank_if_not_finite")]
    pub val_nasa: f64,
    /// Validation RMSE of the live (not averaged) weights.
    #[serde(with = "blank_if_not_finite")]
    pub val_rmse_live: f64,
    /// Validation RMSE on `train.select_cuts` seeded test-like cuts per validation engine, one
    /// window each.
    #[serde(with = "blank_if_not_finite")]
    pub val_cut_rmse: f64,
    pub seconds: f64,
    /// RMSE of the averaged weights on the calibration engines' test-like cuts (the interval
    /// calibration's cuts), truth capped: a held-out figure for comparing selection scores, never
    /// used for selection, schedule or early stopping. Empty without calibration engines, and
    /// absent (read as NaN) in logs written before it existed.
    #[serde(with = "blank_if_not_finite", default = "not_measured")]
    pub held_cut_rmse: f64,
}

/// The value of an optional figure a log does not have.
fn not_measured() -> f64 {
    f64::NAN
}

/// One row of `gradient_log.csv`: the step's losses, task gradient norms and controller state.
/// Controller fields a method does not have (`raw_*`, `ema_*`, `floored_*`) and norms that were
/// not measured at this step are empty cells.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GradientRow {
    pub epoch: usize,
    pub step: u64,
    pub loss_rul: f64,
    pub loss_health: f64,
    #[serde(with = "blank_if_not_finite")]
    pub g_rul: f64,
    #[serde(with = "blank_if_not_finite")]
    pub g_health: f64,
    /// `g_rul / g_health`.
    #[serde(with = "blank_if_not_finite")]
    pub ratio: f64,
    #[serde(with = "blank_if_not_finite")]
    pub cosine: f64,
    #[serde(with = "blank_if_not_finite")]
    pub raw_rul: f64,
    #[serde(with = "blank_if_not_finite")]
    pub raw_health: f64,
    #[serde(with = "blank_if_not_finite")]
    pub ema_rul: f64,
    #[serde(with = "blank_if_not_finite")]
    pub ema_health: f64,
    #[serde(with = "blank_if_not_finite")]
    pub floored_rul: f64,
    #[serde(with = "blank_if_not_finite")]
    pub floored_health: f64,
    /// λ*: the weights that multiplied the losses.
    pub lambda_rul: f64,
    pub lambda_health: f64,
    /// Global gradient norm before clipping.
    #[serde(with = "blank_if_not_finite")]
    pub grad_norm: f64,
    /// 1 while the controller's warm-up held the weights, else 0.
    pub warmup: u8,
    /// 1 when the controller skipped the step's update (unusable norms), else 0.
    pub skipped: u8,
}

/// A float that is written as an empty cell when not finite and read back as NaN: the logs'
/// convention for "not measured", which every CSV reader understands.
mod blank_if_not_finite {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_some(v)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_fingerprints_are_sha256_of_the_files_and_of_their_listing() {
        let r = DataRecord::of("/d", "FD001", &[("a.txt".to_string(), b"abc".as_slice())]);
        // sha256("abc"), the FIPS 180-2 example
        assert_eq!(r.files[0].sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(r.files[0].bytes, 3);
        assert_eq!(r.fingerprint, sha256_hex(format!("{}  a.txt\n", r.files[0].sha256).as_bytes()));
        let other = DataRecord::of("/d", "FD001", &[("a.txt".to_string(), b"abd".as_slice())]);
        assert_ne!(other.fingerprint, r.fingerprint);
    }

    #[test]
    fn non_finite_figures_are_written_as_null_and_read_back_as_nan() {
        // JSON stands in for CSV here (grace-core has no CSV writer): None is null there, an empty cell in CSV.
        let row = GradientRow { g_rul: f64::NAN, ratio: f64::INFINITY, cosine: -0.25, ..Default::default() };
        let v = serde_json::to_value(&row).unwrap();
        assert!(v["g_rul"].is_null() && v["ratio"].is_null());
        assert_eq!(v["cosine"], -0.25);
        let back: GradientRow = serde_json::from_value(v).unwrap();
        assert!(back.g_rul.is_nan() && back.ratio.is_nan());
        assert_eq!(back.cosine, -0.25);
    }
}
