//! A single model's per-window difficulty estimate σ̂(ŷ): the mean absolute residual in a few bins of
//! predicted RUL, interpolated between bins, the scale of its normalised interval (docs/reference.md §6).

use crate::error::{check_finite, CoreError};
use serde::{Deserialize, Serialize};

/// Most bins of predicted RUL: enough to follow "errors grow with the predicted life", few enough
/// that each bin mean rests on many residuals.
pub const DIFFICULTY_BINS: usize = 4;

/// Fewest residuals per bin; fewer residuals give fewer bins (one at the least).
pub const MIN_PER_BIN: usize = 10;

/// One bin: the mean prediction of its residuals and their mean absolute residual (floored).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Knot {
    pub prediction: f64,
    pub scale: f64,
}

/// σ̂ as a function of the prediction: piecewise linear between the bins' knots, constant beyond the
/// outer ones, never below `floor`. Fitted on residuals the calibration never sees, so it is a fixed
/// function of ŷ for calibration and test alike and the conformal guarantee is untouched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DifficultyScale {
    /// Ascending in `prediction`.
    pub knots: Vec<Knot>,
    pub floor: f64,
    /// Residuals it was fitted on (summed over the members for an ensemble's mean).
    pub n: usize,
}

impl DifficultyScale {
    /// Fits σ̂ on predictions and truth: residuals sorted by prediction are dealt into
    /// min([`DIFFICULTY_BINS`], n / [`MIN_PER_BIN`]) bins of (nearly) equal count.
    pub fn fit(predictions: &[f64], truth: &[f64], floor: f64) -> Result<Self, CoreError> {
        crate::wmse::check_pair(predictions, truth)?;
        if !(floor.is_finite() && floor > 0.0) {
            return Err(CoreError::invalid("difficulty scale floor", floor, "finite and > 0"));
        }
        let n = predictions.len();
        if n == 0 {
            return Err(CoreError::invalid("difficulty residuals", "0 values", "non-empty"));
        }
        let mut pairs: Vec<(f64, f64)> = predictions.iter().zip(truth).map(|(&p, &y)| (p, (y - p).abs())).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let bins = (n / MIN_PER_BIN).clamp(1, DIFFICULTY_BINS);
        let knots = (0..bins)
            .map(|b| {
                let bin = &pairs[b * n / bins..(b + 1) * n / bins];
                let mean = |f: fn(&(f64, f64)) -> f64| bin.iter().map(f).sum::<f64>() / bin.len() as f64;
                Knot { prediction: mean(|p| p.0), scale: mean(|p| p.1).max(floor) }
            })
            .collect();
        Ok(DifficultyScale { knots, floor, n })
    }

    /// σ̂ at prediction `p`.
    pub fn at(&self, p: f64) -> f64 {
        let k = &self.knots;
        let i = k.partition_point(|k| k.prediction < p);
        let s = match (i.checked_sub(1).map(|j| k[j]), k.get(i)) {
            (None, Some(right)) => right.scale,
            (Some(left), None) => left.scale,
            // left.prediction < p ≤ right.prediction, so the segment has positive length
            (Some(l), Some(r)) => l.scale + (r.scale - l.scale) * (p - l.prediction) / (r.prediction - l.prediction),
            (None, None) => self.floor,
        };
        s.max(self.floor)
    }

    /// The pointwise mean of several σ̂: an ensemble's scale from its members'. Each fitted σ̂ is
    /// linear between its own knots and constant beyond them, so the mean is linear between the union
    /// of all knots and constant beyond it: evaluating the mean there represents it exactly.
    pub fn mean(scales: &[DifficultyScale]) -> Result<Self, CoreError> {
        if scales.is_empty() {
            return Err(CoreError::invalid("difficulty scales to average", "none", "at least one"));
        }
        let m = scales.len() as f64;
        let mut at: Vec<f64> = scales.iter().flat_map(|s| s.knots.iter().map(|k| k.prediction)).collect();
        at.sort_by(f64::total_cmp);
        at.dedup();
        let knots = at
            .into_iter()
            .map(|p| Knot { prediction: p, scale: scales.iter().map(|s| s.at(p)).sum::<f64>() / m })
            .collect();
        let floor = scales.iter().map(|s| s.floor).sum::<f64>() / m;
        Ok(DifficultyScale { knots, floor, n: scales.iter().map(|s| s.n).sum() })
    }

    /// σ̂ of every prediction.
    pub fn scales(&self, predictions: &[f64]) -> Result<Vec<f64>, CoreError> {
        check_finite("prediction", predictions)?;
        Ok(predictions.iter().map(|&p| self.at(p)).collect())
    }
}

/// The normalised kind's scale for each prediction, chosen the same way wherever intervals are fitted
/// or applied: σ̂(ŷ) when a difficulty estimate exists (a run's, or an ensemble's mean of its
/// members'), else the ensemble members' `spread`; `None` when there is neither.
pub fn normalised_scales(
    difficulty: Option<&DifficultyScale>,
    predictions: &[f64],
    spread: Option<&[f64]>,
) -> Result<Option<Vec<f64>>, CoreError> {
    match (difficulty, spread) {
        (Some(d), _) => d.scales(predictions).map(Some),
        (None, s) => Ok(s.map(<[f64]>::to_vec)),
    }
}
