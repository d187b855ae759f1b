//! End-to-end tests of how `grace train` reads its settings: flags whose meaning could surprise are
//! refused with the reason, and a config value of the wrong type names its key.

mod common;
use common::{fails, stdout};

#[test]
fn max_steps_zero_is_refused_not_read_as_no_limit() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = run.to_str().unwrap();
    let tiny = ["--data", "synthetic", "--set", "data.synthetic.n_train=10", "--epochs", "1", "--out", out];
    let e = fails(&[&["train", "--max-steps", "0"][..], &tiny].concat());
    assert!(e.contains("--max-steps") && e.contains("leave --max-steps out to train without a step limit"), "{e}");
    assert!(!run.exists(), "a refused start leaves nothing behind");
    let help = stdout(&["train", "--help"]);
    assert!(help.contains("leave out for no step limit"), "{help}");
}

#[test]
fn a_set_value_of_the_wrong_type_names_its_key() {
    let e = fails(&["train", "--data", "synthetic", "--set", "train.batch_size=big"]);
    assert!(e.contains("train.batch_size") && e.contains("\"big\""), "{e}");
    let e = fails(&["train", "--data", "synthetic", "--set", "data.prep.window=2.5"]);
    assert!(e.contains("data.prep.window") && e.contains("2.5"), "{e}");
}
