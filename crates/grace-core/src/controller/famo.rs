//! FAMO, fast adaptive multitask optimisation (Liu et al. 2023; docs/reference.md §4.3): task weights
//! from logits ξ that learn which task's loss falls slowest, from one extra forward per step.
//!
//! The authors' rule (their `famo.py`, as LibMTL runs it), with `min_losses = 0`:
//! - step: `z = softmax(ξ)`, `D_i = L_i + 1e-8`; the model minimises `Σ_i z_i·log D_i / c` with
//!   `c = Σ_j z_j / D_j` held constant, whose gradient is `Σ_i w_i ∇L_i` with
//!   `w_i = (z_i / D_i) / Σ_j (z_j / D_j)` — the weights handed to the trainer (they sum to 1);
//! - after the optimiser step, the same batch's losses L'_i (a forward without gradients):
//!   `δ_i = log(L_i + 1e-8) − log(L'_i + 1e-8)`, the logits' gradient is the softmax Jacobian
//!   applied to δ, `d_j = z_j·(δ_j − Σ_i z_i δ_i)`, and ξ takes one `torch.optim.Adam` step on it
//!   with learning rate `famo_lr` and (coupled, L2) weight decay γ = `famo_gamma`: `d + γ·ξ`.
//!
//! Unusable losses (non-finite or negative) skip: the step keeps the last weights and forgets this
//! step's losses, and an update after it (or with unusable losses after) leaves ξ and Adam as they
//! were. The step counter still advances.

use super::adam::Adam;
use super::rlw::softmax;
use super::{check_task_len, optional_norms, Needs, StepInput, StepRecord, TaskWeighting};
use crate::error::CoreError;
use crate::methods::{Method, Param, ParamDefault, ParamValues, RulLoss};
use serde::{Deserialize, Serialize};

/// The authors' and LibMTL's default.
pub const LR: Param =
    Param { name: "famo_lr", default: ParamDefault::Float(0.025), doc: "Adam learning rate of FAMO's task logits" };

/// LibMTL's default, and the authors' setting for three of their four benchmarks.
pub const GAMMA: Param = Param {
    name: "famo_gamma",
    default: ParamDefault::Float(1e-3),
    doc: "weight decay γ of FAMO's task logits (L2, inside Adam)",
};

pub const METHOD: Method = Method {
    name: "famo",
    description: "plain MSE, FAMO: weights from logits that favour the task whose loss fell least (log scale)",
    citation: "Liu et al. 2023 (docs/reference.md §4.3)",
    rul_loss: RulLoss::Mse,
    needs: Needs::LossesAfterUpdate,
    params: &[LR, GAMMA],
    build,
};

fn build(k: usize, p: &ParamValues) -> Result<Box<dyn TaskWeighting>, CoreError> {
    Ok(Box::new(Famo::new(k, p.float(&LR), p.float(&GAMMA))?))
}

/// Added to each loss before its logarithm or its inverse, as the authors do.
pub const EPS: f64 = 1e-8;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Famo {
    logits: Vec<f64>,
    adam: Adam,
    gamma: f64,
    /// The losses of the last step, until its update after the optimiser step consumes them.
    pending: Option<Vec<f64>>,
    weights: Vec<f64>,
    step: u64,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    controller: String,
    #[serde(flatten)]
    famo: Famo,
}

/// Whether FAMO can take logarithms of these losses.
fn usable(losses: &[f64]) -> bool {
    losses.iter().all(|l| l.is_finite() && *l >= 0.0)
}

/// `w_i = (z_i / D_i) / Σ_j (z_j / D_j)` with `D_i = L_i + ε`: the coefficients of ∇L_i.
pub fn weights_of(z: &[f64], losses: &[f64]) -> Vec<f64> {
    let q: Vec<f64> = z.iter().zip(losses).map(|(z, l)| z / (l + EPS)).collect();
    let total: f64 = q.iter().sum();
    q.iter().map(|x| x / total).collect()
}

/// The logits' gradient `d_j = z_j·(δ_j − Σ_i z_i δ_i)`, `δ_i = log(L_i + ε) − log(L'_i + ε)`.
pub fn logit_gradient(z: &[f64], before: &[f64], after: &[f64]) -> Vec<f64> {
    let delta: Vec<f64> = before.iter().zip(after).map(|(b, a)| (b + EPS).ln() - (a + EPS).ln()).collect();
    let mean: f64 = z.iter().zip(&delta).map(|(z, d)| z * d).sum();
    z.iter().zip(&delta).map(|(z, d)| z * (d - mean)).collect()
}

impl Famo {
    /// K tasks, logits 0 (z uniform), Adam with learning rate `lr`, weight decay `gamma`.
    pub fn new(k: usize, lr: f64, gamma: f64) -> Result<Famo, CoreError> {
        if k < 2 {
            return Err(CoreError::invalid("number of tasks K", k, "≥ 2"));
        }
        Famo::check(lr, gamma)?;
        let uniform = vec![1.0 / k as f64; k];
        Ok(Famo { logits: vec![0.0; k], adam: Adam::new(k, lr), gamma, pending: None, weights: uniform, step: 0 })
    }

    fn check(lr: f64, gamma: f64) -> Result<(), CoreError> {
        if !(lr.is_finite() && lr > 0.0) {
            return Err(CoreError::invalid("FAMO learning rate", lr, "finite and > 0"));
        }
        if !(gamma.is_finite() && gamma >= 0.0) {
            return Err(CoreError::invalid("FAMO weight decay γ", gamma, "finite and ≥ 0"));
        }
        Ok(())
    }

    pub fn logits(&self) -> &[f64] {
        &self.logits
    }
}

impl TaskWeighting for Famo {
    fn name(&self) -> &str {
        "famo"
    }

    fn n_tasks(&self) -> usize {
        self.logits.len()
    }

    fn needs(&self) -> Needs {
        Needs::LossesAfterUpdate
    }

    fn step(&mut self, obs: &StepInput) -> Result<StepRecord, CoreError> {
        let norms = optional_norms(self.logits.len(), obs)?;
        let step = self.step;
        self.step += 1;
        let z = softmax(&self.logits);
        let ok = usable(obs.losses);
        self.pending = ok.then(|| obs.losses.to_vec());
        if ok {
            self.weights = weights_of(&z, obs.losses);
        }
        let mut record = StepRecord::single_stage(step, false, !ok, &norms, self.weights.clone());
        // the raw column shows the softmax of the logits, before the losses rescale it
        record.raw = z;
        Ok(record)
    }

    fn after_update(&mut self, losses_after: &[f64]) -> Result<(), CoreError> {
        check_task_len("per-task losses after the update", self.logits.len(), losses_after)?;
        let Some(before) = self.pending.take() else { return Ok(()) };
        if !usable(losses_after) {
            return Ok(());
        }
        let z = softmax(&self.logits);
        let grad: Vec<f64> = logit_gradient(&z, &before, losses_after)
            .iter()
            .zip(&self.logits)
            .map(|(d, x)| d + self.gamma * x)
            .collect();
        let mut next = self.logits.clone();
        self.adam.update(&mut next, &grad);
        if let Some(i) = next.iter().position(|x| !x.is_finite()) {
            return Err(CoreError::invalid(format!("FAMO logit ξ[{i}] after step {}", self.step), next[i], "finite"));
        }
        self.logits = next;
        Ok(())
    }

    fn current_weights(&self) -> Vec<f64> {
        self.weights.clone()
    }

    fn state(&self) -> serde_json::Value {
        serde_json::to_value(Snapshot { controller: "famo".into(), famo: self.clone() })
            .expect("a FAMO snapshot is plain numbers and always serialises")
    }

    fn restore(&mut self, v: &serde_json::Value) -> Result<(), CoreError> {
        let fail = |why: String| CoreError::Restore { controller: "famo".into(), why };
        let s: Snapshot = serde_json::from_value(v.clone()).map_err(|e| fail(e.to_string()))?;
        if s.controller != "famo" {
            return Err(fail(format!("the state belongs to controller `{}`", s.controller)));
        }
        let f = s.famo;
        let k = self.logits.len();
        for (what, xs) in [("logits", &f.logits), ("weights", &f.weights), ("Adam m", &f.adam.m), ("Adam v", &f.adam.v)]
        {
            check_task_len(what, k, xs).map_err(|e| fail(e.to_string()))?;
            if let Some(i) = xs.iter().position(|x| !x.is_finite()) {
                return Err(fail(format!("{what}[{i}] is {}", xs[i])));
            }
        }
        Famo::check(f.adam.lr, f.gamma).map_err(|e| fail(e.to_string()))?;
        *self = f;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn losses(l: &[f64]) -> StepInput<'_> {
        StepInput { losses: l, gram: None }
    }

    fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
    }

    #[test]
    fn two_steps_by_hand() {
        let mut f = Famo::new(2, 0.025, 1e-3).unwrap();
        // Step 1: ξ = 0, z = (½, ½), L = (4, 1): z/D = (0.125, 0.5) → w = (0.2, 0.8)
        let r = f.step(&losses(&[4.0, 1.0])).unwrap();
        assert!(close(&r.weights, &[0.2, 0.8], 1e-8), "{:?}", r.weights);
        assert_eq!(r.raw, vec![0.5, 0.5]);
        // After the update L' = (2, 1): δ = (ln 2, 0), Σ z δ = ln2/2, d = (ln2/4, −ln2/4); γ·ξ = 0.
        // Adam's first step moves each logit by lr·d/(|d| + 1e-8): ξ = ∓0.025·(1 − 1e-8/(ln2/4)) =
        // ∓0.024999998557305.
        f.after_update(&[2.0, 1.0]).unwrap();
        assert!(close(f.logits(), &[-0.024_999_998_557_305, 0.024_999_998_557_305], 1e-15), "{:?}", f.logits());
        // Step 2: z = softmax(ξ) = (0.487502604236687, 0.512497395763313); L = (2, 1):
        // z/D = (0.243751302, 0.512497396) → w_0 = 0.243751302/0.756248698 = 0.322316327455573
        let r = f.step(&losses(&[2.0, 1.0])).unwrap();
        assert!(close(&r.raw, &[0.487_502_604_236_687, 0.512_497_395_763_313], 1e-14), "{:?}", r.raw);
        assert!(close(&r.weights, &[0.322_316_327_455_573, 0.677_683_672_544_427], 1e-14), "{:?}", r.weights);
        // After the update L' = (2, 0.5): δ = (0, ln 2), Σ z δ = z_1 ln2, d = (−z_0 z_1 ln2, z_0 z_1 ln2)
        // = ∓0.173178…; with γ·ξ: g_0 = −0.173178… − 1e-3·0.025 = −0.173203…
        // Adam step 2: m = 0.9·(0.1·d_1) + 0.1·g, v = 0.999·(0.001·d_1²) + 0.001·g² with d_1 = ln2/4,
        // ξ_0 −= 0.025·(m/0.19)/(√(v/(1 − 0.999²)) + 1e-8): m = 0.015596… − 0.017320… = −0.0017245…,
        // so the logit moves back by only 0.00131: ξ_0 = −0.023690216494333. (The same numbers
        // come out of the authors' PyTorch code in float64.)
        f.after_update(&[2.0, 0.5]).unwrap();
        assert!((f.logits()[0] - -0.023_690_216_494_333).abs() < 1e-14, "{}", f.logits()[0]);
        assert!((f.logits()[0] + f.logits()[1]).abs() < 1e-12, "K = 2 keeps the logits opposite");
    }

    #[test]
    fn the_weights_give_the_gradient_of_the_authors_loss() {
        // ∂/∂L_i of Σ z_j log(L_j + ε)/c at fixed c is z_i/(c·D_i) = w_i; check by finite differences.
        let z = softmax(&[0.3, -0.1, 0.5]);
        let l = [3.0, 0.5, 1.2];
        let q: f64 = z.iter().zip(&l).map(|(z, l)| z / (l + EPS)).sum();
        let loss = |l: &[f64]| z.iter().zip(l).map(|(z, l)| z * (l + EPS).ln()).sum::<f64>() / q;
        let w = weights_of(&z, &l);
        for i in 0..3 {
            let mut up = l;
            up[i] += 1e-6;
            let mut down = l;
            down[i] -= 1e-6;
            assert!(((loss(&up) - loss(&down)) / 2e-6 - w[i]).abs() < 1e-8);
        }
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-15);
    }

    #[test]
    fn equal_progress_and_zero_losses_are_safe() {
        // The softmax Jacobian removes what all tasks share: Σ_j d_j = 0 whatever the progress.
        let z = softmax(&[0.2, -0.4, 0.1]);
        let d = logit_gradient(&z, &[4.0, 2.0, 1.0], &[3.0, 1.9, 0.2]);
        assert!(d.iter().sum::<f64>().abs() < 1e-15, "{d:?}");
        // No progress at all: δ = 0, d = 0, and with ξ = 0 the decay adds nothing, so ξ stays 0.
        let mut f = Famo::new(3, 0.025, 1e-3).unwrap();
        f.step(&losses(&[4.0, 2.0, 1.0])).unwrap();
        f.after_update(&[4.0, 2.0, 1.0]).unwrap();
        assert_eq!(f.logits(), &[0.0; 3]);
        // a zero loss: D = ε, w → (≈0, ≈1) but finite; a loss reaching 0 after the update is finite too
        let mut g = Famo::new(2, 0.025, 1e-3).unwrap();
        let r = g.step(&losses(&[1.0, 0.0])).unwrap();
        assert!(r.weights.iter().all(|w| w.is_finite()) && r.weights[1] > 0.999_999);
        g.after_update(&[0.0, 0.0]).unwrap();
        assert!(g.logits().iter().all(|x| x.is_finite()));
    }

    #[test]
    fn unusable_losses_skip_without_touching_state() {
        let mut f = Famo::new(2, 0.025, 1e-3).unwrap();
        f.step(&losses(&[4.0, 1.0])).unwrap();
        f.after_update(&[2.0, 1.0]).unwrap();
        let before = f.clone();
        for bad in [[f64::NAN, 1.0], [1.0, f64::INFINITY], [-1.0, 1.0]] {
            let r = f.step(&losses(&bad)).unwrap();
            assert!(r.skipped && r.weights == before.weights);
            f.after_update(&[1.0, 1.0]).unwrap();
            assert_eq!((f.logits(), &f.adam), (before.logits(), &before.adam), "no update after a skipped step");
        }
        f.step(&losses(&[1.0, 1.0])).unwrap();
        f.after_update(&[f64::NAN, 1.0]).unwrap();
        assert_eq!(f.logits(), before.logits(), "unusable losses after the update change nothing");
        assert_eq!(f.step, 5, "the counter still advances");
        assert!(f.after_update(&[1.0]).is_err());
    }

    #[test]
    fn state_round_trips_and_rejects_foreign_state() {
        let mut a = Famo::new(3, 0.025, 1e-3).unwrap();
        let seq = [[3.0, 1.0, 0.5], [2.5, 0.9, 0.45], [2.4, 0.7, 0.44]];
        for w in seq.windows(2) {
            a.step(&losses(&w[0])).unwrap();
            a.after_update(&w[1]).unwrap();
        }
        a.step(&losses(&seq[2])).unwrap(); // pending losses are part of the state
        let text = serde_json::to_string(&a.state()).unwrap();
        let mut b = Famo::new(3, 0.5, 0.0).unwrap();
        b.restore(&serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(b, a);
        for _ in 0..5 {
            a.after_update(&[2.0, 0.6, 0.4]).unwrap();
            b.after_update(&[2.0, 0.6, 0.4]).unwrap();
            let bits = |f: &Famo| f.logits.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b));
            a.step(&losses(&[2.0, 0.6, 0.4])).unwrap();
            b.step(&losses(&[2.0, 0.6, 0.4])).unwrap();
        }
        let mut two = Famo::new(2, 0.025, 1e-3).unwrap();
        assert!(two.restore(&a.state()).is_err());
        let mut bad = two.state();
        bad["gamma"] = serde_json::json!(-1.0);
        assert!(two.restore(&bad).is_err());
        assert!(Famo::new(2, 0.0, 1e-3).is_err() && Famo::new(1, 0.025, 0.0).is_err());
    }
}
