//! The fully resolved description of a training run, as written to `config.toml` in each run
//! directory: data, model, method and protocol, built from defaults, a TOML file and `--set` pairs.

use crate::model::ModelConfig;
use grace_core::controller::TaskWeighting;
use grace_core::methods::{self, Method, ParamValue, ParamValues};
use grace_data::{DataSpec, PrepConfig, Schema, Source, SyntheticConfig};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub data: DataConfig,
    pub model: ModelSection,
    pub method: MethodConfig,
    pub train: TrainParams,
    /// Interval settings; not written while they are the defaults, so older configs stay as they were.
    #[serde(default, skip_serializing_if = "EvalConfig::is_default")]
    pub eval: EvalConfig,
}

/// How calibrated intervals are built when `data.prep.calibration` sets engines aside
/// (docs/intervals.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Nominal coverage levels, each in (0, 1).
    pub coverage: Vec<f64>,
    /// Test-like cuts (seeded truncation points) per calibration engine.
    pub cuts_per_engine: usize,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig { coverage: vec![0.8, 0.9, 0.95], cuts_per_engine: 10 }
    }
}

impl EvalConfig {
    fn is_default(&self) -> bool {
        *self == EvalConfig::default()
    }

    fn check(&self) -> Result<(), String> {
        if self.coverage.is_empty() {
            return Err("eval.coverage must name at least one level, e.g. [0.9]".into());
        }
        if let Some(l) = self.coverage.iter().find(|l| !(l.is_finite() && **l > 0.0 && **l < 1.0)) {
            return Err(format!("eval.coverage: level {l} must be in (0, 1)"));
        }
        if self.cuts_per_engine == 0 {
            return Err("eval.cuts_per_engine must be at least 1".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// A C-MAPSS folder or `CMAPSSData.zip`, or `synthetic` for the built-in synthetic fleet.
    pub source: String,
    pub subset: String,
    pub prep: PrepConfig,
    pub synthetic: SyntheticConfig,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            source: DataSpec::Synthetic.to_string(),
            subset: "FD001".into(),
            prep: PrepConfig::default(),
            synthetic: SyntheticConfig::default(),
        }
    }
}

impl DataConfig {
    /// `source` parsed: the synthetic fleet or a path.
    pub fn spec(&self) -> DataSpec {
        DataSpec::parse(&self.source)
    }

    pub fn is_synthetic(&self) -> bool {
        self.spec().is_synthetic()
    }

    /// The source this config names (nothing is read until a data set is loaded from it).
    pub fn open(&self) -> Box<dyn Source> {
        self.spec().open(&self.synthetic)
    }

    /// The column layout of that source's data.
    pub fn schema(&self) -> Schema {
        self.open().schema()
    }

    /// `source` with a path made absolute (links resolved), so that the run reads the same files
    /// whatever folder it is resumed or scored from; `synthetic` stays as it is.
    pub fn absolute_source(&self) -> Result<String, String> {
        match self.spec() {
            DataSpec::Synthetic => Ok(self.source.clone()),
            DataSpec::Path(p) => std::fs::canonicalize(&p)
                .map(|a| a.display().to_string())
                .map_err(|e| format!("data.source {}: {e} (a C-MAPSS folder or zip, or `synthetic`)", p.display())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// The preset the widths started from (`paper` or `small`); the fields below are what counts.
    pub preset: String,
    #[serde(flatten)]
    pub config: ModelConfig,
}

/// The `[method]` section: a method of the registry (docs/reference.md §4.3) by name, and a value
/// for every parameter the registry declares (defaults from there), so `config.toml` records all.
/// Keys are the parameter names (`method.beta`, `method.warmup_steps`, …); unknown keys are errors.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "toml::Table")]
pub struct MethodConfig {
    pub name: String,
    pub params: ParamValues,
}

/// The number of tasks of the dual-task model: RUL and health.
pub const N_TASKS: usize = 2;

impl Default for MethodConfig {
    fn default() -> Self {
        MethodConfig { name: "grace".into(), params: ParamValues::default() }
    }
}

impl MethodConfig {
    pub fn method(&self) -> Result<&'static Method, String> {
        methods::method(&self.name).map_err(|e| e.to_string())
    }

    /// Slope s of the weighted MSE (read by the methods whose RUL loss is weighted).
    pub fn slope(&self) -> f64 {
        self.params.float(&methods::SLOPE)
    }

    /// The method's controller for the model's tasks, from this section's parameters.
    pub fn controller(&self) -> Result<Box<dyn TaskWeighting>, String> {
        self.method()?.controller(N_TASKS, &self.params).map_err(|e| format!("method `{}`: {e}", self.name))
    }
}

impl TryFrom<toml::Table> for MethodConfig {
    type Error = String;

    fn try_from(mut table: toml::Table) -> Result<Self, String> {
        let mut cfg = MethodConfig::default();
        if let Some(v) = table.remove("name") {
            cfg.name = v.as_str().ok_or_else(|| format!("method.name must be a string, got {v}"))?.to_string();
        }
        for (key, v) in table {
            methods::param(&key).map_err(|e| format!("method.{key}: {e}"))?;
            let value = param_value(&v).ok_or_else(|| format!("method.{key} must be a number or a list, got {v}"))?;
            cfg.params.set(&key, value).map_err(|e| format!("method.{key}: {e}"))?;
        }
        Ok(cfg)
    }
}

/// A TOML number or list of numbers as a parameter value; the parameter then checks its kind.
fn param_value(v: &toml::Value) -> Option<ParamValue> {
    let number = |v: &toml::Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
    match v {
        toml::Value::Integer(i) if *i >= 0 => Some(ParamValue::Int(*i as u64)),
        toml::Value::Array(xs) => xs.iter().map(number).collect::<Option<Vec<f64>>>().map(ParamValue::List),
        _ => number(v).map(ParamValue::Float),
    }
}

impl Serialize for MethodConfig {
    /// The name first, then the parameters in registry order.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("name", &self.name)?;
        for (key, value) in self.params.iter() {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainParams {
    pub seed: u64,
    pub epochs: usize,
    /// Stops after this many optimizer steps in total (0 = no bound).
    pub max_steps: u64,
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f64,
    /// The learning-rate schedule after warm-up (docs/reference.md §5).
    pub schedule: Schedule,
    /// Linear warm-up of the learning rate over the first epochs, starting at `warmup_start`×lr
    /// (`plateau` and `cosine`; `onecycle` rises over its own first 30% of the epochs).
    pub warmup_epochs: usize,
    pub warmup_start: f64,
    /// Halve (`plateau_factor`) the learning rate after this many epochs without improvement
    /// (schedule `plateau` only).
    pub plateau_patience: usize,
    pub plateau_factor: f64,
    pub min_lr: f64,
    /// Stop after this many epochs without validation improvement.
    pub early_stop_patience: usize,
    /// Global gradient-norm clipping (0 = off).
    pub clip_norm: f64,
    /// Upper bound of the weight-average decay, ramped in as min(decay, (1+n)/(10+n)).
    pub ema_decay: f64,
    /// Per-task gradient norms are measured (and logged) every this many steps for methods that
    /// do not need them every step; 1 logs every step as the gradient log promises.
    pub grad_log_every: u64,
    /// `cpu`, `cuda`, `cuda:N` or `auto`.
    pub device: String,
    /// libtorch intra-op threads (0 = libtorch's default).
    pub threads: usize,
    pub eval_batch_size: usize,
    /// Share of the training windows each epoch trains on: a seeded random subsample, drawn
    /// anew each epoch (1 = every window).
    pub epoch_fraction: f64,
    /// Standard deviation of the Gaussian noise added to the (z-scored) training inputs of each
    /// batch (0 = none); validation and test inputs are never perturbed.
    pub input_jitter: f64,
    /// Share of each epoch's windows that end at a random test-like cut of a training engine
    /// instead (0 = none), so training windows look like the test set's last windows.
    pub truncate: f64,
    /// The validation score that selects the checkpoint and drives early stopping and the plateau
    /// schedule.
    pub select: Select,
    /// Seeded test-like cuts per selection engine, fixed for the run: the cut validation figure
    /// (`val_cut_rmse`), and the selection score when `select` is `cuts`.
    pub select_cuts: usize,
}

/// Which validation score selects the checkpoint (docs/reference.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Select {
    /// RMSE over every window of the selection engines.
    #[default]
    Windows,
    /// RMSE over `select_cuts` test-like cuts per selection engine.
    Cuts,
}

/// The learning-rate schedule: `plateau` halves the rate when validation stalls; `cosine` and
/// `onecycle` follow a fixed curve over `train.epochs` (see [`TrainParams::lr_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    #[default]
    Plateau,
    Cosine,
    OneCycle,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            seed: 0,
            epochs: 500,
            max_steps: 0,
            batch_size: 256,
            lr: 1e-3,
            weight_decay: 1e-4,
            warmup_epochs: 10,
            warmup_start: 0.1,
            plateau_patience: 30,
            plateau_factor: 0.5,
            min_lr: 5e-6,
            early_stop_patience: 60,
            clip_norm: 1.0,
            ema_decay: 0.999,
            grad_log_every: 10,
            device: "auto".into(),
            threads: 0,
            eval_batch_size: 1024,
            schedule: Schedule::Plateau,
            epoch_fraction: 1.0,
            input_jitter: 0.0,
            truncate: 0.0,
            select: Select::Windows,
            select_cuts: 10,
        }
    }
}

/// Share of the epochs `onecycle` spends rising to the peak rate.
const ONE_CYCLE_RISE: f64 = 0.3;

impl TrainParams {
    /// The learning rate of `epoch` (docs/reference.md §5), given the plateau schedule's scale so far.
    /// - `plateau`: linear warm-up from `warmup_start`×lr over `warmup_epochs`, then lr × `lr_scale`.
    /// - `cosine`: the same warm-up, then a half cosine from lr down to `min_lr` at the last epoch.
    /// - `onecycle`: a half cosine up from `warmup_start`×lr to lr over the first 30% of the
    ///   epochs, then a half cosine down to `min_lr` at the last epoch.
    ///
    /// Never below `min_lr` (nor above lr).
    pub fn lr_at(&self, epoch: usize, lr_scale: f64) -> f64 {
        let e = epoch as f64;
        let last = self.epochs.saturating_sub(1) as f64;
        let floor = self.min_lr.min(self.lr) / self.lr;
        // A half cosine from 1 at x = 0 to 0 at x = 1.
        let fall = |x: f64| 0.5 * (1.0 + (std::f64::consts::PI * x.clamp(0.0, 1.0)).cos());
        let warm = |done: f64, of: f64| self.warmup_start + (1.0 - self.warmup_start) * done / of;
        let factor = match self.schedule {
            // The warm-up is over before the first plateau, so the scale is 1 there.
            Schedule::Plateau if epoch < self.warmup_epochs => warm(e, self.warmup_epochs as f64) * lr_scale,
            Schedule::Plateau => lr_scale,
            Schedule::Cosine if epoch < self.warmup_epochs => warm(e, self.warmup_epochs as f64),
            Schedule::Cosine => {
                let w = self.warmup_epochs as f64;
                floor + (1.0 - floor) * fall((e - w) / (last - w).max(1.0))
            }
            Schedule::OneCycle => {
                let peak = (ONE_CYCLE_RISE * last).round();
                if e < peak {
                    self.warmup_start + (1.0 - self.warmup_start) * (1.0 - fall(e / peak))
                } else {
                    floor + (1.0 - floor) * fall((e - peak) / (last - peak).max(1.0))
                }
            }
        };
        (self.lr * factor).max(self.min_lr.min(self.lr))
    }
}

impl RunConfig {
    pub fn new(preset: &str, n_features: i64) -> Result<Self, String> {
        Ok(RunConfig {
            data: DataConfig::default(),
            model: ModelSection { preset: preset.into(), config: ModelConfig::preset(preset, n_features)? },
            method: MethodConfig::default(),
            train: TrainParams::default(),
            eval: EvalConfig::default(),
        })
    }

    /// Defaults, then a TOML document (any subset of the sections), then `key.path=value` pairs.
    /// A `model.preset` in the TOML or the pairs selects the preset before the other model keys
    /// apply, so `--set model.preset=paper --set model.lstm_hidden=128` does what it says.
    pub fn resolve(preset: &str, toml_text: Option<&str>, sets: &[String]) -> Result<Self, String> {
        let mut overlay = toml::Table::new();
        if let Some(text) = toml_text {
            overlay = text.parse::<toml::Table>().map_err(|e| format!("config TOML: {e}"))?;
        }
        for s in sets {
            let (key, value) = s.split_once('=').ok_or_else(|| format!("--set {s}: expected key.path=value"))?;
            set_path(&mut overlay, key.trim(), parse_value(value.trim()))?;
        }
        let preset =
            overlay.get("model").and_then(|m| m.get("preset")).and_then(|p| p.as_str()).unwrap_or(preset).to_string();
        let base = RunConfig::new(&preset, 17)?;
        let base = toml::Table::try_from(&base).map_err(|e| e.to_string())?;
        let mut merged = base.clone();
        merge(&mut merged, overlay.clone());
        let mut cfg: RunConfig = toml::Value::Table(merged).try_into().map_err(|e: toml::de::Error| {
            let why = e.message().to_string();
            match blame(&base, &overlay) {
                Some(key) if !why.contains(&key) => format!("config: {key}: {why}"),
                _ => format!("config: {why}"),
            }
        })?;
        // The model's input follows the data; they are one fact, not two settings that can disagree.
        cfg.model.config.n_features = cfg.data.prep.features.n_features(&cfg.data.schema()) as i64;
        cfg.model.config.window = cfg.data.prep.window as i64;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), String> {
        self.model.config.validate()?;
        // Builds the controller once, so a bad method parameter stops here rather than at training.
        self.method.controller()?;
        let t = &self.train;
        if t.epochs == 0 {
            return Err("train.epochs must be at least 1".into());
        }
        if t.batch_size == 0 || t.eval_batch_size == 0 {
            return Err("train.batch_size and train.eval_batch_size must be at least 1".into());
        }
        if !t.lr.is_finite() || t.lr <= 0.0 || !t.min_lr.is_finite() || t.min_lr < 0.0 {
            return Err(format!("train.lr ({}) must be positive and train.min_lr ({}) non-negative", t.lr, t.min_lr));
        }
        if !(0.0..1.0).contains(&t.ema_decay) {
            return Err(format!("train.ema_decay must be in [0, 1), got {}", t.ema_decay));
        }
        if t.grad_log_every == 0 {
            return Err("train.grad_log_every must be at least 1".into());
        }
        // Out of range, each of these silently turns the weights into NaN or the schedule upside down.
        for (key, v) in [("train.weight_decay", t.weight_decay), ("train.clip_norm", t.clip_norm)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{key} must be a finite number ≥ 0, got {v}"));
            }
        }
        for (key, v) in [("train.warmup_start", t.warmup_start), ("train.plateau_factor", t.plateau_factor)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("{key} must be in [0, 1], got {v}"));
            }
        }
        if !(t.epoch_fraction > 0.0 && t.epoch_fraction <= 1.0) {
            return Err(format!("train.epoch_fraction must be in (0, 1], got {}", t.epoch_fraction));
        }
        if !(t.input_jitter.is_finite() && t.input_jitter >= 0.0) {
            return Err(format!("train.input_jitter must be a finite number ≥ 0, got {}", t.input_jitter));
        }
        if !(0.0..=1.0).contains(&t.truncate) {
            return Err(format!("train.truncate must be in [0, 1], got {}", t.truncate));
        }
        if t.select_cuts == 0 {
            return Err("train.select_cuts must be at least 1".into());
        }
        // The data settings too, so that a NaN or absurd one stops the run before anything is written.
        self.data.prep.check().map_err(|m| format!("data.prep: {m}"))?;
        self.eval.check()?;
        if self.data.is_synthetic() {
            self.data.synthetic.check().map_err(|m| format!("data.synthetic: {m}"))?;
        }
        Ok(())
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a run config always serialises")
    }

    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}

fn parse_value(v: &str) -> toml::Value {
    // Accept any TOML literal (numbers, booleans, arrays, quoted strings); anything else is a bare string.
    format!("x = {v}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("x"))
        .unwrap_or_else(|| toml::Value::String(v.to_string()))
}

fn set_path(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), String> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().filter(|k| !k.is_empty()).ok_or_else(|| format!("--set: empty key in '{key}'"))?;
    let mut t = table;
    for p in parts {
        t = t
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("--set {key}: '{p}' is not a section"))?;
    }
    t.insert(last.to_string(), value);
    Ok(())
}

/// The first key of `overlay` that alone makes the config unreadable: serde's message names the
/// expected type but not the field, and `--set train.epochs=ten` should say which key is wrong.
fn blame(base: &toml::Table, overlay: &toml::Table) -> Option<String> {
    let mut leaves = Vec::new();
    leaf_paths(overlay, &mut Vec::new(), &mut leaves);
    leaves.into_iter().find_map(|(path, value)| {
        let mut one = toml::Table::new();
        set_path(&mut one, &path, value).ok()?;
        let mut merged = base.clone();
        merge(&mut merged, one);
        toml::Value::Table(merged).try_into::<RunConfig>().is_err().then_some(path)
    })
}

/// Every non-table value of `t` with its dotted path.
fn leaf_paths(t: &toml::Table, prefix: &mut Vec<String>, out: &mut Vec<(String, toml::Value)>) {
    for (k, v) in t {
        prefix.push(k.clone());
        match v {
            // An empty table (`--set train.epochs={}`) is a value of its own, to be blamed like any other.
            toml::Value::Table(sub) if !sub.is_empty() => leaf_paths(sub, prefix, out),
            _ => out.push((prefix.join("."), v.clone())),
        }
        prefix.pop();
    }
}

/// Deep merge of TOML tables: `overlay`'s values win, sections merge key by key.
pub fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (k, v) in overlay {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            // Integers given where the default is a float (lr = 1) are what the user meant.
            (Some(toml::Value::Float(_)), toml::Value::Integer(i)) => {
                base.insert(k, toml::Value::Float(i as f64));
            }
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_override_defaults_and_preset_applies_first() {
        let sets = vec![
            "model.preset=paper".to_string(),
            "model.lstm_hidden=128".to_string(),
            "train.lr=0.002".to_string(),
            "method.name=\"gaba\"".to_string(),
            "train.epochs=3".to_string(),
            "data.prep.features=sensors".to_string(),
        ];
        let c = RunConfig::resolve("small", None, &sets).unwrap();
        assert_eq!(c.model.preset, "paper");
        assert_eq!(c.model.config.conv_channels, vec![64, 128, 64]);
        assert_eq!(c.model.config.lstm_hidden, 128);
        assert_eq!(c.model.config.n_features, 14);
        assert_eq!(c.train.lr, 0.002);
        assert_eq!(c.train.epochs, 3);
        assert_eq!(c.method.name, "gaba");
        // the written config reads back to the same value
        assert_eq!(RunConfig::from_toml(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn unknown_keys_and_methods_are_rejected_by_name() {
        let e = RunConfig::resolve("small", Some("[train]\nlearning_rate = 1"), &[]).unwrap_err();
        assert!(e.contains("learning_rate"), "{e}");
        let e = RunConfig::resolve("small", None, &["method.name=magic".into()]).unwrap_err();
        assert!(e.contains("magic"), "{e}");
        let e = RunConfig::resolve("small", Some("[method]\nbogus = 1"), &[]).unwrap_err();
        assert!(e.contains("method.bogus") && e.contains("unknown method parameter"), "{e}");
        // a value of the wrong type names its key, wherever it came from
        let e = RunConfig::resolve("small", None, &["train.epochs=ten".into()]).unwrap_err();
        assert!(e.starts_with("config: train.epochs: ") && e.contains("\"ten\""), "{e}");
        let e =
            RunConfig::resolve("small", Some("[data.prep]\nwindow = \"long\""), &["train.lr=0.1".into()]).unwrap_err();
        assert!(e.starts_with("config: data.prep.window: "), "{e}");
        let e = RunConfig::resolve("small", None, &["train.device=[1]".into()]).unwrap_err();
        assert!(e.starts_with("config: train.device: "), "{e}");
        let e = RunConfig::resolve("small", None, &["method.warmup_steps=1.5".into()]).unwrap_err();
        assert!(e.contains("warmup_steps") && e.contains("whole number"), "{e}");
        // a parameter the chosen method reads is checked when the config resolves
        let e = RunConfig::resolve("small", None, &["method.beta=1".into()]).unwrap_err();
        assert!(e.contains("β") && e.contains("grace"), "{e}");
    }

    #[test]
    fn method_defaults_come_from_the_registry_and_round_trip() {
        let c = RunConfig::resolve("small", None, &[]).unwrap();
        let table: toml::Table = c.to_toml().parse().unwrap();
        let method = table["method"].as_table().unwrap();
        let keys: Vec<&str> = method.keys().map(|k| k.as_str()).collect();
        let mut want = vec!["name"];
        want.extend(methods::all_params().iter().map(|p| p.name));
        want.sort();
        assert_eq!(keys, want, "every registry parameter is written");
        for p in methods::all_params() {
            assert_eq!(c.method.params.get(p), &p.default_value(), "{}", p.name);
        }
        assert_eq!(method["beta"].as_float(), Some(0.99));
        assert_eq!(method["warmup_steps"].as_integer(), Some(100));
        assert_eq!(RunConfig::from_toml(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn existing_method_keys_and_set_paths_keep_working() {
        // The [method] section as runs wrote it before the registry, every key explicit.
        let old = "[method]\nname = \"amnl\"\nslope = 2.0\nbeta = 0.9\nfloor = 0.1\nwarmup_steps = 5\n\
                   fixed_weights = [0.0476, 0.9524]\ntemperature = 3.0\nalpha = 1\nuncertainty_lr = 0.001\n\
                   gradnorm_lr = 0.025\n";
        let c = RunConfig::resolve("small", Some(old), &[]).unwrap();
        let p = &c.method.params;
        assert_eq!((c.method.name.as_str(), c.method.slope()), ("amnl", 2.0));
        assert_eq!(p.list(methods::param("fixed_weights").unwrap()), &[0.0476, 0.9524]);
        assert_eq!(p.int(methods::param("warmup_steps").unwrap()), 5);
        assert_eq!(p.float(methods::param("alpha").unwrap()), 1.0, "an integer where a number is expected");
        assert_eq!(c.method.controller().unwrap().current_weights(), vec![0.0476, 0.9524]);
        let sets: Vec<String> = ["method.beta=0.5", "method.temperature=1", "method.fixed_weights=[1,0]"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let c = RunConfig::resolve("small", Some(old), &sets).unwrap();
        assert_eq!(c.method.params.float(methods::param("beta").unwrap()), 0.5);
        assert_eq!(c.method.params.float(methods::param("temperature").unwrap()), 1.0);
        assert_eq!(c.method.controller().unwrap().current_weights(), vec![1.0, 0.0]);
        // a run directory's config.toml reads back as written
        assert_eq!(RunConfig::from_toml(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn schedules_follow_their_hand_computed_curves() {
        let t = |schedule, epochs| TrainParams {
            schedule,
            epochs,
            lr: 1.0,
            min_lr: 0.0,
            warmup_epochs: 2,
            warmup_start: 0.1,
            ..Default::default()
        };
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        // plateau: warm-up 0.1, 0.55, then the plateau scale.
        let p = t(Schedule::Plateau, 11);
        assert!(close(p.lr_at(0, 1.0), 0.1) && close(p.lr_at(1, 1.0), 0.55) && close(p.lr_at(5, 0.25), 0.25));
        // cosine over epochs 2..=10: 1 at 2, 0.5 at 6 (half way), 0 at 10; the plateau scale is ignored.
        let c = t(Schedule::Cosine, 11);
        let got: Vec<f64> = [0, 1, 2, 6, 10].iter().map(|&e| c.lr_at(e, 0.25)).collect();
        for (g, w) in got.iter().zip([0.1, 0.55, 1.0, 0.5, 0.0]) {
            assert!(close(*g, w), "{got:?}");
        }
        // onecycle over 21 epochs: up 0.1 → 1 over epochs 0..6 (0.55 at 3), down to 0 at 20 (0.5 at 13).
        let o = t(Schedule::OneCycle, 21);
        let got: Vec<f64> = [0, 3, 6, 13, 20].iter().map(|&e| o.lr_at(e, 0.25)).collect();
        for (g, w) in got.iter().zip([0.1, 0.55, 1.0, 0.5, 0.0]) {
            assert!(close(*g, w), "{got:?}");
        }
        // min_lr is a floor for every schedule
        assert_eq!(TrainParams { min_lr: 0.01, ..c }.lr_at(10, 1.0), 0.01);
    }

    #[test]
    fn new_training_and_split_keys_default_to_todays_behaviour_and_are_checked_by_name() {
        let c = RunConfig::resolve("small", None, &[]).unwrap();
        let t = &c.train;
        assert_eq!((t.schedule, t.epoch_fraction, t.input_jitter), (Schedule::Plateau, 1.0, 0.0));
        assert_eq!((c.data.prep.folds, c.data.prep.fold), (0, 0));
        // a config.toml written before these keys existed still reads
        let mut old: toml::Table = c.to_toml().parse().unwrap();
        for key in ["schedule", "epoch_fraction", "input_jitter"] {
            old["train"].as_table_mut().unwrap().remove(key).unwrap();
        }
        assert_eq!(RunConfig::from_toml(&old.to_string()).unwrap(), c);
        let sets = ["train.schedule=onecycle", "train.epoch_fraction=0.25", "data.prep.folds=5", "data.prep.fold=4"];
        let c = RunConfig::resolve("small", None, &sets.map(String::from)).unwrap();
        assert_eq!((c.train.schedule, c.train.epoch_fraction, c.data.prep.fold), (Schedule::OneCycle, 0.25, 4));
        assert_eq!(RunConfig::from_toml(&c.to_toml()).unwrap(), c);
        for (set, want) in [
            ("train.schedule=linear", "config: train.schedule: "),
            ("train.epoch_fraction=0", "train.epoch_fraction must be in (0, 1]"),
            ("train.epoch_fraction=1.5", "train.epoch_fraction must be in (0, 1]"),
            ("train.input_jitter=-0.1", "train.input_jitter must be"),
            ("data.prep.folds=1", "data.prep: folds must be 0"),
        ] {
            let e = RunConfig::resolve("small", None, &[set.to_string()]).unwrap_err();
            assert!(e.starts_with(want) || e.contains(want), "{set}: {e}");
        }
        let e =
            RunConfig::resolve("small", None, &["data.prep.folds=5".into(), "data.prep.fold=5".into()]).unwrap_err();
        assert!(e.contains("data.prep: fold 5 must be below folds (5)"), "{e}");
    }

    #[test]
    fn truncation_and_selection_keys_default_to_todays_behaviour_and_are_checked_by_name() {
        let c = RunConfig::resolve("small", None, &[]).unwrap();
        assert_eq!((c.train.truncate, c.train.select, c.train.select_cuts), (0.0, Select::Windows, 10));
        // a config.toml written before these keys existed still reads
        let mut old: toml::Table = c.to_toml().parse().unwrap();
        for key in ["truncate", "select", "select_cuts"] {
            old["train"].as_table_mut().unwrap().remove(key).unwrap();
        }
        assert_eq!(RunConfig::from_toml(&old.to_string()).unwrap(), c);
        let sets = ["train.truncate=0.5", "train.select=cuts", "train.select_cuts=3"].map(String::from);
        let c = RunConfig::resolve("small", None, &sets).unwrap();
        assert_eq!((c.train.truncate, c.train.select, c.train.select_cuts), (0.5, Select::Cuts, 3));
        assert_eq!(RunConfig::from_toml(&c.to_toml()).unwrap(), c);
        assert_eq!(RunConfig::resolve("small", None, &["train.truncate=1".into()]).unwrap().train.truncate, 1.0);
        for (set, want) in [
            ("train.truncate=-0.1", "train.truncate must be in [0, 1], got -0.1"),
            ("train.truncate=1.5", "train.truncate must be in [0, 1], got 1.5"),
            ("train.truncate=nan", "train.truncate must be in [0, 1], got NaN"),
            ("train.select=last", "config: train.select: "),
            ("train.select_cuts=0", "train.select_cuts must be at least 1"),
            ("train.select_cuts=-2", "config: train.select_cuts: "),
        ] {
            let e = RunConfig::resolve("small", None, &[set.to_string()]).unwrap_err();
            assert!(e.starts_with(want), "{set}: {e}");
        }
    }

    #[test]
    fn interval_keys_are_off_by_default_and_leave_older_files_unchanged() {
        let c = RunConfig::resolve("small", None, &[]).unwrap();
        assert_eq!(
            (c.data.prep.calibration, c.eval.coverage.clone(), c.eval.cuts_per_engine),
            (0.0, vec![0.8, 0.9, 0.95], 10)
        );
        let text = c.to_toml();
        assert!(!text.contains("calibration") && !text.contains("[eval]"), "{text}");
        let sets = ["data.prep.calibration=0.5", "eval.coverage=[0.9]", "eval.cuts_per_engine=3"].map(String::from);
        let c = RunConfig::resolve("small", None, &sets).unwrap();
        assert_eq!((c.data.prep.calibration, c.eval.coverage.clone(), c.eval.cuts_per_engine), (0.5, vec![0.9], 3));
        assert_eq!(RunConfig::from_toml(&c.to_toml()).unwrap(), c);
        for (set, want) in [
            ("data.prep.calibration=1.0", "data.prep: calibration 1 must be in [0, 1)"),
            ("eval.coverage=[0.9, 1.0]", "eval.coverage: level 1 must be in (0, 1)"),
            ("eval.coverage=[]", "eval.coverage must name at least one level"),
            ("eval.cuts_per_engine=0", "eval.cuts_per_engine must be at least 1"),
            ("eval.levels=[0.9]", "levels"),
        ] {
            let e = RunConfig::resolve("small", None, &[set.to_string()]).unwrap_err();
            assert!(e.contains(want), "{set}: {e}");
        }
    }
}
