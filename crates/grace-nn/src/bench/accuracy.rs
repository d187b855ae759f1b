//! Time to accuracy against the PyTorch reference: the data a run trains and selects on, exported
//! for `bench/reference/train_ref.py`, grace's own run under a wall-clock budget, and both curves.

use crate::config::{RunConfig, Select, TrainParams};
use crate::model::ModelConfig;
use crate::setup::seeded_model;
use crate::train::{self, rul_weighting, Options, Paused};
use anyhow::{anyhow, bail};
use grace_core::rundir::EpochRow;
use grace_data::{Prepared, Split, WindowRef};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::Tensor;

/// The arrays the reference trains and validates on (safetensors), in the output folder.
pub const DATA_FILE: &str = "accuracy_data.safetensors";
/// The reference's settings (JSON), in the output folder.
pub const SPEC_FILE: &str = "accuracy_reference.json";
/// The methods the reference implements: fixed task weights or GABA, plain or weighted MSE.
pub const METHODS: [&str; 5] = ["baseline", "amnl", "single", "gaba", "grace"];

/// The method's loss as the reference computes it (docs/reference.md §4.1, §4.3).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LossSpec {
    pub name: String,
    /// Whether `train_weight` (the weighted MSE's per-window weights) multiplies the squared errors.
    pub weighted: bool,
    pub slope: f64,
    pub max_rul: f64,
    /// Fixed task weights (RUL, health); the starting weights under GABA.
    pub weights: Vec<f64>,
    /// GABA's settings (docs/reference.md §4.2) for `gaba` and `grace`; fixed weights otherwise.
    pub gaba: Option<GabaSpec>,
}

/// GABA's hyper-parameters, `method.beta`, `method.floor`, `method.warmup_steps`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GabaSpec {
    pub beta: f64,
    pub floor: f64,
    pub warmup_steps: u64,
}

/// The training protocol as the reference follows it (docs/reference.md §5): the run's own
/// training settings, plus the learning rate of every epoch as grace's schedule gives it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainSpec {
    #[serde(flatten)]
    pub params: TrainParams,
    /// grace's learning rate of each epoch before any plateau halving (`TrainParams::lr_at`).
    pub lr_by_epoch: Vec<f64>,
}

/// Everything `train_ref.py` reads besides the arrays.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReferenceSpec {
    pub subset: String,
    pub model: ModelConfig,
    pub method: LossSpec,
    pub train: TrainSpec,
}

/// The reference's settings for `cfg`; refuses what the reference does not implement, so both
/// sides always train the same recipe.
pub fn reference_spec(cfg: &RunConfig) -> anyhow::Result<ReferenceSpec> {
    let t = &cfg.train;
    if !METHODS.contains(&cfg.method.name.as_str()) {
        bail!("the reference implements the methods {} only, not `{}`", METHODS.join(", "), cfg.method.name);
    }
    if t.truncate > 0.0 {
        bail!("train.truncate = {}: the reference trains on full windows only (set it to 0)", t.truncate);
    }
    if t.select != Select::Windows {
        bail!("train.select = \"cuts\": the reference selects on all validation windows (use \"windows\")");
    }
    let weights = cfg.method.controller().map_err(|e| anyhow!(e))?.current_weights();
    let method = LossSpec {
        name: cfg.method.name.clone(),
        weighted: rul_weighting(cfg)?.is_some(),
        slope: cfg.method.slope(),
        max_rul: cfg.data.prep.max_rul,
        weights,
        gaba: gaba_spec(cfg),
    };
    Ok(ReferenceSpec {
        subset: cfg.data.subset.clone(),
        model: cfg.model.config.clone(),
        method,
        train: train_spec(cfg),
    })
}

fn gaba_spec(cfg: &RunConfig) -> Option<GabaSpec> {
    use grace_core::controller::gaba::{BETA, FLOOR, WARMUP_STEPS};
    let p = &cfg.method.params;
    matches!(cfg.method.name.as_str(), "gaba" | "grace").then(|| GabaSpec {
        beta: p.float(&BETA),
        floor: p.float(&FLOOR),
        warmup_steps: p.int(&WARMUP_STEPS),
    })
}

fn train_spec(cfg: &RunConfig) -> TrainSpec {
    let t = &cfg.train;
    TrainSpec { params: t.clone(), lr_by_epoch: (0..t.epochs).map(|e| t.lr_at(e, 1.0)).collect() }
}

/// Windows (n × window × features) and their targets, gathered as the trainer gathers a batch.
fn gathered(split: &Split, refs: &[WindowRef]) -> (Tensor, Vec<f32>, Vec<i64>) {
    let (mut x, mut rul, mut health) = (Vec::new(), Vec::new(), Vec::new());
    split.gather(refs, &mut x, &mut rul, &mut health);
    let x = Tensor::from_slice(&x).view([refs.len() as i64, split.window as i64, split.n_features as i64]);
    (x, rul, health)
}

/// The named arrays of [`DATA_FILE`]: every training window the trainer draws its batches from
/// (`train_x`, `train_rul`, `train_health`, and `train_weight` when the loss is weighted), every
/// window of the selection engines with its capped truth (`val_x`, `val_rul`), and the model's
/// seeded initial variables under `init.`, so both sides start from the same weights.
pub fn arrays(cfg: &RunConfig, data: &Prepared) -> anyhow::Result<Vec<(String, Tensor)>> {
    if cfg.model.config.n_features != data.n_features() as i64 {
        bail!("the model expects {} features, the data have {}", cfg.model.config.n_features, data.n_features());
    }
    let (train_x, rul, health) = gathered(&data.train, &data.train.windows());
    let mut out = vec![
        ("train_x".to_string(), train_x),
        ("train_rul".to_string(), Tensor::from_slice(&rul)),
        ("train_health".to_string(), Tensor::from_slice(&health)),
    ];
    if let Some(w) = rul_weighting(cfg)? {
        let ws: Vec<f32> = rul.iter().map(|&y| w.weight(y as f64) as f32).collect();
        out.push(("train_weight".to_string(), Tensor::from_slice(&ws)));
    }
    let (val_x, val_rul, _) = gathered(&data.val, &data.val.windows());
    out.push(("val_x".to_string(), val_x));
    out.push(("val_rul".to_string(), Tensor::from_slice(&val_rul)));
    let (_, vs, _) = seeded_model(cfg)?;
    let mut init: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    init.sort_by(|a, b| a.0.cmp(&b.0));
    out.extend(
        init.into_iter().map(|(n, t)| (format!("init.{n}"), t.detach().to_device(tch::Device::Cpu).contiguous())),
    );
    Ok(out)
}

/// What [`export`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Export {
    pub data_file: PathBuf,
    pub spec_file: PathBuf,
    pub train_windows: usize,
    pub val_windows: usize,
    pub window: usize,
    pub n_features: usize,
}

/// Writes [`DATA_FILE`] and [`SPEC_FILE`] into `dir` (which must exist).
pub fn export(cfg: &RunConfig, data: &Prepared, dir: &Path) -> anyhow::Result<Export> {
    let spec = reference_spec(cfg)?;
    let data_file = dir.join(DATA_FILE);
    let spec_file = dir.join(SPEC_FILE);
    let named = arrays(cfg, data)?;
    Tensor::write_safetensors(&named, &data_file).map_err(|e| anyhow!("writing {}: {e}", data_file.display()))?;
    grace_core::io::write_json_atomic(&spec_file, &spec)?;
    Ok(Export {
        data_file,
        spec_file,
        train_windows: data.train.n_windows(),
        val_windows: data.val.n_windows(),
        window: data.train.window,
        n_features: data.n_features(),
    })
}

/// One epoch of either side: when it ended (seconds of training and validation since the first
/// epoch began), and the averaged weights' validation RMSE over all windows of the selection engines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochPoint {
    pub epoch: usize,
    pub elapsed_s: f64,
    /// This epoch's own seconds (training and validation).
    pub seconds: f64,
    pub val_rmse: f64,
    /// Mean over the epoch's steps of the weighted sum of the task losses.
    pub train_loss: f64,
}

/// One side's epochs in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Curve {
    pub epochs: Vec<EpochPoint>,
}

/// The best validation RMSE among the epochs a side had finished by some time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Reached {
    pub best_val_rmse: Option<f64>,
    pub epochs: usize,
}

impl Curve {
    /// grace's curve from its epoch log: elapsed time is the running sum of the per-epoch
    /// `seconds` (training and validation; the checkpoint written after each is not counted).
    pub fn from_epoch_log(rows: &[EpochRow]) -> Curve {
        let mut elapsed = 0.0;
        let epochs = rows
            .iter()
            .map(|r| {
                elapsed += r.seconds;
                let loss = r.lambda_rul * r.train_loss_rul + r.lambda_health * r.train_loss_health;
                EpochPoint {
                    epoch: r.epoch,
                    elapsed_s: elapsed,
                    seconds: r.seconds,
                    val_rmse: r.val_rmse,
                    train_loss: loss,
                }
            })
            .collect();
        Curve { epochs }
    }

    /// [`Curve::from_epoch_log`] of the run in `dir`.
    pub fn read_epoch_log(dir: &Path) -> anyhow::Result<Curve> {
        Ok(Curve::from_epoch_log(&crate::logs::read_epoch_log(dir)?))
    }

    /// The best RMSE among the epochs that had ended by `t` seconds, and their number.
    pub fn at(&self, t: f64) -> Reached {
        let done: Vec<&EpochPoint> = self.epochs.iter().filter(|p| p.elapsed_s <= t).collect();
        let best = done.iter().map(|p| p.val_rmse).filter(|v| v.is_finite()).min_by(f64::total_cmp);
        Reached { best_val_rmse: best, epochs: done.len() }
    }

    /// When an epoch first scored `target` or better, within `budget` seconds.
    pub fn time_to(&self, target: f64, budget: f64) -> Option<f64> {
        self.epochs.iter().find(|p| p.val_rmse <= target && p.elapsed_s <= budget).map(|p| p.elapsed_s)
    }

    /// The median seconds of an epoch.
    pub fn seconds_per_epoch(&self) -> Option<f64> {
        let s: Vec<f64> = self.epochs.iter().map(|p| p.seconds).collect();
        super::Spread::of(&s).map(|s| s.median)
    }
}

/// The times the comparison is read at: every minute and the budget's end, or quarters of a
/// budget under two minutes.
pub fn marks(budget_s: f64) -> Vec<f64> {
    if budget_s < 120.0 {
        return (1..=4).map(|q| budget_s * q as f64 / 4.0).collect();
    }
    let mut m: Vec<f64> = (1..).map(|k| 60.0 * k as f64).take_while(|&t| t < budget_s - 1e-9).collect();
    m.push(budget_s);
    m
}

/// The accuracy both sides reached within the budget (the worse of their two bests), the level a
/// time-to-accuracy is read at.
pub fn common_target(a: &Curve, b: &Curve, budget_s: f64) -> Option<f64> {
    Some(a.at(budget_s).best_val_rmse?.max(b.at(budget_s).best_val_rmse?))
}

/// Trains `cfg` in the new run directory `dir` with the real trainer until `budget_s` seconds have
/// passed (no epoch starts after that) or the run ends, never scoring the test set; its curve.
pub fn run_grace(cfg: RunConfig, dir: &Path, budget_s: f64) -> anyhow::Result<Curve> {
    let epochs = cfg.train.epochs;
    let opts = Options { quiet: true, max_seconds: Some(budget_s), stop_at_epoch: Some(epochs), ..Default::default() };
    match train::run(Some(cfg), dir, false, opts) {
        Ok(_) => {}
        Err(e) if e.downcast_ref::<Paused>().is_some() => {}
        Err(e) => return Err(e),
    }
    Curve::read_epoch_log(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::load_data;
    use crate::train::{BatchBuffers, Trainer};
    use tch::Kind;

    fn tiny(method: &str) -> RunConfig {
        let sets: Vec<String> = [
            "data.synthetic.n_train=6",
            "data.synthetic.n_test=2",
            "train.device=\"cpu\"",
            "train.input_jitter=0.0",
            &format!("method.name=\"{method}\""),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        RunConfig::resolve("small", None, &sets).unwrap()
    }

    fn named<'a>(a: &'a [(String, Tensor)], name: &str) -> &'a Tensor {
        &a.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name}")).1
    }

    #[test]
    fn exported_windows_are_the_trainers_batches_and_the_validation_windows() {
        let cfg = tiny("amnl");
        let data = load_data(&cfg).unwrap();
        let a = arrays(&cfg, &data).unwrap();
        let (n, w, f) = (data.train.n_windows() as i64, data.train.window as i64, data.n_features() as i64);
        assert_eq!(named(&a, "train_x").size(), [n, w, f]);
        assert_eq!(named(&a, "val_x").size(), [data.val.n_windows() as i64, w, f]);
        let dir = tempfile::tempdir().unwrap();
        let tr = Trainer::new(cfg, dir.path(), data.clone()).unwrap();
        // a batch of windows from the middle of the list, as the trainer assembles it
        let windows = data.train.windows();
        let (lo, k) = (windows.len() / 2, 7);
        let batch = tr.batch(&windows[lo..lo + k], &mut BatchBuffers::default());
        let rows = |name: &str| named(&a, name).narrow(0, lo as i64, k as i64);
        assert!(rows("train_x").equal(&batch.x));
        assert!(rows("train_rul").equal(&batch.rul));
        assert!(rows("train_health").equal(&batch.health));
        assert!(rows("train_weight").equal(batch.sample_weights.as_ref().unwrap()));
        // weighted MSE weights 1 + (1 − y/125) clipped: one value by hand
        let (y, wt) = (rows("train_rul").double_value(&[0]), rows("train_weight").double_value(&[0]));
        assert!((wt - (1.0 + (1.0 - y / 125.0).clamp(0.0, 1.0))).abs() < 1e-6, "{y} {wt}");
        let p = crate::evaluate::predict(&tr.model, &data.val, &data.val.windows(), 1024, tch::Device::Cpu);
        let truth: Vec<f32> = Vec::try_from(named(&a, "val_rul")).unwrap();
        assert_eq!(truth.iter().map(|&v| v as f64).collect::<Vec<_>>(), p.truth_rul);
        assert!(truth.iter().all(|&v| (0.0..=125.0).contains(&v)), "capped truth");
        // the same initial weights as the trainer's model
        let live = tr.vs.variables();
        let init = named(&a, "init.rul_head.3.bias");
        assert!(init.equal(&live["rul_head.3.bias"]) && init.double_value(&[0]) == 1.0);
        assert_eq!(named(&a, "init.cnn.conv0.weight").kind(), Kind::Float);
    }

    #[test]
    fn the_reference_spec_names_the_loss_weights_and_gaba_settings() {
        let cfg = tiny("baseline");
        let a = arrays(&cfg, &load_data(&cfg).unwrap()).unwrap();
        assert!(a.iter().all(|(n, _)| n != "train_weight"));
        let spec = reference_spec(&cfg).unwrap();
        assert_eq!((spec.method.weighted, spec.method.weights.clone()), (false, vec![0.5, 0.5]));
        assert_eq!(spec.method.gaba, None);
        assert_eq!(spec.train.lr_by_epoch.len(), cfg.train.epochs);
        assert_eq!(spec.train.lr_by_epoch[0], cfg.train.lr_at(0, 1.0));
        let g = reference_spec(&tiny("grace")).unwrap().method;
        assert_eq!(g.gaba, Some(GabaSpec { beta: 0.99, floor: 0.05, warmup_steps: 100 }));
        assert!(g.weighted);
        let e = reference_spec(&tiny("pcgrad")).unwrap_err().to_string();
        assert!(e.contains("baseline, amnl, single, gaba, grace") && e.contains("`pcgrad`"), "{e}");
    }

    fn curve(points: &[(f64, f64)]) -> Curve {
        let mut prev = 0.0;
        let epochs = points
            .iter()
            .enumerate()
            .map(|(i, &(t, v))| {
                let p = EpochPoint { epoch: i, elapsed_s: t, seconds: t - prev, val_rmse: v, train_loss: 1.0 };
                prev = t;
                p
            })
            .collect();
        Curve { epochs }
    }

    #[test]
    fn a_curve_reports_the_best_score_of_the_epochs_ended_by_each_time() {
        let c = curve(&[(10.0, 40.0), (20.0, 30.0), (30.0, 35.0), (41.0, 20.0)]);
        assert_eq!(c.at(5.0), Reached { best_val_rmse: None, epochs: 0 });
        assert_eq!(c.at(30.0), Reached { best_val_rmse: Some(30.0), epochs: 3 });
        assert_eq!(c.at(41.0), Reached { best_val_rmse: Some(20.0), epochs: 4 });
        assert_eq!(c.time_to(32.0, 40.0), Some(20.0));
        assert_eq!(c.time_to(20.0, 40.0), None, "reached only after the budget");
        assert_eq!(c.seconds_per_epoch(), Some(10.0), "median of 10, 10, 10, 11");
        let other = curve(&[(15.0, 25.0)]);
        assert_eq!(common_target(&c, &other, 40.0), Some(30.0), "the worse of 30 and 25");
    }

    #[test]
    fn grace_curves_come_from_the_epoch_log_seconds() {
        let row = |epoch, seconds, val_rmse| EpochRow {
            epoch,
            seconds,
            val_rmse,
            lambda_rul: 0.5,
            lambda_health: 0.5,
            train_loss_rul: 100.0,
            train_loss_health: 1.0,
            ..Default::default()
        };
        let c = Curve::from_epoch_log(&[row(0, 2.5, 50.0), row(1, 3.0, 40.0)]);
        let elapsed: Vec<f64> = c.epochs.iter().map(|p| p.elapsed_s).collect();
        assert_eq!(elapsed, [2.5, 5.5]);
        assert_eq!(c.epochs[1].train_loss, 50.5);
    }

    #[test]
    fn marks_are_minutes_and_the_end_or_quarters_of_a_short_budget() {
        assert_eq!(marks(300.0), [60.0, 120.0, 180.0, 240.0, 300.0]);
        assert_eq!(marks(150.0), [60.0, 120.0, 150.0]);
        assert_eq!(marks(4.0), [1.0, 2.0, 3.0, 4.0]);
    }
}
