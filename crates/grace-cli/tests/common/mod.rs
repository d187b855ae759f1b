//! Helpers shared by the CLI test files: run the built `grace` binary and read what it printed.
//! Each file includes this with `mod common;` and uses the part it needs.
#![allow(dead_code)]

use std::process::{Command, Output, Stdio};

/// The built binary, as `grace` with its environment as the tests run.
pub fn command(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_grace"));
    c.args(args);
    c
}

/// `grace` run from another working directory (for relative paths).
pub fn grace_in(cwd: &std::path::Path, args: &[&str]) -> Output {
    command(args).current_dir(cwd).output().expect("the grace binary runs")
}

pub fn grace(args: &[&str]) -> Output {
    command(args).output().expect("the grace binary runs")
}

/// `grace` with GRACE_CMAPSS_DIR removed, so a default data source is the synthetic fleet.
pub fn grace_synthetic(args: &[&str]) -> Output {
    command(args).env_remove("GRACE_CMAPSS_DIR").output().expect("the grace binary runs")
}

/// Asserts the command succeeded, showing its stderr otherwise.
pub fn succeeded(args: &[&str], out: Output) -> Output {
    assert!(out.status.success(), "grace {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

pub fn ok(args: &[&str]) -> Output {
    succeeded(args, grace(args))
}

/// Stdout of a command that must succeed.
pub fn stdout(args: &[&str]) -> String {
    String::from_utf8(ok(args).stdout).expect("stdout is UTF-8")
}

/// Stdout of a command that must succeed, parsed as JSON.
pub fn json(args: &[&str]) -> serde_json::Value {
    let out = ok(args);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout of {args:?} is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// Stderr of a command that must fail.
pub fn fails(args: &[&str]) -> String {
    let out = grace(args);
    assert!(!out.status.success(), "grace {args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs a command whose stdout is a pipe nobody reads (`grace … | head` after head has quit):
/// the read end is closed before grace writes anything.
pub fn into_closed_pipe(args: &[&str]) -> Output {
    let mut child = command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("the grace binary runs");
    drop(child.stdout.take());
    child.wait_with_output().expect("grace ends")
}

/// A JSON file the test expects to exist, parsed.
pub fn read_json(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

pub fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"))
}

pub fn u(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("{v} is not an unsigned integer"))
}

/// $GRACE_CMAPSS_DIR, or `None` with a note that `test` was skipped.
pub fn real_dir(test: &str) -> Option<String> {
    let d = std::env::var("GRACE_CMAPSS_DIR").ok().filter(|d| !d.is_empty());
    if d.is_none() {
        eprintln!("note: {test} skipped — set GRACE_CMAPSS_DIR to the folder with NASA's C-MAPSS files");
    }
    d
}

/// Trains a one-epoch run on a tiny synthetic fleet (10 training engines, 40% held out, half of
/// those calibrating intervals) into `run`, with `extra` `--set` pairs.
pub fn train_calibrated(run: &std::path::Path, seed: u64, extra: &[&str]) {
    let seed = seed.to_string();
    let mut args = vec!["train", "--data", "synthetic", "--epochs", "1", "--seed", &seed, "--threads", "1"];
    args.extend(["--device", "cpu"]);
    let sets = ["data.synthetic.n_train=10", "data.synthetic.n_test=6", "data.synthetic.max_life=200"];
    let calibrated = ["data.prep.val_fraction=0.4", "data.prep.calibration=0.5"];
    for set in sets.iter().chain(&calibrated).chain(extra) {
        args.extend(["--set", set]);
    }
    args.extend(["--out", run.to_str().unwrap(), "--json"]);
    ok(&args);
}
