//! Aligned-MTL (Senushkin et al. 2023; docs/reference.md §4.3): the task gradients are replaced by
//! orthogonal components of equal length (stable rank 1 condition number) before averaging.
//!
//! From the eigen-decomposition `G = V Λ Vᵀ` over the rank r of G (eigenvalues above K·ε·λ_max):
//! `w = √λ_min · V_r Λ_r^{-1/2} V_rᵀ · (1/K)`, so `d = Σ w_i g_i`; λ_min is the smallest kept
//! eigenvalue (TorchJD's default "min" scale; the balance matrix is invariant to eigenvector signs
//! and to rotations within repeated eigenvalues, so the result does not depend on the solver).
//! Heads get their own task's plain gradient (weight 1), as in TorchJD and LibMTL.
//!
//! Degenerate cases: a zero gradient drops out of the rank (its weight follows from the others);
//! identical gradients → rank 1, w = 1/K; g and −g → rank 1 along g − (−g), w = 0, no shared step;
//! all zero or non-finite G → 1/K (TorchJD's identity balance).

use super::aggregate::{GramAggregator, Rule};
use super::linalg::{normalized_gram, sym_eigen};
use super::{Gram, Needs, TaskWeighting};
use crate::error::CoreError;
use crate::methods::{Method, ParamValues, RulLoss};

pub const METHOD: Method = Method {
    name: "aligned",
    description:
        "plain MSE, Aligned-MTL: the task gradients' principal components equalised to the smallest, then averaged",
    citation: "Senushkin et al. 2023 (docs/reference.md §4.3)",
    rul_loss: RulLoss::Mse,
    needs: Needs::Gram,
    params: &[],
    build,
};

fn build(k: usize, _: &ParamValues) -> Result<Box<dyn TaskWeighting>, CoreError> {
    Ok(Box::new(GramAggregator::new(k, Rule::Aligned)?))
}

/// Aligned-MTL's weights for a row-major K×K Gram matrix.
pub fn weights(gram: &Gram) -> Vec<f64> {
    let k = gram.k();
    let uniform = vec![1.0 / k as f64; k];
    let Some(g) = normalized_gram(gram.as_slice(), k) else { return uniform };
    let e = sym_eigen(&g, k);
    let top = e.values.iter().cloned().fold(0.0f64, f64::max);
    let tol = top * k as f64 * f64::EPSILON;
    let kept: Vec<usize> = (0..k).filter(|&j| e.values[j] > tol).collect();
    let Some(lambda_min) = kept.iter().map(|&j| e.values[j]).reduce(f64::min) else { return uniform };
    let mut w = vec![0.0; k];
    for &j in &kept {
        let col: Vec<f64> = (0..k).map(|i| e.vectors[i * k + j]).collect();
        let coef = (lambda_min / e.values[j]).sqrt() * col.iter().sum::<f64>() / k as f64;
        w.iter_mut().zip(&col).for_each(|(wi, vi)| *wi += coef * vi);
    }
    w
}

#[cfg(test)]
mod tests {
    use super::super::linalg::dot;
    use super::super::linalg::testing::{assert_close, combine, gram, gram_of};
    use super::*;

    #[test]
    fn orthogonal_gradients_are_equalised() {
        // orthogonal with norms 1 and 2: Λ = (1, 4)/5 along e_1, e_2, λ_min = 1/5 →
        // w = (1·½, ½·½) = (½, ¼), d = (½, ½): both components equal
        let rows: [&[f64]; 2] = [&[1.0, 0.0], &[0.0, 2.0]];
        let w = weights(&gram_of(&rows));
        assert_close(&w, &[0.5, 0.25], 1e-15);
        assert_close(&combine(&rows, &w), &[0.5, 0.5], 1e-15);
        // one dominant (norms 100 and 1): d = (½, ½) again, w = (1/200, ½)
        let w = weights(&gram_of(&[&[100.0, 0.0], &[0.0, 1.0]]));
        assert_close(&w, &[0.005, 0.5], 1e-15);
        // three orthogonal: uniform direction scaled to the smallest
        let rows: [&[f64]; 3] = [&[1.0, 0.0, 0.0], &[0.0, 2.0, 0.0], &[0.0, 0.0, 4.0]];
        let d = combine(&rows, &weights(&gram_of(&rows)));
        assert_close(&d, &[1.0 / 3.0; 3], 1e-15);
    }

    #[test]
    fn conflicting_pair_by_hand() {
        // g_1 = (1, 0), g_2 = (−1, 1): G = [[1, −1], [−1, 2]], det 1, λ = (3 ∓ √5)/2. The 2×2
        // square root is √G = (G + √det I)/√(tr + 2√det) = [[2, −1], [−1, 3]]/√5, so
        // G^{-½} = [[3, 1], [1, 2]]/√5 and w = √λ_min G^{-½} (½, ½) = √λ_min (2, 1.5)/√5.
        let rows: [&[f64]; 2] = [&[1.0, 0.0], &[-1.0, 1.0]];
        let l_min: f64 = (3.0 - 5f64.sqrt()) / 2.0;
        let c = l_min.sqrt() / 5f64.sqrt();
        assert_close(&weights(&gram_of(&rows)), &[2.0 * c, 1.5 * c], 1e-14);
        // the balanced rows are orthogonal with equal norms, so ‖d‖² = λ_min ‖(½, ½)‖²
        let d = combine(&rows, &weights(&gram_of(&rows)));
        assert!((dot(&d, &d) - l_min / 2.0).abs() < 1e-14);
    }

    #[test]
    fn degenerate_cases() {
        // zero gradient: rank 1, the other keeps weight ½ in the uniform preference
        let rows: [&[f64]; 2] = [&[3.0, 4.0], &[0.0, 0.0]];
        let w = weights(&gram_of(&rows));
        assert_close(&w, &[0.5, 0.0], 1e-15);
        // identical → ½/½; opposite → 0
        assert_close(&weights(&gram_of(&[&[1.0, 1.0], &[1.0, 1.0]])), &[0.5, 0.5], 1e-15);
        assert_close(&weights(&gram_of(&[&[1.0, 1.0], &[-1.0, -1.0]])), &[0.0, 0.0], 1e-15);
        assert_eq!(weights(&gram(2, &[0.0; 4])), vec![0.5, 0.5]);
        assert_eq!(weights(&gram(2, &[f64::NAN; 4])), vec![0.5, 0.5]);
        // near-singular: finite
        let w = weights(&gram_of(&[&[1.0, 0.0], &[1.0, 1e-6]]));
        assert!(w.iter().all(|x| x.is_finite()), "{w:?}");
    }
}
