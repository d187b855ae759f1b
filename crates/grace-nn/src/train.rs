//! The training run of SPEC §5: epochs over shuffled windows, the step for the chosen method, the
//! weight average, validation-driven schedule and early stopping, logs, checkpoints and resume.

use crate::adamw::{AdamW, AdamWConfig};
use crate::checkpoint;
use crate::config::RunConfig;
use crate::evaluate::{self, RulScores};
use crate::io::{write_atomic, write_bytes_atomic, write_json_atomic};
use crate::model::{trainable, DualTaskModel};
use crate::step::{clip_global_norm, combined_gradients, task_losses, Batch, Params};
use anyhow::{anyhow, bail, Context};
use grace_core::controller::{controller_for, ControllerParams, TaskWeighting};
use grace_core::methods::{self, RulLoss, Weighting};
pub use grace_core::results::{Protocol, RunResults, ValidationSummary, Versions};
use grace_core::wmse::WeightedMse;
use grace_data::{prepare, DataSource, Prepared, RawSubset, Subset};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{nn, Device, Tensor};

pub const CONFIG_FILE: &str = "config.toml";
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
pub const BEST_FILE: &str = "best.safetensors";
pub const RESULTS_FILE: &str = "results.json";
pub const PREPROCESSING_FILE: &str = "preprocessing.json";
pub const GRADIENT_LOG: &str = "gradient_log.csv";
pub const EPOCH_LOG: &str = "epochs.csv";
pub const PREDICTIONS_FILE: &str = "predictions.csv";

/// Loads the raw subset a run config names (a C-MAPSS folder or zip, or the synthetic fleet).
pub fn load_raw(cfg: &RunConfig) -> anyhow::Result<RawSubset> {
    if cfg.data.is_synthetic() {
        return Ok(grace_data::synthetic::fleet(&cfg.data.synthetic));
    }
    let subset: Subset = cfg.data.subset.parse().map_err(|e| anyhow!("data.subset: {e}"))?;
    Ok(DataSource::from_path(&cfg.data.source).load(subset)?)
}

pub fn load_data(cfg: &RunConfig) -> anyhow::Result<Prepared> {
    Ok(prepare(&load_raw(cfg)?, &cfg.data.prep)?)
}

pub fn device_of(name: &str) -> anyhow::Result<Device> {
    Ok(match name {
        "cpu" => Device::Cpu,
        "auto" => Device::cuda_if_available(),
        "cuda" => {
            if !tch::Cuda::is_available() {
                bail!("--device cuda: no CUDA device is usable here (tch::Cuda::is_available() is false); use --device cpu or auto")
            }
            Device::Cuda(0)
        }
        other => match other.strip_prefix("cuda:").and_then(|n| n.parse::<usize>().ok()) {
            Some(i) if (i as i64) < tch::Cuda::device_count() => Device::Cuda(i),
            _ => bail!("unknown or unavailable device '{other}': use cpu, cuda, cuda:N or auto"),
        },
    })
}

/// How a run reports progress.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// No progress bars or epoch lines (for `--json`).
    pub quiet: bool,
    /// Stop (as if killed) after this many epochs in this invocation; for tests of resume.
    pub stop_after_epochs: Option<usize>,
}

/// Per-epoch counters and schedule state: everything a resumed run needs besides the tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Progress {
    epoch: usize,
    step: u64,
    ema_updates: u64,
    lr_scale: f64,
    best_val_rmse: f64,
    best_epoch: usize,
    since_improvement: usize,
    since_lr_change: usize,
    stopped_early: bool,
    train_seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochRow {
    pub epoch: usize,
    pub steps: u64,
    pub lr: f64,
    pub train_loss_rul: f64,
    pub train_loss_health: f64,
    pub lambda_rul: f64,
    pub lambda_health: f64,
    pub val_rmse: f64,
    pub val_nasa: f64,
    pub val_rmse_live: f64,
    pub val_cut_rmse: f64,
    pub seconds: f64,
}

fn versions(device: Device) -> Versions {
    Versions {
        grace: env!("CARGO_PKG_VERSION").into(),
        tch: "0.24.0".into(),
        libtorch: "2.11.0".into(),
        device: format!("{device:?}"),
        threads: tch::get_num_threads(),
    }
}

/// Everything a run holds while training.
struct Trainer {
    cfg: RunConfig,
    dir: PathBuf,
    device: Device,
    data: Prepared,
    vs: nn::VarStore,
    model: DualTaskModel,
    ema_vs: nn::VarStore,
    ema_model: DualTaskModel,
    params: Params,
    ema_params: Vec<Tensor>,
    opt: AdamW,
    controller: Box<dyn TaskWeighting>,
    wmse: Option<WeightedMse>,
    progress: Progress,
}

fn build_controller(cfg: &RunConfig) -> anyhow::Result<Box<dyn TaskWeighting>> {
    let spec = methods::method(&cfg.method.name)?;
    let m = &cfg.method;
    let params = ControllerParams {
        beta: m.beta,
        floor: m.floor,
        warmup: m.warmup_steps,
        fixed_weights: Some(m.fixed_weights.clone()),
        temperature: m.temperature,
        alpha: m.alpha,
        uncertainty_lr: m.uncertainty_lr,
        gradnorm_lr: m.gradnorm_lr,
    };
    let name = match spec.weighting {
        Weighting::Controller(c) => c,
        Weighting::RulOnly => "single",
    };
    controller_for(name, 2, &params).map_err(|e| anyhow!("method '{}': {e}", spec.name))
}

/// The run's device and threads, and its model initialised from the run's seed: the same
/// starting point for training and for the diagnosis of that training.
pub fn seeded_model(cfg: &RunConfig) -> anyhow::Result<(Device, nn::VarStore, DualTaskModel)> {
    let device = device_of(&cfg.train.device)?;
    if cfg.train.threads > 0 {
        tch::set_num_threads(cfg.train.threads as i32);
    }
    tch::manual_seed(cfg.train.seed as i64);
    let vs = nn::VarStore::new(device);
    let model = DualTaskModel::new(&vs.root(), &cfg.model.config);
    Ok((device, vs, model))
}

impl Trainer {
    fn new(cfg: RunConfig, dir: &Path, data: Prepared) -> anyhow::Result<Trainer> {
        let (device, vs, model) = seeded_model(&cfg)?;
        let mut ema_vs = nn::VarStore::new(device);
        let ema_model = DualTaskModel::new(&ema_vs.root(), &cfg.model.config);
        ema_vs.copy(&vs).map_err(|e| anyhow!("copying weights: {e}"))?;
        ema_vs.freeze();
        let params = Params::new(trainable(&vs));
        let ema_vars = ema_vs.variables();
        let ema_params = params.names.iter().map(|n| ema_vars[n].shallow_clone()).collect();
        let opt =
            AdamW::new(&params.tensors, AdamWConfig { weight_decay: cfg.train.weight_decay, ..Default::default() });
        let controller = build_controller(&cfg)?;
        let spec = methods::method(&cfg.method.name)?;
        let wmse = match spec.rul_loss {
            RulLoss::WeightedMse => Some(WeightedMse::new(cfg.method.slope, cfg.data.prep.max_rul)?),
            RulLoss::Mse => None,
        };
        let progress = Progress {
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
        };
        Ok(Trainer {
            cfg,
            dir: dir.to_path_buf(),
            device,
            data,
            vs,
            model,
            ema_vs,
            ema_model,
            params,
            ema_params,
            opt,
            controller,
            wmse,
            progress,
        })
    }

    fn lr(&self, epoch: usize) -> f64 {
        let t = &self.cfg.train;
        let warm = if epoch < t.warmup_epochs {
            t.warmup_start + (1.0 - t.warmup_start) * epoch as f64 / t.warmup_epochs as f64
        } else {
            1.0
        };
        (t.lr * warm * self.progress.lr_scale).max(t.min_lr.min(t.lr))
    }

    fn batch(&self, refs: &[grace_data::WindowRef], buf: &mut (Vec<f32>, Vec<f32>, Vec<i64>)) -> Batch {
        let split = &self.data.train;
        split.gather(refs, &mut buf.0, &mut buf.1, &mut buf.2);
        let n = refs.len() as i64;
        let x =
            Tensor::from_slice(&buf.0).view([n, split.window as i64, split.n_features as i64]).to_device(self.device);
        let rul = Tensor::from_slice(&buf.1).to_device(self.device);
        let health = Tensor::from_slice(&buf.2).to_device(self.device);
        let sample_weights = self.wmse.as_ref().map(|w| {
            let ws: Vec<f32> = buf.1.iter().map(|&y| w.weight(y as f64) as f32).collect();
            Tensor::from_slice(&ws).to_device(self.device)
        });
        Batch { x, rul, health, sample_weights }
    }

    fn update_average(&mut self) {
        // SPEC §5 (decided): the average's decay is ramped in so short runs are not dominated by
        // the initial weights.
        let n = self.progress.ema_updates as f64;
        let decay = self.cfg.train.ema_decay.min((1.0 + n) / (10.0 + n));
        tch::no_grad(|| {
            for (e, p) in self.ema_params.iter().zip(&self.params.tensors) {
                let _ = e.shallow_clone().lerp_(p, 1.0 - decay);
            }
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

    fn validate(&self, model: &DualTaskModel) -> (RulScores, RulScores) {
        let b = self.cfg.train.eval_batch_size;
        let all = evaluate::predict(model, &self.data.val, &self.data.val.windows(), b, self.device);
        let cut = evaluate::predict(
            model,
            &self.data.val,
            &evaluate::cut_windows(&self.data.val, self.cfg.train.seed),
            b,
            self.device,
        );
        (RulScores::of(&all.rul, &all.truth_rul), RulScores::of(&cut.rul, &cut.truth_rul))
    }

    fn save_checkpoint(&self) -> anyhow::Result<()> {
        let mut tensors = checkpoint::named_vars(&self.vs, "model.");
        tensors.extend(checkpoint::named_vars(&self.ema_vs, "ema."));
        for (i, (m, v)) in self.opt.exp_avg.iter().zip(&self.opt.exp_avg_sq).enumerate() {
            tensors.push((format!("opt.exp_avg.{}", self.params.names[i]), m.copy()));
            tensors.push((format!("opt.exp_avg_sq.{}", self.params.names[i]), v.copy()));
        }
        let state = serde_json::json!({
            "progress": self.progress,
            "optimizer_step": self.opt.step,
            "controller": self.controller.state(),
            // Randomness is re-seeded from (seed, epoch) at every epoch start, so the epoch counter
            // is the whole RNG state a resumed run needs.
            "rng": {"seed": self.cfg.train.seed, "next_epoch": self.progress.epoch},
        });
        checkpoint::save(&self.dir.join(CHECKPOINT_FILE), tensors, &state)
    }

    fn restore_checkpoint(&mut self) -> anyhow::Result<()> {
        let path = self.dir.join(CHECKPOINT_FILE);
        let ck = checkpoint::load(&path)?;
        checkpoint::restore_vars(&self.vs, &ck.tensors, "model.")?;
        checkpoint::restore_vars(&self.ema_vs, &ck.tensors, "ema.")?;
        tch::no_grad(|| -> anyhow::Result<()> {
            for (i, name) in self.params.names.iter().enumerate() {
                for (key, dst) in [("exp_avg", &mut self.opt.exp_avg[i]), ("exp_avg_sq", &mut self.opt.exp_avg_sq[i])] {
                    let k = format!("opt.{key}.{name}");
                    let src = ck.tensors.get(&k).ok_or_else(|| anyhow!("{} lacks {k}", path.display()))?;
                    dst.copy_(src);
                }
            }
            Ok(())
        })?;
        self.opt.step =
            ck.state["optimizer_step"].as_u64().ok_or_else(|| anyhow!("{}: no optimizer_step", path.display()))?;
        self.progress = serde_json::from_value(ck.state["progress"].clone()).context("checkpoint progress")?;
        self.controller.restore(&ck.state["controller"])?;
        Ok(())
    }
}

const GRAD_HEADER: &str = "epoch,step,loss_rul,loss_health,g_rul,g_health,ratio,cosine,raw_rul,raw_health,ema_rul,ema_health,floored_rul,floored_health,lambda_rul,lambda_health,grad_norm,warmup,skipped\n";

/// Keeps the CSV rows whose first column (epoch) is below `epoch`: a killed run may have logged
/// steps after its last checkpoint, and the resumed run logs them again.
fn truncate_log(path: &Path, header: &str, epoch: usize) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = String::from(header);
    for line in text.lines().skip(1) {
        let e: usize = line.split(',').next().and_then(|v| v.parse().ok()).unwrap_or(usize::MAX);
        if e < epoch {
            out.push_str(line);
            out.push('\n');
        }
    }
    write_bytes_atomic(path, out.as_bytes())
}

fn fmt(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        String::new()
    }
}

fn epoch_header() -> String {
    "epoch,steps,lr,train_loss_rul,train_loss_health,lambda_rul,lambda_health,val_rmse,val_nasa,val_rmse_live,val_cut_rmse,seconds\n".into()
}

fn epoch_line(r: &EpochRow) -> String {
    format!(
        "{},{},{},{},{},{},{},{},{},{},{},{:.3}\n",
        r.epoch,
        r.steps,
        r.lr,
        fmt(r.train_loss_rul),
        fmt(r.train_loss_health),
        r.lambda_rul,
        r.lambda_health,
        fmt(r.val_rmse),
        fmt(r.val_nasa),
        fmt(r.val_rmse_live),
        fmt(r.val_cut_rmse),
        r.seconds
    )
}

/// Trains a new run in `dir` (created; must not hold a run already) or resumes the run there.
pub fn run(cfg: Option<RunConfig>, dir: &Path, resume: bool, opts: Options) -> anyhow::Result<RunResults> {
    let cfg = if resume {
        let text = std::fs::read_to_string(dir.join(CONFIG_FILE))
            .with_context(|| format!("--resume {}: no {CONFIG_FILE} there; is it a run directory?", dir.display()))?;
        RunConfig::from_toml(&text).map_err(|e| anyhow!("{}: {e}", dir.join(CONFIG_FILE).display()))?
    } else {
        let cfg = cfg.ok_or_else(|| anyhow!("a new run needs a config"))?;
        if dir.join(CONFIG_FILE).exists() {
            bail!(
                "{} already holds a run; pass --resume {} to continue it, or choose another --out",
                dir.display(),
                dir.display()
            );
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        cfg
    };
    cfg.validate().map_err(|e| anyhow!(e))?;
    let data = load_data(&cfg)?;
    if !resume {
        write_bytes_atomic(&dir.join(CONFIG_FILE), cfg.to_toml().as_bytes())?;
        write_json_atomic(&dir.join(PREPROCESSING_FILE), &data.preprocessing)?;
    }
    let mut tr = Trainer::new(cfg, dir, data)?;
    if resume && dir.join(CHECKPOINT_FILE).exists() {
        tr.restore_checkpoint()?;
    }
    truncate_log(&dir.join(GRADIENT_LOG), GRAD_HEADER, tr.progress.epoch)?;
    truncate_log(&dir.join(EPOCH_LOG), &epoch_header(), tr.progress.epoch)?;
    train_epochs(&mut tr, opts)?;
    if opts.stop_after_epochs.is_some() && !finished(&tr) {
        bail!("stopped after the requested number of epochs (run not finished; resume with --resume)");
    }
    finish(&tr)
}

fn finished(tr: &Trainer) -> bool {
    let t = &tr.cfg.train;
    tr.progress.stopped_early || tr.progress.epoch >= t.epochs || (t.max_steps > 0 && tr.progress.step >= t.max_steps)
}

fn train_epochs(tr: &mut Trainer, opts: Options) -> anyhow::Result<()> {
    let mut grad_log = std::fs::OpenOptions::new().append(true).create(true).open(tr.dir.join(GRADIENT_LOG))?;
    let mut epoch_log = std::fs::OpenOptions::new().append(true).create(true).open(tr.dir.join(EPOCH_LOG))?;
    let windows = tr.data.train.windows();
    if windows.is_empty() {
        bail!(
            "no training windows: every training engine is shorter than the window of {} cycles",
            tr.data.train.window
        );
    }
    let mut buf = (Vec::new(), Vec::new(), Vec::new());
    let mut epochs_here = 0;
    let steps_per_epoch = windows.len().div_ceil(tr.cfg.train.batch_size);
    while !finished(tr) {
        if opts.stop_after_epochs.is_some_and(|n| epochs_here >= n) {
            return Ok(());
        }
        let epoch = tr.progress.epoch;
        let t0 = Instant::now();
        let seed = tr.cfg.train.seed;
        tch::manual_seed((seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64) & 0x7fff_ffff_ffff) as i64);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ ((epoch as u64) << 32));
        let mut order = windows.clone();
        order.shuffle(&mut rng);
        let lr = tr.lr(epoch);
        let bar = progress_bar(opts.quiet, steps_per_epoch as u64, epoch);
        let (mut sum_r, mut sum_h, mut n_b) = (0.0, 0.0, 0usize);
        let mut log = String::new();
        let mut last_w = tr.controller.current_weights();
        for chunk in order.chunks(tr.cfg.train.batch_size) {
            if tr.cfg.train.max_steps > 0 && tr.progress.step >= tr.cfg.train.max_steps {
                break;
            }
            let batch = tr.batch(chunk, &mut buf);
            let (l_r, l_h) = task_losses(&tr.model, &batch, true);
            let per_task = tr.controller.needs_grad_norms() || tr.progress.step % tr.cfg.train.grad_log_every == 0;
            let (mut grads, mut out) = combined_gradients(&tr.params, &l_r, &l_h, tr.controller.as_mut(), per_task)?;
            if !out.losses.iter().all(|l| l.is_finite()) {
                bail!(
                    "non-finite loss at epoch {epoch}, step {} (RUL {}, health {}); the last good checkpoint is {}",
                    tr.progress.step,
                    out.losses[0],
                    out.losses[1],
                    tr.dir.join(CHECKPOINT_FILE).display()
                );
            }
            out.grad_norm = clip_global_norm(&mut grads, tr.cfg.train.clip_norm, out.grad_norm);
            tr.opt.update(&tr.params.tensors, &grads, lr);
            tr.update_average();
            let r = &out.record;
            let g = |v: &[f64], i: usize| v.get(i).copied().map(fmt).unwrap_or_default();
            log.push_str(&format!(
                "{epoch},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                tr.progress.step,
                out.losses[0],
                out.losses[1],
                fmt(out.norms[0]),
                fmt(out.norms[1]),
                fmt(out.norms[0] / out.norms[1]),
                fmt(out.cosine),
                g(&r.raw, 0),
                g(&r.raw, 1),
                g(&r.ema, 0),
                g(&r.ema, 1),
                g(&r.floored, 0),
                g(&r.floored, 1),
                r.weights[0],
                r.weights[1],
                fmt(out.grad_norm),
                r.warmup as u8,
                r.skipped as u8
            ));
            sum_r += out.losses[0];
            sum_h += out.losses[1];
            n_b += 1;
            last_w = r.weights.clone();
            tr.progress.step += 1;
            bar.set_message(format!(
                "λ*=({:.3}, {:.3}) L=({:.1}, {:.3})",
                last_w[0], last_w[1], out.losses[0], out.losses[1]
            ));
            bar.inc(1);
        }
        bar.finish_and_clear();
        grad_log.write_all(log.as_bytes())?;
        let means = [sum_r / n_b.max(1) as f64, sum_h / n_b.max(1) as f64];
        tr.controller.end_epoch(&means)?;

        tr.sync_buffers();
        let (val_ema, cut) = tr.validate(&tr.ema_model);
        let (val_live, _) = tr.validate(&tr.model);
        let t = tr.cfg.train.clone();
        let p = &mut tr.progress;
        p.epoch += 1;
        p.train_seconds += t0.elapsed().as_secs_f64();
        if val_ema.rmse < p.best_val_rmse {
            p.best_val_rmse = val_ema.rmse;
            p.best_epoch = epoch;
            p.since_improvement = 0;
            p.since_lr_change = 0;
            let vars = checkpoint::named_vars(&tr.ema_vs, "");
            write_atomic(&tr.dir.join(BEST_FILE), |tmp| {
                Tensor::write_safetensors(&vars, tmp).map_err(|e| anyhow!("{e}"))
            })?;
        } else {
            p.since_improvement += 1;
            p.since_lr_change += 1;
            if p.since_lr_change >= t.plateau_patience && epoch >= t.warmup_epochs {
                p.lr_scale *= t.plateau_factor;
                p.since_lr_change = 0;
            }
            if p.since_improvement >= t.early_stop_patience {
                p.stopped_early = true;
            }
        }
        let row = EpochRow {
            epoch,
            steps: p.step,
            lr,
            train_loss_rul: means[0],
            train_loss_health: means[1],
            lambda_rul: last_w[0],
            lambda_health: last_w[1],
            val_rmse: val_ema.rmse,
            val_nasa: val_ema.nasa,
            val_rmse_live: val_live.rmse,
            val_cut_rmse: cut.rmse,
            seconds: t0.elapsed().as_secs_f64(),
        };
        epoch_log.write_all(epoch_line(&row).as_bytes())?;
        if !opts.quiet {
            eprintln!(
                "epoch {:>3}  lr {:.2e}  L_rul {:>8.2}  L_health {:.3}  λ*=({:.3}, {:.3})  val RMSE {:.2} (live {:.2})  {:.1}s",
                epoch, lr, means[0], means[1], last_w[0], last_w[1], val_ema.rmse, val_live.rmse, row.seconds
            );
        }
        tr.save_checkpoint()?;
        epochs_here += 1;
    }
    Ok(())
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

/// Loads a run's selected (averaged) weights into a fresh model.
pub fn load_best(dir: &Path, cfg: &RunConfig, device: Device) -> anyhow::Result<(nn::VarStore, DualTaskModel)> {
    let mut vs = nn::VarStore::new(device);
    let model = DualTaskModel::new(&vs.root(), &cfg.model.config);
    let path = dir.join(BEST_FILE);
    vs.load(&path).map_err(|e| anyhow!("loading {}: {e}", path.display()))?;
    Ok((vs, model))
}

/// Scores the selected weights once on the test set and writes results and predictions.
fn finish(tr: &Trainer) -> anyhow::Result<RunResults> {
    let (_vs, best) = load_best(&tr.dir, &tr.cfg, tr.device)?;
    let results = score(&tr.cfg, &tr.dir, &tr.data, &best, tr.device, &tr.progress_summary())?;
    write_json_atomic(&tr.dir.join(RESULTS_FILE), &results)?;
    Ok(results)
}

/// What training leaves for the results besides the test scores.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainingSummary {
    pub best_epoch: usize,
    pub best_val_rmse: f64,
    pub stopped_early: bool,
    pub epochs_run: usize,
    pub steps: u64,
    pub train_seconds: f64,
}

impl Trainer {
    fn progress_summary(&self) -> TrainingSummary {
        let p = &self.progress;
        TrainingSummary {
            best_epoch: p.best_epoch,
            best_val_rmse: p.best_val_rmse,
            stopped_early: p.stopped_early,
            epochs_run: p.epoch,
            steps: p.step,
            train_seconds: p.train_seconds,
        }
    }
}

/// The test-set evaluation shared by training and `grace evaluate`, so both give the same numbers.
pub fn score(
    cfg: &RunConfig,
    dir: &Path,
    data: &Prepared,
    model: &DualTaskModel,
    device: Device,
    summary: &TrainingSummary,
) -> anyhow::Result<RunResults> {
    let b = cfg.train.eval_batch_size;
    let (test, rows) = evaluate::test_report(model, data, b, device);
    let cut = evaluate::predict(model, &data.val, &evaluate::cut_windows(&data.val, cfg.train.seed), b, device);
    write_atomic(&dir.join(PREDICTIONS_FILE), |tmp| {
        let mut w = csv::Writer::from_path(tmp)?;
        for r in &rows {
            w.serialize(r)?;
        }
        w.flush()?;
        Ok(())
    })?;
    Ok(RunResults {
        method: cfg.method.name.clone(),
        subset: data.name.clone(),
        synthetic: cfg.data.is_synthetic(),
        seed: cfg.train.seed,
        protocol: Protocol {
            selection_metric: "validation RMSE over all windows of the held-out training engines (averaged weights)"
                .into(),
            evaluated_weights: "exponential moving average of the weights at the best validation epoch".into(),
            test_protocol: "last window per test engine; truth from the RUL file, capped at max_rul and uncapped"
                .into(),
            test_scored_once: true,
            validation_units: data.val_units.clone(),
            train_units: data.train_units.len(),
            test_units: data.test_units.len(),
            max_rul: cfg.data.prep.max_rul,
            window: cfg.data.prep.window,
            features: data.preprocessing.feature_names.clone(),
            n_conditions: data.preprocessing.n_conditions(),
        },
        validation: ValidationSummary {
            best_epoch: summary.best_epoch,
            best_val_rmse: summary.best_val_rmse,
            cut: RulScores::of(&cut.rul, &cut.truth_rul),
            stopped_early: summary.stopped_early,
        },
        test,
        epochs_run: summary.epochs_run,
        steps: summary.steps,
        train_seconds: summary.train_seconds,
        versions: versions(device),
    })
}

/// `grace evaluate`: re-scores a finished run from its directory alone.
pub fn evaluate_run(dir: &Path, device: Option<&str>) -> anyhow::Result<RunResults> {
    let cfg_path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&cfg_path)
        .with_context(|| format!("{} is not a run directory (no {CONFIG_FILE})", dir.display()))?;
    let cfg = RunConfig::from_toml(&text).map_err(|e| anyhow!("{}: {e}", cfg_path.display()))?;
    let previous: RunResults = serde_json::from_str(
        &std::fs::read_to_string(dir.join(RESULTS_FILE))
            .with_context(|| format!("{}: the run has not finished (no {RESULTS_FILE})", dir.display()))?,
    )?;
    let device = device_of(device.unwrap_or(&cfg.train.device))?;
    if cfg.train.threads > 0 {
        tch::set_num_threads(cfg.train.threads as i32);
    }
    let data = load_data(&cfg)?;
    let (_vs, model) = load_best(dir, &cfg, device)?;
    let summary = TrainingSummary {
        best_epoch: previous.validation.best_epoch,
        best_val_rmse: previous.validation.best_val_rmse,
        stopped_early: previous.validation.stopped_early,
        epochs_run: previous.epochs_run,
        steps: previous.steps,
        train_seconds: previous.train_seconds,
    };
    score(&cfg, dir, &data, &model, device, &summary)
}
