//! End-to-end tests of `grace predict`: train a tiny synthetic run, feed its own test engines back
//! as "new" engines, and check the predictions equal the run's predictions.csv; bad inputs fail
//! with messages that name the path, line and value.

use grace_core::explain::plain_number;
use grace_data::synthetic::{fleet, SyntheticConfig};
use grace_data::write_data;
use grace_data::Preprocessing;
use std::collections::HashMap;
use std::path::Path;

mod common;
use common::{f, fails, ok};

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
    // the run's own test engines are like its training data: no other warning
    assert_eq!(
        err.matches("warning: ").count(),
        1 + rows.iter().filter(|r| r["front_padded"] == true).count(),
        "{err}"
    );
}

/// Line `line` (0-based) of an engine file with column `col` replaced by `value`.
fn replace_value(text: &str, line: usize, col: usize, value: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut toks: Vec<&str> = lines[line].split_whitespace().collect();
    toks[col] = value;
    lines[line] = toks.join(" ");
    lines.join("\n")
}

#[test]
fn predict_warns_on_unfinished_runs_and_engines_unlike_the_training_data() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(&run);
    let raw = fleet(&synthetic());
    let pre: Preprocessing =
        serde_json::from_str(&std::fs::read_to_string(run.join("preprocessing.json")).unwrap()).unwrap();
    // Unit 1, cycle 3: T30 (column 7) reads 5000 instead of about 1590.
    let text = write_data(&raw.test);
    let text = replace_value(&text, 2, 7, "5000");
    // Unit 2, cycle 1: flown at 60 kft (column 2), above every regime of the fleet (at most 42 kft).
    let first_of_unit2 = raw.test[0].cycles as usize;
    let text = replace_value(&text, first_of_unit2, 2, "60");
    let engines = dir.path().join("engines.txt");
    std::fs::write(&engines, text).unwrap();
    let (run_s, eng_s) = (run.to_str().unwrap(), engines.to_str().unwrap());
    let v: serde_json::Value =
        serde_json::from_slice(&ok(&["predict", run_s, "--engines", eng_s, "--json"]).stdout).unwrap();
    let warnings: Vec<&str> = v["warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();

    // The T30 warning carries the value, the cycle and its distance from the condition's mean in σ.
    let e0 = &raw.test[0];
    let k = pre.condition_of(e0.settings.row(2)) as usize;
    let t30 = pre.feature_names.iter().position(|n| n == "s3_T30").unwrap();
    let z = (5000.0 - pre.mean[k][t30]) / pre.std[k][t30];
    let want = format!("unit {}: input s3_T30 = 5000 lies {z:.1} σ from its training mean", e0.unit);
    let w = warnings.iter().find(|w| w.starts_with(&want)).unwrap_or_else(|| panic!("no `{want}` in {warnings:#?}"));
    assert!(
        w.contains(&format!("in condition {k}, beyond the limit of 20 σ at cycle 3 (1 of {} cycles", e0.cycles)),
        "{w}"
    );
    // The 60 kft cycle is far from every fitted condition, and says which is nearest.
    let unit2 = raw.test[1].unit;
    let mut flown = raw.test[1].settings.row(0).to_vec();
    flown[0] = 60.0;
    let near = pre.condition_of(&flown) as usize;
    let prefix = format!("unit {unit2}: operating settings (altitude_kft 60, mach {}, ", plain_number(flown[1]));
    let w =
        warnings.iter().find(|w| w.starts_with(&prefix)).unwrap_or_else(|| panic!("no `{prefix}` in {warnings:#?}"));
    let centroid = format!("nearest fitted condition {near} (altitude_kft {}, ", plain_number(pre.centroids[near][0]));
    assert!(w.contains(&centroid) && w.contains("at cycle 1 (1 of"), "{w}");
    // Nothing about the untouched engines, and nothing about the run: it finished.
    let units = [e0.unit, unit2];
    for w in warnings.iter().filter(|w| !w.contains("fewer than the window")) {
        assert!(units.iter().any(|u| w.starts_with(&format!("unit {u}: "))), "unexpected warning: {w}");
    }

    // A run without results.json is unfinished: its weights are the best so far, and predict says so.
    std::fs::remove_file(run.join("results.json")).unwrap();
    let out = ok(&["predict", run_s, "--engines", eng_s]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("warning: {run_s} is an unfinished run (no results.json; 1 of 1 epochs in epochs.csv)"))
            && err.contains(&format!("grace train --resume {run_s}")),
        "{err}"
    );
}

#[test]
fn weight_file_errors_name_the_file_the_fault_and_the_remedy() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(&run);
    let engines = dir.path().join("engines.txt");
    std::fs::write(&engines, write_data(&fleet(&synthetic()).test)).unwrap();
    let (run_s, eng_s) = (run.to_str().unwrap(), engines.to_str().unwrap());
    let best = run.join("best.safetensors");
    let weights = std::fs::read(&best).unwrap();
    let internal = ["SafeTensorError", "InvalidHeader", "C++", "Exception raised", "libtorch"];

    // A truncated file: which file, what is wrong, what to do.
    std::fs::write(&best, &weights[..weights.len() / 2]).unwrap();
    for args in [&["predict", run_s, "--engines", eng_s][..], &["evaluate", run_s]] {
        let err = fails(args);
        assert!(err.contains(best.to_str().unwrap()) && err.contains("truncated?"), "{err}");
        assert!(err.contains("train the run again") && !internal.iter().any(|i| err.contains(i)), "{err}");
    }

    // A config edited after training: one sentence naming the layer, no libtorch backtrace.
    std::fs::write(&best, &weights).unwrap();
    let config = run.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let hidden: i64 = text.lines().find_map(|l| l.strip_prefix("lstm_hidden = ")).unwrap().parse().unwrap();
    std::fs::write(&config, text.replace(&format!("lstm_hidden = {hidden}"), &format!("lstm_hidden = {}", hidden + 1)))
        .unwrap();
    let err = fails(&["predict", run_s, "--engines", eng_s]);
    assert!(err.contains("does not fit the model described by config.toml") && err.contains("in the file"), "{err}");
    assert!(err.contains("Was config.toml edited after training?"), "{err}");
    assert!(!internal.iter().any(|i| err.contains(i)) && err.lines().count() <= 2, "{err}");
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

    // An absurd value parses but would make the model's input infinite: refused where it stands,
    // and no prediction file is written.
    let mut toks: Vec<&str> = text.lines().nth(2).unwrap().split_whitespace().collect();
    toks[6] = "1e308";
    lines[2] = toks.join(" ");
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let out = dir.path().join("absurd.csv");
    let err = fails(&["predict", run_s, "--engines", bad.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(err.contains("bad_engines.txt, line 3, column 7: `1e308` is beyond ±1e15"), "{err}");
    assert!(!out.exists());

    // A preprocessing.json holding null (what a NaN statistic used to be written as) is refused
    // with the file and the place named, instead of a panic or NaN predictions.
    let pre_path = run.join("preprocessing.json");
    let good = std::fs::read_to_string(&pre_path).unwrap();
    let mut j: serde_json::Value = serde_json::from_str(&good).unwrap();
    j["std"][0][3] = serde_json::Value::Null;
    std::fs::write(&pre_path, j.to_string()).unwrap();
    let err = fails(&["predict", run_s, "--engines", eng_s]);
    assert!(err.contains("preprocessing.json: invalid type: null, expected f64 at line 1"), "{err}");
    std::fs::write(&pre_path, good).unwrap();

    // A run directory without its selected weights is not a trained run.
    std::fs::remove_file(run.join("best.safetensors")).unwrap();
    let err = fails(&["predict", run_s, "--engines", eng_s]);
    assert!(err.contains(run_s) && err.contains("best.safetensors") && err.contains("grace train"), "{err}");
}
