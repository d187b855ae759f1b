//! `grace evaluate --runs` and `--sweep DIR --method M` through the binary: two calibrated seeds of
//! a tiny synthetic fleet combine into an ensemble in a new folder; mismatched members are refused.

mod common;
use common::{f, fails, json, ok, read_json, train_calibrated};
use grace_data::synthetic::{fleet, SyntheticConfig};
use grace_data::write_data;

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
    assert_eq!(r["intervals"]["scale"], "difficulty (mean of 2 members)");
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

    // With a sweep plan, --method picks by plan label: a variant training the same registry method
    // (here `grace_x`, a copy of seed 0) is not mixed into `grace`, and is an ensemble of one run.
    let x = runs.join("SYNTHETIC_grace_x_seed0");
    std::fs::create_dir_all(&x).unwrap();
    for e in std::fs::read_dir(&a).unwrap().map(Result::unwrap) {
        std::fs::copy(e.path(), x.join(e.file_name())).unwrap();
    }
    let plan = serde_json::json!({
        "data": "synthetic", "synthetic": true, "subsets": ["SYNTHETIC"], "methods": ["grace", "grace_x"],
        "seeds": [0, 1], "train_args": [],
        "variants": [{"name": "grace_x", "method": "grace", "sets": ["method.slope=2"]}]
    });
    std::fs::write(dir.path().join("sweep.json"), plan.to_string()).unwrap();
    let sweep = dir.path().to_str().unwrap();
    let by_plan = dir.path().join("ens3");
    let p = json(&["evaluate", "--sweep", sweep, "--method", "grace", "--out", by_plan.to_str().unwrap(), "--json"]);
    assert_eq!((p["members"].as_array().unwrap().len(), &p["ensemble"]), (2, &r["ensemble"]));
    let e =
        fails(&["evaluate", "--sweep", sweep, "--method", "grace_x", "--out", dir.path().join("y").to_str().unwrap()]);
    assert!(e.contains("1 finished run(s) of grace_x"), "{e}");
    let e = fails(&["evaluate", "--sweep", sweep, "--method", "dwa", "--out", dir.path().join("z").to_str().unwrap()]);
    assert!(e.contains("no method or variant dwa") && e.contains("grace, grace_x"), "{e}");
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

/// `grace evaluate --runs MEMBERS --cross-conformal --out OUT`.
fn cross<'a>(members: &[&'a str], out: &'a str) -> Vec<&'a str> {
    [&["evaluate", "--runs"], members, &["--cross-conformal", "--out", out]].concat()
}

/// A copy of a run's files, with `edit` applied to one of them (the refusal cases).
fn altered(from: &std::path::Path, to: &std::path::Path, file: &str, edit: (&str, &str)) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().map(Result::unwrap) {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    let text = std::fs::read_to_string(to.join(file)).unwrap();
    assert!(text.contains(edit.0), "{file} lacks {}", edit.0);
    std::fs::write(to.join(file), text.replace(edit.0, edit.1)).unwrap();
}

#[test]
fn fold_runs_pool_their_out_of_fold_residuals_and_mismatched_folds_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // 10 training engines in 3 folds (4, 3, 3); half of each fold (2 engines) calibrates
    let folds: Vec<_> = (0..3).map(|k| dir.path().join(format!("f{k}"))).collect();
    for (k, f) in folds.iter().enumerate() {
        train_calibrated(f, 0, &["data.prep.folds=3", &format!("data.prep.fold={k}")]);
    }
    let fs: Vec<&str> = folds.iter().map(|f| f.to_str().unwrap()).collect();
    let out = dir.path().join("cc");
    let new_dir = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let r = json(&[&cross(&fs, out.to_str().unwrap())[..], &["--json"]].concat());
    let cals: Vec<serde_json::Value> = folds.iter().map(|f| read_json(&f.join("calibration.json"))).collect();
    let count = |k: &str| cals.iter().map(|c| c[k].as_array().unwrap().len()).sum::<usize>();
    let iv = &r["intervals"];
    assert_eq!((iv["calibration_cuts"].as_u64(), iv["calibration_engines"].as_u64()), (Some(60), Some(6)));
    assert_eq!((count("cuts"), count("units")), (60, 6), "pooled = the sum of the members'");
    let kinds: Vec<&str> = iv["kinds"].as_array().unwrap().iter().map(|k| k["kind"].as_str().unwrap()).collect();
    // every fold run has a difficulty estimate, so the pooled calibration adds the normalised kind
    assert_eq!(kinds, ["symmetric", "normalised", "lower_bound", "asymmetric"]);
    assert_eq!(iv["scale"], "difficulty (mean of 3 members)");
    let pooled = read_json(&out.join("calibration.json"));
    let sc = &pooled["scheme"];
    assert_eq!(
        (sc["name"].as_str(), sc["folds"].as_u64(), sc["members"].as_u64()),
        (Some("cross_conformal"), Some(3), Some(3))
    );
    // each member's residuals are its own predictions on its own calibration engines
    let own: Vec<&serde_json::Value> = cals.iter().flat_map(|c| c["cuts"].as_array().unwrap()).collect();
    assert_eq!(pooled["cuts"].as_array().unwrap().iter().collect::<Vec<_>>(), own);
    // the centre is the members' mean
    let mean = (0..3).map(|m| f(&r["members"][m]["test"]["capped"]["rmse"])).sum::<f64>() / 3.0;
    assert!(f(&r["ensemble"]["capped"]["rmse"]) <= mean + 1e-9);

    // predict with the fold runs: the members' mean, bounded by the pooled calibration
    let raw = fleet(&SyntheticConfig { n_train: 10, n_test: 6, max_life: 200, ..Default::default() });
    let engines = dir.path().join("engines.txt");
    std::fs::write(&engines, write_data(&raw.test)).unwrap();
    let predict =
        |head: &[&str]| json(&[head, &["--engines", engines.to_str().unwrap(), "--device", "cpu", "--json"]].concat());
    let single: Vec<serde_json::Value> = fs.iter().map(|m| predict(&["predict", m])).collect();
    let p = predict(&[&["predict", "--runs"], &fs[..], &["--cross-conformal", "--coverage", "0.9"]].concat());
    assert!(p["header"]["note"].as_str().unwrap().starts_with("cross-conformal ensemble of 3 runs"), "{p}");
    let q90 = pooled["calibrations"][0]["levels"][1]["above"]["value"].as_f64().unwrap(); // symmetric at 0.9
    for (i, e) in p["engines"].as_array().unwrap().iter().enumerate() {
        let mean = single.iter().map(|s| f(&s["engines"][i]["rul"])).sum::<f64>() / 3.0;
        assert!((f(&e["rul"]) - mean).abs() < 1e-9, "engine {i}");
        let b = &e["intervals"][0];
        assert_eq!(f(&b["level"]), 0.9);
        assert!((f(&b["upper"]) - (mean + q90)).abs() < 1e-9, "{b} vs {mean} + {q90}");
    }
    // without --cross-conformal, fold runs are not a seed ensemble
    let e = fails(&["evaluate", "--runs", fs[0], fs[1], "--out", dir.path().join("x").to_str().unwrap()]);
    assert!(e.contains("differ in preprocessing"), "{e}");
    // the same fold twice, another fold count, another window, other data: refused, naming it
    let twin = dir.path().join("twin");
    altered(&folds[0], &twin, "results.json", ("\"seed\": 0", "\"seed\": 7"));
    let e = fails(&cross(&[fs[0], fs[1], twin.to_str().unwrap()], &new_dir("y")));
    assert!(e.contains("both trained on fold 0"), "{e}");
    let cases = [
        ("preprocessing.json", ("\"folds\": 3", "\"folds\": 4"), "config.folds"),
        ("preprocessing.json", ("\"window\": 30", "\"window\": 20"), "config.window"),
        ("preprocessing.json", ("\"feature_names\": [", "\"feature_names\": [\"extra\","), "feature_names"),
        ("results.json", ("\"subset\": \"SYNTHETIC\"", "\"subset\": \"FD002\""), "different subsets"),
    ];
    for (i, (file, edit, named)) in cases.into_iter().enumerate() {
        let odd = dir.path().join(format!("odd{i}"));
        altered(&folds[2], &odd, file, edit);
        let e = fails(&cross(&[fs[0], fs[1], odd.to_str().unwrap()], &new_dir(&format!("z{i}"))));
        assert!(e.contains(named), "{named}: {e}");
    }
    let data = read_json(&folds[2].join("data.json"));
    let fp = data["fingerprint"].as_str().unwrap();
    let odd = dir.path().join("odd_data");
    altered(&folds[2], &odd, "data.json", (fp, "0000"));
    let e = fails(&cross(&[fs[0], odd.to_str().unwrap()], &new_dir("zz")));
    assert!(e.contains("different data (data fingerprint 0000"), "{e}");
    // runs not trained on folds are not cross-conformal members
    let (n0, n1) = (dir.path().join("n0"), dir.path().join("n1"));
    altered(&folds[0], &n0, "preprocessing.json", ("\"folds\": 3", "\"folds\": 0"));
    altered(&folds[1], &n1, "preprocessing.json", ("\"folds\": 3", "\"folds\": 0"));
    let e = fails(&cross(&[n0.to_str().unwrap(), n1.to_str().unwrap()], &new_dir("zs")));
    assert!(e.contains("was not trained on a fold (data.prep.folds is 0)"), "{e}");
}
