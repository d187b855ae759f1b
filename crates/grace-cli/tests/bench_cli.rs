//! `grace bench train`: one alternated round against the PyTorch reference with the phase profile,
//! checked for its shape (every phase, shares summing to one), never for its timings.

mod common;
use common::{command, succeeded};

const PHASES: [&str; 9] =
    ["batch", "forward", "backward", "combination", "clipping", "optimizer", "after_update", "average", "host_reads"];

fn share_sum(phases: &[serde_json::Value]) -> f64 {
    phases.iter().map(|p| p["share"].as_f64().unwrap()).sum()
}

#[test]
fn profile_reports_every_phase_with_shares_summing_to_one() {
    let args = [
        "bench",
        "train",
        "--preset",
        "small",
        "--batch",
        "8",
        "--infer-batch",
        "8",
        "--threads",
        "1",
        "--min-seconds",
        "0.05",
        "--repeats",
        "1",
        "--profile",
        "--json",
    ];
    // from the repository root, where the reference script and its venv are
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let out = succeeded(&args, command(&args).current_dir(root).output().expect("the grace binary runs"));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let run = &v[0];
    assert_eq!(run["preset"], "small");
    assert_eq!(run["rounds"], 1);
    for key in ["plain", "gaba", "infer"] {
        let s = &run["grace"][key];
        assert!(s["median"].as_f64().unwrap() > 0.0, "{key}: {s}");
        assert_eq!(s["min"], s["max"], "one round: the range is one sample");
    }
    let p = &run["profile"];
    assert_eq!(p["method"], "gaba");
    let phases = p["phases"].as_array().unwrap();
    let names: Vec<&str> = phases.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, PHASES);
    assert!((share_sum(phases) - 1.0).abs() < 1e-9, "{phases:?}");
    assert!(phases.iter().all(|p| p["ms"].as_f64().unwrap() >= 0.0));
    // the reference side, where this machine has its venv
    if run.get("reference_error").is_none() {
        assert!(run["ratios"]["plain_vs_plain"]["median"].as_f64().unwrap() > 0.0);
        let phases = run["reference_profile"]["phases"].as_array().unwrap();
        let names: Vec<&str> = phases.iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["forward", "backward", "combination", "clipping", "optimizer"]);
        assert!((share_sum(phases) - 1.0).abs() < 1e-9);
    }
}
