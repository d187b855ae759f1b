//! SPEC §7 before training: per-task gradient norms and their cosine on the shared parameters of
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
use grace_data::{prepare, Prepared, RawSubset};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::time::Instant;
use tch::{Kind, Tensor};

/// Largest number of operating conditions tried when inferring them from the settings.
pub const MAX_CONDITIONS: usize = 8;
/// k clusters of the settings explain them when the within-cluster sum of squares is at most
/// this share of the total (conditions are tight points; noise alone never gets close).
pub const CONDITION_INERTIA_SHARE: f64 = 1e-3;
/// Fault modes are counted as distinct when their mean degradation directions are more than 60°
/// apart (cosine below 0.5); engines of one mode differ far less than that.
pub const FAULT_MODE_MAX_COSINE: f64 = 0.5;
/// Cycles averaged at the start and at the end of each engine's life for its degradation direction.
pub const LIFE_EDGE_CYCLES: usize = 30;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quartiles {
    pub min: f64,
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    pub max: f64,
}

impl Quartiles {
    /// Linear-interpolation quantiles (numpy's default); NaNs must be filtered by the caller.
    pub fn of(xs: &[f64]) -> Quartiles {
        let mut v = xs.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        let q = |p: f64| {
            if v.is_empty() {
                return f64::NAN;
            }
            let h = p * (v.len() - 1) as f64;
            let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
            v[lo] + (h - lo as f64) * (v[hi] - v[lo])
        };
        Quartiles { min: q(0.0), q1: q(0.25), median: q(0.5), q3: q(0.75), max: q(1.0) }
    }
}

/// One measured batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchMeasure {
    pub loss_rul: f64,
    pub loss_health: f64,
    pub g_rul: f64,
    pub g_health: f64,
    /// g_rul / g_health.
    pub ratio_rul_health: f64,
    /// g_max / g_min, the quantity of the SPEC §7 rule.
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
pub struct NearFailure {
    /// Share of training windows whose RUL target is at most `threshold` cycles (health class critical).
    pub share: f64,
    pub windows: usize,
    pub total_windows: usize,
    pub threshold: f64,
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
            "k-means on the 3 operating settings (scaled by their std) for k = 1..{MAX_CONDITIONS}: the smallest k whose within-cluster sum of squares is ≤ {CONDITION_INERTIA_SHARE} of the total"
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

/// Share of training windows in the critical health class (RUL ≤ the critical threshold).
pub fn near_failure(data: &Prepared) -> NearFailure {
    let threshold = data.preprocessing.config.health.critical_at_or_below;
    let windows = data.train.windows();
    let near = windows
        .iter()
        .filter(|w| data.train.engines[w.engine as usize].rul[w.end as usize] as f64 <= threshold)
        .count();
    NearFailure {
        share: near as f64 / windows.len().max(1) as f64,
        windows: near,
        total_windows: windows.len(),
        threshold,
    }
}

/// The number of operating conditions and the within-cluster share of the settings' sum of
/// squares for each k tried (see [`CONDITION_INERTIA_SHARE`]).
pub fn infer_conditions(raw: &RawSubset, seed: u64) -> (usize, Vec<f64>) {
    let rows: Vec<[f64; 3]> = raw.train.iter().flat_map(|e| e.settings.iter().copied()).collect();
    if rows.is_empty() {
        return (1, vec![]);
    }
    // A seeded subsample keeps the k-means sweep fast; conditions are visited thousands of times.
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let pts: Vec<[f64; 3]> =
        if rows.len() > 4000 { (0..4000).map(|_| rows[rng.gen_range(0..rows.len())]).collect() } else { rows };
    let n = pts.len() as f64;
    let mut mean = [0.0; 3];
    for p in &pts {
        (0..3).for_each(|j| mean[j] += p[j] / n);
    }
    let mut scale = [1.0; 3];
    for (j, s) in scale.iter_mut().enumerate() {
        let sd = (pts.iter().map(|p| (p[j] - mean[j]).powi(2)).sum::<f64>() / n).sqrt();
        // Relative, because a constant setting (TRA = 100) leaves rounding noise of ~1e-13.
        if sd > 1e-9 * mean[j].abs().max(1.0) {
            *s = sd;
        }
    }
    let scaled: Vec<[f64; 3]> = pts
        .iter()
        .map(|p| [(p[0] - mean[0]) / scale[0], (p[1] - mean[1]) / scale[1], (p[2] - mean[2]) / scale[2]])
        .collect();
    let total: f64 = scaled.iter().map(|p| p.iter().map(|v| v * v).sum::<f64>()).sum();
    if total <= 0.0 {
        return (1, vec![0.0]);
    }
    let mut shares = Vec::new();
    let mut found = None;
    for k in 1..=MAX_CONDITIONS.min(scaled.len()) {
        let km = grace_data::kmeans::fit(&scaled, k, 4, 100, &mut rng);
        // Recomputed from the final centroids so the share is exactly that of the answer.
        let within: f64 = scaled.iter().map(|p| grace_data::kmeans::nearest(p, &km.centroids).1).sum();
        let share = within / total;
        shares.push(share);
        if found.is_none() && share <= CONDITION_INERTIA_SHARE {
            found = Some(k);
            break;
        }
    }
    // Settings that never cluster tightly (one regime with noise) count as one condition.
    (found.unwrap_or(1), shares)
}

pub struct FaultModes {
    pub k: usize,
    pub max_cosine: Vec<f64>,
    pub sizes: Vec<usize>,
    pub engines: usize,
}

/// Fault modes from the engines' degradation directions (see [`FAULT_MODE_MAX_COSINE`]).
/// Uses the training and validation engines, sensor features only (settings carry no wear).
pub fn infer_fault_modes(data: &Prepared, seed: u64) -> FaultModes {
    let names = &data.preprocessing.feature_names;
    let cols: Vec<usize> = (0..names.len()).filter(|&f| names[f].starts_with('s') && names[f].contains('_')).collect();
    let nf = data.train.n_features;
    let mut dirs: Vec<Vec<f64>> = Vec::new();
    for e in data.train.engines.iter().chain(&data.val.engines) {
        let n = e.n_cycles();
        let w = LIFE_EDGE_CYCLES.min(n / 4);
        if w == 0 {
            continue;
        }
        let avg = |range: std::ops::Range<usize>| -> Vec<f64> {
            cols.iter().map(|&f| range.clone().map(|c| e.features[c * nf + f] as f64).sum::<f64>() / w as f64).collect()
        };
        let (early, late) = (avg(0..w), avg(n - w..n));
        let d: Vec<f64> = late.iter().zip(&early).map(|(l, s)| l - s).collect();
        let norm = d.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm > 0.0 && norm.is_finite() {
            dirs.push(d.iter().map(|v| v / norm).collect());
        }
    }
    let engines = dirs.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_fa17);
    let mut best = FaultModes { k: 1, max_cosine: Vec::new(), sizes: vec![engines], engines };
    for k in 2..=3 {
        if dirs.len() < 2 * k {
            break;
        }
        let (centroids, labels) = kmeans_nd(&dirs, k, 10, 100, &mut rng);
        let mut worst = f64::NEG_INFINITY;
        for a in 0..k {
            for b in a + 1..k {
                worst = worst.max(cosine(&centroids[a], &centroids[b]));
            }
        }
        best.max_cosine.push(worst);
        if worst < FAULT_MODE_MAX_COSINE {
            best.k = k;
            best.sizes = (0..k).map(|j| labels.iter().filter(|&&l| l == j).count()).collect();
        }
    }
    best
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn d2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Best-inertia k-means (k-means++ start, Lloyd) in any dimension; returns centroids and labels.
pub fn kmeans_nd(
    pts: &[Vec<f64>],
    k: usize,
    restarts: usize,
    max_iter: usize,
    rng: &mut ChaCha8Rng,
) -> (Vec<Vec<f64>>, Vec<usize>) {
    let dim = pts[0].len();
    let mut best: Option<(f64, Vec<Vec<f64>>, Vec<usize>)> = None;
    for _ in 0..restarts.max(1) {
        let mut c: Vec<Vec<f64>> = vec![pts[rng.gen_range(0..pts.len())].clone()];
        while c.len() < k {
            let d: Vec<f64> = pts.iter().map(|p| c.iter().map(|q| d2(p, q)).fold(f64::INFINITY, f64::min)).collect();
            let total: f64 = d.iter().sum();
            let pick = if total > 0.0 {
                let mut r = rng.gen::<f64>() * total;
                d.iter()
                    .position(|&v| {
                        r -= v;
                        r <= 0.0
                    })
                    .unwrap_or(pts.len() - 1)
            } else {
                rng.gen_range(0..pts.len())
            };
            c.push(pts[pick].clone());
        }
        let mut labels = vec![0; pts.len()];
        for it in 0..max_iter {
            let mut changed = false;
            for (i, p) in pts.iter().enumerate() {
                let l = (0..k).min_by(|&a, &b| d2(p, &c[a]).total_cmp(&d2(p, &c[b]))).unwrap_or(0);
                changed |= l != labels[i];
                labels[i] = l;
            }
            if !changed && it > 0 {
                break;
            }
            for (j, cj) in c.iter_mut().enumerate() {
                let members: Vec<&Vec<f64>> =
                    pts.iter().zip(&labels).filter(|(_, &l)| l == j).map(|(p, _)| p).collect();
                if !members.is_empty() {
                    *cj = (0..dim).map(|f| members.iter().map(|p| p[f]).sum::<f64>() / members.len() as f64).collect();
                }
            }
        }
        let inertia: f64 = pts.iter().zip(&labels).map(|(p, &l)| d2(p, &c[l])).sum();
        if best.as_ref().is_none_or(|b| inertia < b.0) {
            best = Some((inertia, c, labels));
        }
    }
    let (_, c, l) = best.expect("at least one restart");
    (c, l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartiles_interpolate_like_numpy() {
        // [1, 2, 3, 4]: q1 at h = 0.75 → 1.75, median 2.5, q3 at h = 2.25 → 3.25
        let q = Quartiles::of(&[4.0, 1.0, 3.0, 2.0]);
        assert_eq!((q.min, q.q1, q.median, q.q3, q.max), (1.0, 1.75, 2.5, 3.25, 4.0));
    }

    #[test]
    fn kmeans_nd_separates_two_directions() {
        // 10 points near (1, 0) and 10 near (0, 1): two clusters, centroids 90° apart (cosine ≈ 0).
        let mut pts = Vec::new();
        for i in 0..10 {
            let e = i as f64 * 0.01;
            pts.push(vec![1.0, e]);
            pts.push(vec![e, 1.0]);
        }
        let (c, l) = kmeans_nd(&pts, 2, 3, 50, &mut ChaCha8Rng::seed_from_u64(0));
        assert!(cosine(&c[0], &c[1]) < 0.1);
        assert_eq!(l.iter().filter(|&&x| x == l[0]).count(), 10);
    }
}
