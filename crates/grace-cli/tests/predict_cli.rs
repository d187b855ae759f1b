//! End-to-end tests of `grace predict`: train a tiny synthetic run, feed its own test engines back
//! as "new" engines, and check the predictions equal the run's predictions.csv; bad inputs fail
//! with messages that name the path, line and value.

use grace_data::synthetic::{fleet, SyntheticConfig};
use grace_data::write_data;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

fn grace(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_grace")).args(args).output().expect("the grace binary runs")
}

fn ok(args: &[&str]) -> Output {
    let out = grace(args);
    assert!(out.status.success(), "grace {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn fails(args: &[&str]) -> String {
    let out = grace(args);
    assert!(!out.status.success(), "grace {args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn synthetic() -> SyntheticConfig {
    SyntheticConfig { n_train: 10, n_test: 6, max_life: 200, ..Default::default() }
}

fn train(run: &Path) {
    ok(&[
        "train",
        "--data",
        "synthetic",
        "--set",
        "data.synthetic.n_train=10",
        "--set",
        "data.synthetic.n_test=6",
        "--set",
        "data.synthetic.max_life=200",
        "--epochs",
        "1",
        "--threads",
        "1",
        // predict runs on the CPU below, so the comparison does not cross devices
        "--device",
        "cpu",
        "--out",
        run.to_str().unwrap(),
        "--json",
    ]);
}

/// A header line and rows of a plain CSV (no quoted fields) as maps from column to value.
fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let cols: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| cols.iter().cloned().zip(l.split(',').map(String::from)).collect())
        .collect()
}

fn num(row: &HashMap<String, String>, col: &str) -> f64 {
    row[col].parse().unwrap_or_else(|_| panic!("{col} = {} is not a number", row[col]))
}

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"))
}

#[test]
fn predictions_on_the_runs_test_engines_match_its_predictions_csv() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(&run);
    let raw = fleet(&synthetic());
    let engines = dir.path().join("engines.txt");
    std::fs::write(&engines, write_data(&raw.test)).unwrap();
    let csv_out = dir.path().join("pred.csv");
    let (run_s, eng_s, csv_s) = (run.to_str().unwrap(), engines.to_str().unwrap(), csv_out.to_str().unwrap());

    let out = ok(&["predict", run_s, "--engines", eng_s, "--out", csv_s, "--json", "--device", "cpu"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let h = &v["header"];
    assert_eq!(h["subset"], "SYNTHETIC");
    assert_eq!(h["method"], "grace");
    assert_eq!(f(&h["max_rul"]), 125.0);
    assert!(h["note"].as_str().unwrap().contains("capped at max_rul"));
    let rows = v["engines"].as_array().unwrap();
    assert_eq!(rows.len(), raw.test.len(), "one row per engine");

    // The run scored the same engines from their last windows with the same weights.
    let truth: HashMap<u64, f64> = read_csv(&run.join("predictions.csv"))
        .iter()
        .map(|r| (num(r, "engine") as u64, num(r, "prediction")))
        .collect();
    assert_eq!(truth.len(), rows.len());
    let max_rul = f(&h["max_rul"]);
    for (r, e) in rows.iter().zip(&raw.test) {
        let unit = r["unit"].as_u64().unwrap();
        assert_eq!(unit, u64::from(e.unit));
        assert_eq!(r["cycles"].as_u64().unwrap(), e.cycles as u64);
        let rul = f(&r["rul"]);
        assert!((rul - truth[&unit]).abs() < 1e-6, "unit {unit}: predict {rul} vs predictions.csv {}", truth[&unit]);
        assert!((0.0..=3.0 * max_rul).contains(&rul), "unit {unit}: RUL {rul}");
        let p = [f(&r["p_normal"]), f(&r["p_degrading"]), f(&r["p_critical"])];
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{p:?}");
        let class = r["health_class"].as_u64().unwrap() as usize;
        assert!(p.iter().all(|&q| q <= p[class]), "class {class} is not the most probable: {p:?}");
        assert_eq!(r["health"], ["normal", "degrading", "critical"][class]);
        assert!(r["condition"].as_u64().unwrap() < h["n_conditions"].as_u64().unwrap());
        assert_eq!(r["front_padded"].as_bool().unwrap(), (e.cycles as u64) < h["window"].as_u64().unwrap());
    }

    // The CSV holds the same rows.
    let csv = read_csv(&csv_out);
    assert_eq!(csv.len(), rows.len());
    for (c, r) in csv.iter().zip(rows) {
        assert_eq!(num(c, "unit") as u64, r["unit"].as_u64().unwrap());
        assert_eq!(num(c, "cycles") as u64, r["cycles"].as_u64().unwrap());
        assert_eq!(c["health"], r["health"].as_str().unwrap());
        for col in ["rul", "p_normal", "p_degrading", "p_critical"] {
            assert!((num(c, col) - f(&r[col])).abs() < 1e-12, "{col}: csv {} vs json {}", c[col], r[col]);
        }
    }

    // The table names every unit; an engine shorter than the window is predicted with a warning.
    let mut short = raw.test[0].clone();
    short.unit = 99;
    short.cycles = 5;
    short.settings.truncate(5);
    short.sensors.truncate(5);
    let mut fleet2 = raw.test.clone();
    fleet2.push(short);
    std::fs::write(&engines, write_data(&fleet2)).unwrap();
    let out = ok(&["predict", run_s, "--engines", eng_s, "--device", "cpu"]);
    let table = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    for e in &fleet2 {
        assert!(
            lines.iter().any(|l| l.split_whitespace().next() == Some(&e.unit.to_string())),
            "unit {} missing:\n{table}",
            e.unit
        );
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning: unit 99 has 5 cycles, fewer than the window"), "{err}");
}

#[test]
fn missing_runs_and_malformed_engine_files_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let engines = dir.path().join("engines.txt");
    std::fs::write(&engines, write_data(&fleet(&synthetic()).test)).unwrap();
    let eng_s = engines.to_str().unwrap();

    let nowhere = dir.path().join("no_such_run");
    let err = fails(&["predict", nowhere.to_str().unwrap(), "--engines", eng_s]);
    assert!(
        err.contains("no_such_run") && err.contains("does not exist") && err.contains("grace train --out"),
        "{err}"
    );

    let run = dir.path().join("run");
    train(&run);
    let run_s = run.to_str().unwrap();

    // Malformed value on line 3: the message names the file, the line and the value.
    let text = std::fs::read_to_string(&engines).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut toks: Vec<&str> = lines[2].split_whitespace().collect();
    toks[7] = "12x.5";
    lines[2] = toks.join(" ");
    let bad = dir.path().join("bad_engines.txt");
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let err = fails(&["predict", run_s, "--engines", bad.to_str().unwrap()]);
    assert!(err.contains("bad_engines.txt") && err.contains("line 3") && err.contains("12x.5"), "{err}");

    let missing = dir.path().join("absent.txt");
    let err = fails(&["predict", run_s, "--engines", missing.to_str().unwrap()]);
    assert!(err.contains("absent.txt"), "{err}");

    // A run directory without its selected weights is not a trained run.
    std::fs::remove_file(run.join("best.safetensors")).unwrap();
    let err = fails(&["predict", run_s, "--engines", eng_s]);
    assert!(err.contains(run_s) && err.contains("best.safetensors") && err.contains("grace train"), "{err}");
}
