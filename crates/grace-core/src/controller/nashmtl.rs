//! Nash-MTL (Navon et al. 2022; docs/reference.md §4.3): the update is the Nash bargaining solution
//! of the tasks, `d = Σ α_i g_i` with `G α = 1/α` componentwise (α > 0), from the Gram matrix alone.
//!
//! `G α = 1/α` is the stationarity condition of the strictly convex `½ αᵀGα − Σ log α_i`, solved
//! here by damped Newton iterations (quadratic convergence, positivity kept by backtracking); the
//! reference implementations instead run a few sequential convex programs (cvxpy), stopping at a
//! loose tolerance. At the solution `‖d‖² = αᵀGα = K` whatever the gradient scale, and, like
//! TorchJD, LibMTL and the official code (`max_norm = 1`), the update is then scaled down to
//! `‖d‖ ≤ max_norm` (0 disables). Heads get their own task's plain gradient (weight 1).
//!
//! Degenerate cases: a zero gradient or 0 in the cone of the gradients (g and −g) has no Nash
//! solution (α → ∞); a ridge of 10⁻¹² on each task's squared norm keeps α finite, the zero task's
//! weight large but multiplying a zero gradient, and the update is the limit of the others' bargain;
//! identical gradients → equal weights; all zero or non-finite G → 1/K.

use super::aggregate::{GramAggregator, Rule};
use super::linalg::{dot, mat_vec, normalized_gram, pinv_solve, quad_form, trace};
use super::{Gram, Needs, TaskWeighting};
use crate::error::CoreError;
use crate::methods::{Method, Param, ParamDefault, ParamValues, RulLoss};

/// TorchJD's and LibMTL's default bound on the norm of the shared update.
pub const DEFAULT_MAX_NORM: f64 = 1.0;

pub const MAX_NORM: Param = Param {
    name: "nashmtl_max_norm",
    default: ParamDefault::Float(DEFAULT_MAX_NORM),
    doc: "Nash-MTL bound on the norm of the shared update (the bargain has norm √K; 0 = no bound)",
};

pub const METHOD: Method = Method {
    name: "nashmtl",
    description: "plain MSE, Nash-MTL: the Nash bargaining solution G·α = 1/α of the tasks, norm-bounded",
    citation: "Navon et al. 2022 (docs/reference.md §4.3)",
    rul_loss: RulLoss::Mse,
    needs: Needs::Gram,
    params: &[MAX_NORM],
    build,
};

fn build(k: usize, p: &ParamValues) -> Result<Box<dyn TaskWeighting>, CoreError> {
    Ok(Box::new(GramAggregator::new(k, Rule::Nashmtl { max_norm: p.float(&MAX_NORM) })?))
}

/// The ridge on each task's squared norm (floored at 10⁻¹² of the trace) that keeps a solution
/// when the bargain has none; it moves `(Gα)_i α_i` from 1 by about 10⁻¹².
const RIDGE: f64 = 1e-12;

/// Nash-MTL's weights for a row-major K×K Gram matrix; `max_norm = 0` returns the bargain itself.
pub fn weights(gram: &Gram, max_norm: f64) -> Vec<f64> {
    let k = gram.k();
    let gram = gram.as_slice();
    let Some(g) = normalized_gram(gram, k) else { return vec![1.0 / k as f64; k] };
    let alpha_hat = bargain(&g, k);
    // Ĝ = G / tr, so α = α̂ / √tr solves G α = 1/α; ‖d‖² = αᵀGα = α̂ᵀĜα̂.
    let root_tr = trace(gram, k).sqrt();
    let norm = quad_form(&g, &alpha_hat).max(0.0).sqrt();
    let shrink = if max_norm > 0.0 && norm > max_norm { max_norm / norm } else { 1.0 };
    alpha_hat.iter().map(|a| a / root_tr * shrink).collect()
}

/// The solution of `(Ĝ + ridge) α = 1/α`, α > 0, for a trace-normalised Ĝ.
pub fn bargain(g: &[f64], k: usize) -> Vec<f64> {
    let mut h = g.to_vec();
    for i in 0..k {
        h[i * k + i] += RIDGE * g[i * k + i].max(1e-12);
    }
    let f = |a: &[f64]| 0.5 * quad_form(&h, a) - a.iter().map(|x| x.ln()).sum::<f64>();
    // exact when G is diagonal, and the right order of magnitude otherwise
    let mut alpha: Vec<f64> = (0..k).map(|i| 1.0 / h[i * k + i].sqrt()).collect();
    for _ in 0..200 {
        let grad: Vec<f64> = mat_vec(&h, &alpha).iter().zip(&alpha).map(|(ga, a)| ga - 1.0 / a).collect();
        // The Newton system (H + diag(1/α²)) p = −∇ in the variables p/α: (D H D + I) q = −D ∇
        // with D = diag(α) has eigenvalues ≥ 1, so the solve is well conditioned whatever α.
        let mut scaled = vec![0.0; k * k];
        for i in 0..k {
            for j in 0..k {
                scaled[i * k + j] = alpha[i] * h[i * k + j] * alpha[j] + if i == j { 1.0 } else { 0.0 };
            }
        }
        let rhs: Vec<f64> = grad.iter().zip(&alpha).map(|(g, a)| g * a).collect();
        let q = pinv_solve(&scaled, k, &rhs, 1e-15);
        let step: Vec<f64> = q.iter().zip(&alpha).map(|(q, a)| -q * a).collect();
        let decrement = -dot(&grad, &step);
        if decrement.is_nan() || decrement <= 1e-28 {
            break;
        }
        let mut t = 1.0;
        let f0 = f(&alpha);
        let next = loop {
            let trial: Vec<f64> = alpha.iter().zip(&step).map(|(a, s)| a + t * s).collect();
            if trial.iter().all(|a| *a > 0.0) && f(&trial) <= f0 - 0.25 * t * decrement {
                break Some(trial);
            }
            t *= 0.5;
            if t < 1e-20 {
                break None;
            }
        };
        match next {
            Some(a) => alpha = a,
            None => break,
        }
    }
    alpha
}

#[cfg(test)]
mod tests {
    use super::super::linalg::testing::{assert_close, combine, gram, gram_of};
    use super::*;

    /// `G α = 1/α` componentwise, relative to 1/α.
    fn assert_bargain(gram: &Gram, alpha: &[f64], tol: f64) {
        let ga = mat_vec(gram.as_slice(), alpha);
        for (i, (x, a)) in ga.iter().zip(alpha).enumerate() {
            assert!(*a > 0.0 && (x * a - 1.0).abs() < tol, "task {i}: (Gα)_i α_i = {}", x * a);
        }
    }

    #[test]
    fn orthogonal_gradients_by_hand() {
        // G = diag(1, 4): α_i = 1/‖g_i‖ = (1, ½), d = (1, 1), ‖d‖ = √2 = √K
        let rows: [&[f64]; 2] = [&[1.0, 0.0], &[0.0, 2.0]];
        let g = gram_of(&rows);
        let a = weights(&g, 0.0);
        assert_close(&a, &[1.0, 0.5], 1e-9);
        assert_bargain(&g, &a, 1e-9);
        // max_norm = 1 scales d to unit length
        let clipped = weights(&g, DEFAULT_MAX_NORM);
        assert_close(&clipped, &[1.0 / 2f64.sqrt(), 0.5 / 2f64.sqrt()], 1e-9);
        // a short update is not stretched: max_norm = 10 leaves the bargain alone
        assert_close(&weights(&g, 10.0), &a, 0.0);
    }

    #[test]
    fn conflicting_and_dominant_pairs() {
        // g_1 = (1, 0), g_2 = (−1, 1): G = [[1, −1], [−1, 2]]. By hand: α_1 − α_2 = 1/α_1 and
        // −α_1 + 2α_2 = 1/α_2; adding gives α_2 = 1/α_1 + 1/α_2 … check the conditions instead.
        for rows in [[&[1.0, 0.0][..], &[-1.0, 1.0][..]], [&[100.0, 0.0][..], &[1.0, 1.0][..]]] {
            let g = gram_of(&rows);
            let a = weights(&g, 0.0);
            assert_bargain(&g, &a, 1e-9);
            let d = combine(&rows, &a);
            assert!((d.iter().map(|x| x * x).sum::<f64>() - 2.0).abs() < 1e-8, "‖d‖² = K");
        }
    }

    #[test]
    fn three_tasks_satisfy_the_bargain() {
        let cases: Vec<Vec<&[f64]>> = vec![
            vec![&[1.0, 0.0, 0.0], &[0.0, 1.0, 0.0], &[0.0, 0.0, 1.0]],
            vec![&[1.0, 0.2, -0.3], &[-0.8, 0.5, 0.1], &[0.3, -0.9, 0.4]],
            vec![&[10.0, 0.0, 1.0], &[-0.1, 0.2, 0.0], &[0.05, -0.1, 0.3]],
        ];
        for rows in cases {
            let g = gram_of(&rows);
            assert_bargain(&g, &weights(&g, 0.0), 1e-8);
        }
    }

    #[test]
    fn degenerate_cases() {
        // identical: α_1 = α_2 = 1/(√2 ‖g‖)
        let g = gram_of(&[&[1.0, 1.0], &[1.0, 1.0]]);
        assert_close(&weights(&g, 0.0), &[0.5, 0.5], 1e-8);
        // zero gradient: finite weights, the update is the other task's own bargain g/‖g‖
        let rows: [&[f64]; 2] = [&[3.0, 4.0], &[0.0, 0.0]];
        let w = weights(&gram_of(&rows), 0.0);
        assert!(w.iter().all(|x| x.is_finite() && *x > 0.0), "{w:?}");
        assert_close(&combine(&rows, &w), &[0.6, 0.8], 1e-8);
        // g and −g: finite, and the update vanishes
        let rows: [&[f64]; 2] = [&[1.0, 1.0], &[-1.0, -1.0]];
        let w = weights(&gram_of(&rows), 0.0);
        assert!(w.iter().all(|x| x.is_finite()), "{w:?}");
        assert_close(&combine(&rows, &w), &[0.0, 0.0], 1e-6);
        assert_eq!(weights(&gram(2, &[0.0; 4]), 1.0), vec![0.5, 0.5]);
        assert_eq!(weights(&gram(2, &[f64::NAN; 4]), 1.0), vec![0.5, 0.5]);
    }
}
