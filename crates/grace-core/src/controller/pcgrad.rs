//! PCGrad (Yu et al. 2020; docs/reference.md §4.3): "gradient surgery" as arithmetic on the Gram
//! matrix. Each task gradient is projected off the normal plane of every gradient it conflicts with.
//!
//! For task i, `p_i = g_i`, then for each other task j in a random order: if `p_i · g_j < 0`,
//! `p_i −= (p_i · g_j / ‖g_j‖²) g_j`. Every `p_i` stays a combination of the g's, so its coefficients
//! follow from G alone, and the shared gradient is `Σ_i p_i = Σ_j w_j g_j` (the paper's and TorchJD's
//! sum, so w = (1, …, 1) when nothing conflicts). Heads get their own task's plain gradient (weight 1).
//! K = 2 has no order to choose: `w = (1 − G_12/G_22, 1 − G_12/G_11)` when `G_12 < 0`, else (1, 1).
//! For K ≥ 3 the orders are drawn per step from a seeded generator: deterministic given (seed, step).
//!
//! Degenerate cases: a zero (or, relative to the largest, below 10⁻¹² in norm) gradient is never
//! projected onto, so no division by zero; identical gradients never conflict → (1, …, 1); exactly
//! opposite g and −g → each projected to 0, w = (0, 0); all zero or non-finite G → (1, …, 1).

use super::aggregate::{GramAggregator, Rule};
use super::linalg::normalized_gram;
use super::{Gram, Needs, TaskWeighting};
use crate::error::CoreError;
use crate::methods::{Method, Param, ParamDefault, ParamValues, RulLoss};

pub const SEED: Param = Param {
    name: "pcgrad_seed",
    default: ParamDefault::Int(0),
    doc: "seed of PCGrad's per-step projection orders (K ≥ 3; K = 2 has no order to choose)",
};

pub const METHOD: Method = Method {
    name: "pcgrad",
    description: "plain MSE, PCGrad: each task gradient projected off the gradients it conflicts with, summed",
    citation: "Yu et al. 2020 (docs/reference.md §4.3)",
    rul_loss: RulLoss::Mse,
    needs: Needs::Gram,
    params: &[SEED],
    build,
};

fn build(k: usize, p: &ParamValues) -> Result<Box<dyn TaskWeighting>, CoreError> {
    Ok(Box::new(GramAggregator::new(k, Rule::Pcgrad { seed: p.int(&SEED) })?))
}

/// Squared norms below this share of `Σ‖g‖²` count as zero gradients (norm ratio 10⁻¹²).
const ZERO_GRADIENT: f64 = 1e-24;

/// PCGrad's weights with this step's projection orders drawn from `(seed, step)`.
pub fn weights(gram: &Gram, seed: u64, step: u64) -> Vec<f64> {
    weights_in_order(gram, &step_orders(seed, step, gram.k()))
}

/// PCGrad's weights with explicit orders: `orders[i]` lists the tasks to project task i's gradient
/// against, in turn (i itself, if listed, is skipped).
pub fn weights_in_order(gram: &Gram, orders: &[Vec<usize>]) -> Vec<f64> {
    let k = gram.k();
    let Some(g) = normalized_gram(gram.as_slice(), k) else { return vec![1.0; k] };
    let mut w = vec![0.0; k];
    for (i, order) in orders.iter().enumerate().take(k) {
        let mut p = vec![0.0; k];
        p[i] = 1.0;
        for &j in order.iter().filter(|&&j| j != i && j < k) {
            let g_jj = g[j * k + j];
            if g_jj <= ZERO_GRADIENT {
                continue;
            }
            let inner: f64 = (0..k).map(|m| g[j * k + m] * p[m]).sum();
            if inner < 0.0 {
                p[j] -= inner / g_jj;
            }
        }
        w.iter_mut().zip(&p).for_each(|(wi, pi)| *wi += pi);
    }
    w
}

/// For each task, the other tasks in a shuffled order (Fisher–Yates on SplitMix64 draws), a pure
/// function of `(seed, step)` so that a resumed run redraws the same orders.
pub fn step_orders(seed: u64, step: u64, k: usize) -> Vec<Vec<usize>> {
    let mut state = seed ^ step.wrapping_mul(0xD1B5_4A32_D192_ED03);
    (0..k)
        .map(|i| {
            let mut others: Vec<usize> = (0..k).filter(|&j| j != i).collect();
            for n in (1..others.len()).rev() {
                let r = (splitmix64(&mut state) % (n as u64 + 1)) as usize;
                others.swap(n, r);
            }
            others
        })
        .collect()
}

pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::super::linalg::testing::{assert_close, combine, gram, gram_of};
    use super::*;

    #[test]
    fn two_tasks_by_hand() {
        // g_1 = (1, 0), g_2 = (−1, 1): G_12 = −1, p_1 = g_1 + ½g_2 = (½, ½), p_2 = g_2 + g_1 = (0, 1)
        let rows: [&[f64]; 2] = [&[1.0, 0.0], &[-1.0, 1.0]];
        let w = weights(&gram_of(&rows), 7, 0);
        assert_close(&w, &[2.0, 1.5], 1e-15);
        assert_close(&combine(&rows, &w), &[0.5, 1.5], 1e-15);
        // no conflict (orthogonal or aligned): the plain sum
        assert_eq!(weights(&gram_of(&[&[1.0, 0.0], &[0.0, 3.0]]), 7, 0), vec![1.0, 1.0]);
        assert_eq!(weights(&gram_of(&[&[1.0, 1.0], &[2.0, 1.0]]), 7, 0), vec![1.0, 1.0]);
        // one dominant: g_1 = (10, 0), g_2 = (−1, 1), G_12 = −10: p_1 = g_1 + (10/2) g_2 and
        // p_2 = g_2 + (10/100) g_1 → w = (1 + 0.1, 5 + 1)
        let w = weights(&gram_of(&[&[10.0, 0.0], &[-1.0, 1.0]]), 7, 0);
        assert_close(&w, &[1.1, 6.0], 1e-14);
    }

    #[test]
    fn three_tasks_by_hand_and_order_matters() {
        // g_1 = (1, 0), g_2 = (0, 1), g_3 = (−1, −1): g_3 conflicts with both.
        let rows: [&[f64]; 3] = [&[1.0, 0.0], &[0.0, 1.0], &[-1.0, -1.0]];
        let g = gram_of(&rows);
        // p_1 = g_1 + ½g_3 = (½, −½); then p_1·g_2 = −½ < 0 → p_1 += ½g_2 = (½, 0)
        // p_2 (symmetric) = (0, ½); p_3 against g_1 first: p_3 + g_1 = (0, −1), then + g_2 → (0, 0)
        let w = weights_in_order(&g, &[vec![2, 1], vec![2, 0], vec![0, 1]]);
        assert_close(&combine(&rows, &w), &[0.5, 0.5], 1e-15);
        // projecting p_1 on g_2 first does nothing (orthogonal), then on g_3: p_1 = (½, −½)
        let w2 = weights_in_order(&g, &[vec![1, 2], vec![2, 0], vec![0, 1]]);
        assert_close(&combine(&rows, &w2), &[0.5, 0.0], 1e-15);
    }

    #[test]
    fn orders_are_permutations_and_reproducible() {
        for step in 0..20 {
            let o = step_orders(42, step, 4);
            assert_eq!(o, step_orders(42, step, 4));
            for (i, oi) in o.iter().enumerate() {
                let mut s = oi.clone();
                s.sort();
                assert_eq!(s, (0..4).filter(|&j| j != i).collect::<Vec<_>>());
            }
        }
        // different steps and seeds shuffle differently (over 20 steps, at least one differs)
        assert!((1..20).any(|s| step_orders(42, s, 4) != step_orders(42, 0, 4)));
        assert!((0..20).any(|s| step_orders(43, s, 4) != step_orders(42, s, 4)));
    }

    #[test]
    fn degenerate_cases() {
        // zero gradient: never projected onto, and it projects onto nothing
        assert_eq!(weights(&gram_of(&[&[1.0, 2.0], &[0.0, 0.0]]), 1, 0), vec![1.0, 1.0]);
        // a vanishing gradient (norm ratio 1e-13) is ignored too, so no huge coefficient
        let w = weights(&gram_of(&[&[1.0, 0.0], &[-1e-13, 1e-14]]), 1, 0);
        assert!(w.iter().all(|x| x.is_finite() && x.abs() < 10.0), "{w:?}");
        // identical: no conflict; opposite: both projected to zero
        assert_eq!(weights(&gram_of(&[&[1.0, 1.0], &[1.0, 1.0]]), 1, 0), vec![1.0, 1.0]);
        let rows: [&[f64]; 2] = [&[1.0, 1.0], &[-2.0, -2.0]];
        let w = weights(&gram_of(&rows), 1, 0);
        assert_close(&combine(&rows, &w), &[0.0, 0.0], 1e-15);
        assert_eq!(weights(&gram(2, &[f64::NAN, 0.0, 0.0, 1.0]), 1, 0), vec![1.0, 1.0]);
        assert_eq!(weights(&gram(3, &[0.0; 9]), 1, 0), vec![1.0; 3]);
    }
}
