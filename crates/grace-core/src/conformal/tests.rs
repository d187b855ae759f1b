//! Tests of the conformal foundation: quantile arithmetic by hand, and coverage on generated
//! residuals with known noise over many seeds (no training involved).

use super::cuts::SplitMix64;
use super::*;

fn normal(rng: &mut SplitMix64) -> f64 {
    let u1 = 1.0 - rng.unit(); // (0, 1]: ln stays finite
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * rng.unit()).cos()
}

fn finite(q: Quantile) -> f64 {
    q.value().expect("finite quantile")
}

#[test]
fn rank_is_the_finite_sample_corrected_one() {
    assert_eq!(conformal_rank(19, 0.9).unwrap(), 18);
    assert_eq!(conformal_rank(9, 0.9).unwrap(), 9);
    assert_eq!(conformal_rank(200, 0.9).unwrap(), 181); // ⌈180.9⌉
    assert_eq!(conformal_rank(8, 0.9).unwrap(), 9); // > n: unbounded
                                                    // 90·0.7 = 63.00000000000001 in floating point; the rank must stay 63.
    assert_eq!(conformal_rank(89, 0.7).unwrap(), 63);
    assert!(conformal_rank(0, 0.9).is_err());
    for bad in [0.0, 1.0, -0.1, f64::NAN] {
        assert!(conformal_rank(10, bad).is_err(), "level {bad}");
    }
}

#[test]
fn quantile_on_hand_made_scores() {
    let s = [5.0, 1.0, 4.0, 2.0, 3.0];
    assert_eq!(conformal_quantile(&s, 0.5).unwrap(), Quantile::Finite { value: 3.0, rank: 3, n: 5 });
    // ⌈6·0.6⌉ = 4, where the uncorrected ⌈5·0.6⌉ = 3 would pick 3.0.
    assert_eq!(finite(conformal_quantile(&s, 0.6).unwrap()), 4.0);
    assert_eq!(finite(conformal_quantile(&s, 0.8).unwrap()), 5.0);
    assert_eq!(conformal_quantile(&s, 0.9).unwrap(), Quantile::Unbounded { rank: 6, n: 5 });
    assert!(conformal_quantile(&[1.0, f64::NAN], 0.5).is_err());
}

const P: [f64; 4] = [10.0, 20.0, 30.0, 40.0];
const Y: [f64; 4] = [12.0, 19.0, 33.0, 36.0]; // y − ŷ = 2, −1, 3, −4

fn one(c: &Calibration, p: f64, scale: Option<f64>) -> Vec<Interval> {
    let s = scale.map(|s| vec![s]);
    c.apply(&[p], s.as_deref()).unwrap().into_iter().map(|l| l.intervals[0]).collect()
}

#[test]
fn symmetric_intervals_by_hand_with_clipping_and_unbounded_level() {
    let c = Calibration::fit(IntervalKind::Symmetric, &P, &Y, None, &[0.6, 0.9]).unwrap();
    assert_eq!(c.n, 4);
    // |d| sorted 1, 2, 3, 4; rank ⌈5·0.6⌉ = 3.
    assert_eq!(one(&c, 50.0, None)[0], Interval { lower: 47.0, upper: Some(53.0) });
    assert_eq!(one(&c, 1.0, None)[0], Interval { lower: 0.0, upper: Some(4.0) });
    // rank ⌈5·0.9⌉ = 5 > 4: typed as unbounded, applied as "RUL ≥ 0" with no upper bound.
    assert_eq!(c.levels[1].below, Some(Quantile::Unbounded { rank: 5, n: 4 }));
    assert_eq!(one(&c, 50.0, None)[1], Interval { lower: 0.0, upper: None });
}

#[test]
fn one_sided_and_asymmetric_by_hand() {
    let lower = Calibration::fit(IntervalKind::LowerBound, &P, &Y, None, &[0.6]).unwrap();
    // ŷ − y sorted −3, −2, 1, 4; rank 3 → 1.
    assert_eq!(one(&lower, 50.0, None)[0], Interval { lower: 49.0, upper: None });
    let asym = Calibration::fit(IntervalKind::Asymmetric, &P, &Y, None, &[0.6]).unwrap();
    // each side at (1 + 0.6)/2 = 0.8: rank ⌈5·0.8⌉ = 4 → below max(ŷ − y) = 4, above max(y − ŷ) = 3.
    assert_eq!(one(&asym, 50.0, None)[0], Interval { lower: 46.0, upper: Some(53.0) });
}

#[test]
fn normalised_intervals_floor_the_scale() {
    let kind = IntervalKind::normalised();
    let scales = [2.0, 0.5, -3.0, 4.0]; // floored to 2, 1, 1, 4 → d/u = 1, −1, 3, −1
    let c = Calibration::fit(kind, &P, &Y, Some(&scales), &[0.6]).unwrap();
    assert_eq!(finite(c.levels[0].above.unwrap()), 1.0);
    assert_eq!(one(&c, 50.0, Some(5.0))[0], Interval { lower: 45.0, upper: Some(55.0) });
    assert_eq!(one(&c, 50.0, Some(0.0))[0], Interval { lower: 49.0, upper: Some(51.0) });
    assert!(Calibration::fit(kind, &P, &Y, None, &[0.6]).is_err());
    assert!(Calibration::fit(IntervalKind::Symmetric, &P, &Y, Some(&scales), &[0.6]).is_err());
    assert!(Calibration::fit(kind, &P, &Y, Some(&[1.0, f64::NAN, 1.0, 1.0]), &[0.6]).is_err());
    assert!(Calibration::fit(IntervalKind::Normalised { floor: 0.0 }, &P, &Y, Some(&scales), &[0.6]).is_err());
    assert!(Calibration::fit(IntervalKind::Symmetric, &P, &Y, None, &[1.0]).is_err());
    assert!(c.apply(&[1.0, 2.0], Some(&[1.0])).is_err());
}

#[test]
fn calibration_round_trips_through_json() {
    for kind in [IntervalKind::Symmetric, IntervalKind::LowerBound, IntervalKind::Asymmetric] {
        let c = Calibration::fit(kind, &P, &Y, None, &[0.5, 0.6, 0.9]).unwrap();
        let back: Calibration = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }
}

/// Mean test coverage over `reps` repetitions: calibrate on `n` residuals, cover `m` fresh ones.
/// `draw` gives (prediction, truth, scale) of one engine.
fn mean_coverage_and_width(
    kind: IntervalKind,
    level: f64,
    (n, m, reps): (usize, usize, usize),
    draw: impl Fn(&mut SplitMix64) -> (f64, f64, f64),
) -> (f64, f64) {
    let normalised = matches!(kind, IntervalKind::Normalised { .. });
    let (mut cov, mut width) = (0.0, 0.0);
    for seed in 0..reps as u64 {
        let mut rng = SplitMix64::new(seed);
        let mut sample = |k: usize| -> (Vec<f64>, Vec<f64>, Vec<f64>) {
            let rows: Vec<_> = (0..k).map(|_| draw(&mut rng)).collect();
            (rows.iter().map(|r| r.0).collect(), rows.iter().map(|r| r.1).collect(), rows.iter().map(|r| r.2).collect())
        };
        let (p, y, s) = sample(n);
        let c = Calibration::fit(kind, &p, &y, normalised.then_some(&s[..]), &[level]).unwrap();
        let (p, y, s) = sample(m);
        let iv = &c.apply(&p, normalised.then_some(&s[..])).unwrap()[0].intervals;
        cov += coverage(iv, &y).unwrap();
        width += mean_width(iv).unwrap_or(f64::NAN);
    }
    (cov / reps as f64, width / reps as f64)
}

/// Engines far from 0, so clipping at 0 never touches the check.
fn gaussian(rng: &mut SplitMix64) -> (f64, f64, f64) {
    let p = 60.0 + 40.0 * rng.unit();
    (p, p + 8.0 * normal(rng), 1.0)
}

#[test]
fn symmetric_coverage_is_nominal_over_many_seeds() {
    for level in [0.8, 0.9] {
        let (cov, _) = mean_coverage_and_width(IntervalKind::Symmetric, level, (200, 2000, 200), gaussian);
        // Exchangeability gives exactly rank/(n+1) in expectation: 181/201 = 0.9005 at 0.9.
        let expected = conformal_rank(200, level).unwrap() as f64 / 201.0;
        assert!((cov - level).abs() <= 0.015, "level {level}: coverage {cov}");
        assert!((cov - expected).abs() <= 0.005, "level {level}: coverage {cov}, expected {expected}");
    }
}

#[test]
fn finite_sample_correction_is_what_keeps_small_sets_valid() {
    // n = 10 at 0.8: corrected rank 9 covers 9/11 ≈ 0.818; the uncorrected rank 8 only 8/11 ≈ 0.727.
    let (cov, _) = mean_coverage_and_width(IntervalKind::Symmetric, 0.8, (10, 200, 2000), gaussian);
    assert!(cov >= 0.8 && (cov - 9.0 / 11.0).abs() <= 0.01, "corrected coverage {cov}");
    let mut naive = 0.0;
    for seed in 0..2000 {
        let mut rng = SplitMix64::new(seed);
        let mut scores: Vec<f64> = (0..10).map(|_| (8.0 * normal(&mut rng)).abs()).collect();
        scores.sort_by(f64::total_cmp);
        let q = scores[8 - 1];
        naive += (0..200).filter(|_| (8.0 * normal(&mut rng)).abs() <= q).count() as f64 / 200.0;
    }
    naive /= 2000.0;
    assert!(naive < 0.75, "uncorrected coverage {naive}");
}

#[test]
fn one_sided_lower_bound_covers_a_biased_model() {
    // A model that predicts 10 cycles late on average: the bound must absorb the bias.
    let late = |rng: &mut SplitMix64| {
        let y = 60.0 + 40.0 * rng.unit();
        (y + 10.0 + 8.0 * normal(rng), y, 1.0)
    };
    let (cov, _) = mean_coverage_and_width(IntervalKind::LowerBound, 0.9, (200, 2000, 200), late);
    assert!((0.895..=0.915).contains(&cov), "one-sided coverage {cov}");
}

#[test]
fn asymmetric_intervals_cover_skewed_errors() {
    // Exponential errors: long tail above the prediction, none below.
    let skewed = |rng: &mut SplitMix64| {
        let p = 60.0 + 40.0 * rng.unit();
        (p, p - 10.0 * (1.0 - rng.unit()).ln(), 1.0)
    };
    // The two sides miss disjointly, each with 10/201 at rank 191 of 200: coverage 181/201 again.
    let (cov, width) = mean_coverage_and_width(IntervalKind::Asymmetric, 0.9, (200, 2000, 200), skewed);
    assert!((0.895..=0.915).contains(&cov), "asymmetric coverage {cov}");
    let (sym, sym_width) = mean_coverage_and_width(IntervalKind::Symmetric, 0.9, (200, 2000, 200), skewed);
    assert!((0.895..=0.915).contains(&sym), "symmetric coverage {sym}");
    // The asymmetric pair drops the empty lower tail instead of mirroring the upper one.
    assert!(width < 0.8 * sym_width, "asymmetric width {width} vs symmetric {sym_width}");
}

#[test]
fn normalised_intervals_are_sharper_on_heteroscedastic_errors() {
    let hetero = |rng: &mut SplitMix64| {
        let p = 60.0 + 40.0 * rng.unit();
        // Half the engines easy (σ = 1), half hard (σ = 10): symmetric width must serve the hard ones.
        let sigma = if rng.unit() < 0.5 { 1.0 } else { 10.0 };
        (p, p + sigma * normal(rng), sigma)
    };
    let sizes = (200, 2000, 100);
    let (sym_cov, sym_w) = mean_coverage_and_width(IntervalKind::Symmetric, 0.9, sizes, hetero);
    let (norm_cov, norm_w) = mean_coverage_and_width(IntervalKind::normalised(), 0.9, sizes, hetero);
    for cov in [sym_cov, norm_cov] {
        assert!((cov - 0.9).abs() <= 0.015, "coverage {cov}");
    }
    // Expected about 2·1.645·5.5 ≈ 18.1 against 2·12.8 ≈ 25.6.
    assert!(norm_w < 0.8 * sym_w, "normalised width {norm_w} vs symmetric {sym_w}");
}

#[test]
fn metrics_by_hand() {
    let iv = [
        Interval { lower: 0.0, upper: Some(10.0) },
        Interval { lower: 5.0, upper: Some(15.0) },
        Interval { lower: 20.0, upper: None },
    ];
    let truth = [10.0, 4.0, 100.0];
    assert!((coverage(&iv, &truth).unwrap() - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(mean_width(&iv), None);
    assert_eq!(mean_width(&iv[..2]), Some(10.0));
    let bands = coverage_by_band(&iv, &truth, &default_bands()).unwrap();
    let got: Vec<_> = bands.iter().map(|b| (b.engines, b.coverage)).collect();
    assert_eq!(got, vec![(2, Some(0.5)), (0, None), (1, Some(1.0))]);
    assert!(coverage(&iv, &truth[..2]).is_err());
}

#[test]
fn report_scores_capped_and_uncapped_truth() {
    let level = LevelIntervals { level: 0.9, intervals: vec![Interval { lower: 100.0, upper: Some(130.0) }; 2] };
    let r = IntervalReport::of(&[level], &[140.0, 110.0], 125.0, &default_bands()).unwrap();
    assert_eq!(r.capped[0].coverage, 1.0); // 140 capped to 125 lies inside
    assert_eq!(r.uncapped[0].coverage, 0.5);
    assert_eq!(r.capped[0].mean_width, Some(30.0));
    assert_eq!(r.capped[0].mean_lower, 100.0);
}

#[test]
fn ensemble_mean_median_and_spread_by_hand() {
    let members = [vec![1.0, 10.0, 5.0], vec![3.0, 20.0, 5.0], vec![8.0, 0.0, 5.0]];
    assert_eq!(combine(&members, Combine::Mean).unwrap(), vec![4.0, 10.0, 5.0]);
    assert_eq!(combine(&members, Combine::Median).unwrap(), vec![3.0, 10.0, 5.0]);
    let even = [vec![1.0], vec![2.0], vec![3.0], vec![10.0]];
    assert_eq!(combine(&even, Combine::Median).unwrap(), vec![2.5]);
    assert_eq!(combine(&even, Combine::default()).unwrap(), vec![4.0]);
    let spread = member_spread(&[vec![1.0, 2.0], vec![3.0, 2.0]]).unwrap();
    assert!((spread[0] - 2f64.sqrt()).abs() < 1e-12 && spread[1] == 0.0);
    assert!(member_spread(&[vec![1.0]]).is_err());
    assert!(combine(&[vec![1.0], vec![1.0, 2.0]], Combine::Mean).is_err());
    assert!(combine::<Vec<f64>>(&[], Combine::Mean).is_err());
    assert!(combine(&[vec![f64::NAN]], Combine::Mean).is_err());
}

#[test]
fn cuts_are_deterministic_in_range_and_per_engine() {
    let lengths = [200, 25, 5, 0, 150];
    let a = calibration_cuts(&lengths, 7, 8).unwrap();
    assert_eq!(a, calibration_cuts(&lengths, 7, 8).unwrap());
    assert_ne!(a, calibration_cuts(&lengths, 8, 8).unwrap());
    let of = |e: usize| a.iter().filter(|c| c.engine == e).map(|c| c.last_cycle).collect::<Vec<_>>();
    // 200 cycles: at least a tenth (20) kept, 8 distinct ascending cuts in 19..=199.
    let e0 = of(0);
    assert!(e0.len() == 8 && e0.windows(2).all(|w| w[0] < w[1]) && e0.iter().all(|c| (19..200).contains(c)));
    // 25 cycles keep ≥ 2: 24 possible cuts, 8 drawn from 1..=24
    assert!(of(1).len() == 8 && of(1).iter().all(|c| (1..25).contains(c)));
    assert_eq!(of(2), vec![0, 1, 2, 3, 4]); // 5 cycles keep ≥ 1: all 5 possible cuts
    assert!(of(3).is_empty());
    // An engine's cuts do not depend on the engines around it.
    let alone = calibration_cuts(&[0, 0, 0, 0, 150], 7, 8).unwrap();
    assert_eq!(alone.iter().map(|c| c.last_cycle).collect::<Vec<_>>(), of(4));
    assert!(calibration_cuts(&lengths, 7, 0).is_err());
    assert_eq!([first_cut(1), first_cut(9), first_cut(10), first_cut(200)], [0, 0, 0, 19]);
}

#[test]
fn difficulty_scale_bins_interpolates_and_floors_by_hand() {
    // 40 residuals, predictions 0..40: 4 bins of 10 with mean predictions 4.5, 14.5, 24.5, 34.5 and
    // mean absolute residuals 0.5 (floored to 1), 2, 4, 8.
    let p: Vec<f64> = (0..40).map(f64::from).collect();
    let y: Vec<f64> = p.iter().map(|&x| x + [0.5, -2.0, 4.0, -8.0][x as usize / 10]).collect();
    let d = DifficultyScale::fit(&p, &y, DEFAULT_SCALE_FLOOR).unwrap();
    let knots: Vec<(f64, f64)> = d.knots.iter().map(|k| (k.prediction, k.scale)).collect();
    assert_eq!(knots, vec![(4.5, 1.0), (14.5, 2.0), (24.5, 4.0), (34.5, 8.0)]);
    assert_eq!(d.n, 40);
    // constant beyond the outer knots, linear between them
    assert_eq!([d.at(-10.0), d.at(4.5), d.at(9.5), d.at(29.5), d.at(100.0)], [1.0, 1.0, 1.5, 6.0, 8.0]);
    assert_eq!(d.scales(&[14.5, 19.5]).unwrap(), vec![2.0, 3.0]);
    // fewer residuals, fewer bins: 25 → 2 bins (12 and 13), 5 → 1
    assert_eq!(DifficultyScale::fit(&p[..25], &y[..25], 1.0).unwrap().knots.len(), 2);
    let one = DifficultyScale::fit(&p[10..15], &y[10..15], 1.0).unwrap();
    assert_eq!(one.knots, vec![Knot { prediction: 12.0, scale: 2.0 }]);
    assert_eq!((one.at(0.0), one.at(50.0)), (2.0, 2.0));
    // perfect predictions: the floor everywhere
    let exact = DifficultyScale::fit(&p, &p, 2.5).unwrap();
    assert!(exact.knots.iter().all(|k| k.scale == 2.5) && exact.at(17.0) == 2.5);
    assert!(DifficultyScale::fit(&[], &[], 1.0).is_err());
    assert!(DifficultyScale::fit(&p, &y, 0.0).is_err());
    assert!(DifficultyScale::fit(&p[..2], &y[..1], 1.0).is_err());
    assert!(d.scales(&[f64::NAN]).is_err());
}

#[test]
fn mean_of_difficulty_scales_is_the_pointwise_mean_by_hand() {
    let knot = |prediction, scale| Knot { prediction, scale };
    let a = DifficultyScale { knots: vec![knot(10.0, 2.0), knot(30.0, 6.0)], floor: 1.0, n: 20 };
    let b = DifficultyScale { knots: vec![knot(20.0, 4.0), knot(30.0, 2.0), knot(50.0, 10.0)], floor: 1.0, n: 30 };
    let m = DifficultyScale::mean(&[a.clone(), b.clone()]).unwrap();
    // knots at the union 10, 20, 30, 50: a is 2, 4, 6, 6 there and b 4, 4, 2, 10
    let knots: Vec<(f64, f64)> = m.knots.iter().map(|k| (k.prediction, k.scale)).collect();
    assert_eq!(knots, vec![(10.0, 3.0), (20.0, 4.0), (30.0, 4.0), (50.0, 8.0)]);
    assert_eq!((m.floor, m.n), (1.0, 50));
    // between and beyond the knots: a(15) = 3, b(15) = 4; a(40) = 6, b(40) = 6; a(0) = 2, b(0) = 4
    assert_eq!([m.at(15.0), m.at(40.0), m.at(0.0), m.at(99.0)], [3.5, 6.0, 3.0, 8.0]);
    for p in [-5.0, 12.5, 25.0, 33.3, 47.0, 70.0] {
        assert!((m.at(p) - (a.at(p) + b.at(p)) / 2.0).abs() < 1e-12, "at {p}");
    }
    assert_eq!(DifficultyScale::mean(std::slice::from_ref(&a)).unwrap(), a);
    assert!(DifficultyScale::mean(&[]).is_err());
}

#[test]
fn difficulty_normalised_intervals_cover_and_are_sharper_when_errors_grow_with_the_prediction() {
    // σ grows with the predicted life, 1 at ŷ = 40 to 11 at ŷ = 140, as a model's errors tend to.
    let draw = |rng: &mut SplitMix64, k: usize| -> (Vec<f64>, Vec<f64>) {
        let p: Vec<f64> = (0..k).map(|_| 40.0 + 100.0 * rng.unit()).collect();
        let y = p.iter().map(|&x| x + (1.0 + 0.1 * (x - 40.0)) * normal(rng)).collect();
        (p, y)
    };
    let reps = 100;
    let (mut cov, mut width) = ([0.0; 2], [0.0; 2]);
    for seed in 0..reps {
        let mut rng = SplitMix64::new(1000 + seed);
        // σ̂ from other residuals than the calibration's (the selection engines' in a run)
        let (p, y) = draw(&mut rng, 200);
        let d = DifficultyScale::fit(&p, &y, DEFAULT_SCALE_FLOOR).unwrap();
        let (cp, cy) = draw(&mut rng, 200);
        let (tp, ty) = draw(&mut rng, 2000);
        let (cs, ts) = (d.scales(&cp).unwrap(), d.scales(&tp).unwrap());
        for (k, (kind, scales)) in
            [(IntervalKind::Symmetric, None), (IntervalKind::normalised(), Some((&cs, &ts)))].into_iter().enumerate()
        {
            let c = Calibration::fit(kind, &cp, &cy, scales.map(|s| s.0.as_slice()), &[0.9]).unwrap();
            let iv = &c.apply(&tp, scales.map(|s| s.1.as_slice())).unwrap()[0].intervals;
            cov[k] += coverage(iv, &ty).unwrap() / reps as f64;
            width[k] += mean_width(iv).unwrap() / reps as f64;
        }
    }
    // exchangeable scores: 181/201 = 0.9005 in expectation, for both kinds
    for c in cov {
        assert!((c - 0.9005).abs() <= 0.01, "coverage {c}");
    }
    assert!(width[1] < 0.9 * width[0], "difficulty-normalised width {} vs symmetric {}", width[1], width[0]);
}

#[test]
fn the_normalised_scale_is_the_difficulty_estimate_before_the_spread() {
    let d = DifficultyScale { knots: vec![Knot { prediction: 10.0, scale: 2.0 }], floor: 1.0, n: 5 };
    let spread = [7.0, 9.0];
    // a difficulty estimate wins even when a spread is given: σ̂ is 2 everywhere (one knot)
    assert_eq!(normalised_scales(Some(&d), &[5.0, 50.0], Some(&spread)).unwrap(), Some(vec![2.0, 2.0]));
    assert_eq!(normalised_scales(None, &[5.0, 50.0], Some(&spread)).unwrap(), Some(spread.to_vec()));
    assert_eq!(normalised_scales(None, &[5.0], None).unwrap(), None);
    assert!(normalised_scales(Some(&d), &[f64::NAN], None).is_err());
}
