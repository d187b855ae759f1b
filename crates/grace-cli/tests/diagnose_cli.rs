//! End-to-end tests of `grace diagnose`: on the synthetic fleet always, and on NASA's FD002 when
//! GRACE_CMAPSS_DIR is set; the text and the JSON must agree on every number.

mod common;
use common::{f, grace, stdout};

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
    let args =
        ["diagnose", "--data", "synthetic", "--batches", "3", "--batch-size", "64", "--threads", "1", "--cost", "rmse"];
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
    // symmetric cost + a dominant gradient + non-negative cosine → gaba
    if f(&j["rule_cosine"]) >= 0.0 {
        assert_eq!(j["recommendation"]["method"], "gaba");
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
    let args = ["diagnose", "--data", &dir, "--subset", "FD002", "--batches", "5", "--threads", "1"];
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
