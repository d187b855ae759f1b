//! `grace bench accuracy`: a few seconds of each side on a tiny synthetic fleet, checked for the
//! report's shape (finite scores, rising elapsed times, the budget kept, files written), never its timings.

mod common;
use common::{command, f, read_json, succeeded};
use serde_json::Value;

const BUDGET_S: f64 = 3.0;

/// One side's epochs: elapsed times rising, finite scores and losses, and no epoch begun after the
/// budget (so every epoch but the last ended within it).
fn check_side(name: &str, s: &Value) {
    let epochs = s["epochs"].as_array().unwrap_or_else(|| panic!("{name}: no epochs in {s}"));
    assert!(!epochs.is_empty(), "{name}");
    assert_eq!(s["epochs_run"].as_u64(), Some(epochs.len() as u64), "{name}");
    let elapsed: Vec<f64> = epochs.iter().map(|p| f(&p["elapsed_s"])).collect();
    assert!(elapsed.windows(2).all(|w| w[1] > w[0]), "{name}: {elapsed:?}");
    assert!(elapsed[..elapsed.len() - 1].iter().all(|&t| t < BUDGET_S), "{name}: {elapsed:?}");
    for p in epochs {
        assert!(f(&p["val_rmse"]).is_finite() && f(&p["val_rmse"]) > 0.0, "{name}: {p}");
        assert!(f(&p["train_loss"]).is_finite() && f(&p["seconds"]) > 0.0, "{name}: {p}");
    }
    let in_budget = epochs.iter().zip(&elapsed).filter(|(_, &t)| t <= BUDGET_S).map(|(p, _)| f(&p["val_rmse"]));
    if let Some(min) = in_budget.reduce(f64::min) {
        assert_eq!(f(&s["best_val_rmse"]), min, "{name}: the best score within the budget");
    }
}

#[test]
fn a_short_budget_reports_both_curves_and_writes_its_files() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("acc");
    let out_arg = out.to_str().unwrap();
    let args = [
        "bench",
        "accuracy",
        "--data",
        "synthetic",
        "--method",
        "amnl",
        "--set",
        "data.synthetic.n_train=8",
        "--set",
        "data.synthetic.n_test=2",
        "--set",
        "train.epoch_fraction=0.3",
        "--set",
        "train.input_jitter=0.05",
        "--budget-minutes",
        "0.05",
        "--threads",
        "1",
        "--out",
        out_arg,
        "--json",
    ];
    // from the repository root, where the reference script and its venv are
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let run = succeeded(&args, command(&args).current_dir(root).output().expect("the grace binary runs"));
    let v: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!((f(&v["budget_s"]), v["method"].as_str()), (BUDGET_S, Some("amnl")));
    check_side("grace", &v["grace"]);
    let marks: Vec<f64> = v["marks"].as_array().unwrap().iter().map(|m| f(&m["elapsed_s"])).collect();
    assert_eq!(marks, [0.75, 1.5, 2.25, 3.0]);
    assert!(v["data"]["train_windows"].as_u64().unwrap() > 0 && v["data"]["val_windows"].as_u64().unwrap() > 0);
    for file in ["accuracy.json", "accuracy.png", "accuracy.svg", "accuracy_data.safetensors", "grace_run/epochs.csv"] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let spec = read_json(&out.join("accuracy_reference.json"));
    assert_eq!(
        (spec["method"]["weighted"].as_bool(), spec["train"]["epoch_fraction"].as_f64()),
        (Some(true), Some(0.3))
    );
    assert_eq!(read_json(&out.join("accuracy.json"))["grace"], v["grace"]);
    // the reference side, where this machine has its venv
    if v["reference_error"].is_null() {
        check_side("reference", &v["reference"]);
        assert_eq!(v["reference_info"]["attention"], "full");
        assert_eq!(v["reference_info"]["init"], "grace");
        assert!(f(&v["target_rmse"]).is_finite());
    } else {
        eprintln!("reference side skipped: {}", v["reference_error"]);
    }
}
