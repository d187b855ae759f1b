//! CAGrad (Liu et al. 2021; docs/reference.md §4.3): the update that maximises the worst task's
//! improvement within a ball of radius c·‖g₀‖ around the mean gradient g₀, from the Gram matrix.
//!
//! Dual form (the paper's Algorithm 1): `w* = argmin_{w ∈ Δ} F(w) = g_wᵀ g₀ + √φ ‖g_w‖` with
//! `g_w = Σ w_i g_i`, `√φ = c ‖g₀‖`; the update is `d = g₀ + (√φ / ‖g_w*‖) g_w*`, i.e. weights
//! `1/K + (√φ / ‖g_w*‖) w*` (TorchJD's scale, without the official code's optional 1/(1 + c²)).
//! Heads get their own task's plain gradient (weight 1), as in TorchJD and LibMTL.
//!
//! The inner problem is solved by alternating, on the variational form `√x = min_t x/(2t) + t/2`,
//! an exact simplex-constrained QP in w (the active set of `linalg`) with `t = ‖g_w‖`: every round
//! lowers F, and it stops when F no longer decreases (TorchJD calls an interior-point SOCP solver).
//!
//! Degenerate cases: `c = 0` or `g₀ = 0` (e.g. g and −g) → the plain mean 1/K; all zero or
//! non-finite G → 1/K; when the minimiser has `‖g_w*‖ < 10⁻⁴ ‖J‖_F` (0 is, or nearly is, in the
//! hull, as with one zero gradient) the direction is undefined and the weights are 0, no shared step,
//! like TorchJD (whose threshold is absolute; here it is relative to `‖J‖_F² = Σ‖g_i‖²`).

use super::aggregate::{GramAggregator, Rule};
use super::linalg::{dot, mat_vec, normalized_gram, quad_form, small_qp, Feasible};
use super::{Gram, Needs, TaskWeighting};
use crate::error::CoreError;
use crate::methods::{Method, Param, ParamDefault, ParamValues, RulLoss};

/// The paper's and LibMTL's default radius factor.
pub const DEFAULT_C: f64 = 0.4;

pub const C: Param = Param {
    name: "cagrad_c",
    default: ParamDefault::Float(DEFAULT_C),
    doc: "CAGrad radius factor c ≥ 0 of the ball around the mean gradient (0 = the mean gradient)",
};

pub const METHOD: Method = Method {
    name: "cagrad",
    description: "plain MSE, CAGrad: the best worst-task gain within c·‖mean gradient‖ of the mean gradient",
    citation: "Liu et al. 2021 (docs/reference.md §4.3)",
    rul_loss: RulLoss::Mse,
    needs: Needs::Gram,
    params: &[C],
    build,
};

fn build(k: usize, p: &ParamValues) -> Result<Box<dyn TaskWeighting>, CoreError> {
    Ok(Box::new(GramAggregator::new(k, Rule::Cagrad { c: p.float(&C) })?))
}

/// `‖g_w*‖ / ‖J‖_F` below which the conflict-averse direction is not defined (TorchJD's `norm_eps`).
const STATIONARY: f64 = 1e-4;

const MAX_ROUNDS: usize = 500;

/// CAGrad's weights for a row-major K×K Gram matrix and radius factor `c ≥ 0`.
pub fn weights(gram: &Gram, c: f64) -> Vec<f64> {
    let k = gram.k();
    let uniform = vec![1.0 / k as f64; k];
    let Some(g) = normalized_gram(gram.as_slice(), k) else { return uniform };
    let a = mat_vec(&g, &uniform);
    let r = c.max(0.0) * dot(&uniform, &a).max(0.0).sqrt();
    if !(r > 0.0 && r.is_finite()) {
        return uniform;
    }
    let w = inner_minimiser(&g, &a, r);
    let n = quad_form(&g, &w).max(0.0).sqrt();
    if n < STATIONARY {
        return vec![0.0; k];
    }
    uniform.iter().zip(&w).map(|(u, wi)| u + r / n * wi).collect()
}

/// `F(w) = aᵀw + r √(wᵀGw)` with `a = G 1/K`, the dual objective.
pub fn objective(g: &[f64], a: &[f64], r: f64, w: &[f64]) -> f64 {
    dot(a, w) + r * quad_form(g, w).max(0.0).sqrt()
}

/// `argmin_{w ∈ Δ} F(w)`, from the uniform point.
pub fn inner_minimiser(g: &[f64], a: &[f64], r: f64) -> Vec<f64> {
    let k = a.len();
    let mut w = vec![1.0 / k as f64; k];
    let mut f = objective(g, a, r, &w);
    for _ in 0..MAX_ROUNDS {
        let n = quad_form(g, &w).max(0.0).sqrt();
        if n <= 0.0 {
            break;
        }
        let h: Vec<f64> = g.iter().map(|x| x * r / n).collect();
        let next = small_qp(&h, a, Feasible::Simplex);
        let f_next = objective(g, a, r, &next);
        if f_next.is_nan() || f_next >= f {
            break;
        }
        let settled = f - f_next <= 1e-15 * (1.0 + f.abs());
        w = next;
        f = f_next;
        if settled {
            break;
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::super::linalg::testing::{assert_close, combine, gram, gram_of};
    use super::*;

    /// Optimality of the inner problem: ∇F equal to its minimum on the support, ≥ it elsewhere.
    fn assert_inner_kkt(gram: &Gram, c: f64) {
        let k = gram.k();
        let g = normalized_gram(gram.as_slice(), k).unwrap();
        let a = mat_vec(&g, &vec![1.0 / k as f64; k]);
        let r = c * dot(&vec![1.0 / k as f64; k], &a).sqrt();
        let w = inner_minimiser(&g, &a, r);
        let n = quad_form(&g, &w).sqrt();
        let grad: Vec<f64> = a.iter().zip(mat_vec(&g, &w)).map(|(ai, gw)| ai + r * gw / n).collect();
        let min = grad.iter().cloned().fold(f64::INFINITY, f64::min);
        for i in 0..k {
            if w[i] > 1e-7 {
                assert!((grad[i] - min).abs() < 1e-7, "task {i}: ∇F = {grad:?}, w = {w:?}");
            }
        }
        // never worse than the uniform point or a vertex
        let f = objective(&g, &a, r, &w);
        assert!(f <= objective(&g, &a, r, &vec![1.0 / k as f64; k]) + 1e-15);
        for i in 0..k {
            let mut e = vec![0.0; k];
            e[i] = 1.0;
            assert!(f <= objective(&g, &a, r, &e) + 1e-15);
        }
    }

    /// The primal view: d lies on the ball around g₀ and its worst task gains at least g₀'s.
    fn assert_primal(rows: &[&[f64]], c: f64) {
        let k = rows.len();
        let g = gram_of(rows);
        let d = combine(rows, &weights(&g, c));
        let g0 = combine(rows, &vec![1.0 / k as f64; k]);
        let dist: f64 = d.iter().zip(&g0).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt();
        assert!((dist - c * dot(&g0, &g0).sqrt()).abs() < 1e-9, "‖d − g₀‖ = {dist}");
        let worst = |v: &[f64]| rows.iter().map(|r| dot(r, v)).fold(f64::INFINITY, f64::min);
        assert!(worst(&d) >= worst(&g0) - 1e-12, "worst gain {} < mean's {}", worst(&d), worst(&g0));
    }

    #[test]
    fn two_orthogonal_unit_gradients_by_hand() {
        // G = I: by symmetry w* = (½, ½), g_w = g₀ = (½, ½), ‖g₀‖ = 1/√2, √φ = 0.4/√2,
        // ‖g_w‖ = 1/√2 → weights = ½ + 0.4·½ = 0.7 each, d = 1.4·g₀
        let w = weights(&gram(2, &[1.0, 0.0, 0.0, 1.0]), 0.4);
        assert_close(&w, &[0.7, 0.7], 1e-12);
        assert_close(&weights(&gram(2, &[1.0, 0.0, 0.0, 1.0]), 0.0), &[0.5, 0.5], 0.0);
    }

    #[test]
    fn conflicting_pair_by_hand() {
        // g_1 = (1, 0), g_2 = (−1, 2) (G_12 = −1): g₀ = (0, 1), √φ = 0.4; on the segment
        // g_w = (1 − 2t, 2t) (t = w_2), F(t) = g_w·g₀ + 0.4‖g_w‖ = 2t + 0.4 √((1 − 2t)² + 4t²),
        // a convex function of one variable, minimised independently here by ternary search.
        let rows: [&[f64]; 2] = [&[1.0, 0.0], &[-1.0, 2.0]];
        let f = |t: f64| 2.0 * t + 0.4 * ((1.0 - 2.0 * t).powi(2) + 4.0 * t * t).sqrt();
        let (mut lo, mut hi) = (0.0, 1.0);
        for _ in 0..200 {
            let (m1, m2) = (lo + (hi - lo) / 3.0, hi - (hi - lo) / 3.0);
            if f(m1) < f(m2) {
                hi = m2
            } else {
                lo = m1
            }
        }
        let t = 0.5 * (lo + hi);
        let n = ((1.0 - 2.0 * t).powi(2) + 4.0 * t * t).sqrt();
        // the Gram is scaled by its trace 6 inside: compare through d, which is scale-free in w
        let want = combine(&rows, &[0.5 + 0.4 / n * (1.0 - t), 0.5 + 0.4 / n * t]);
        let got = combine(&rows, &weights(&gram_of(&rows), 0.4));
        assert_close(&got, &want, 1e-8);
        assert_primal(&rows, 0.4);
        assert_inner_kkt(&gram_of(&rows), 0.4);
    }

    #[test]
    fn optimality_on_three_and_four_tasks() {
        let cases: Vec<Vec<&[f64]>> = vec![
            vec![&[1.0, 0.0, 0.0], &[0.0, 1.0, 0.0], &[0.0, 0.0, 1.0]],
            vec![&[1.0, 0.2, -0.3], &[-0.8, 0.5, 0.1], &[0.3, -0.9, 0.4]],
            vec![&[10.0, 0.0, 1.0], &[-0.1, 0.2, 0.0], &[0.05, -0.1, 0.3]],
            vec![&[3.0, 1.0], &[1.0, 3.0], &[2.0, 2.0], &[-0.5, 0.2]],
        ];
        for rows in cases {
            for c in [0.1, 0.4, 0.9] {
                assert_inner_kkt(&gram_of(&rows), c);
                assert_primal(&rows, c);
            }
        }
    }

    #[test]
    fn degenerate_cases() {
        // equal and opposite: g₀ = 0, nothing to be averse about → the plain mean (a zero update)
        assert_close(&weights(&gram_of(&[&[1.0, 1.0], &[-1.0, -1.0]]), 0.4), &[0.5, 0.5], 0.0);
        // one zero gradient: g_w* = 0 → no shared step
        assert_eq!(weights(&gram_of(&[&[1.0, 2.0], &[0.0, 0.0]]), 0.4), vec![0.0, 0.0]);
        // identical gradients: d = (1 + c) g
        let rows: [&[f64]; 2] = [&[1.0, -1.0], &[1.0, -1.0]];
        let w = weights(&gram_of(&rows), 0.4);
        assert_close(&combine(&rows, &w), &[1.4, -1.4], 1e-12);
        assert_eq!(weights(&gram(2, &[f64::NAN, 0.0, 0.0, 1.0]), 0.4), vec![0.5, 0.5]);
        assert_eq!(weights(&gram(2, &[0.0; 4]), 0.4), vec![0.5, 0.5]);
        // near-singular: two gradients 1e-6 apart in angle
        let rows: [&[f64]; 2] = [&[1.0, 0.0], &[1.0, 1e-6]];
        let w = weights(&gram_of(&rows), 0.4);
        assert!(w.iter().all(|x| x.is_finite()));
        assert_primal(&rows, 0.4);
    }
}
