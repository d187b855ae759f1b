//! MGDA-UB (Sener & Koltun 2018; docs/reference.md §4.3): the shared update is the minimum-norm point
//! of the convex hull of the task gradients, computed from their Gram matrix alone.
//!
//! `w = argmin_{w ∈ Δ} wᵀ G w`, and the shared gradient is `Σ_i w_i g_i` (Σ w = 1, TorchJD's scale).
//! Each task-specific head gets its own task's plain gradient (weight 1), as in TorchJD and LibMTL.
//! K = 2 has the closed form `w_1 = clip((G_22 − G_12) / ‖g_1 − g_2‖², 0, 1)`; K ≥ 3 solves the
//! quadratic program exactly with an active-set method (TorchJD uses Frank–Wolfe with a 10⁻³ stop).
//!
//! Degenerate cases (all finite, never NaN): every gradient zero, or a non-finite Gram → uniform
//! 1/K; identical gradients → 1/K for K = 2 (any w gives the same update; K ≥ 3 returns one valid w);
//! a zero gradient or exactly opposing gradients → the minimum norm is 0 and so is the update (MGDA
//! stops at a Pareto-stationary point by design); near-singular G → the exact minimiser.

use super::aggregate::{GramAggregator, Rule};
use super::linalg::{normalized_gram, small_qp, Feasible};
use super::{Gram, Needs, TaskWeighting};
use crate::error::CoreError;
use crate::methods::{Method, ParamValues, RulLoss};

pub const METHOD: Method = Method {
    name: "mgda",
    description: "plain MSE, MGDA-UB: the shared update is the minimum-norm point of the hull of the task gradients",
    citation: "Sener & Koltun 2018 (docs/reference.md §4.3)",
    rul_loss: RulLoss::Mse,
    needs: Needs::Gram,
    params: &[],
    build,
};

fn build(k: usize, _: &ParamValues) -> Result<Box<dyn TaskWeighting>, CoreError> {
    Ok(Box::new(GramAggregator::new(k, Rule::Mgda)?))
}

/// MGDA's weights for a row-major K×K Gram matrix.
pub fn weights(gram: &Gram) -> Vec<f64> {
    let k = gram.k();
    let Some(g) = normalized_gram(gram.as_slice(), k) else { return vec![1.0 / k as f64; k] };
    if k == 2 {
        return two_tasks(&g);
    }
    // On the simplex wᵀ(G + 11ᵀ)w = wᵀGw + 1, and x = argmin_{x ≥ 0} ½xᵀ(G + 11ᵀ)x − Σx is the
    // minimiser scaled by 1/(its objective): the same KKT conditions with μ = 1/Σx. The added 11ᵀ
    // keeps the problem bounded when 0 is in the hull, and Σx > 0 because x = 0 is never optimal.
    let h: Vec<f64> = g.iter().map(|x| x + 1.0).collect();
    let x = small_qp(&h, &vec![-1.0; k], Feasible::NonNegative);
    let s: f64 = x.iter().sum();
    if s > 0.0 && s.is_finite() {
        x.iter().map(|xi| xi / s).collect()
    } else {
        vec![1.0 / k as f64; k]
    }
}

fn two_tasks(g: &[f64]) -> Vec<f64> {
    let (g11, g12, g22) = (g[0], g[1], g[3]);
    let diff = g11 + g22 - 2.0 * g12;
    // ‖g_1 − g_2‖² relative to ‖g_1‖² + ‖g_2‖² = 1: below rounding, the gradients are identical.
    if diff <= 1e-15 {
        return vec![0.5, 0.5];
    }
    let w1 = ((g22 - g12) / diff).clamp(0.0, 1.0);
    vec![w1, 1.0 - w1]
}

#[cfg(test)]
mod tests {
    use super::super::linalg::testing::{assert_close, combine, gram, gram_of};
    use super::super::linalg::{mat_vec, quad_form};
    use super::*;

    /// KKT of min wᵀGw on the simplex: (Gw)_i equal to the minimum wherever w_i > 0.
    fn assert_min_norm_kkt(gram: &Gram, w: &[f64]) {
        let gw = mat_vec(gram.as_slice(), w);
        let min = gw.iter().cloned().fold(f64::INFINITY, f64::min);
        let scale = gram.as_slice().iter().fold(0.0f64, |m, x| m.max(x.abs()));
        for (i, (wi, gi)) in w.iter().zip(&gw).enumerate() {
            assert!(*wi >= 0.0, "w[{i}] = {wi}");
            if *wi > 1e-9 {
                assert!((gi - min).abs() <= 1e-9 * scale, "active task {i}: (Gw)_i = {gi}, min = {min}");
            }
        }
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn two_tasks_by_hand() {
        // orthogonal, norms 1 and 2: w_1 = (4 − 0)/(1 + 4) = 0.8, d = (0.8, 0.4), ‖d‖² = 0.8
        let g = gram_of(&[&[1.0, 0.0], &[0.0, 2.0]]);
        let w = weights(&g);
        assert_close(&w, &[0.8, 0.2], 1e-15);
        assert_close(&combine(&[&[1.0, 0.0], &[0.0, 2.0]], &w), &[0.8, 0.4], 1e-15);
        // conflicting: g_1 = (1, 0), g_2 = (−1, 1): G = [[1, −1], [−1, 2]], w_1 = 3/5
        let w = weights(&gram_of(&[&[1.0, 0.0], &[-1.0, 1.0]]));
        assert_close(&w, &[0.6, 0.4], 1e-15);
        // one dominant task: g_1 = (10, 0), g_2 = (0, 1) → w_1 = 1/101: the small gradient wins
        let w = weights(&gram_of(&[&[10.0, 0.0], &[0.0, 1.0]]));
        assert_close(&w, &[1.0 / 101.0, 100.0 / 101.0], 1e-15);
        // g_2 inside the other's half-plane and shorter: the clip puts all weight on g_2
        let w = weights(&gram_of(&[&[2.0, 0.0], &[1.0, 0.5]]));
        assert_close(&w, &[0.0, 1.0], 0.0);
    }

    #[test]
    fn three_tasks_by_hand() {
        // orthonormal: the min-norm point is the centroid
        let rows: [&[f64]; 3] = [&[1.0, 0.0, 0.0], &[0.0, 1.0, 0.0], &[0.0, 0.0, 1.0]];
        let w = weights(&gram_of(&rows));
        assert_close(&w, &[1.0 / 3.0; 3], 1e-14);
        // norms 1, 2, 3 orthogonal: w ∝ 1/‖g_i‖² = (1, 1/4, 1/9)/(49/36)
        let rows: [&[f64]; 3] = [&[1.0, 0.0, 0.0], &[0.0, 2.0, 0.0], &[0.0, 0.0, 3.0]];
        let w = weights(&gram_of(&rows));
        assert_close(&w, &[36.0 / 49.0, 9.0 / 49.0, 4.0 / 49.0], 1e-14);
        // a third gradient far outside: g_3 = (5, 5) is never active, the pair (1,0), (0,1) splits ½/½
        let rows: [&[f64]; 3] = [&[1.0, 0.0], &[0.0, 1.0], &[5.0, 5.0]];
        let w = weights(&gram_of(&rows));
        assert_close(&w, &[0.5, 0.5, 0.0], 1e-14);
    }

    #[test]
    fn kkt_holds_on_awkward_gram_matrices() {
        let cases: Vec<Vec<&[f64]>> = vec![
            vec![&[1.0, 0.2, -0.3], &[-0.8, 0.5, 0.1], &[0.3, -0.9, 0.4]],
            vec![&[3.0, 1.0], &[1.0, 3.0], &[2.0, 2.0], &[-0.1, 0.2]],
            vec![&[1.0, 0.0, 0.0], &[1.0, 1e-7, 0.0], &[0.0, 0.0, 1e-3]],
            vec![&[1.0, 2.0, 3.0, 4.0], &[4.0, 3.0, 2.0, 1.0], &[1.0, 1.0, 1.0, 1.0], &[0.0, 1.0, 0.0, -1.0]],
        ];
        for rows in cases {
            let g = gram_of(&rows);
            let w = weights(&g);
            assert_min_norm_kkt(&g, &w);
            // no vertex or uniform point has a smaller norm
            let k = rows.len();
            let best = quad_form(g.as_slice(), &w);
            assert!(best <= quad_form(g.as_slice(), &vec![1.0 / k as f64; k]) + 1e-15);
            for i in 0..k {
                assert!(best <= g.get(i, i) + 1e-15);
            }
        }
    }

    #[test]
    fn degenerate_cases() {
        // one zero gradient: the hull contains 0, so does the update
        let w = weights(&gram_of(&[&[1.0, 2.0], &[0.0, 0.0]]));
        assert_close(&w, &[0.0, 1.0], 0.0);
        let rows: [&[f64]; 3] = [&[1.0, 2.0], &[0.0, 0.0], &[-1.0, 0.5]];
        let w = weights(&gram_of(&rows));
        assert_close(&combine(&rows, &w), &[0.0, 0.0], 1e-12);
        // identical: ½/½; opposite: ½/½ with a zero update
        assert_close(&weights(&gram_of(&[&[1.0, 1.0], &[1.0, 1.0]])), &[0.5, 0.5], 0.0);
        assert_close(&weights(&gram_of(&[&[1.0, 1.0], &[-1.0, -1.0]])), &[0.5, 0.5], 1e-15);
        // three identical gradients: any w is optimal, the update is the gradient itself
        let rows: [&[f64]; 3] = [&[1.0, -2.0], &[1.0, -2.0], &[1.0, -2.0]];
        let w = weights(&gram_of(&rows));
        assert_close(&combine(&rows, &w), &[1.0, -2.0], 1e-12);
        assert_min_norm_kkt(&gram_of(&rows), &w);
        // all zero, NaN, ∞: uniform
        assert_eq!(weights(&gram(2, &[0.0; 4])), vec![0.5, 0.5]);
        assert_eq!(weights(&gram(2, &[f64::NAN, 0.0, 0.0, 1.0])), vec![0.5, 0.5]);
        assert_eq!(weights(&gram(3, &[f64::INFINITY, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0])), vec![1.0 / 3.0; 3]);
        // scale does not matter: 1e-150 and 1e150 give the weights of 1
        let g = gram_of(&[&[1.0, 0.0], &[-1.0, 1.0]]);
        for s in [1e-150, 1e150] {
            let scaled: Vec<f64> = g.as_slice().iter().map(|x| x * s).collect();
            assert_close(&weights(&gram(2, &scaled)), &[0.6, 0.4], 1e-14);
        }
    }
}
