//! Property tests of the GABA controller and the weighted MSE over random inputs:
//! invariants that hand-computed cases cannot cover (any K, any norm sequence, any state).

use grace_core::controller::gaba::raw_weights;
use grace_core::{Gaba, GabaConfig, TaskWeighting, WeightedMse};
use proptest::prelude::*;

/// Floors below 1/6, so ε·K < 1 holds for every K drawn below (2 to 6 tasks).
fn config() -> impl Strategy<Value = GabaConfig> {
    (0.0f64..0.999, 0.0f64..0.16, 0u64..20).prop_map(|(beta, floor, warmup)| GabaConfig { beta, floor, warmup })
}

/// Norms spanning many orders of magnitude, with exact zeros now and then.
fn norm() -> impl Strategy<Value = f64> + Clone {
    prop_oneof![1 => Just(0.0), 8 => (-8.0f64..4.0).prop_map(|e| 10f64.powf(e))]
}

/// Any f64 at all, NaN and infinities included, to attack the guard.
fn hostile() -> impl Strategy<Value = f64> + Clone {
    prop_oneof![4 => norm(), 1 => Just(f64::NAN), 1 => Just(f64::INFINITY), 1 => Just(-1.0), 1 => Just(f64::MAX)]
}

fn seq(k: usize, item: impl Strategy<Value = f64> + Clone + 'static) -> BoxedStrategy<Vec<Vec<f64>>> {
    prop::collection::vec(prop::collection::vec(item, k), 1..60).boxed()
}

proptest! {
    #[test]
    fn weights_sum_to_one_and_respect_the_floor_bound(
        (k, steps) in (2usize..7).prop_flat_map(|k| (Just(k), seq(k, hostile()))),
        cfg in config(),
    ) {
        let mut g = Gaba::new(k, cfg).unwrap();
        let bound = cfg.floor / (1.0 + (k as f64 - 1.0) * cfg.floor);
        for n in &steps {
            let r = g.step_norms(n).unwrap();
            prop_assert!(r.ema.iter().all(|e| e.is_finite() && *e >= 0.0), "state corrupted: {:?}", r.ema);
            prop_assert!((r.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            for w in &r.weights {
                prop_assert!(*w >= bound - 1e-12, "λ = {w} < ε/(1 + (K−1)ε) = {bound}");
            }
        }
        prop_assert_eq!(g.step_count(), steps.len() as u64);
    }

    #[test]
    fn raw_weights_sum_to_one_and_invert_the_norm_order(norms in (2usize..7).prop_flat_map(|k| prop::collection::vec(norm(), k))) {
        prop_assume!(norms.iter().sum::<f64>() > 0.0);
        let raw = raw_weights(&norms).unwrap();
        prop_assert!((raw.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        for i in 0..norms.len() {
            for j in 0..norms.len() {
                if norms[i] < norms[j] {
                    prop_assert!(raw[i] >= raw[j], "g {:?} → raw {:?}", norms, raw);
                }
            }
        }
    }

    #[test]
    fn constant_norms_keep_lambda_inversely_ordered(
        norms in (2usize..7).prop_flat_map(|k| prop::collection::vec(norm(), k)),
        cfg in config(),
        n in 1usize..200,
    ) {
        prop_assume!(norms.iter().sum::<f64>() > 0.0);
        let mut g = Gaba::new(norms.len(), GabaConfig { warmup: 0, ..cfg }).unwrap();
        let mut r = g.step_norms(&norms).unwrap();
        for _ in 1..n {
            r = g.step_norms(&norms).unwrap();
        }
        for i in 0..norms.len() {
            for j in 0..norms.len() {
                if norms[i] < norms[j] {
                    prop_assert!(r.weights[i] >= r.weights[j] - 1e-15, "g {:?} → λ {:?}", norms, r.weights);
                }
            }
        }
    }

    #[test]
    fn warmup_holds_uniform(
        (k, steps) in (2usize..7).prop_flat_map(|k| (Just(k), seq(k, hostile()))),
        cfg in config(),
    ) {
        let mut g = Gaba::new(k, GabaConfig { warmup: steps.len() as u64, ..cfg }).unwrap();
        for n in &steps {
            let r = g.step_norms(n).unwrap();
            prop_assert!(r.warmup);
            for w in &r.weights {
                prop_assert!((w - 1.0 / k as f64).abs() < 1e-12, "{:?}", r.weights);
            }
        }
    }

    #[test]
    fn json_round_trip_continues_bit_for_bit(
        (k, before, after) in (2usize..5).prop_flat_map(|k| (Just(k), seq(k, hostile()), seq(k, hostile()))),
        cfg in config(),
    ) {
        let mut a = Gaba::new(k, cfg).unwrap();
        for n in &before {
            a.step_norms(n).unwrap();
        }
        let text = serde_json::to_string(&a.state()).unwrap();
        let mut b = Gaba::new(k, GabaConfig::default()).unwrap();
        b.restore(&serde_json::from_str(&text).unwrap()).unwrap();
        for n in &after {
            let (ra, rb) = (a.step_norms(n).unwrap(), b.step_norms(n).unwrap());
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            prop_assert_eq!(bits(&ra.ema), bits(&rb.ema));
            prop_assert_eq!(bits(&ra.weights), bits(&rb.weights));
        }
    }

    #[test]
    fn weighted_mse_lies_between_one_and_one_plus_s_times_mse(
        pairs in prop::collection::vec((0.0f64..200.0, 0.0f64..200.0), 1..50),
        slope in 0.0f64..3.0,
    ) {
        let (y, p): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
        let w = WeightedMse::new(slope, 125.0).unwrap();
        let mse = grace_core::mse(&p, &y).unwrap();
        let l = w.loss(&p, &y).unwrap();
        prop_assert!(l >= mse - 1e-9 && l <= (1.0 + slope) * mse + 1e-9, "mse {mse}, wmse {l}");
    }
}
