//! Uncertainty weighting (Kendall, Gal & Cipolla 2018) as an arithmetic controller: learned
//! per-task log-variances s_i in `Σ_i ½·exp(−s_i)·L_i + ½·s_i`, s_i starting at 0.
//!
//! Why no tensors are needed: the model gradient of that loss is `Σ_i ½e^{−s_i}·∇L_i`, so the
//! task weights handed to the trainer are `λ_i = ½·exp(−s_i)` (they do not sum to 1 and are
//! logged as they are), and the gradient of the loss with respect to s_i is analytic,
//! `∂/∂s_i = ½·(1 − e^{−s_i}·L_i)`. Each step uses the current s for this step's weights and then
//! updates s with its own Adam (lr `lr`, default 1e-3 = the model's) from this step's losses —
//! the same simultaneous update the joint autodiff version makes. The minimum of each term is at
//! `s_i = ln L_i`, so the weights track ½/L_i. The ½·s_i regulariser is not part of the model
//! gradient (it does not depend on θ) and is not returned.
//!
//! Non-finite losses (decided): the step is skipped — s and Adam untouched, the current weights
//! returned, `skipped = true` — so the trainer's own non-finite-loss check stops the run with its
//! message naming the last good checkpoint. A non-finite s after an update is an error.

use super::adam::Adam;
use super::{optional_norms, Needs, StepInput, StepRecord, TaskWeighting};
use crate::error::CoreError;
use crate::methods::{Method, Param, ParamDefault, ParamValues, RulLoss};
use serde::{Deserialize, Serialize};

/// The default is the model's own learning rate.
pub const LR: Param = Param {
    name: "uncertainty_lr",
    default: ParamDefault::Float(1e-3),
    doc: "Adam learning rate of the `uncertainty` log-variances (the model's default)",
};

pub const METHOD: Method = Method {
    name: "uncertainty",
    description: "plain MSE, learned log-variances s_i: Σ ½e^(−s_i)·L_i + ½s_i",
    citation: "Kendall, Gal & Cipolla 2018 (docs/reference.md §4.3)",
    rul_loss: RulLoss::Mse,
    needs: Needs::Losses,
    params: &[LR],
    build,
};

fn build(k: usize, p: &ParamValues) -> Result<Box<dyn TaskWeighting>, CoreError> {
    Ok(Box::new(Uncertainty::new(k, p.float(&LR))?))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Uncertainty {
    /// Log-variances s_i, one per task.
    log_var: Vec<f64>,
    adam: Adam,
    step: u64,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    controller: String,
    log_var: Vec<f64>,
    adam: Adam,
    step: u64,
}

impl Uncertainty {
    /// K tasks, s_i = 0 (weights ½ each), Adam with learning rate `lr` on s.
    pub fn new(k: usize, lr: f64) -> Result<Uncertainty, CoreError> {
        if k < 2 {
            return Err(CoreError::invalid("number of tasks K", k, "≥ 2"));
        }
        if !(lr.is_finite() && lr > 0.0) {
            return Err(CoreError::invalid("uncertainty learning rate", lr, "finite and > 0"));
        }
        Ok(Uncertainty { log_var: vec![0.0; k], adam: Adam::new(k, lr), step: 0 })
    }

    pub fn log_variances(&self) -> &[f64] {
        &self.log_var
    }
}

/// `λ_i = ½·exp(−s_i)`.
pub fn weights_of(log_var: &[f64]) -> Vec<f64> {
    log_var.iter().map(|s| 0.5 * (-s).exp()).collect()
}

/// `∂/∂s_i [½e^{−s_i}L_i + ½s_i] = ½(1 − e^{−s_i}·L_i)`.
pub fn log_var_gradient(log_var: &[f64], losses: &[f64]) -> Vec<f64> {
    log_var.iter().zip(losses).map(|(s, l)| 0.5 * (1.0 - (-s).exp() * l)).collect()
}

impl TaskWeighting for Uncertainty {
    fn name(&self) -> &str {
        "uncertainty"
    }

    fn n_tasks(&self) -> usize {
        self.log_var.len()
    }

    fn needs(&self) -> Needs {
        Needs::Losses
    }

    fn step(&mut self, obs: &StepInput) -> Result<StepRecord, CoreError> {
        let k = self.log_var.len();
        let norms = optional_norms(k, obs)?;
        let step = self.step;
        self.step += 1;
        // This step's loss uses the s it was computed with; s moves afterwards.
        let w = weights_of(&self.log_var);
        let skipped = obs.losses.iter().any(|l| !l.is_finite());
        if !skipped {
            let grad = log_var_gradient(&self.log_var, obs.losses);
            let mut next = self.log_var.clone();
            self.adam.update(&mut next, &grad);
            if let Some(i) = next.iter().position(|s| !s.is_finite()) {
                return Err(CoreError::invalid(
                    format!(
                        "uncertainty log-variance s[{i}] after step {step} (losses {:?}); the run stops here",
                        obs.losses
                    ),
                    next[i],
                    "finite",
                ));
            }
            self.log_var = next;
        }
        Ok(StepRecord::single_stage(step, false, skipped, &norms, w))
    }

    fn current_weights(&self) -> Vec<f64> {
        weights_of(&self.log_var)
    }

    fn state(&self) -> serde_json::Value {
        serde_json::to_value(Snapshot {
            controller: "uncertainty".into(),
            log_var: self.log_var.clone(),
            adam: self.adam.clone(),
            step: self.step,
        })
        .expect("an uncertainty snapshot is plain numbers and always serialises")
    }

    fn restore(&mut self, v: &serde_json::Value) -> Result<(), CoreError> {
        let fail = |why: String| CoreError::Restore { controller: "uncertainty".into(), why };
        let s: Snapshot = serde_json::from_value(v.clone()).map_err(|e| fail(e.to_string()))?;
        if s.controller != "uncertainty" {
            return Err(fail(format!("the state belongs to controller `{}`", s.controller)));
        }
        let k = self.log_var.len();
        if s.log_var.len() != k || s.adam.m.len() != k || s.adam.v.len() != k {
            return Err(fail(format!("the state has K = {} tasks, this controller K = {k}", s.log_var.len())));
        }
        if let Some(i) = s.log_var.iter().position(|x| !x.is_finite()) {
            return Err(fail(format!("log-variance s[{i}] = {} is not finite", s.log_var[i])));
        }
        *self = Uncertainty { log_var: s.log_var, adam: s.adam, step: s.step };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(losses: &[f64]) -> StepInput<'_> {
        StepInput { losses, gram: None }
    }

    #[test]
    fn two_task_steps_by_hand() {
        // lr = 0.1, s = (0, 0), losses (3, 1):
        // weights now = ½e^0 = (0.5, 0.5); ∂/∂s = ½(1 − 3) = −1 and ½(1 − 1) = 0.
        // Adam step 1: Δs = −lr·g/(|g| + 1e-8) → s_0 = 0.1/(1 + 1e-8), s_1 = −0.1·0/(0 + 1e-8) = 0.
        let mut u = Uncertainty::new(2, 0.1).unwrap();
        let r = u.step(&obs(&[3.0, 1.0])).unwrap();
        assert_eq!(r.weights, vec![0.5, 0.5]);
        assert!(!r.skipped && r.ratio.is_nan());
        let s0 = 0.1 / (1.0 + 1e-8);
        assert!((u.log_variances()[0] - s0).abs() < 1e-16);
        assert_eq!(u.log_variances()[1], 0.0);
        // Next step's weights: ½e^{−0.1} = 0.5·0.904837418… = 0.452418709…, and 0.5.
        let r = u.step(&obs(&[3.0, 1.0])).unwrap();
        assert!((r.weights[0] - 0.452_418_709_4).abs() < 1e-9);
        assert_eq!(r.weights[1], 0.5);
        assert_eq!(r.step, 1);
        // The larger loss gets the smaller weight, as the method intends.
        assert!(u.current_weights()[0] < u.current_weights()[1]);
    }

    #[test]
    fn converges_to_half_over_the_loss() {
        // Fixed losses (4, 0.25): the optimum is s_i = ln L_i, i.e. λ = ½/L = (0.125, 2).
        let mut u = Uncertainty::new(2, 0.05).unwrap();
        for _ in 0..4000 {
            u.step(&obs(&[4.0, 0.25])).unwrap();
        }
        let w = u.current_weights();
        assert!((w[0] - 0.125).abs() < 2e-3 && (w[1] - 2.0).abs() < 3e-2, "{w:?}");
    }

    #[test]
    fn non_finite_losses_skip_and_misuse_errors() {
        let mut u = Uncertainty::new(2, 0.1).unwrap();
        u.step(&obs(&[2.0, 1.0])).unwrap();
        let before = u.clone();
        let r = u.step(&obs(&[f64::NAN, 1.0])).unwrap();
        assert!(r.skipped);
        assert_eq!(u.log_variances(), before.log_variances());
        assert!(u.step(&obs(&[1.0])).is_err());
        assert!(Uncertainty::new(2, 0.0).unwrap_err().to_string().contains("learning rate"));
        assert!(Uncertainty::new(1, 0.1).is_err());
    }

    #[test]
    fn serde_round_trip_is_bit_identical() {
        let mut a = Uncertainty::new(3, 1e-3).unwrap();
        let ls = [[900.0, 1.1, 0.3], [850.0, 1.0, 0.2], [700.0, 0.9, 0.25]];
        for l in &ls {
            a.step(&obs(l)).unwrap();
        }
        let text = serde_json::to_string(&a.state()).unwrap();
        let mut b = Uncertainty::new(3, 0.5).unwrap();
        b.restore(&serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(a, b);
        for i in 0..30 {
            let (ra, rb) = (a.step(&obs(&ls[i % 3])).unwrap(), b.step(&obs(&ls[i % 3])).unwrap());
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&ra.weights), bits(&rb.weights));
        }
        assert!(b.restore(&super::super::Fixed::new(vec![0.5, 0.5]).unwrap().state()).is_err());
        let two = Uncertainty::new(2, 0.1).unwrap().state();
        assert!(b.restore(&two).unwrap_err().to_string().contains("K = 2"));
    }
}
