//! Seeded k-means (k-means++ start, Lloyd iterations, best of several restarts) for operating
//! settings of any width. Small and dependency-free because the problem is tiny; determinism matters most.

use crate::schema::Rows;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Result of one fit: centroids (one row each) in the coordinates the points were given in.
#[derive(Debug, Clone)]
pub struct KMeans {
    pub centroids: Rows,
    pub inertia: f64,
}

/// Squared distance, summed in coordinate order (the order fixes the rounding). `D > 0` promises
/// both points have D coordinates: settings are few, and a known width lets the compiler unroll.
#[inline(always)]
fn d2<const D: usize>(a: &[f64], b: &[f64]) -> f64 {
    let (a, b) = if D > 0 { (&a[..D], &b[..D]) } else { (a, b) };
    a.iter().zip(b).fold(0.0, |s, (x, y)| s + (x - y) * (x - y))
}

/// Runs `$f::<D>` with D the width when it is small (unrolled), else with 0 (any width).
macro_rules! by_width {
    ($w:expr, $f:ident($($arg:expr),*)) => {
        match $w {
            1 => $f::<1>($($arg),*),
            2 => $f::<2>($($arg),*),
            3 => $f::<3>($($arg),*),
            4 => $f::<4>($($arg),*),
            _ => $f::<0>($($arg),*),
        }
    };
}

/// Index of the nearest centroid and the squared distance to it.
pub fn nearest(p: &[f64], centroids: &Rows) -> (usize, f64) {
    assert_eq!(p.len(), centroids.width(), "point and centroids differ in width");
    by_width!(p.len(), nearest_w(p, centroids))
}

#[inline(always)]
fn nearest_w<const D: usize>(p: &[f64], centroids: &Rows) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (i, c) in centroids.iter().enumerate() {
        let d = d2::<D>(p, c);
        if d < best.1 {
            best = (i, d);
        }
    }
    best
}

fn plus_plus_init<const D: usize>(points: &Rows, k: usize, rng: &mut ChaCha8Rng) -> Rows {
    let mut cents = Rows::with_capacity(points.width(), k);
    cents.push(&points[rng.gen_range(0..points.len())]);
    let mut dist: Vec<f64> = points.iter().map(|p| d2::<D>(p, &cents[0])).collect();
    while cents.len() < k {
        let total: f64 = dist.iter().sum();
        let pick = if total > 0.0 {
            let mut r = rng.gen::<f64>() * total;
            let mut idx = points.len() - 1;
            for (i, d) in dist.iter().enumerate() {
                r -= d;
                if r <= 0.0 && *d > 0.0 {
                    idx = i;
                    break;
                }
            }
            idx
        } else {
            // Fewer distinct points than clusters: any point will do; the duplicate stays empty.
            rng.gen_range(0..points.len())
        };
        let c = &points[pick];
        for (d, p) in dist.iter_mut().zip(points.iter()) {
            *d = d.min(d2::<D>(p, c));
        }
        cents.push(c);
    }
    cents
}

fn lloyd<const D: usize>(points: &Rows, mut cents: Rows, max_iter: usize) -> KMeans {
    let (k, dim) = (cents.len(), points.width());
    let mut labels = vec![usize::MAX; points.len()];
    let mut inertia = 0.0;
    for _ in 0..max_iter.max(1) {
        let mut changed = false;
        inertia = 0.0;
        let mut sums = vec![0.0f64; k * dim];
        let mut counts = vec![0usize; k];
        for (p, l) in points.iter().zip(labels.iter_mut()) {
            let (i, d) = nearest_w::<D>(p, &cents);
            inertia += d;
            if *l != i {
                *l = i;
                changed = true;
            }
            counts[i] += 1;
            for (s, v) in sums[i * dim..(i + 1) * dim].iter_mut().zip(p) {
                *s += v;
            }
        }
        if !changed {
            break;
        }
        let mut next = Rows::with_capacity(dim, k);
        for i in 0..k {
            // An empty cluster keeps its centroid rather than becoming NaN.
            if counts[i] > 0 {
                let mean: Vec<f64> = sums[i * dim..(i + 1) * dim].iter().map(|s| s / counts[i] as f64).collect();
                next.push(&mean);
            } else {
                next.push(&cents[i]);
            }
        }
        cents = next;
    }
    KMeans { centroids: cents, inertia }
}

/// Best-inertia k-means over `restarts` k-means++ starts. `points` must be non-empty and k ≥ 1.
pub fn fit(points: &Rows, k: usize, restarts: usize, max_iter: usize, rng: &mut ChaCha8Rng) -> KMeans {
    assert!(!points.is_empty() && k >= 1, "kmeans::fit needs points and k ≥ 1");
    by_width!(points.width(), fit_w(points, k, restarts, max_iter, rng))
}

fn fit_w<const D: usize>(points: &Rows, k: usize, restarts: usize, max_iter: usize, rng: &mut ChaCha8Rng) -> KMeans {
    let mut best: Option<KMeans> = None;
    for _ in 0..restarts.max(1) {
        let init = plus_plus_init::<D>(points, k, rng);
        let m = lloyd::<D>(points, init, max_iter);
        if best.as_ref().is_none_or(|b| m.inertia < b.inertia) {
            best = Some(m);
        }
    }
    best.expect("at least one restart")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn separates_three_blobs_and_is_deterministic() {
        let mut pts = Vec::new();
        for (i, c) in [[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 5.0]].iter().enumerate() {
            for j in 0..50 {
                let e = (j as f64 - 25.0) * 0.01 + i as f64 * 0.001;
                pts.push([c[0] + e, c[1] - e, c[2] + e]);
            }
        }
        let pts: Rows = pts.into();
        let a = fit(&pts, 3, 5, 100, &mut ChaCha8Rng::seed_from_u64(1));
        let b = fit(&pts, 3, 5, 100, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(a.centroids, b.centroids);
        let mut c: Vec<&[f64]> = a.centroids.iter().collect();
        c.sort_by(|x, y| x[0].total_cmp(&y[0]).then(x[1].total_cmp(&y[1])));
        // Blob i's offsets average to −0.005 + i·0.001, so sorted by x: blob 0, blob 2, blob 1.
        assert!((c[0][0] - (-0.005)).abs() < 1e-9 && (c[0][1] - 0.005).abs() < 1e-9, "{c:?}");
        assert!((c[1][1] - 10.003).abs() < 1e-9 && (c[1][2] - 4.997).abs() < 1e-9, "{c:?}");
        assert!((c[2][0] - 9.996).abs() < 1e-9, "{c:?}");
    }

    #[test]
    fn more_clusters_than_distinct_points_does_not_produce_nan() {
        let pts: Rows = vec![[1.0, 2.0, 3.0]; 10].into();
        let m = fit(&pts, 4, 3, 10, &mut ChaCha8Rng::seed_from_u64(0));
        assert!(m.centroids.values().iter().all(|v| v.is_finite()));
        assert_eq!(m.inertia, 0.0);
    }
}
