//! Interval metrics on the test set (docs/reference.md §6): coverage (PICP) per level, mean interval
//! width (MPIW) and coverage by true-RUL band, against capped truth by default and uncapped too.

use super::calibration::{Interval, LevelIntervals};
use crate::error::{check_finite, CoreError};
use serde::{Deserialize, Serialize};

/// A range of true RUL, `lo < y ≤ hi` (either end open when `None`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulBand {
    pub label: String,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
}

impl RulBand {
    pub fn contains(&self, y: f64) -> bool {
        self.lo.is_none_or(|lo| y > lo) && self.hi.is_none_or(|hi| y <= hi)
    }
}

/// Near failure (≤ 30), degrading (30–80], healthy (> 80): the health-label thresholds of
/// docs/reference.md §2.5, because miscalibration near failure is the one that costs.
pub fn default_bands() -> Vec<RulBand> {
    vec![
        RulBand { label: "<=30".into(), lo: None, hi: Some(30.0) },
        RulBand { label: "30-80".into(), lo: Some(30.0), hi: Some(80.0) },
        RulBand { label: ">80".into(), lo: Some(80.0), hi: None },
    ]
}

/// Coverage inside one band; `coverage` is `None` when no engine's truth falls in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BandCoverage {
    pub band: RulBand,
    pub engines: usize,
    pub coverage: Option<f64>,
}

/// The interval metrics of one level against one truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalScores {
    pub level: f64,
    /// PICP: fraction of engines whose truth lies inside its interval.
    pub coverage: f64,
    /// MPIW; `None` when some interval has no upper bound (one-sided or unbounded).
    pub mean_width: Option<f64>,
    /// Mean lower bound: the sharpness figure that remains for one-sided bounds.
    pub mean_lower: f64,
    pub bands: Vec<BandCoverage>,
}

fn check_intervals(intervals: &[Interval], truth: &[f64]) -> Result<(), CoreError> {
    if intervals.len() != truth.len() {
        return Err(CoreError::length("intervals vs. true values", truth.len(), intervals.len()));
    }
    if truth.is_empty() {
        return Err(CoreError::invalid("intervals", "0 values", "non-empty"));
    }
    check_finite("true RUL", truth)
}

/// PICP: the fraction of `truth` inside its interval.
pub fn coverage(intervals: &[Interval], truth: &[f64]) -> Result<f64, CoreError> {
    check_intervals(intervals, truth)?;
    Ok(intervals.iter().zip(truth).filter(|(iv, &y)| iv.contains(y)).count() as f64 / truth.len() as f64)
}

/// MPIW, `None` when any interval is unbounded above or there are none.
pub fn mean_width(intervals: &[Interval]) -> Option<f64> {
    let widths: Option<Vec<f64>> = intervals.iter().map(Interval::width).collect();
    widths.filter(|w| !w.is_empty()).map(|w| w.iter().sum::<f64>() / w.len() as f64)
}

/// Coverage restricted to the engines whose truth falls in each band.
pub fn coverage_by_band(
    intervals: &[Interval],
    truth: &[f64],
    bands: &[RulBand],
) -> Result<Vec<BandCoverage>, CoreError> {
    check_intervals(intervals, truth)?;
    Ok(bands
        .iter()
        .map(|band| {
            let inside: Vec<bool> =
                intervals.iter().zip(truth).filter(|(_, &y)| band.contains(y)).map(|(iv, &y)| iv.contains(y)).collect();
            let covered = inside.iter().filter(|&&c| c).count();
            let coverage = (!inside.is_empty()).then(|| covered as f64 / inside.len() as f64);
            BandCoverage { band: band.clone(), engines: inside.len(), coverage }
        })
        .collect())
}

impl IntervalScores {
    pub fn of(level: &LevelIntervals, truth: &[f64], bands: &[RulBand]) -> Result<Self, CoreError> {
        let iv = &level.intervals;
        Ok(IntervalScores {
            level: level.level,
            coverage: coverage(iv, truth)?,
            mean_width: mean_width(iv),
            mean_lower: iv.iter().map(|i| i.lower).sum::<f64>() / iv.len() as f64,
            bands: coverage_by_band(iv, truth, bands)?,
        })
    }
}

/// Every level scored against the truth capped at `max_rul` (the headline, docs/reference.md §2.8)
/// and against the uncapped truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalReport {
    pub max_rul: f64,
    pub capped: Vec<IntervalScores>,
    pub uncapped: Vec<IntervalScores>,
}

impl IntervalReport {
    pub fn of(
        levels: &[LevelIntervals],
        truth_uncapped: &[f64],
        max_rul: f64,
        bands: &[RulBand],
    ) -> Result<Self, CoreError> {
        if !(max_rul.is_finite() && max_rul > 0.0) {
            return Err(CoreError::invalid("max_rul", max_rul, "finite and > 0"));
        }
        let capped: Vec<f64> = truth_uncapped.iter().map(|y| y.min(max_rul)).collect();
        let score =
            |truth: &[f64]| levels.iter().map(|l| IntervalScores::of(l, truth, bands)).collect::<Result<Vec<_>, _>>();
        Ok(IntervalReport { max_rul, capped: score(&capped)?, uncapped: score(truth_uncapped)? })
    }
}
