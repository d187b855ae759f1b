//! Dense K×K arithmetic for the Gram-matrix methods (K = number of tasks, a handful): a symmetric
//! eigen-decomposition, pseudo-inverse solves and the two small quadratic programs they need.
//!
//! Matrices are row-major `&[f64]` of length K·K. Nothing here allocates more than a few K² vectors,
//! and nothing divides by a value it has not checked, so finite inputs give finite outputs.

/// `A x` for a row-major K×K `a` and `x` of length K.
pub fn mat_vec(a: &[f64], x: &[f64]) -> Vec<f64> {
    let k = x.len();
    (0..k).map(|i| dot(&a[i * k..(i + 1) * k], x)).collect()
}

pub fn dot(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}

/// `xᵀ A x`.
pub fn quad_form(a: &[f64], x: &[f64]) -> f64 {
    dot(x, &mat_vec(a, x))
}

pub fn trace(a: &[f64], k: usize) -> f64 {
    (0..k).map(|i| a[i * k + i]).sum()
}

/// The Gram matrix divided by its trace (`Σ_i ‖g_i‖²`) and symmetrised, so that every method works
/// on entries of order one whatever the gradient scale. `None` when an entry is not finite or the
/// trace is not positive (every gradient is zero): no direction can be derived from it.
pub fn normalized_gram(gram: &[f64], k: usize) -> Option<Vec<f64>> {
    if gram.len() != k * k || gram.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let tr = trace(gram, k);
    if !(tr.is_finite() && tr > 0.0) {
        return None;
    }
    let mut g = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..k {
            g[i * k + j] = 0.5 * (gram[i * k + j] + gram[j * k + i]) / tr;
        }
    }
    Some(g)
}

/// Eigenvalues (ascending) and eigenvectors (`vectors[i * k + j]` = component i of vector j) of a
/// symmetric matrix, by cyclic Jacobi rotations: slow in K³ per sweep but exact to rounding and
/// unconditionally stable, which is what matters for K ≤ 10.
pub struct SymEigen {
    pub values: Vec<f64>,
    pub vectors: Vec<f64>,
}

pub fn sym_eigen(a: &[f64], k: usize) -> SymEigen {
    let mut m: Vec<f64> = (0..k * k).map(|ij| 0.5 * (a[ij] + a[(ij % k) * k + ij / k])).collect();
    let mut v = vec![0.0; k * k];
    for i in 0..k {
        v[i * k + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..k)
            .flat_map(|i| (0..k).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| m[i * k + j].powi(2))
            .sum();
        let total: f64 = m.iter().map(|x| x * x).sum();
        if off <= 1e-32 * total {
            break;
        }
        for p in 0..k {
            for q in p + 1..k {
                rotate(&mut m, &mut v, k, p, q);
            }
        }
    }
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&i, &j| m[i * k + i].total_cmp(&m[j * k + j]));
    let values = order.iter().map(|&j| m[j * k + j]).collect();
    let mut vectors = vec![0.0; k * k];
    for (col, &j) in order.iter().enumerate() {
        for i in 0..k {
            vectors[i * k + col] = v[i * k + j];
        }
    }
    SymEigen { values, vectors }
}

/// One Jacobi rotation zeroing `m[p][q]` (the stable tan-half-angle form).
fn rotate(m: &mut [f64], v: &mut [f64], k: usize, p: usize, q: usize) {
    let apq = m[p * k + q];
    if apq == 0.0 {
        return;
    }
    let theta = (m[q * k + q] - m[p * k + p]) / (2.0 * apq);
    // signum(0) = 1, so equal diagonals rotate by 45°; a huge θ gives t = 0, no rotation
    let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
    let c = 1.0 / (t * t + 1.0).sqrt();
    let s = t * c;
    for r in 0..k {
        let (mrp, mrq) = (m[r * k + p], m[r * k + q]);
        m[r * k + p] = c * mrp - s * mrq;
        m[r * k + q] = s * mrp + c * mrq;
    }
    for r in 0..k {
        let (mpr, mqr) = (m[p * k + r], m[q * k + r]);
        m[p * k + r] = c * mpr - s * mqr;
        m[q * k + r] = s * mpr + c * mqr;
    }
    for r in 0..k {
        let (vrp, vrq) = (v[r * k + p], v[r * k + q]);
        v[r * k + p] = c * vrp - s * vrq;
        v[r * k + q] = s * vrp + c * vrq;
    }
}

/// `A⁺ b` for a symmetric `A`, dropping eigenvalues with `|λ| ≤ rtol · max|λ|` (the convention of
/// `torch.linalg.pinv`): the minimum-norm least-squares solution, zero for a zero matrix.
pub fn pinv_solve(a: &[f64], k: usize, b: &[f64], rtol: f64) -> Vec<f64> {
    let e = sym_eigen(a, k);
    let top = e.values.iter().fold(0.0f64, |m, l| m.max(l.abs()));
    let mut x = vec![0.0; k];
    if top == 0.0 {
        return x;
    }
    for (j, &l) in e.values.iter().enumerate() {
        if l.abs() <= rtol * top {
            continue;
        }
        let coef = (0..k).map(|i| e.vectors[i * k + j] * b[i]).sum::<f64>() / l;
        for (i, xi) in x.iter_mut().enumerate() {
            *xi += coef * e.vectors[i * k + j];
        }
    }
    x
}

/// The default pseudo-inverse cut-off: `K · ε` relative, as `torch.linalg.pinv` uses.
pub fn default_rtol(k: usize) -> f64 {
    k as f64 * f64::EPSILON
}

/// Which constraint set the small quadratic program lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feasible {
    /// `x ≥ 0`.
    NonNegative,
    /// `x ≥ 0, Σ x = 1` (the probability simplex).
    Simplex,
}

/// `argmin ½ xᵀ H x + cᵀ x` over `set`, for a symmetric positive semi-definite `H` with `c` in the
/// range of `H` (true of every caller: `H` is a Gram matrix, possibly plus a ridge, and `c = H y`),
/// so that each equality-constrained sub-problem is bounded and its pseudo-inverse solution exact.
///
/// A primal active-set method (Lawson–Hanson for bounds, Wolfe's for the simplex): finite in exact
/// arithmetic; the iteration cap only guards against cycling on rounding ties, and on reaching it
/// the current point, which is always feasible, is returned. When the minimiser is not unique
/// (singular `H`) one minimiser is returned; the direction `Σ x_i g_i` it gives is the same for all.
pub fn small_qp(h: &[f64], c: &[f64], set: Feasible) -> Vec<f64> {
    let k = c.len();
    let scale = h.iter().chain(c).fold(1e-300f64, |m, x| m.max(x.abs()));
    let tol = 1e-13 * scale;
    let (mut x, mut free) = match set {
        Feasible::NonNegative => (vec![0.0; k], vec![false; k]),
        Feasible::Simplex => {
            let best = (0..k).min_by(|&i, &j| (0.5 * h[i * k + i] + c[i]).total_cmp(&(0.5 * h[j * k + j] + c[j])));
            let j0 = best.unwrap_or(0);
            let mut x = vec![0.0; k];
            x[j0] = 1.0;
            let mut free = vec![false; k];
            free[j0] = true;
            (x, free)
        }
    };
    for _ in 0..(10 * k + 20) {
        let grad: Vec<f64> = mat_vec(h, &x).iter().zip(c).map(|(a, b)| a + b).collect();
        let Some(enter) = most_violated(&grad, &free, set, tol) else { break };
        free[enter] = true;
        if !descend_on_free_set(h, c, set, &mut x, &mut free, enter) {
            break;
        }
    }
    finish(x, set)
}

/// The bound whose release most decreases the objective, if any decreases it by more than `tol`.
fn most_violated(grad: &[f64], free: &[bool], set: Feasible, tol: f64) -> Option<usize> {
    let n_free = free.iter().filter(|f| **f).count();
    let mu = match set {
        Feasible::Simplex if n_free > 0 => {
            grad.iter().zip(free).filter(|(_, f)| **f).map(|(g, _)| g).sum::<f64>() / n_free as f64
        }
        _ => 0.0,
    };
    (0..grad.len()).filter(|&i| !free[i] && grad[i] - mu < -tol).min_by(|&i, &j| grad[i].total_cmp(&grad[j]))
}

/// Moves `x` to the minimiser on the current free set, stepping back to the boundary and fixing
/// coordinates at zero while that minimiser is infeasible (each round fixes at least one, so at
/// most K rounds). In exact arithmetic the entering coordinate is positive at the new minimiser;
/// when rounding says otherwise the violation was a tie, `x` is optimal to working precision, and
/// false tells the caller to stop.
fn descend_on_free_set(h: &[f64], c: &[f64], set: Feasible, x: &mut [f64], free: &mut [bool], enter: usize) -> bool {
    let k = c.len();
    for round in 0..=k {
        let z = solve_on_free_set(h, c, set, free);
        if round == 0 && z[enter] <= 0.0 {
            free[enter] = false;
            return false;
        }
        let blocking: Vec<usize> = (0..k).filter(|&i| free[i] && z[i] < 0.0).collect();
        if blocking.is_empty() {
            x.copy_from_slice(&z);
            return true;
        }
        // x_i ≥ 0 > z_i on every blocking coordinate, so each ratio lies in [0, 1).
        let (limiter, step) = blocking
            .iter()
            .map(|&i| (i, x[i] / (x[i] - z[i])))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("blocking is not empty");
        for i in 0..k {
            x[i] += step * (z[i] - x[i]);
            if free[i] && (i == limiter || x[i] <= 0.0) {
                x[i] = 0.0;
                free[i] = false;
            }
        }
    }
    true
}

/// The minimiser on the affine set {x_i = 0 outside the free set, and Σ x = 1 on the simplex}.
fn solve_on_free_set(h: &[f64], c: &[f64], set: Feasible, free: &[bool]) -> Vec<f64> {
    let k = c.len();
    let idx: Vec<usize> = (0..k).filter(|&i| free[i]).collect();
    let p = idx.len();
    let n = if set == Feasible::Simplex { p + 1 } else { p };
    let mut m = vec![0.0; n * n];
    let mut rhs = vec![0.0; n];
    for (a, &i) in idx.iter().enumerate() {
        for (b, &j) in idx.iter().enumerate() {
            m[a * n + b] = h[i * k + j];
        }
        rhs[a] = -c[i];
    }
    if set == Feasible::Simplex {
        for a in 0..p {
            m[a * n + p] = 1.0;
            m[p * n + a] = 1.0;
        }
        rhs[p] = 1.0;
    }
    let sol = pinv_solve(&m, n, &rhs, 1e-12);
    let mut z = vec![0.0; k];
    for (a, &i) in idx.iter().enumerate() {
        z[i] = sol[a];
    }
    z
}

fn finish(mut x: Vec<f64>, set: Feasible) -> Vec<f64> {
    for xi in x.iter_mut() {
        if !(xi.is_finite() && *xi > 0.0) {
            *xi = 0.0;
        }
    }
    if set == Feasible::Simplex {
        let s: f64 = x.iter().sum();
        if s > 0.0 {
            x.iter_mut().for_each(|xi| *xi /= s);
        } else {
            let k = x.len();
            x = vec![1.0 / k as f64; k];
        }
    }
    x
}

/// Helpers shared by the methods' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use crate::controller::Gram;

    /// `G_ij = g_i · g_j` of explicit gradient rows.
    pub fn gram_of(rows: &[&[f64]]) -> Gram {
        let k = rows.len();
        let mut g = vec![0.0; k * k];
        for i in 0..k {
            for j in 0..k {
                g[i * k + j] = super::dot(rows[i], rows[j]);
            }
        }
        Gram::new(k, g).expect("g_i·g_j is computed the same way both sides")
    }

    /// A Gram matrix from its entries (non-finite allowed).
    pub fn gram(k: usize, entries: &[f64]) -> Gram {
        Gram::new(k, entries.to_vec()).expect("a symmetric test matrix")
    }

    /// `Σ_i w_i g_i`.
    pub fn combine(rows: &[&[f64]], w: &[f64]) -> Vec<f64> {
        let mut d = vec![0.0; rows[0].len()];
        for (row, wi) in rows.iter().zip(w) {
            for (dj, gj) in d.iter_mut().zip(row.iter()) {
                *dj += wi * gj;
            }
        }
        d
    }

    pub fn assert_close(got: &[f64], want: &[f64], tol: f64) {
        assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
        for (i, (a, b)) in got.iter().zip(want).enumerate() {
            assert!(a.is_finite() && (a - b).abs() <= tol, "[{i}]: got {a}, want {b} (±{tol}); {got:?} vs {want:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::assert_close;
    use super::*;

    #[test]
    fn jacobi_reconstructs_the_matrix() {
        // [[2, 1], [1, 2]] → eigenvalues 1, 3 with vectors (1, −1)/√2, (1, 1)/√2
        let e = sym_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
        assert_close(&e.values, &[1.0, 3.0], 1e-15);
        assert!((e.vectors[0].abs() - 0.5f64.sqrt()).abs() < 1e-15);
        let a = [4.0, -2.0, 0.5, 1e-3, -2.0, 3.0, 0.25, 0.0, 0.5, 0.25, 1.0, -0.7, 1e-3, 0.0, -0.7, 2.0];
        let e = sym_eigen(&a, 4);
        for i in 0..4 {
            for j in 0..4 {
                let back: f64 = (0..4).map(|m| e.vectors[i * 4 + m] * e.values[m] * e.vectors[j * 4 + m]).sum();
                assert!((back - a[i * 4 + j]).abs() < 1e-13, "({i},{j}): {back} vs {}", a[i * 4 + j]);
            }
        }
        assert!(e.values.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn pinv_solves_singular_systems_in_the_least_norm_sense() {
        // [[1, 1], [1, 1]] x = (2, 2): least-norm solution (1, 1)
        assert_close(&pinv_solve(&[1.0, 1.0, 1.0, 1.0], 2, &[2.0, 2.0], 1e-12), &[1.0, 1.0], 1e-15);
        assert_close(&pinv_solve(&[2.0, 0.0, 0.0, 4.0], 2, &[2.0, 2.0], 1e-12), &[1.0, 0.5], 1e-15);
        assert_eq!(pinv_solve(&[0.0; 4], 2, &[1.0, 1.0], 1e-12), vec![0.0, 0.0]);
    }

    #[test]
    fn small_qp_by_hand() {
        // min ½‖x‖² − (1, −1)·x, x ≥ 0 → (1, 0)
        let x = small_qp(&[1.0, 0.0, 0.0, 1.0], &[-1.0, 1.0], Feasible::NonNegative);
        assert_close(&x, &[1.0, 0.0], 1e-15);
        // on the simplex, min ½‖x‖² + (0, 0.5, 2)·x → x = (0.75, 0.25, 0): x_i + c_i = 0.75 on the support, 2 outside
        let h = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        let x = small_qp(&h, &[0.0, 0.5, 2.0], Feasible::Simplex);
        assert_close(&x, &[0.75, 0.25, 0.0], 1e-15);
        // an unconstrained interior optimum is found exactly
        let x = small_qp(&[2.0, 1.0, 1.0, 2.0], &[-3.0, -3.0], Feasible::NonNegative);
        assert_close(&x, &[1.0, 1.0], 1e-14);
    }
}
