//! The GABA controller of docs/reference.md §4.2: task weights from per-task gradient norms, for any K ≥ 2.
//! Inverse-gradient raw weights, a warm-up at 1/K, an EMA, a floor and a renormalisation.
//!
//! Unusable norms (decided): if any g_i is negative or non-finite, or S = Σ g_j is 0 or not
//! finite, the step is *skipped*: the EMA is left exactly as it was (no arithmetic touches it,
//! so no NaN or ∞ can enter the state), the record shows `raw := previous EMA` and
//! `skipped = true`, and the step counter still advances because the warm-up counts training
//! steps, not usable ones. This holds during the warm-up too.

use super::{check_task_len, norm_ratio, required_norms, Needs, StepInput, StepRecord, TaskWeighting};
use crate::error::CoreError;
use crate::methods::{Method, Param, ParamDefault, ParamValues, RulLoss, SLOPE};
use serde::{Deserialize, Serialize};

pub const BETA: Param =
    Param { name: "beta", default: ParamDefault::Float(0.99), doc: "GABA EMA factor β, in [0, 1)" };
pub const FLOOR: Param =
    Param { name: "floor", default: ParamDefault::Float(0.05), doc: "GABA floor ε on each EMA weight, in [0, 1/K)" };
pub const WARMUP_STEPS: Param = Param {
    name: "warmup_steps",
    default: ParamDefault::Int(100),
    doc: "GABA warm-up W: steps whose raw weights are held at 1/K",
};

pub const GABA: Method = Method {
    name: "gaba",
    description: "plain MSE, GABA task weights from inverse gradient norms (EMA, floor)",
    citation: "docs/reference.md §4.2",
    rul_loss: RulLoss::Mse,
    needs: Needs::Norms,
    params: &[BETA, FLOOR, WARMUP_STEPS],
    build: build_gaba,
};

pub const GRACE: Method = Method {
    name: "grace",
    description: "failure-biased weighted MSE with GABA task weights",
    citation: "docs/reference.md §4.1, §4.2",
    rul_loss: RulLoss::WeightedMse,
    needs: Needs::Norms,
    params: &[SLOPE, BETA, FLOOR, WARMUP_STEPS],
    build: build_gaba,
};

fn build_gaba(k: usize, p: &ParamValues) -> Result<Box<dyn TaskWeighting>, CoreError> {
    let config = GabaConfig { beta: p.float(&BETA), floor: p.float(&FLOOR), warmup: p.int(&WARMUP_STEPS) };
    Ok(Box::new(Gaba::new(k, config)?))
}

/// β, ε and W of docs/reference.md §4.2.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GabaConfig {
    /// EMA factor: the weights follow the raw weights with a time constant of ~1/(1 − β) steps.
    pub beta: f64,
    /// Floor ε on each EMA weight before renormalising.
    pub floor: f64,
    /// Number of initial steps whose raw weights are held at 1/K.
    pub warmup: u64,
}

impl Default for GabaConfig {
    fn default() -> Self {
        GabaConfig { beta: BETA.default.float(), floor: FLOOR.default.float(), warmup: WARMUP_STEPS.default.int() }
    }
}

impl GabaConfig {
    pub fn validate(&self) -> Result<(), CoreError> {
        if !(self.beta.is_finite() && (0.0..1.0).contains(&self.beta)) {
            return Err(CoreError::invalid("GABA β", self.beta, "in [0, 1)"));
        }
        if !(self.floor.is_finite() && (0.0..1.0).contains(&self.floor)) {
            return Err(CoreError::invalid("GABA floor ε", self.floor, "in [0, 1)"));
        }
        Ok(())
    }
}

/// The controller: hyper-parameters plus the state `ema[K]` and `step`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gaba {
    config: GabaConfig,
    ema: Vec<f64>,
    step: u64,
}

/// The serialised form; `controller` guards against restoring another method's state.
#[derive(Serialize, Deserialize)]
struct Snapshot {
    controller: String,
    config: GabaConfig,
    ema: Vec<f64>,
    step: u64,
}

impl Gaba {
    /// A fresh controller: EMA at 1/K, step 0.
    pub fn new(k: usize, config: GabaConfig) -> Result<Gaba, CoreError> {
        if k < 2 {
            return Err(CoreError::invalid("number of tasks K", k, "≥ 2"));
        }
        Gaba::with_state(config, vec![1.0 / k as f64; k], 0)
    }

    /// A controller resumed from a given EMA and step (e.g. `grace explain --prev`).
    pub fn with_state(config: GabaConfig, ema: Vec<f64>, step: u64) -> Result<Gaba, CoreError> {
        config.validate()?;
        check_ema(&ema)?;
        check_floor_fits(config.floor, ema.len())?;
        Ok(Gaba { config, ema, step })
    }

    pub fn config(&self) -> GabaConfig {
        self.config
    }

    pub fn ema(&self) -> &[f64] {
        &self.ema
    }

    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// One training step from the gradient norms alone (GABA reads no losses).
    pub fn step_norms(&mut self, norms: &[f64]) -> Result<StepRecord, CoreError> {
        let k = self.ema.len();
        check_task_len("gradient norms", k, norms)?;
        let step = self.step;
        let warmup = step < self.config.warmup;
        let raw_from_norms = raw_weights(norms);
        let skipped = raw_from_norms.is_none();
        let raw = match raw_from_norms {
            None => self.ema.clone(),
            Some(_) if warmup => vec![1.0 / k as f64; k],
            Some(r) => r,
        };
        if !skipped {
            let b = self.config.beta;
            for (e, r) in self.ema.iter_mut().zip(&raw) {
                *e = b * *e + (1.0 - b) * r;
            }
        }
        let (floored, weights) = floor_and_renormalise(&self.ema, self.config.floor);
        self.step += 1;
        Ok(StepRecord {
            step,
            warmup,
            skipped,
            norms: norms.to_vec(),
            raw,
            ema: self.ema.clone(),
            floored,
            weights,
            head_weights: None,
            ratio: norm_ratio(norms),
        })
    }
}

fn check_ema(ema: &[f64]) -> Result<(), CoreError> {
    if ema.len() < 2 {
        return Err(CoreError::invalid("number of tasks K (EMA length)", ema.len(), "≥ 2"));
    }
    if let Some(i) = ema.iter().position(|e| !(e.is_finite() && *e >= 0.0)) {
        return Err(CoreError::invalid(format!("GABA EMA[{i}]"), ema[i], "finite and ≥ 0"));
    }
    // With ε = 0 an all-zero EMA would renormalise 0/0.
    if ema.iter().sum::<f64>() <= 0.0 {
        return Err(CoreError::invalid("sum of the GABA EMA", ema.iter().sum::<f64>(), "> 0"));
    }
    Ok(())
}

/// The K EMA weights sum to 1, so they can all stay at or above ε only if ε·K < 1; at ε·K ≥ 1 the
/// floor binds at every step (unless all are exactly 1/K) and squashes the weights towards 1/K.
pub fn check_floor_fits(floor: f64, k: usize) -> Result<(), CoreError> {
    let total = floor * k as f64;
    if total >= 1.0 {
        return Err(CoreError::invalid(
            format!("GABA floor ε with K = {k} tasks"),
            floor,
            format!(
                "below 1/K = {:.6} (ε·K = {total:.6} ≥ 1: the K EMA weights sum to 1, so the floor would bind at \
                 every step and squash the task weights towards 1/K)",
                1.0 / k as f64
            ),
        ));
    }
    Ok(())
}

/// `raw_i = (S − g_i)/((K − 1)·S)` with `S = Σ g_j`: the task with the larger gradient gets the
/// smaller weight, and the weights sum to 1. `None` when the norms are unusable (see module doc).
pub fn raw_weights(norms: &[f64]) -> Option<Vec<f64>> {
    let k = norms.len();
    if k < 2 || norms.iter().any(|g| !(g.is_finite() && *g >= 0.0)) {
        return None;
    }
    let s: f64 = norms.iter().sum();
    if !(s.is_finite() && s > 0.0) {
        return None;
    }
    let denom = (k - 1) as f64 * s;
    Some(norms.iter().map(|g| (s - g) / denom).collect())
}

/// Steps 5–6 of docs/reference.md §4.2: `f_i = max(ema_i, ε)`, `λ*_i = f_i / Σ_k f_k`.
pub fn floor_and_renormalise(ema: &[f64], floor: f64) -> (Vec<f64>, Vec<f64>) {
    let floored: Vec<f64> = ema.iter().map(|e| e.max(floor)).collect();
    let total: f64 = floored.iter().sum();
    let weights = floored.iter().map(|f| f / total).collect();
    (floored, weights)
}

/// The fixed point for constant norms (EMA → raw as n → ∞), floored and renormalised.
pub fn equilibrium(norms: &[f64], floor: f64) -> Option<Vec<f64>> {
    raw_weights(norms).map(|raw| floor_and_renormalise(&raw, floor).1)
}

impl TaskWeighting for Gaba {
    fn name(&self) -> &str {
        "gaba"
    }

    fn n_tasks(&self) -> usize {
        self.ema.len()
    }

    fn needs(&self) -> Needs {
        Needs::Norms
    }

    fn step(&mut self, obs: &StepInput) -> Result<StepRecord, CoreError> {
        let norms = required_norms("gaba", self.ema.len(), obs)?;
        self.step_norms(&norms)
    }

    fn current_weights(&self) -> Vec<f64> {
        floor_and_renormalise(&self.ema, self.config.floor).1
    }

    fn state(&self) -> serde_json::Value {
        serde_json::to_value(Snapshot {
            controller: "gaba".into(),
            config: self.config,
            ema: self.ema.clone(),
            step: self.step,
        })
        .expect("a GABA snapshot is plain numbers and always serialises")
    }

    fn restore(&mut self, v: &serde_json::Value) -> Result<(), CoreError> {
        let fail = |why: String| CoreError::Restore { controller: "gaba".into(), why };
        let s: Snapshot = serde_json::from_value(v.clone()).map_err(|e| fail(e.to_string()))?;
        if s.controller != "gaba" {
            return Err(fail(format!("the state belongs to controller `{}`", s.controller)));
        }
        if s.ema.len() != self.ema.len() {
            return Err(fail(format!(
                "the state has K = {} tasks, this controller K = {}",
                s.ema.len(),
                self.ema.len()
            )));
        }
        *self = Gaba::with_state(s.config, s.ema, s.step).map_err(|e| fail(e.to_string()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
    }

    fn past_warmup() -> GabaConfig {
        GabaConfig { warmup: 0, ..GabaConfig::default() }
    }

    #[test]
    fn raw_weights_by_hand() {
        // K = 2: raw_rul = g_health/S = 0.05/12.55, raw_health = 12.5/12.55
        let r = raw_weights(&[12.5, 0.05]).unwrap();
        assert!(close(&r, &[0.05 / 12.55, 12.5 / 12.55], 1e-15));
        assert!((r[0] - 0.003_984_063_745_019_92).abs() < 1e-15);
        // K = 3, g = (1, 2, 3): S = 6, raw_i = (6 − g_i)/(2·6) = 5/12, 4/12, 3/12
        let r3 = raw_weights(&[1.0, 2.0, 3.0]).unwrap();
        assert!(close(&r3, &[5.0 / 12.0, 4.0 / 12.0, 3.0 / 12.0], 1e-15));
        // one zero norm is fine: g = (2, 0) → raw = (0, 1)
        assert_eq!(raw_weights(&[2.0, 0.0]).unwrap(), vec![0.0, 1.0]);
    }

    #[test]
    fn one_step_by_hand() {
        // From ema = (0.5, 0.5), β = 0.99, norms (12.5, 0.05):
        // ema_rul = 0.99·0.5 + 0.01·0.0039840637 = 0.495 + 0.000039840637 = 0.495039840637
        // ema_health = 0.495 + 0.01·0.9960159363 = 0.504960159363; no floor binds; Σ = 1.
        let mut g = Gaba::new(2, past_warmup()).unwrap();
        let r = g.step_norms(&[12.5, 0.05]).unwrap();
        assert!(!r.warmup && !r.skipped);
        assert!(close(&r.ema, &[0.495_039_840_637, 0.504_960_159_363], 1e-12));
        assert_eq!(r.floored, r.ema);
        assert!(close(&r.weights, &r.ema, 1e-15));
        assert!((r.ratio - 250.0).abs() < 1e-9);
        assert_eq!(g.step_count(), 1);
    }

    #[test]
    fn floor_binds_by_hand() {
        // ema = (0.01, 0.99), ε = 0.05: floored = (0.05, 0.99), Σ = 1.04,
        // λ* = (0.05/1.04, 0.99/1.04) = (0.048076923…, 0.951923076…)
        let (f, w) = floor_and_renormalise(&[0.01, 0.99], 0.05);
        assert_eq!(f, vec![0.05, 0.99]);
        assert!(close(&w, &[0.048_076_923_076_923, 0.951_923_076_923_077], 1e-14));
        // equilibrium for norms (500, 1): raw = (1/501, 500/501), floored = (0.05, 0.998004),
        // Σ = 1.048004 → λ* = (0.0477097…, 0.9522902…)
        let eq = equilibrium(&[500.0, 1.0], 0.05).unwrap();
        let f1 = 500.0 / 501.0;
        assert!(close(&eq, &[0.05 / (0.05 + f1), f1 / (0.05 + f1)], 1e-15));
        assert!((eq[0] - 0.047_709_7).abs() < 1e-6);
    }

    #[test]
    fn warmup_holds_uniform_then_moves() {
        // W = 3: steps 0, 1, 2 use raw = 1/2 whatever the norms; step 3 uses the norms.
        let mut g = Gaba::new(2, GabaConfig { warmup: 3, ..GabaConfig::default() }).unwrap();
        for s in 0..3 {
            let r = g.step_norms(&[100.0, 1.0]).unwrap();
            assert!(r.warmup);
            assert_eq!(r.step, s);
            assert_eq!(r.raw, vec![0.5, 0.5]);
            assert!(close(&r.weights, &[0.5, 0.5], 1e-15));
        }
        let r = g.step_norms(&[100.0, 1.0]).unwrap();
        assert!(!r.warmup);
        // raw = (1/101, 100/101); ema_0 = 0.99·0.5 + 0.01/101 ≈ 0.495099
        assert!(close(&r.raw, &[1.0 / 101.0, 100.0 / 101.0], 1e-15));
        assert!((r.ema[0] - (0.495 + 0.01 / 101.0)).abs() < 1e-12);
    }

    #[test]
    fn k3_closed_form_after_n_steps() {
        // Constant norms, no warm-up: ema(n) = β^n·(1/3) + (1 − β^n)·raw.
        // g = (1, 2, 3) → raw = (5/12, 1/3, 1/4); β = 0.9, n = 20: β^n = 0.121576654…
        let cfg = GabaConfig { beta: 0.9, floor: 0.05, warmup: 0 };
        let mut g = Gaba::new(3, cfg).unwrap();
        let mut last = None;
        for _ in 0..20 {
            last = Some(g.step_norms(&[1.0, 2.0, 3.0]).unwrap());
        }
        let bn = 0.9f64.powi(20);
        assert!((bn - 0.121_576_654_590_569_3).abs() < 1e-15);
        let raw = [5.0 / 12.0, 1.0 / 3.0, 0.25];
        let want: Vec<f64> = raw.iter().map(|r| bn / 3.0 + (1.0 - bn) * r).collect();
        let rec = last.unwrap();
        assert!(close(&rec.ema, &want, 1e-13));
        // nothing below ε = 0.05 and Σ ema = 1, so λ* = ema
        assert!(close(&rec.weights, &want, 1e-13));
    }

    #[test]
    fn unusable_norms_skip_without_touching_state() {
        let mut g = Gaba::new(2, past_warmup()).unwrap();
        g.step_norms(&[4.0, 1.0]).unwrap();
        let before = g.clone();
        for bad in [[0.0, 0.0], [f64::NAN, 1.0], [1.0, f64::INFINITY], [-1.0, 2.0], [f64::MAX, f64::MAX]] {
            let r = g.step_norms(&bad).unwrap();
            assert!(r.skipped, "{bad:?}");
            assert_eq!(r.raw, before.ema, "raw := previous EMA");
            assert_eq!(g.ema(), before.ema(), "EMA untouched bit for bit");
            assert!(r.weights.iter().all(|w| w.is_finite()));
        }
        // the counter still advanced: 1 good + 5 skipped steps
        assert_eq!(g.step_count(), 6);
        // skipped inside the warm-up too
        let mut w = Gaba::new(2, GabaConfig::default()).unwrap();
        let r = w.step_norms(&[f64::NAN, 1.0]).unwrap();
        assert!(r.skipped && r.warmup);
        assert_eq!(w.ema(), &[0.5, 0.5]);
    }

    #[test]
    fn misuse_is_an_error() {
        let mut g = Gaba::new(2, GabaConfig::default()).unwrap();
        assert!(matches!(g.step_norms(&[1.0]), Err(CoreError::Length { .. })));
        let e = g.step(&StepInput { losses: &[1.0, 1.0], gram: None }).unwrap_err();
        assert!(matches!(e, CoreError::MissingGram(_)));
        let gram = super::super::orthogonal(&[1.0, 1.0]);
        assert!(g.step(&StepInput { losses: &[1.0], gram: Some(&gram) }).is_err());
        // through the trait, the norms come from the Gram diagonal: √16 = 4, √1 = 1 → raw (1/5, 4/5)
        let gram = super::super::Gram::new(2, vec![16.0, -2.0, -2.0, 1.0]).unwrap();
        let r = g.step(&StepInput { losses: &[1.0, 1.0], gram: Some(&gram) }).unwrap();
        assert_eq!((r.norms.clone(), r.ratio), (vec![4.0, 1.0], 4.0));
        assert!(r.warmup && r.head_weights.is_none());
        assert!(Gaba::new(2, GabaConfig { beta: 1.0, ..GabaConfig::default() }).is_err());
        assert!(Gaba::new(2, GabaConfig { floor: -0.1, ..GabaConfig::default() }).is_err());
        let e = Gaba::with_state(GabaConfig::default(), vec![0.5, f64::NAN], 0).unwrap_err().to_string();
        assert!(e.contains("EMA[1]"), "{e}");
    }

    #[test]
    fn a_floor_that_cannot_hold_is_rejected_with_the_reason() {
        // K = 3, ε = 0.4: ε·K = 1.2 ≥ 1, three weights summing to 1 cannot all be ≥ 0.4.
        let cfg = |floor| GabaConfig { floor, ..GabaConfig::default() };
        let e = Gaba::new(3, cfg(0.4)).unwrap_err().to_string();
        assert!(e.contains("K = 3") && e.contains("0.333333") && e.contains("1.200000 ≥ 1"), "{e}");
        // ε·K = 1 exactly is refused too (K = 2, ε = 0.5), and the bound follows K.
        assert!(Gaba::new(2, cfg(0.5)).is_err());
        assert!(Gaba::with_state(cfg(0.5), vec![0.9, 0.1], 0).is_err());
        assert!(Gaba::new(2, cfg(0.49)).is_ok());
        assert!(Gaba::new(4, cfg(0.25)).is_err() && Gaba::new(4, cfg(0.249)).is_ok());
        assert!(e.contains("bind at every step"), "{e}");
    }

    #[test]
    fn serde_round_trip_is_bit_identical() {
        let mut a = Gaba::new(3, GabaConfig { warmup: 2, ..GabaConfig::default() }).unwrap();
        let norms = [[3.1, 0.7, 0.011], [2.9, 0.013, 1.7], [0.3, 0.1, 0.2], [7.7, 0.001, 0.5]];
        for n in &norms {
            a.step_norms(n).unwrap();
        }
        let text = serde_json::to_string(&a.state()).unwrap();
        let mut b = Gaba::new(3, GabaConfig::default()).unwrap();
        b.restore(&serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(b.config(), a.config());
        assert_eq!(b.step_count(), 4);
        for i in 0..50 {
            let n = &norms[i % 4];
            let (ra, rb) = (a.step_norms(n).unwrap(), b.step_norms(n).unwrap());
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&ra.ema), bits(&rb.ema));
            assert_eq!(bits(&ra.weights), bits(&rb.weights));
        }
    }

    #[test]
    fn restore_rejects_foreign_state() {
        let mut g = Gaba::new(2, GabaConfig::default()).unwrap();
        let three = Gaba::new(3, GabaConfig::default()).unwrap().state();
        assert!(g.restore(&three).unwrap_err().to_string().contains("K = 3"));
        let fixed = super::super::Fixed::new(vec![0.5, 0.5]).unwrap().state();
        assert!(g.restore(&fixed).is_err());
        let mut bad = g.state();
        bad["ema"] = serde_json::json!([0.5, -0.5]);
        assert!(g.restore(&bad).is_err());
    }
}
