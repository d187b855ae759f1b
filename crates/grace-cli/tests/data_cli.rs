//! End-to-end tests of `grace data …`: run the built binary on the synthetic fleet and, when
//! GRACE_CMAPSS_DIR is set, on NASA's files, and check the printed values.

mod common;
use common::{grace_synthetic, json, real_dir, u};

#[test]
fn summary_without_data_uses_the_synthetic_fleet_and_says_so() {
    let out = grace_synthetic(&["data", "summary", "--subset", "FD002", "--json"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SYNTHETIC data"));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["name"].as_str(), v["synthetic"].as_bool()), (Some("SYNTHETIC"), Some(true)));
    // Default fleet: 80 training engines → 16 held out (20%), 40 test engines, 17 features.
    assert_eq!((u(&v["train"]["engines"]), u(&v["val"]["engines"]), u(&v["test"]["engines"])), (64, 16, 40));
    assert_eq!(u(&v["n_features"]), 17);
    let regimes = [
        [0.0, 0.0, 100.0],
        [10.0, 0.25, 100.0],
        [20.0, 0.7, 100.0],
        [25.0, 0.62, 60.0],
        [35.0, 0.84, 100.0],
        [42.0, 0.84, 100.0],
    ];
    let conds = v["conditions"].as_array().unwrap();
    assert_eq!(conds.len(), 6);
    for (c, r) in conds.iter().zip(regimes) {
        let got = [c["altitude_kft"].as_f64().unwrap(), c["mach"].as_f64().unwrap(), c["tra"].as_f64().unwrap()];
        assert!(got.iter().zip(r).all(|(g, w)| (g - w).abs() < 0.01), "{got:?} vs {r:?}");
    }
    // Every run-to-failure engine ends in 31 critical windows.
    assert_eq!(u(&v["train"]["health_windows"][2]) + u(&v["val"]["health_windows"][2]), 80 * 31);

    let human = grace_synthetic(&["data", "summary", "--subset", "1"]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.starts_with("SYNTHETIC — SYNTHETIC data (not C-MAPSS)"), "{text}");
    assert!(text.contains("split  engines") && text.lines().filter(|l| l.starts_with("0 ")).count() == 1, "{text}");
}

#[test]
fn summary_reads_data_synthetic_as_train_does() {
    // `--data synthetic` is the fleet `grace train --data synthetic` trains on: 80 training
    // engines in 6 regimes, the same fleet the stand-in for FD002 flies.
    let explicit = grace_synthetic(&["data", "summary", "--data", "synthetic", "--json"]);
    assert!(explicit.status.success(), "{}", String::from_utf8_lossy(&explicit.stderr));
    let v: serde_json::Value = serde_json::from_slice(&explicit.stdout).unwrap();
    assert_eq!((v["name"].as_str(), v["synthetic"].as_bool()), (Some("SYNTHETIC"), Some(true)));
    assert_eq!((u(&v["train"]["engines"]), u(&v["val"]["engines"]), u(&v["test"]["engines"])), (64, 16, 40));
    assert_eq!(v["conditions"].as_array().unwrap().len(), 6);
    let stand_in = grace_synthetic(&["data", "summary", "--subset", "FD002", "--json"]);
    assert_eq!(explicit.stdout, stand_in.stdout);
    // chosen explicitly, so no note about a missing data source
    assert!(explicit.stderr.is_empty(), "{}", String::from_utf8_lossy(&explicit.stderr));
}

#[test]
fn summary_json_on_real_fd001_matches_hand_counts() {
    let Some(dir) = real_dir("summary_json_on_real_fd001_matches_hand_counts") else { return };
    let v = json(&["data", "summary", "--data", &dir, "--subset", "fd001", "--json"]);
    assert_eq!((v["name"].as_str(), v["synthetic"].as_bool()), (Some("FD001"), Some(false)));
    assert_eq!((u(&v["source_train_rows"]), u(&v["source_test_rows"])), (20631, 13096));
    assert_eq!((u(&v["train"]["engines"]), u(&v["val"]["engines"]), u(&v["test"]["engines"])), (80, 20, 100));
    assert_eq!(u(&v["train"]["windows"]) + u(&v["val"]["windows"]), 20631 - 100 * 29);
    assert_eq!(u(&v["test"]["windows"]), 13096 - 100 * 29);
    let h: Vec<u64> = (0..3).map(|i| u(&v["train"]["health_windows"][i]) + u(&v["val"]["health_windows"][i])).collect();
    assert_eq!(h, [9631, 5000, 3100]);
    assert_eq!(u(&v["test"]["shortest_engine"]["cycles"]), 31);

    let v = json(&["data", "summary", "--data", &dir, "--subset", "FD002", "--features", "14", "--json"]);
    assert_eq!(u(&v["n_features"]), 14);
    assert_eq!(v["feature_names"][0].as_str(), Some("s2_T24"));
    assert_eq!(v["conditions"].as_array().unwrap().len(), 6);
    assert_eq!(u(&v["source_train_engines"]), 260);
}

#[test]
fn bad_arguments_fail_with_a_reason() {
    let out = grace_synthetic(&["data", "summary", "--subset", "FD009"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown subset `FD009`"));
    let out = grace_synthetic(&["data", "summary", "--features", "15"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--features 15 must be 17 or 14"));
    let out = grace_synthetic(&["data", "bench"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("set GRACE_CMAPSS_DIR"));
}

#[test]
fn fetch_offline_tells_the_user_to_download_by_hand() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/CMAPSSData.zip");
    let out = grace_synthetic(&["data", "fetch", "--url", &url, "--dest", tmp.path().join("d").to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("could not reach {url}")) && err.contains("--data path/to/CMAPSSData.zip"), "{err}");
}

#[test]
fn bench_reports_window_counts_on_real_data() {
    let Some(dir) = real_dir("bench_reports_window_counts_on_real_data") else { return };
    let v = json(&["data", "bench", "--data", &dir, "--repeats", "1", "--no-reference", "--json"]);
    assert_eq!(u(&v["grace"]["windows"]["FD001"]["train"]), 17731);
    assert_eq!(u(&v["grace"]["windows"]["FD004"]["test_engines"]), 248);
    assert!(v["reference"]["skipped"].as_str().unwrap().contains("--no-reference"));
    assert!(v["grace"]["median_s"].as_f64().unwrap() > 0.0);
}
