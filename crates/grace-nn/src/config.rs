//! The fully resolved description of a training run, as written to `config.toml` in each run
//! directory: data, model, method and protocol, built from defaults, a TOML file and `--set` pairs.

use crate::model::ModelConfig;
use grace_data::{PrepConfig, SyntheticConfig};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub data: DataConfig,
    pub model: ModelSection,
    pub method: MethodConfig,
    pub train: TrainParams,
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
            source: "synthetic".into(),
            subset: "FD001".into(),
            prep: PrepConfig::default(),
            synthetic: SyntheticConfig::default(),
        }
    }
}

impl DataConfig {
    pub fn is_synthetic(&self) -> bool {
        self.source == "synthetic"
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MethodConfig {
    /// One of SPEC §4.3's methods.
    pub name: String,
    /// Slope s of the weighted MSE (methods that use it).
    pub slope: f64,
    pub beta: f64,
    pub floor: f64,
    pub warmup_steps: u64,
    /// Fixed task weights for `baseline`/`amnl` (RUL, health).
    pub fixed_weights: Vec<f64>,
    /// Extra parameters of the other methods (DWA temperature, GradNorm α, …).
    pub temperature: f64,
    pub alpha: f64,
    /// Adam learning rate of the `uncertainty` log-variances (default: the model's 1e-3).
    pub uncertainty_lr: f64,
    /// Adam learning rate of the `gradnorm` task weights (default 0.025, as in the paper).
    pub gradnorm_lr: f64,
}

impl Default for MethodConfig {
    fn default() -> Self {
        MethodConfig {
            name: "grace".into(),
            slope: 1.0,
            beta: 0.99,
            floor: 0.05,
            warmup_steps: 100,
            fixed_weights: vec![0.5, 0.5],
            temperature: 2.0,
            alpha: 1.5,
            uncertainty_lr: 1e-3,
            gradnorm_lr: 0.025,
        }
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
    /// Linear warm-up of the learning rate over the first epochs, starting at `warmup_start`×lr.
    pub warmup_epochs: usize,
    pub warmup_start: f64,
    /// Halve (`plateau_factor`) the learning rate after this many epochs without improvement.
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
            grad_log_every: 1,
            device: "auto".into(),
            threads: 0,
            eval_batch_size: 1024,
        }
    }
}

impl RunConfig {
    pub fn new(preset: &str, n_features: i64) -> Result<Self, String> {
        Ok(RunConfig {
            data: DataConfig::default(),
            model: ModelSection { preset: preset.into(), config: ModelConfig::preset(preset, n_features)? },
            method: MethodConfig::default(),
            train: TrainParams::default(),
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
        let mut merged = toml::Table::try_from(&base).map_err(|e| e.to_string())?;
        merge(&mut merged, overlay);
        let mut cfg: RunConfig =
            toml::Value::Table(merged).try_into().map_err(|e: toml::de::Error| format!("config: {}", e.message()))?;
        // The model's input follows the data; they are one fact, not two settings that can disagree.
        cfg.model.config.n_features = cfg.data.prep.features.n_features() as i64;
        cfg.model.config.window = cfg.data.prep.window as i64;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), String> {
        self.model.config.validate()?;
        grace_core::methods::method(&self.method.name).map_err(|e| e.to_string())?;
        let t = &self.train;
        if t.batch_size == 0 || t.eval_batch_size == 0 {
            return Err("train.batch_size and train.eval_batch_size must be at least 1".into());
        }
        if !(t.lr > 0.0) || !(t.min_lr >= 0.0) {
            return Err(format!("train.lr ({}) must be positive and train.min_lr ({}) non-negative", t.lr, t.min_lr));
        }
        if !(0.0..1.0).contains(&t.ema_decay) {
            return Err(format!("train.ema_decay must be in [0, 1), got {}", t.ema_decay));
        }
        if t.grad_log_every == 0 {
            return Err("train.grad_log_every must be at least 1".into());
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

fn merge(base: &mut toml::Table, overlay: toml::Table) {
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
    }
}
