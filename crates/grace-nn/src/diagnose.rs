//! docs/reference.md §7 before training: per-task gradient norms and their cosine on the shared parameters after
//! a short plain training (and of the seeded initial model), the dataset's complexity, and the method rules.
//!
//! Decided: the rule reads the gradients after `--settle-epochs` epochs (default 5) of plain training
//! (`baseline`: MSE + CE at fixed 0.5/0.5), because at initialisation the cosine is near 0 and its sign
//! changes with the seed, while during training it settles within a few epochs (docs/reference.md §7).
//! The settling run is a real run of the trainer in a scratch folder, stopped before any test scoring.
//!
//! Decided: gradients are measured in *train* mode (dropout on, batch norm on batch statistics),
//! because that is exactly what the trainer and its controller see; the dropout masks are seeded, so
//! the numbers are reproducible. The RUL loss is plain MSE (the task as GABA balances it; the weighted
//! MSE would scale it by w ∈ [1, 2]). Batches are drawn without replacement from the seeded shuffled
//! training windows, as the first epoch would.

use crate::checkpoint::restore_vars;
use crate::config::{MethodConfig, RunConfig};
use crate::model::{trainable, DualTaskModel, Group};
use crate::step::{task_losses, Batch, Params};
use crate::train::{self, load_raw, seeded_model, Options, Paused, CHECKPOINT_FILE};
use anyhow::{bail, Context};
use grace_core::rules::{recommend, CostShape, Recommendation};
use grace_data::inference::{infer_conditions, infer_fault_modes, near_failure};
pub use grace_data::inference::{
    FaultModes, NearFailure, Quartiles, CONDITION_INERTIA_SHARE, FAULT_MODE_MAX_COSINE, LIFE_EDGE_CYCLES,
    MAX_CONDITIONS,
};
use grace_data::{prepare, Prepared, RawSubset, Split, WindowRef};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// One measured batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchMeasure {
    pub loss_rul: f64,
    pub loss_health: f64,
    pub g_rul: f64,
    pub g_health: f64,
    /// g_rul / g_health.
    pub ratio_rul_health: f64,
    /// g_max / g_min, the quantity of the docs/reference.md §7 rule.
    pub ratio_max_min: f64,
    pub cosine: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gradients {
    pub mode: String,
    pub rul_loss: String,
    pub batches: usize,
    pub batch_size: usize,
    pub shared_parameters: i64,
    pub g_rul: Quartiles,
    pub g_health: Quartiles,
    pub ratio_rul_health: Quartiles,
    pub ratio_max_min: Quartiles,
    pub cosine: Quartiles,
    pub per_batch: Vec<BatchMeasure>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Complexity {
    /// Operating conditions inferred from the settings.
    pub conditions: usize,
    /// Within-cluster share of the settings' variance for k = 1..=MAX_CONDITIONS.
    pub condition_inertia_share: Vec<f64>,
    pub conditions_how: String,
    /// Fault modes inferred from the engines' degradation directions.
    pub fault_modes: usize,
    /// Largest pairwise cosine between cluster mean directions for k = 2 and 3.
    pub fault_mode_max_cosine: Vec<f64>,
    /// Engines per inferred fault mode.
    pub fault_mode_engines: Vec<usize>,
    pub fault_modes_how: String,
    /// conditions × fault modes.
    pub product: usize,
    pub engines: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub subset: String,
    pub preset: String,
    pub seed: u64,
    pub cost: CostShape,
    /// Cycles per window of the prepared data.
    #[serde(default)]
    pub window: usize,
    /// Input features per cycle of the prepared data.
    #[serde(default)]
    pub features: usize,
    /// The measurement the rule reads: after `settle_epochs` epochs of plain training, or on the
    /// initialised model when that is 0.
    pub gradients: Gradients,
    /// Epochs of plain training (`baseline`) before `gradients` was measured; 0 = none.
    #[serde(default)]
    pub settle_epochs: usize,
    /// The same measurement on the initialised model (same seed, batches and dropout masks), when
    /// `gradients` was taken after training.
    #[serde(default)]
    pub initial: Option<Gradients>,
    /// Where the measurement differs from the request, in words (e.g. fewer settling epochs).
    #[serde(default)]
    pub notes: Vec<String>,
    pub complexity: Complexity,
    pub near_failure: NearFailure,
    /// The rule inputs: median g_max/g_min and median cosine over the batches of `gradients`.
    pub rule_ratio: f64,
    pub rule_cosine: f64,
    pub recommendation: Recommendation,
    pub seconds: f64,
}

/// Epochs of plain training before the measurement the rule reads, unless told otherwise.
pub const SETTLE_EPOCHS: usize = 5;
/// The method of the settling run: plain MSE + CE at fixed weights 0.5/0.5.
pub const SETTLE_METHOD: &str = "baseline";

/// How long the model trains before the gradients the rule reads are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settling {
    /// Epochs of plain training; 0 measures the initialised model only.
    pub epochs: usize,
    /// No progress output from the trainer (for `--json`).
    pub quiet: bool,
}

impl Default for Settling {
    fn default() -> Self {
        Settling { epochs: SETTLE_EPOCHS, quiet: false }
    }
}

/// Runs the whole diagnosis for a resolved run config (its data, model, seed, batch size, device).
pub fn diagnose(cfg: &RunConfig, n_batches: usize, cost: CostShape, settling: Settling) -> anyhow::Result<Diagnosis> {
    let t0 = Instant::now();
    if n_batches == 0 {
        bail!("--batches must be at least 1");
    }
    let raw = load_raw(cfg)?;
    let data = prepare(&raw, &cfg.data.prep)?;
    let complexity = complexity(cfg, &raw, &data)?;
    let near_failure = near_failure(&data);
    let at_start = measure_gradients(cfg, &data, n_batches)?;
    let (gradients, initial, settle_epochs, notes) = if settling.epochs == 0 {
        (at_start, None, 0, Vec::new())
    } else {
        let settled = settle(cfg, &data, n_batches, settling)?;
        (settled.gradients, Some(at_start), settled.epochs, settled.notes)
    };
    let rule_ratio = gradients.ratio_max_min.median;
    let rule_cosine = gradients.cosine.median;
    let recommendation = recommend(rule_ratio, rule_cosine, cost)?;
    Ok(Diagnosis {
        subset: data.name.clone(),
        preset: cfg.model.preset.clone(),
        seed: cfg.train.seed,
        cost,
        window: data.train.window,
        features: data.train.n_features,
        gradients,
        settle_epochs,
        initial,
        notes,
        complexity,
        near_failure,
        rule_ratio,
        rule_cosine,
        recommendation,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Conditions and fault modes inferred from the data, with how.
fn complexity(cfg: &RunConfig, raw: &RawSubset, data: &Prepared) -> anyhow::Result<Complexity> {
    let (conditions, shares) = infer_conditions(raw, cfg.data.prep.seed);
    // The fault-mode analysis normalises per *inferred* condition so no table enters it; when
    // the inference agrees with the configured preprocessing, that one is reused.
    let for_modes = if data.preprocessing.n_conditions() == conditions {
        None
    } else {
        let mut p = cfg.data.prep.clone();
        p.n_conditions = Some(conditions);
        Some(prepare(raw, &p)?)
    };
    let modes = infer_fault_modes(for_modes.as_ref().unwrap_or(data), cfg.data.prep.seed);
    Ok(Complexity {
        conditions,
        condition_inertia_share: shares,
        conditions_how: format!(
            "k-means on the {} operating settings (scaled by their std) for k = 1..{MAX_CONDITIONS}: the smallest k whose within-cluster sum of squares is ≤ {CONDITION_INERTIA_SHARE} of the total",
            raw.schema.n_settings()
        ),
        fault_modes: modes.k,
        fault_mode_max_cosine: modes.max_cosine.clone(),
        fault_mode_engines: modes.sizes.clone(),
        fault_modes_how: format!(
            "per engine, the unit direction of the normalised sensor change from its first to its last {LIFE_EDGE_CYCLES} cycles; k-means of these directions for k = 2, 3: the largest k whose cluster mean directions are pairwise more than 60° apart (cosine < {FAULT_MODE_MAX_COSINE}), else 1"
        ),
        product: conditions * modes.k,
        engines: modes.engines,
    })
}

/// The measurement after the settling run, the epochs it trained, and why they fell short.
struct Settled {
    gradients: Gradients,
    epochs: usize,
    notes: Vec<String>,
}

/// Trains the seeded model of `cfg` with [`SETTLE_METHOD`] for `settling.epochs` epochs by the
/// real trainer, in a scratch run folder that is removed afterwards (also on error), then measures
/// the gradients on the live weights it holds after its last epoch (what a resume continues from).
fn settle(cfg: &RunConfig, data: &Prepared, n: usize, settling: Settling) -> anyhow::Result<Settled> {
    // Removed with everything in it when dropped, also when the settling run fails; the process id
    // in the name lets a test find what its own process left behind.
    let scratch = tempfile::Builder::new()
        .prefix(&format!("grace-diagnose-{}-", std::process::id()))
        .tempdir()
        .context("creating a scratch folder for the settling run")?;
    let run_dir = scratch.path().join("run");
    let mut plain = cfg.clone();
    plain.method = MethodConfig { name: SETTLE_METHOD.into(), ..Default::default() };
    let opts = Options { quiet: settling.quiet, stop_at_epoch: Some(settling.epochs), ..Default::default() };
    let paused = match train::run(Some(plain), &run_dir, false, opts) {
        // With `stop_at_epoch` the trainer returns before its test scoring; a result means it scored.
        Ok(_) => bail!("the settling run was scored on the test set; it must stop before"),
        Err(e) => match e.downcast_ref::<Paused>() {
            Some(p) => *p,
            None => {
                return Err(e.context(format!("settling the model ({} epochs of {SETTLE_METHOD})", settling.epochs)))
            }
        },
    };
    let gradients = measure_gradients_at(cfg, data, n, Some(&run_dir.join(CHECKPOINT_FILE)))?;
    let mut notes = Vec::new();
    if paused.epochs < settling.epochs {
        let why = if cfg.train.epochs < settling.epochs {
            format!("the run config trains only {} (train.epochs)", epochs(cfg.train.epochs))
        } else {
            "the plain training ended early (early stopping or train.max_steps)".to_string()
        };
        notes.push(format!("settled for {} instead of {}: {why}", epochs(paused.epochs), settling.epochs));
    }
    Ok(Settled { gradients, epochs: paused.epochs, notes })
}

fn epochs(n: usize) -> String {
    format!("{n} epoch{}", if n == 1 { "" } else { "s" })
}

/// Per-task gradient norms and cosine on the shared parameters of the seeded initial model over
/// `n` seeded batches.
pub fn measure_gradients(cfg: &RunConfig, data: &Prepared, n: usize) -> anyhow::Result<Gradients> {
    measure_gradients_at(cfg, data, n, None)
}

/// [`measure_gradients`], on the live weights of a run checkpoint when one is given (loaded as a
/// resume loads them); the seeding, the batches and the dropout masks are the same either way.
pub fn measure_gradients_at(
    cfg: &RunConfig,
    data: &Prepared,
    n: usize,
    checkpoint: Option<&Path>,
) -> anyhow::Result<Gradients> {
    let (device, vs, model) = seeded_model(cfg)?;
    if let Some(path) = checkpoint {
        restore_vars(&vs, &crate::checkpoint::load(path)?.tensors, "model.")?;
    }
    let params = Params::new(trainable(&vs));
    let shared: Vec<Tensor> = (0..params.tensors.len())
        .filter(|&i| params.groups[i] == Group::Shared)
        .map(|i| params.tensors[i].shallow_clone())
        .collect();
    let shared_parameters = shared.iter().map(|t| t.numel() as i64).sum();
    let mut windows = data.train.windows();
    if windows.is_empty() {
        bail!("no training windows: every training engine is shorter than the window of {} cycles", data.train.window);
    }
    windows.shuffle(&mut ChaCha8Rng::seed_from_u64(cfg.train.seed));
    let bsz = cfg.train.batch_size.min(windows.len());
    let mut per_batch = Vec::with_capacity(n);
    for b in 0..n {
        // Without replacement while the windows last, then around again.
        let start = (b * bsz) % windows.len();
        let refs: Vec<_> = (0..bsz).map(|j| windows[(start + j) % windows.len()]).collect();
        let batch = gather_batch(&data.train, &refs, device);
        per_batch.push(measure_batch(&model, &batch, &shared).map_err(|e| e.context(format!("batch {b}")))?);
    }
    let col = |f: fn(&BatchMeasure) -> f64| Quartiles::of(&per_batch.iter().map(f).collect::<Vec<_>>());
    Ok(Gradients {
        mode: "train (dropout on, batch statistics), seeded".into(),
        rul_loss: "mse".into(),
        batches: n,
        batch_size: bsz,
        shared_parameters,
        g_rul: col(|m| m.g_rul),
        g_health: col(|m| m.g_health),
        ratio_rul_health: col(|m| m.ratio_rul_health),
        ratio_max_min: col(|m| m.ratio_max_min),
        cosine: col(|m| m.cosine),
        per_batch,
    })
}

fn gather_batch(split: &Split, refs: &[WindowRef], device: Device) -> Batch {
    let (mut x, mut rul, mut health) = (Vec::new(), Vec::new(), Vec::new());
    split.gather(refs, &mut x, &mut rul, &mut health);
    let nb = refs.len() as i64;
    Batch {
        x: Tensor::from_slice(&x).view([nb, split.window as i64, split.n_features as i64]).to_device(device),
        rul: Tensor::from_slice(&rul).to_device(device),
        health: Tensor::from_slice(&health).to_device(device),
        sample_weights: None,
    }
}

/// Both task losses of one batch and their gradients on the shared parameters.
fn measure_batch(model: &DualTaskModel, batch: &Batch, shared: &[Tensor]) -> anyhow::Result<BatchMeasure> {
    let (l_r, l_h) = task_losses(model, batch, true);
    let g_h = Tensor::run_backward(&[&l_h], shared, true, false);
    let g_r = Tensor::run_backward(&[&l_r], shared, false, false);
    let terms: Vec<Tensor> = g_r
        .iter()
        .zip(&g_h)
        .map(|(r, h)| {
            Tensor::stack(&[r.square().sum(Kind::Double), h.square().sum(Kind::Double), (r * h).sum(Kind::Double)], 0)
        })
        .collect();
    let s: Vec<f64> = Vec::try_from(&Tensor::stack(&terms, 0).sum_dim_intlist(0, false, Kind::Double))?;
    let (gr, gh) = (s[0].sqrt(), s[1].sqrt());
    let losses: Vec<f64> = Vec::try_from(&Tensor::stack(&[l_r.detach(), l_h.detach()], 0).to_kind(Kind::Double))?;
    if !(gr.is_finite() && gh.is_finite() && gr > 0.0 && gh > 0.0) {
        bail!("unusable gradient norms g_rul = {gr}, g_health = {gh}");
    }
    Ok(BatchMeasure {
        loss_rul: losses[0],
        loss_health: losses[1],
        g_rul: gr,
        g_health: gh,
        ratio_rul_health: gr / gh,
        ratio_max_min: gr.max(gh) / gr.min(gh),
        cosine: s[2] / (gr * gh),
    })
}
