//! Hostile-but-fair use of the `grace` binary on tiny synthetic runs: runs tied to their data by
//! absolute path and fingerprint, damaged weights, starts that fail, two writers, signals, and
//! trainings killed at random points that must still end exactly like an uninterrupted one.

use grace_data::synthetic::{fleet, SyntheticConfig};
use grace_data::{write_data, write_rul};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{command, grace_in, read_json};

/// A fleet of 10 short engines, on one CPU thread.
const TINY: &[&str] = &[
    "--set",
    "data.synthetic.n_train=10",
    "--set",
    "data.synthetic.n_test=6",
    "--set",
    "data.synthetic.max_life=200",
    "--set",
    "train.batch_size=128",
    "--threads",
    "1",
    "--device",
    "cpu",
];

fn ok_in(cwd: &Path, args: &[&str]) -> Output {
    let out = grace_in(cwd, args);
    assert!(out.status.success(), "grace {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn fails_in(cwd: &Path, args: &[&str]) -> String {
    let out = grace_in(cwd, args);
    assert!(!out.status.success(), "grace {args:?} should have failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn with_tiny<'a>(args: &[&'a str]) -> Vec<&'a str> {
    [args, TINY].concat()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every file of a folder (not the lock) with its bytes, to show a command changed nothing.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.ends_with(".lock"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect()
}

/// A synthetic fleet written as NASA's FD001 files, so it is read from disk like C-MAPSS.
fn write_fd001(dir: &Path, seed: u64) {
    let raw =
        fleet(&SyntheticConfig { n_train: 10, n_test: 6, max_life: 200, n_conditions: 1, seed, ..Default::default() });
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("train_FD001.txt"), write_data(&raw.train)).unwrap();
    std::fs::write(dir.join("test_FD001.txt"), write_data(&raw.test)).unwrap();
    std::fs::write(dir.join("RUL_FD001.txt"), write_rul(&raw.test_rul)).unwrap();
}

#[test]
fn runs_keep_their_data_by_absolute_path_and_fingerprint() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    write_fd001(&a.join("data"), 1);
    // Another data set under the same relative name, as in another project folder.
    write_fd001(&b.join("data"), 2);
    ok_in(&a, &with_tiny(&["train", "--data", "data", "--epochs", "1", "--out", "run", "--json"]));
    let run = a.join("run");
    let cfg: toml::Table = std::fs::read_to_string(run.join("config.toml")).unwrap().parse().unwrap();
    let source = cfg["data"]["source"].as_str().unwrap();
    assert_eq!(Path::new(source), std::fs::canonicalize(a.join("data")).unwrap(), "stored absolute");
    let record = read_json(&run.join("data.json"));
    let fingerprint = record["fingerprint"].as_str().unwrap().to_string();
    assert_eq!(record["files"].as_array().unwrap().len(), 3);

    // From another folder the run still reads its own data and scores the same.
    let before = snapshot(&run);
    let v: serde_json::Value =
        serde_json::from_slice(&ok_in(&b, &["evaluate", "../a/run", "--device", "cpu", "--json"]).stdout).unwrap();
    assert_eq!(v["protocol"]["data_fingerprint"], fingerprint.as_str());
    assert_eq!(snapshot(&run), before, "re-scoring the same data rewrites the same predictions");

    // Changed data under the run's path: refused, naming both fingerprints, nothing replaced.
    std::fs::copy(b.join("data/test_FD001.txt"), a.join("data/test_FD001.txt")).unwrap();
    let e = fails_in(&a, &["evaluate", "run", "--device", "cpu"]);
    assert!(e.contains(&fingerprint) && e.contains("test_FD001.txt") && e.contains("--data PATH --out DIR"), "{e}");
    let now = e.split("has fingerprint ").nth(1).and_then(|t| t.split(',').next()).unwrap_or("");
    assert!(now.len() == 64 && now != fingerprint, "the new fingerprint is named too: {e}");
    assert_eq!(snapshot(&run), before);

    // Scoring other data is explicit and writes elsewhere; a run directory is refused as --out.
    let e = fails_in(&a, &["evaluate", "run", "--data", "../b/data", "--out", "run", "--device", "cpu"]);
    assert!(e.contains("is a run directory"), "{e}");
    ok_in(&a, &["evaluate", "run", "--data", "../b/data", "--out", "on_b", "--device", "cpu", "--json"]);
    let other = read_json(&a.join("on_b/results.json"));
    assert_eq!(other["protocol"]["data_fingerprint"], read_json(&a.join("on_b/data.json"))["fingerprint"]);
    assert_ne!(other["protocol"]["data_fingerprint"], fingerprint.as_str());
    assert!(a.join("on_b/predictions.csv").is_file());
    assert_eq!(snapshot(&run), before, "the run's own outputs are untouched");
}

/// Overwrites every F32 tensor of a safetensors file whose name passes `pick` with `value`.
fn poison(path: &Path, pick: impl Fn(&str) -> bool, mut value: impl FnMut() -> [u8; 4]) {
    let mut bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let mut hit = 0;
    for e in header.iter().filter(|(k, e)| pick(k) && e["dtype"] == "F32").map(|(_, e)| e) {
        let (lo, hi) =
            (e["data_offsets"][0].as_u64().unwrap() as usize, e["data_offsets"][1].as_u64().unwrap() as usize);
        for chunk in bytes[8 + n + lo..8 + n + hi].chunks_mut(4) {
            chunk.copy_from_slice(&value());
        }
        hit += 1;
    }
    assert!(hit > 0, "nothing poisoned in {}", path.display());
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn weights_that_are_not_numbers_fail_naming_the_file_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok_in(dir, &with_tiny(&["train", "--data", "synthetic", "--epochs", "1", "--out", "done", "--json"]));
    let done = dir.join("done");
    // Same size, junk bytes (a seeded xorshift): some are NaN or infinite patterns.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    poison(
        &done.join("best.safetensors"),
        |_| true,
        || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x as u32).to_le_bytes()
        },
    );
    let before = snapshot(&done);
    let e = fails_in(dir, &["evaluate", "done", "--device", "cpu"]);
    assert!(e.contains(&Path::new("done").join("best.safetensors").display().to_string()), "{e}");
    assert_eq!(snapshot(&done), before, "no output replaced");

    // A checkpoint whose averaged weights are NaN would resume, never select again and report an
    // earlier epoch: it is refused, naming the checkpoint.
    ok_in(dir, &with_tiny(&["train", "--data", "synthetic", "--epochs", "3", "--stop-at-epoch", "1", "--out", "nan"]));
    let nan = dir.join("nan");
    poison(&nan.join("checkpoint.safetensors"), |k| k.starts_with("ema."), || f32::NAN.to_le_bytes());
    let before = snapshot(&nan);
    let e = fails_in(dir, &["train", "--resume", "nan"]);
    assert!(e.contains("checkpoint.safetensors") && e.contains("NaN"), "{e}");
    assert_eq!(snapshot(&nan), before);

    // Divergence in the first epoch: the message names no checkpoint, since none exists yet.
    let e = fails_in(
        dir,
        &with_tiny(&["train", "--data", "synthetic", "--epochs", "2", "--set", "train.lr=1e30", "--out", "diverged"]),
    );
    assert!(e.contains("diverged") && !e.contains("checkpoint.safetensors"), "{e}");
    assert!(!dir.join("diverged/checkpoint.safetensors").exists());
}

#[test]
fn a_start_that_fails_leaves_nothing_and_resume_refuses_run_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let empty = dir.join("no_files");
    std::fs::create_dir(&empty).unwrap();
    let bad: [&[&str]; 5] = [
        &["--data", "synthetic", "--epochs", "0"],
        &["--data", "synthetic", "--device", "cuda:99"],
        &["--data", "synthetic", "--set", "data.prep.window=500"],
        &["--data", s(&empty), "--subset", "FD009"],
        &["--data", s(&empty)],
    ];
    for flags in bad {
        let mut args = vec!["train", "--out", "out", "--epochs", "1"];
        args.extend_from_slice(flags);
        // TINY's own --device would clash with the bad one
        args.extend(TINY.chunks(2).filter(|pair| !flags.contains(&pair[0])).flatten());
        let e = fails_in(dir, &args);
        assert!(!dir.join("out").exists(), "{flags:?} left a folder behind ({e})");
    }

    // --resume: runtime flags apply, flags that would change the run are refused by name.
    ok_in(dir, &with_tiny(&["train", "--data", "synthetic", "--epochs", "2", "--stop-at-epoch", "1", "--out", "r"]));
    let cfg_before = std::fs::read(dir.join("r/config.toml")).unwrap();
    let e = fails_in(dir, &["train", "--resume", "r", "--epochs", "5", "--method", "amnl"]);
    assert!(e.contains("--epochs") && e.contains("--method") && e.contains("would change the run"), "{e}");
    let out = ok_in(dir, &["train", "--resume", "r", "--threads", "2", "--device", "cpu", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["epochs_run"].as_u64(), v["versions"]["threads"].as_i64()), (Some(2), Some(2)));
    assert_eq!(std::fs::read(dir.join("r/config.toml")).unwrap(), cfg_before, "the run's settings stay");
}

/// The pid a running `grace train` wrote into its run's lock file.
fn lock_holder(dir: &Path, within: Duration) -> Option<u32> {
    let t0 = Instant::now();
    while t0.elapsed() < within {
        let text = std::fs::read_to_string(dir.join(".lock")).unwrap_or_default();
        if let Some(pid) = text.split_whitespace().next().and_then(|p| p.parse().ok()) {
            if dir.join("config.toml").is_file() {
                return Some(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn wait_gone(pid: u32, within: Duration) -> bool {
    let t0 = Instant::now();
    while alive(pid) && t0.elapsed() < within {
        std::thread::sleep(Duration::from_millis(50));
    }
    !alive(pid)
}

fn signal(pid: u32, sig: &str) {
    Command::new("kill").args([sig, &pid.to_string()]).status().unwrap();
}

#[test]
fn one_writer_per_run_and_a_stopped_sweep_stops_its_children() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let long = with_tiny(&["train", "--data", "synthetic", "--epochs", "500", "--out", "busy", "--json"]);
    let mut writer = command(&long).current_dir(dir).stderr(Stdio::null()).spawn().unwrap();
    let pid = lock_holder(&dir.join("busy"), Duration::from_secs(30)).expect("the training took its lock");
    assert_eq!(pid, writer.id());
    let e = fails_in(dir, &["train", "--resume", "busy"]);
    assert!(e.contains(&format!("process {pid}")) && e.contains("is in use"), "{e}");
    // Killed while writing, it leaves its pid behind: reported as stale, and the run is taken over.
    writer.kill().unwrap();
    writer.wait().unwrap();
    let out = ok_in(dir, &["train", "--resume", "busy", "--stop-at-epoch", "0"]);
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("stale lock") && e.contains(&format!("process {pid}")), "{e}");

    // SIGTERM to a sweep stops the training it started.
    let sweep_args = with_tiny(&[
        "sweep",
        "--data",
        "synthetic",
        "--methods",
        "grace",
        "--seeds",
        "1",
        "--epochs",
        "500",
        "--out",
        "sw",
    ]);
    let mut parent = command(&sweep_args).current_dir(dir).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let child =
        lock_holder(&dir.join("sw/runs/SYNTHETIC_grace_seed0"), Duration::from_secs(30)).expect("child started");
    signal(parent.id(), "-TERM");
    let status = parent.wait().unwrap();
    let stopped = wait_gone(child, Duration::from_secs(15));
    if !stopped {
        signal(child, "-KILL");
    }
    assert!(stopped, "grace train {child} still runs after its sweep got SIGTERM");
    assert!(!status.success());
}

/// Trains `dir` (new or resumed) with a fault planned; whether the process was killed by it.
fn train_with_fault(cwd: &Path, args: &[&str], fault: Option<String>) -> bool {
    let mut cmd = command(args);
    cmd.current_dir(cwd).stdout(Stdio::null()).stderr(Stdio::piped());
    if let Some(f) = &fault {
        cmd.env("GRACE_FAULT", f);
    }
    let out = cmd.output().unwrap();
    use std::os::unix::process::ExitStatusExt;
    match out.status.signal() {
        Some(9) => true,
        _ => {
            assert!(out.status.success(), "{args:?} {fault:?}: {}", String::from_utf8_lossy(&out.stderr));
            false
        }
    }
}

/// results.json without the wall-clock figure, which no two runs share.
fn results_without_time(dir: &Path) -> serde_json::Value {
    let mut v = read_json(&dir.join("results.json"));
    v.as_object_mut().unwrap().remove("train_seconds");
    v
}

#[test]
fn trainings_killed_at_random_points_resume_to_the_uninterrupted_result() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let new = |out: &'static str| {
        with_tiny(&["train", "--data", "synthetic", "--method", "gaba", "--epochs", "3", "--out", out])
    };
    ok_in(dir, &new("straight"));

    // Seeded choices of where to die: mid-epoch (after step n), while best.safetensors or the
    // checkpoint is half-way (written, not yet renamed), or between epochs.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut draw = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut kills = Vec::new();
    let mut args: Vec<&str> = new("faulty");
    let resume = ["train", "--resume", "faulty"];
    for _ in 0..6 {
        let point = ["step", "best", "checkpoint", "epoch"][draw(4) as usize];
        // The first such point of the process: every attempt dies until the training has ended.
        let n = if point == "step" { 1 + draw(6) } else { 1 };
        let fault = format!("{point}:{n}");
        let killed = train_with_fault(dir, &args, Some(fault.clone()));
        eprintln!("{fault}: killed {killed}");
        if killed {
            kills.push(fault);
        }
        args = resume.to_vec();
        if !killed {
            break; // the plan's point came after the run's end: it finished
        }
    }
    assert!(kills.len() >= 3, "too few kills to test anything: {kills:?}");
    if !dir.join("faulty/results.json").is_file() {
        assert!(!train_with_fault(dir, &resume, None));
    }
    let (a, b) = (dir.join("straight"), dir.join("faulty"));
    assert_eq!(
        std::fs::read(a.join("best.safetensors")).unwrap(),
        std::fs::read(b.join("best.safetensors")).unwrap(),
        "after kills at {kills:?}"
    );
    assert_eq!(results_without_time(&a), results_without_time(&b), "after kills at {kills:?}");
    assert_eq!(std::fs::read(a.join("gradient_log.csv")).unwrap(), std::fs::read(b.join("gradient_log.csv")).unwrap());
    let leftovers: Vec<String> = std::fs::read_dir(&b)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporaries of killed writes are cleared on resume: {leftovers:?}");
}
