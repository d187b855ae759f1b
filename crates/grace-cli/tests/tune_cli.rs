//! End-to-end tests of `grace tune` on a tiny synthetic fleet and model: the record and best.toml,
//! resume after a kill, the job-array plan/index/collect, and the settings it refuses.

mod common;

use common::{command, fails, json, read_json, stdout};
use serde_json::Value;
use std::path::Path;

/// 10 training engines and a model of a few thousand weights: about half a second per epoch.
const TINY: &[&str] = &[
    "--data",
    "synthetic",
    "--set",
    "data.synthetic.n_train=10",
    "--set",
    "data.synthetic.n_test=6",
    "--set",
    "model.conv_channels=[8,16,8]",
    "--set",
    "model.funnel=[16,8]",
    "--method",
    "baseline",
    "--trials",
    "3",
    "--min-epochs",
    "1",
    "--max-epochs",
    "2",
    "--threads",
    "1",
];

const SPACE: &str =
    "[train]\nlr = { low = 1e-4, high = 1e-2, scale = \"log\" }\n[model]\nlstm_hidden = { choices = [4, 8] }\n";

fn tune_args<'a>(space: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["tune", "--space", space, "--out", out];
    a.extend_from_slice(TINY);
    a.extend_from_slice(extra);
    a
}

/// (trial, status, score at each rung) from trials.csv.
fn scores(dir: &Path) -> Vec<(String, String, String, String)> {
    let text = std::fs::read_to_string(dir.join("trials.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (c[0].into(), c[1].into(), c[6].into(), c[7].into())
        })
        .collect()
}

fn space_file(dir: &Path) -> String {
    let p = dir.join("space.toml");
    std::fs::write(&p, SPACE).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn a_tiny_tune_prunes_writes_its_record_and_resumes_after_a_kill() {
    let tmp = tempfile::tempdir().unwrap();
    let space = space_file(tmp.path());
    let whole = tmp.path().join("whole");
    let w = whole.to_str().unwrap();
    stdout(&tune_args(&space, w, &[]));

    // Rungs 1 and 2 epochs, η = 3: three trials start, the best one (⌊3/3⌋) goes on.
    let rows = scores(&whole);
    assert_eq!(rows.len(), 3);
    let rung0: Vec<f64> = rows.iter().map(|r| r.2.parse().unwrap()).collect();
    let best0 = (0..3).min_by(|&a, &b| rung0[a].total_cmp(&rung0[b])).unwrap();
    for (t, r) in rows.iter().enumerate() {
        assert_eq!(r.1, if t == best0 { "complete" } else { "pruned" }, "trial {t}");
        assert_eq!(r.3.is_empty(), t != best0, "only the promoted trial has a rung-2 score");
    }
    let record = read_json(&whole.join("trials.json"));
    assert_eq!(record["best"]["trial"], best0);
    assert!(record["test_set"].as_str().unwrap().starts_with("never read by tune"));
    for t in 0..3 {
        let dir = whole.join(format!("trials/trial_{t:04}"));
        assert!(dir.join("epochs.csv").is_file());
        assert!(!dir.join("results.json").exists(), "no trial is scored on the test set");
    }

    // best.toml leaves data source and method to the command line, and grace train accepts it.
    let best = whole.join("best.toml");
    let t: toml::Table = std::fs::read_to_string(&best).unwrap().parse().unwrap();
    assert!(t["data"].get("source").is_none() && t["method"].get("name").is_none());
    assert_eq!(t["train"]["epochs"].as_integer(), Some(2));
    assert_eq!(t["train"]["lr"], record["best"]["params"]["train.lr"].as_f64().map(toml::Value::Float).unwrap());
    let run = tmp.path().join("from_best");
    let p = json(&[
        "train",
        "--config",
        best.to_str().unwrap(),
        "--data",
        "synthetic",
        "--method",
        "baseline",
        "--stop-at-epoch",
        "1",
        "--out",
        run.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(
        (p["status"].as_str(), p["epochs_run"].as_u64(), p["ended"].as_bool()),
        (Some("paused"), Some(1), Some(false))
    );

    // The same command, killed while the promoted trial continues, then run again: same record.
    let killed = tmp.path().join("killed");
    let k = killed.to_str().unwrap();
    kill_once_continuing(&tune_args(&space, k, &[]), &killed);
    stdout(&tune_args(&space, k, &[]));
    assert_eq!(scores(&killed), rows);

    // SIGTERM to the tune alone stops its trainings, which stay open (not failed) and resume.
    let stopped = tmp.path().join("stopped");
    let st = stopped.to_str().unwrap();
    terminate_once_training(&tune_args(&space, st, &[]), &stopped);
    let failed: Vec<_> =
        (0..3).filter(|t| stopped.join(format!("trials/trial_{t:04}/tune_failure.json")).exists()).collect();
    assert!(failed.is_empty(), "trials {failed:?} were marked failed by the stop");
    stdout(&tune_args(&space, st, &[]));
    assert_eq!(scores(&stopped), rows);
    // Nothing trained twice: each rung-0 job ran once.
    for t in 0..3 {
        let log = std::fs::read_to_string(killed.join(format!("trials/trial_{t:04}/train.log"))).unwrap();
        assert_eq!(log.matches("--stop-at-epoch 1 ==").count(), 1, "trial {t}");
    }
}

/// Starts the tune in its own process group and kills the group (tune and trainer) as soon as a
/// promoted trial has started to continue.
fn kill_once_continuing(args: &[&str], out: &Path) {
    use std::os::unix::process::CommandExt;
    let mut child = command(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let continuing = || {
        (0..3).any(|t| {
            std::fs::read_to_string(out.join(format!("trials/trial_{t:04}/train.log")))
                .is_ok_and(|l| l.contains("== grace tune: grace train --resume"))
        })
    };
    let t0 = std::time::Instant::now();
    while !continuing() {
        assert!(t0.elapsed().as_secs() < 60, "the tune never promoted a trial");
        assert!(child.try_wait().unwrap().is_none(), "the tune ended before it could be killed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let group = format!("-{}", child.id());
    assert!(std::process::Command::new("kill").args(["-9", "--", &group]).status().unwrap().success());
    child.wait().unwrap();
}

/// Starts the tune and sends SIGTERM to it alone as soon as its first training has started.
fn terminate_once_training(args: &[&str], out: &Path) {
    let child = command(args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let t0 = std::time::Instant::now();
    while !out.join("trials/trial_0000/train.log").is_file() {
        assert!(t0.elapsed().as_secs() < 60, "the tune never started a trial");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let o = child.wait_with_output().unwrap();
    assert!(!o.status.success(), "a stopped tune says so by its exit status");
    // Its progress lines call the stopped trainings stopped, not failed.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("stopped: grace tune received SIGTERM") && !err.contains("FAILED"), "{err}");
}

#[test]
fn a_job_array_runs_rung_by_rung_and_collects() {
    let tmp = tempfile::tempdir().unwrap();
    let space = space_file(tmp.path());
    let out = tmp.path().join("array");
    let o = out.to_str().unwrap();
    let plan = |dir: &str| -> Vec<Value> {
        stdout(&tune_args(&space, dir, &["--plan"])).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    // Rounds of 3 and ⌊3/3⌋ = 1 trials: items 0–2 are rung 0, item 3 waits for their decision.
    let p = plan(o);
    assert_eq!(p.len(), 4);
    assert!(!out.exists(), "--plan writes nothing");
    assert_eq!(
        (p[3]["rung"].as_u64(), p[3]["epochs"].as_u64(), p[3]["status"].as_str()),
        (Some(1), Some(2), Some("waiting"))
    );
    assert!(p[3]["trial"].is_null());
    let e = fails(&tune_args(&space, o, &["--index", "3"]));
    assert!(e.contains("rung 0") && e.contains("[0, 1, 2]"), "{e}");
    for i in ["0", "1", "2"] {
        stdout(&tune_args(&space, o, &["--index", i]));
    }
    let p = plan(o);
    let promoted = p[3]["trial"].as_u64().unwrap() as usize;
    assert_eq!(p[3]["status"], "open");
    let decision = read_json(&out.join("rungs/rung_0.json"));
    let by_score = decision["scores"]
        .as_array()
        .unwrap()
        .iter()
        .min_by(|a, b| a[1].as_f64().unwrap().total_cmp(&b[1].as_f64().unwrap()))
        .unwrap()[0]
        .as_u64();
    assert_eq!(by_score, Some(promoted as u64));
    stdout(&tune_args(&space, o, &["--index", "3"]));
    let record = json(&["tune", "--collect", "--out", o, "--json"]);
    assert_eq!(record["finished"], true);
    assert_eq!(record["best"]["trial"], promoted);
    assert_eq!(record["trials"][promoted]["status"], "complete");
    assert!(out.join("best.toml").is_file() && out.join("trials.csv").is_file());
    // Another search on the same directory is refused by name.
    let e = fails(&tune_args(&space, o, &["--index", "0", "--seed", "5"]));
    assert!(e.contains("seed: 5 here, 0 there"), "{e}");
}

#[test]
fn settings_that_would_change_the_yardstick_or_that_the_tune_owns_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let space = space_file(tmp.path());
    let out = tmp.path().join("t");
    let o = out.to_str().unwrap();
    assert!(fails(&tune_args(&space, o, &["--set", "data.prep.max_rul=130"])).contains("capped at 125"));
    assert!(fails(&tune_args(&space, o, &["--set", "train.epochs=5"])).contains("rungs"));
    assert!(fails(&tune_args(&space, o, &["--set", "model.lstm_hidden=8"])).contains("also in the search space"));
    assert!(fails(&tune_args(&space, o, &["--plan", "--scheduler", "asha"])).contains("--scheduler sh"));
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "[train]\nlearning_rate = { low = 0.1, high = 1.0 }\n").unwrap();
    assert!(fails(&tune_args(bad.to_str().unwrap(), o, &[])).contains("learning_rate"));
    std::fs::write(&bad, "[data.prep]\nmax_rul = { choices = [125, 150] }\n").unwrap();
    assert!(fails(&tune_args(bad.to_str().unwrap(), o, &[])).contains("max_rul cannot be searched"));
    assert!(!out.exists(), "nothing is trained or written before the settings are checked");
}

#[test]
fn a_fold_averaged_tune_scores_each_trial_by_the_mean_of_its_folds() {
    let tmp = tempfile::tempdir().unwrap();
    let space = space_file(tmp.path());
    let out = tmp.path().join("folds");
    let o = out.to_str().unwrap();
    let extra = ["--folds", "2", "--scheduler", "sh", "--json"];
    let j = json(&tune_args(&space, o, &extra));
    for trial in j["trials"].as_array().unwrap() {
        let folds: Vec<f64> = trial["fold_scores"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(folds.len(), 2, "{trial}");
        let mean = (folds[0] + folds[1]) / 2.0;
        assert!((trial["score"].as_f64().unwrap() - mean).abs() < 1e-12, "{trial}");
        let spread = (folds[0] - folds[1]).abs() / 2f64.sqrt();
        assert!((trial["spread"].as_f64().unwrap() - spread).abs() < 1e-9, "{trial}");
        // Each fold validates on its own half of the engines, by its recorded configuration.
        for k in 0..2 {
            let dir = out.join(format!("trials/trial_{:04}/fold_{k}", trial["trial"].as_u64().unwrap()));
            let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
            assert!(config.contains("folds = 2") && config.contains(&format!("fold = {k}")), "{config}");
        }
    }
    assert_eq!(j["folds"], 2);
    let best = std::fs::read_to_string(out.join("best.toml")).unwrap();
    assert!(best.contains("mean over 2 folds") && !best.contains("folds = 2"), "{best}");
    let e = fails(&tune_args(&space, o, &["--folds", "2", "--set", "data.prep.fold=1"]));
    assert!(e.contains("sets data.prep.fold"), "{e}");
    assert!(fails(&tune_args(&space, o, &["--folds", "1"])).contains("K ≥ 2"));
}
