//! Thinning long per-step series (tens of thousands of optimizer steps) to a few hundred points
//! for plotting, by averaging consecutive buckets so trends survive and noise is smoothed.

/// Averages (x, y) in at most `max_points` consecutive buckets of equal size, skipping pairs with
/// a non-finite value; series already short enough are returned as they are (finite pairs only).
pub fn bucket_mean(x: &[f64], y: &[f64], max_points: usize) -> Vec<(f64, f64)> {
    let pts: Vec<(f64, f64)> =
        x.iter().zip(y).filter(|(a, b)| a.is_finite() && b.is_finite()).map(|(a, b)| (*a, *b)).collect();
    let max_points = max_points.max(1);
    if pts.len() <= max_points {
        return pts;
    }
    let n = pts.len();
    (0..max_points)
        .filter_map(|k| {
            let (lo, hi) = (k * n / max_points, (k + 1) * n / max_points);
            let b = &pts[lo..hi];
            (!b.is_empty()).then(|| {
                (
                    b.iter().map(|p| p.0).sum::<f64>() / b.len() as f64,
                    b.iter().map(|p| p.1).sum::<f64>() / b.len() as f64,
                )
            })
        })
        .collect()
}

/// Like [`bucket_mean`] on log10(y) (a geometric mean), for ratios that span decades; y ≤ 0 is skipped.
pub fn bucket_log_mean(x: &[f64], y: &[f64], max_points: usize) -> Vec<(f64, f64)> {
    let ly: Vec<f64> = y.iter().map(|v| if *v > 0.0 { v.log10() } else { f64::NAN }).collect();
    bucket_mean(x, &ly, max_points).into_iter().map(|(a, b)| (a, 10f64.powf(b))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_average_and_keep_the_span() {
        let x: Vec<f64> = (0..10).map(|i| i as f64).collect();
        let y: Vec<f64> = x.iter().map(|v| 2.0 * v).collect();
        let d = bucket_mean(&x, &y, 5);
        assert_eq!(d, vec![(0.5, 1.0), (2.5, 5.0), (4.5, 9.0), (6.5, 13.0), (8.5, 17.0)]);
        assert_eq!(bucket_mean(&x, &y, 100).len(), 10);
        let n = 25_000;
        let big: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let d = bucket_mean(&big, &big, 400);
        assert_eq!(d.len(), 400);
        assert!(d[0].0 < 100.0 && d[399].0 > (n - 100) as f64);
    }

    #[test]
    fn nan_pairs_are_skipped_and_log_mean_is_geometric() {
        let d = bucket_mean(&[0.0, 1.0, 2.0], &[1.0, f64::NAN, 3.0], 10);
        assert_eq!(d, vec![(0.0, 1.0), (2.0, 3.0)]);
        let g = bucket_log_mean(&[0.0, 1.0], &[10.0, 1000.0], 1);
        assert!((g[0].1 - 100.0).abs() < 1e-9);
    }
}
