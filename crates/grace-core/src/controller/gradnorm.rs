//! GradNorm (Chen et al. 2018) as an arithmetic controller: learned task weights w_i, moved by
//! their own Adam so that the weighted gradient norms `‖w_i·∇L_i‖` approach `mean·(L̃_i)^α`.
//!
//! Per step, from the unweighted norms `g_i = ‖∇L_i‖` on the shared parameters and the losses:
//! `G_i = w_i·g_i`, `L̃_i = L_i(t)/L_i(0)` (L(0): the first step's losses), `r_i = L̃_i/mean(L̃)`,
//! `target_i = mean(G)·r_i^α` (a constant, as in the paper), `L_grad = Σ_i |G_i − target_i|`,
//! whose gradient is `∂L_grad/∂w_i = sign(G_i − target_i)·g_i` — no tensors needed. Then an
//! Adam step on w (lr default 0.025, the paper's), a clamp at [`MIN_WEIGHT`] so no weight reaches
//! zero or below, and a renormalisation to `Σ w = K`. Weights start at 1 (Σ = K).
//!
//! Order (as in the paper): the weights returned for *this* step's loss are the w before the
//! update; the update they receive from this step's norms applies from the next step.
//!
//! Divergence (decided): non-finite losses skip the step untouched, so the trainer stops on them
//! with its message naming the last good checkpoint; finite losses with a non-finite or negative
//! norm, non-positive first losses, or a non-finite weight after an update are errors that name
//! the value and stop the run before the model is updated with it.

use super::adam::Adam;
use super::{norm_ratio, required_norms, Needs, StepInput, StepRecord, TaskWeighting};
use crate::error::CoreError;
use crate::methods::{Method, Param, ParamDefault, ParamValues, RulLoss};
use serde::{Deserialize, Serialize};

pub const ALPHA: Param =
    Param { name: "alpha", default: ParamDefault::Float(1.5), doc: "GradNorm asymmetry α, ≥ 0" };
/// The paper's learning rate.
pub const LR: Param = Param {
    name: "gradnorm_lr",
    default: ParamDefault::Float(0.025),
    doc: "Adam learning rate of the `gradnorm` task weights",
};

pub const METHOD: Method = Method {
    name: "gradnorm",
    description: "plain MSE, learned weights that equalise the weighted gradient norms' training rates",
    citation: "Chen et al. 2018 (docs/reference.md §4.3)",
    rul_loss: RulLoss::Mse,
    needs: Needs::Norms,
    params: &[ALPHA, LR],
    build,
};

fn build(k: usize, p: &ParamValues) -> Result<Box<dyn TaskWeighting>, CoreError> {
    Ok(Box::new(GradNorm::new(k, p.float(&ALPHA), p.float(&LR))?))
}
/// Lower clamp of each weight before renormalising (keeps every task in the loss).
pub const MIN_WEIGHT: f64 = 1e-3;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradNorm {
    alpha: f64,
    weights: Vec<f64>,
    /// Losses of the first usable step, the reference of the training rates L̃.
    initial_losses: Option<Vec<f64>>,
    adam: Adam,
    step: u64,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    controller: String,
    alpha: f64,
    weights: Vec<f64>,
    initial_losses: Option<Vec<f64>>,
    adam: Adam,
    step: u64,
}

/// Everything one GradNorm update computes, for tests and inspection.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub weighted_norms: Vec<f64>,
    pub relative_rates: Vec<f64>,
    pub targets: Vec<f64>,
    pub weight_gradient: Vec<f64>,
}

/// `G_i = w_i·g_i`, `r_i = L̃_i/mean(L̃)`, `target_i = mean(G)·r_i^α`, `∂L_grad/∂w_i = sign(G_i − target_i)·g_i`.
pub fn gradnorm_update(weights: &[f64], norms: &[f64], losses: &[f64], initial: &[f64], alpha: f64) -> Update {
    let k = weights.len() as f64;
    let g: Vec<f64> = weights.iter().zip(norms).map(|(w, n)| w * n).collect();
    let rate: Vec<f64> = losses.iter().zip(initial).map(|(l, l0)| l / l0).collect();
    let mean_rate = rate.iter().sum::<f64>() / k;
    let rel: Vec<f64> = rate.iter().map(|r| r / mean_rate).collect();
    let mean_g = g.iter().sum::<f64>() / k;
    let targets: Vec<f64> = rel.iter().map(|r| mean_g * r.powf(alpha)).collect();
    let sign = |x: f64| {
        if x > 0.0 {
            1.0
        } else if x < 0.0 {
            -1.0
        } else {
            0.0
        }
    };
    let weight_gradient = (0..g.len()).map(|i| sign(g[i] - targets[i]) * norms[i]).collect();
    Update { weighted_norms: g, relative_rates: rel, targets, weight_gradient }
}

impl GradNorm {
    pub fn new(k: usize, alpha: f64, lr: f64) -> Result<GradNorm, CoreError> {
        if k < 2 {
            return Err(CoreError::invalid("number of tasks K", k, "≥ 2"));
        }
        if !(alpha.is_finite() && alpha >= 0.0) {
            return Err(CoreError::invalid("GradNorm α", alpha, "finite and ≥ 0"));
        }
        if !(lr.is_finite() && lr > 0.0) {
            return Err(CoreError::invalid("GradNorm learning rate", lr, "finite and > 0"));
        }
        Ok(GradNorm { alpha, weights: vec![1.0; k], initial_losses: None, adam: Adam::new(k, lr), step: 0 })
    }

    pub fn initial_losses(&self) -> Option<&[f64]> {
        self.initial_losses.as_deref()
    }
}

impl TaskWeighting for GradNorm {
    fn name(&self) -> &str {
        "gradnorm"
    }

    fn n_tasks(&self) -> usize {
        self.weights.len()
    }

    fn needs(&self) -> Needs {
        Needs::Norms
    }

    fn step(&mut self, obs: &StepInput) -> Result<StepRecord, CoreError> {
        let k = self.weights.len();
        let norms = &required_norms("gradnorm", k, obs)?;
        let step = self.step;
        self.step += 1;
        let used = self.weights.clone();
        let record = |skipped: bool| StepRecord {
            step,
            warmup: false,
            skipped,
            norms: norms.to_vec(),
            raw: used.clone(),
            ema: used.clone(),
            floored: used.clone(),
            weights: used.clone(),
            head_weights: None,
            ratio: norm_ratio(norms),
        };
        if obs.losses.iter().any(|l| !l.is_finite()) {
            return Ok(record(true));
        }
        if let Some(i) = norms.iter().position(|g| !(g.is_finite() && *g >= 0.0)) {
            return Err(CoreError::invalid(
                format!("GradNorm gradient norm g[{i}] at step {step} (the run stops before this update; earlier checkpoints are kept)"),
                norms[i],
                "finite and ≥ 0",
            ));
        }
        let initial = match &self.initial_losses {
            Some(l0) => l0.clone(),
            None => {
                if let Some(i) = obs.losses.iter().position(|l| *l <= 0.0) {
                    return Err(CoreError::invalid(
                        format!("GradNorm initial loss L_{i}(0) (the training rate L(t)/L(0) divides by it)"),
                        obs.losses[i],
                        "> 0",
                    ));
                }
                self.initial_losses = Some(obs.losses.to_vec());
                obs.losses.to_vec()
            }
        };
        let u = gradnorm_update(&self.weights, norms, obs.losses, &initial, self.alpha);
        let mut next = self.weights.clone();
        let mut adam = self.adam.clone();
        adam.update(&mut next, &u.weight_gradient);
        next.iter_mut().for_each(|w| *w = w.max(MIN_WEIGHT));
        let total: f64 = next.iter().sum();
        next.iter_mut().for_each(|w| *w *= k as f64 / total);
        if let Some(i) = next.iter().position(|w| !w.is_finite()) {
            return Err(CoreError::invalid(
                format!("GradNorm weight w[{i}] after step {step} (norms {norms:?}, losses {:?}; the run stops here, earlier checkpoints are kept)", obs.losses),
                next[i],
                "finite",
            ));
        }
        self.weights = next;
        self.adam = adam;
        Ok(record(false))
    }

    fn current_weights(&self) -> Vec<f64> {
        self.weights.clone()
    }

    fn state(&self) -> serde_json::Value {
        serde_json::to_value(Snapshot {
            controller: "gradnorm".into(),
            alpha: self.alpha,
            weights: self.weights.clone(),
            initial_losses: self.initial_losses.clone(),
            adam: self.adam.clone(),
            step: self.step,
        })
        .expect("a GradNorm snapshot is plain numbers and always serialises")
    }

    fn restore(&mut self, v: &serde_json::Value) -> Result<(), CoreError> {
        let fail = |why: String| CoreError::Restore { controller: "gradnorm".into(), why };
        let s: Snapshot = serde_json::from_value(v.clone()).map_err(|e| fail(e.to_string()))?;
        if s.controller != "gradnorm" {
            return Err(fail(format!("the state belongs to controller `{}`", s.controller)));
        }
        let k = self.weights.len();
        let lens_ok = s.weights.len() == k
            && s.adam.m.len() == k
            && s.adam.v.len() == k
            && s.initial_losses.as_ref().is_none_or(|l| l.len() == k);
        if !lens_ok {
            return Err(fail(format!("the state has K = {} tasks, this controller K = {k}", s.weights.len())));
        }
        if let Some(i) = s.weights.iter().position(|w| !(w.is_finite() && *w > 0.0)) {
            return Err(fail(format!("weight w[{i}] = {} is not finite and > 0", s.weights[i])));
        }
        GradNorm::new(k, s.alpha, s.adam.lr).map_err(|e| fail(e.to_string()))?;
        *self = GradNorm {
            alpha: s.alpha,
            weights: s.weights,
            initial_losses: s.initial_losses,
            adam: s.adam,
            step: s.step,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Steps with orthogonal task gradients of these norms (GradNorm reads only the norms).
    fn go(c: &mut GradNorm, norms: &[f64], losses: &[f64]) -> Result<StepRecord, CoreError> {
        c.step(&StepInput { losses, gram: Some(&super::super::orthogonal(norms)) })
    }

    #[test]
    fn two_task_steps_by_hand() {
        let mut c = GradNorm::new(2, 1.5, 0.025).unwrap();
        // Step 0: w = (1, 1), g = (10, 1), L = L(0) = (100, 2): L̃ = (1, 1), r = (1, 1),
        // G = (10, 1), mean G = 5.5 = both targets; sign(G − target) = (+, −) → ∂w = (10, −1).
        // Adam step 1: Δ = −lr·g/(|g| + 1e-8) → w = (1 − 0.025·10/(10 + 1e-8), 1 + 0.025/(1 + 1e-8))
        // = (0.975, 1.025) (Σ = 2 already, renormalising changes ~1e-10).
        let r = go(&mut c, &[10.0, 1.0], &[100.0, 2.0]).unwrap();
        assert_eq!(r.weights, vec![1.0, 1.0], "this step uses the weights before the update");
        assert!((r.ratio - 10.0).abs() < 1e-12);
        let w = c.current_weights();
        assert!((w[0] - 0.975).abs() < 1e-9 && (w[1] - 1.025).abs() < 1e-9, "{w:?}");
        assert_eq!(c.initial_losses(), Some(&[100.0, 2.0][..]));

        // Step 1: L = (100, 0.2): L̃ = (1, 0.1), mean 0.55, r = (1.81818, 0.181818),
        // r^1.5 = (2.451636, 0.0775275); G = (9.75, 1.025), mean G = 5.3875,
        // target = (13.208188, 0.417680): G_0 < target_0, G_1 > target_1 → ∂w = (−10, +1):
        // the task whose loss falls more slowly (RUL) must gain weight.
        let u = gradnorm_update(&w, &[10.0, 1.0], &[100.0, 0.2], &[100.0, 2.0], 1.5);
        assert!((u.targets[0] - 13.208_188_214_6).abs() < 1e-6, "{:?}", u.targets);
        assert!((u.targets[1] - 0.417_679_585_2).abs() < 1e-6);
        assert_eq!(u.weight_gradient, vec![-10.0, 1.0]);
        // Adam step 2: m = 0.9·(1, −0.1) + 0.1·(−10, 1) = (−0.1, 0.01), v = (0.1999, 0.001999);
        // m̂ = m/0.19 = (−0.526316, 0.0526316), √v̂ = (10, 1) →
        // w = (0.975 + 0.025·0.0526316, 1.025 − 0.025·0.0526316) = (0.9763158, 1.0236842).
        let r = go(&mut c, &[10.0, 1.0], &[100.0, 0.2]).unwrap();
        assert!((r.weights[0] - 0.975).abs() < 1e-9);
        let w = c.current_weights();
        assert!((w[0] - 0.976_315_789_6).abs() < 1e-9 && (w[1] - 1.023_684_210_4).abs() < 1e-9, "{w:?}");
        assert!((w.iter().sum::<f64>() - 2.0).abs() < 1e-12);
    }

    #[test]
    fn clamp_and_renormalise_by_hand() {
        // lr = 2: step 0 as above moves w by (−2, +2) → (−1, 3); clamp → (0.001, 3), Σ = 3.001,
        // renormalised to Σ = 2: (0.002/3.001, 6/3.001) = (0.00066644, 1.99933356).
        let mut c = GradNorm::new(2, 1.5, 2.0).unwrap();
        go(&mut c, &[10.0, 1.0], &[100.0, 2.0]).unwrap();
        let w = c.current_weights();
        assert!((w[0] - 0.002 / 3.001).abs() < 1e-9 && (w[1] - 6.0 / 3.001).abs() < 1e-8, "{w:?}");
        assert!(w[0] > 0.0);
    }

    #[test]
    fn divergence_is_skipped_or_stopped_with_a_named_value() {
        let mut c = GradNorm::new(2, 1.5, 0.025).unwrap();
        let r = go(&mut c, &[1.0, 1.0], &[f64::NAN, 1.0]).unwrap();
        assert!(r.skipped && c.initial_losses().is_none(), "non-finite loss: skipped, no L(0) taken");
        let e = go(&mut c, &[f64::INFINITY, 1.0], &[1.0, 1.0]).unwrap_err().to_string();
        assert!(e.contains("g[0]") && e.contains("inf"), "{e}");
        let e = go(&mut c, &[1.0, 1.0], &[0.0, 1.0]).unwrap_err().to_string();
        assert!(e.contains("L_0(0)"), "{e}");
        assert!(matches!(c.step(&StepInput { losses: &[1.0, 1.0], gram: None }), Err(CoreError::MissingGram(_))));
        assert!(GradNorm::new(2, f64::NAN, 0.025).unwrap_err().to_string().contains("α"));
    }

    #[test]
    fn serde_round_trip_is_bit_identical() {
        let mut a = GradNorm::new(3, 1.5, 0.025).unwrap();
        let steps = [
            ([30.0, 0.3, 1.0], [900.0, 1.1, 0.5]),
            ([25.0, 0.4, 0.9], [800.0, 1.0, 0.45]),
            ([20.0, 0.5, 1.1], [600.0, 0.95, 0.5]),
        ];
        for (n, l) in &steps {
            go(&mut a, n, l).unwrap();
        }
        let mut b = GradNorm::new(3, 0.5, 0.1).unwrap();
        b.restore(&serde_json::from_str(&serde_json::to_string(&a.state()).unwrap()).unwrap()).unwrap();
        assert_eq!(a, b);
        for i in 0..30 {
            let (n, l) = &steps[i % 3];
            go(&mut a, n, l).unwrap();
            go(&mut b, n, l).unwrap();
            let bits = |v: Vec<f64>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(a.current_weights()), bits(b.current_weights()));
        }
        assert!(b.restore(&GradNorm::new(2, 1.5, 0.025).unwrap().state()).unwrap_err().to_string().contains("K = 2"));
    }
}
