//! End-to-end training on a small synthetic fleet: logs and files of a run, honest evaluation,
//! and exact resume after an interruption.

use grace_nn::config::RunConfig;
use grace_nn::train::{self, Options};
use std::path::Path;

// libtorch's default generator is process-wide: runs in parallel test threads would draw each
// other's dropout masks, so the tests that train take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn tiny(method: &str, epochs: usize) -> RunConfig {
    let sets: Vec<String> = [
        format!("method.name=\"{method}\""),
        format!("train.epochs={epochs}"),
        "train.batch_size=128".into(),
        "train.threads=1".into(),
        "train.device=\"cpu\"".into(),
        "train.warmup_epochs=1".into(),
        "method.warmup_steps=5".into(),
        "data.synthetic.n_train=10".into(),
        "data.synthetic.n_test=6".into(),
        "data.synthetic.max_life=200".into(),
    ]
    .into();
    RunConfig::resolve("small", None, &sets).unwrap()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn grace_run_writes_every_artifact_and_evaluate_reproduces_results() {
    let _turn = serial();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let res = train::run(Some(tiny("grace", 2)), &run, false, Options { quiet: true, ..Default::default() }).unwrap();
    for f in [
        "config.toml",
        "gradient_log.csv",
        "epochs.csv",
        "best.safetensors",
        "checkpoint.safetensors",
        "preprocessing.json",
        "results.json",
        "predictions.csv",
    ] {
        assert!(run.join(f).exists(), "{f} missing");
    }
    assert!(res.synthetic);
    assert_eq!(res.epochs_run, 2);
    assert_eq!(res.test.engines, 6);
    assert!(res.test.capped.rmse.is_finite() && res.test.capped.rmse > 0.0);

    // One gradient-log row per step, with both norms measured, λ summing to 1 and the RUL gradient
    // dominating at initialisation (the premise of GABA).
    let log = read(&run.join("gradient_log.csv"));
    let rows: Vec<Vec<&str>> = log.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len() as u64, res.steps);
    for r in &rows {
        let (lr, lh): (f64, f64) = (r[14].parse().unwrap(), r[15].parse().unwrap());
        assert!((lr + lh - 1.0).abs() < 1e-12);
        let (gr, gh): (f64, f64) = (r[4].parse().unwrap(), r[5].parse().unwrap());
        assert!(gr > 0.0 && gh > 0.0);
    }
    let first_ratio: f64 = rows[0][6].parse().unwrap();
    assert!(first_ratio > 10.0, "initial g_rul/g_health = {first_ratio}");
    // warm-up holds λ at 1/2 for the first 5 steps, then GABA moves weight to the health task
    assert_eq!(rows[0][14], "0.5");
    let last_lambda_health: f64 = rows.last().unwrap()[15].parse().unwrap();
    assert!(last_lambda_health > 0.5, "λ_health after warm-up: {last_lambda_health}");

    let again = train::evaluate_run(&run, None).unwrap();
    assert_eq!(serde_json::to_value(&again.test).unwrap(), serde_json::to_value(&res.test).unwrap());

    // A second new run into the same folder is refused rather than mixed in.
    let err =
        train::run(Some(tiny("grace", 2)), &run, false, Options { quiet: true, ..Default::default() }).unwrap_err();
    assert!(err.to_string().contains("--resume"), "{err}");
}

#[test]
fn interrupted_run_resumes_to_the_same_weights_and_metrics() {
    let _turn = serial();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("straight"), dir.path().join("interrupted"));
    let quiet = Options { quiet: true, ..Default::default() };
    let full = train::run(Some(tiny("gaba", 3)), &a, false, quiet).unwrap();
    let stop = Options { quiet: true, stop_after_epochs: Some(1), ..Default::default() };
    assert!(train::run(Some(tiny("gaba", 3)), &b, false, stop).is_err(), "a stopped run is not finished");
    // Simulate steps logged after the checkpoint by a run killed mid-epoch.
    let mut log = read(&b.join("gradient_log.csv"));
    log.push_str("1,999,0,0,0,0,0,0,0,0,0,0,0,0,0.5,0.5,0,0,0\n");
    std::fs::write(b.join("gradient_log.csv"), log).unwrap();
    let resumed = train::run(None, &b, true, quiet).unwrap();

    assert_eq!(serde_json::to_value(&resumed.test).unwrap(), serde_json::to_value(&full.test).unwrap());
    assert_eq!(resumed.steps, full.steps);
    assert_eq!(std::fs::read(a.join("best.safetensors")).unwrap(), std::fs::read(b.join("best.safetensors")).unwrap());
    assert_eq!(read(&a.join("gradient_log.csv")), read(&b.join("gradient_log.csv")));
}

#[test]
fn search_levers_take_effect_and_resume_exactly() {
    let _turn = serial();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("straight"), dir.path().join("interrupted"));
    let levers = ["train.schedule=cosine", "train.epoch_fraction=0.5", "train.input_jitter=0.1", "train.truncate=0.5"];
    let split = ["data.prep.folds=3", "data.prep.fold=1"];
    let sets: Vec<String> = levers.iter().chain(&split).map(|s| s.to_string()).collect();
    let cfg = RunConfig::resolve("small", Some(&tiny("baseline", 3).to_toml()), &sets).unwrap();
    let quiet = Options { quiet: true, ..Default::default() };
    let full = train::run(Some(cfg.clone()), &a, false, quiet).unwrap();
    let stop = Options { quiet: true, stop_after_epochs: Some(1), ..Default::default() };
    assert!(train::run(Some(cfg.clone()), &b, false, stop).is_err());
    let resumed = train::run(None, &b, true, quiet).unwrap();
    assert_eq!(std::fs::read(a.join("best.safetensors")).unwrap(), std::fs::read(b.join("best.safetensors")).unwrap());
    assert_eq!(serde_json::to_value(&resumed.test).unwrap(), serde_json::to_value(&full.test).unwrap());
    // half the windows per epoch, half of those test-like cuts: ⌈⌈n/2⌉/128⌉ steps each
    let data = train::load_data(&cfg).unwrap();
    assert_eq!(data.val_units.len(), 3, "fold 1 of 10 engines in 3 folds");
    let per_epoch = data.train.n_windows().div_ceil(2).div_ceil(128) as u64;
    assert_eq!(full.steps, 3 * per_epoch);
    // cosine over 3 epochs, 1 of warm-up: 0.1 × lr, lr, then min_lr at the last epoch
    let log = read(&a.join(train::EPOCH_LOG));
    let header: Vec<&str> = log.lines().next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "lr").unwrap();
    let lrs: Vec<f64> = log.lines().skip(1).map(|l| l.split(',').nth(col).unwrap().parse().unwrap()).collect();
    let want = [1e-4, 1e-3, 5e-6];
    assert!(lrs.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-12), "{lrs:?}");
}

#[test]
fn fixed_weight_methods_keep_their_weights_and_single_ignores_health() {
    let _turn = serial();
    let dir = tempfile::tempdir().unwrap();
    for (method, lr, lh) in [("amnl", 0.5, 0.5), ("single", 1.0, 0.0)] {
        let run = dir.path().join(method);
        let res =
            train::run(Some(tiny(method, 1)), &run, false, Options { quiet: true, ..Default::default() }).unwrap();
        assert!(res.test.capped.rmse.is_finite());
        let log = read(&run.join("gradient_log.csv"));
        for l in log.lines().skip(1) {
            let c: Vec<&str> = l.split(',').collect();
            assert_eq!((c[14].parse::<f64>().unwrap(), c[15].parse::<f64>().unwrap()), (lr, lh), "{method}");
        }
    }
}

/// The values of one column of a run's `epochs.csv`.
fn epoch_column(run: &Path, name: &str) -> Vec<f64> {
    let log = read(&run.join(train::EPOCH_LOG));
    let col = log.lines().next().unwrap().split(',').position(|h| h == name).unwrap();
    log.lines().skip(1).map(|l| l.split(',').nth(col).unwrap().parse().unwrap()).collect()
}

#[test]
fn selection_on_test_like_cuts_picks_the_best_cut_epoch() {
    let _turn = serial();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let sets = ["train.select=cuts", "train.select_cuts=3", "train.truncate=0.5"].map(String::from);
    let cfg = RunConfig::resolve("small", Some(&tiny("baseline", 4).to_toml()), &sets).unwrap();
    let res = train::run(Some(cfg.clone()), &run, false, Options { quiet: true, ..Default::default() }).unwrap();
    // three distinct cuts of every (long) validation engine, fixed by the seed
    let data = train::load_data(&cfg).unwrap();
    let cuts = grace_nn::evaluate::cut_windows(&data.val, cfg.train.seed, 3);
    assert_eq!(cuts.len(), 3 * data.val_units.len());
    assert_eq!(cuts, grace_nn::evaluate::cut_windows(&data.val, cfg.train.seed, 3));
    let cut = epoch_column(&run, "val_cut_rmse");
    assert_eq!(cut.len(), 4);
    let best = (0..cut.len()).min_by(|&a, &b| cut[a].total_cmp(&cut[b])).unwrap();
    let v = &res.validation;
    assert_eq!((v.best_epoch, v.best_val_rmse), (best, cut[best]), "selected on {cut:?}");
    // the results' cut figure is the selected weights' score on the same cuts
    assert!((v.cut.rmse - cut[best]).abs() < 1e-9 * cut[best], "{} against {}", v.cut.rmse, cut[best]);
    assert_eq!(
        res.protocol.selection_metric,
        "validation RMSE over 3 seeded test-like cuts per held-out training engine (averaged weights)"
    );
}
