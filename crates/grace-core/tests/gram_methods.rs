//! Property tests of the Gram-matrix methods over random Jacobians, degenerate rows included (zero,
//! duplicated, opposite, tiny or huge): finite weights always, and each method's optimality condition.

use grace_core::controller::{aligned, cagrad, imtlg, mgda, nashmtl, pcgrad, upgrad, Gram};
use proptest::prelude::*;

/// A task gradient: random, or a degenerate copy of an earlier row.
#[derive(Debug, Clone)]
enum Row {
    Random(Vec<f64>),
    Zero,
    Copy(usize, f64),
}

fn rows(p: usize) -> impl Strategy<Value = Vec<Vec<f64>>> {
    let row = prop_oneof![
        6 => prop::collection::vec(-1.0f64..1.0, p).prop_map(Row::Random),
        1 => Just(Row::Zero),
        2 => (0usize..8, prop_oneof![Just(1.0), Just(-1.0), -3.0f64..3.0]).prop_map(|(i, c)| Row::Copy(i, c)),
    ];
    (prop::collection::vec(row, 2..6), -8i32..8).prop_map(move |(spec, exp)| {
        let scale = 10f64.powi(exp);
        let mut out: Vec<Vec<f64>> = Vec::new();
        for r in spec {
            let v = match r {
                Row::Random(v) => v.iter().map(|x| x * scale).collect(),
                Row::Zero => vec![0.0; p],
                Row::Copy(i, c) if !out.is_empty() => out[i % out.len()].iter().map(|x| x * c).collect(),
                Row::Copy(..) => vec![scale; p],
            };
            out.push(v);
        }
        out
    })
}

fn gram_of(rows: &[Vec<f64>]) -> Gram {
    let k = rows.len();
    let dot = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(a, b)| a * b).sum::<f64>();
    Gram::new(k, (0..k * k).map(|ij| dot(&rows[ij / k], &rows[ij % k])).collect()).unwrap()
}

fn gw(g: &Gram, w: &[f64]) -> Vec<f64> {
    (0..g.k()).map(|i| (0..g.k()).map(|j| g.get(i, j) * w[j]).sum()).collect()
}

proptest! {
    #[test]
    fn weights_are_always_finite(rows in rows(4), seed in 0u64..1000, step in 0u64..1000) {
        let g = gram_of(&rows);
        let all = [
            ("mgda", mgda::weights(&g)),
            ("pcgrad", pcgrad::weights(&g, seed, step)),
            ("cagrad", cagrad::weights(&g, 0.4)),
            ("imtlg", imtlg::weights(&g)),
            ("nashmtl", nashmtl::weights(&g, 1.0)),
            ("aligned", aligned::weights(&g)),
            ("upgrad", upgrad::weights(&g)),
        ];
        for (name, w) in all {
            prop_assert_eq!(w.len(), g.k());
            prop_assert!(w.iter().all(|x| x.is_finite()), "{} gave {:?} for {:?}", name, w, rows);
        }
    }

    #[test]
    fn mgda_is_the_minimum_norm_point(rows in rows(4)) {
        let g = gram_of(&rows);
        let w = mgda::weights(&g);
        let tr: f64 = (0..g.k()).map(|i| g.get(i, i)).sum();
        prop_assume!(tr > 0.0);
        prop_assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12 && w.iter().all(|x| *x >= 0.0));
        // KKT: (Gw)_i ≥ wᵀGw for every task, with equality on the support
        let gw = gw(&g, &w);
        let obj: f64 = w.iter().zip(&gw).map(|(a, b)| a * b).sum();
        for (wi, gi) in w.iter().zip(&gw) {
            prop_assert!(*gi >= obj - 1e-9 * tr, "(Gw) = {:?}, wᵀGw = {}", gw, obj);
            if *wi > 1e-6 {
                prop_assert!((gi - obj).abs() <= 1e-9 * tr, "(Gw) = {:?}, w = {:?}", gw, w);
            }
        }
    }

    #[test]
    fn upgrad_gains_on_every_task(rows in rows(4)) {
        // Each projection v_i has (Ĝ + εI) v_i ≥ 0 (Ĝ = G/tr), so their sum w has
        // (G w)_j ≥ −ε·tr·w_j: a task can lose only what the ridge ε = 10⁻⁴ takes.
        let g = gram_of(&rows);
        let tr: f64 = (0..g.k()).map(|i| g.get(i, i)).sum();
        let w = upgrad::weights(&g);
        for (gain, wj) in gw(&g, &w).iter().zip(&w) {
            prop_assert!(*gain >= -upgrad::REGULARISATION * tr * wj - 1e-9 * tr, "gain {} with w {:?}", gain, w);
        }
    }

    #[test]
    fn cagrad_is_no_worse_than_the_mean(rows in rows(4), c in 0.05f64..0.95) {
        // Primal view: the worst task's gain under d is at least its gain under the mean gradient
        // (which lies in the ball). It declines to step (weights 0) only when the hull of the
        // gradients comes within 10⁻⁴‖J‖_F of 0, which MGDA's minimum norm confirms.
        let g = gram_of(&rows);
        let k = g.k();
        let w = cagrad::weights(&g, c);
        let tr: f64 = (0..k).map(|i| g.get(i, i)).sum();
        if w.iter().all(|x| *x == 0.0) {
            let m = mgda::weights(&g);
            let min_norm_sq: f64 = gw(&g, &m).iter().zip(&m).map(|(a, b)| a * b).sum();
            prop_assert!(min_norm_sq < 1e-8 * tr, "CAGrad declined with ‖d_MGDA‖² = {}", min_norm_sq);
            return Ok(());
        }
        let worst = |v: &[f64]| gw(&g, v).into_iter().fold(f64::INFINITY, f64::min);
        prop_assert!(worst(&w) >= worst(&vec![1.0 / k as f64; k]) - 1e-9 * tr);
    }

    #[test]
    fn nash_is_the_bargain_when_one_exists(rows in prop::collection::vec(prop::collection::vec(-1.0f64..1.0, 6), 2..5)) {
        // random rows in dimension 6 > K are independent almost surely: a unique bargain exists
        let g = gram_of(&rows);
        let a = nashmtl::weights(&g, 0.0);
        for (x, ai) in gw(&g, &a).iter().zip(&a) {
            prop_assert!(*ai > 0.0 && (x * ai - 1.0).abs() < 1e-6, "(Gα)α = {}", x * ai);
        }
    }
}
