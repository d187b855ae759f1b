//! Interval kinds and the `Calibration` value: conformal quantiles fitted on calibration residuals
//! for several coverage levels at once, then applied to new predictions (docs/reference.md §6).

use super::quantile::{check_level, conformal_quantile, Quantile};
use crate::error::{check_finite, CoreError};
use serde::{Deserialize, Serialize};

/// Smallest per-sample scale (in cycles) a normalised interval divides by: below one cycle a spread
/// says nothing about the target's resolution, and σ̂ ≤ 0 would make the score infinite.
pub const DEFAULT_SCALE_FLOOR: f64 = 1.0;

/// How a residual becomes a conformity score, and so which bounds the interval has.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IntervalKind {
    /// Score |y − ŷ|; interval ŷ ± q.
    Symmetric,
    /// Score ŷ − y; bound "RUL ≥ ŷ − q" with probability ≥ level and no upper bound: the planner's
    /// number, since a late (too high) prediction is the costly one.
    LowerBound,
    /// Scores ŷ − y and y − ŷ, each at level (1 + level)/2 (α/2 per side); by the union bound the
    /// pair covers with probability ≥ level, and each side widens only as far as its own errors.
    Asymmetric,
    /// Score |y − ŷ| / max(σ̂, floor) with a per-sample scale σ̂ (ensemble spread, a difficulty
    /// estimate); interval ŷ ± q·max(σ̂, floor). Narrow where σ̂ is small, wide where it is large.
    Normalised { floor: f64 },
}

impl IntervalKind {
    /// The normalised kind with [`DEFAULT_SCALE_FLOOR`].
    pub fn normalised() -> Self {
        IntervalKind::Normalised { floor: DEFAULT_SCALE_FLOOR }
    }
}

/// The fitted quantiles of one level, in score units (multiplied by the sample's scale for the
/// normalised kind). `below` bounds how far the truth may fall under ŷ, `above` how far over it;
/// `None` means the kind has no such bound (the upper side of [`IntervalKind::LowerBound`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LevelBounds {
    pub level: f64,
    pub below: Option<Quantile>,
    pub above: Option<Quantile>,
}

/// One prediction interval in cycles. `lower` is clipped at 0 (RUL is never negative, so clipping
/// cannot lose coverage); `upper` is `None` when there is no upper bound, by kind or because the
/// calibration set was too small for the level ([`Quantile::Unbounded`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub lower: f64,
    pub upper: Option<f64>,
}

impl Interval {
    pub fn contains(&self, y: f64) -> bool {
        y >= self.lower && self.upper.is_none_or(|u| y <= u)
    }

    /// Upper minus lower, `None` when unbounded above.
    pub fn width(&self) -> Option<f64> {
        self.upper.map(|u| u - self.lower)
    }
}

/// The intervals of one level, one per prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelIntervals {
    pub level: f64,
    pub intervals: Vec<Interval>,
}

/// Split-conformal calibration of one interval kind at several levels, fitted on `n` calibration
/// residuals; stored with a run so later predictions get the same intervals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub kind: IntervalKind,
    /// Number of calibration residuals.
    pub n: usize,
    pub levels: Vec<LevelBounds>,
}

impl Calibration {
    /// Fits the quantiles from calibration predictions and truth (pass the capped truth the model was
    /// trained on, docs/reference.md §2.4). `scales` is required by the normalised kind and refused
    /// by the others, so a forgotten or stray spread cannot pass unnoticed.
    pub fn fit(
        kind: IntervalKind,
        predictions: &[f64],
        truth: &[f64],
        scales: Option<&[f64]>,
        levels: &[f64],
    ) -> Result<Self, CoreError> {
        crate::wmse::check_pair(predictions, truth)?;
        if levels.is_empty() {
            return Err(CoreError::invalid("coverage levels", "none", "at least one"));
        }
        let units = unit_scales(kind, scales, predictions.len())?;
        // d > 0: the truth lies above the prediction (an early prediction).
        let d: Vec<f64> = truth.iter().zip(predictions).zip(&units).map(|((y, p), u)| (y - p) / u).collect();
        let below: Vec<f64> = d.iter().map(|x| -x).collect();
        let abs: Vec<f64> = d.iter().map(|x| x.abs()).collect();
        let levels = levels
            .iter()
            .map(|&level| {
                check_level(level)?;
                let q = |scores: &[f64], l: f64| conformal_quantile(scores, l).map(Some);
                let (below, above) = match kind {
                    IntervalKind::Symmetric | IntervalKind::Normalised { .. } => {
                        let q = q(&abs, level)?;
                        (q, q)
                    }
                    IntervalKind::LowerBound => (q(&below, level)?, None),
                    IntervalKind::Asymmetric => {
                        let side = (1.0 + level) / 2.0;
                        (q(&below, side)?, q(&d, side)?)
                    }
                };
                Ok(LevelBounds { level, below, above })
            })
            .collect::<Result<_, CoreError>>()?;
        Ok(Calibration { kind, n: predictions.len(), levels })
    }

    /// The intervals of every level for new predictions (`scales` as in [`Calibration::fit`]).
    pub fn apply(&self, predictions: &[f64], scales: Option<&[f64]>) -> Result<Vec<LevelIntervals>, CoreError> {
        check_finite("prediction", predictions)?;
        let units = unit_scales(self.kind, scales, predictions.len())?;
        Ok(self
            .levels
            .iter()
            .map(|b| LevelIntervals {
                level: b.level,
                intervals: predictions.iter().zip(&units).map(|(&p, &u)| interval(b, p, u)).collect(),
            })
            .collect())
    }
}

/// One interval around prediction `p` with unit scale `u`. An unbounded lower quantile clips to 0,
/// the trivially true "RUL ≥ 0"; the level's [`Quantile::Unbounded`] entry still says so.
fn interval(b: &LevelBounds, p: f64, u: f64) -> Interval {
    let lower = match b.below {
        Some(Quantile::Finite { value, .. }) => p - value * u,
        _ => 0.0,
    };
    let upper = b.above.and_then(|q| q.value()).map(|q| (p + q * u).max(0.0));
    Interval { lower: lower.max(0.0), upper }
}

/// Per-sample divisors: 1 for the unnormalised kinds, max(σ̂, floor) for the normalised one.
fn unit_scales(kind: IntervalKind, scales: Option<&[f64]>, n: usize) -> Result<Vec<f64>, CoreError> {
    match (kind, scales) {
        (IntervalKind::Normalised { floor }, Some(s)) => {
            if !(floor.is_finite() && floor > 0.0) {
                return Err(CoreError::invalid("normalised interval scale floor", floor, "finite and > 0"));
            }
            if s.len() != n {
                return Err(CoreError::length("per-sample interval scales", n, s.len()));
            }
            check_finite("interval scale", s)?;
            Ok(s.iter().map(|&x| x.max(floor)).collect())
        }
        (IntervalKind::Normalised { .. }, None) => Err(CoreError::invalid(
            "per-sample interval scales",
            "none",
            "given for the normalised interval kind (ensemble spread or a difficulty estimate)",
        )),
        (_, Some(_)) => {
            Err(CoreError::invalid("per-sample interval scales", "given", "absent for an unnormalised interval kind"))
        }
        (_, None) => Ok(vec![1.0; n]),
    }
}
