//! IMTL-G (Liu et al. 2021, "Towards Impartial Multi-task Learning"; docs/reference.md §4.3): the
//! combination of the task gradients whose projections on every task's unit gradient are equal.
//!
//! `d = Σ w_i g_i` with `g_iᵀ d / ‖g_i‖` the same for every task and `Σ w = 1` (the paper's and
//! TorchJD's scale). From G alone: `w ∝ G⁺ √diag(G)`, the pseudo-inverse form TorchJD uses, which
//! also covers linearly dependent gradients. Heads get their own task's plain gradient (weight 1).
//!
//! Degenerate cases: a zero gradient → weight 0 for it, the rest impartial among themselves;
//! identical gradients → equal weights; g and −g, or any case where `Σ (G⁺√diag G)_i` vanishes (no
//! direction gains equally on every task) → weights 0, no shared step (TorchJD's rule, whose 10⁻¹²
//! threshold is absolute; here it applies to G scaled by its trace); all zero or non-finite G → 1/K.
//! Near-singular G: the pseudo-inverse keeps eigenvalues above K·ε·λ_max, like `torch.linalg.pinv`,
//! so the (ill-conditioned but finite) exact answer is returned.

use super::aggregate::{GramAggregator, Rule};
use super::linalg::{default_rtol, normalized_gram, pinv_solve};
use super::{Gram, Needs, TaskWeighting};
use crate::error::CoreError;
use crate::methods::{Method, ParamValues, RulLoss};

pub const METHOD: Method = Method {
    name: "imtlg",
    description:
        "plain MSE, IMTL-G: the combination of task gradients with equal projections on every task's direction",
    citation: "Liu et al. 2021 (docs/reference.md §4.3)",
    rul_loss: RulLoss::Mse,
    needs: Needs::Gram,
    params: &[],
    build,
};

fn build(k: usize, _: &ParamValues) -> Result<Box<dyn TaskWeighting>, CoreError> {
    Ok(Box::new(GramAggregator::new(k, Rule::Imtlg)?))
}

/// IMTL-G's weights for a row-major K×K Gram matrix.
pub fn weights(gram: &Gram) -> Vec<f64> {
    let k = gram.k();
    let Some(g) = normalized_gram(gram.as_slice(), k) else { return vec![1.0 / k as f64; k] };
    let norms: Vec<f64> = (0..k).map(|i| g[i * k + i].max(0.0).sqrt()).collect();
    let v = pinv_solve(&g, k, &norms, default_rtol(k));
    let s: f64 = v.iter().sum();
    if !(s.abs() >= 1e-12 && s.is_finite()) {
        return vec![0.0; k];
    }
    v.iter().map(|x| x / s).collect()
}

#[cfg(test)]
mod tests {
    use super::super::linalg::dot;
    use super::super::linalg::testing::{assert_close, combine, gram, gram_of};
    use super::*;

    /// Equal projections of d on the unit gradients of every non-zero task.
    fn assert_impartial(rows: &[&[f64]]) {
        let w = weights(&gram_of(rows));
        let d = combine(rows, &w);
        let proj: Vec<f64> = rows.iter().filter(|r| dot(r, r) > 0.0).map(|r| dot(r, &d) / dot(r, r).sqrt()).collect();
        for p in &proj {
            assert!((p - proj[0]).abs() < 1e-10 * proj[0].abs().max(1.0), "{proj:?}");
        }
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn two_tasks_by_hand() {
        // orthogonal, norms 1 and 2: w ∝ G⁻¹(1, 2) = (1, ½) → (⅔, ⅓), d = (⅔, ⅔): projections ⅔, ⅔
        let rows: [&[f64]; 2] = [&[1.0, 0.0], &[0.0, 2.0]];
        let w = weights(&gram_of(&rows));
        assert_close(&w, &[2.0 / 3.0, 1.0 / 3.0], 1e-15);
        // conflicting: g_1 = (1, 0), g_2 = (−1, 1); d = a g_1 + (1 − a) g_2 = (2a − 1, 1 − a) with
        // d·g_1 = 2a − 1 equal to d·g_2/√2 = (2 − 3a)/√2 → a = (2 + √2)/(3 + 2√2) = 0.5857864…
        let rows: [&[f64]; 2] = [&[1.0, 0.0], &[-1.0, 1.0]];
        let a = (2.0 + 2f64.sqrt()) / (3.0 + 2.0 * 2f64.sqrt());
        assert_close(&weights(&gram_of(&rows)), &[a, 1.0 - a], 1e-14);
        assert_impartial(&rows);
        // one dominant task: orthogonal norms 100 and 1 → w ∝ (1/100, 1) → the small one weighs 100/101
        let w = weights(&gram_of(&[&[100.0, 0.0], &[0.0, 1.0]]));
        assert_close(&w, &[1.0 / 101.0, 100.0 / 101.0], 1e-15);
    }

    #[test]
    fn three_tasks() {
        // orthonormal: uniform
        let rows: [&[f64]; 3] = [&[1.0, 0.0, 0.0], &[0.0, 1.0, 0.0], &[0.0, 0.0, 1.0]];
        assert_close(&weights(&gram_of(&rows)), &[1.0 / 3.0; 3], 1e-15);
        assert_impartial(&[&[1.0, 0.2, -0.3], &[-0.8, 0.5, 0.1], &[0.3, -0.9, 0.4]]);
        assert_impartial(&[&[10.0, 0.0, 1.0], &[-0.1, 0.2, 0.0], &[0.05, -0.1, 0.3]]);
        // a duplicated task (rank 2) is still impartial through the pseudo-inverse
        assert_impartial(&[&[1.0, 0.0, 2.0], &[0.0, 1.0, -1.0], &[1.0, 0.0, 2.0]]);
    }

    #[test]
    fn degenerate_cases() {
        // zero gradient: weight 0 for it
        let w = weights(&gram_of(&[&[1.0, 2.0], &[0.0, 0.0]]));
        assert_close(&w, &[1.0, 0.0], 1e-15);
        assert_impartial(&[&[1.0, 0.0, 0.0], &[0.0, 0.0, 0.0], &[-1.0, 1.0, 0.0]]);
        // identical → ½/½; opposite → no direction gains on both → 0
        assert_close(&weights(&gram_of(&[&[1.0, 1.0], &[1.0, 1.0]])), &[0.5, 0.5], 1e-15);
        assert_eq!(weights(&gram_of(&[&[1.0, 1.0], &[-1.0, -1.0]])), vec![0.0, 0.0]);
        assert_eq!(weights(&gram(2, &[0.0; 4])), vec![0.5, 0.5]);
        assert_eq!(weights(&gram(2, &[1.0, f64::NAN, f64::NAN, 1.0])), vec![0.5, 0.5]);
        // near-singular: finite, and still impartial
        assert_impartial(&[&[1.0, 0.0], &[1.0, 1e-5]]);
    }
}
