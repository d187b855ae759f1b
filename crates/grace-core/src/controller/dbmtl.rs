//! DB-MTL, dual-balancing multi-task learning (Lin et al. 2023; docs/reference.md §4.3): log-scaled
//! losses, and each task's moving-average gradient scaled up to the largest one's norm.
//!
//! The authors' rule (LibMTL's `DB_MTL`), at training step t = 1, 2, …:
//! - loss balance: each task backpropagates `log(L_i + 1e-8)`, so its gradient is
//!   `g_i = ∇L_i / (L_i + 1e-8)` — on the shared parameters and on its own head;
//! - a memory of each task's shared gradient: `m_i ← β_t·m_i + (1 − β_t)·g_i` with
//!   `β_t = β / t^σ` (β = `dbmtl_beta` = 0.9, σ = `dbmtl_beta_sigma` = 0; m_i starts at 0, no
//!   bias correction);
//! - gradient balance: `α_i = max_j ‖m_j‖ / (‖m_i‖ + 1e-8)` and the shared gradient is `Σ_i α_i m_i`.
//!
//! This controller holds the scalar side (t, β, σ, α); the trainer keeps the memories on the device
//! ([`MemoryUpdate`]: `mix = β_t`, `scales_i = 1/(L_i + 1e-8)`) and hands over their Gram matrix.
//! Logged weights are α (the coefficients of the memories); the heads' weights are the scales.
//!
//! Unusable input (non-finite or negative losses, a non-finite Gram) skips the step: the memories
//! are not updated, α stays that of the last usable step, and the counter t still advances.

use super::{check_task_len, Gram, MemoryUpdate, Needs, StepInput, StepRecord, TaskWeighting};
use crate::error::CoreError;
use crate::methods::{Method, Param, ParamDefault, ParamValues, RulLoss};
use serde::{Deserialize, Serialize};

pub const BETA: Param = Param {
    name: "dbmtl_beta",
    default: ParamDefault::Float(0.9),
    doc: "DB-MTL moving-average factor β of the task gradients, in [0, 1)",
};

pub const BETA_SIGMA: Param = Param {
    name: "dbmtl_beta_sigma",
    default: ParamDefault::Float(0.0),
    doc: "DB-MTL decay σ of the factor over steps, β_t = β / t^σ (0 = constant)",
};

pub const METHOD: Method = Method {
    name: "dbmtl",
    description: "plain MSE, DB-MTL: log losses, each task's averaged gradient scaled to the largest norm",
    citation: "Lin et al. 2023 (docs/reference.md §4.3)",
    rul_loss: RulLoss::Mse,
    needs: Needs::GradientVectors,
    params: &[BETA, BETA_SIGMA],
    build,
};

fn build(k: usize, p: &ParamValues) -> Result<Box<dyn TaskWeighting>, CoreError> {
    Ok(Box::new(DbMtl::new(k, DbMtlConfig { beta: p.float(&BETA), beta_sigma: p.float(&BETA_SIGMA) })?))
}

/// Added to each loss inside the logarithm and to each norm in α, as the authors do.
pub const EPS: f64 = 1e-8;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DbMtlConfig {
    pub beta: f64,
    pub beta_sigma: f64,
}

impl DbMtlConfig {
    fn validate(&self) -> Result<(), CoreError> {
        if !(self.beta.is_finite() && (0.0..1.0).contains(&self.beta)) {
            return Err(CoreError::invalid("DB-MTL β", self.beta, "in [0, 1)"));
        }
        if !(self.beta_sigma.is_finite() && self.beta_sigma >= 0.0) {
            return Err(CoreError::invalid("DB-MTL σ", self.beta_sigma, "finite and ≥ 0"));
        }
        Ok(())
    }

    /// `β_t = β / t^σ` at training step t ≥ 1.
    pub fn mix(&self, t: u64) -> f64 {
        self.beta / (t.max(1) as f64).powf(self.beta_sigma)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DbMtl {
    config: DbMtlConfig,
    /// α of the last usable step (1 each before any).
    weights: Vec<f64>,
    /// The last usable step's loss scales, the heads' weights (1 each before any).
    scales: Vec<f64>,
    step: u64,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    controller: String,
    #[serde(flatten)]
    dbmtl: DbMtl,
}

/// `1/(L_i + ε)`: the factor a log transform puts on each task's gradient; `None` for unusable losses.
pub fn loss_scales(losses: &[f64]) -> Option<Vec<f64>> {
    losses.iter().all(|l| l.is_finite() && *l >= 0.0).then(|| losses.iter().map(|l| 1.0 / (l + EPS)).collect())
}

/// `α_i = max_j u_j / (u_i + ε)` for the memories' norms u.
pub fn balance(norms: &[f64]) -> Vec<f64> {
    let max = norms.iter().cloned().fold(0.0, f64::max);
    norms.iter().map(|u| max / (u + EPS)).collect()
}

/// The trainer's memory update in f64, for tests and small problems: `m_i ← mix·m_i + (1 − mix)·s_i·g_i`.
pub fn update_memories(memories: &mut [Vec<f64>], grads: &[Vec<f64>], update: &MemoryUpdate) {
    for ((m, g), s) in memories.iter_mut().zip(grads).zip(&update.scales) {
        for (mj, gj) in m.iter_mut().zip(g) {
            *mj = update.mix * *mj + (1.0 - update.mix) * s * gj;
        }
    }
}

impl DbMtl {
    pub fn new(k: usize, config: DbMtlConfig) -> Result<DbMtl, CoreError> {
        if k < 2 {
            return Err(CoreError::invalid("number of tasks K", k, "≥ 2"));
        }
        config.validate()?;
        Ok(DbMtl { config, weights: vec![1.0; k], scales: vec![1.0; k], step: 0 })
    }

    pub fn step_count(&self) -> u64 {
        self.step
    }

    fn gram_of_memories<'a>(&self, obs: &StepInput<'a>) -> Result<&'a Gram, CoreError> {
        let k = self.weights.len();
        check_task_len("per-task losses", k, obs.losses)?;
        let gram = obs.gram.ok_or_else(|| CoreError::MissingGram("dbmtl".into()))?;
        if gram.k() != k {
            return Err(CoreError::length("Gram matrix tasks", k, gram.k()));
        }
        Ok(gram)
    }
}

impl TaskWeighting for DbMtl {
    fn name(&self) -> &str {
        "dbmtl"
    }

    fn n_tasks(&self) -> usize {
        self.weights.len()
    }

    fn needs(&self) -> Needs {
        Needs::GradientVectors
    }

    fn memory_update(&self, losses: &[f64]) -> Option<MemoryUpdate> {
        let scales = loss_scales(losses).filter(|s| s.len() == self.weights.len())?;
        Some(MemoryUpdate { mix: self.config.mix(self.step + 1), scales })
    }

    fn step(&mut self, obs: &StepInput) -> Result<StepRecord, CoreError> {
        let gram = self.gram_of_memories(obs)?;
        let scales = loss_scales(obs.losses);
        let usable = scales.is_some() && gram.as_slice().iter().all(|x| x.is_finite());
        let norms = gram.norms();
        if let (true, Some(s)) = (usable, scales) {
            self.weights = balance(&norms);
            self.scales = s;
        }
        let step = self.step;
        self.step += 1;
        let mut record = StepRecord::single_stage(step, false, !usable, &norms, self.weights.clone());
        record.head_weights = Some(self.scales.clone());
        Ok(record)
    }

    fn current_weights(&self) -> Vec<f64> {
        self.weights.clone()
    }

    fn state(&self) -> serde_json::Value {
        serde_json::to_value(Snapshot { controller: "dbmtl".into(), dbmtl: self.clone() })
            .expect("a DB-MTL snapshot is plain numbers and always serialises")
    }

    fn restore(&mut self, v: &serde_json::Value) -> Result<(), CoreError> {
        let fail = |why: String| CoreError::Restore { controller: "dbmtl".into(), why };
        let s: Snapshot = serde_json::from_value(v.clone()).map_err(|e| fail(e.to_string()))?;
        if s.controller != "dbmtl" {
            return Err(fail(format!("the state belongs to controller `{}`", s.controller)));
        }
        let d = s.dbmtl;
        for (what, xs) in [("weights", &d.weights), ("scales", &d.scales)] {
            check_task_len(what, self.weights.len(), xs).map_err(|e| fail(e.to_string()))?;
            if let Some(i) = xs.iter().position(|x| !(x.is_finite() && *x >= 0.0)) {
                return Err(fail(format!("{what}[{i}] is {}", xs[i])));
            }
        }
        d.config.validate().map_err(|e| fail(e.to_string()))?;
        *self = d;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol * (1.0 + y.abs()))
    }

    fn gram_of(vs: &[Vec<f64>]) -> Gram {
        let k = vs.len();
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        Gram::new(k, (0..k * k).map(|n| dot(&vs[n / k], &vs[n % k])).collect()).unwrap()
    }

    /// One step as the trainer runs it; returns the shared gradient `Σ α_i m_i` and the record.
    fn step(c: &mut DbMtl, mem: &mut Vec<Vec<f64>>, grads: &[Vec<f64>], losses: &[f64]) -> (Vec<f64>, StepRecord) {
        let mut next = mem.clone();
        if let Some(u) = c.memory_update(losses) {
            update_memories(&mut next, grads, &u);
        }
        let r = c.step(&StepInput { losses, gram: Some(&gram_of(&next)) }).unwrap();
        if !r.skipped {
            *mem = next;
        }
        let mut shared = vec![0.0; mem[0].len()];
        for (m, a) in mem.iter().zip(&r.weights) {
            for (s, x) in shared.iter_mut().zip(m) {
                *s += a * x;
            }
        }
        (shared, r)
    }

    fn defaults() -> DbMtl {
        DbMtl::new(2, DbMtlConfig { beta: 0.9, beta_sigma: 0.0 }).unwrap()
    }

    #[test]
    fn two_steps_by_hand() {
        let mut c = defaults();
        let mut mem = vec![vec![0.0; 2]; 2];
        // Step 1: L = (4, 1), ∇L_0 = (8, 0), ∇L_1 = (0, 1) → g = (2, 0) and (0, 1) (up to 1e-8 relative).
        // m = 0.1·g = (0.2, 0) and (0, 0.1); α = (0.2/0.2, 0.2/0.1) = (1, 2); shared = (0.2, 0.2).
        let (shared, r) = step(&mut c, &mut mem, &[vec![8.0, 0.0], vec![0.0, 1.0]], &[4.0, 1.0]);
        assert!(close(&r.weights, &[1.0, 2.0], 1e-7), "{:?}", r.weights);
        assert!(close(&shared, &[0.2, 0.2], 1e-7), "{shared:?}");
        assert!(close(r.head_weights.as_ref().unwrap(), &[0.25, 1.0], 1e-7));
        assert!(close(&r.norms, &[0.2, 0.1], 1e-7) && !r.skipped && r.step == 0);
        // Step 2: L = (2, 1), ∇L_0 = (2, 2), ∇L_1 = (0, −1) → g = (1, 1) and (0, −1).
        // m_0 = 0.9·(0.2, 0) + 0.1·(1, 1) = (0.28, 0.1), m_1 = 0.9·(0, 0.1) + 0.1·(0, −1) = (0, −0.01);
        // ‖m_0‖ = √0.0884 = 0.297321…, ‖m_1‖ = 0.01 → α = (1, 29.7321…);
        // shared = (0.28, 0.1) + 29.7321·(0, −0.01) = (0.28, −0.197321…)
        let (shared, r) = step(&mut c, &mut mem, &[vec![2.0, 2.0], vec![0.0, -1.0]], &[2.0, 1.0]);
        let u0 = 0.0884f64.sqrt();
        assert!(close(&mem[0], &[0.28, 0.1], 1e-7) && close(&mem[1], &[0.0, -0.01], 1e-7), "{mem:?}");
        assert!(close(&r.weights, &[1.0, u0 / 0.01], 1e-5), "{:?}", r.weights);
        assert!(close(&shared, &[0.28, 0.1 - u0], 1e-6), "{shared:?}");
        assert!((shared[1] - -0.197_321_3).abs() < 1e-6);
        assert_eq!(c.step_count(), 2);
    }

    #[test]
    fn the_factor_decays_with_sigma() {
        let cfg = DbMtlConfig { beta: 0.9, beta_sigma: 0.5 };
        assert_eq!((cfg.mix(1), cfg.mix(4)), (0.9, 0.45));
        let c = DbMtl::new(3, cfg).unwrap();
        // the first update uses t = 1: m = (1 − 0.9)·g
        let u = c.memory_update(&[1.0, 0.0, 3.0]).unwrap();
        assert_eq!(u.mix, 0.9);
        assert!(close(&u.scales, &[1.0, 1e8, 1.0 / 3.0], 1e-7), "a zero loss scales by 1/ε, finite");
        assert!(c.memory_update(&[1.0, f64::NAN, 1.0]).is_none());
        assert!(c.memory_update(&[1.0, -1.0, 1.0]).is_none());
        assert!(c.memory_update(&[1.0, 1.0]).is_none(), "wrong length: no update");
    }

    #[test]
    fn degenerate_gradients_never_divide_by_zero() {
        let grads = |a: [f64; 2], b: [f64; 2]| vec![a.to_vec(), b.to_vec()];
        // a zero gradient for one task: its memory stays 0, α_1 = 0.1/1e-8 is large but finite,
        // and the shared gradient is the other task's memory alone
        let (mut c, mut mem) = (defaults(), vec![vec![0.0; 2]; 2]);
        let (shared, r) = step(&mut c, &mut mem, &grads([1.0, 0.0], [0.0, 0.0]), &[1.0, 1.0]);
        assert!(r.weights.iter().all(|w| w.is_finite()) && close(&shared, &[0.1, 0.0], 1e-7), "{shared:?}");
        // every gradient zero: α = 0/ε = 0, shared = 0
        let (mut c, mut mem) = (defaults(), vec![vec![0.0; 2]; 2]);
        let (shared, r) = step(&mut c, &mut mem, &grads([0.0, 0.0], [0.0, 0.0]), &[1.0, 1.0]);
        assert_eq!((shared, r.weights), (vec![0.0, 0.0], vec![0.0, 0.0]));
        // identical (log-scaled) gradients: α = (1, 1) up to ε, shared = 2m
        let (mut c, mut mem) = (defaults(), vec![vec![0.0; 2]; 2]);
        let (shared, _) = step(&mut c, &mut mem, &grads([2.0, 4.0], [1.0, 2.0]), &[2.0, 1.0]);
        assert!(close(&shared, &[0.2, 0.4], 1e-7), "{shared:?}");
        // exactly opposite directions, different norms: scaled to equal norms they cancel
        let (mut c, mut mem) = (defaults(), vec![vec![0.0; 2]; 2]);
        let (shared, r) = step(&mut c, &mut mem, &grads([3.0, 4.0], [-0.3, -0.4]), &[1.0, 1.0]);
        assert!(close(&r.weights, &[1.0, 10.0], 1e-6) && shared.iter().all(|x| x.abs() < 1e-7), "{shared:?}");
    }

    #[test]
    fn unusable_steps_leave_memories_and_weights() {
        let (mut c, mut mem) = (defaults(), vec![vec![0.0; 2]; 2]);
        step(&mut c, &mut mem, &[vec![1.0, 0.0], vec![0.0, 2.0]], &[1.0, 1.0]);
        let (before_mem, before) = (mem.clone(), c.clone());
        let (_, r) = step(&mut c, &mut mem, &[vec![1.0, 0.0], vec![0.0, 2.0]], &[f64::NAN, 1.0]);
        assert!(r.skipped && r.weights == before.weights && mem == before_mem);
        // finite losses but a non-finite gradient: the update is dropped
        let (_, r) = step(&mut c, &mut mem, &[vec![f64::INFINITY, 0.0], vec![0.0, 2.0]], &[1.0, 1.0]);
        assert!(r.skipped && r.weights == before.weights && mem == before_mem);
        assert_eq!(c.step_count(), 3, "skipped steps still count");
    }

    #[test]
    fn misuse_and_state() {
        let mut c = defaults();
        let e = c.step(&StepInput { losses: &[1.0, 1.0], gram: None }).unwrap_err();
        assert!(matches!(e, CoreError::MissingGram(ref n) if n == "dbmtl"), "{e}");
        assert!(DbMtl::new(2, DbMtlConfig { beta: 1.0, beta_sigma: 0.0 }).is_err());
        assert!(DbMtl::new(2, DbMtlConfig { beta: 0.9, beta_sigma: -1.0 }).is_err());
        assert!(DbMtl::new(1, DbMtlConfig { beta: 0.9, beta_sigma: 0.0 }).is_err());
        let mut mem = vec![vec![0.0; 2]; 2];
        step(&mut c, &mut mem, &[vec![1.0, 0.5], vec![0.2, 2.0]], &[3.0, 1.0]);
        let text = serde_json::to_string(&c.state()).unwrap();
        let mut b = DbMtl::new(2, DbMtlConfig { beta: 0.5, beta_sigma: 1.0 }).unwrap();
        b.restore(&serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(b, c);
        assert_eq!(b.memory_update(&[2.0, 1.0]), c.memory_update(&[2.0, 1.0]));
        let mut three = DbMtl::new(3, DbMtlConfig { beta: 0.9, beta_sigma: 0.0 }).unwrap();
        assert!(three.restore(&c.state()).is_err());
        let mut bad = c.state();
        bad["controller"] = serde_json::json!("gaba");
        assert!(b.restore(&bad).is_err());
    }
}
