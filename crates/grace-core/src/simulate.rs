//! The λ-trajectory explorer behind `grace simulate`: GABA driven by a constant gradient ratio
//! (task 0 = RUL has `ratio`× the norm of the others), optionally with log-normal noise.

use crate::controller::gaba::{equilibrium, Gaba, GabaConfig};
use crate::error::CoreError;
use serde::{Deserialize, Serialize};

/// Upper bound on simulated steps, to keep the stored trajectory in memory.
pub const MAX_SIM_STEPS: u64 = 5_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    /// `g_0 / g_i` for every i ≥ 1.
    pub ratio: f64,
    pub tasks: usize,
    pub gaba: GabaConfig,
    pub steps: u64,
    /// σ of the log-normal noise: each norm is multiplied by `exp(σ·z)`, z ~ N(0, 1).
    pub noise: f64,
}

/// The whole run: per step the raw weights and λ*, plus where the floor bites and where it ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    pub config: SimConfig,
    /// `raw[t][i]`, step t (0-based), task i.
    pub raw: Vec<Vec<f64>>,
    /// `lambda[t][i]` = λ* after step t.
    pub lambda: Vec<Vec<f64>>,
    /// First step whose EMA fell below the floor for some task.
    pub floor_binds_at: Option<u64>,
    /// λ* of the noiseless fixed point (EMA = raw).
    pub equilibrium: Vec<f64>,
    /// First step from which every later λ* stays within 1e-3 of the equilibrium.
    pub settled_at: Option<u64>,
    /// Steps whose noisy norms were unusable (cannot happen without noise overflow).
    pub skipped: u64,
}

/// Runs the controller; `normal` draws z ~ N(0, 1) and is only called when `noise > 0`,
/// so the randomness (and its seed) stays with the caller.
pub fn simulate(cfg: &SimConfig, normal: &mut dyn FnMut() -> f64) -> Result<Trajectory, CoreError> {
    if !(cfg.ratio.is_finite() && cfg.ratio > 0.0) {
        return Err(CoreError::invalid("gradient ratio", cfg.ratio, "finite and > 0"));
    }
    if !(cfg.noise.is_finite() && cfg.noise >= 0.0) {
        return Err(CoreError::invalid("noise σ", cfg.noise, "finite and ≥ 0"));
    }
    if !(1..=MAX_SIM_STEPS).contains(&cfg.steps) {
        return Err(CoreError::invalid("steps", cfg.steps, format!("in [1, {MAX_SIM_STEPS}]")));
    }
    let k = cfg.tasks;
    let mut g = Gaba::new(k, cfg.gaba)?;
    let base: Vec<f64> = (0..k).map(|i| if i == 0 { cfg.ratio } else { 1.0 }).collect();
    let equilibrium = equilibrium(&base, cfg.gaba.floor).expect("positive norms are usable");
    let n = cfg.steps as usize;
    let (mut raw, mut lambda) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut floor_binds_at, mut skipped) = (None, 0);
    let mut norms = base.clone();
    for _ in 0..n {
        if cfg.noise > 0.0 {
            for (x, b) in norms.iter_mut().zip(&base) {
                *x = b * (cfg.noise * normal()).exp();
            }
        }
        let r = g.step_norms(&norms)?;
        if floor_binds_at.is_none() && r.ema.iter().any(|e| *e < cfg.gaba.floor) {
            floor_binds_at = Some(r.step);
        }
        skipped += r.skipped as u64;
        raw.push(r.raw);
        lambda.push(r.weights);
    }
    let near = |l: &Vec<f64>| l.iter().zip(&equilibrium).all(|(a, b)| (a - b).abs() < 1e-3);
    let settled_at = match lambda.iter().rposition(|l| !near(l)) {
        None => Some(0),
        Some(t) if t + 1 < n => Some(t as u64 + 1),
        Some(_) => None,
    };
    Ok(Trajectory { config: *cfg, raw, lambda, floor_binds_at, equilibrium, settled_at, skipped })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SimConfig {
        SimConfig { ratio: 500.0, tasks: 2, gaba: GabaConfig::default(), steps: 1000, noise: 0.0 }
    }

    #[test]
    fn floor_binds_where_the_closed_form_says() {
        // After warm-up the EMA is 1/2; n post-warm-up steps later
        // ema_rul = β^n/2 + (1 − β^n)/501 < 0.05 ⇔ β^n < (0.05 − 1/501)/(0.5 − 1/501) = 0.0963927…
        // ⇔ n > ln(0.0963927)/ln(0.99) = 232.76 → n = 233, the update at step index 100 + 232 = 332.
        let q: f64 = (0.05 - 1.0 / 501.0) / (0.5 - 1.0 / 501.0);
        let n = (q.ln() / 0.99f64.ln()).ceil() as u64;
        assert_eq!(n, 233);
        let t = simulate(&cfg(), &mut || unreachable!("no noise, no draws")).unwrap();
        assert_eq!(t.floor_binds_at, Some(100 + n - 1));
        assert_eq!(t.lambda.len(), 1000);
        // the warm-up holds 1/2
        assert!(t.lambda[..100].iter().all(|l| (l[0] - 0.5).abs() < 1e-12));
        // equilibrium: (0.05, 500/501)/(0.05 + 500/501)
        let f = 500.0 / 501.0;
        assert!((t.equilibrium[0] - 0.05 / (0.05 + f)).abs() < 1e-15);
        // 900 post-warm-up steps: λ_rul = ε/(ε + ema_health) with
        // ema_health = 0.99^900·0.5 + (1 − 0.99^900)·500/501 = 0.99794… → λ_rul = 0.0477124
        // (equilibrium 0.0477097: the health EMA is still 6e-5 short of its raw weight)
        let b = 0.99f64.powi(900);
        let ema_h = b * 0.5 + (1.0 - b) * f;
        assert!((t.lambda[999][0] - 0.05 / (0.05 + ema_h)).abs() < 1e-12);
        assert!((t.lambda[999][0] - 0.047_712_416).abs() < 1e-9);
        // |λ − λ_eq| < 1e-3 from n = 313 post-warm-up steps on (found by iterating the same
        // closed form): step index 100 + 313 − 1 = 412
        assert_eq!(t.settled_at, Some(412));
        assert_eq!(t.skipped, 0);
    }

    #[test]
    fn noise_uses_the_callers_draws() {
        // z alternates ±1 with σ = 0.5: the norms wobble but stay positive, nothing is skipped
        let mut flip = 1.0;
        let mut draws = 0;
        let t = simulate(&SimConfig { noise: 0.5, tasks: 3, steps: 50, ..cfg() }, &mut || {
            flip = -flip;
            draws += 1;
            flip
        })
        .unwrap();
        assert_eq!(draws, 150);
        assert_eq!(t.skipped, 0);
        assert!(t.lambda.iter().all(|l| (l.iter().sum::<f64>() - 1.0).abs() < 1e-12));
    }

    #[test]
    fn rejects_bad_config() {
        let e = simulate(&SimConfig { ratio: -2.0, ..cfg() }, &mut || 0.0).unwrap_err().to_string();
        assert!(e.contains("-2"), "{e}");
        assert!(simulate(&SimConfig { tasks: 1, ..cfg() }, &mut || 0.0).is_err());
        assert!(simulate(&SimConfig { steps: 0, ..cfg() }, &mut || 0.0).is_err());
        assert!(simulate(&SimConfig { noise: f64::NAN, ..cfg() }, &mut || 0.0).is_err());
    }
}
