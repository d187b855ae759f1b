//! docs/reference.md §7 before training: per-task gradient norms and their cosine on the shared parameters of
//! the seeded initial model, the dataset's complexity inferred from its data, and the method rules.
//!
//! Decided: gradients are measured in *train* mode (dropout on, batch norm on batch statistics),
//! because that is exactly what the trainer and its controller see at the first steps; the
//! dropout masks are seeded, so the numbers are reproducible. The RUL loss is plain MSE (the
//! task as GABA balances it; the weighted MSE would scale it by w ∈ [1, 2]). Batches are drawn
//! without replacement from the seeded shuffled training windows, as the first epoch would.

use crate::config::RunConfig;
use crate::model::{trainable, Group};
use crate::step::{task_losses, Batch, Params};
use crate::train::{load_raw, seeded_model};
use anyhow::bail;
use grace_core::rules::{recommend, CostShape, Recommendation};
use grace_data::inference::{infer_conditions, infer_fault_modes, near_failure};
pub use grace_data::inference::{
    FaultModes, NearFailure, Quartiles, CONDITION_INERTIA_SHARE, FAULT_MODE_MAX_COSINE, LIFE_EDGE_CYCLES,
    MAX_CONDITIONS,
};
use grace_data::{prepare, Prepared};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::time::Instant;
use tch::{Kind, Tensor};

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
    pub gradients: Gradients,
    pub complexity: Complexity,
    pub near_failure: NearFailure,
    /// The rule inputs: median g_max/g_min and median cosine over the batches.
    pub rule_ratio: f64,
    pub rule_cosine: f64,
    pub recommendation: Recommendation,
    pub seconds: f64,
}

/// Runs the whole diagnosis for a resolved run config (its data, model, seed, batch size, device).
pub fn diagnose(cfg: &RunConfig, n_batches: usize, cost: CostShape) -> anyhow::Result<Diagnosis> {
    let t0 = Instant::now();
    if n_batches == 0 {
        bail!("--batches must be at least 1");
    }
    let raw = load_raw(cfg)?;
    let (conditions, shares) = infer_conditions(&raw, cfg.data.prep.seed);
    let data = prepare(&raw, &cfg.data.prep)?;
    // The fault-mode analysis normalises per *inferred* condition so no table enters it; when
    // the inference agrees with the configured preprocessing, that one is reused.
    let for_modes = if data.preprocessing.n_conditions() == conditions {
        None
    } else {
        let mut p = cfg.data.prep.clone();
        p.n_conditions = Some(conditions);
        Some(prepare(&raw, &p)?)
    };
    let modes = infer_fault_modes(for_modes.as_ref().unwrap_or(&data), cfg.data.prep.seed);
    let complexity = Complexity {
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
    };
    let near_failure = near_failure(&data);
    let gradients = measure_gradients(cfg, &data, n_batches)?;
    let rule_ratio = gradients.ratio_max_min.median;
    let rule_cosine = gradients.cosine.median;
    let recommendation = recommend(rule_ratio, rule_cosine, cost)?;
    Ok(Diagnosis {
        subset: data.name.clone(),
        preset: cfg.model.preset.clone(),
        seed: cfg.train.seed,
        cost,
        gradients,
        complexity,
        near_failure,
        rule_ratio,
        rule_cosine,
        recommendation,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Per-task gradient norms and cosine on the shared parameters over `n` seeded batches.
pub fn measure_gradients(cfg: &RunConfig, data: &Prepared, n: usize) -> anyhow::Result<Gradients> {
    let (device, vs, model) = seeded_model(cfg)?;
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
    let split = &data.train;
    let (mut x, mut rul, mut health) = (Vec::new(), Vec::new(), Vec::new());
    let mut per_batch = Vec::with_capacity(n);
    for b in 0..n {
        // Without replacement while the windows last, then around again.
        let start = (b * bsz) % windows.len();
        let refs: Vec<_> = (0..bsz).map(|j| windows[(start + j) % windows.len()]).collect();
        split.gather(&refs, &mut x, &mut rul, &mut health);
        let nb = refs.len() as i64;
        let batch = Batch {
            x: Tensor::from_slice(&x).view([nb, split.window as i64, split.n_features as i64]).to_device(device),
            rul: Tensor::from_slice(&rul).to_device(device),
            health: Tensor::from_slice(&health).to_device(device),
            sample_weights: None,
        };
        let (l_r, l_h) = task_losses(&model, &batch, true);
        let g_h = Tensor::run_backward(&[&l_h], &shared, true, false);
        let g_r = Tensor::run_backward(&[&l_r], &shared, false, false);
        let terms: Vec<Tensor> = g_r
            .iter()
            .zip(&g_h)
            .map(|(r, h)| {
                Tensor::stack(
                    &[r.square().sum(Kind::Double), h.square().sum(Kind::Double), (r * h).sum(Kind::Double)],
                    0,
                )
            })
            .collect();
        let s: Vec<f64> = Vec::try_from(&Tensor::stack(&terms, 0).sum_dim_intlist(0, false, Kind::Double))?;
        let (gr, gh) = (s[0].sqrt(), s[1].sqrt());
        let losses: Vec<f64> = Vec::try_from(&Tensor::stack(&[l_r.detach(), l_h.detach()], 0).to_kind(Kind::Double))?;
        if !(gr.is_finite() && gh.is_finite() && gr > 0.0 && gh > 0.0) {
            bail!("batch {b}: unusable gradient norms g_rul = {gr}, g_health = {gh}");
        }
        per_batch.push(BatchMeasure {
            loss_rul: losses[0],
            loss_health: losses[1],
            g_rul: gr,
            g_health: gh,
            ratio_rul_health: gr / gh,
            ratio_max_min: gr.max(gh) / gr.min(gh),
            cosine: s[2] / (gr * gh),
        });
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
