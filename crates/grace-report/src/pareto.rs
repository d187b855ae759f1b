//! The Pareto front of (RMSE, NASA) points, both to be minimised: the methods no other method
//! beats on both metrics at once, which is what the sweep scatter highlights.

/// Indices of the non-dominated points, sorted by the first coordinate. A point is dominated
/// when another is no worse in both coordinates and better in one; points with a NaN are ignored
/// and exact ties are all kept (neither dominates the other).
pub fn pareto_front(points: &[(f64, f64)]) -> Vec<usize> {
    let ok = |p: &(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let dominates = |a: &(f64, f64), b: &(f64, f64)| a.0 <= b.0 && a.1 <= b.1 && (a.0 < b.0 || a.1 < b.1);
    let mut front: Vec<usize> = (0..points.len())
        .filter(|&i| ok(&points[i]) && !points.iter().any(|q| ok(q) && dominates(q, &points[i])))
        .collect();
    front.sort_by(|&a, &b| points[a].0.total_cmp(&points[b].0).then(points[a].1.total_cmp(&points[b].1)));
    front
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_made_front() {
        //            0           1            2           3           4            5 (tie with 1)  6 NaN
        let p =
            [(10.0, 150.0), (9.0, 200.0), (11.0, 120.0), (10.5, 160.0), (12.0, 125.0), (9.0, 200.0), (f64::NAN, 1.0)];
        // 3 is dominated by 0; 4 by 2; 1 and 5 are identical and both kept; NaN ignored.
        assert_eq!(pareto_front(&p), vec![1, 5, 0, 2]);
    }

    #[test]
    fn single_best_point_dominates_all() {
        let p = [(5.0, 5.0), (6.0, 5.0), (5.0, 6.0), (7.0, 7.0)];
        assert_eq!(pareto_front(&p), vec![0]);
        assert!(pareto_front(&[]).is_empty());
    }
}
