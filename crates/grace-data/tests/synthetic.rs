//! The synthetic fleet: deterministic, C-MAPSS shaped, and good enough to exercise the pipeline.

use grace_data::synthetic::{fleet, SyntheticConfig, SYNTHETIC_NAME};
use grace_data::{prepare, summary, PrepConfig, CANONICAL_REGIMES};

#[test]
fn same_config_same_fleet_and_seed_changes_it() {
    let c = SyntheticConfig { n_train: 10, n_test: 5, ..Default::default() };
    assert_eq!(fleet(&c), fleet(&c));
    assert_ne!(fleet(&c), fleet(&SyntheticConfig { seed: 8, ..c.clone() }));
}

#[test]
fn fleet_has_reference_shape_lifetimes_and_consistent_test_truth() {
    let c = SyntheticConfig::default();
    let f = fleet(&c);
    assert_eq!((f.name.as_str(), f.synthetic, f.default_conditions), (SYNTHETIC_NAME, true, 6));
    assert_eq!((f.train.len(), f.test.len(), f.test_rul.len()), (80, 40, 40));
    assert!(f.train.iter().all(|e| (130..=360).contains(&e.cycles) && e.sensors.len() == e.cycles as usize));
    for (e, r) in f.test.iter().zip(&f.test_rul) {
        let life = e.cycles as f64 + r;
        assert!((130.0..=360.0).contains(&life) && *r >= 1.0, "unit {} cycles {} rul {r}", e.unit, e.cycles);
    }
    assert!(f.test.iter().any(|e| e.cycles < 30), "some test engines must be shorter than a window");
    // Degradation shows: T50 (sensor 4) rises by ≈ its drift (16) from first to last 10 cycles
    // within one regime-corrected engine; compare averages over the fleet to beat noise.
    let (mut early, mut late) = (0.0, 0.0);
    for e in &f.train {
        let n = e.sensors.len();
        let lvl = |i: usize| e.sensors[i][3] - regime_t50(&e.settings[i]);
        early += (0..10).map(lvl).sum::<f64>() / 10.0;
        late += (n - 10..n).map(lvl).sum::<f64>() / 10.0;
    }
    let rise = (late - early) / f.train.len() as f64;
    assert!((10.0..20.0).contains(&rise), "T50 rise {rise}");
}

/// The fleet's healthy T50 level for a regime (mirrors the generator's regime shift for sensor 4).
fn regime_t50(s: &[f64]) -> f64 {
    let r = CANONICAL_REGIMES.iter().min_by(|a, b| (a[0] - s[0]).abs().total_cmp(&(b[0] - s[0]).abs())).unwrap();
    let sens = 0.05 + 0.02 * 3.0;
    1408.9 * (1.0 - sens * r[0] / 42.0 + 0.5 * sens * (r[2] - 100.0) / 40.0 + 0.03 * r[1])
}

#[test]
fn prepare_recovers_the_six_regimes_and_labels_targets() {
    let f = fleet(&SyntheticConfig::default());
    let p = prepare(&f, &PrepConfig::default()).unwrap();
    for (got, want) in p.preprocessing.centroids.iter().zip(CANONICAL_REGIMES.iter()) {
        for j in 0..3 {
            assert!((got[j] - want[j]).abs() < 0.01, "{got:?} vs {want:?}");
        }
    }
    assert_eq!((p.train.engines.len(), p.val.engines.len(), p.test.engines.len()), (64, 16, 40));
    let s = summary(&f, &p);
    assert!(s.synthetic);
    assert_eq!(s.name, "SYNTHETIC");
    // Each run-to-failure engine ends in exactly 31 critical windows (y = 0..=30).
    assert_eq!(s.train.health_windows[2] + s.val.health_windows[2], 80 * 31);
    let single = fleet(&SyntheticConfig { n_conditions: 1, n_train: 5, n_test: 3, ..Default::default() });
    let p1 = prepare(&single, &PrepConfig::default()).unwrap();
    assert_eq!(p1.preprocessing.n_conditions(), 1);
}
