//! UPGrad (Quinton & Rey 2024, TorchJD; docs/reference.md §4.3): each task gradient, scaled by its
//! preference 1/K, is projected onto the dual cone of all task gradients, and the projections summed.
//!
//! The projection of `Jᵀu` onto `{x : g_jᵀ x ≥ 0 ∀ j}` is `Jᵀv` with `v = argmin_{v ≥ u} vᵀ G v`, a
//! small QP per task solved exactly by the active set of `linalg` (TorchJD calls quadprog); the
//! weights are `Σ_i v_i` for `u_i = e_i / K`. As in TorchJD, the QPs see G divided by its trace plus
//! 10⁻⁴·I, which makes them strictly convex whatever the gradients (so the cone is that of a slightly
//! regularised G). Heads get their own task's plain gradient (weight 1), as in TorchJD and LibMTL.
//!
//! Degenerate cases: a zero gradient adds no constraint; identical gradients → 1/K; g and −g →
//! both projections shrink towards 0 (only the regularisation keeps them apart); all zero or
//! non-finite G → 1/K (TorchJD does the same below a trace of 10⁻⁴; here only at exactly 0).

use super::aggregate::{GramAggregator, Rule};
use super::linalg::{mat_vec, normalized_gram, small_qp, Feasible};
use super::{Gram, Needs, TaskWeighting};
use crate::error::CoreError;
use crate::methods::{Method, ParamValues, RulLoss};

pub const METHOD: Method = Method {
    name: "upgrad",
    description: "plain MSE, UPGrad: each task gradient projected onto the dual cone of all of them, averaged",
    citation: "Quinton & Rey 2024 (docs/reference.md §4.3)",
    rul_loss: RulLoss::Mse,
    needs: Needs::Gram,
    params: &[],
    build,
};

fn build(k: usize, _: &ParamValues) -> Result<Box<dyn TaskWeighting>, CoreError> {
    Ok(Box::new(GramAggregator::new(k, Rule::Upgrad)?))
}

/// TorchJD's `reg_eps`: the ridge added to the trace-normalised Gram matrix.
pub const REGULARISATION: f64 = 1e-4;

/// UPGrad's weights for a row-major K×K Gram matrix (uniform preference).
pub fn weights(gram: &Gram) -> Vec<f64> {
    let k = gram.k();
    let uniform = vec![1.0 / k as f64; k];
    let Some(mut g) = normalized_gram(gram.as_slice(), k) else { return uniform };
    for i in 0..k {
        g[i * k + i] += REGULARISATION;
    }
    let mut w = vec![0.0; k];
    for i in 0..k {
        let v = project(&g, i, 1.0 / k as f64);
        w.iter_mut().zip(&v).for_each(|(wi, vi)| *wi += vi);
    }
    w
}

/// `argmin_{v ≥ u} vᵀ G v` for `u = scale · e_i`: with `v = u + x`, `x ≥ 0` minimises
/// `½ xᵀ G x + (G u)ᵀ x`.
fn project(g: &[f64], i: usize, scale: f64) -> Vec<f64> {
    let k = (g.len() as f64).sqrt() as usize;
    let mut u = vec![0.0; k];
    u[i] = scale;
    let x = small_qp(g, &mat_vec(g, &u), Feasible::NonNegative);
    u.iter().zip(&x).map(|(a, b)| a + b).collect()
}

#[cfg(test)]
mod tests {
    use super::super::linalg::testing::{assert_close, combine, gram, gram_of};
    use super::super::linalg::{dot, normalized_gram};
    use super::*;

    /// KKT of each projection: v ≥ u, (G v)_j ≥ 0 (inside the dual cone), and (G v)_j = 0 where
    /// v_j > u_j (complementary slackness), for the regularised, trace-normalised G.
    fn assert_projections_optimal(gram: &Gram) {
        let k = gram.k();
        let mut g = normalized_gram(gram.as_slice(), k).unwrap();
        for i in 0..k {
            g[i * k + i] += REGULARISATION;
        }
        for i in 0..k {
            let v = project(&g, i, 1.0 / k as f64);
            let gv = mat_vec(&g, &v);
            for j in 0..k {
                let u = if i == j { 1.0 / k as f64 } else { 0.0 };
                assert!(v[j] >= u - 1e-15, "v = {v:?}");
                assert!(gv[j] >= -1e-12, "Gv = {gv:?}");
                if v[j] > u + 1e-12 {
                    assert!(gv[j].abs() < 1e-12, "task {i}: Gv = {gv:?}, v = {v:?}");
                }
            }
        }
    }

    #[test]
    fn no_conflict_is_the_mean() {
        // orthogonal and aligned pairs: nothing to project, w = 1/K
        assert_close(&weights(&gram_of(&[&[1.0, 0.0], &[0.0, 2.0]])), &[0.5, 0.5], 1e-15);
        assert_close(&weights(&gram_of(&[&[1.0, 1.0], &[2.0, 0.5]])), &[0.5, 0.5], 1e-15);
        let rows: [&[f64]; 3] = [&[1.0, 0.0, 0.0], &[0.0, 1.0, 0.0], &[0.0, 0.0, 1.0]];
        assert_close(&weights(&gram_of(&rows)), &[1.0 / 3.0; 3], 1e-15);
    }

    #[test]
    fn conflicting_pair_by_hand() {
        // g_1 = (1, 0), g_2 = (−1, 1): trace 3, Ĝ = [[1, −1], [−1, 2]]/3 + εI (ε = 10⁻⁴).
        // Projecting ½g_1: v = (½, x) with (Ĝv)_2 = 0 → x = (½/3)/(2/3 + ε); (Ĝv)_1 > 0 holds.
        // Projecting ½g_2: v = (y, ½) with (Ĝv)_1 = 0 → y = (½/3)/(1/3 + ε).
        let e = REGULARISATION;
        let (x, y) = (0.5 / 3.0 / (2.0 / 3.0 + e), 0.5 / 3.0 / (1.0 / 3.0 + e));
        let w = weights(&gram_of(&[&[1.0, 0.0], &[-1.0, 1.0]]));
        assert_close(&w, &[0.5 + y, 0.5 + x], 1e-15);
        // without the ridge: w = (1, 0.75), d = (0.25, 0.75), which gains on both tasks
        assert_close(&w, &[1.0, 0.75], 1e-3);
        let d = combine(&[&[1.0, 0.0], &[-1.0, 1.0]], &w);
        assert!(dot(&d, &[1.0, 0.0]) > 0.0 && dot(&d, &[-1.0, 1.0]) > 0.0);
    }

    #[test]
    fn projections_are_optimal() {
        let cases: Vec<Vec<&[f64]>> = vec![
            vec![&[1.0, 0.2, -0.3], &[-0.8, 0.5, 0.1], &[0.3, -0.9, 0.4]],
            vec![&[10.0, 0.0, 1.0], &[-0.1, 0.2, 0.0], &[0.05, -0.1, 0.3]],
            vec![&[3.0, 1.0], &[1.0, 3.0], &[2.0, 2.0], &[-0.5, 0.2]],
            vec![&[1.0, 0.0], &[-1.0, 1e-6]],
        ];
        for rows in cases {
            assert_projections_optimal(&gram_of(&rows));
        }
    }

    #[test]
    fn degenerate_cases() {
        // zero gradient: no constraint from it, the other passes through
        assert_close(&weights(&gram_of(&[&[1.0, 2.0], &[0.0, 0.0]])), &[0.5, 0.5], 1e-15);
        assert_close(&weights(&gram_of(&[&[1.0, 1.0], &[1.0, 1.0]])), &[0.5, 0.5], 1e-15);
        // g and −g: v_1 = (½, x) with x = ½·(½)/(½ + ε) ≈ ½ → d ≈ 0, and symmetric
        let rows: [&[f64]; 2] = [&[1.0, 1.0], &[-1.0, -1.0]];
        let w = weights(&gram_of(&rows));
        assert!((w[0] - w[1]).abs() < 1e-15 && w.iter().all(|x| x.is_finite()));
        let d = combine(&rows, &w);
        assert!(dot(&d, &d) < 1e-6, "{d:?}");
        assert_eq!(weights(&gram(2, &[0.0; 4])), vec![0.5, 0.5]);
        assert_eq!(weights(&gram(2, &[f64::NAN; 4])), vec![0.5, 0.5]);
    }
}
