//! The diagnosis's two measurements on a small synthetic fleet: of the initialised model, and after a
//! short plain training by the real trainer in a scratch folder that does not outlive it.

use grace_core::rules::CostShape;
use grace_nn::config::RunConfig;
use grace_nn::diagnose::{diagnose, measure_gradients, Settling};
use grace_nn::train::load_data;

// libtorch's default generator is process-wide: measurements in parallel test threads would draw
// each other's dropout masks, so the tests take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn tiny() -> RunConfig {
    let sets: Vec<String> = [
        "train.batch_size=64",
        "train.threads=1",
        "train.device=\"cpu\"",
        "data.synthetic.n_train=10",
        "data.synthetic.n_test=6",
        "data.synthetic.max_life=200",
    ]
    .map(String::from)
    .into();
    RunConfig::resolve("small", None, &sets).unwrap()
}

fn quiet(epochs: usize) -> Settling {
    Settling { epochs, quiet: true }
}

/// Scratch folders this process left in the temporary directory.
fn scratch_left() -> Vec<std::path::PathBuf> {
    let prefix = format!("grace-diagnose-{}-", std::process::id());
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

#[test]
fn without_settling_the_rule_reads_the_initialised_model() {
    let _turn = serial();
    let cfg = tiny();
    let d = diagnose(&cfg, 3, CostShape::Rmse, quiet(0)).unwrap();
    let direct = measure_gradients(&cfg, &load_data(&cfg).unwrap(), 3).unwrap();
    assert_eq!(d.gradients, direct);
    assert_eq!((d.settle_epochs, d.initial.as_ref(), d.notes.len()), (0, None, 0));
    assert_eq!((d.rule_cosine, d.rule_ratio), (direct.cosine.median, direct.ratio_max_min.median));
    assert_eq!((d.window, d.features), (cfg.data.prep.window, 17));
}

#[test]
fn settling_measures_the_trained_weights_and_keeps_the_initial_measurement() {
    let _turn = serial();
    let cfg = tiny();
    let at_start = diagnose(&cfg, 3, CostShape::Rmse, quiet(0)).unwrap();
    let d = diagnose(&cfg, 3, CostShape::Rmse, quiet(1)).unwrap();
    assert_eq!(d.settle_epochs, 1);
    assert_eq!(d.initial.as_ref(), Some(&at_start.gradients), "same seed, batches and masks");
    // The same batches and masks on trained weights: every batch's losses and gradients moved.
    for (after, before) in d.gradients.per_batch.iter().zip(&at_start.gradients.per_batch) {
        assert!(after.loss_rul < before.loss_rul, "one epoch of training lowers the RUL loss");
        assert_ne!(after.cosine, before.cosine);
    }
    assert_eq!(d.rule_cosine, d.gradients.cosine.median);
    assert!(d.notes.is_empty(), "{:?}", d.notes);
    assert!(scratch_left().is_empty(), "scratch run folders left: {:?}", scratch_left());
}

#[test]
fn a_run_config_shorter_than_the_settling_says_so_and_an_error_removes_the_scratch_folder() {
    let _turn = serial();
    let mut cfg = tiny();
    cfg.train.epochs = 1;
    let d = diagnose(&cfg, 2, CostShape::Nasa, quiet(3)).unwrap();
    assert_eq!(d.settle_epochs, 1);
    assert_eq!(d.notes, ["settled for 1 epoch instead of 3: the run config trains only 1 epoch (train.epochs)"]);
    // A trainer that refuses the config (no validation engines to select by) fails the settling.
    cfg.data.prep.val_fraction = 0.0;
    let e = diagnose(&cfg, 2, CostShape::Nasa, quiet(1)).unwrap_err();
    assert!(format!("{e:#}").contains("settling the model"), "{e:#}");
    assert!(scratch_left().is_empty(), "scratch run folders left: {:?}", scratch_left());
}
