//! Sweep tables and HTML reports for grace run directories, without libtorch: reads what
//! `grace train` leaves (results.json, epochs.csv, gradient_log.csv, predictions.csv) and writes pages.

pub mod compare;
pub mod downsample;
pub mod figures;
pub mod html;
pub use grace_core::io;
pub mod paired;
pub mod pareto;
pub mod plan;
pub mod report;
pub mod rundir;
pub mod simulate_plot;
pub mod table;
pub mod tune_figures;
