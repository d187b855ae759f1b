//! Checks against NASA's real files (docs/reference.md §2 table and pipeline); skipped without GRACE_CMAPSS_DIR.

mod common;

use common::{real, subset};
use grace_data::{prepare, summary, DataSource, PrepConfig, Subset, CANONICAL_REGIMES};
use std::collections::BTreeSet;

#[test]
fn engine_and_row_counts_match_the_reference_table() {
    let Some(all) = real("engine_and_row_counts_match_the_reference_table") else { return };
    let want = [
        (Subset::FD001, 100, 100, 20631, 13096),
        (Subset::FD002, 260, 259, 53759, 33991),
        (Subset::FD003, 100, 100, 24720, 16596),
        (Subset::FD004, 249, 248, 61249, 41214),
    ];
    for (s, tr_e, te_e, tr_r, te_r) in want {
        let r = subset(all, s);
        assert_eq!((r.train.len(), r.test.len(), r.train_rows(), r.test_rows()), (tr_e, te_e, tr_r, te_r), "{s}");
        assert_eq!(r.test_rul.len(), te_e, "{s}");
    }
    // Hand-checked first values of FD001: train unit 1 cycle 1, RUL file head.
    let fd1 = subset(all, Subset::FD001);
    assert_eq!(fd1.train[0].settings[0], [-0.0007, -0.0004, 100.0]);
    assert_eq!(fd1.train[0].sensors[0][1], 641.82);
    assert_eq!(fd1.train[0].cycles, 192);
    assert_eq!(&fd1.test_rul[..3], &[112.0, 98.0, 69.0]);
    assert_eq!(fd1.test[0].cycles, 31);
}

#[test]
fn six_condition_subsets_recover_the_canonical_regimes() {
    let Some(all) = real("six_condition_subsets_recover_the_canonical_regimes") else { return };
    // Tolerance: 1% of the value, or 1% of the coordinate's range across regimes for zeros.
    let range = [42.0, 0.84, 40.0];
    for s in [Subset::FD002, Subset::FD004] {
        let p = prepare(subset(all, s), &PrepConfig::default()).unwrap();
        let c = &p.preprocessing.centroids;
        assert_eq!(c.len(), 6);
        for (got, want) in c.iter().zip(CANONICAL_REGIMES.iter()) {
            for j in 0..3 {
                let tol = if want[j] == 0.0 { 0.01 * range[j] } else { 0.01 * want[j].abs() };
                assert!((got[j] - want[j]).abs() <= tol, "{s}: centroid {got:?} vs regime {want:?}");
            }
        }
        // Every regime is flown a sizeable share of the time (each ≈ 1/6 of rows, at least 10%).
        let rows: usize = p.preprocessing.condition_rows.iter().sum();
        assert!(p.preprocessing.condition_rows.iter().all(|&n| n * 10 > rows), "{:?}", p.preprocessing.condition_rows);
    }
    let p = prepare(subset(all, Subset::FD001), &PrepConfig::default()).unwrap();
    let c = &p.preprocessing.centroids[0];
    assert!(c[0].abs() < 0.01 && c[1].abs() < 0.001 && c[2] == 100.0, "{c:?}");
}

#[test]
fn per_condition_zscore_has_zero_mean_unit_std_on_training_rows() {
    let Some(all) = real("per_condition_zscore_has_zero_mean_unit_std_on_training_rows") else { return };
    for s in [Subset::FD001, Subset::FD002] {
        let p = prepare(subset(all, s), &PrepConfig::default()).unwrap();
        let (k, f) = (p.preprocessing.n_conditions(), p.n_features());
        let mut n = vec![0.0f64; k];
        let mut sum = vec![vec![0.0f64; f]; k];
        let mut sq = vec![vec![0.0f64; f]; k];
        for e in &p.train.engines {
            for (c, &cond) in e.condition.iter().enumerate() {
                let c_ = cond as usize;
                n[c_] += 1.0;
                for j in 0..f {
                    let x = e.features[c * f + j] as f64;
                    assert!(x.is_finite());
                    sum[c_][j] += x;
                    sq[c_][j] += x * x;
                }
            }
        }
        let mut constant = 0;
        for c in 0..k {
            for j in 0..f {
                let m = sum[c][j] / n[c];
                let sd = (sq[c][j] / n[c] - m * m).sqrt();
                if p.preprocessing.is_constant(c, j) {
                    constant += 1;
                    assert_eq!((sum[c][j], sq[c][j]), (0.0, 0.0), "{s} condition {c} feature {j} constant → exactly 0");
                } else {
                    assert!(
                        m.abs() < 1e-4 && (sd - 1.0).abs() < 1e-3,
                        "{s} c{c} {}: mean {m} std {sd}",
                        p.preprocessing.feature_names[j]
                    );
                }
            }
        }
        // TRA is fixed within every regime (100 or 60); nothing else is constant.
        assert_eq!(constant, k, "{s}");
        assert!((0..k).all(|c| p.preprocessing.is_constant(c, 2)));
    }
}

#[test]
fn validation_engines_are_disjoint_from_training_and_cover_the_file() {
    let Some(all) = real("validation_engines_are_disjoint_from_training_and_cover_the_file") else { return };
    for (s, n_val) in [(Subset::FD001, 20), (Subset::FD002, 52), (Subset::FD003, 20), (Subset::FD004, 50)] {
        let raw = subset(all, s);
        let p = prepare(raw, &PrepConfig::default()).unwrap();
        let tr: BTreeSet<u32> = p.train_units.iter().copied().collect();
        let va: BTreeSet<u32> = p.val_units.iter().copied().collect();
        assert_eq!(va.len(), n_val, "{s}");
        assert!(tr.is_disjoint(&va), "{s}");
        let all_units: BTreeSet<u32> = raw.train.iter().map(|e| e.unit).collect();
        assert_eq!(&tr | &va, all_units, "{s}");
        assert_eq!(p.val.engines.iter().map(|e| e.unit).collect::<Vec<_>>(), p.val_units);
        // A different seed holds out different engines.
        let q = prepare(raw, &PrepConfig { seed: 1, ..Default::default() }).unwrap();
        assert_ne!(q.val_units, p.val_units, "{s}");
    }
}

#[test]
fn window_counts_are_cycles_minus_29_per_engine() {
    let Some(all) = real("window_counts_are_cycles_minus_29_per_engine") else { return };
    for s in Subset::ALL {
        let raw = subset(all, s);
        let p = prepare(raw, &PrepConfig::default()).unwrap();
        for split in [&p.train, &p.val, &p.test] {
            let want: usize = split.engines.iter().map(|e| e.n_cycles().saturating_sub(29)).sum();
            assert_eq!(split.windows().len(), want, "{s}");
            assert_eq!(split.n_windows(), want, "{s}");
        }
    }
    // FD001: every training engine is ≥ 128 cycles, so train+val windows = 20631 − 100·29.
    let p = prepare(subset(all, Subset::FD001), &PrepConfig::default()).unwrap();
    assert_eq!(p.train.n_windows() + p.val.n_windows(), 17731);
}

#[test]
fn each_test_engine_gives_one_window_whose_truth_is_the_rul_file() {
    let Some(all) = real("each_test_engine_gives_one_window_whose_truth_is_the_rul_file") else { return };
    for s in Subset::ALL {
        let raw = subset(all, s);
        let p = prepare(raw, &PrepConfig::default()).unwrap();
        let last = p.test.last_windows();
        assert_eq!(last.len(), raw.test.len(), "{s}");
        let (mut x, mut y, mut h) = (vec![], vec![], vec![]);
        p.test.gather(&last, &mut x, &mut y, &mut h);
        assert_eq!(x.len(), raw.test.len() * 30 * 17);
        for (i, truth) in raw.test_rul.iter().enumerate() {
            assert_eq!(p.test_truth_uncapped[i], *truth as f32);
            assert_eq!(y[i], truth.min(125.0) as f32, "{s} engine {i}");
        }
        // Short engines are front-padded with their first cycle.
        if let Some((i, e)) = p.test.engines.iter().enumerate().find(|(_, e)| e.n_cycles() < 30) {
            let pad = 30 - e.n_cycles();
            let win = &x[i * 30 * 17..(i + 1) * 30 * 17];
            for t in 0..=pad {
                assert_eq!(&win[t * 17..(t + 1) * 17], &e.features[..17], "{s} unit {}", e.unit);
            }
            assert_eq!(&win[29 * 17..], &e.features[(e.n_cycles() - 1) * 17..]);
        }
    }
    // Hand-checked: FD001 test unit 1 has 31 cycles and RUL 112, so its first cycle is 142 → capped 125.
    let p = prepare(subset(all, Subset::FD001), &PrepConfig::default()).unwrap();
    let e = &p.test.engines[0];
    assert_eq!((e.rul[0], e.rul[30], e.health[30]), (125.0, 112.0, 0));
    // FD002/FD004 have test engines shorter than a window (docs/reference.md §2.6: padding decided).
    for s in [Subset::FD002, Subset::FD004] {
        assert!(subset(all, s).test.iter().any(|e| e.cycles < 30), "{s}");
    }
}

#[test]
fn summary_reports_hand_checked_fd001_class_balance() {
    let Some(all) = real("summary_reports_hand_checked_fd001_class_balance") else { return };
    let raw = subset(all, Subset::FD001);
    let p = prepare(raw, &PrepConfig::default()).unwrap();
    let s = summary(raw, &p);
    // Each engine (≥ 128 cycles) has 31 critical rows (y = 0..=30) and 50 degrading (31..=80),
    // all at window ends ≥ 29: over 100 engines 3100 critical, 5000 degrading, 17731 − 8100 normal.
    let mut h = [0; 3];
    for sp in [&s.train, &s.val] {
        for (acc, n) in h.iter_mut().zip(sp.health_windows) {
            *acc += n;
        }
    }
    assert_eq!(h, [9631, 5000, 3100]);
    assert_eq!((s.source_train_engines, s.source_train_rows, s.train.engines + s.val.engines), (100, 20631, 100));
    // The shortest FD001 test engine has 31 cycles, so every engine contributes cycles − 29.
    assert_eq!(s.test.windows, 13096 - 100 * 29);
    assert_eq!(s.conditions.len(), 1);
    assert_eq!(s.conditions[0].train_rows + s.conditions[0].val_rows, 20631);
    assert_eq!(s.test.shortest_engine.unwrap().cycles, 31);
    assert_eq!(s.test.longest_engine.unwrap().cycles, 303);
    assert_eq!(s.test_truth_above_cap, raw.test_rul.iter().filter(|&&v| v > 125.0).count());
}

#[test]
fn zip_and_folder_give_identical_subsets() {
    let Some(all) = real("zip_and_folder_give_identical_subsets") else { return };
    let dir = std::env::var("GRACE_CMAPSS_DIR").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let zpath = tmp.path().join("CMAPSSData.zip");
    let mut w = zip::ZipWriter::new(std::fs::File::create(&zpath).unwrap());
    let opt = zip::write::SimpleFileOptions::default();
    for f in Subset::FD001.files() {
        w.start_file(format!("CMAPSSData/{f}"), opt).unwrap();
        std::io::Write::write_all(&mut w, &std::fs::read(std::path::Path::new(&dir).join(&f)).unwrap()).unwrap();
    }
    w.finish().unwrap();
    let z = DataSource::from_path(&zpath).load(Subset::FD001).unwrap();
    assert_eq!(&z, subset(all, Subset::FD001));
}

#[test]
fn nasas_own_files_pass_the_fetch_count_check() {
    let Some(all) = real("nasas_own_files_pass_the_fetch_count_check") else { return };
    use grace_data::fetch::{install_zip, NASA_COUNTS};
    for (want, s) in NASA_COUNTS.iter().zip(Subset::ALL) {
        let r = subset(all, s);
        assert_eq!((want.subset, want.train_engines, want.test_engines), (s, r.train.len(), r.test.len()));
        assert_eq!((want.train_rows, want.test_rows), (r.train_rows(), r.test_rows()), "{s}");
    }
    // The 12 files as a zip (stored, to stay fast) install under NASA's counts.
    let dir = DataSource::from_env().unwrap();
    let names: Vec<String> = Subset::ALL.iter().flat_map(|s| s.files()).collect();
    let texts = dir.read_texts(&names).unwrap();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opt = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (n, t) in names.iter().zip(&texts) {
        w.start_file(n.as_str(), opt).unwrap();
        std::io::Write::write_all(&mut w, t.as_bytes()).unwrap();
    }
    let bytes = w.finish().unwrap().into_inner();
    let tmp = tempfile::tempdir().unwrap();
    let r = install_zip(&bytes, "CMAPSSData.zip", &tmp.path().join("cmapss")).unwrap();
    assert_eq!(r.subsets, NASA_COUNTS);
}
