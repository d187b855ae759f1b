//! The training run of docs/reference.md §5: epochs over shuffled windows, the step for the chosen
//! method, the weight average, validation-driven schedule and early stopping, logs and resume.

use crate::adamw::{AdamW, AdamWConfig};
use crate::config::{RunConfig, Schedule, Select, TrainParams};
use crate::evaluate::{self, RulScores};
use crate::fault;
use crate::flat::FlatParams;
use crate::logs::{gradient_row, Logs};
use crate::memory::GradientMemory;
use crate::model::{trainable, DualTaskModel};
use crate::start::{self, Started};
use crate::step::{after_update, check_supported, clip_global_norm, combined_gradients, task_losses};
use crate::step::{Batch, Params, StepOutcome};
use anyhow::{anyhow, bail};
use grace_core::controller::TaskWeighting;
use grace_core::methods::RulLoss;
use grace_core::wmse::WeightedMse;
use grace_data::truncate::{cut_spans, truncated_epoch, CutSpan};
use grace_data::{Prepared, WindowRef};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{nn, Device, Tensor};

// Paths other crates and the tests know this module by.
pub use crate::evaluate::{evaluate_on, evaluate_run, load_best, score, OtherData, TrainingSummary};
pub use crate::setup::{device_of, load_data, load_raw, seeded_model};
pub use crate::start::Runtime;
pub use grace_core::results::{Protocol, RunResults, ValidationSummary, Versions};
pub use grace_core::rundir::{
    EpochRow, GradientRow, BEST_FILE, CHECKPOINT_FILE, CONFIG_FILE, EPOCH_LOG, GRADIENT_LOG, PREDICTIONS_FILE,
    PREPROCESSING_FILE, RESULTS_FILE,
};

/// How a run reports progress.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// No progress bars or epoch lines (for `--json`).
    pub quiet: bool,
    /// Stop (as if killed) after this many epochs in this invocation; for tests of resume.
    pub stop_after_epochs: Option<usize>,
    /// Train until this many epochs in total (or the run's end), then return [`Paused`] before
    /// the test scoring: the checkpoint stays, and a later resume continues or scores the run.
    pub stop_at_epoch: Option<usize>,
    /// A wall-clock budget: no epoch starts once this many seconds have passed since training
    /// began in this invocation (the epoch under way finishes). Like `stop_at_epoch`, the run then
    /// returns [`Paused`] before the test scoring; `grace bench accuracy` uses it.
    pub max_seconds: Option<f64>,
}

/// The error [`run`] returns when [`Options::stop_at_epoch`] or [`Options::max_seconds`] stopped the run
/// before its test scoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paused {
    /// Epochs trained in total.
    pub epochs: usize,
    /// The run had already ended (all its epochs, or early stopping): resuming only scores it.
    pub ended: bool,
}

impl std::fmt::Display for Paused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "paused after {} epochs, before the test scoring", self.epochs)
    }
}

impl std::error::Error for Paused {}

/// Per-epoch counters and schedule state: everything a resumed run needs besides the tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Progress {
    pub epoch: usize,
    pub step: u64,
    pub ema_updates: u64,
    pub lr_scale: f64,
    pub best_val_rmse: f64,
    pub best_epoch: usize,
    pub since_improvement: usize,
    pub since_lr_change: usize,
    pub stopped_early: bool,
    pub train_seconds: f64,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            epoch: 0,
            step: 0,
            ema_updates: 0,
            lr_scale: 1.0,
            best_val_rmse: f64::INFINITY,
            best_epoch: 0,
            since_improvement: 0,
            since_lr_change: 0,
            stopped_early: false,
            train_seconds: 0.0,
        }
    }

    /// Selection and schedule after `epoch` scored `val_rmse` (the score `train.select` names):
    /// returns whether it is the new best.
    /// Otherwise the learning rate drops after a plateau (not during warm-up) and the run stops
    /// after `early_stop_patience` epochs without improvement.
    fn record_validation(&mut self, epoch: usize, val_rmse: f64, t: &TrainParams) -> bool {
        if val_rmse < self.best_val_rmse {
            self.best_val_rmse = val_rmse;
            self.best_epoch = epoch;
            self.since_improvement = 0;
            self.since_lr_change = 0;
            return true;
        }
        self.since_improvement += 1;
        self.since_lr_change += 1;
        let plateau = t.schedule == Schedule::Plateau;
        if plateau && self.since_lr_change >= t.plateau_patience && epoch >= t.warmup_epochs {
            self.lr_scale *= t.plateau_factor;
            self.since_lr_change = 0;
            tracing::info!(epoch, lr_scale = self.lr_scale, "validation plateau: learning rate reduced");
        }
        if self.since_improvement >= t.early_stop_patience {
            self.stopped_early = true;
            tracing::info!(epoch, best_epoch = self.best_epoch, "no improvement: stopping early");
        }
        false
    }

    fn summary(&self) -> TrainingSummary {
        TrainingSummary {
            best_epoch: self.best_epoch,
            best_val_rmse: self.best_val_rmse,
            stopped_early: self.stopped_early,
            epochs_run: self.epoch,
            steps: self.step,
            train_seconds: self.train_seconds,
        }
    }
}

/// Everything a run holds while training.
pub(crate) struct Trainer {
    pub cfg: RunConfig,
    pub dir: PathBuf,
    pub device: Device,
    pub data: Prepared,
    pub vs: nn::VarStore,
    pub model: DualTaskModel,
    pub ema_vs: nn::VarStore,
    pub ema_model: DualTaskModel,
    pub params: Params,
    /// The trainable parameters' one buffer (they are views into it), and the averaged model's.
    pub flat: FlatParams,
    pub ema_flat: FlatParams,
    pub opt: AdamW,
    pub controller: Box<dyn TaskWeighting>,
    /// The task-gradient memories of a method that needs them (DB-MTL), else `None`.
    pub memory: Option<GradientMemory>,
    pub wmse: Option<WeightedMse>,
    /// The test-like cuts of the selection engines, drawn once for the whole run.
    pub val_cuts: Vec<WindowRef>,
    /// The calibration engines' test-like cuts (empty without calibration engines): scored each
    /// epoch for the log only, never for selection.
    pub held_cuts: Vec<WindowRef>,
    pub progress: Progress,
}

/// The method's task-weighting controller, from the `[method]` section.
fn build_controller(cfg: &RunConfig) -> anyhow::Result<Box<dyn TaskWeighting>> {
    let controller = cfg.method.controller().map_err(|e| anyhow!(e))?;
    check_supported(controller.as_ref())?;
    Ok(controller)
}

/// The failure-biased weighted MSE when the method's RUL loss is weighted (docs/reference.md §4.1).
pub(crate) fn rul_weighting(cfg: &RunConfig) -> anyhow::Result<Option<WeightedMse>> {
    Ok(match cfg.method.method().map_err(|e| anyhow!(e))?.rul_loss {
        RulLoss::WeightedMse => Some(WeightedMse::new(cfg.method.slope(), cfg.data.prep.max_rul)?),
        RulLoss::Mse => None,
    })
}

/// A batch's inputs as host buffers, reused across batches.
pub(crate) type BatchBuffers = (Vec<f32>, Vec<f32>, Vec<i64>);

/// What the steps of one epoch leave for the end of the epoch.
struct EpochSteps {
    lr: f64,
    /// Mean task losses over the epoch's steps.
    means: [f64; 2],
    /// λ* of the last step.
    last_weights: Vec<f64>,
    rows: Vec<GradientRow>,
}

impl Trainer {
    pub(crate) fn new(cfg: RunConfig, dir: &Path, data: Prepared) -> anyhow::Result<Trainer> {
        let (device, vs, model) = seeded_model(&cfg)?;
        let mut ema_vs = nn::VarStore::new(device);
        let ema_model = DualTaskModel::new(&ema_vs.root(), &cfg.model.config);
        ema_vs.copy(&vs).map_err(|e| anyhow!("copying weights: {e}"))?;
        ema_vs.freeze();
        let params = Params::new(trainable(&vs));
        let ema_vars = ema_vs.variables();
        let ema_params: Vec<Tensor> = params.names.iter().map(|n| ema_vars[n].shallow_clone()).collect();
        let (flat, ema_flat) = (FlatParams::adopt(&params.tensors), FlatParams::adopt(&ema_params));
        let opt = AdamW::new(&flat.flat, AdamWConfig { weight_decay: cfg.train.weight_decay, ..Default::default() });
        let controller = build_controller(&cfg)?;
        let memory = GradientMemory::for_controller(controller.as_ref(), params.shared_len(), &params.tensors[0]);
        let wmse = rul_weighting(&cfg)?;
        let dir = dir.to_path_buf();
        let val_cuts = evaluate::cut_windows(&data.val, cfg.train.seed, cfg.train.select_cuts);
        let held_cuts = crate::intervals::calibration_windows(&cfg, &data.calibration)?;
        let progress = Progress::new();
        Ok(Trainer {
            cfg,
            dir,
            device,
            data,
            vs,
            model,
            ema_vs,
            ema_model,
            params,
            flat,
            ema_flat,
            opt,
            controller,
            memory,
            wmse,
            val_cuts,
            held_cuts,
            progress,
        })
    }

    fn lr(&self, epoch: usize) -> f64 {
        self.cfg.train.lr_at(epoch, self.progress.lr_scale)
    }

    pub(crate) fn batch(&self, refs: &[WindowRef], buf: &mut BatchBuffers) -> Batch {
        let split = &self.data.train;
        split.gather(refs, &mut buf.0, &mut buf.1, &mut buf.2);
        let n = refs.len() as i64;
        let x =
            Tensor::from_slice(&buf.0).view([n, split.window as i64, split.n_features as i64]).to_device(self.device);
        let x = jittered(x, self.cfg.train.input_jitter);
        let rul = Tensor::from_slice(&buf.1).to_device(self.device);
        let health = Tensor::from_slice(&buf.2).to_device(self.device);
        let sample_weights = self.wmse.as_ref().map(|w| {
            let ws: Vec<f32> = buf.1.iter().map(|&y| w.weight(y as f64) as f32).collect();
            Tensor::from_slice(&ws).to_device(self.device)
        });
        Batch { x, rul, health, sample_weights }
    }

    /// One optimiser step on the windows `refs`: losses, the method's combined gradient, clipping,
    /// the update (and the batch's losses after it, for a method that reads them) and the weight average.
    fn step(&mut self, refs: &[WindowRef], buf: &mut BatchBuffers, lr: f64) -> anyhow::Result<StepOutcome> {
        let batch = self.batch(refs, buf);
        let (l_r, l_h) = task_losses(&self.model, &batch, true);
        let t = &self.cfg.train;
        let per_task =
            self.controller.needs().per_task_gradients() || self.progress.step.is_multiple_of(t.grad_log_every);
        let memory = self.memory.as_mut();
        let (grads, mut out) =
            combined_gradients(&self.params, &l_r, &l_h, self.controller.as_mut(), per_task, memory)?;
        if !out.losses.iter().all(|l| l.is_finite()) {
            bail!(
                "non-finite loss at epoch {}, step {} (RUL {}, health {}): training diverged; {}",
                self.progress.epoch,
                self.progress.step,
                out.losses[0],
                out.losses[1],
                self.last_good_state()
            );
        }
        let mut grad = self.flat.grads_flat(&grads);
        out.grad_norm = clip_global_norm(&mut grad, self.cfg.train.clip_norm, out.grad_norm);
        self.opt.update(&self.flat.flat, &grad, lr);
        after_update(&self.model, &batch, self.controller.as_mut())?;
        self.update_average();
        Ok(out)
    }

    fn update_average(&mut self) {
        // docs/reference.md §5 (decided): the average's decay is ramped in so short runs are not
        // dominated by the initial weights.
        let n = self.progress.ema_updates as f64;
        let decay = self.cfg.train.ema_decay.min((1.0 + n) / (10.0 + n));
        tch::no_grad(|| {
            let _ = self.ema_flat.flat.shallow_clone().lerp_(&self.flat.flat, 1.0 - decay);
        });
        self.progress.ema_updates += 1;
    }

    /// Batch-norm statistics are not averaged; the averaged model uses the live ones.
    fn sync_buffers(&self) {
        let live = self.vs.variables();
        tch::no_grad(|| {
            for (name, mut t) in self.ema_vs.variables() {
                if name.contains("running_") {
                    t.copy_(&live[&name]);
                }
            }
        });
    }

    /// Scores over all validation windows.
    fn validate(&self, model: &DualTaskModel) -> RulScores {
        self.score_on(model, &self.data.val.windows())
    }

    /// Scores over the run's test-like cuts of the validation engines.
    fn validate_cuts(&self, model: &DualTaskModel) -> RulScores {
        self.score_on(model, &self.val_cuts)
    }

    /// RMSE on the calibration engines' test-like cuts, NaN without them: a held-out figure for
    /// the log (comparing selection scores afterwards), never read by selection or the schedule.
    fn held_cut_rmse(&self, model: &DualTaskModel) -> f64 {
        if self.held_cuts.is_empty() {
            return f64::NAN;
        }
        let p = evaluate::predict(
            model,
            &self.data.calibration,
            &self.held_cuts,
            self.cfg.train.eval_batch_size,
            self.device,
        );
        RulScores::of(&p.rul, &p.truth_rul).rmse
    }

    fn score_on(&self, model: &DualTaskModel, refs: &[WindowRef]) -> RulScores {
        let p = evaluate::predict(model, &self.data.val, refs, self.cfg.train.eval_batch_size, self.device);
        RulScores::of(&p.rul, &p.truth_rul)
    }

    /// Where a diverged run stands, naming only files that exist.
    fn last_good_state(&self) -> String {
        let path = self.dir.join(CHECKPOINT_FILE);
        if path.is_file() {
            format!(
                "the last checkpoint, {}, holds the run after epoch {} (try a lower train.lr)",
                path.display(),
                self.progress.epoch
            )
        } else {
            "no checkpoint had been written yet (try a lower train.lr)".to_string()
        }
    }

    fn finished(&self) -> bool {
        let t = &self.cfg.train;
        let p = &self.progress;
        p.stopped_early || p.epoch >= t.epochs || (t.max_steps > 0 && p.step >= t.max_steps)
    }
}

/// Trains a new run in `dir` (created; must not hold a run already) or resumes the run there.
pub fn run(cfg: Option<RunConfig>, dir: &Path, resume: bool, opts: Options) -> anyhow::Result<RunResults> {
    let started = if resume {
        start::resume(dir, &Runtime::default())?
    } else {
        start::new_run(cfg.ok_or_else(|| anyhow!("a new run needs a config"))?, dir, &[])?
    };
    train_and_score(started, resume, opts)
}

/// Trains a new run in `dir`, like [`run`], with `notes` (file name, contents) written into the
/// folder among its start files: a start that fails removes them with the folder it made.
pub fn run_new_with_notes(
    cfg: RunConfig,
    dir: &Path,
    notes: &[(&str, String)],
    opts: Options,
) -> anyhow::Result<RunResults> {
    train_and_score(start::new_run(cfg, dir, notes)?, false, opts)
}

/// Resumes the run in `dir` on the device and thread count `runtime` gives (where set).
pub fn resume_with(dir: &Path, runtime: &Runtime, opts: Options) -> anyhow::Result<RunResults> {
    train_and_score(start::resume(dir, runtime)?, true, opts)
}

fn train_and_score(started: Started, resume: bool, opts: Options) -> anyhow::Result<RunResults> {
    // The lock is held until the run returns, scoring included.
    let Started { trainer: mut tr, lock: _lock } = started;
    tracing::info!(
        dir = %tr.dir.display(),
        method = %tr.cfg.method.name,
        subset = %tr.data.name,
        device = ?tr.device,
        epoch = tr.progress.epoch,
        "{}",
        if resume { "resuming run" } else { "starting run" }
    );
    let logs = Logs::resume(&tr.dir, tr.progress.epoch)?;
    train_epochs(&mut tr, &logs, opts)?;
    if opts.stop_at_epoch.is_some() || opts.max_seconds.is_some() {
        return Err(Paused { epochs: tr.progress.epoch, ended: tr.finished() }.into());
    }
    if opts.stop_after_epochs.is_some() && !tr.finished() {
        bail!("stopped after the requested number of epochs (run not finished; resume with --resume)");
    }
    evaluate::finish(&tr.cfg, &tr.dir, &tr.data, tr.device, &tr.progress.summary())
}

fn train_epochs(tr: &mut Trainer, logs: &Logs, opts: Options) -> anyhow::Result<()> {
    let windows = tr.data.train.windows();
    if windows.is_empty() {
        bail!(
            "no training windows: every training engine is shorter than the window of {} cycles",
            tr.data.train.window
        );
    }
    let lengths: Vec<usize> = tr.data.train.engines.iter().map(|e| e.n_cycles()).collect();
    let spans = cut_spans(&lengths, grace_core::conformal::first_cut);
    let mut epochs_here = 0;
    let started = Instant::now();
    while !tr.finished() {
        if opts.stop_after_epochs.is_some_and(|n| epochs_here >= n)
            || opts.stop_at_epoch.is_some_and(|n| tr.progress.epoch >= n)
            || opts.max_seconds.is_some_and(|s| started.elapsed().as_secs_f64() >= s)
        {
            return Ok(());
        }
        let t0 = Instant::now();
        let steps = epoch_steps(tr, &windows, &spans, opts)?;
        logs.gradients.append(&steps.rows)?;
        tr.controller.end_epoch(&steps.means)?;
        after_epoch(tr, &steps, t0, logs, opts)?;
        epochs_here += 1;
    }
    Ok(())
}

/// `x` with Gaussian noise of standard deviation `std` added (none when 0), drawn from the
/// generator [`shuffled`] seeds each epoch, so a resumed run adds the same noise.
fn jittered(x: Tensor, std: f64) -> Tensor {
    if std == 0.0 {
        return x;
    }
    let noise = x.randn_like() * std;
    x + noise
}

/// The windows epoch `epoch` trains on, in order: all of them shuffled, or the first
/// ⌈`fraction`·n⌉ of that order, a random subsample drawn anew each epoch from (seed, epoch).
fn epoch_windows(windows: &[WindowRef], seed: u64, epoch: usize, fraction: f64) -> Vec<WindowRef> {
    let mut order = shuffled(windows, seed, epoch);
    let keep = ((fraction * windows.len() as f64).ceil() as usize).clamp(1, windows.len().max(1));
    order.truncate(keep);
    order
}

/// Training windows in the order of epoch `epoch`; randomness (order and dropout) is re-seeded
/// from (seed, epoch), so a resumed run draws what the uninterrupted run would have.
fn shuffled(windows: &[WindowRef], seed: u64, epoch: usize) -> Vec<WindowRef> {
    tch::manual_seed((seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64) & 0x7fff_ffff_ffff) as i64);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ ((epoch as u64) << 32));
    let mut order = windows.to_vec();
    order.shuffle(&mut rng);
    order
}

/// The steps of one epoch: one per batch of shuffled windows (a share `train.truncate` of them
/// test-like cuts of the training engines `spans`), until the epoch or `max_steps` ends.
fn epoch_steps(
    tr: &mut Trainer,
    windows: &[WindowRef],
    spans: &[CutSpan],
    opts: Options,
) -> anyhow::Result<EpochSteps> {
    let epoch = tr.progress.epoch;
    let t = &tr.cfg.train;
    let order = epoch_windows(windows, t.seed, epoch, t.epoch_fraction);
    let order = truncated_epoch(order, spans, t.truncate, t.seed, epoch);
    let batch_size = t.batch_size;
    let lr = tr.lr(epoch);
    let bar = progress_bar(opts.quiet, order.len().div_ceil(batch_size) as u64, epoch);
    let mut buf = BatchBuffers::default();
    let (mut sums, mut rows) = ([0.0; 2], Vec::new());
    let mut last_weights = tr.controller.current_weights();
    for chunk in order.chunks(batch_size) {
        if tr.cfg.train.max_steps > 0 && tr.progress.step >= tr.cfg.train.max_steps {
            break;
        }
        let out = tr.step(chunk, &mut buf, lr)?;
        fault::point("step");
        rows.push(gradient_row(epoch, tr.progress.step, &out));
        sums = [sums[0] + out.losses[0], sums[1] + out.losses[1]];
        last_weights = out.record.weights.clone();
        tr.progress.step += 1;
        bar.set_message(format!(
            "λ*=({:.3}, {:.3}) L=({:.1}, {:.3})",
            last_weights[0], last_weights[1], out.losses[0], out.losses[1]
        ));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let n = rows.len().max(1) as f64;
    Ok(EpochSteps { lr, means: [sums[0] / n, sums[1] / n], last_weights, rows })
}

/// What follows the steps of an epoch: validation, selection of the best averaged weights, the
/// plateau schedule and early stop, the epoch-log row and the checkpoint.
fn after_epoch(tr: &mut Trainer, steps: &EpochSteps, t0: Instant, logs: &Logs, opts: Options) -> anyhow::Result<()> {
    let epoch = tr.progress.epoch;
    tr.sync_buffers();
    let val_ema = tr.validate(&tr.ema_model);
    let cut = tr.validate_cuts(&tr.ema_model);
    let val_live = tr.validate(&tr.model);
    let held_cut_rmse = tr.held_cut_rmse(&tr.ema_model);
    let selection = match tr.cfg.train.select {
        Select::Windows => val_ema.rmse,
        Select::Cuts => cut.rmse,
    };
    if !(val_ema.rmse.is_finite() && selection.is_finite()) {
        // Selection would skip the epoch and go on training NaN weights, ending in a run whose
        // results silently come from an earlier epoch.
        bail!(
            "validation RMSE of the averaged weights is {} ({} on the test-like cuts) after epoch {epoch}: training \
             diverged; {}",
            val_ema.rmse,
            cut.rmse,
            tr.last_good_state()
        );
    }
    tr.progress.epoch += 1;
    tr.progress.train_seconds += t0.elapsed().as_secs_f64();
    if tr.progress.record_validation(epoch, selection, &tr.cfg.train) {
        tr.save_best()?;
    }
    let row = EpochRow {
        epoch,
        steps: tr.progress.step,
        lr: steps.lr,
        train_loss_rul: steps.means[0],
        train_loss_health: steps.means[1],
        lambda_rul: steps.last_weights[0],
        lambda_health: steps.last_weights[1],
        val_rmse: val_ema.rmse,
        val_nasa: val_ema.nasa,
        val_rmse_live: val_live.rmse,
        val_cut_rmse: cut.rmse,
        held_cut_rmse,
        // milliseconds are plenty, and keep the log short
        seconds: (t0.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
    };
    logs.epochs.append(std::slice::from_ref(&row))?;
    report_epoch(&row, opts);
    tr.save_checkpoint()?;
    fault::point("epoch");
    Ok(())
}

/// The epoch's summary: a tracing event, and a line on stderr for people unless quiet.
fn report_epoch(r: &EpochRow, opts: Options) {
    tracing::info!(
        epoch = r.epoch,
        lr = r.lr,
        loss_rul = r.train_loss_rul,
        loss_health = r.train_loss_health,
        lambda_rul = r.lambda_rul,
        lambda_health = r.lambda_health,
        val_rmse = r.val_rmse,
        val_rmse_live = r.val_rmse_live,
        seconds = r.seconds,
        "epoch finished"
    );
    if !opts.quiet {
        eprintln!(
            "epoch {:>3}  lr {:.2e}  L_rul {:>8.2}  L_health {:.3}  λ*=({:.3}, {:.3})  val RMSE {:.2} (live {:.2})  {:.1}s",
            r.epoch,
            r.lr,
            r.train_loss_rul,
            r.train_loss_health,
            r.lambda_rul,
            r.lambda_health,
            r.val_rmse,
            r.val_rmse_live,
            r.seconds
        );
    }
}

fn progress_bar(quiet: bool, len: u64, epoch: usize) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("epoch {prefix:>3} {bar:30} {pos}/{len} {per_sec} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_prefix(epoch.to_string());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plateaus_lower_the_rate_and_patience_stops_the_run() {
        let t = TrainParams {
            warmup_epochs: 1,
            plateau_patience: 2,
            plateau_factor: 0.5,
            early_stop_patience: 3,
            ..Default::default()
        };
        let mut p = Progress::new();
        // epoch 0 improves; 1, 2 do not: the plateau halves the rate once; 3 stops the run.
        let improved: Vec<bool> = [(0, 10.0), (1, 10.0), (2, 11.0), (3, f64::NAN)]
            .iter()
            .map(|&(e, v)| p.record_validation(e, v, &t))
            .collect();
        assert_eq!(improved, [true, false, false, false]);
        assert_eq!((p.best_epoch, p.best_val_rmse), (0, 10.0));
        assert_eq!(p.lr_scale, 0.5);
        assert!(p.stopped_early);
    }

    #[test]
    fn only_the_plateau_schedule_lowers_the_rate_on_a_plateau() {
        let scale_after = |schedule| {
            let t = TrainParams { schedule, warmup_epochs: 0, plateau_patience: 1, ..Default::default() };
            let mut p = Progress::new();
            for (e, v) in [(0, 10.0), (1, 11.0), (2, 12.0)] {
                p.record_validation(e, v, &t);
            }
            (p.lr_scale, p.since_improvement)
        };
        // two epochs without improvement, patience 1: plateau halves twice, the others never
        assert_eq!(scale_after(Schedule::Plateau), (0.25, 2));
        assert_eq!(scale_after(Schedule::Cosine), (1.0, 2));
        assert_eq!(scale_after(Schedule::OneCycle), (1.0, 2));
    }

    #[test]
    fn an_epoch_fraction_trains_on_a_fresh_seeded_subsample() {
        let windows: Vec<WindowRef> = (0..100).map(|end| WindowRef { engine: 0, end }).collect();
        assert_eq!(epoch_windows(&windows, 3, 5, 1.0), shuffled(&windows, 3, 5), "fraction 1 is today's epoch");
        let a = epoch_windows(&windows, 3, 5, 0.25);
        assert_eq!(a.len(), 25);
        assert_eq!(a, shuffled(&windows, 3, 5)[..25], "the first quarter of the epoch's order");
        let mut unique = a.clone();
        unique.sort_by_key(|w| w.end);
        unique.dedup();
        assert_eq!(unique.len(), 25, "no window twice");
        assert_eq!(a, epoch_windows(&windows, 3, 5, 0.25), "the same (seed, epoch), the same windows");
        assert_ne!(a, epoch_windows(&windows, 3, 6, 0.25), "another epoch, another subsample");
        assert_eq!(epoch_windows(&windows, 3, 5, 0.001).len(), 1, "at least one window");
    }

    #[test]
    fn input_jitter_adds_seeded_noise_of_the_given_spread() {
        let x = Tensor::zeros([200, 50], (tch::Kind::Float, Device::Cpu));
        assert!(jittered(x.shallow_clone(), 0.0).equal(&x), "no jitter leaves the inputs as they are");
        tch::manual_seed(1);
        let a = jittered(x.shallow_clone(), 0.5);
        let std = a.std(true).double_value(&[]);
        let mean = a.mean(tch::Kind::Float).double_value(&[]);
        // 10 000 draws: the sample spread is within 2% of 0.5 and the mean near 0
        assert!((std - 0.5).abs() < 0.01 && mean.abs() < 0.02, "std {std} mean {mean}");
        tch::manual_seed(1);
        assert!(jittered(x, 0.5).equal(&a), "the same seed, the same noise");
    }
}
