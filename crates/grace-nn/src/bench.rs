//! Throughput of grace's own training step and inference on seeded random batches, measured the
//! same way as the PyTorch reference (`bench/reference/bench_train.py`) so the two can be compared.

pub mod accuracy;
mod profile;

pub use profile::{Phase, Profile};

use crate::adamw::{AdamW, AdamWConfig};
use crate::flat::FlatParams;
use crate::memory::GradientMemory;
use crate::model::{trainable, DualTaskModel, ModelConfig};
use crate::step::{after_update, clip_global_norm, combined_gradients, task_losses, Batch, Params};
use grace_core::methods::{self, ParamValue, ParamValues};
use serde::Serialize;
use std::time::Instant;
use tch::{nn, Device, Kind, Tensor};

#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub preset: String,
    pub features: i64,
    pub batch: i64,
    pub infer_batch: i64,
    pub threads: usize,
    /// Untimed steps before each measure.
    pub warmup_steps: usize,
    /// Each measure runs whole steps until at least this long has passed (at least one step).
    pub min_seconds: f64,
    pub device: Device,
    /// A method of the registry whose step is measured too, on the same model and batch.
    pub method: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub preset: String,
    pub batch: i64,
    pub threads: i32,
    pub samples_per_s: Rates,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rates {
    /// One forward, one backward of 0.5·L_rul + 0.5·L_health.
    pub plain: f64,
    /// One forward, two backward passes, GABA weights, combined gradient (grace's step).
    pub gaba: f64,
    /// Eval mode, no gradients, batch `infer_batch`.
    pub infer: f64,
    /// The step of [`BenchConfig::method`] with the backward passes and extra forwards it needs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<MethodRate>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MethodRate {
    pub name: String,
    pub samples_per_s: f64,
    /// Its step's throughput over GABA's (> 1: faster than GABA).
    pub vs_gaba: f64,
}

/// Median and range of repeated measurements.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// The median is the middle sample, or the mean of the two middle ones for an even count;
    /// `None` for no samples.
    pub fn of(samples: &[f64]) -> Option<Spread> {
        if samples.is_empty() {
            return None;
        }
        let mut v = samples.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) };
        Some(Spread { median, min: v[0], max: v[n - 1] })
    }
}

/// Which implementation a slot of the benchmark measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Grace,
    Reference,
}

/// The order of the measurements: grace, then the reference, `rounds` times, so a drift in the
/// machine's load hits both sides alike instead of one.
pub fn alternation(rounds: usize) -> Vec<Side> {
    (0..rounds).flat_map(|_| [Side::Grace, Side::Reference]).collect()
}

fn random_batch(n: i64, f: i64, device: Device) -> Batch {
    let x = Tensor::randn([n, 30, f], (Kind::Float, device));
    let rul = Tensor::rand([n], (Kind::Float, device)) * 125.0;
    let health = Tensor::randint(3, [n], (Kind::Int64, device));
    let w = ((&rul / -125.0) + 1.0).clamp(0.0, 1.0) + 1.0;
    Batch { x, rul, health, sample_weights: Some(w) }
}

/// One model, optimiser and batch, measured as often as asked.
pub struct Bench {
    config: BenchConfig,
    _vs: nn::VarStore,
    model: DualTaskModel,
    params: Params,
    flat: FlatParams,
    opt: AdamW,
    batch: Batch,
}

impl Bench {
    pub fn new(c: &BenchConfig) -> anyhow::Result<Bench> {
        if c.threads > 0 {
            tch::set_num_threads(c.threads as i32);
        }
        if let Some(m) = &c.method {
            methods::method(m)?;
        }
        tch::manual_seed(0);
        let cfg = ModelConfig::preset(&c.preset, c.features).map_err(anyhow::Error::msg)?;
        let vs = nn::VarStore::new(c.device);
        let model = DualTaskModel::new(&vs.root(), &cfg);
        let params = Params::new(trainable(&vs));
        let flat = FlatParams::adopt(&params.tensors);
        let opt = AdamW::new(&flat.flat, AdamWConfig::default());
        let batch = random_batch(c.batch, c.features, c.device);
        Ok(Bench { config: c.clone(), _vs: vs, model, params, flat, opt, batch })
    }

    /// One measure of each kind: plain step, GABA step, the configured method's step, inference.
    pub fn round(&mut self) -> anyhow::Result<BenchResult> {
        let plain = self.time_steps("baseline", Some(false))?;
        let gaba = self.time_steps("gaba", Some(true))?;
        // the method as the trainer runs it when the gradient log does not ask for per-task passes
        let method = match self.config.method.clone() {
            Some(name) => {
                let rate = self.time_steps(&name, None)?;
                Some(MethodRate { name, samples_per_s: rate, vs_gaba: rate / gaba })
            }
            None => None,
        };
        let infer = self.time_inference();
        Ok(BenchResult {
            preset: self.config.preset.clone(),
            batch: self.config.batch,
            threads: tch::get_num_threads(),
            samples_per_s: Rates { plain, gaba, infer, method },
        })
    }

    /// Samples/s of the training step of `method` (a fresh controller past its warm-up).
    fn time_steps(&mut self, method: &str, per_task: Option<bool>) -> anyhow::Result<f64> {
        let past_warmup = ParamValues::default().with("warmup_steps", ParamValue::Int(0))?;
        let mut ctrl = methods::method(method)?.controller(2, &past_warmup)?;
        let per_task = per_task.unwrap_or(ctrl.needs().per_task_gradients());
        let mut memory =
            GradientMemory::for_controller(ctrl.as_ref(), self.params.shared_len(), &self.params.tensors[0]);
        let Bench { model, params, flat, opt, batch, config, .. } = self;
        let mut step = || -> anyhow::Result<()> {
            let (l_r, l_h) = task_losses(model, batch, true);
            let (g, o) = combined_gradients(params, &l_r, &l_h, ctrl.as_mut(), per_task, memory.as_mut())?;
            let mut g = flat.grads_flat(&g);
            clip_global_norm(&mut g, 1.0, o.grad_norm);
            opt.update(&flat.flat, &g, 1e-4);
            after_update(model, batch, ctrl.as_mut())
        };
        for _ in 0..config.warmup_steps {
            step()?;
        }
        let (steps, seconds) = run_for(config.min_seconds, config.device, step)?;
        Ok(steps as f64 * config.batch as f64 / seconds)
    }

    fn time_inference(&self) -> f64 {
        let c = &self.config;
        let xi = Tensor::randn([c.infer_batch, 30, c.features], (Kind::Float, c.device));
        tch::no_grad(|| {
            let forward = || -> anyhow::Result<()> {
                let _ = self.model.forward_t(&xi, false).rul.sum(Kind::Float).double_value(&[]);
                Ok(())
            };
            let _ = forward();
            let (steps, seconds) = run_for(c.min_seconds, c.device, forward).expect("inference does not fail");
            steps as f64 * c.infer_batch as f64 / seconds
        })
    }

    /// The per-phase breakdown of the trainer's step for `method`: see [`Profile`].
    pub fn profile(&mut self, method: &str, repeats: usize) -> anyhow::Result<Profile> {
        profile::run(self, method, repeats)
    }
}

/// One round of every measure (the benchmark as one call).
pub fn run(c: &BenchConfig) -> anyhow::Result<BenchResult> {
    Bench::new(c)?.round()
}

/// Runs `step` until `min_seconds` have passed (at least once); the steps run and the seconds taken.
fn run_for(
    min_seconds: f64,
    device: Device,
    mut step: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<(usize, f64)> {
    let t = Instant::now();
    let mut steps = 0;
    loop {
        step()?;
        steps += 1;
        if t.elapsed().as_secs_f64() >= min_seconds {
            sync(device);
            return Ok((steps, t.elapsed().as_secs_f64()));
        }
    }
}

fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_of_an_odd_count_is_the_middle_sample_and_the_extremes() {
        let s = Spread::of(&[3.0, 1.0, 10.0, 2.0, 4.0]).unwrap();
        assert_eq!(s, Spread { median: 3.0, min: 1.0, max: 10.0 });
    }

    #[test]
    fn spread_of_an_even_count_averages_the_two_middle_samples() {
        let s = Spread::of(&[4.0, 1.0, 2.0, 8.0]).unwrap();
        assert_eq!(s, Spread { median: 3.0, min: 1.0, max: 8.0 });
        assert_eq!(Spread::of(&[7.5]).unwrap(), Spread { median: 7.5, min: 7.5, max: 7.5 });
        assert_eq!(Spread::of(&[]), None);
    }

    #[test]
    fn alternation_puts_the_reference_after_each_grace_measure() {
        use Side::*;
        assert_eq!(alternation(3), vec![Grace, Reference, Grace, Reference, Grace, Reference]);
        assert!(alternation(0).is_empty());
    }

    #[test]
    fn run_for_runs_at_least_once_and_until_the_time_is_up() {
        let mut n = 0;
        let (steps, _) = run_for(0.0, Device::Cpu, || {
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!((steps, n), (1, 1));
        let mut n = 0;
        let (steps, seconds) = run_for(0.02, Device::Cpu, || {
            n += 1;
            std::thread::sleep(std::time::Duration::from_millis(5));
            Ok(())
        })
        .unwrap();
        assert!(steps == n && steps >= 1 && seconds >= 0.02, "{steps} steps in {seconds} s");
    }
}
