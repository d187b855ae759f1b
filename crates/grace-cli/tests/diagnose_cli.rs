//! End-to-end tests of `grace diagnose`: on the synthetic fleet always, and on NASA's FD002 when
//! GRACE_CMAPSS_DIR is set; the text and the JSON must agree on every number.

mod common;
use common::{f, fails, grace, real_dir, stdout};

fn check_text_matches_json(text: &str, j: &serde_json::Value) {
    let g = &j["gradients"];
    for (key, prec) in [("g_rul", 3), ("g_health", 4), ("ratio_rul_health", 1), ("ratio_max_min", 1), ("cosine", 3)] {
        for q in ["median", "q1", "q3", "min", "max"] {
            let shown = format!("{:.p$}", f(&g[key][q]), p = prec);
            assert!(text.contains(&shown), "{key}.{q} = {shown} not in the text:\n{text}");
        }
    }
    let c = &j["complexity"];
    assert!(text.contains(&format!(
        "{} condition(s) × {} fault mode(s) = {}",
        c["conditions"], c["fault_modes"], c["product"]
    )));
    let n = &j["near_failure"];
    assert!(
        text.contains(&format!("{:.1}% ({} of {})", 100.0 * f(&n["share"]), n["windows"], n["total_windows"])),
        "{text}"
    );
    for r in j["recommendation"]["reasons"].as_array().unwrap() {
        assert!(text.contains(r.as_str().unwrap()), "reason {r} not printed");
    }
    assert!(text.contains(&format!(": {}", j["recommendation"]["method"].as_str().unwrap())));
}

#[test]
fn synthetic_fleet_diagnosis_is_seeded_and_consistent() {
    let args = [&FLAGS[..], &["--cost", "rmse", "--settle-epochs", "0"]].concat();
    let text = stdout(&args);
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let j: serde_json::Value = serde_json::from_str(&stdout(&with_json)).unwrap();
    // Same seed → the same numbers in both runs, so the text can be checked against the JSON.
    check_text_matches_json(&text, &j);
    assert_eq!(j["gradients"]["per_batch"].as_array().unwrap().len(), 3);
    // the synthetic fleet flies 6 regimes with one wear pattern
    assert_eq!(j["complexity"]["conditions"], 6);
    assert_eq!(j["complexity"]["fault_modes"], 1);
    assert!(f(&j["gradients"]["ratio_rul_health"]["median"]) > 10.0);
    // symmetric cost + a dominant gradient + non-negative cosine → baseline, gaba the adaptive alternative
    if f(&j["rule_cosine"]) >= 0.0 {
        assert_eq!(j["recommendation"]["method"], "baseline");
        assert_eq!(j["recommendation"]["adaptive_alternative"], "gaba");
    }
    let bad = grace(&["diagnose", "--data", "synthetic", "--batches", "0"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--batches"));
}

#[test]
fn fd002_ratio_is_far_above_ten_and_recommendation_has_reasons() {
    let Some(dir) = std::env::var("GRACE_CMAPSS_DIR").ok().filter(|d| !d.is_empty()) else {
        eprintln!("GRACE_CMAPSS_DIR not set: skipping the FD002 diagnosis");
        return;
    };
    let args =
        ["diagnose", "--data", &dir, "--subset", "FD002", "--batches", "5", "--threads", "1", "--settle-epochs", "0"];
    let text = stdout(&args);
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let j: serde_json::Value = serde_json::from_str(&stdout(&with_json)).unwrap();
    check_text_matches_json(&text, &j);
    let ratio = f(&j["gradients"]["ratio_rul_health"]["median"]);
    assert!(ratio > 100.0, "FD002 initial g_rul/g_health = {ratio}");
    assert!(f(&j["gradients"]["ratio_rul_health"]["min"]) > 10.0);
    // FD002: six operating conditions, one fault mode (HPC), inferred from the data
    assert_eq!((j["complexity"]["conditions"].as_u64(), j["complexity"]["fault_modes"].as_u64()), (Some(6), Some(1)));
    // The recommendation is the docs/reference.md §7 rule applied to the numbers shown, with its reasons.
    let rule = grace_core::rules::recommend(
        f(&j["gradients"]["ratio_max_min"]["median"]),
        f(&j["rule_cosine"]),
        grace_core::rules::CostShape::Nasa,
    )
    .unwrap();
    assert_eq!(j["recommendation"]["method"], rule.method.as_str());
    assert!(text.contains(&format!("→ {}", rule.method)) && text.contains("≥ 10"), "{text}");
}

/// A short diagnosis of the synthetic fleet.
const FLAGS: [&str; 9] = ["diagnose", "--data", "synthetic", "--batches", "3", "--batch-size", "64", "--threads", "1"];
/// A fleet smaller than the synthetic default, for the tests that train.
const SMALL_FLEET: [&str; 4] = ["--set", "data.synthetic.n_train=10", "--set", "data.synthetic.n_test=6"];

/// Every file under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut all = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()) {
        if e.is_dir() {
            all.extend(files_under(&e));
        } else {
            all.push(e);
        }
    }
    all
}

#[test]
fn settling_trains_in_a_scratch_folder_that_is_gone_afterwards_and_scores_no_test_set() {
    let work = tempfile::tempdir().unwrap();
    let tmp = work.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let run = |extra: &[&str]| {
        let args = [&FLAGS[..], &SMALL_FLEET[..], extra].concat();
        let out = common::command(&args).env("TMPDIR", &tmp).current_dir(work.path()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    };
    let (at_start, _) = run(&["--settle-epochs", "0", "--json"]);
    let (settled, quiet) = run(&["--settle-epochs", "1", "--json"]);
    let (at_start, settled): (serde_json::Value, serde_json::Value) =
        (serde_json::from_str(&at_start).unwrap(), serde_json::from_str(&settled).unwrap());
    assert_eq!((at_start["settle_epochs"].as_u64(), at_start["initial"].is_null()), (Some(0), true));
    assert_eq!(settled["settle_epochs"], 1);
    assert_eq!(settled["initial"], at_start["gradients"], "the initial measurement is the --settle-epochs 0 one");
    assert_ne!(settled["gradients"]["cosine"], at_start["gradients"]["cosine"]);
    assert_eq!(f(&settled["rule_cosine"]), f(&settled["gradients"]["cosine"]["median"]));
    assert!(!quiet.contains("epoch   0"), "--json trains quietly: {quiet}");
    let (text, progress) = run(&["--settle-epochs", "1"]);
    assert!(progress.contains("epoch   0"), "the settling epochs show on stderr: {progress}");
    let g = &settled["gradients"];
    let i = &settled["initial"];
    assert!(text.contains(&format!(
        "medians at initialisation: cosine {:+.3}, g_max/g_min {:.1}; after 1 epoch of plain training (baseline): cosine {:+.3}, g_max/g_min {:.1}",
        f(&i["cosine"]["median"]), f(&i["ratio_max_min"]["median"]), f(&g["cosine"]["median"]), f(&g["ratio_max_min"]["median"])
    )), "{text}");
    assert!(text.contains("(rule inputs, after 1 epoch of plain training (baseline): median g_max/g_min"), "{text}");
    // The scratch run is gone with everything in it, and nothing anywhere was scored on the test set.
    assert!(files_under(work.path()).is_empty(), "left behind: {:?}", files_under(work.path()));
}

#[test]
fn a_recipe_prepares_the_data_as_train_would_and_an_unknown_one_is_refused() {
    let args = [&FLAGS[..], &SMALL_FLEET[..], &["--recipe", "FD001", "--settle-epochs", "0", "--json"]].concat();
    let j: serde_json::Value = serde_json::from_str(&stdout(&args)).unwrap();
    // recipes/FD001.toml: windows of 40 cycles of the 14 sensors; --batch-size 64 sits above it
    assert_eq!((j["window"].as_u64(), j["features"].as_u64()), (Some(40), Some(14)));
    assert_eq!(j["gradients"]["batch_size"], 64);
    let e = fails(&["diagnose", "--data", "synthetic", "--recipe", "FD009"]);
    assert!(e.contains("--recipe FD009: no such built-in recipe (FD001"), "{e}");
    let Some(dir) = real_dir("a_recipe_prepares_the_data_as_train_would") else { return };
    let real = ["diagnose", "--data", &dir, "--recipe", "FD001", "--batches", "1", "--threads", "1"];
    let j: serde_json::Value =
        serde_json::from_str(&stdout(&[&real[..], &["--settle-epochs", "0", "--json"]].concat())).unwrap();
    // the recipe's subset is the default subset, and its batch size applies
    assert_eq!((j["subset"].as_str(), j["window"].as_u64()), (Some("FD001"), Some(40)));
    assert_eq!(j["gradients"]["batch_size"], 256);
}
