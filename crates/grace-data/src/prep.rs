//! The docs/reference.md §2 pipeline over a [`Schema`]: feature selection by name, operating-condition
//! k-means on the settings, per-condition z-score, capped RUL and health labels, engine-level split.

use crate::error::DataError;
use crate::kmeans;
use crate::parse::{RawEngine, RawSubset, MAX_MAGNITUDE};
use crate::schema::{Role, Rows, Schema};
use crate::split::{Engine, Split};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::path::Path;

/// Which columns feed the model: always the schema's model sensors, with or without its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureSet {
    /// Settings + model sensors: 3 + 14 = 17 on C-MAPSS (the default).
    #[default]
    SensorsAndSettings,
    /// The model sensors only (14 on C-MAPSS).
    Sensors,
}

impl FeatureSet {
    pub fn n_features(self, schema: &Schema) -> usize {
        self.columns(schema).len()
    }

    /// Positions in a `[settings, sensors]` row of `schema`.
    pub fn columns(self, schema: &Schema) -> Vec<usize> {
        let ns = schema.n_settings();
        let sensors = schema.model_sensors.iter().map(|m| ns + schema.sensor_index(m).expect("checked by the schema"));
        match self {
            FeatureSet::SensorsAndSettings => (0..ns).chain(sensors).collect(),
            FeatureSet::Sensors => sensors.collect(),
        }
    }

    /// Names such as `altitude` or `s2_T24` (see [`Schema::feature_name`]).
    pub fn names(self, schema: &Schema) -> Vec<String> {
        self.columns(schema).into_iter().map(|c| schema.feature_name(c)).collect()
    }

    /// The set with `n` features on `schema` (17 or 14 on C-MAPSS), as typed on the command line.
    pub fn from_count(n: usize, schema: &Schema) -> Option<Self> {
        [FeatureSet::SensorsAndSettings, FeatureSet::Sensors].into_iter().find(|f| f.n_features(schema) == n)
    }
}

/// Health-class thresholds on the capped RUL (docs/reference.md §2 step 5).
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

/// Every knob of the data pipeline; `Default` is docs/reference.md §2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PrepConfig {
    pub features: FeatureSet,
    /// Operating conditions to cluster into; `None` = the data set's own (1 or 6 on C-MAPSS).
    pub n_conditions: Option<usize>,
    pub kmeans_restarts: usize,
    pub kmeans_max_iter: usize,
    /// R_max of the piecewise-linear RUL cap.
    pub max_rul: f64,
    pub health: HealthThresholds,
    /// Window length in cycles.
    pub window: usize,
    /// Share of training engines held out for validation (when `folds` is 0).
    pub val_fraction: f64,
    /// k-fold split of the training engines (0 = the `val_fraction` hold-out): the engines are
    /// dealt, in a seeded order, into `folds` folds and fold `fold` is held out for validation.
    pub folds: usize,
    /// The fold held out for validation, `0..folds`.
    pub fold: usize,
    /// Share of the validation engines (the hold-out or the fold) moved, by a choice seeded from
    /// `seed`, into a calibration set for conformal intervals (0 = off): those engines neither train
    /// nor select the checkpoint. Not written when 0, so older files stay as they were.
    #[serde(skip_serializing_if = "is_off")]
    pub calibration: f64,
    /// Exponential smoothing of the normalised features along each engine's cycles, α in [0, 1):
    /// s₀ = x₀, sₜ = α·sₜ₋₁ + (1 − α)·xₜ (0 = off). Causal, so a last window sees only its past.
    pub smoothing: f64,
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
            folds: 0,
            fold: 0,
            calibration: 0.0,
            smoothing: 0.0,
            eps: 1e-8,
            seed: 42,
        }
    }
}

fn is_off(x: &f64) -> bool {
    *x == 0.0
}

impl PrepConfig {
    fn validate(&self) -> Result<(), DataError> {
        self.check().map_err(DataError::Config)
    }

    /// Every setting in range and finite (a NaN or inf here would reach `preprocessing.json` as
    /// null); the message names the setting.
    // `!(x > 0)` rather than `x <= 0` so NaN settings are rejected too.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    pub fn check(&self) -> Result<(), String> {
        let bad = |m: String| Err(m);
        if self.window == 0 {
            return bad("window must be at least 1 cycle".into());
        }
        if !(0.0..1.0).contains(&self.val_fraction) {
            return bad(format!("val_fraction {} must be in [0, 1)", self.val_fraction));
        }
        if !(0.0..1.0).contains(&self.calibration) {
            return bad(format!("calibration {} must be in [0, 1) (0 = off)", self.calibration));
        }
        if !(0.0..1.0).contains(&self.smoothing) {
            return bad(format!("smoothing {} must be in [0, 1) (0 = off)", self.smoothing));
        }
        if self.folds == 1 {
            return bad("folds must be 0 (the val_fraction hold-out) or at least 2".into());
        }
        if self.folds > 0 && self.fold >= self.folds {
            return bad(format!("fold {} must be below folds ({})", self.fold, self.folds));
        }
        if self.folds == 0 && self.fold != 0 {
            return bad(format!("fold {} needs folds ≥ 2 (folds is 0: the val_fraction hold-out)", self.fold));
        }
        if !(self.max_rul > 0.0 && self.max_rul <= MAX_MAGNITUDE) {
            return bad(format!("max_rul {} must be positive and at most {MAX_MAGNITUDE:e}", self.max_rul));
        }
        let h = &self.health;
        if !(h.normal_above.is_finite() && h.critical_at_or_below.is_finite()) {
            return bad(format!(
                "health thresholds must be finite numbers (normal_above {}, critical_at_or_below {})",
                h.normal_above, h.critical_at_or_below
            ));
        }
        if !(self.health.critical_at_or_below < self.health.normal_above) {
            return bad(format!(
                "health thresholds: critical_at_or_below ({}) must be below normal_above ({})",
                self.health.critical_at_or_below, self.health.normal_above
            ));
        }
        if !(self.eps >= 0.0 && self.eps.is_finite()) {
            return bad(format!("eps {} must be a finite number ≥ 0", self.eps));
        }
        Ok(())
    }
}

/// Everything fitted on training rows; carried by a trained model so new engines are
/// preprocessed exactly as the training data was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    pub config: PrepConfig,
    /// Model inputs by name; each is resolved in `schema` when engines are preprocessed.
    pub feature_names: Vec<String>,
    /// Per-setting divisor used for clustering (training std of each setting; 1 when constant),
    /// so altitude (0–42) does not drown Mach (0–0.84).
    pub setting_scale: Vec<f64>,
    /// Condition centroids over the settings in original units, sorted by the settings in schema
    /// order (altitude, then Mach, then TRA on C-MAPSS), so condition indices are stable across runs.
    pub centroids: Vec<Vec<f64>>,
    /// Training rows per condition.
    pub condition_rows: Vec<usize>,
    /// `mean[c][f]`, `std[c][f]` (population σ) over training rows of condition c.
    pub mean: Vec<Vec<f64>>,
    pub std: Vec<Vec<f64>>,
    /// The layout engines must have; runs written before schemas existed are C-MAPSS.
    #[serde(default = "Schema::cmapss")]
    pub schema: Schema,
}

/// Checks every engine has the schema's row widths (hand-built engines can disagree).
fn check_shapes(schema: &Schema, engines: &[RawEngine], what: &str) -> Result<(), DataError> {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    match engines.iter().find(|e| !e.fits(schema)) {
        Some(e) => Err(DataError::Config(format!(
            "{what} unit {}: its rows (settings {}, sensors {}, RUL {}) do not fit the {} schema \
             (settings {}, sensors {}, RUL {})",
            e.unit,
            e.settings.width(),
            e.sensors.width(),
            yes_no(!e.rul.is_empty()),
            schema.name,
            schema.n_settings(),
            schema.n_sensors(),
            yes_no(schema.has_rul())
        ))),
        None => Ok(()),
    }
}

/// Value at position `col` of the `[settings, sensors]` row of cycle `c` (no copy of the row).
#[inline(always)]
fn value(settings: &[f64], sensors: &[f64], col: usize) -> f64 {
    if col < settings.len() {
        settings[col]
    } else {
        sensors[col - settings.len()]
    }
}

/// A number for messages: plain when that reads well, scientific when huge or tiny.
fn show(v: f64) -> String {
    if v != 0.0 && v.is_finite() && !(1e-4..1e16).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// Why a raw value cannot be used, if it cannot: not finite, or beyond [`MAX_MAGNITUDE`].
fn unusable(v: f64) -> Option<String> {
    if !v.is_finite() {
        Some("not a finite number; replace it with a measured value or drop the engine".into())
    } else if v.abs() > MAX_MAGNITUDE {
        Some(format!(
            "beyond ±{MAX_MAGNITUDE:e}, the largest magnitude grace accepts (statistics and model inputs would overflow)"
        ))
    } else {
        None
    }
}

/// Why a RUL value cannot be used, if it cannot.
fn unusable_rul(v: f64) -> Option<String> {
    unusable(v).or_else(|| (v < 0.0).then(|| "negative; remaining useful life counts cycles left".to_string()))
}

/// Checks every value the pipeline reads (the settings, the model's features and a per-row RUL),
/// so that no statistic, normalised input or target can become inf or NaN. Engines from files
/// were checked line by line already; this catches engines built in memory, naming unit and cycle.
fn check_values(schema: &Schema, engines: &[RawEngine], features: &[usize], what: &str) -> Result<(), DataError> {
    let ns = schema.n_settings();
    let read: Vec<usize> = (0..ns).chain(features.iter().copied().filter(|&c| c >= ns)).collect();
    let rul_name = || schema.columns.iter().find(|c| c.role == Role::Rul).map_or("RUL".into(), |c| c.name.clone());
    let bad = |unit, c: usize, column, v: f64, reason| DataError::EngineValue {
        what: what.to_string(),
        unit,
        cycle: c + 1,
        column,
        value: show(v),
        reason,
    };
    for e in engines {
        for (c, (st, se)) in e.settings.iter().zip(e.sensors.iter()).enumerate() {
            for &col in &read {
                let v = value(st, se, col);
                if let Some(reason) = unusable(v) {
                    return Err(bad(e.unit, c, schema.feature_name(col), v, reason));
                }
            }
            if let Some(reason) = e.rul.get(c).and_then(|&r| unusable_rul(r)) {
                return Err(bad(e.unit, c, rul_name(), e.rul[c], reason));
            }
        }
    }
    Ok(())
}

/// The fitted statistics of data within ±[`MAX_MAGNITUDE`] stay within twice that (rounding included).
const MAX_FITTED: f64 = 2.0 * MAX_MAGNITUDE;

/// `Err` with the reason when a fitted number is not finite or beyond [`MAX_FITTED`].
fn fitted_ok(v: f64) -> Result<(), String> {
    if !v.is_finite() {
        Err(format!("= {} is not a finite number", show(v)))
    } else if v.abs() > MAX_FITTED {
        Err(format!("= {} is beyond ±{MAX_FITTED:e}, which no fit of accepted data gives", show(v)))
    } else {
        Ok(())
    }
}

/// The message of a configuration error, without the "invalid configuration" prefix.
fn message(e: DataError) -> String {
    match e {
        DataError::Config(m) => m,
        other => other.to_string(),
    }
}

/// Training settings divided by their std (1 for a constant setting), one row per cycle.
fn scaled_settings(train: &[RawEngine], dim: usize) -> (Vec<f64>, Rows) {
    let n = train.iter().map(RawEngine::n_cycles).sum::<usize>() as f64;
    let rows = || train.iter().flat_map(|e| e.settings.iter());
    let mut scale = vec![1.0; dim];
    for (j, s) in scale.iter_mut().enumerate() {
        let m = rows().map(|r| r[j]).sum::<f64>() / n;
        let v = rows().map(|r| (r[j] - m).powi(2)).sum::<f64>() / n;
        if v.sqrt() > 1e-12 {
            *s = v.sqrt();
        }
    }
    let mut scaled = Rows::with_capacity(dim, n as usize);
    let mut p = vec![0.0; dim];
    for r in rows() {
        p.iter_mut().zip(r).zip(&scale).for_each(|((p, x), s)| *p = x / s);
        scaled.push(&p);
    }
    (scale, scaled)
}

/// What `features` needs per cycle, worked out once per call of `apply`.
struct Normaliser {
    cols: Vec<usize>,
    /// 1/(σ+ε) per condition and feature, 0 for constant features so they map to 0, not noise/ε.
    inv: Vec<Vec<f64>>,
    /// Centroids in the scaled settings space.
    cents: Rows,
}

impl Preprocessing {
    /// Fits conditions and statistics on `train` (training engines only) with `n_conditions` clusters.
    pub fn fit(
        schema: &Schema,
        train: &[RawEngine],
        n_conditions: usize,
        config: &PrepConfig,
    ) -> Result<Self, DataError> {
        Self::fit_labelled(schema, train, n_conditions, config, "training")
    }

    /// `fit`, with `what` naming the engines in messages (such as "FD001 training").
    fn fit_labelled(
        schema: &Schema,
        train: &[RawEngine],
        n_conditions: usize,
        config: &PrepConfig,
        what: &str,
    ) -> Result<Self, DataError> {
        config.validate()?;
        check_shapes(schema, train, what)?;
        check_values(schema, train, &config.features.columns(schema), what)?;
        let n_rows: usize = train.iter().map(RawEngine::n_cycles).sum();
        if n_conditions == 0 || n_conditions > 255 {
            return Err(DataError::Config(format!("n_conditions {n_conditions} must be between 1 and 255")));
        }
        if n_rows < n_conditions {
            return Err(DataError::Config(format!(
                "{n_rows} training rows cannot be clustered into {n_conditions} operating conditions"
            )));
        }
        let (scale, scaled) = scaled_settings(train, schema.n_settings());
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        rng.set_stream(1);
        let fitted = kmeans::fit(&scaled, n_conditions, config.kmeans_restarts, config.kmeans_max_iter, &mut rng);
        let mut centroids: Vec<Vec<f64>> =
            fitted.centroids.iter().map(|c| c.iter().zip(&scale).map(|(v, s)| v * s).collect()).collect();
        centroids.sort_by(|a, b| a.iter().zip(b.iter()).fold(Ordering::Equal, |o, (x, y)| o.then(x.total_cmp(y))));
        let feature_names = config.features.names(schema);
        let nf = feature_names.len();
        let mut pre = Preprocessing {
            config: config.clone(),
            feature_names,
            setting_scale: scale,
            centroids,
            condition_rows: vec![0; n_conditions],
            mean: vec![vec![0.0; nf]; n_conditions],
            std: vec![vec![0.0; nf]; n_conditions],
            schema: schema.clone(),
        };
        pre.fit_statistics(train);
        // Bounded inputs make this unreachable; it stays so that no run can ever write NaN.
        pre.check().map_err(|m| DataError::Config(format!("fitted preprocessing: {m}")))?;
        Ok(pre)
    }

    /// Reads a `preprocessing.json` (at most 64 MiB) and checks it as [`Preprocessing::from_json`] does.
    pub fn load(path: &Path) -> Result<Self, DataError> {
        let bytes = crate::source::archive::read_file_bounded(path)?;
        Self::from_json(&path.display().to_string(), &bytes)
    }

    /// Parses a `preprocessing.json` and checks that its fields fit together and are finite, so
    /// applying it can neither panic nor produce inf/NaN. Every error starts with `file` and names
    /// the place (JSON line and column, or the field such as `std[0][3]`).
    pub fn from_json(file: &str, bytes: &[u8]) -> Result<Self, DataError> {
        let bad = |message: String| DataError::Preprocessing { file: file.to_string(), message };
        let pre: Preprocessing =
            serde_json::from_slice(bytes).map_err(|e| bad(crate::parse::printable(&e.to_string())))?;
        pre.check().map_err(|m| bad(crate::parse::printable(&m)))?;
        Ok(pre)
    }

    /// Shapes (conditions, settings, features) agree with each other and the schema, and every
    /// fitted number is finite and bounded; the message names the offending field.
    fn check(&self) -> Result<(), String> {
        self.schema.check().map_err(message)?;
        self.config.validate().map_err(|e| format!("config: {}", message(e)))?;
        let (ns, k) = (self.schema.n_settings(), self.centroids.len());
        if !(1..=255).contains(&k) {
            return Err(format!("{k} operating conditions (centroids); expected 1 to 255"));
        }
        if self.setting_scale.len() != ns || self.condition_rows.len() != k {
            return Err(format!(
                "setting_scale has {} values and condition_rows {}, but the schema has {ns} settings and there are {k} centroids",
                self.setting_scale.len(),
                self.condition_rows.len()
            ));
        }
        let setting = |j: usize| self.schema.feature_name(j);
        for (j, &s) in self.setting_scale.iter().enumerate() {
            fitted_ok(s)
                .and_then(|()| if s > 1e-12 { Ok(()) } else { Err(format!("= {} is not above 1e-12", show(s))) })
                .map_err(|why| format!("setting_scale[{j}] ({}) {why}", setting(j)))?;
        }
        for (c, cent) in self.centroids.iter().enumerate() {
            if cent.len() != ns {
                return Err(format!("centroid {c} has {} values but the schema has {ns} settings", cent.len()));
            }
            for (j, &v) in cent.iter().enumerate() {
                fitted_ok(v).map_err(|why| format!("centroids[{c}][{j}] ({}) {why}", setting(j)))?;
            }
        }
        self.check_statistics()
    }

    /// The feature names resolve in the schema, and `mean`/`std` are k × features of bounded numbers.
    fn check_statistics(&self) -> Result<(), String> {
        if self.feature_names.is_empty() {
            return Err("feature_names is empty".into());
        }
        if let Some(n) =
            self.feature_names.iter().find(|n| self.schema.feature_columns(std::slice::from_ref(n)).is_err())
        {
            return Err(format!("feature `{n}` is not a setting or sensor of the {} schema", self.schema.name));
        }
        let (k, nf) = (self.n_conditions(), self.n_features());
        for (name, table) in [("mean", &self.mean), ("std", &self.std)] {
            if table.len() != k || table.iter().any(|r| r.len() != nf) {
                return Err(format!("{name} is not {k} conditions × {nf} features"));
            }
            for (c, row) in table.iter().enumerate() {
                for (f, &v) in row.iter().enumerate() {
                    let negative = name == "std" && v < 0.0;
                    fitted_ok(v)
                        .and_then(|()| if negative { Err(format!("= {} is negative", show(v))) } else { Ok(()) })
                        .map_err(|why| format!("{name}[{c}][{f}] ({}, condition {c}) {why}", self.feature_names[f]))?;
                }
            }
        }
        Ok(())
    }

    /// Per-condition mean and population σ of every feature, in two passes (mean, then squared
    /// deviations), which keeps σ accurate for large, nearly constant sensors.
    fn fit_statistics(&mut self, train: &[RawEngine]) {
        let cols = self.columns();
        let (k, cents) = (self.n_conditions(), self.scaled_centroids());
        let mut labels = Vec::new();
        let mut p = vec![0.0; self.setting_scale.len()];
        for e in train {
            for (st, se) in e.settings.iter().zip(e.sensors.iter()) {
                let j = self.nearest_condition(&cents, st, &mut p);
                labels.push(j);
                self.condition_rows[j] += 1;
                for (m, &col) in self.mean[j].iter_mut().zip(&cols) {
                    *m += value(st, se, col);
                }
            }
        }
        for j in 0..k {
            let n = self.condition_rows[j].max(1) as f64;
            self.mean[j].iter_mut().for_each(|m| *m /= n);
        }
        let mut labels = labels.into_iter();
        for e in train {
            for (st, se) in e.settings.iter().zip(e.sensors.iter()) {
                let j = labels.next().expect("one label per training row");
                for ((s, m), &col) in self.std[j].iter_mut().zip(&self.mean[j]).zip(&cols) {
                    *s += (value(st, se, col) - m).powi(2);
                }
            }
        }
        for j in 0..k {
            let n = self.condition_rows[j].max(1) as f64;
            self.std[j].iter_mut().for_each(|s| *s = (*s / n).sqrt());
        }
    }

    pub fn n_conditions(&self) -> usize {
        self.centroids.len()
    }

    pub fn n_features(&self) -> usize {
        self.feature_names.len()
    }

    /// Positions of the features in a `[settings, sensors]` row of the schema.
    fn columns(&self) -> Vec<usize> {
        self.schema.feature_columns(&self.feature_names).unwrap_or_else(|e| panic!("preprocessing: {e}"))
    }

    /// Indices of the features that are sensors (the ones that carry wear; settings do not).
    pub fn sensor_features(&self) -> Vec<usize> {
        let ns = self.schema.n_settings();
        self.columns().iter().enumerate().filter(|(_, &c)| c >= ns).map(|(f, _)| f).collect()
    }

    fn scaled_centroids(&self) -> Rows {
        let mut cents = Rows::with_capacity(self.setting_scale.len(), self.centroids.len());
        for c in &self.centroids {
            cents.push(&c.iter().zip(&self.setting_scale).map(|(v, s)| v / s).collect::<Vec<_>>());
        }
        cents
    }

    /// Nearest fitted centroid in the scaled settings space (never re-fitted).
    pub fn condition_of(&self, settings: &[f64]) -> u8 {
        let mut p = vec![0.0; settings.len()];
        self.nearest_condition(&self.scaled_centroids(), settings, &mut p) as u8
    }

    /// `condition_of` with the scaled centroids and the scratch point `p` supplied by the caller.
    #[inline]
    fn nearest_condition(&self, cents: &Rows, settings: &[f64], p: &mut [f64]) -> usize {
        p.iter_mut().zip(settings).zip(&self.setting_scale).for_each(|((p, v), s)| *p = v / s);
        kmeans::nearest(p, cents).0
    }

    /// Whether feature f is treated as constant within condition c (its z-score is then 0, not ±∞).
    pub fn is_constant(&self, c: usize, f: usize) -> bool {
        self.std[c][f] <= 1e-9 * self.mean[c][f].abs().max(1.0)
    }

    fn normaliser(&self) -> Normaliser {
        let nf = self.n_features();
        let inv = (0..self.n_conditions())
            .map(|c| {
                (0..nf)
                    .map(|f| if self.is_constant(c, f) { 0.0 } else { 1.0 / (self.std[c][f] + self.config.eps) })
                    .collect()
            })
            .collect();
        Normaliser { cols: self.columns(), inv, cents: self.scaled_centroids() }
    }

    /// Normalised features (row-major cycles × features) and the condition of each cycle.
    pub fn features(&self, e: &RawEngine) -> Result<(Vec<f32>, Vec<u8>), DataError> {
        check_shapes(&self.schema, std::slice::from_ref(e), "engine")?;
        check_values(&self.schema, std::slice::from_ref(e), &self.columns(), "engine")?;
        self.normalise(&self.normaliser(), e, "engine")
    }

    fn normalise(&self, z: &Normaliser, e: &RawEngine, what: &str) -> Result<(Vec<f32>, Vec<u8>), DataError> {
        let n = e.n_cycles();
        let mut x = Vec::with_capacity(n * z.cols.len());
        let mut cond = Vec::with_capacity(n);
        let mut p = vec![0.0; self.setting_scale.len()];
        for (c, (st, se)) in e.settings.iter().zip(e.sensors.iter()).enumerate() {
            let k = self.nearest_condition(&z.cents, st, &mut p);
            cond.push(k as u8);
            let (mean, inv) = (&self.mean[k], &z.inv[k]);
            for (f, &col) in z.cols.iter().enumerate() {
                let v = value(st, se, col);
                let zf = ((v - mean[f]) * inv[f]) as f32;
                if !zf.is_finite() {
                    return Err(DataError::EngineValue {
                        what: what.to_string(),
                        unit: e.unit,
                        cycle: c + 1,
                        column: self.feature_names[f].clone(),
                        value: show(v),
                        reason: format!(
                            "normalises to a non-finite model input (μ {}, σ {} in condition {k})",
                            show(mean[f]),
                            show(self.std[k][f])
                        ),
                    });
                }
                x.push(zf);
            }
        }
        smooth(&mut x, z.cols.len(), self.config.smoothing);
        Ok((x, cond))
    }

    /// Preprocesses engines of this schema. `rul_after_last[i]` is engine i's true RUL after its
    /// last cycle (test engines); `None` means run to failure (training engines, RUL 0 at the last
    /// cycle). An engine with a per-row RUL column uses that instead. For prediction on new engines
    /// pass `None` and ignore the targets.
    /// Engines whose rows do not fit the schema, or whose values or RUL are not finite or beyond
    /// ±1e15, are refused with the unit and cycle named.
    pub fn apply(&self, engines: &[RawEngine], rul_after_last: Option<&[f64]>) -> Result<Vec<Engine>, DataError> {
        self.apply_labelled(engines, rul_after_last, "engine")
    }

    /// `apply`, with `what` naming the engines in messages (such as "FD001 test").
    fn apply_labelled(
        &self,
        engines: &[RawEngine],
        rul_after_last: Option<&[f64]>,
        what: &str,
    ) -> Result<Vec<Engine>, DataError> {
        check_shapes(&self.schema, engines, what)?;
        let z = self.normaliser();
        check_values(&self.schema, engines, &z.cols, what)?;
        engines
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let after = rul_after_last.and_then(|r| r.get(i).copied()).unwrap_or(0.0);
                if let Some(reason) = unusable_rul(after) {
                    let (what, unit, value) = (what.to_string(), e.unit, show(after));
                    return Err(DataError::EngineTruth { what, unit, value, reason });
                }
                let (features, condition) = self.normalise(&z, e, what)?;
                let n = e.n_cycles();
                let mut rul = Vec::with_capacity(n);
                let mut health = Vec::with_capacity(n);
                for c in 0..n {
                    let left = if e.rul.is_empty() { after + (n - 1 - c) as f64 } else { e.rul[c] };
                    let y = left.min(self.config.max_rul);
                    rul.push(y as f32);
                    health.push(self.config.health.class(y));
                }
                Ok(Engine { unit: e.unit, features, rul, health, condition })
            })
            .collect()
    }
}

/// A subset ready for training: fitted preprocessing plus train/validation/test splits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prepared {
    /// "FD001" … or "SYNTHETIC".
    pub name: String,
    pub preprocessing: Preprocessing,
    pub train: Split,
    /// The validation engines that select the checkpoint (all of them when calibration is off).
    pub val: Split,
    /// The validation engines set aside for conformal calibration (`calibration` > 0): never
    /// trained on and never looked at by selection; empty when calibration is off.
    pub calibration: Split,
    pub test: Split,
    /// RUL-file truth per test engine, before the R_max cap (the capped value is the last
    /// cycle's target in `test`).
    pub test_truth_uncapped: Vec<f32>,
    /// Unit ids per split, in engine order (ascending).
    pub train_units: Vec<u32>,
    pub val_units: Vec<u32>,
    pub calibration_units: Vec<u32>,
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

/// Exponential smoothing of `x` (row-major cycles × `n_features`) along the cycles, feature by
/// feature, in place: s₀ = x₀, sₜ = α·sₜ₋₁ + (1 − α)·xₜ; α = 0 leaves `x` as it is.
fn smooth(x: &mut [f32], n_features: usize, alpha: f64) {
    if alpha == 0.0 || n_features == 0 {
        return;
    }
    for t in n_features..x.len() {
        let (prev, cur) = (x[t - n_features] as f64, x[t] as f64);
        x[t] = (alpha * prev + (1.0 - alpha) * cur) as f32;
    }
}

/// Indices of the training engines held out for validation as `config` says (sorted): the seeded
/// `val_fraction` hold-out when `folds` is 0, else fold `fold` of the engines dealt in a seeded
/// order into `folds` folds, so the folds are disjoint, cover every engine and differ in size by
/// at most one. Whole engines only: no engine has windows on both sides.
pub fn held_out_engines(n_engines: usize, config: &PrepConfig) -> Result<Vec<usize>, DataError> {
    if config.folds == 0 {
        return Ok(validation_indices(n_engines, config.val_fraction, config.seed));
    }
    if config.folds > n_engines {
        return Err(DataError::Config(format!(
            "data.prep.folds ({}) exceeds the {n_engines} training engines",
            config.folds
        )));
    }
    let mut idx: Vec<usize> = (0..n_engines).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(config.seed));
    let mut v: Vec<usize> = idx.into_iter().skip(config.fold).step_by(config.folds).collect();
    v.sort_unstable();
    Ok(v)
}

/// Which training engines (indices, each list ascending) train, select the checkpoint and calibrate
/// intervals. The one place the engines are dealt, for training and for re-scoring alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSplit {
    pub train: Vec<usize>,
    pub selection: Vec<usize>,
    pub calibration: Vec<usize>,
}

impl EngineSplit {
    /// The validation engines of `config` (hold-out or fold), of which `calibration` are moved to
    /// calibration by a seeded choice (docs/reference.md §2.7).
    pub fn of(n_engines: usize, config: &PrepConfig) -> Result<Self, DataError> {
        let held = held_out_engines(n_engines, config)?;
        let (selection, calibration) = calibration_engines(&held, config.calibration, config.seed)?;
        let train = (0..n_engines).filter(|i| held.binary_search(i).is_err()).collect();
        Ok(EngineSplit { train, selection, calibration })
    }
}

/// Splits the validation engines `held` (ascending) into (selection, calibration), both ascending:
/// round(`fraction` × |held|) engines, chosen by a permutation seeded from `seed` (salted, so it
/// is not the permutation that chose the validation engines), calibrate. A fraction that leaves
/// either side empty is refused rather than bent: the caller asked for something that cannot be.
pub fn calibration_engines(held: &[usize], fraction: f64, seed: u64) -> Result<(Vec<usize>, Vec<usize>), DataError> {
    if fraction == 0.0 {
        return Ok((held.to_vec(), Vec::new()));
    }
    let n = held.len();
    let n_cal = (fraction * n as f64).round() as usize;
    if n_cal == 0 || n_cal == n {
        let side = if n_cal == 0 { "no calibration engine" } else { "no engine to select the checkpoint" };
        return Err(DataError::Config(format!(
            "data.prep.calibration = {fraction} of the {n} validation engines leaves {side}: choose a share \
             that rounds to between 1 and {} engines, or hold out more engines (data.prep.val_fraction, \
             data.prep.folds)",
            n.saturating_sub(1)
        )));
    }
    let mut order = held.to_vec();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ CALIBRATION_SALT));
    let mut calibration = order[..n_cal].to_vec();
    calibration.sort_unstable();
    let selection = held.iter().copied().filter(|i| calibration.binary_search(i).is_err()).collect();
    Ok((selection, calibration))
}

/// Salt of the calibration choice ("calibrat" in ASCII).
const CALIBRATION_SALT: u64 = 0x6361_6c69_6272_6174;

/// Runs docs/reference.md §2 on one data set: split engines, fit on the training part, apply everywhere.
pub fn prepare(raw: &RawSubset, config: &PrepConfig) -> Result<Prepared, DataError> {
    config.validate()?;
    check_shapes(&raw.schema, &raw.train, "training")?;
    check_shapes(&raw.schema, &raw.test, "test")?;
    if raw.test.len() != raw.test_rul.len() {
        return Err(DataError::Config(format!(
            "{}: {} test engines but {} RUL values",
            raw.name,
            raw.test.len(),
            raw.test_rul.len()
        )));
    }
    let held = EngineSplit::of(raw.train.len(), config)?;
    let pick = |idx: &[usize]| idx.iter().map(|&i| raw.train[i].clone()).collect::<Vec<_>>();
    let (tr, va, ca) = (pick(&held.train), pick(&held.selection), pick(&held.calibration));
    let k = config.n_conditions.unwrap_or(raw.default_conditions);
    let (training, testing) = (format!("{} training", raw.name), format!("{} test", raw.name));
    let pre = Preprocessing::fit_labelled(&raw.schema, &tr, k, config, &training)?;
    let nf = pre.n_features();
    let split = |engines: Vec<Engine>| Split { engines, n_features: nf, window: config.window };
    let train = split(pre.apply_labelled(&tr, None, &training)?);
    let val = split(pre.apply_labelled(&va, None, &training)?);
    let calibration = split(pre.apply_labelled(&ca, None, &training)?);
    let test = split(pre.apply_labelled(&raw.test, Some(&raw.test_rul), &testing)?);
    Ok(Prepared {
        name: raw.name.clone(),
        train_units: tr.iter().map(|e| e.unit).collect(),
        val_units: va.iter().map(|e| e.unit).collect(),
        calibration_units: ca.iter().map(|e| e.unit).collect(),
        test_units: raw.test.iter().map(|e| e.unit).collect(),
        test_truth_uncapped: raw.test_rul.iter().map(|&v| v as f32).collect(),
        preprocessing: pre,
        train,
        val,
        calibration,
        test,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_sets_select_the_reference_columns() {
        let cm = Schema::cmapss();
        let n = FeatureSet::SensorsAndSettings.names(&cm);
        assert_eq!(n.len(), 17);
        assert_eq!(&n[..4], ["altitude", "mach", "tra", "s2_T24"]);
        assert_eq!(n[16], "s21_W32");
        let s = FeatureSet::Sensors.names(&cm);
        assert_eq!(s.len(), 14);
        assert!(s.contains(&"s11_Ps30".to_string()) && !s.iter().any(|x| x.starts_with("s10_")));
        // Sensor k sits at row index 2 + k in [settings, sensors].
        assert_eq!(FeatureSet::Sensors.columns(&cm)[0], 4);
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

    #[test]
    fn calibration_takes_a_seeded_share_of_the_validation_engines_only() {
        let cfg = |calibration, seed| PrepConfig { val_fraction: 0.2, calibration, seed, ..Default::default() };
        // FD001's shape: 100 training engines, 20 held out, half of them calibrate.
        let s = EngineSplit::of(100, &cfg(0.5, 42)).unwrap();
        assert_eq!((s.train.len(), s.selection.len(), s.calibration.len()), (80, 10, 10));
        let mut held: Vec<usize> = s.selection.iter().chain(&s.calibration).copied().collect();
        held.sort_unstable();
        assert_eq!(held, validation_indices(100, 0.2, 42), "calibration comes out of validation only");
        assert!(s.calibration.iter().all(|i| !s.train.contains(i) && !s.selection.contains(i)));
        assert_eq!(s, EngineSplit::of(100, &cfg(0.5, 42)).unwrap());
        assert_ne!(s.calibration, EngineSplit::of(100, &cfg(0.5, 43)).unwrap().calibration);
        // off: today's split exactly
        let off = EngineSplit::of(100, &cfg(0.0, 42)).unwrap();
        assert_eq!((off.selection, off.calibration.len()), (validation_indices(100, 0.2, 42), 0));
        // a fold is split the same way
        let fold = PrepConfig { folds: 4, fold: 1, calibration: 0.25, ..Default::default() };
        let f = EngineSplit::of(10, &fold).unwrap();
        assert_eq!((f.selection.len(), f.calibration.len(), f.train.len()), (2, 1, 7));
        // shares that leave a side empty are refused, naming the key
        for (n, frac, why) in [(20, 0.01, "no calibration engine"), (2, 0.9, "no engine to select")] {
            let e = calibration_engines(&(0..n).collect::<Vec<_>>(), frac, 0).unwrap_err().to_string();
            assert!(e.contains("data.prep.calibration") && e.contains(why), "{e}");
        }
        let e = EngineSplit::of(10, &PrepConfig { val_fraction: 0.0, calibration: 0.5, ..Default::default() });
        assert!(e.unwrap_err().to_string().contains("of the 0 validation engines"));
        let e = PrepConfig { calibration: 1.0, ..Default::default() }.check().unwrap_err();
        assert!(e.contains("calibration 1 must be in [0, 1)"), "{e}");
    }

    #[test]
    fn smoothing_follows_the_recursion_per_feature() {
        // two features over three cycles; α = 0.5: s = x₀, then halfway between s and the next x
        let mut x = vec![0.0, 4.0, 2.0, 0.0, 4.0, 8.0];
        smooth(&mut x, 2, 0.5);
        assert_eq!(x, [0.0, 4.0, 1.0, 2.0, 2.5, 5.0]);
        let mut y = vec![1.0, 2.0, 3.0];
        smooth(&mut y, 1, 0.0);
        assert_eq!(y, [1.0, 2.0, 3.0], "0 is off");
        let e = PrepConfig { smoothing: 1.0, ..Default::default() }.check().unwrap_err();
        assert!(e.contains("smoothing 1 must be in [0, 1)"), "{e}");
    }

    #[test]
    fn folds_partition_the_engines_and_folds_zero_is_the_hold_out() {
        let cfg = |folds, fold| PrepConfig { folds, fold, seed: 7, ..Default::default() };
        assert_eq!(held_out_engines(100, &cfg(0, 0)).unwrap(), validation_indices(100, 0.2, 7));
        // 10 engines in 4 folds: sizes 3, 3, 2, 2; disjoint; together every engine once.
        let folds: Vec<Vec<usize>> = (0..4).map(|f| held_out_engines(10, &cfg(4, f)).unwrap()).collect();
        assert_eq!(folds.iter().map(|f| f.len()).collect::<Vec<_>>(), [3, 3, 2, 2]);
        let mut all: Vec<usize> = folds.concat();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        // the seeded order: fold 0 holds positions 0, 4, 8 of the seed's permutation
        let mut order: Vec<usize> = (0..10).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(7));
        let mut want = vec![order[0], order[4], order[8]];
        want.sort_unstable();
        assert_eq!(folds[0], want);
        let e = held_out_engines(3, &cfg(4, 0)).unwrap_err().to_string();
        assert!(e.contains("data.prep.folds (4)") && e.contains("3 training engines"), "{e}");
        for (folds, fold, want) in
            [(1, 0, "folds must be 0"), (4, 4, "fold 4 must be below folds (4)"), (0, 2, "fold 2")]
        {
            let e = cfg(folds, fold).check().unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }

    fn engine(unit: u32, rows: &[([f64; 3], f64)]) -> RawEngine {
        RawEngine {
            unit,
            cycles: rows.len() as u32,
            settings: rows.iter().map(|r| r.0).collect::<Vec<_>>().into(),
            sensors: rows.iter().map(|r| [r.1; 21]).collect::<Vec<_>>().into(),
            rul: Vec::new(),
        }
    }

    #[test]
    fn zscore_uses_each_conditions_stats_and_maps_constant_features_to_zero() {
        // Two regimes; sensor value 10/20 in regime A, 100/300 in regime B.
        let a = [0.0, 0.0, 100.0];
        let b = [35.0, 0.84, 60.0];
        let tr = vec![engine(1, &[(a, 10.0), (b, 100.0), (a, 20.0), (b, 300.0)])];
        let cfg = PrepConfig { features: FeatureSet::SensorsAndSettings, ..Default::default() };
        let p = Preprocessing::fit(&Schema::cmapss(), &tr, 2, &cfg).unwrap();
        assert_eq!(p.centroids, vec![a, b]);
        assert_eq!(p.condition_rows, vec![2, 2]);
        let e = &p.apply(&tr, None).unwrap()[0];
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
        let n = &p.apply(&[new], Some(&[7.0])).unwrap()[0];
        assert_eq!(n.condition, vec![1]);
        assert!((n.features[3] - 0.5).abs() < 1e-6);
        assert_eq!(n.features[0], 0.0);
        assert_eq!((n.rul[0], n.health[0]), (7.0, 2));
    }

    #[test]
    fn rejects_bad_configs_with_a_reason() {
        let tr = vec![engine(1, &[([0.0; 3], 1.0); 3])];
        let e = Preprocessing::fit(&Schema::cmapss(), &tr, 1, &PrepConfig { val_fraction: 1.0, ..Default::default() })
            .unwrap_err();
        assert!(e.to_string().contains("val_fraction 1"), "{e}");
        let e = Preprocessing::fit(&Schema::cmapss(), &tr, 4, &PrepConfig::default()).unwrap_err();
        assert!(e.to_string().contains("3 training rows"), "{e}");
        let h = HealthThresholds { normal_above: 30.0, critical_at_or_below: 80.0 };
        assert!(Preprocessing::fit(&Schema::cmapss(), &tr, 1, &PrepConfig { health: h, ..Default::default() }).is_err());
    }

    #[test]
    fn preprocessing_written_before_schemas_existed_loads_as_cmapss() {
        let tr = vec![engine(1, &[([0.0, 0.0, 100.0], 10.0), ([0.0, 0.0, 100.0], 20.0)])];
        let p = Preprocessing::fit(&Schema::cmapss(), &tr, 1, &PrepConfig::default()).unwrap();
        let mut old = serde_json::to_value(&p).unwrap();
        old.as_object_mut().unwrap().remove("schema");
        // The old file's settings scale and centroids are plain arrays of 3, as the new fields write them.
        assert_eq!(old["setting_scale"], serde_json::json!([1.0, 1.0, 1.0]));
        assert_eq!(old["centroids"], serde_json::json!([[0.0, 0.0, 100.0]]));
        let loaded: Preprocessing = serde_json::from_value(old).unwrap();
        assert_eq!(loaded, p);
        assert_eq!(loaded.apply(&tr, None).unwrap()[0].features, p.apply(&tr, None).unwrap()[0].features);
    }

    /// unit, cycle, settings load/speed, sensors a–d; the model reads b and d only.
    fn tiny_schema(rul: bool) -> Schema {
        use crate::schema::{Column, Role};
        let mut cols = vec![Column::new("unit", Role::Unit), Column::new("cycle", Role::Cycle)];
        cols.extend(["load", "speed"].map(|n| Column::new(n, Role::Setting)));
        cols.extend(["a", "b", "c", "d"].map(|n| Column::new(n, Role::Sensor)));
        if rul {
            cols.push(Column::new("rul", Role::Rul));
        }
        Schema::new("tiny", cols, vec!["b".into(), "d".into()]).unwrap()
    }

    /// Rows of (settings, sensors b and d); sensors a and c get values the model must never see.
    fn tiny_engine(unit: u32, rows: &[([f64; 2], f64, f64)]) -> RawEngine {
        RawEngine {
            unit,
            cycles: rows.len() as u32,
            settings: rows.iter().map(|r| r.0).collect::<Vec<_>>().into(),
            sensors: rows.iter().map(|r| [1e6, r.1, -1e6, r.2]).collect::<Vec<_>>().into(),
            rul: Vec::new(),
        }
    }

    #[test]
    fn a_custom_schema_goes_through_prepare_with_hand_checked_zscores() {
        let (a, b) = ([1.0, 10.0], [5.0, 30.0]);
        // Regime a: b ∈ {2, 4} (μ 3, σ 1), d ∈ {10, 30} (μ 20, σ 10);
        // regime b: b ∈ {20, 40} (μ 30, σ 10), d ∈ {100, 300} (μ 200, σ 100).
        let train = tiny_engine(1, &[(a, 2.0, 10.0), (b, 20.0, 100.0), (a, 4.0, 30.0), (b, 40.0, 300.0)]);
        let test = tiny_engine(1, &[(a, 5.0, 25.0), (b, 35.0, 150.0)]);
        let raw = RawSubset {
            name: "TINY".into(),
            synthetic: false,
            schema: tiny_schema(false),
            default_conditions: 2,
            train: vec![train],
            test: vec![test],
            test_rul: vec![10.0],
        };
        let cfg = PrepConfig { val_fraction: 0.0, window: 2, ..Default::default() };
        let p = prepare(&raw, &cfg).unwrap();
        let pre = &p.preprocessing;
        assert_eq!(pre.feature_names, ["load", "speed", "s2_b", "s4_d"]);
        assert_eq!((pre.centroids.clone(), pre.condition_rows.clone()), (vec![a.to_vec(), b.to_vec()], vec![2, 2]));
        assert_eq!(pre.sensor_features(), [2, 3]);
        let close = |got: &[f32], want: &[f32]| got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-6);
        let tr = &p.train.engines[0];
        assert_eq!(tr.condition, [0, 1, 0, 1]);
        // Settings are constant within a regime → 0; sensors ±1 around their regime's mean.
        let want = [0., 0., -1., -1., 0., 0., -1., -1., 0., 0., 1., 1., 0., 0., 1., 1.];
        assert!(close(&tr.features, &want), "{:?}", tr.features);
        // Test: b (5 − 3)/1 = 2, d (25 − 20)/10 = 0.5; then b (35 − 30)/10 = 0.5, d (150 − 200)/100 = −0.5.
        let te = &p.test.engines[0];
        assert!(close(&te.features, &[0., 0., 2., 0.5, 0., 0., 0.5, -0.5]), "{:?}", te.features);
        // Smoothing α = 0.5 acts after the z-scores, on every split and on new engines alike:
        // test cycle 2 becomes (2 + 0.5)/2 = 1.25 and (0.5 − 0.5)/2 = 0; the statistics do not change.
        let smoothed = prepare(&raw, &PrepConfig { smoothing: 0.5, ..cfg.clone() }).unwrap();
        assert_eq!(smoothed.preprocessing.mean, pre.mean);
        let want = [0., 0., 2., 0.5, 0., 0., 1.25, 0.];
        assert!(close(&smoothed.test.engines[0].features, &want), "{:?}", smoothed.test.engines[0].features);
        assert!(close(&smoothed.preprocessing.features(&raw.test[0]).unwrap().0, &want));
        let tr = &smoothed.train.engines[0].features;
        // training sensors −1, −1, 1, 1 become −1, −1, (−1 + 1)/2 = 0, (0 + 1)/2 = 0.5
        assert!(close(&tr[8..16], &[0., 0., 0., 0., 0., 0., 0.5, 0.5]), "{tr:?}");
        assert_eq!((te.rul.clone(), te.health.clone(), p.test.n_windows()), (vec![11.0, 10.0], vec![2, 2], 1));
        // Sensors only: the same z-scores without the settings.
        let s = prepare(&raw, &PrepConfig { features: FeatureSet::Sensors, ..cfg.clone() }).unwrap();
        assert!(close(&s.test.engines[0].features, &[2., 0.5, 0.5, -0.5]));
        assert_eq!(FeatureSet::from_count(2, &raw.schema), Some(FeatureSet::Sensors));
        assert_eq!(FeatureSet::from_count(4, &raw.schema), Some(FeatureSet::SensorsAndSettings));
        assert_eq!(FeatureSet::from_count(17, &raw.schema), None);
    }

    #[test]
    fn a_per_row_rul_column_gives_the_targets_and_wrong_widths_are_refused() {
        let mut e = tiny_engine(4, &[([1.0, 10.0], 1.0, 2.0), ([1.0, 10.0], 3.0, 4.0), ([1.0, 10.0], 5.0, 6.0)]);
        e.rul = vec![200.0, 50.0, 20.0];
        let raw = RawSubset {
            name: "TINY".into(),
            synthetic: false,
            schema: tiny_schema(true),
            default_conditions: 1,
            train: vec![e.clone(), e.clone()],
            test: vec![e],
            test_rul: vec![20.0],
        };
        let p = prepare(&raw, &PrepConfig { val_fraction: 0.0, window: 2, ..Default::default() }).unwrap();
        // Capped at R_max 125; classes normal, degrading, critical.
        assert_eq!(p.train.engines[0].rul, [125.0, 50.0, 20.0]);
        assert_eq!(p.test.engines[0].health, [0, 1, 2]);
        let mut bad = raw.clone();
        bad.schema = tiny_schema(false);
        let m = prepare(&bad, &PrepConfig::default()).unwrap_err().to_string();
        assert!(m.contains("training unit 4") && m.contains("tiny schema"), "{m}");
    }
}
