//! Throughput of grace's own training step and inference on seeded random batches, measured the
//! same way as the PyTorch reference (`bench/reference/bench_train.py`) so the two can be compared.

use crate::adamw::{AdamW, AdamWConfig};
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
    pub warmup_steps: usize,
    pub steps: usize,
    pub repeats: usize,
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn random_batch(n: i64, f: i64, device: Device) -> Batch {
    let x = Tensor::randn([n, 30, f], (Kind::Float, device));
    let rul = Tensor::rand([n], (Kind::Float, device)) * 125.0;
    let health = Tensor::randint(3, [n], (Kind::Int64, device));
    let w = ((&rul / -125.0) + 1.0).clamp(0.0, 1.0) + 1.0;
    Batch { x, rul, health, sample_weights: Some(w) }
}

pub fn run(c: &BenchConfig) -> anyhow::Result<BenchResult> {
    if c.threads > 0 {
        tch::set_num_threads(c.threads as i32);
    }
    tch::manual_seed(0);
    let cfg = ModelConfig::preset(&c.preset, c.features).map_err(anyhow::Error::msg)?;
    let vs = nn::VarStore::new(c.device);
    let model = DualTaskModel::new(&vs.root(), &cfg);
    let params = Params::new(trainable(&vs));
    let mut opt = AdamW::new(&params.tensors, AdamWConfig::default());
    let batch = random_batch(c.batch, c.features, c.device);

    let mut time_steps = |method: &str, per_task: Option<bool>| -> anyhow::Result<f64> {
        let past_warmup = ParamValues::default().with("warmup_steps", ParamValue::Int(0))?;
        let mut ctrl = methods::method(method)?.controller(2, &past_warmup)?;
        let per_task = per_task.unwrap_or(ctrl.needs().per_task_gradients());
        let mut memory = GradientMemory::for_controller(ctrl.as_ref(), params.shared_len(), &params.tensors[0]);
        let mut step = || -> anyhow::Result<()> {
            let (l_r, l_h) = task_losses(&model, &batch, true);
            let (mut g, o) = combined_gradients(&params, &l_r, &l_h, ctrl.as_mut(), per_task, memory.as_mut())?;
            clip_global_norm(&mut g, 1.0, o.grad_norm);
            opt.update(&params.tensors, &g, 1e-4);
            after_update(&model, &batch, ctrl.as_mut())
        };
        for _ in 0..c.warmup_steps {
            step()?;
        }
        let mut rates = Vec::new();
        for _ in 0..c.repeats.max(1) {
            let t = Instant::now();
            for _ in 0..c.steps.max(1) {
                step()?;
            }
            sync(c.device);
            rates.push((c.steps.max(1) as f64 * c.batch as f64) / t.elapsed().as_secs_f64());
        }
        Ok(median(rates))
    };
    let plain = time_steps("baseline", Some(false))?;
    let gaba = time_steps("gaba", Some(true))?;
    // the method as the trainer runs it when the gradient log does not ask for per-task passes
    let method = match &c.method {
        Some(name) => {
            let rate = time_steps(name, None)?;
            Some(MethodRate { name: name.clone(), samples_per_s: rate, vs_gaba: rate / gaba })
        }
        None => None,
    };

    let xi = Tensor::randn([c.infer_batch, 30, c.features], (Kind::Float, c.device));
    let mut rates = Vec::new();
    tch::no_grad(|| {
        let _ = model.forward_t(&xi, false);
        for _ in 0..c.repeats.max(1) {
            let t = Instant::now();
            for _ in 0..c.steps.max(1) {
                let _ = model.forward_t(&xi, false).rul.sum(Kind::Float).double_value(&[]);
            }
            rates.push((c.steps.max(1) as f64 * c.infer_batch as f64) / t.elapsed().as_secs_f64());
        }
    });
    Ok(BenchResult {
        preset: c.preset.clone(),
        batch: c.batch,
        threads: tch::get_num_threads(),
        samples_per_s: Rates { plain, gaba, infer: median(rates), method },
    })
}

fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}
