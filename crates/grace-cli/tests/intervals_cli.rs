//! End-to-end calibrated intervals through the binary: `grace train --set data.prep.calibration=0.5`
//! on a tiny synthetic fleet writes calibration.json and an `intervals` section, and `grace predict`
//! adds the calibrated bounds to its table, CSV and JSON, the same on a second call; `--coverage`
//! asks for other levels on one call without rewriting the run.

use grace_data::synthetic::{fleet, SyntheticConfig};
use grace_data::write_data;
use std::path::Path;

mod common;
use common::{f, fails, json, ok, read_json, train_calibrated};

#[test]
fn calibrated_training_writes_intervals_and_predict_reproduces_its_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train_calibrated(&run, 0, &["eval.coverage=[0.8, 0.9]"]);
    let cal = read_json(&run.join("calibration.json"));
    assert_eq!(cal["cuts"].as_array().unwrap().len(), 20, "2 calibration engines × 10 cuts");
    let results = read_json(&run.join("results.json"));
    assert_eq!(results["protocol"]["calibration_units"].as_array().unwrap().len(), 2);
    let kinds = results["intervals"]["kinds"].as_array().unwrap();
    let names: Vec<&str> = kinds.iter().map(|k| k["kind"].as_str().unwrap()).collect();
    // the normalised kind of a single model is scaled by its difficulty estimate σ̂(ŷ), fitted on the
    // 2 selection engines' 20 test-like cuts (2 bins of 10)
    assert_eq!(names, ["symmetric", "normalised", "lower_bound", "asymmetric"]);
    assert_eq!((cal["difficulty"]["n"].as_u64(), cal["difficulty"]["knots"].as_array().unwrap().len()), (Some(20), 2));
    for k in kinds {
        let levels: Vec<f64> = k["capped"].as_array().unwrap().iter().map(|s| f(&s["level"])).collect();
        assert_eq!(levels, [0.8, 0.9]);
    }

    let raw = fleet(&SyntheticConfig { n_train: 10, n_test: 6, max_life: 200, ..Default::default() });
    let engines = dir.path().join("engines.txt");
    std::fs::write(&engines, write_data(&raw.test)).unwrap();
    let csv = dir.path().join("pred.csv");
    let args = ["predict", run.to_str().unwrap(), "--engines", engines.to_str().unwrap(), "--device", "cpu"];
    let with_csv = |extra: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--out", csv.to_str().unwrap()]);
        a.extend(extra);
        ok(&a)
    };
    let json: serde_json::Value = serde_json::from_slice(&with_csv(&["--json"]).stdout).unwrap();
    let first_csv = std::fs::read_to_string(&csv).unwrap();
    for e in json["engines"].as_array().unwrap() {
        let b = e["intervals"].as_array().unwrap();
        assert_eq!(b.len(), 2);
        for x in b {
            // the one-sided bound may lie above a prediction that was early on the calibration engines
            let (rul, at_least, lower) = (f(&e["rul"]), f(&x["at_least"]), f(&x["lower"]));
            assert!(at_least >= 0.0, "{x}");
            assert!(lower <= rul.max(0.0) + 1e-9 && x["upper"].as_f64().is_none_or(|u| u >= rul - 1e-9), "{x}");
        }
        // a wider level gives a lower (or equal) lower bound
        assert!(f(&b[1]["at_least"]) <= f(&b[0]["at_least"]) + 1e-9);
    }
    let header = first_csv.lines().next().unwrap();
    assert!(header.ends_with("at_least_0.8,lower_0.8,upper_0.8,at_least_0.9,lower_0.9,upper_0.9"), "{header}");
    assert_eq!(first_csv.lines().count(), 7);

    // a second call gives the same bounds, in the table too
    let again: serde_json::Value = serde_json::from_slice(&with_csv(&["--json"]).stdout).unwrap();
    assert_eq!(again["engines"], json["engines"]);
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), first_csv);
    let table = String::from_utf8(with_csv(&[]).stdout).unwrap();
    assert!(table.contains("90%: ≥L [lo, hi]") && table.contains("calibrated one-sided lower bound"), "{table}");

    // an ensemble of two seeds: the mean of the members' predictions, with the ensemble's bounds
    let run1 = dir.path().join("run1");
    train_calibrated(&run1, 1, &["eval.coverage=[0.8, 0.9]"]);
    let single = |r: &Path| -> serde_json::Value {
        let a = ["predict", r.to_str().unwrap(), "--engines", engines.to_str().unwrap(), "--device", "cpu", "--json"];
        serde_json::from_slice(&ok(&a).stdout).unwrap()
    };
    let other = single(&run1);
    let (r0, r1) = (run.to_str().unwrap(), run1.to_str().unwrap());
    let ens_args = ["predict", "--runs", r0, r1, "--engines", engines.to_str().unwrap(), "--device", "cpu", "--json"];
    let ens: serde_json::Value = serde_json::from_slice(&ok(&ens_args).stdout).unwrap();
    for (i, e) in ens["engines"].as_array().unwrap().iter().enumerate() {
        let mean = (f(&json["engines"][i]["rul"]) + f(&other["engines"][i]["rul"])) / 2.0;
        assert!((f(&e["rul"]) - mean).abs() < 1e-9, "engine {i}: {} vs {mean}", e["rul"]);
        assert_eq!(e["intervals"].as_array().unwrap().len(), 2);
    }
    assert!(ens["header"]["note"].as_str().unwrap().starts_with("ensemble of 2 runs"));
    let again: serde_json::Value = serde_json::from_slice(&ok(&ens_args).stdout).unwrap();
    assert_eq!(again["engines"], ens["engines"]);
    coverage_flag_overrides_the_levels_for_one_call(&run, &engines);
}

/// `--coverage` on predict and evaluate: bounds at exactly the asked levels, nested, reproduced by a
/// second call; the run's files keep its own levels; invalid levels are refused naming the value.
fn coverage_flag_overrides_the_levels_for_one_call(run: &Path, engines: &Path) {
    let files = || ["calibration.json", "results.json"].map(|f| std::fs::read_to_string(run.join(f)).unwrap());
    let before = files();
    let args = ["predict", run.to_str().unwrap(), "--engines", engines.to_str().unwrap(), "--device", "cpu"];
    let predict = |extra: &[&str]| -> serde_json::Value {
        let a = [&args[..], extra, &["--json"]].concat();
        serde_json::from_slice(&ok(&a).stdout).unwrap()
    };
    let p = predict(&["--coverage", "0.5,0.9"]);
    for e in p["engines"].as_array().unwrap() {
        let b = e["intervals"].as_array().unwrap();
        let levels: Vec<f64> = b.iter().map(|x| f(&x["level"])).collect();
        assert_eq!(levels, [0.5, 0.9]);
        // the 50% interval lies inside the 90% one, the 50% lower bound above the 90% one
        let (inner, outer) = (&b[0], &b[1]);
        assert!(f(&inner["lower"]) >= f(&outer["lower"]) - 1e-9, "{e}");
        assert!(outer["upper"].as_f64().is_none_or(|u| f(&inner["upper"]) <= u + 1e-9), "{e}");
        assert!(f(&inner["at_least"]) >= f(&outer["at_least"]) - 1e-9, "{e}");
    }
    assert_eq!(predict(&["--coverage", "0.5,0.9"])["engines"], p["engines"], "a second call reproduces the bounds");
    // the 90% bounds equal those of the run's own 0.9 level
    let own = predict(&[]);
    for (a, b) in p["engines"].as_array().unwrap().iter().zip(own["engines"].as_array().unwrap()) {
        assert_eq!(a["intervals"][1], b["intervals"][1]);
    }

    let r = json(&["evaluate", run.to_str().unwrap(), "--device", "cpu", "--coverage", "0.5", "--json"]);
    for k in r["intervals"]["kinds"].as_array().unwrap() {
        let levels: Vec<f64> = k["capped"].as_array().unwrap().iter().map(|s| f(&s["level"])).collect();
        assert_eq!(levels, [0.5], "{k}");
    }
    assert_eq!(files(), before, "the run keeps its own levels");

    for (bad, named) in [("1.5", "coverage level 1.5 is not in (0, 1)"), ("0.9,abc", "'abc' is not a number")] {
        let e = fails(&[&args[..], &["--coverage", bad]].concat());
        assert!(e.contains(named), "{e}");
    }
    let e = fails(&["evaluate", run.to_str().unwrap(), "--coverage", "0"]);
    assert!(e.contains("coverage level 0 is not in (0, 1)"), "{e}");
    let e = fails(&["train", "--data", "synthetic", "--coverage", "0.9,"]);
    assert!(e.contains("coverage level '' is not a number"), "{e}");
}
