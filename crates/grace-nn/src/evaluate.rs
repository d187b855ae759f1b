//! Scoring a model on windows: batched eval-mode predictions, validation RMSE for selection, and
//! the test protocol of SPEC §2.8 (last window per engine, truth capped and uncapped).

use crate::model::DualTaskModel;
use grace_core::metrics;
use grace_data::{Prepared, Split, WindowRef};
use serde::Serialize;

pub use grace_core::results::{RulScores, TestReport};
use tch::{Device, Kind, Tensor};

/// Eval-mode predictions for `refs`: RUL and class probabilities per window.
pub struct Predictions {
    pub rul: Vec<f64>,
    pub probs: Vec<[f64; 3]>,
    pub truth_rul: Vec<f64>,
    pub truth_health: Vec<usize>,
}

impl Predictions {
    pub fn classes(&self) -> Vec<usize> {
        self.probs.iter().map(|p| (0..3).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(0)).collect()
    }
}

pub fn predict(model: &DualTaskModel, split: &Split, refs: &[WindowRef], batch: usize, device: Device) -> Predictions {
    let (mut x, mut y, mut h) = (Vec::new(), Vec::new(), Vec::new());
    let mut p = Predictions { rul: vec![], probs: vec![], truth_rul: vec![], truth_health: vec![] };
    let shape = |n: usize| [n as i64, split.window as i64, split.n_features as i64];
    tch::no_grad(|| {
        for chunk in refs.chunks(batch.max(1)) {
            split.gather(chunk, &mut x, &mut y, &mut h);
            let xt = Tensor::from_slice(&x).view(shape(chunk.len())).to_device(device);
            let out = model.forward_t(&xt, false);
            let rul: Vec<f64> =
                Vec::try_from(&out.rul.to_kind(Kind::Double).to_device(Device::Cpu)).expect("1-d RUL output");
            let probs: Vec<f64> =
                Vec::try_from(&out.logits.softmax(-1, Kind::Double).to_device(Device::Cpu).view([-1]))
                    .expect("probabilities");
            p.rul.extend(rul);
            p.probs.extend(probs.chunks(3).map(|c| [c[0], c[1], c[2]]));
            p.truth_rul.extend(y.iter().map(|&v| v as f64));
            p.truth_health.extend(h.iter().map(|&v| v as usize));
        }
    });
    p
}

/// One row of `predictions.csv`.
#[derive(Debug, Clone, Serialize)]
pub struct EnginePrediction {
    pub engine: u32,
    pub truth: f64,
    pub truth_capped: f64,
    pub prediction: f64,
    pub error: f64,
    pub health_true: usize,
    pub health_pred: usize,
    pub p_normal: f64,
    pub p_degrading: f64,
    pub p_critical: f64,
}

pub fn test_report(
    model: &DualTaskModel,
    data: &Prepared,
    batch: usize,
    device: Device,
) -> (TestReport, Vec<EnginePrediction>) {
    let refs = data.test.last_windows();
    let p = predict(model, &data.test, &refs, batch, device);
    let uncapped: Vec<f64> = data.test_truth_uncapped.iter().map(|&v| v as f64).collect();
    let classes = p.classes();
    let report = TestReport {
        engines: refs.len(),
        capped: RulScores::of(&p.rul, &p.truth_rul),
        uncapped: RulScores::of(&p.rul, &uncapped),
        health_accuracy: metrics::accuracy(&classes, &p.truth_health, 3).unwrap_or(f64::NAN),
        health_macro_f1: metrics::macro_f1(&classes, &p.truth_health, 3).unwrap_or(f64::NAN),
        confusion: metrics::confusion_matrix(&classes, &p.truth_health, 3).unwrap_or_default(),
    };
    let rows = refs
        .iter()
        .enumerate()
        .map(|(i, r)| EnginePrediction {
            engine: data.test_units.get(r.engine as usize).copied().unwrap_or(r.engine + 1),
            truth: uncapped[i],
            truth_capped: p.truth_rul[i],
            prediction: p.rul[i],
            error: p.rul[i] - uncapped[i],
            health_true: p.truth_health[i],
            health_pred: classes[i],
            p_normal: p.probs[i][0],
            p_degrading: p.probs[i][1],
            p_critical: p.probs[i][2],
        })
        .collect();
    (report, rows)
}

/// Validation engines cut at a seeded random cycle, one window each, as NASA cut the test
/// engines: a test-like figure that still uses no test data.
pub fn cut_windows(split: &Split, seed: u64) -> Vec<WindowRef> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_c0de);
    split
        .engines
        .iter()
        .enumerate()
        .filter(|(_, e)| e.n_cycles() > 0)
        .map(|(i, e)| {
            let n = e.n_cycles();
            // keep at least a tenth of the life, as the shortest NASA test engines do
            let lo = (n / 10).max(1).min(n);
            WindowRef { engine: i as u32, end: rng.gen_range(lo - 1..n) as u32 }
        })
        .collect()
}
