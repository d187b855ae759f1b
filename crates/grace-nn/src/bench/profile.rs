//! Where the time of grace's training step goes: the phases of a real step run one by one with a
//! synchronisation point after each, from the same functions the trainer calls (no timers in it).

use super::{sync, Bench};
use crate::model::Group;
use crate::step::{after_update, clip_global_norm, combined_gradients, task_losses, Batch};
use grace_core::methods::{self, ParamValue, ParamValues};
use grace_core::wmse::WeightedMse;
use grace_data::{Engine, Split, WindowRef};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// The phases, in step order.
pub const PHASES: [&str; 9] =
    ["batch", "forward", "backward", "combination", "clipping", "optimizer", "after_update", "average", "host_reads"];

#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub name: &'static str,
    /// Median over the repetitions.
    pub ms: f64,
    /// `ms` over the sum of all phases' `ms`.
    pub share: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub method: String,
    /// Whether the step ran the two per-task backward passes (the trainer's default gradient log asks
    /// for them every step).
    pub per_task: bool,
    pub repetitions: usize,
    /// Median of the whole step run as the trainer runs it, without the synchronisation points.
    pub step_ms: f64,
    pub phases: Vec<Phase>,
}

/// Host windows to gather batches from, like the trainer's training split.
struct HostData {
    split: Split,
    windows: Vec<WindowRef>,
    rng: rand_chacha::ChaCha8Rng,
    weighting: WeightedMse,
    buffers: (Vec<f32>, Vec<f32>, Vec<i64>),
}

impl HostData {
    fn new(features: usize, batch: usize) -> HostData {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let cycles = 200;
        let n_engines = (batch / 50).max(4);
        let engines = (0..n_engines)
            .map(|unit| Engine {
                unit: unit as u32,
                features: (0..cycles * features).map(|_| rand::Rng::gen_range(&mut rng, -1.0..1.0)).collect(),
                rul: (0..cycles).map(|c| (cycles - 1 - c).min(125) as f32).collect(),
                health: (0..cycles).map(|c| (3 * c / cycles) as u8).collect(),
                condition: vec![0; cycles],
            })
            .collect();
        let split = Split { engines, n_features: features, window: 30 };
        let windows = split.windows();
        HostData { split, windows, rng, weighting: WeightedMse::default(), buffers: Default::default() }
    }

    /// The trainer's batch assembly: gather shuffled windows on the host, make tensors, move them.
    fn batch(&mut self, n: usize, device: Device) -> Batch {
        let refs: Vec<WindowRef> = self.windows.choose_multiple(&mut self.rng, n).copied().collect();
        let (x, rul, health) = &mut self.buffers;
        self.split.gather(&refs, x, rul, health);
        let shape = [refs.len() as i64, self.split.window as i64, self.split.n_features as i64];
        let ws: Vec<f32> = rul.iter().map(|&y| self.weighting.weight(y as f64) as f32).collect();
        Batch {
            x: Tensor::from_slice(x).view(shape).to_device(device),
            rul: Tensor::from_slice(rul).to_device(device),
            health: Tensor::from_slice(health).to_device(device),
            sample_weights: Some(Tensor::from_slice(&ws).to_device(device)),
        }
    }
}

/// A stopwatch that waits for the device before each reading.
struct Lap {
    device: Device,
    t: Instant,
}

impl Lap {
    fn start(device: Device) -> Lap {
        sync(device);
        Lap { device, t: Instant::now() }
    }

    /// Milliseconds since the last reading.
    fn ms(&mut self) -> f64 {
        sync(self.device);
        let ms = self.t.elapsed().as_secs_f64() * 1e3;
        self.t = Instant::now();
        ms
    }
}

/// The step of `method`, phase by phase, repeated until the bench's `min_seconds` have passed
/// (at least three times). The backward passes are timed alone on one forward, then the trainer's
/// `combined_gradients` on a second forward of the same batch; "combination" is the difference
/// (controller, Gram sums and their read-back, the weighted sum). "host_reads" is reading the two
/// losses back as scalars.
pub(super) fn run(b: &mut Bench, method: &str, repeats: usize) -> anyhow::Result<Profile> {
    let past_warmup = ParamValues::default().with("warmup_steps", ParamValue::Int(0))?;
    let mut ctrl = methods::method(method)?.controller(2, &past_warmup)?;
    let mut memory =
        crate::memory::GradientMemory::for_controller(ctrl.as_ref(), b.params.shared_len(), &b.params.tensors[0]);
    let (device, n) = (b.config.device, b.config.batch as usize);
    let mut host = HostData::new(b.config.features as usize, n);
    let ema = b.flat.flat.detach().copy();
    let reach = |g: Group| -> Vec<Tensor> {
        let p = &b.params;
        p.groups
            .iter()
            .zip(&p.tensors)
            .filter(|(h, _)| **h == Group::Shared || **h == g)
            .map(|(_, t)| t.shallow_clone())
            .collect()
    };
    let (rul_reach, health_reach) = (reach(Group::RulHead), reach(Group::HealthHead));
    let mut samples: Vec<[f64; 9]> = Vec::new();
    let mut steps_ms = Vec::new();
    let started = Instant::now();
    let total_reps = repeats.max(3) + 2;
    let mut rep = 0;
    while rep < total_reps || started.elapsed().as_secs_f64() < b.config.min_seconds {
        let mut lap = Lap::start(device);
        let mut t = [0.0; 9];
        let batch = host.batch(n, device);
        t[0] = lap.ms();
        let (l_r, l_h) = task_losses(&b.model, &batch, true);
        t[1] = lap.ms();
        let _: Vec<f64> = Vec::try_from(Tensor::stack(&[l_r.detach(), l_h.detach()], 0).to_kind(Kind::Double))?;
        t[8] = lap.ms();
        let _ = Tensor::run_backward(&[&l_h], &health_reach, true, false);
        let _ = Tensor::run_backward(&[&l_r], &rul_reach, false, false);
        t[2] = lap.ms();
        let (l_r, l_h) = task_losses(&b.model, &batch, true);
        let mut lap = Lap::start(device);
        let (g, o) = combined_gradients(&b.params, &l_r, &l_h, ctrl.as_mut(), true, memory.as_mut())?;
        t[3] = (lap.ms() - t[2]).max(0.0);
        let mut g = b.flat.grads_flat(&g);
        clip_global_norm(&mut g, 1.0, o.grad_norm);
        t[4] = lap.ms();
        b.opt.update(&b.flat.flat, &g, 1e-4);
        t[5] = lap.ms();
        after_update(&b.model, &batch, ctrl.as_mut())?;
        t[6] = lap.ms();
        average(&ema, &b.flat.flat, 0.999);
        t[7] = lap.ms();
        steps_ms.push(whole_step(b, &mut host, ctrl.as_mut(), memory.as_mut(), &ema)?);
        // the first two repetitions warm the allocator and the kernels up
        if rep >= 2 {
            samples.push(t);
        }
        rep += 1;
    }
    let median = |v: Vec<f64>| super::Spread::of(&v).map_or(0.0, |s| s.median);
    let ms: Vec<f64> = (0..PHASES.len()).map(|i| median(samples.iter().map(|s| s[i]).collect())).collect();
    let total: f64 = ms.iter().sum();
    let phases = PHASES
        .iter()
        .zip(&ms)
        .map(|(&name, &ms)| Phase { name, ms, share: if total > 0.0 { ms / total } else { 0.0 } })
        .collect();
    Ok(Profile {
        method: method.to_string(),
        per_task: true,
        repetitions: samples.len(),
        step_ms: median(steps_ms[2..].to_vec()),
        phases,
    })
}

/// The trainer's weight average (its `update_average`), over the flat buffers.
fn average(ema: &Tensor, params: &Tensor, decay: f64) {
    tch::no_grad(|| {
        let _ = ema.shallow_clone().lerp_(params, 1.0 - decay);
    });
}

/// One whole step in the trainer's order, timed once at its end.
fn whole_step(
    b: &mut Bench,
    host: &mut HostData,
    ctrl: &mut dyn grace_core::controller::TaskWeighting,
    memory: Option<&mut crate::memory::GradientMemory>,
    ema: &Tensor,
) -> anyhow::Result<f64> {
    let mut lap = Lap::start(b.config.device);
    let batch = host.batch(b.config.batch as usize, b.config.device);
    let (l_r, l_h) = task_losses(&b.model, &batch, true);
    let (g, o) = combined_gradients(&b.params, &l_r, &l_h, ctrl, true, memory)?;
    let mut g = b.flat.grads_flat(&g);
    clip_global_norm(&mut g, 1.0, o.grad_norm);
    b.opt.update(&b.flat.flat, &g, 1e-4);
    after_update(&b.model, &batch, ctrl)?;
    average(ema, &b.flat.flat, 0.999);
    Ok(lap.ms())
}
