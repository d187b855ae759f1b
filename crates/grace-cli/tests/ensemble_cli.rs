//! `grace evaluate --runs` and `--sweep DIR --method M` through the binary: two calibrated seeds of
//! a tiny synthetic fleet combine into an ensemble in a new folder; mismatched members are refused.

mod common;
use common::{f, fails, json, ok, read_json, train_calibrated};

#[test]
fn two_calibrated_seeds_make_an_ensemble_and_other_preprocessing_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let (a, b, c) = (runs.join("SYNTHETIC_grace_seed0"), runs.join("SYNTHETIC_grace_seed1"), dir.path().join("w20"));
    train_calibrated(&a, 0, &["data.prep.window=30"]);
    train_calibrated(&b, 1, &["data.prep.window=30"]);
    let out = dir.path().join("ens");
    let (a_s, b_s, out_s) = (a.to_str().unwrap(), b.to_str().unwrap(), out.to_str().unwrap());
    let before = std::fs::read_to_string(a.join("results.json")).unwrap();
    let r = json(&["evaluate", "--runs", a_s, b_s, "--out", out_s, "--json"]);
    assert_eq!(r["members"].as_array().unwrap().len(), 2);
    assert_eq!(r["combine"], "mean");
    let mean = (f(&r["members"][0]["test"]["capped"]["rmse"]) + f(&r["members"][1]["test"]["capped"]["rmse"])) / 2.0;
    assert!((f(&r["mean_member"]["capped"]["rmse"]) - mean).abs() < 1e-9);
    assert!(f(&r["ensemble"]["capped"]["rmse"]) <= mean + 1e-9);
    let kinds: Vec<&str> =
        r["intervals"]["kinds"].as_array().unwrap().iter().map(|k| k["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["symmetric", "normalised", "lower_bound", "asymmetric"]);
    assert_eq!(read_json(&out.join("results.json")), r);
    assert!(out.join("calibration.json").is_file() && out.join("predictions.csv").is_file());
    assert_eq!(std::fs::read_to_string(a.join("results.json")).unwrap(), before, "members untouched");

    // the sweep layout selects the same two runs
    let sweep_out = dir.path().join("ens2");
    let s = json(&[
        "evaluate",
        "--sweep",
        dir.path().to_str().unwrap(),
        "--method",
        "grace",
        "--out",
        sweep_out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(s["ensemble"], r["ensemble"]);
    let text = ok(&["evaluate", "--runs", a_s, b_s, "--out", out_s, "--combine", "median"]).stdout;
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("mean single model") && text.contains("calibrated intervals"), "{text}");

    // With GRACE_TEST_LOG, an ensemble's test scoring is logged like a run's.
    let log = dir.path().join("test-log.csv");
    let args = ["evaluate", "--runs", a_s, b_s, "--out", out_s];
    let o = common::command(&args).env("GRACE_TEST_LOG", &log).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let logged = std::fs::read_to_string(&log).unwrap();
    let line = logged.lines().nth(1).unwrap();
    assert!(line.contains(",SYNTHETIC,ensemble (mean) of grace,0+1,"), "{logged}");
    let rmse = format!("{:.4}", f(&r["ensemble"]["capped"]["rmse"]));
    assert!(line.contains(&rmse), "{logged}");

    train_calibrated(&c, 2, &["data.prep.window=20"]);
    let e = fails(&["evaluate", "--runs", a_s, c.to_str().unwrap(), "--out", dir.path().join("x").to_str().unwrap()]);
    assert!(e.contains("differ in preprocessing") && e.contains("config.window"), "{e}");
    let e = fails(&["evaluate", "--runs", a_s, b_s, "--out", a_s]);
    assert!(e.contains("is a run directory"), "{e}");
    let e = fails(&["evaluate", "--runs", a_s, b_s]);
    assert!(e.contains("--out"), "{e}");
}
