//! The split-conformal quantile: the ⌈(n+1)·level⌉-th smallest calibration score, the finite-sample
//! correction that makes coverage hold for any n, not only asymptotically (docs/reference.md §6).

use crate::error::{check_finite, CoreError};
use serde::{Deserialize, Serialize};

/// A conformal quantile: finite, or unbounded because the calibration set is too small for the level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "quantile", rename_all = "snake_case")]
pub enum Quantile {
    /// The `rank`-th smallest of `n` scores (1-based).
    Finite { value: f64, rank: usize, n: usize },
    /// `rank` > `n`: no calibration score is large enough, so the only valid bound is none at all.
    /// With n scores the largest reachable level is n/(n+1).
    Unbounded { rank: usize, n: usize },
}

impl Quantile {
    /// The finite value, `None` when unbounded.
    pub fn value(&self) -> Option<f64> {
        match *self {
            Quantile::Finite { value, .. } => Some(value),
            Quantile::Unbounded { .. } => None,
        }
    }
}

/// Rejects levels outside (0, 1): a level of 1 would need an unbounded interval by definition.
pub fn check_level(level: f64) -> Result<(), CoreError> {
    if level.is_finite() && level > 0.0 && level < 1.0 {
        Ok(())
    } else {
        Err(CoreError::invalid("coverage level", level, "in (0, 1)"))
    }
}

/// The 1-based rank ⌈(n+1)·level⌉ of the score that bounds a fresh exchangeable score with
/// probability ≥ `level`. It may exceed `n` (see [`Quantile::Unbounded`]).
pub fn conformal_rank(n: usize, level: f64) -> Result<usize, CoreError> {
    check_level(level)?;
    if n == 0 {
        return Err(CoreError::invalid("calibration scores", "0 values", "non-empty"));
    }
    let x = (n + 1) as f64 * level;
    // A product that is an integer on paper can land a hair above it in floating point
    // (90·0.7 = 63.00000000000001); without the slack the rank would jump to 64.
    Ok((x - 1e-9 * x).ceil().max(1.0) as usize)
}

/// The conformal quantile of `scores` at `level` (coverage, e.g. 0.9 for α = 0.1).
pub fn conformal_quantile(scores: &[f64], level: f64) -> Result<Quantile, CoreError> {
    check_finite("calibration score", scores)?;
    let n = scores.len();
    let rank = conformal_rank(n, level)?;
    if rank > n {
        return Ok(Quantile::Unbounded { rank, n });
    }
    let mut sorted = scores.to_vec();
    let (_, value, _) = sorted.select_nth_unstable_by(rank - 1, f64::total_cmp);
    Ok(Quantile::Finite { value: *value, rank, n })
}
