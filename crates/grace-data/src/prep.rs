//! SPEC §2 pipeline: feature selection, operating-condition k-means, per-condition z-score,
//! capped RUL and health labels, and the engine-level train/validation split.

use crate::error::DataError;
use crate::kmeans;
use crate::parse::{RawEngine, RawSubset, SENSOR_NAMES, SETTING_NAMES};
use crate::split::{Engine, Split};
use crate::subset::Subset;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Sensors kept (1-based); 1, 5, 6, 10, 16, 18, 19 are dropped because they are constant on FD001.
pub const KEPT_SENSORS: [usize; 14] = [2, 3, 4, 7, 8, 9, 11, 12, 13, 14, 15, 17, 20, 21];

/// Which columns feed the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureSet {
    /// 3 settings + 14 sensors = 17 (SPEC default).
    #[default]
    SensorsAndSettings,
    /// The 14 sensors only.
    Sensors,
}

impl FeatureSet {
    pub fn n_features(self) -> usize {
        self.columns().len()
    }

    /// Indices into a row laid out as `[settings(3), sensors(21)]`.
    pub fn columns(self) -> Vec<usize> {
        let sensors = KEPT_SENSORS.iter().map(|s| 2 + s);
        match self {
            FeatureSet::SensorsAndSettings => (0..3).chain(sensors).collect(),
            FeatureSet::Sensors => sensors.collect(),
        }
    }

    /// Names such as `altitude` or `s2_T24`.
    pub fn names(self) -> Vec<String> {
        self.columns()
            .into_iter()
            .map(|c| if c < 3 { SETTING_NAMES[c].to_string() } else { format!("s{}_{}", c - 2, SENSOR_NAMES[c - 3]) })
            .collect()
    }

    /// 17 or 14, as typed on the command line.
    pub fn from_count(n: usize) -> Option<Self> {
        match n {
            17 => Some(FeatureSet::SensorsAndSettings),
            14 => Some(FeatureSet::Sensors),
            _ => None,
        }
    }
}

/// Health-class thresholds on the capped RUL (SPEC §2 step 5).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthThresholds {
    /// Class 0 "normal" when y > this.
    pub normal_above: f64,
    /// Class 2 "critical" when y ≤ this; in between is class 1 "degrading".
    pub critical_at_or_below: f64,
}

impl Default for HealthThresholds {
    fn default() -> Self {
        HealthThresholds { normal_above: 80.0, critical_at_or_below: 30.0 }
    }
}

impl HealthThresholds {
    pub fn class(&self, y: f64) -> u8 {
        if y > self.normal_above {
            0
        } else if y > self.critical_at_or_below {
            1
        } else {
            2
        }
    }
}

/// Every knob of the data pipeline; `Default` is SPEC §2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PrepConfig {
    pub features: FeatureSet,
    /// Operating conditions to cluster into; `None` = the subset's own (1 or 6).
    pub n_conditions: Option<usize>,
    pub kmeans_restarts: usize,
    pub kmeans_max_iter: usize,
    /// R_max of the piecewise-linear RUL cap.
    pub max_rul: f64,
    pub health: HealthThresholds,
    /// Window length in cycles.
    pub window: usize,
    /// Share of training engines held out for validation.
    pub val_fraction: f64,
    /// ε in `(x − μ) / (σ + ε)`.
    pub eps: f64,
    /// Seeds the validation split and the k-means starts.
    pub seed: u64,
}

impl Default for PrepConfig {
    fn default() -> Self {
        PrepConfig {
            features: FeatureSet::SensorsAndSettings,
            n_conditions: None,
            kmeans_restarts: 10,
            kmeans_max_iter: 100,
            max_rul: 125.0,
            health: HealthThresholds::default(),
            window: 30,
            val_fraction: 0.2,
            eps: 1e-8,
            seed: 42,
        }
    }
}

impl PrepConfig {
    // `!(x > 0)` rather than `x <= 0` so NaN settings are rejected too.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    fn validate(&self) -> Result<(), DataError> {
        let bad = |m: String| Err(DataError::Config(m));
        if self.window == 0 {
            return bad("window must be at least 1 cycle".into());
        }
        if !(0.0..1.0).contains(&self.val_fraction) {
            return bad(format!("val_fraction {} must be in [0, 1)", self.val_fraction));
        }
        if !(self.max_rul > 0.0) {
            return bad(format!("max_rul {} must be positive", self.max_rul));
        }
        if !(self.health.critical_at_or_below < self.health.normal_above) {
            return bad(format!(
                "health thresholds: critical_at_or_below ({}) must be below normal_above ({})",
                self.health.critical_at_or_below, self.health.normal_above
            ));
        }
        if !(self.eps >= 0.0) {
            return bad(format!("eps {} must be ≥ 0", self.eps));
        }
        Ok(())
    }
}

/// Everything fitted on training rows; carried by a trained model so new engines are
/// preprocessed exactly as the training data was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    pub config: PrepConfig,
    pub feature_names: Vec<String>,
    /// Per-setting divisor used for clustering (training std of each setting; 1 when constant),
    /// so altitude (0–42) does not drown Mach (0–0.84).
    pub setting_scale: [f64; 3],
    /// Condition centroids in original units (altitude kft, Mach, TRA), sorted by altitude, then
    /// TRA, then Mach, so condition indices are stable across runs.
    pub centroids: Vec<[f64; 3]>,
    /// Training rows per condition.
    pub condition_rows: Vec<usize>,
    /// `mean[c][f]`, `std[c][f]` (population σ) over training rows of condition c.
    pub mean: Vec<Vec<f64>>,
    pub std: Vec<Vec<f64>>,
}

fn row24(e: &RawEngine, c: usize) -> [f64; 24] {
    let mut r = [0.0; 24];
    r[..3].copy_from_slice(&e.settings[c]);
    r[3..].copy_from_slice(&e.sensors[c]);
    r
}

impl Preprocessing {
    /// Fits conditions and statistics on `train` (training engines only) with `n_conditions` clusters.
    pub fn fit(train: &[RawEngine], n_conditions: usize, config: &PrepConfig) -> Result<Self, DataError> {
        config.validate()?;
        let rows: Vec<[f64; 3]> = train.iter().flat_map(|e| e.settings.iter().copied()).collect();
        if n_conditions == 0 || n_conditions > 255 {
            return Err(DataError::Config(format!("n_conditions {n_conditions} must be between 1 and 255")));
        }
        if rows.len() < n_conditions {
            return Err(DataError::Config(format!(
                "{} training rows cannot be clustered into {n_conditions} operating conditions",
                rows.len()
            )));
        }
        let mut scale = [1.0; 3];
        for (j, s) in scale.iter_mut().enumerate() {
            let m = rows.iter().map(|r| r[j]).sum::<f64>() / rows.len() as f64;
            let v = rows.iter().map(|r| (r[j] - m).powi(2)).sum::<f64>() / rows.len() as f64;
            if v.sqrt() > 1e-12 {
                *s = v.sqrt();
            }
        }
        let scaled: Vec<[f64; 3]> = rows.iter().map(|r| [r[0] / scale[0], r[1] / scale[1], r[2] / scale[2]]).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        rng.set_stream(1);
        let fitted = kmeans::fit(&scaled, n_conditions, config.kmeans_restarts, config.kmeans_max_iter, &mut rng);
        let mut centroids: Vec<[f64; 3]> =
            fitted.centroids.iter().map(|c| [c[0] * scale[0], c[1] * scale[1], c[2] * scale[2]]).collect();
        centroids.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[2].total_cmp(&b[2])).then(a[1].total_cmp(&b[1])));

        let cols = config.features.columns();
        let nf = cols.len();
        let mut pre = Preprocessing {
            config: config.clone(),
            feature_names: config.features.names(),
            setting_scale: scale,
            centroids,
            condition_rows: vec![0; n_conditions],
            mean: vec![vec![0.0; nf]; n_conditions],
            std: vec![vec![0.0; nf]; n_conditions],
        };
        // Two passes (mean, then squared deviations) keep σ accurate for large, nearly constant sensors.
        let mut labels = Vec::with_capacity(rows.len());
        for e in train {
            for c in 0..e.n_cycles() {
                let k = pre.condition_of(&e.settings[c]) as usize;
                labels.push(k);
                pre.condition_rows[k] += 1;
                let r = row24(e, c);
                for (f, &col) in cols.iter().enumerate() {
                    pre.mean[k][f] += r[col];
                }
            }
        }
        for k in 0..n_conditions {
            let n = pre.condition_rows[k].max(1) as f64;
            pre.mean[k].iter_mut().for_each(|m| *m /= n);
        }
        let mut i = 0;
        for e in train {
            for c in 0..e.n_cycles() {
                let k = labels[i];
                i += 1;
                let r = row24(e, c);
                for (f, &col) in cols.iter().enumerate() {
                    pre.std[k][f] += (r[col] - pre.mean[k][f]).powi(2);
                }
            }
        }
        for k in 0..n_conditions {
            let n = pre.condition_rows[k].max(1) as f64;
            pre.std[k].iter_mut().for_each(|s| *s = (*s / n).sqrt());
        }
        Ok(pre)
    }

    pub fn n_conditions(&self) -> usize {
        self.centroids.len()
    }

    pub fn n_features(&self) -> usize {
        self.feature_names.len()
    }

    /// Nearest fitted centroid in the scaled settings space (never re-fitted).
    pub fn condition_of(&self, settings: &[f64; 3]) -> u8 {
        let s = &self.setting_scale;
        let p = [settings[0] / s[0], settings[1] / s[1], settings[2] / s[2]];
        let cents: Vec<[f64; 3]> = self.centroids.iter().map(|c| [c[0] / s[0], c[1] / s[1], c[2] / s[2]]).collect();
        kmeans::nearest(&p, &cents).0 as u8
    }

    /// Whether feature f is treated as constant within condition c (its z-score is then 0, not ±∞).
    pub fn is_constant(&self, c: usize, f: usize) -> bool {
        self.std[c][f] <= 1e-9 * self.mean[c][f].abs().max(1.0)
    }

    /// Normalised features (row-major cycles × features) and the condition of each cycle.
    pub fn features(&self, e: &RawEngine) -> (Vec<f32>, Vec<u8>) {
        let cols = self.config.features.columns();
        let nf = cols.len();
        let nc = self.n_conditions();
        // 1/(σ+ε) per condition, 0 for constant features so they map to 0 instead of noise/ε.
        let inv: Vec<Vec<f64>> = (0..nc)
            .map(|c| {
                (0..nf)
                    .map(|f| if self.is_constant(c, f) { 0.0 } else { 1.0 / (self.std[c][f] + self.config.eps) })
                    .collect()
            })
            .collect();
        let s = &self.setting_scale;
        let cents: Vec<[f64; 3]> = self.centroids.iter().map(|c| [c[0] / s[0], c[1] / s[1], c[2] / s[2]]).collect();
        let n = e.n_cycles();
        let mut x = Vec::with_capacity(n * nf);
        let mut cond = Vec::with_capacity(n);
        for c in 0..n {
            let st = &e.settings[c];
            let k = kmeans::nearest(&[st[0] / s[0], st[1] / s[1], st[2] / s[2]], &cents).0;
            cond.push(k as u8);
            let r = row24(e, c);
            for (f, &col) in cols.iter().enumerate() {
                x.push(((r[col] - self.mean[k][f]) * inv[k][f]) as f32);
            }
        }
        (x, cond)
    }

    /// Preprocesses engines. `rul_after_last[i]` is engine i's true RUL after its last cycle
    /// (test engines); `None` means run to failure (training engines, RUL 0 at the last cycle).
    /// For prediction on new engines pass `None` and ignore the targets.
    pub fn apply(&self, engines: &[RawEngine], rul_after_last: Option<&[f64]>) -> Vec<Engine> {
        engines
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let (features, condition) = self.features(e);
                let after = rul_after_last.and_then(|r| r.get(i).copied()).unwrap_or(0.0);
                let n = e.n_cycles();
                let mut rul = Vec::with_capacity(n);
                let mut health = Vec::with_capacity(n);
                for c in 0..n {
                    let y = (after + (n - 1 - c) as f64).min(self.config.max_rul);
                    rul.push(y as f32);
                    health.push(self.config.health.class(y));
                }
                Engine { unit: e.unit, features, rul, health, condition }
            })
            .collect()
    }
}

/// A subset ready for training: fitted preprocessing plus train/validation/test splits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prepared {
    /// "FD001" … or "SYNTHETIC".
    pub name: String,
    pub subset: Option<Subset>,
    pub preprocessing: Preprocessing,
    pub train: Split,
    pub val: Split,
    pub test: Split,
    /// RUL-file truth per test engine, before the R_max cap (the capped value is the last
    /// cycle's target in `test`).
    pub test_truth_uncapped: Vec<f32>,
    /// Unit ids per split, in engine order (ascending).
    pub train_units: Vec<u32>,
    pub val_units: Vec<u32>,
    pub test_units: Vec<u32>,
}

impl Prepared {
    pub fn n_features(&self) -> usize {
        self.preprocessing.n_features()
    }

    /// Capped truth per test engine (the last-cycle target), in test-engine order.
    pub fn test_truth_capped(&self) -> Vec<f32> {
        self.test.engines.iter().map(|e| *e.rul.last().unwrap_or(&0.0)).collect()
    }
}

/// Indices of the training engines held out for validation (seeded, sorted). At least one engine
/// is held out when the fraction is positive and there are two or more engines; at least one stays.
pub fn validation_indices(n_engines: usize, val_fraction: f64, seed: u64) -> Vec<usize> {
    let mut n_val = (val_fraction * n_engines as f64).round() as usize;
    if val_fraction > 0.0 && n_engines >= 2 {
        n_val = n_val.clamp(1, n_engines - 1);
    } else if n_engines < 2 {
        n_val = 0;
    }
    let mut idx: Vec<usize> = (0..n_engines).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let mut v = idx[..n_val].to_vec();
    v.sort_unstable();
    v
}

/// Runs SPEC §2 on one subset: split engines, fit on the training part, apply everywhere.
pub fn prepare(raw: &RawSubset, config: &PrepConfig) -> Result<Prepared, DataError> {
    config.validate()?;
    if raw.test.len() != raw.test_rul.len() {
        return Err(DataError::Config(format!(
            "{}: {} test engines but {} RUL values",
            raw.name,
            raw.test.len(),
            raw.test_rul.len()
        )));
    }
    let val_idx = validation_indices(raw.train.len(), config.val_fraction, config.seed);
    let mut is_val = vec![false; raw.train.len()];
    val_idx.iter().for_each(|&i| is_val[i] = true);
    let (mut tr, mut va) = (Vec::new(), Vec::new());
    for (e, v) in raw.train.iter().zip(&is_val) {
        if *v {
            va.push(e.clone())
        } else {
            tr.push(e.clone())
        }
    }
    let k = config.n_conditions.unwrap_or(raw.default_conditions);
    let pre = Preprocessing::fit(&tr, k, config)?;
    let nf = pre.n_features();
    let split = |engines: Vec<Engine>| Split { engines, n_features: nf, window: config.window };
    let train = split(pre.apply(&tr, None));
    let val = split(pre.apply(&va, None));
    let test = split(pre.apply(&raw.test, Some(&raw.test_rul)));
    Ok(Prepared {
        name: raw.name.clone(),
        subset: raw.subset,
        train_units: tr.iter().map(|e| e.unit).collect(),
        val_units: va.iter().map(|e| e.unit).collect(),
        test_units: raw.test.iter().map(|e| e.unit).collect(),
        test_truth_uncapped: raw.test_rul.iter().map(|&v| v as f32).collect(),
        preprocessing: pre,
        train,
        val,
        test,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_sets_select_the_spec_columns() {
        let n = FeatureSet::SensorsAndSettings.names();
        assert_eq!(n.len(), 17);
        assert_eq!(&n[..4], ["altitude", "mach", "tra", "s2_T24"]);
        assert_eq!(n[16], "s21_W32");
        let s = FeatureSet::Sensors.names();
        assert_eq!(s.len(), 14);
        assert!(s.contains(&"s11_Ps30".to_string()) && !s.iter().any(|x| x.starts_with("s10_")));
        // Sensor k sits at row index 2 + k in [settings, sensors].
        assert_eq!(FeatureSet::Sensors.columns()[0], 4);
    }

    #[test]
    fn health_classes_follow_thresholds_at_the_boundaries() {
        let h = HealthThresholds::default();
        assert_eq!(
            [h.class(125.0), h.class(80.1), h.class(80.0), h.class(30.1), h.class(30.0), h.class(0.0)],
            [0, 0, 1, 1, 2, 2]
        );
    }

    #[test]
    fn validation_split_is_seeded_and_keeps_one_on_each_side() {
        assert_eq!(validation_indices(100, 0.2, 7).len(), 20);
        assert_eq!(validation_indices(100, 0.2, 7), validation_indices(100, 0.2, 7));
        assert_ne!(validation_indices(100, 0.2, 7), validation_indices(100, 0.2, 8));
        assert_eq!(validation_indices(3, 0.01, 0).len(), 1);
        assert_eq!(validation_indices(2, 0.99, 0).len(), 1);
        assert!(validation_indices(1, 0.5, 0).is_empty());
        assert!(validation_indices(10, 0.0, 0).is_empty());
    }

    fn engine(unit: u32, rows: &[([f64; 3], f64)]) -> RawEngine {
        RawEngine {
            unit,
            cycles: rows.len() as u32,
            settings: rows.iter().map(|r| r.0).collect(),
            sensors: rows.iter().map(|r| [r.1; 21]).collect(),
        }
    }

    #[test]
    fn zscore_uses_each_conditions_stats_and_maps_constant_features_to_zero() {
        // Two regimes; sensor value 10/20 in regime A, 100/300 in regime B.
        let a = [0.0, 0.0, 100.0];
        let b = [35.0, 0.84, 60.0];
        let tr = vec![engine(1, &[(a, 10.0), (b, 100.0), (a, 20.0), (b, 300.0)])];
        let cfg = PrepConfig { features: FeatureSet::SensorsAndSettings, ..Default::default() };
        let p = Preprocessing::fit(&tr, 2, &cfg).unwrap();
        assert_eq!(p.centroids, vec![a, b]);
        assert_eq!(p.condition_rows, vec![2, 2]);
        let e = &p.apply(&tr, None)[0];
        assert_eq!(e.condition, vec![0, 1, 0, 1]);
        // Sensors: regime A mean 15 σ 5 → −1, +1; regime B mean 200 σ 100 → −1, +1.
        let s2: Vec<f32> = (0..4).map(|c| e.features[c * 17 + 3]).collect();
        for (got, want) in s2.iter().zip([-1.0, -1.0, 1.0, 1.0]) {
            assert!((got - want).abs() < 1e-6, "{s2:?}");
        }
        // Settings are constant within each regime: exactly 0, never inf/NaN.
        assert!((0..4).all(|c| e.features[c * 17..c * 17 + 3] == [0.0, 0.0, 0.0]));
        // A new engine slightly off regime B is assigned to it and normalised with B's stats.
        let new = engine(9, &[([34.9, 0.84, 60.0], 250.0)]);
        let n = &p.apply(&[new], Some(&[7.0]))[0];
        assert_eq!(n.condition, vec![1]);
        assert!((n.features[3] - 0.5).abs() < 1e-6);
        assert_eq!(n.features[0], 0.0);
        assert_eq!((n.rul[0], n.health[0]), (7.0, 2));
    }

    #[test]
    fn rejects_bad_configs_with_a_reason() {
        let tr = vec![engine(1, &[([0.0; 3], 1.0); 3])];
        let e = Preprocessing::fit(&tr, 1, &PrepConfig { val_fraction: 1.0, ..Default::default() }).unwrap_err();
        assert!(e.to_string().contains("val_fraction 1"), "{e}");
        let e = Preprocessing::fit(&tr, 4, &PrepConfig::default()).unwrap_err();
        assert!(e.to_string().contains("3 training rows"), "{e}");
        let h = HealthThresholds { normal_above: 30.0, critical_at_or_below: 80.0 };
        assert!(Preprocessing::fit(&tr, 1, &PrepConfig { health: h, ..Default::default() }).is_err());
    }
}
