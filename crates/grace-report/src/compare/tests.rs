use super::*;
use crate::paired::Verdict;

const ENGINES: u32 = 40;

/// Baseline's error on an engine in a seed: irregular, about ±20 cycles.
fn base_error(engine: u32, seed: u64) -> f64 {
    20.0 * ((engine as f64 * 1.3 + seed as f64).sin() + 0.3 * (engine as f64 * 0.7).cos())
}

fn truth(engine: u32) -> f64 {
    (engine * 3 % 125) as f64
}

/// A finished run whose predictions have the errors `error(engine)`; `label` is the sweep's name
/// for the method, `method` what its results.json records (they differ for a variant).
fn write_run(sweep: &Path, label: &str, method: &str, seed: u64, error: &dyn Fn(u32) -> f64) {
    let dir = sweep.join("runs").join(crate::plan::run_name("FD001", label, seed));
    std::fs::create_dir_all(&dir).unwrap();
    let errors: Vec<f64> = (1..=ENGINES).map(error).collect();
    let rmse = (errors.iter().map(|e| e * e).sum::<f64>() / errors.len() as f64).sqrt();
    let results = serde_json::json!({"method": method, "subset": "FD001", "synthetic": false, "seed": seed,
        "test": {"engines": ENGINES, "capped": {"rmse": rmse, "nasa": 100.0, "mae": 1.0}, "health_accuracy": 0.8},
        "epochs_run": 5, "train_seconds": 2.0});
    std::fs::write(dir.join(rundir::RESULTS_FILE), results.to_string()).unwrap();
    let mut csv = String::from("engine,truth,truth_capped,prediction,error\n");
    for (e, d) in (1..=ENGINES).zip(&errors) {
        csv.push_str(&format!("{e},{t},{t},{p},{d}\n", t = truth(e), p = truth(e) + d));
    }
    std::fs::write(dir.join(rundir::PREDICTIONS_FILE), csv).unwrap();
}

/// FD001 × {baseline, grace, amnl_floor} × seeds 0..3 planned; grace's seed 2 never finished.
fn sweep() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let manifest = r#"{"data": "/d", "synthetic": false, "subsets": ["FD001"],
        "methods": ["baseline", "grace", "amnl_floor"], "seeds": [0, 1, 2], "train_args": []}"#;
    std::fs::write(d.path().join(crate::plan::MANIFEST_FILE), manifest).unwrap();
    for seed in 0..3 {
        // Seed 2 of baseline is far off: a comparison that used it for grace would show.
        let scale = if seed == 2 { 5.0 } else { 1.0 };
        write_run(d.path(), "baseline", "baseline", seed, &|e| scale * base_error(e, seed));
        write_run(d.path(), "amnl_floor", "amnl", seed, &|e| scale * base_error(e, seed));
        if seed < 2 {
            write_run(d.path(), "grace", "grace", seed, &|e| 0.5 * base_error(e, seed));
        }
    }
    d
}

fn options(against: &[&str]) -> Options {
    Options {
        against: against.iter().map(|s| s.to_string()).collect(),
        bootstrap: BootstrapSettings { resamples: 1000, seed: 0, level: 0.95 },
    }
}

#[test]
fn cells_state_their_seeds_and_partial_cells_are_labelled() {
    let d = sweep();
    let c = compare(d.path(), &options(&["baseline"])).unwrap();
    let cells: Vec<(String, String, bool)> =
        c.cells.iter().map(|c| (c.row.method.clone(), c.seeds_label(), c.partial)).collect();
    assert_eq!(
        cells,
        [
            ("baseline".into(), "3".into(), false),
            ("grace".into(), "2 of 3, partial".into(), true),
            ("amnl_floor".into(), "3".into(), false)
        ]
    );
    assert_eq!(c.missing, ["FD001_grace_seed2"]);
    assert_eq!(c.cells[1].row.seeds, [0, 1]);
    assert_eq!(c.cells[0].row.epochs.mean, 5.0);
}

#[test]
fn each_method_is_compared_on_the_seeds_both_finished() {
    let d = sweep();
    let c = compare(d.path(), &options(&["baseline", "dbmtl"])).unwrap();
    let names: Vec<(&str, &str)> = c.pairs.iter().map(|p| (p.method.as_str(), p.reference.as_str())).collect();
    assert_eq!(names, [("grace", "baseline"), ("amnl_floor", "baseline")]);
    assert_eq!(c.skipped, ["FD001: no finished run of dbmtl to compare against"]);
    let g = &c.pairs[0];
    assert_eq!((g.seeds.clone(), g.difference.engines), (vec![0, 1], ENGINES as usize));
    // Baseline over seeds 0 and 1 only: the root of the seed-averaged squared errors.
    let sq: f64 = (0..2).flat_map(|s| (1..=ENGINES).map(move |e| base_error(e, s).powi(2))).sum();
    let expected = (sq / (2.0 * ENGINES as f64)).sqrt();
    assert!((g.difference.rmse_reference - expected).abs() < 1e-9, "{} vs {expected}", g.difference.rmse_reference);
    assert!((g.difference.rmse.difference + 0.5 * expected).abs() < 1e-9);
    assert_eq!(g.difference.rmse.verdict, Verdict::Better);
    // The variant trains amnl but keeps its own name; it equals baseline engine for engine.
    let v = &c.pairs[1].difference;
    assert_eq!((v.rmse.low, v.rmse.high, v.rmse.verdict), (0.0, 0.0, Verdict::NoMeasurableDifference));
}

#[test]
fn the_files_hold_the_tables_and_repeat_exactly() {
    let d = sweep();
    let out = d.path().join("compare");
    let c = compare(d.path(), &options(&["baseline"])).unwrap();
    let files = c.write(&out).unwrap();
    let names: Vec<String> = files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["compare.md", "compare.csv", "compare_cells.csv", "compare.json"]);
    let md = std::fs::read_to_string(out.join("compare.md")).unwrap();
    assert!(md.contains("| FD001 | grace | 2 of 3, partial |"), "{md}");
    assert!(
        md.contains("| FD001 | amnl_floor | baseline | 3 | 40 | +0.00 | [+0.00, +0.00] | no measurable difference |"),
        "{md}"
    );
    let csv = std::fs::read_to_string(out.join("compare.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("subset,method,reference,n_seeds,seeds,engines,rmse_method,"), "{csv}");
    assert!(lines[1].starts_with("FD001,grace,baseline,2,0 1,40,") && lines[1].contains(",better,"), "{csv}");
    let cells = std::fs::read_to_string(out.join("compare_cells.csv")).unwrap();
    assert!(cells.lines().nth(2).unwrap().starts_with("FD001,grace,2,3,true,0 1,"), "{cells}");
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("compare.json")).unwrap()).unwrap();
    assert_eq!(j["pairs"][0]["rmse"]["verdict"], "better");
    assert_eq!(j["cells"][1]["partial"], true);
    let again = compare(d.path(), &options(&["baseline"])).unwrap();
    assert_eq!(again.to_markdown(), c.to_markdown(), "a fixed seed gives the same tables");
}

#[test]
fn runs_on_different_test_data_are_refused() {
    let d = sweep();
    let p = d.path().join("runs/FD001_grace_seed0").join(rundir::PREDICTIONS_FILE);
    let text = std::fs::read_to_string(&p).unwrap().replacen("\n1,", "\n1,999,999,", 1);
    // engine 1 now has truth 999 (and the old columns shift right, which the reader ignores)
    std::fs::write(&p, text).unwrap();
    let e = compare(d.path(), &options(&["baseline"])).unwrap_err().to_string();
    assert!(e.contains("disagree on the truth of test engine 1"), "{e}");
}

#[test]
fn a_sweep_names_a_variants_runs_by_its_plan_label_everywhere() {
    // results.json of an amnl_floor run says `amnl`; the figures colour and label runs by method()
    let d = sweep();
    let (_, runs) = load_sweep(d.path()).unwrap();
    let methods: Vec<String> = runs.iter().map(|r| r.method()).collect();
    assert_eq!(methods.iter().filter(|m| *m == "amnl_floor").count(), 3, "{methods:?}");
    assert!(!methods.iter().any(|m| m == "amnl"), "{methods:?}");
}
