//! End-to-end test of `grace compare` on a tiny synthetic sweep: the per-cell table with seed
//! counts, the paired bootstrap against a reference, reproducible files, and a partial cell.

mod common;

use common::{f, json as ok_json, read_json, u};

/// 10 training engines, 6 test engines, 2 epochs: a few seconds per run.
const TINY: &[&str] =
    &["--data", "synthetic", "--set", "data.synthetic.n_train=10", "--set", "data.synthetic.n_test=6", "--epochs", "2"];

#[test]
fn compare_tabulates_pairs_and_labels_partial_cells() {
    let tmp = tempfile::tempdir().unwrap();
    let sweep = tmp.path().join("tiny");
    let s = sweep.to_str().unwrap();
    let mut args = vec!["sweep"];
    args.extend_from_slice(TINY);
    args.extend_from_slice(&["--methods", "baseline,grace", "--seeds", "2", "--jobs", "2", "--out", s, "--json"]);
    ok_json(&args);

    let compare = ["compare", s, "--against", "baseline", "--resamples", "500", "--seed", "3", "--json"];
    let c = ok_json(&compare);
    let cells = c["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2);
    for (cell, method) in cells.iter().zip(["baseline", "grace"]) {
        assert_eq!(
            (cell["method"].as_str().unwrap(), u(&cell["n"]), cell["partial"].as_bool()),
            (method, 2, Some(false))
        );
        let rmse: Vec<f64> = (0..2)
            .map(|seed| {
                f(&read_json(&sweep.join(format!("runs/SYNTHETIC_{method}_seed{seed}/results.json")))["test"]["capped"]
                    ["rmse"])
            })
            .collect();
        assert!((f(&cell["rmse"]["mean"]) - (rmse[0] + rmse[1]) / 2.0).abs() < 1e-9);
    }
    let pairs = c["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 1);
    let p = &pairs[0];
    assert_eq!((p["method"].as_str(), p["reference"].as_str(), u(&p["engines"])), (Some("grace"), Some("baseline"), 6));
    assert_eq!(p["seeds"], serde_json::json!([0, 1]));
    let (lo, hi, d) = (f(&p["rmse"]["low"]), f(&p["rmse"]["high"]), f(&p["rmse"]["difference"]));
    assert!(lo <= hi && (f(&p["rmse_method"]) - f(&p["rmse_reference"]) - d).abs() < 1e-9);
    let verdict = p["rmse"]["verdict"].as_str().unwrap();
    let expected = if hi < 0.0 {
        "better"
    } else if lo > 0.0 {
        "worse"
    } else {
        "no_measurable_difference"
    };
    assert_eq!(verdict, expected);

    // The default folder holds the four files; the same seed writes the same bytes again.
    let out = sweep.join("compare");
    let first = std::fs::read(out.join("compare.json")).unwrap();
    for file in ["compare.md", "compare.csv", "compare_cells.csv"] {
        assert!(out.join(file).is_file(), "{file}");
    }
    ok_json(&compare);
    assert_eq!(std::fs::read(out.join("compare.json")).unwrap(), first);

    // A seed that has not finished: the cell says so and the pair uses the seed both have.
    std::fs::remove_file(sweep.join("runs/SYNTHETIC_grace_seed1/results.json")).unwrap();
    let other = tmp.path().join("other");
    let c = ok_json(&[
        "compare",
        s,
        "--against",
        "baseline",
        "--resamples",
        "200",
        "--out",
        other.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!((u(&c["cells"][1]["n"]), c["cells"][1]["partial"].as_bool()), (1, Some(true)));
    assert_eq!(c["pairs"][0]["seeds"], serde_json::json!([0]));
    assert_eq!(c["missing"], serde_json::json!(["SYNTHETIC_grace_seed1"]));
    let md = std::fs::read_to_string(other.join("compare.md")).unwrap();
    assert!(md.contains("| SYNTHETIC | grace | 1 of 2, partial |"), "{md}");
}
