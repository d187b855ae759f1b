//! The GRACE loss of one mini-batch, worked through symbol by symbol (behind `grace explain`):
//! per-sample weights, weighted and plain MSE, the four controller stages, the composed loss.

use crate::controller::gaba::{equilibrium, floor_and_renormalise, raw_weights, Gaba, GabaConfig};
use crate::error::{check_finite, CoreError};
use crate::wmse::{mse, SampleTerm, WeightedMse};
use serde::{Deserialize, Serialize};

/// Upper bound on `steps`: the EMA is iterated literally, one step at a time.
pub const MAX_EXPLAIN_STEPS: u64 = 10_000_000;

/// One batch of the two-task problem (task 0 = RUL, task 1 = health) and a controller state.
#[derive(Debug, Clone, PartialEq)]
pub struct ExplainInput {
    pub y_true: Vec<f64>,
    pub y_pred: Vec<f64>,
    /// Gradient norms on θ_shared: `[g_rul, g_health]`.
    pub grad_norms: [f64; 2],
    /// The health cross-entropy of the batch.
    pub l_health: f64,
    pub wmse: WeightedMse,
    /// β and ε are used; the warm-up is not (explain shows a controller past its warm-up).
    pub gaba: GabaConfig,
    /// The EMA before the first step.
    pub prev: [f64; 2],
    /// How many identical steps to take from `prev` (≥ 1).
    pub steps: u64,
}

/// The controller's four stages; `final` is λ*.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LambdaStages {
    pub raw: Vec<f64>,
    pub ema: Vec<f64>,
    pub floored: Vec<f64>,
    #[serde(rename = "final")]
    pub final_: Vec<f64>,
}

/// The converged controller (EMA = raw, n → ∞).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Converged {
    pub lambda: Vec<f64>,
    pub loss: f64,
}

/// Every number `grace explain` prints, under the keys its `--json` uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    pub samples: Vec<SampleTerm>,
    pub wmse: f64,
    pub mse: f64,
    pub grad_norms: Vec<f64>,
    /// g_max / g_min.
    pub ratio: f64,
    pub l_health: f64,
    pub lambda: LambdaStages,
    /// `λ*_rul · wmse + λ*_health · l_health`.
    pub loss: f64,
    pub converged: Converged,
}

fn check_non_negative(what: &str, xs: &[f64]) -> Result<(), CoreError> {
    check_finite(what, xs)?;
    match xs.iter().position(|x| *x < 0.0) {
        Some(i) => Err(CoreError::invalid(format!("{what}[{i}]"), xs[i], "≥ 0")),
        None => Ok(()),
    }
}

/// Validates everything (lengths, signs, finiteness, S > 0) and computes the walk-through.
pub fn explain(inp: &ExplainInput) -> Result<Explanation, CoreError> {
    if inp.y_true.len() != inp.y_pred.len() {
        return Err(CoreError::length("--y-pred must pair with --y-true", inp.y_true.len(), inp.y_pred.len()));
    }
    check_non_negative("y_true", &inp.y_true)?;
    // A prediction is any real number (an untrained or unclamped model gives ŷ < 0); the
    // weighted MSE is defined for it, and the weight depends on the truth alone.
    check_finite("y_pred", &inp.y_pred)?;
    check_non_negative("gradient norm (g_rul, g_health)", &inp.grad_norms)?;
    check_non_negative("l_health", &[inp.l_health])?;
    check_non_negative("prev EMA", &inp.prev)?;
    if !(1..=MAX_EXPLAIN_STEPS).contains(&inp.steps) {
        return Err(CoreError::invalid("steps", inp.steps, format!("in [1, {MAX_EXPLAIN_STEPS}]")));
    }
    let norms = inp.grad_norms;
    if raw_weights(&norms).is_none() {
        return Err(CoreError::invalid(
            "g_rul + g_health",
            norms[0] + norms[1],
            "> 0 (both norms zero leave no weights to compute)",
        ));
    }
    let samples = inp.wmse.terms(&inp.y_pred, &inp.y_true)?;
    let wmse = inp.wmse.loss(&inp.y_pred, &inp.y_true)?;
    let plain = mse(&inp.y_pred, &inp.y_true)?;

    let config = GabaConfig { warmup: 0, ..inp.gaba };
    let mut g = Gaba::with_state(config, inp.prev.to_vec(), 0)?;
    let mut rec = g.step_norms(&norms)?;
    for _ in 1..inp.steps {
        rec = g.step_norms(&norms)?;
    }
    let compose = |l: &[f64]| l[0] * wmse + l[1] * inp.l_health;
    let loss = compose(&rec.weights);
    let conv = equilibrium(&norms, inp.gaba.floor).expect("norms were checked usable above");
    debug_assert_eq!(conv, floor_and_renormalise(&rec.raw, inp.gaba.floor).1);
    Ok(Explanation {
        samples,
        wmse,
        mse: plain,
        grad_norms: norms.to_vec(),
        ratio: rec.ratio,
        l_health: inp.l_health,
        lambda: LambdaStages { raw: rec.raw, ema: rec.ema, floored: rec.floored, final_: rec.weights },
        loss,
        converged: Converged { loss: compose(&conv), lambda: conv },
    })
}

/// Significant digits kept when printing a computed number: enough for any input typed by hand,
/// few enough to drop the last-bit noise of a sum (26.4 + 0.039433 prints 26.439433).
const PRINT_DIGITS: usize = 12;

/// `x` rounded to 12 significant digits and written in the shortest form that reads back to that
/// rounded value; exponent notation outside [1e-6, 1e15) so no number prints as a wall of zeros.
pub fn plain_number(x: f64) -> String {
    if !x.is_finite() || x == 0.0 {
        return format!("{x}");
    }
    let rounded: f64 = format!("{x:.prec$e}", prec = PRINT_DIGITS - 1).parse().expect("a formatted float parses");
    if (1e-6..1e15).contains(&rounded.abs()) {
        format!("{rounded}")
    } else {
        format!("{rounded:e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> ExplainInput {
        ExplainInput {
            y_true: vec![12.0, 40.0, 75.0, 130.0],
            y_pred: vec![20.0, 35.0, 70.0, 110.0],
            grad_norms: [12.5, 0.05],
            l_health: 0.9,
            wmse: WeightedMse::default(),
            gaba: GabaConfig::default(),
            prev: [0.5, 0.5],
            steps: 1,
        }
    }

    #[test]
    fn the_worked_example_by_hand() {
        let e = explain(&example()).unwrap();
        // w = 1.904, 1.68, 1.4, 1; w·r² = 121.856, 42, 35, 400 → wmse = 598.856/4 = 149.714
        assert!((e.samples[0].weighted - 121.856).abs() < 1e-9);
        assert!((e.wmse - 149.714).abs() < 1e-9);
        assert_eq!(e.mse, 128.5);
        // raw = (0.05/12.55, 12.5/12.55) = (0.00398406, 0.99601594)
        // ema = (0.495 + 0.0000398406, 0.495 + 0.0099601594) = (0.4950398406, 0.5049601594)
        assert!((e.lambda.ema[0] - 0.495_039_840_637_450_2).abs() < 1e-12);
        assert_eq!(e.lambda.floored, e.lambda.ema);
        // loss = 0.4950398406·149.714 + 0.5049601594·0.9
        //      = 74.114394… + 0.454464… = 74.568858…
        let want = 0.495_039_840_637_450_2 * 149.714 + 0.504_960_159_362_549_8 * 0.9;
        assert!((e.loss - want).abs() < 1e-9);
        assert!((e.loss - 74.568_858).abs() < 1e-5, "{}", e.loss);
        // converged: floored (0.05, 0.99601594), Σ = 1.04601594 → λ = (0.0478004, 0.9521996)
        // loss = 0.0478004·149.714 + 0.9521996·0.9 = 7.156394 + 0.856980 = 8.013374
        let f = 12.5 / 12.55;
        let l0 = 0.05 / (0.05 + f);
        assert!((e.converged.lambda[0] - l0).abs() < 1e-15);
        assert!((e.converged.lambda[0] - 0.047_800_4).abs() < 1e-6);
        assert!((e.converged.loss - (l0 * 149.714 + (1.0 - l0) * 0.9)).abs() < 1e-9);
        assert!((e.ratio - 250.0).abs() < 1e-9);
    }

    #[test]
    fn many_steps_follow_the_geometric_ema() {
        // ema_rul(n) = β^n·0.5 + (1 − β^n)·raw_rul; n = 300 → β^n = 0.99^300 = 0.0490…
        let e = explain(&ExplainInput { steps: 300, ..example() }).unwrap();
        let bn = 0.99f64.powi(300);
        let raw = 0.05 / 12.55;
        let ema0 = bn * 0.5 + (1.0 - bn) * raw;
        assert!((e.lambda.ema[0] - ema0).abs() < 1e-12);
        // ema_rul ≈ 0.0283 < ε, so the floor binds
        assert!(ema0 < 0.05);
        assert_eq!(e.lambda.floored[0], 0.05);
    }

    #[test]
    fn a_negative_prediction_is_a_prediction() {
        // y = (10, 130), ŷ = (−5, 130): w(10) = 1 + (1 − 10/125) = 1.92, r = −15, w·r² = 1.92·225 = 432;
        // w(130) = 1 (clipped), r = 0 → wmse = 432/2 = 216, mse = 225/2 = 112.5
        let e = explain(&ExplainInput { y_true: vec![10.0, 130.0], y_pred: vec![-5.0, 130.0], ..example() }).unwrap();
        assert_eq!((e.samples[0].residual, e.samples[0].weighted), (-15.0, 432.0));
        assert_eq!((e.wmse, e.mse), (216.0, 112.5));
    }

    #[test]
    fn numbers_print_without_float_noise() {
        assert_eq!(26.4 + 0.039_433, 26.439_432_999_999_998, "the sum itself carries the noise");
        assert_eq!(plain_number(26.4 + 0.039_433), "26.439433");
        assert_eq!(plain_number(0.1 + 0.2), "0.3");
        for (x, want) in [(0.05, "0.05"), (125.0, "125"), (-2.5, "-2.5"), (0.0, "0"), (1e-9, "1e-9")] {
            assert_eq!(plain_number(x), want);
        }
        assert_eq!((plain_number(6.02e23), plain_number(1.0 / 3.0)), ("6.02e23".into(), "0.333333333333".into()));
    }

    #[test]
    fn rejects_bad_inputs_with_the_value() {
        let bad = |f: fn(&mut ExplainInput)| {
            let mut i = example();
            f(&mut i);
            explain(&i).unwrap_err().to_string()
        };
        assert!(bad(|i| i.y_pred.pop().map(|_| ()).unwrap()).contains("expected 4"));
        assert!(bad(|i| i.y_true[2] = -1.0).contains("y_true[2]"));
        assert!(bad(|i| i.y_pred[0] = f64::INFINITY).contains("y_pred[0]"));
        assert!(bad(|i| i.grad_norms = [0.0, 0.0]).contains("> 0"));
        assert!(bad(|i| i.l_health = f64::NAN).contains("l_health"));
        assert!(bad(|i| i.steps = 0).contains("steps"));
    }
}
