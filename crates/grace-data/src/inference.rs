//! What a data set's own numbers say about it, without a model: its operating conditions and fault
//! modes (docs/reference.md §7) and the share of near-failure windows. Used by `grace diagnose`.

use crate::kmeans;
use crate::parse::RawSubset;
use crate::prep::Prepared;
use crate::schema::Rows;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

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

/// Training rows subsampled (seeded) for the condition sweep.
const SAMPLE_ROWS: usize = 4000;

/// Five-number summary of a sample.
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NearFailure {
    /// Share of training windows whose RUL target is at most `threshold` cycles (health class critical).
    pub share: f64,
    pub windows: usize,
    pub total_windows: usize,
    pub threshold: f64,
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
    let dim = raw.schema.n_settings();
    let n_rows = raw.train_rows();
    if n_rows == 0 {
        return (1, vec![]);
    }
    let rows = || raw.train.iter().flat_map(|e| e.settings.iter());
    // A seeded subsample keeps the k-means sweep fast; conditions are visited thousands of times.
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut pts = Rows::with_capacity(dim, n_rows.min(SAMPLE_ROWS));
    if n_rows > SAMPLE_ROWS {
        let all: Vec<&[f64]> = rows().collect();
        (0..SAMPLE_ROWS).for_each(|_| pts.push(all[rng.gen_range(0..n_rows)]));
    } else {
        rows().for_each(|r| pts.push(r));
    }
    let scaled = standardised(&pts);
    let total: f64 = scaled.iter().map(|p| p.iter().map(|v| v * v).sum::<f64>()).sum();
    if total <= 0.0 {
        return (1, vec![0.0]);
    }
    let mut shares = Vec::new();
    let mut found = None;
    for k in 1..=MAX_CONDITIONS.min(scaled.len()) {
        let km = kmeans::fit(&scaled, k, 4, 100, &mut rng);
        // Recomputed from the final centroids so the share is exactly that of the answer.
        let within: f64 = scaled.iter().map(|p| kmeans::nearest(p, &km.centroids).1).sum();
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

/// Points centred on their mean and divided by their std, per coordinate; a coordinate whose std
/// is only rounding noise (relative, as a constant TRA = 100 leaves ~1e-13) is left unscaled.
fn standardised(pts: &Rows) -> Rows {
    let (dim, n) = (pts.width(), pts.len() as f64);
    let mut mean = vec![0.0; dim];
    for p in pts.iter() {
        (0..dim).for_each(|j| mean[j] += p[j] / n);
    }
    let mut scale = vec![1.0; dim];
    for (j, s) in scale.iter_mut().enumerate() {
        let sd = (pts.iter().map(|p| (p[j] - mean[j]).powi(2)).sum::<f64>() / n).sqrt();
        if sd > 1e-9 * mean[j].abs().max(1.0) {
            *s = sd;
        }
    }
    let mut out = Rows::with_capacity(dim, pts.len());
    let mut q = vec![0.0; dim];
    for p in pts.iter() {
        (0..dim).for_each(|j| q[j] = (p[j] - mean[j]) / scale[j]);
        out.push(&q);
    }
    out
}

/// Fault modes found by [`infer_fault_modes`].
#[derive(Debug, Clone, PartialEq)]
pub struct FaultModes {
    pub k: usize,
    pub max_cosine: Vec<f64>,
    pub sizes: Vec<usize>,
    pub engines: usize,
}

/// Fault modes from the engines' degradation directions (see [`FAULT_MODE_MAX_COSINE`]).
/// Uses the training and validation engines, sensor features only (settings carry no wear).
pub fn infer_fault_modes(data: &Prepared, seed: u64) -> FaultModes {
    let cols = data.preprocessing.sensor_features();
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

    fn engine(unit: u32, settings: Vec<[f64; 3]>) -> crate::RawEngine {
        let n = settings.len();
        crate::RawEngine {
            unit,
            cycles: n as u32,
            settings: settings.into(),
            sensors: vec![[0.0; 21]; n].into(),
            rul: Vec::new(),
        }
    }

    #[test]
    fn conditions_are_counted_from_tight_setting_clusters() {
        // Three exact regimes, flown in turn: k = 3 explains them (share 0); constant settings are one.
        let regimes = [[0.0, 0.0, 100.0], [20.0, 0.7, 100.0], [42.0, 0.84, 60.0]];
        let rows: Vec<[f64; 3]> = (0..60).map(|i| regimes[i % 3]).collect();
        let mut raw = crate::synthetic::fleet(&crate::SyntheticConfig { n_train: 1, n_test: 1, ..Default::default() });
        raw.train = vec![engine(1, rows)];
        let (k, shares) = infer_conditions(&raw, 0);
        assert_eq!((k, shares.len()), (3, 3));
        assert!((shares[0] - 1.0).abs() < 1e-12 && shares[1] > 0.1 && shares[2] < 1e-12, "{shares:?}");
        raw.train = vec![engine(1, vec![[1.0, 2.0, 3.0]; 10])];
        assert_eq!(infer_conditions(&raw, 0), (1, vec![0.0]));
    }
}
