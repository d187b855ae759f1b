//! Task-weighting controllers behind one trait, so the trainer drives every method alike.
//! A new method is one file here plus one line in [`controller_for`].

pub mod adam;
pub mod dwa;
pub mod fixed;
pub mod gaba;
pub mod gradnorm;
pub mod uncertainty;

pub use dwa::Dwa;
pub use fixed::Fixed;
pub use gaba::{Gaba, GabaConfig};
pub use gradnorm::GradNorm;
pub use uncertainty::Uncertainty;

use crate::error::CoreError;
use serde::{Deserialize, Serialize};

/// What the trainer knows after the per-task backward passes of one step.
#[derive(Debug, Clone, Copy)]
pub struct StepInput<'a> {
    /// `g_i = ‖∂L_i/∂θ_shared‖₂`, one per task; `None` when the method does not need them
    /// (see [`TaskWeighting::needs_grad_norms`]), which spares the per-task backward passes.
    pub grad_norms: Option<&'a [f64]>,
    /// This step's per-task losses `L_i` (length K).
    pub losses: &'a [f64],
}

/// Every intermediate of one controller step, for logging. Vectors have length K.
///
/// Controllers without a stage fill it with their weights so that logs keep one schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The step counter before this step (0-based).
    pub step: u64,
    /// True while the warm-up held the raw weights at 1/K.
    pub warmup: bool,
    /// True when the norms were unusable (S = 0, a negative or non-finite norm) and the
    /// state was left untouched; see [`gaba`] for the rule.
    pub skipped: bool,
    /// The gradient norms as given (empty when none were given).
    pub norms: Vec<f64>,
    pub raw: Vec<f64>,
    pub ema: Vec<f64>,
    pub floored: Vec<f64>,
    /// λ*: the only weights that multiply the losses.
    pub weights: Vec<f64>,
    /// `g_max / g_min` of the given norms: +∞ when g_min = 0 < g_max, NaN when there are no
    /// norms, all are zero, or one is non-finite (serialised as `null`).
    pub ratio: f64,
}

/// A task-weighting method whose arithmetic needs no tensors.
///
/// One `step` per optimiser step, before the losses are combined as `Σ_i weights_i · L_i`
/// (weights are constants: no gradient flows through a controller).
pub trait TaskWeighting: Send {
    /// The controller's registry name (`gaba`, `fixed`).
    fn name(&self) -> &str;
    fn n_tasks(&self) -> usize;
    /// Whether [`StepInput::grad_norms`] must be given.
    fn needs_grad_norms(&self) -> bool;
    /// Advances the controller by one training step and returns the weights to use now.
    ///
    /// Errors only on misuse (wrong lengths, missing norms); unusable norm values are
    /// absorbed as a skipped step instead, because one bad batch must not stop a run.
    fn step(&mut self, obs: &StepInput) -> Result<StepRecord, CoreError>;
    /// Called once per epoch with the epoch's mean per-task losses (for epoch-level methods
    /// such as DWA); a no-op by default.
    fn end_epoch(&mut self, _mean_task_losses: &[f64]) -> Result<(), CoreError> {
        Ok(())
    }
    /// The weights the next step would use if nothing changed, e.g. for evaluation logs.
    fn current_weights(&self) -> Vec<f64>;
    /// The whole state and hyper-parameters, for checkpoints; floats round-trip bit-for-bit.
    fn state(&self) -> serde_json::Value;
    /// Restores what [`TaskWeighting::state`] wrote; later steps are then bit-identical.
    fn restore(&mut self, v: &serde_json::Value) -> Result<(), CoreError>;
}

/// Hyper-parameters of every registered controller; each reads only its own fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ControllerParams {
    /// GABA EMA factor β.
    pub beta: f64,
    /// GABA floor ε.
    pub floor: f64,
    /// GABA warm-up W, in steps.
    pub warmup: u64,
    /// Fixed weights; `None` means uniform 1/K.
    pub fixed_weights: Option<Vec<f64>>,
    /// DWA temperature T.
    pub temperature: f64,
    /// GradNorm asymmetry α.
    pub alpha: f64,
    /// Adam learning rate of the uncertainty log-variances.
    pub uncertainty_lr: f64,
    /// Adam learning rate of the GradNorm weights.
    pub gradnorm_lr: f64,
}

impl Default for ControllerParams {
    fn default() -> Self {
        let g = GabaConfig::default();
        ControllerParams {
            beta: g.beta,
            floor: g.floor,
            warmup: g.warmup,
            fixed_weights: None,
            temperature: dwa::DEFAULT_TEMPERATURE,
            alpha: gradnorm::DEFAULT_ALPHA,
            uncertainty_lr: uncertainty::DEFAULT_LR,
            gradnorm_lr: gradnorm::DEFAULT_LR,
        }
    }
}

impl ControllerParams {
    pub fn gaba_config(&self) -> GabaConfig {
        GabaConfig { beta: self.beta, floor: self.floor, warmup: self.warmup }
    }
}

/// Names [`controller_for`] accepts: controller names and the SPEC §4.3 method names (every
/// method's weighting is arithmetic, including the learned ones; see each module).
pub const CONTROLLER_NAMES: &[&str] =
    &["gaba", "fixed", "grace", "baseline", "amnl", "single", "uncertainty", "dwa", "gradnorm"];

/// The registry: builds the controller for a controller or method name and K tasks.
///
/// `grace`/`gaba` → GABA; `baseline`/`amnl` → fixed weights (uniform unless
/// `params.fixed_weights` says otherwise); `single` → fixed one-hot on task 0 (RUL);
/// `fixed` → `params.fixed_weights` or uniform; `uncertainty`, `dwa`, `gradnorm` → their
/// controllers with `uncertainty_lr`, `temperature`, `alpha` and `gradnorm_lr`.
pub fn controller_for(name: &str, k: usize, params: &ControllerParams) -> Result<Box<dyn TaskWeighting>, CoreError> {
    if k < 2 {
        return Err(CoreError::invalid("number of tasks K", k, "≥ 2"));
    }
    let fixed = |default: Vec<f64>| -> Result<Box<dyn TaskWeighting>, CoreError> {
        Ok(Box::new(Fixed::new(params.fixed_weights.clone().unwrap_or(default))?))
    };
    match name {
        "gaba" | "grace" => Ok(Box::new(Gaba::new(k, params.gaba_config())?)),
        "fixed" | "baseline" | "amnl" => fixed(vec![1.0 / k as f64; k]),
        "single" => {
            let mut w = vec![0.0; k];
            w[0] = 1.0;
            Ok(Box::new(Fixed::new(w)?))
        }
        "uncertainty" => Ok(Box::new(Uncertainty::new(k, params.uncertainty_lr)?)),
        "dwa" => Ok(Box::new(Dwa::new(k, params.temperature)?)),
        "gradnorm" => Ok(Box::new(GradNorm::new(k, params.alpha, params.gradnorm_lr)?)),
        _ => Err(CoreError::UnknownMethod { name: name.to_string(), known: CONTROLLER_NAMES.join(", ") }),
    }
}

impl StepRecord {
    /// The record of a controller with no intermediate stages: raw, EMA and floored all equal
    /// the weights, so the log keeps GABA's columns for every method.
    pub fn single_stage(step: u64, warmup: bool, skipped: bool, norms: &[f64], weights: Vec<f64>) -> StepRecord {
        StepRecord {
            step,
            warmup,
            skipped,
            norms: norms.to_vec(),
            raw: weights.clone(),
            ema: weights.clone(),
            floored: weights.clone(),
            ratio: norm_ratio(norms),
            weights,
        }
    }
}

/// Checks a step's input against K tasks; returns the norms (empty when none were given),
/// which are optional for controllers that do not need them but worth logging when measured.
pub(crate) fn optional_norms<'a>(k: usize, obs: &StepInput<'a>) -> Result<&'a [f64], CoreError> {
    check_task_len("per-task losses", k, obs.losses)?;
    let norms = obs.grad_norms.unwrap_or(&[]);
    if !norms.is_empty() {
        check_task_len("gradient norms", k, norms)?;
    }
    Ok(norms)
}

pub(crate) fn check_task_len(what: &str, k: usize, xs: &[f64]) -> Result<(), CoreError> {
    if xs.len() != k {
        return Err(CoreError::length(what, k, xs.len()));
    }
    Ok(())
}

/// `g_max / g_min` with the conventions documented on [`StepRecord::ratio`].
pub fn norm_ratio(norms: &[f64]) -> f64 {
    if norms.is_empty() || norms.iter().any(|g| !g.is_finite()) {
        return f64::NAN;
    }
    let max = norms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let min = norms.iter().cloned().fold(f64::INFINITY, f64::min);
    max / min
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_builds_every_name() {
        let p = ControllerParams::default();
        for name in CONTROLLER_NAMES {
            let c = controller_for(name, 2, &p).unwrap();
            assert_eq!(c.n_tasks(), 2);
        }
        assert_eq!(controller_for("grace", 2, &p).unwrap().name(), "gaba");
        assert!(controller_for("grace", 2, &p).unwrap().needs_grad_norms());
        assert!(!controller_for("amnl", 2, &p).unwrap().needs_grad_norms());
        assert_eq!(controller_for("baseline", 2, &p).unwrap().current_weights(), vec![0.5, 0.5]);
        assert_eq!(controller_for("single", 3, &p).unwrap().current_weights(), vec![1.0, 0.0, 0.0]);
        assert!(controller_for("gradnorm", 2, &p).unwrap().needs_grad_norms());
        assert!(!controller_for("uncertainty", 2, &p).unwrap().needs_grad_norms());
        assert!(!controller_for("dwa", 2, &p).unwrap().needs_grad_norms());
        // uncertainty starts at ½e^0; DWA and GradNorm at 1 (Σ = K)
        assert_eq!(controller_for("uncertainty", 2, &p).unwrap().current_weights(), vec![0.5, 0.5]);
        assert_eq!(controller_for("dwa", 3, &p).unwrap().current_weights(), vec![1.0; 3]);
        assert_eq!(controller_for("gradnorm", 2, &p).unwrap().current_weights(), vec![1.0, 1.0]);
        let e = controller_for("mgda", 2, &p).err().unwrap().to_string();
        assert!(e.contains("`mgda`") && e.contains("gradnorm"), "{e}");
        assert!(controller_for("gaba", 1, &p).is_err());
    }

    #[test]
    fn registry_passes_params() {
        let p = ControllerParams {
            beta: 0.5,
            floor: 0.1,
            warmup: 0,
            fixed_weights: Some(vec![0.7, 0.3]),
            temperature: 0.5,
            ..Default::default()
        };
        let mut g = controller_for("gaba", 2, &p).unwrap();
        // raw = (1/4, 3/4); ema = 0.5·0.5 + 0.5·0.25 = 0.375 and 0.5·0.5 + 0.5·0.75 = 0.625
        let r = g.step(&StepInput { grad_norms: Some(&[3.0, 1.0]), losses: &[1.0, 1.0] }).unwrap();
        assert_eq!(r.ema, vec![0.375, 0.625]);
        assert_eq!(controller_for("amnl", 2, &p).unwrap().current_weights(), vec![0.7, 0.3]);
        // T = 0.5 reaches DWA: means (2, 1) then (1, 1) → r = (0.5, 1), r/T = (1, 2),
        // λ_0 = 2/(1 + e) = 0.5378828427
        let mut d = controller_for("dwa", 2, &p).unwrap();
        d.end_epoch(&[2.0, 1.0]).unwrap();
        d.end_epoch(&[1.0, 1.0]).unwrap();
        assert!((d.current_weights()[0] - 0.537_882_842_7).abs() < 1e-9);
    }

    #[test]
    fn ratio_conventions() {
        assert_eq!(norm_ratio(&[12.5, 0.05]), 12.5 / 0.05);
        assert_eq!(norm_ratio(&[1.0, 0.0]), f64::INFINITY);
        assert!(norm_ratio(&[0.0, 0.0]).is_nan());
        assert!(norm_ratio(&[1.0, f64::NAN]).is_nan());
        assert!(norm_ratio(&[]).is_nan());
    }
}
