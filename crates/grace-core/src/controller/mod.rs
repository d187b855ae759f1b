//! Task-weighting controllers behind one trait, stepped with the per-task losses and the K×K Gram
//! matrix of the task gradients. A new method is one file here plus one entry in [`crate::methods::METHODS`].

pub mod adam;
pub mod aggregate;
pub mod aligned;
pub mod cagrad;
pub mod dbmtl;
pub mod dwa;
pub mod famo;
pub mod fixed;
pub mod gaba;
pub mod gradnorm;
pub mod imtlg;
pub mod linalg;
pub mod mgda;
pub mod nashmtl;
pub mod pcgrad;
pub mod rlw;
pub mod uncertainty;
pub mod upgrad;

pub use dwa::Dwa;
pub use fixed::Fixed;
pub use gaba::{Gaba, GabaConfig};
pub use gradnorm::GradNorm;
pub use uncertainty::Uncertainty;

use crate::error::CoreError;
use serde::{Deserialize, Serialize};

/// What a controller reads at each step, in increasing cost to the trainer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Needs {
    /// Nothing of the step (constant weights, weights that move only at epoch ends, or random
    /// weights): one backward of `Σ w_i L_i`.
    Nothing,
    /// This step's per-task losses: still one backward.
    Losses,
    /// This step's losses, and the same batch's losses again after the optimiser step, from one
    /// extra forward pass without gradients (handed over by [`TaskWeighting::after_update`]).
    LossesAfterUpdate,
    /// The per-task gradient norms (the Gram diagonal): K backward passes, one per task.
    Norms,
    /// The whole Gram matrix `G_ij = g_i·g_j`: the same K backward passes as [`Needs::Norms`].
    Gram,
    /// The task gradients themselves, not only their inner products (DB-MTL): the trainer keeps
    /// per-task gradient memories as [`TaskWeighting::memory_update`] says, and the Gram matrix the
    /// controller reads is theirs. The same K backward passes as [`Needs::Norms`].
    GradientVectors,
}

/// What a step costs beyond one forward and one backward pass, derived from [`Needs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Cost {
    /// Backward passes per step.
    pub backward_passes: usize,
    /// Forward passes per step beyond the one every method makes.
    pub extra_forwards: usize,
}

impl Needs {
    /// Whether the step must take one backward pass per task (to measure the task gradients).
    pub fn per_task_gradients(self) -> bool {
        self >= Needs::Norms
    }

    pub fn cost(self, k: usize) -> Cost {
        let backward_passes = if self.per_task_gradients() { k } else { 1 };
        let extra_forwards = usize::from(self == Needs::LossesAfterUpdate);
        Cost { backward_passes, extra_forwards }
    }

    pub fn name(self) -> &'static str {
        match self {
            Needs::Nothing => "nothing",
            Needs::Losses => "losses",
            Needs::LossesAfterUpdate => "losses_after_update",
            Needs::Norms => "norms",
            Needs::Gram => "gram",
            Needs::GradientVectors => "gradient_vectors",
        }
    }
}

/// The Gram matrix of the K task gradients over the shared parameters, `G_ij = g_i·g_j`: symmetric,
/// row-major. Entries may be non-finite (a diverging batch); each controller decides what to do then.
#[derive(Debug, Clone, PartialEq)]
pub struct Gram {
    k: usize,
    g: Vec<f64>,
}

impl Gram {
    /// Checks the length (k·k, k ≥ 1) and the symmetry within 1e-9 relative.
    pub fn new(k: usize, g: Vec<f64>) -> Result<Gram, CoreError> {
        if k == 0 {
            return Err(CoreError::invalid("Gram matrix size K", k, "≥ 1"));
        }
        if g.len() != k * k {
            return Err(CoreError::length("Gram matrix entries (K·K)", k * k, g.len()));
        }
        for i in 0..k {
            for j in i + 1..k {
                let (a, b) = (g[i * k + j], g[j * k + i]);
                let close = a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) || (a.is_nan() && b.is_nan());
                if !close {
                    return Err(CoreError::invalid(
                        format!("Gram matrix G[{i}][{j}] vs G[{j}][{i}] = {b}"),
                        a,
                        "symmetric",
                    ));
                }
            }
        }
        Ok(Gram { k, g })
    }

    /// K = 2 from the two gradient norms and their dot product.
    pub fn from_norms_and_dot(norms: [f64; 2], dot: f64) -> Gram {
        Gram { k: 2, g: vec![norms[0] * norms[0], dot, dot, norms[1] * norms[1]] }
    }

    pub fn k(&self) -> usize {
        self.k
    }

    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.g[i * self.k + j]
    }

    /// `‖g_i‖ = √G_ii`.
    pub fn norms(&self) -> Vec<f64> {
        (0..self.k).map(|i| self.get(i, i).sqrt()).collect()
    }

    /// `G_ij / (‖g_i‖·‖g_j‖)`; NaN when either norm is 0.
    pub fn cosine(&self, i: usize, j: usize) -> f64 {
        let (a, b) = (self.get(i, i).sqrt(), self.get(j, j).sqrt());
        if a == 0.0 || b == 0.0 {
            return f64::NAN;
        }
        self.get(i, j) / (a * b)
    }

    pub fn as_slice(&self) -> &[f64] {
        &self.g
    }
}

/// What the trainer knows at one step, before the task gradients are combined.
#[derive(Debug, Clone, Copy)]
pub struct StepInput<'a> {
    /// This step's per-task losses `L_i` (length K).
    pub losses: &'a [f64],
    /// The Gram matrix of the task gradients over the shared parameters (for [`Needs::GradientVectors`],
    /// that of the gradient memories after this step's update); `None` when the step took a single
    /// backward pass (the controller needs at most [`Needs::LossesAfterUpdate`] and nothing is logged).
    pub gram: Option<&'a Gram>,
}

/// How the per-task gradient memories of a [`Needs::GradientVectors`] controller move at one step:
/// `m_i ← mix·m_i + (1 − mix)·scales_i·g_i`, with g_i task i's gradient over the shared parameters.
///
/// The trainer keeps the memories (K vectors of the shared parameters' size, starting at 0, on the
/// device and in checkpoints); the controller's `step` then reads their Gram matrix, and the shared
/// gradient is `Σ_i weights_i·m_i` while each head gets `head_weights_i` times its own task's gradient.
/// The update is dropped when that step is skipped, so the memories keep no unusable values.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryUpdate {
    pub mix: f64,
    pub scales: Vec<f64>,
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
    /// λ*: the coefficients of the combined shared gradient `Σ_i w_i g_i` (for loss-weighting
    /// methods, the weights that multiply the losses).
    pub weights: Vec<f64>,
    /// The weights of each task's own head gradient when they differ from `weights` (methods that
    /// change the shared direction, e.g. MGDA, keep the heads at 1); `None` = the same as `weights`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_weights: Option<Vec<f64>>,
    /// `g_max / g_min` of the given norms: +∞ when g_min = 0 < g_max, NaN when there are no
    /// norms, all are zero, or one is non-finite (serialised as `null`).
    pub ratio: f64,
}

/// A task-weighting method whose arithmetic needs no tensors.
///
/// One `step` per optimiser step, before the task gradients are combined as `Σ_i weights_i · g_i`
/// (weights are constants: no gradient flows through a controller).
pub trait TaskWeighting: Send {
    /// The controller's name (`gaba`, `fixed`); several methods may share one controller.
    fn name(&self) -> &str;
    fn n_tasks(&self) -> usize;
    /// What [`TaskWeighting::step`] reads; the trainer measures no more than this (plus its log).
    fn needs(&self) -> Needs;
    /// Advances the controller by one training step and returns the weights to use now.
    ///
    /// Errors only on misuse (wrong lengths, a missing Gram matrix); unusable values are
    /// absorbed as a skipped step instead, because one bad batch must not stop a run.
    fn step(&mut self, obs: &StepInput) -> Result<StepRecord, CoreError>;
    /// Called once per epoch with the epoch's mean per-task losses (for epoch-level methods
    /// such as DWA); a no-op by default.
    fn end_epoch(&mut self, _mean_task_losses: &[f64]) -> Result<(), CoreError> {
        Ok(())
    }
    /// For [`Needs::LossesAfterUpdate`]: the per-task losses of this step's batch after the
    /// optimiser step, measured without gradients; a no-op by default.
    fn after_update(&mut self, _losses_after: &[f64]) -> Result<(), CoreError> {
        Ok(())
    }
    /// For [`Needs::GradientVectors`]: how this step's task gradients enter the gradient memories,
    /// from this step's losses, asked before [`TaskWeighting::step`]. `None` leaves the memories as
    /// they are: unusable losses, or a controller that keeps none (the default).
    fn memory_update(&self, _losses: &[f64]) -> Option<MemoryUpdate> {
        None
    }
    /// The weights the next step would use if nothing changed, e.g. for evaluation logs.
    fn current_weights(&self) -> Vec<f64>;
    /// The whole state and hyper-parameters, for checkpoints; floats round-trip bit-for-bit.
    fn state(&self) -> serde_json::Value;
    /// Restores what [`TaskWeighting::state`] wrote; later steps are then bit-identical.
    fn restore(&mut self, v: &serde_json::Value) -> Result<(), CoreError>;
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
            head_weights: None,
        }
    }
}

/// Checks a step's input against K tasks; returns the gradient norms (empty without a Gram
/// matrix), which controllers that do not need them still log when the trainer measured them.
pub(crate) fn optional_norms(k: usize, obs: &StepInput) -> Result<Vec<f64>, CoreError> {
    check_task_len("per-task losses", k, obs.losses)?;
    match obs.gram {
        Some(g) => gram_norms(k, g),
        None => Ok(Vec::new()),
    }
}

/// As [`optional_norms`], for controllers that cannot step without the norms.
pub(crate) fn required_norms(controller: &str, k: usize, obs: &StepInput) -> Result<Vec<f64>, CoreError> {
    check_task_len("per-task losses", k, obs.losses)?;
    let gram = obs.gram.ok_or_else(|| CoreError::MissingGram(controller.into()))?;
    gram_norms(k, gram)
}

fn gram_norms(k: usize, gram: &Gram) -> Result<Vec<f64>, CoreError> {
    if gram.k() != k {
        return Err(CoreError::length("Gram matrix tasks", k, gram.k()));
    }
    Ok(gram.norms())
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

/// For tests: the Gram matrix of mutually orthogonal task gradients with these norms.
#[cfg(test)]
pub(crate) fn orthogonal(norms: &[f64]) -> Gram {
    let k = norms.len();
    let mut g = vec![0.0; k * k];
    for (i, n) in norms.iter().enumerate() {
        g[i * k + i] = n * n;
    }
    Gram::new(k, g).expect("a diagonal matrix is symmetric")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gram_arithmetic_by_hand() {
        // g_0 = (3, 4), g_1 = (4, 3): G = [[25, 24], [24, 25]], norms 5 and 5, cosine 24/25
        let g = Gram::from_norms_and_dot([5.0, 5.0], 24.0);
        assert_eq!(g.as_slice(), &[25.0, 24.0, 24.0, 25.0]);
        assert_eq!((g.k(), g.get(0, 1), g.get(1, 0)), (2, 24.0, 24.0));
        assert_eq!(g.norms(), vec![5.0, 5.0]);
        assert_eq!(g.cosine(0, 1), 0.96);
        assert_eq!(g.cosine(0, 0), 1.0);
        // K = 3: g_0 = (1, 0, 0), g_1 = (1, 1, 0), g_2 = (0, 0, 2)
        // G = [[1, 1, 0], [1, 2, 0], [0, 0, 4]]: norms (1, √2, 2), cos(0,1) = 1/√2, cos(0,2) = 0
        let g3 = Gram::new(3, vec![1.0, 1.0, 0.0, 1.0, 2.0, 0.0, 0.0, 0.0, 4.0]).unwrap();
        assert_eq!(g3.norms(), vec![1.0, 2f64.sqrt(), 2.0]);
        assert!((g3.cosine(0, 1) - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-15);
        assert_eq!(g3.cosine(0, 2), 0.0);
        assert_eq!(g3.get(2, 2), 4.0);
        // a zero gradient has no direction
        let z = Gram::from_norms_and_dot([0.0, 2.0], 0.0);
        assert!(z.cosine(0, 1).is_nan());
        assert_eq!(z.norms(), vec![0.0, 2.0]);
    }

    #[test]
    fn gram_checks_shape_and_symmetry() {
        assert!(matches!(Gram::new(2, vec![1.0, 0.0, 0.0]), Err(CoreError::Length { .. })));
        assert!(Gram::new(0, vec![]).is_err());
        let e = Gram::new(2, vec![1.0, 0.5, 0.4, 1.0]).unwrap_err().to_string();
        assert!(e.contains("G[0][1]") && e.contains("symmetric"), "{e}");
        // within 1e-9 relative is symmetric enough (the two sums differ only in rounding)
        assert!(Gram::new(2, vec![1.0, 1e6, 1e6 * (1.0 + 1e-12), 1.0]).is_ok());
        assert!(Gram::new(2, vec![1.0, 1e6, 1e6 * (1.0 + 1e-8), 1.0]).is_err());
        // non-finite entries are the controllers' business, not a shape error
        assert!(Gram::new(2, vec![f64::NAN, f64::NAN, f64::NAN, 1.0]).is_ok());
    }

    #[test]
    fn needs_order_and_cost() {
        assert!(Needs::Nothing < Needs::Losses && Needs::Losses < Needs::LossesAfterUpdate);
        assert!(Needs::LossesAfterUpdate < Needs::Norms);
        assert!(Needs::Norms < Needs::Gram && Needs::Gram < Needs::GradientVectors);
        assert_eq!(Needs::Losses.cost(3), Cost { backward_passes: 1, extra_forwards: 0 });
        assert_eq!(Needs::LossesAfterUpdate.cost(3), Cost { backward_passes: 1, extra_forwards: 1 });
        assert_eq!(Needs::GradientVectors.cost(2), Cost { backward_passes: 2, extra_forwards: 0 });
        assert_eq!(Needs::Norms.cost(3), Cost { backward_passes: 3, extra_forwards: 0 });
        assert_eq!(Needs::Gram.cost(2).backward_passes, 2);
        assert!(!Needs::Losses.per_task_gradients() && Needs::Gram.per_task_gradients());
        assert!(!Needs::LossesAfterUpdate.per_task_gradients() && Needs::GradientVectors.per_task_gradients());
        assert_eq!(serde_json::to_string(&Needs::GradientVectors).unwrap(), "\"gradient_vectors\"");
    }

    #[test]
    fn norms_from_the_step_input() {
        let g = orthogonal(&[3.0, 4.0]);
        let with = StepInput { losses: &[1.0, 1.0], gram: Some(&g) };
        assert_eq!(optional_norms(2, &with).unwrap(), vec![3.0, 4.0]);
        assert_eq!(required_norms("gaba", 2, &with).unwrap(), vec![3.0, 4.0]);
        let without = StepInput { losses: &[1.0, 1.0], gram: None };
        assert!(optional_norms(2, &without).unwrap().is_empty());
        assert!(matches!(required_norms("gaba", 2, &without), Err(CoreError::MissingGram(_))));
        let three = orthogonal(&[1.0, 1.0, 1.0]);
        assert!(optional_norms(2, &StepInput { losses: &[1.0, 1.0], gram: Some(&three) }).is_err());
        assert!(optional_norms(2, &StepInput { losses: &[1.0], gram: None }).is_err());
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
