//! Calibrated RUL intervals and seed ensembles, tensor-free: split-conformal quantiles, interval
//! kinds, a storable `Calibration`, difficulty scales, interval metrics, ensembles, calibration cuts.
//!
//! Method and status: docs/reference.md §6 ("Calibrated intervals (foundation)").

mod calibration;
mod cuts;
mod difficulty;
mod ensemble;
mod quantile;
mod scores;
#[cfg(test)]
mod tests;

pub use calibration::{Calibration, Interval, IntervalKind, LevelBounds, LevelIntervals, DEFAULT_SCALE_FLOOR};
pub use cuts::{calibration_cuts, first_cut, Cut};
pub use difficulty::{normalised_scales, DifficultyScale, Knot, DIFFICULTY_BINS, MIN_PER_BIN};
pub use ensemble::{combine, member_spread, Combine};
pub use quantile::{check_level, conformal_quantile, conformal_rank, Quantile};
pub use scores::{
    coverage, coverage_by_band, default_bands, mean_width, BandCoverage, IntervalReport, IntervalScores, RulBand,
};
