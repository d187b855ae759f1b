//! End-to-end tests of `grace sweep` and `grace report` on a tiny synthetic fleet: the plan, the
//! job-array `--index`, skip/resume, failures, the mean ± std table and a report that renders.

mod common;

use common::{f, grace, json as ok_json, read_json};
use serde_json::Value;
use std::path::Path;

/// 10 training engines, 6 test engines, 2 epochs: a few seconds per run.
const TINY: &[&str] =
    &["--data", "synthetic", "--set", "data.synthetic.n_train=10", "--set", "data.synthetic.n_test=6", "--epochs", "2"];

fn sweep_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["sweep"];
    a.extend_from_slice(TINY);
    a.extend_from_slice(&["--methods", "baseline,grace", "--seeds", "2", "--out", out]);
    a.extend_from_slice(extra);
    a
}

fn actions(v: &Value) -> Vec<(String, String)> {
    v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap().to_string(), r["action"].as_str().unwrap().to_string()))
        .collect()
}

fn results(dir: &Path, name: &str) -> Value {
    read_json(&dir.join("runs").join(name).join("results.json"))
}

#[test]
fn plan_lists_subsets_times_methods_times_seeds_in_order() {
    let data = tempfile::tempdir().unwrap(); // a C-MAPSS path: the plan never reads it
    let out = tempfile::tempdir().unwrap();
    let o = grace(&[
        "sweep",
        "--data",
        data.path().to_str().unwrap(),
        "--subsets",
        "FD002,fd001",
        "--methods",
        "grace,baseline",
        "--seeds",
        "3",
        "--out",
        out.path().to_str().unwrap(),
        "--plan",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<Value> =
        String::from_utf8(o.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2 * 2 * 3);
    let mut i = 0;
    for s in ["FD002", "FD001"] {
        for m in ["grace", "baseline"] {
            for seed in 0..3u64 {
                let l = &lines[i];
                assert_eq!(
                    (
                        l["index"].as_u64().unwrap() as usize,
                        l["subset"].as_str().unwrap(),
                        l["method"].as_str().unwrap(),
                        l["seed"].as_u64().unwrap()
                    ),
                    (i, s, m, seed)
                );
                assert_eq!(l["status"], "pending");
                assert!(l["run_dir"].as_str().unwrap().ends_with(&format!("runs/{s}_{m}_seed{seed}")));
                i += 1;
            }
        }
    }
    assert!(std::fs::read_dir(out.path()).unwrap().next().is_none(), "--plan must not write anything");
    // the same flags always give the same plan; an index past its end is a clear error
    let o = grace(&[
        "sweep",
        "--data",
        data.path().to_str().unwrap(),
        "--methods",
        "grace",
        "--seeds",
        "2",
        "--out",
        out.path().to_str().unwrap(),
        "--index",
        "2",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("the plan has 2 items"));
    let o = grace(&["sweep", "--methods", "mtl", "--out", out.path().to_str().unwrap(), "--plan"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("mtl"));
}

#[test]
fn sweep_tabulates_skips_resumes_and_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let sweep = tmp.path().join("tiny");
    let s = sweep.to_str().unwrap();

    let v = ok_json(&sweep_args(s, &["--jobs", "2", "--json"]));
    let names =
        ["SYNTHETIC_baseline_seed0", "SYNTHETIC_baseline_seed1", "SYNTHETIC_grace_seed0", "SYNTHETIC_grace_seed1"];
    assert_eq!(actions(&v), names.iter().map(|n| (n.to_string(), "trained".to_string())).collect::<Vec<_>>());
    for n in names {
        assert!(sweep.join("runs").join(n).join("train.log").is_file());
    }

    // The table is the arithmetic over the runs' results.json (sample std, n − 1).
    let rows = v["table"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for (row, method) in rows.iter().zip(["baseline", "grace"]) {
        assert_eq!(
            (row["subset"].as_str().unwrap(), row["method"].as_str().unwrap(), row["n"].as_u64().unwrap()),
            ("SYNTHETIC", method, 2)
        );
        for (key, pick) in [
            ("rmse", &["test", "capped", "rmse"][..]),
            ("nasa", &["test", "capped", "nasa"]),
            ("health_accuracy", &["test", "health_accuracy"]),
            ("train_seconds", &["train_seconds"]),
        ] {
            let xs: Vec<f64> = (0..2)
                .map(|seed| {
                    pick.iter().fold(results(&sweep, &format!("SYNTHETIC_{method}_seed{seed}")), |v, k| v[*k].clone())
                })
                .map(|x| f(&x))
                .collect();
            let mean = (xs[0] + xs[1]) / 2.0;
            let std = ((xs[0] - mean).powi(2) + (xs[1] - mean).powi(2)).sqrt(); // / (2 − 1)
            assert!((f(&row[key]["mean"]) - mean).abs() <= 1e-9 * mean.abs().max(1.0), "{method} {key} mean");
            assert!((f(&row[key]["std"]) - std).abs() <= 1e-9 * std.abs().max(1.0), "{method} {key} std");
        }
        assert!(row["reference"].is_null(), "no reference numbers for the synthetic fleet");
    }
    for file in ["results.md", "results.csv", "results.json", "sweep.json"] {
        assert!(sweep.join(file).is_file(), "{file}");
    }
    let md = std::fs::read_to_string(sweep.join("results.md")).unwrap();
    assert!(
        md.contains("| SYNTHETIC | grace | 2 |") && md.contains("SYNTHETIC fleet") && md.contains("different protocol")
    );

    // Again: everything finished is skipped. Without results.json a run is interrupted: resumed.
    std::fs::remove_file(sweep.join("runs/SYNTHETIC_grace_seed1/results.json")).unwrap();
    let v = ok_json(&sweep_args(s, &["--jobs", "2", "--json"]));
    let acts: Vec<String> = actions(&v).into_iter().map(|a| a.1).collect();
    assert_eq!(acts, ["skipped", "skipped", "skipped", "resumed"]);
    assert!(sweep.join("runs/SYNTHETIC_grace_seed1/results.json").is_file());

    // --collect rebuilds the same table from the directory alone.
    let c = ok_json(&["sweep", "--collect", "--out", s, "--json"]);
    assert_eq!(c["table"]["rows"][1]["rmse"], v["table"]["rows"][1]["rmse"]);

    // --index I trains only item I of the plan.
    let arr = tmp.path().join("array");
    let a = arr.to_str().unwrap();
    let one = ok_json(&sweep_args(a, &["--index", "1", "--json"]));
    assert_eq!(one[0]["name"], "SYNTHETIC_baseline_seed1");
    assert_eq!(one[0]["action"], "trained");
    let made: Vec<_> =
        std::fs::read_dir(arr.join("runs")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(made, ["SYNTHETIC_baseline_seed1"]);
    assert_eq!(results(&arr, "SYNTHETIC_baseline_seed1")["seed"], 1);

    // A failing run is named with its log, the others continue, and the exit code says so.
    let bad = tmp.path().join("bad");
    let o = grace(&[
        "sweep",
        "--data",
        "synthetic",
        "--methods",
        "grace",
        "--seeds",
        "1",
        "--set",
        "train.lr=\"x\"",
        "--out",
        bad.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("SYNTHETIC_grace_seed0") && err.contains("FAILED") && err.contains("1 of 1 runs failed"),
        "{err}"
    );

    // The report renders: the HTML is well formed and every image it references decodes.
    let rep = tmp.path().join("report");
    let r = ok_json(&["report", s, "--out", rep.to_str().unwrap(), "--json"]);
    assert_eq!(
        (r["kind"].as_str().unwrap(), r["runs"].as_u64().unwrap(), r["synthetic"].as_bool().unwrap()),
        ("sweep", 4, true)
    );
    let pages: Vec<String> = r["pages"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect();
    assert_eq!(pages.len(), 5);
    let (mut png, mut svg) = (0, 0);
    for p in &pages {
        for file in grace_report::html::check_page(Path::new(p)).unwrap_or_else(|e| panic!("{e:#}")) {
            match file.extension().and_then(|e| e.to_str()) {
                Some("png") => png += 1,
                Some("svg") => svg += 1,
                _ => {}
            }
        }
    }
    // 4 sweep figures + 6 per run, each as PNG and SVG
    assert_eq!((png, svg), (4 + 4 * 6, 4 + 4 * 6));
    let html = std::fs::read_to_string(rep.join("index.html")).unwrap();
    assert!(
        html.contains("SYNTHETIC fleet") && html.contains("scored once") && html.contains("held-out training engines")
    );
    assert!(html.contains("pareto_synthetic.png") && html.contains("lambda_synthetic.svg"));
    let run_page = std::fs::read_to_string(rep.join("runs/SYNTHETIC_grace_seed0/index.html")).unwrap();
    for fig in ["curves", "lambda", "gradients", "pred_vs_true", "error_hist", "confusion"] {
        assert!(run_page.contains(&format!("figures/{fig}.png")), "{fig}");
    }

    // A single run directory works too.
    let one_rep = tmp.path().join("one");
    let r = ok_json(&[
        "report",
        sweep.join("runs/SYNTHETIC_grace_seed0").to_str().unwrap(),
        "--out",
        one_rep.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(r["kind"], "run");
    assert_eq!(grace_report::html::check_page(&one_rep.join("index.html")).unwrap().len(), 12);
}

#[test]
fn a_variant_is_its_own_row_trained_with_its_own_settings() {
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let mut args = vec!["sweep"];
    args.extend_from_slice(TINY);
    args.extend_from_slice(&["--methods", "amnl,amnl_floor", "--seeds", "1", "--out", o, "--json", "--threads", "1"]);
    args.extend_from_slice(&["--variant", "amnl_floor=amnl method.fixed_weights=[0.1,0.9]"]);
    let v = ok_json(&args);
    let methods: Vec<&str> =
        v["table"]["rows"].as_array().unwrap().iter().map(|r| r["method"].as_str().unwrap()).collect();
    assert_eq!(methods, ["amnl", "amnl_floor"]);
    let config = std::fs::read_to_string(out.path().join("runs/SYNTHETIC_amnl_floor_seed0/config.toml")).unwrap();
    let config: toml::Table = config.parse().unwrap();
    assert_eq!(config["method"]["name"].as_str(), Some("amnl"));
    assert_eq!(config["method"]["fixed_weights"].as_array().unwrap().len(), 2);
    assert_eq!(config["method"]["fixed_weights"][1].as_float(), Some(0.9));
    assert_eq!(results(out.path(), "SYNTHETIC_amnl_seed0")["method"], "amnl");
    // A later call may name the variant without repeating it; redefining it is refused.
    let mut again = vec!["sweep"];
    again.extend_from_slice(TINY);
    again.extend_from_slice(&["--methods", "amnl_floor", "--seeds", "1", "--out", o, "--json"]);
    assert_eq!(ok_json(&again)["runs"][0]["action"], "skipped");
    again.extend_from_slice(&["--variant", "amnl_floor=amnl method.fixed_weights=[0.5,0.5]"]);
    let e = String::from_utf8(grace(&again).stderr).unwrap();
    assert!(e.contains("variant amnl_floor"), "{e}");
}

#[test]
fn a_sweep_killed_outright_leaves_no_training_running() {
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let args = [
        "sweep",
        "--data",
        "synthetic",
        "--set",
        "data.synthetic.n_train=10",
        "--epochs",
        "500",
        "--methods",
        "baseline",
        "--seeds",
        "1",
        "--threads",
        "1",
        "--out",
        o,
    ];
    let mut sweep =
        common::command(&args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let log = out.path().join("runs/SYNTHETIC_baseline_seed0/train.log");
    let t0 = std::time::Instant::now();
    let children = loop {
        assert!(t0.elapsed().as_secs() < 60, "the sweep never started its run");
        let p = std::process::Command::new("pgrep").args(["-P", &sweep.id().to_string()]).output().unwrap();
        let pids: Vec<String> = String::from_utf8(p.stdout).unwrap().lines().map(String::from).collect();
        if log.is_file() && !pids.is_empty() {
            break pids;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    sweep.kill().unwrap(); // SIGKILL: no handler of the sweep runs
    sweep.wait().unwrap();
    let alive = |pid: &str| std::process::Command::new("kill").args(["-0", pid]).status().unwrap().success();
    let t0 = std::time::Instant::now();
    while children.iter().any(|c| alive(c)) {
        assert!(t0.elapsed().as_secs() < 20, "training {children:?} runs on after its sweep was killed");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
