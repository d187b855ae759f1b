//! Random loss weighting (Lin et al. 2022; docs/reference.md §4.3): each step's task weights are the
//! softmax of K fresh standard-normal draws, `λ = softmax(n)`, `n_i ~ N(0, 1)` — one backward pass.
//!
//! The draws are a pure function of `(rlw_seed, step)` (SplitMix64 and Box–Muller), so the whole
//! generator state is the step counter a checkpoint holds, and a resumed run redraws the same
//! weights. Non-finite losses skip the step: the weights of the last usable step stay, nothing
//! else changes, and the counter still advances so later draws do not shift.

use super::pcgrad::splitmix64;
use super::{check_task_len, optional_norms, Needs, StepInput, StepRecord, TaskWeighting};
use crate::error::CoreError;
use crate::methods::{Method, Param, ParamDefault, ParamValues, RulLoss};
use serde::{Deserialize, Serialize};

pub const SEED: Param =
    Param { name: "rlw_seed", default: ParamDefault::Int(0), doc: "seed of RLW's per-step random weights" };

pub const METHOD: Method = Method {
    name: "rlw",
    description: "plain MSE, random loss weighting: λ = softmax of K standard-normal draws, new each step",
    citation: "Lin et al. 2022 (docs/reference.md §4.3)",
    rul_loss: RulLoss::Mse,
    needs: Needs::Nothing,
    params: &[SEED],
    build,
};

fn build(k: usize, p: &ParamValues) -> Result<Box<dyn TaskWeighting>, CoreError> {
    Ok(Box::new(Rlw::new(k, p.int(&SEED))?))
}

/// K standard-normal draws of training step `step`: Box–Muller on pairs of SplitMix64 uniforms.
pub fn standard_normals(seed: u64, step: u64, k: usize) -> Vec<f64> {
    let mut state = seed ^ step.wrapping_mul(0x9E6C_63D0_676A_9A99);
    let mut uniform = || (splitmix64(&mut state) >> 11) as f64 / (1u64 << 53) as f64;
    (0..k)
        .map(|_| {
            // 1 − u ∈ (0, 1], so the logarithm is finite
            let (u1, u2) = (1.0 - uniform(), uniform());
            (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        })
        .collect()
}

/// `softmax(x)_i = e^{x_i − max x} / Σ_j e^{x_j − max x}` (shifted, so no term overflows).
pub fn softmax(x: &[f64]) -> Vec<f64> {
    let max = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| (v - max).exp()).collect();
    let total: f64 = e.iter().sum();
    e.iter().map(|v| v / total).collect()
}

/// RLW's weights at training step `step`.
pub fn weights(seed: u64, step: u64, k: usize) -> Vec<f64> {
    softmax(&standard_normals(seed, step, k))
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rlw {
    seed: u64,
    weights: Vec<f64>,
    step: u64,
}

/// The serialised form; `controller` guards against restoring another method's state.
#[derive(Serialize, Deserialize)]
struct Snapshot {
    controller: String,
    seed: u64,
    weights: Vec<f64>,
    step: u64,
}

impl Rlw {
    /// K tasks, step 0; until the first step the weights are uniform 1/K.
    pub fn new(k: usize, seed: u64) -> Result<Rlw, CoreError> {
        if k < 2 {
            return Err(CoreError::invalid("number of tasks K", k, "≥ 2"));
        }
        Ok(Rlw { seed, weights: vec![1.0 / k as f64; k], step: 0 })
    }

    pub fn step_count(&self) -> u64 {
        self.step
    }
}

impl TaskWeighting for Rlw {
    fn name(&self) -> &str {
        "rlw"
    }

    fn n_tasks(&self) -> usize {
        self.weights.len()
    }

    fn needs(&self) -> Needs {
        Needs::Nothing
    }

    fn step(&mut self, obs: &StepInput) -> Result<StepRecord, CoreError> {
        let k = self.weights.len();
        let norms = optional_norms(k, obs)?;
        let step = self.step;
        let usable = obs.losses.iter().all(|l| l.is_finite());
        if usable {
            self.weights = weights(self.seed, step, k);
        }
        self.step += 1;
        Ok(StepRecord::single_stage(step, false, !usable, &norms, self.weights.clone()))
    }

    fn current_weights(&self) -> Vec<f64> {
        self.weights.clone()
    }

    fn state(&self) -> serde_json::Value {
        serde_json::to_value(Snapshot {
            controller: "rlw".into(),
            seed: self.seed,
            weights: self.weights.clone(),
            step: self.step,
        })
        .expect("an RLW snapshot is plain numbers and always serialises")
    }

    fn restore(&mut self, v: &serde_json::Value) -> Result<(), CoreError> {
        let fail = |why: String| CoreError::Restore { controller: "rlw".into(), why };
        let s: Snapshot = serde_json::from_value(v.clone()).map_err(|e| fail(e.to_string()))?;
        if s.controller != "rlw" {
            return Err(fail(format!("the state belongs to controller `{}`", s.controller)));
        }
        check_task_len("RLW weights", self.weights.len(), &s.weights).map_err(|e| fail(e.to_string()))?;
        if let Some(i) = s.weights.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(fail(format!("weight {i} is {}", s.weights[i])));
        }
        *self = Rlw { seed: s.seed, weights: s.weights, step: s.step };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn losses(l: &[f64]) -> StepInput<'_> {
        StepInput { losses: l, gram: None }
    }

    #[test]
    fn softmax_by_hand() {
        // n = (0.3, −0.2): λ_0 = 1/(1 + e^{−0.5}) = 0.622459331201855, λ_1 = 0.377540668798145
        let w = softmax(&[0.3, -0.2]);
        assert!((w[0] - 0.622_459_331_201_855).abs() < 1e-15 && (w[1] - 0.377_540_668_798_145).abs() < 1e-15);
        // K = 3, n = (0, ln 2, ln 3): e^n = (1, 2, 3) → (1/6, 1/3, 1/2)
        let w3 = softmax(&[0.0, 2f64.ln(), 3f64.ln()]);
        for (a, b) in w3.iter().zip([1.0 / 6.0, 1.0 / 3.0, 0.5]) {
            assert!((a - b).abs() < 1e-15, "{w3:?}");
        }
        // large draws do not overflow
        assert_eq!(softmax(&[1000.0, 0.0]), vec![1.0, 0.0]);
    }

    #[test]
    fn two_steps_by_hand() {
        // Each step's weights are the softmax of that step's draws; the first two steps of seed 7:
        let mut c = Rlw::new(2, 7).unwrap();
        assert_eq!(c.current_weights(), vec![0.5, 0.5]);
        for step in 0..2 {
            let n = standard_normals(7, step, 2);
            let r = c.step(&losses(&[3.0, 1.0])).unwrap();
            let want0 = 1.0 / (1.0 + (n[1] - n[0]).exp());
            assert!((r.weights[0] - want0).abs() < 1e-15 && (r.weights[0] + r.weights[1] - 1.0).abs() < 1e-15);
            assert_eq!((r.step, r.skipped, r.head_weights.clone()), (step, false, None));
        }
        // pinned draws (SplitMix64 + Box–Muller as documented, recomputed by an independent Python
        // version of the same generator), so a change of generator is seen: step 0 gives
        // n = (0.98847…, −1.86426…) → λ = (0.945460, 0.054540)
        let n0 = standard_normals(7, 0, 2);
        let n1 = standard_normals(7, 1, 2);
        let pin = |n: &[f64], want: [f64; 2]| n.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12);
        assert!(pin(&n0, [0.988_474_332_318_735_3, -1.864_255_806_731_227_4]), "{n0:?}");
        assert!(pin(&n1, [0.261_187_142_411_434_65, -1.084_570_843_032_022_7]), "{n1:?}");
        assert!((weights(7, 0, 2)[0] - 0.945_459_635_685_371_7).abs() < 1e-12);
        assert_eq!(standard_normals(7, 1, 2), n1, "a pure function of (seed, step)");
        assert_ne!(standard_normals(8, 1, 2), n1);
    }

    #[test]
    fn draws_are_standard_normal() {
        // 20 000 draws: mean within 5 standard errors of 0 (5/√20000 = 0.035), variance within 0.05 of 1
        let xs: Vec<f64> = (0..10_000).flat_map(|s| standard_normals(1, s, 2)).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(mean.abs() < 0.035, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "variance {var}");
        assert!(xs.iter().all(|x| x.is_finite()));
        // the weights are a distribution: positive, summing to 1, and K = 3 works
        for s in 0..100 {
            let w = weights(3, s, 3);
            assert!(w.iter().all(|x| *x > 0.0) && (w.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{w:?}");
        }
    }

    #[test]
    fn nan_losses_skip_and_the_draws_do_not_shift() {
        let mut c = Rlw::new(2, 0).unwrap();
        let first = c.step(&losses(&[1.0, 1.0])).unwrap().weights;
        let r = c.step(&losses(&[f64::NAN, 1.0])).unwrap();
        assert!(r.skipped);
        assert_eq!(r.weights, first, "the last usable weights stay");
        let third = c.step(&losses(&[1.0, f64::INFINITY])).unwrap();
        assert!(third.skipped && third.weights == first);
        // step 3 draws what step 3 of an uninterrupted run draws
        assert_eq!(c.step(&losses(&[1.0, 1.0])).unwrap().weights, weights(0, 3, 2));
        assert_eq!(c.step_count(), 4);
    }

    #[test]
    fn state_round_trips_and_rejects_foreign_state() {
        let mut a = Rlw::new(3, 5).unwrap();
        for _ in 0..4 {
            a.step(&losses(&[1.0; 3])).unwrap();
        }
        let text = serde_json::to_string(&a.state()).unwrap();
        let mut b = Rlw::new(3, 0).unwrap();
        b.restore(&serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(b, a);
        for _ in 0..5 {
            assert_eq!(a.step(&losses(&[1.0; 3])).unwrap().weights, b.step(&losses(&[1.0; 3])).unwrap().weights);
        }
        let mut two = Rlw::new(2, 5).unwrap();
        assert!(two.restore(&a.state()).unwrap_err().to_string().contains("RLW weights"));
        let mut bad = two.state();
        bad["controller"] = serde_json::json!("gaba");
        assert!(two.restore(&bad).is_err());
        assert!(Rlw::new(1, 0).is_err());
        assert!(two.step(&losses(&[1.0])).is_err());
    }
}
