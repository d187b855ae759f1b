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

#[test]
fn a_recipe_sits_beneath_the_flags_and_every_test_scoring_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = dir.path().join("recipe.toml");
    std::fs::write(&recipe, "# tuned somewhere\n[train]\nlr = 0.002\nweight_decay = 0.03\n[model]\nlstm_hidden = 8\n")
        .unwrap();
    let log = dir.path().join("test-log.csv");
    let run = dir.path().join("run");
    let args = [
        "train",
        "--data",
        "synthetic",
        "--set",
        "data.synthetic.n_train=10",
        "--set",
        "data.synthetic.n_test=6",
        "--epochs",
        "1",
        "--threads",
        "1",
        "--recipe",
        recipe.to_str().unwrap(),
        "--set",
        "train.lr=0.0007",
        "--out",
        run.to_str().unwrap(),
    ];
    let out = common::command(&args).env("GRACE_TEST_LOG", &log).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let config: toml::Table = std::fs::read_to_string(run.join("config.toml")).unwrap().parse().unwrap();
    assert_eq!(config["train"]["lr"].as_float(), Some(0.0007), "--set wins over the recipe");
    assert_eq!(config["train"]["weight_decay"].as_float(), Some(0.03));
    assert_eq!(config["model"]["lstm_hidden"].as_integer(), Some(8));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("time_utc,user,host,run_dir,subset,method,seed,recipe"), "{text}");
    assert!(lines[1].contains(",SYNTHETIC,grace,0,") && lines[1].contains("recipe.toml"), "{text}");
    // The run folder remembers its recipe: re-scoring it (like resuming it) logs the recipe too.
    let o = common::command(&["evaluate", run.to_str().unwrap()]).env("GRACE_TEST_LOG", &log).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&log).unwrap();
    let rescored = text.lines().nth(2).unwrap_or_default();
    assert!(rescored.contains(",SYNTHETIC,grace,0,") && rescored.contains("recipe.toml"), "{text}");
    // A start that fails after the recipe note was written leaves no folder behind.
    let other = dir.path().join("no-data-run");
    let missing = dir.path().join("no-such-data");
    let (recipe_arg, other_arg) = (recipe.to_str().unwrap(), other.to_str().unwrap());
    let e = fails(&[
        "train",
        "--data",
        missing.to_str().unwrap(),
        "--subset",
        "FD001",
        "--recipe",
        recipe_arg,
        "--out",
        other_arg,
    ]);
    assert!(e.contains("no-such-data"), "{e}");
    assert!(!other.exists(), "a failed start leaves nothing behind");
    std::fs::write(&recipe, "[data]\nsource = \"/somewhere\"\n").unwrap();
    let e = fails(&["train", "--data", "synthetic", "--recipe", recipe.to_str().unwrap()]);
    assert!(e.contains("holds data.source"), "{e}");
    // The committed recipes/FD001.toml is built in, listed first with the header that says how it was found.
    let list = stdout(&["recipes"]);
    assert!(list.starts_with("FD001\n    FD001 recipe, found by grace tune"), "{list}");
}
