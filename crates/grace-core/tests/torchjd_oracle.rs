//! grace's Gram-matrix methods against TorchJD (bench/reference/torchjd_oracle.py, the venv's pinned
//! torchjd): for K×P Jacobians J, `Σ_i w_i g_i` with w from G = J Jᵀ alone must equal TorchJD's
//! aggregation of J.
//!
//! Conventions (both sides): MGDA, IMTL-G have Σ w = 1; PCGrad sums the projected gradients; CAGrad
//! is `g₀ + c‖g₀‖ g_w/‖g_w‖` (c = 0.4, no 1/(1 + c²)); Aligned-MTL uses the smallest-eigenvalue scale
//! and a mean preference; UPGrad projects g_i/K with G/tr(G) + 10⁻⁴ I; Nash-MTL's update is scaled to
//! norm ≤ 1. So every vector is compared as it is, with errors measured against ‖J‖_F.
//! Skipped only when there is no venv; with a venv, a missing torchjd or extra fails the test.

use grace_core::controller::{aligned, cagrad, imtlg, mgda, nashmtl, pcgrad, upgrad, Gram};
use std::path::PathBuf;

/// The version scripts/setup-libtorch.sh installs.
const TORCHJD: &str = "0.18.0";

/// The venv's python (or `GRACE_PYTHON`), if there is one at all.
fn python() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let p = std::env::var_os("GRACE_PYTHON").map(PathBuf::from).unwrap_or_else(|| root.join(".venv/bin/python"));
    p.exists().then_some(p)
}

struct Case {
    name: &'static str,
    rows: Vec<Vec<f64>>,
    /// PCGrad's projection order per task, handed to both sides.
    orders: Vec<Vec<usize>>,
}

/// A seeded standard-normal stream (SplitMix64 + Box–Muller), so the cases need no crate.
struct Normal(u64);

impl Normal {
    fn next(&mut self) -> f64 {
        let mut u = || {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        };
        let (a, b) = (u().max(1e-300), u());
        (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
    }

    fn row(&mut self, p: usize) -> Vec<f64> {
        (0..p).map(|_| self.next()).collect()
    }
}

fn lin(terms: &[(f64, &[f64])]) -> Vec<f64> {
    let mut out = vec![0.0; terms[0].1.len()];
    for (c, v) in terms {
        out.iter_mut().zip(v.iter()).for_each(|(o, x)| *o += c * x);
    }
    out
}

/// Seeded random, conflicting, aligned, one dominant and near-singular Jacobians for K = 2 and 3.
fn cases() -> Vec<Case> {
    const P: usize = 6;
    let mut n = Normal(2024);
    let mut out = Vec::new();
    let mut push = |name, rows: Vec<Vec<f64>>| {
        let k = rows.len();
        // a different rotation of the other tasks for each task: exercises the order on K = 3
        let orders = (0..k).map(|i| (1..=k).map(|s| (i + s) % k).collect()).collect();
        out.push(Case { name, rows, orders });
    };
    let (a, b, c) = (n.row(P), n.row(P), n.row(P));
    push("random2", vec![a.clone(), b.clone()]);
    push("random3", vec![a.clone(), b.clone(), c.clone()]);
    let (e1, e2) = (n.row(P), n.row(P));
    push("conflicting2", vec![a.clone(), lin(&[(-0.8, &a), (0.3, &e1)])]);
    push("conflicting3", vec![a.clone(), b.clone(), lin(&[(-0.6, &a), (-0.5, &b), (0.2, &e2)])]);
    push("aligned2", vec![a.clone(), lin(&[(1.5, &a), (0.05, &e1)])]);
    push("aligned3", vec![a.clone(), lin(&[(1.5, &a), (0.05, &e1)]), lin(&[(0.7, &a), (0.05, &e2)])]);
    push("dominant2", vec![lin(&[(30.0, &a)]), b.clone()]);
    push("dominant3", vec![lin(&[(30.0, &a)]), b.clone(), c.clone()]);
    push("near_singular2", vec![a.clone(), lin(&[(1.0, &a), (1e-4, &e1)])]);
    push("near_singular3", vec![a.clone(), b.clone(), lin(&[(1.0, &a), (1.0, &b), (1e-4, &e2)])]);
    out
}

fn gram_of(rows: &[Vec<f64>]) -> Gram {
    let k = rows.len();
    let dot = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(a, b)| a * b).sum::<f64>();
    let g = (0..k * k).map(|ij| dot(&rows[ij / k], &rows[ij % k])).collect();
    Gram::new(k, g).unwrap()
}

fn combine(rows: &[Vec<f64>], w: &[f64]) -> Vec<f64> {
    let mut d = vec![0.0; rows[0].len()];
    for (row, wi) in rows.iter().zip(w) {
        d.iter_mut().zip(row).for_each(|(dj, gj)| *dj += wi * gj);
    }
    d
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// The aggregated vectors TorchJD computes for every case, by method name.
fn torchjd(py: &PathBuf, cases: &[Case]) -> Vec<serde_json::Value> {
    let input = serde_json::json!({
        "cases": cases.iter().map(|c| serde_json::json!({
            "name": c.name,
            "jacobian": c.rows,
            // TorchJD draws a full permutation per task and skips the task itself
            "pcgrad_orders": c.orders.iter().enumerate().map(|(i, o)| {
                let mut full = vec![i];
                full.extend(o);
                full
            }).collect::<Vec<_>>(),
        })).collect::<Vec<_>>()
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cases.json");
    std::fs::write(&path, input.to_string()).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench/reference/torchjd_oracle.py");
    let out = std::process::Command::new(py).arg(script).arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "torchjd_oracle.py failed (run scripts/setup-libtorch.sh): {stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["torchjd"], TORCHJD, "the conventions below were checked against torchjd {TORCHJD}");
    v["cases"].as_array().unwrap().clone()
}

#[test]
fn gram_methods_match_torchjd() {
    let Some(py) = python() else {
        eprintln!("skipped: no venv python (run scripts/setup-libtorch.sh)");
        return;
    };
    let cases = cases();
    let theirs = torchjd(&py, &cases);
    let mut report = Vec::new();
    for (case, t) in cases.iter().zip(&theirs) {
        assert_eq!(t["name"], case.name);
        let gram = gram_of(&case.rows);
        let scale = gram.as_slice().iter().step_by(gram.k() + 1).sum::<f64>().sqrt();
        let theirs = |m: &str| -> Vec<f64> {
            t["aggregated"][m].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
        };
        let mut check = |m: &str, w: Vec<f64>, tol: f64| {
            let (d, want) = (combine(&case.rows, &w), theirs(m));
            let err = norm(&d.iter().zip(&want).map(|(a, b)| a - b).collect::<Vec<_>>()) / scale;
            report.push(format!("{:15} {m:8} {err:.1e}", case.name));
            assert!(
                err <= tol,
                "{m} on {}: ‖Δ‖/‖J‖_F = {err:.2e} > {tol:.0e}\n ours {d:?}\n torchjd {want:?}",
                case.name
            );
            d
        };
        let k = gram.k();
        // closed forms, and MGDA's K = 2 closed form (TorchJD's Frank–Wolfe is exact in one step there)
        check("imtlg", imtlg::weights(&gram), 1e-6);
        check("aligned", aligned::weights(&gram), 1e-6);
        check("upgrad", upgrad::weights(&gram), 1e-6);
        check("pcgrad", pcgrad::weights_in_order(&gram, &case.orders), 1e-12);
        let m = mgda::weights(&gram);
        if k == 2 {
            check("mgda", m, 1e-6);
        } else {
            // Frank–Wolfe stops once a step moves less than 10⁻³: ours is the exact minimum, so its norm
            // can only be smaller, and the two points of the hull are close.
            let d = check("mgda", m, 5e-2);
            assert!(norm(&d) <= norm(&theirs("mgda")) + 1e-12 * scale, "MGDA not minimal on {}", case.name);
        }
        // an interior-point SOCP solve (Clarabel) on their side, ours alternates exact QPs
        check("cagrad", cagrad::weights(&gram, cagrad::DEFAULT_C), 1e-6);
        // TorchJD's Nash-MTL linearises around α = 1 and divides by (G·1)_i: where an entry is not
        // positive its solver raises and it returns α = 1 unchanged, so only the other cases compare.
        let g1_positive = (0..k).all(|i| (0..k).map(|j| gram.get(i, j)).sum::<f64>() > 0.0);
        let w = nashmtl::weights(&gram, nashmtl::DEFAULT_MAX_NORM);
        if g1_positive {
            // their iterations stop at ‖G α − 1/α‖ < 10⁻³ (in a mixed scale): a looser agreement
            check("nashmtl", w, 1e-4);
        }
        // our own bargain holds everywhere: G α = 1/α before the norm bound
        let alpha = nashmtl::weights(&gram, 0.0);
        for i in 0..k {
            let ga: f64 = (0..k).map(|j| gram.get(i, j) * alpha[j]).sum();
            assert!(
                (ga * alpha[i] - 1.0).abs() < 1e-8,
                "Nash bargain on {}: (Gα)_{i} α_{i} = {}",
                case.name,
                ga * alpha[i]
            );
        }
    }
    eprintln!("‖ours − torchjd‖/‖J‖_F:\n{}", report.join("\n"));
}
