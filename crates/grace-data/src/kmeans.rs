//! Seeded k-means (k-means++ start, Lloyd iterations, best of several restarts) for the 3 settings.
//! Small and dependency-free because the problem is tiny (≤ 6 clusters in 3-D); determinism matters most.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Result of one fit: centroids in the coordinates the points were given in.
#[derive(Debug, Clone)]
pub struct KMeans {
    pub centroids: Vec<[f64; 3]>,
    pub inertia: f64,
}

fn d2(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    let (x, y, z) = (a[0] - b[0], a[1] - b[1], a[2] - b[2]);
    x * x + y * y + z * z
}

/// Index of the nearest centroid and the squared distance to it.
pub fn nearest(p: &[f64; 3], centroids: &[[f64; 3]]) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (i, c) in centroids.iter().enumerate() {
        let d = d2(p, c);
        if d < best.1 {
            best = (i, d);
        }
    }
    best
}

fn plus_plus_init(points: &[[f64; 3]], k: usize, rng: &mut ChaCha8Rng) -> Vec<[f64; 3]> {
    let mut cents = vec![points[rng.gen_range(0..points.len())]];
    let mut dist: Vec<f64> = points.iter().map(|p| d2(p, &cents[0])).collect();
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
        let c = points[pick];
        for (d, p) in dist.iter_mut().zip(points) {
            *d = d.min(d2(p, &c));
        }
        cents.push(c);
    }
    cents
}

fn lloyd(points: &[[f64; 3]], mut cents: Vec<[f64; 3]>, max_iter: usize) -> KMeans {
    let k = cents.len();
    let mut labels = vec![usize::MAX; points.len()];
    let mut inertia = 0.0;
    for _ in 0..max_iter.max(1) {
        let mut changed = false;
        inertia = 0.0;
        let mut sums = vec![[0.0f64; 3]; k];
        let mut counts = vec![0usize; k];
        for (p, l) in points.iter().zip(labels.iter_mut()) {
            let (i, d) = nearest(p, &cents);
            inertia += d;
            if *l != i {
                *l = i;
                changed = true;
            }
            counts[i] += 1;
            for j in 0..3 {
                sums[i][j] += p[j];
            }
        }
        if !changed {
            break;
        }
        for i in 0..k {
            // An empty cluster keeps its centroid rather than becoming NaN.
            if counts[i] > 0 {
                for j in 0..3 {
                    cents[i][j] = sums[i][j] / counts[i] as f64;
                }
            }
        }
    }
    KMeans { centroids: cents, inertia }
}

/// Best-inertia k-means over `restarts` k-means++ starts. `points` must be non-empty and k ≥ 1.
pub fn fit(points: &[[f64; 3]], k: usize, restarts: usize, max_iter: usize, rng: &mut ChaCha8Rng) -> KMeans {
    assert!(!points.is_empty() && k >= 1, "kmeans::fit needs points and k ≥ 1");
    let mut best: Option<KMeans> = None;
    for _ in 0..restarts.max(1) {
        let init = plus_plus_init(points, k, rng);
        let m = lloyd(points, init, max_iter);
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
        let a = fit(&pts, 3, 5, 100, &mut ChaCha8Rng::seed_from_u64(1));
        let b = fit(&pts, 3, 5, 100, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(a.centroids, b.centroids);
        let mut c = a.centroids.clone();
        c.sort_by(|x, y| x[0].total_cmp(&y[0]).then(x[1].total_cmp(&y[1])));
        // Blob i's offsets average to −0.005 + i·0.001, so sorted by x: blob 0, blob 2, blob 1.
        assert!((c[0][0] - (-0.005)).abs() < 1e-9 && (c[0][1] - 0.005).abs() < 1e-9, "{c:?}");
        assert!((c[1][1] - 10.003).abs() < 1e-9 && (c[1][2] - 4.997).abs() < 1e-9, "{c:?}");
        assert!((c[2][0] - 9.996).abs() < 1e-9, "{c:?}");
    }

    #[test]
    fn more_clusters_than_distinct_points_does_not_produce_nan() {
        let pts = vec![[1.0, 2.0, 3.0]; 10];
        let m = fit(&pts, 4, 3, 10, &mut ChaCha8Rng::seed_from_u64(0));
        assert!(m.centroids.iter().flatten().all(|v| v.is_finite()));
        assert_eq!(m.inertia, 0.0);
    }
}
