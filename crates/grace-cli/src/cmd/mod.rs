//! One module per subcommand; each exposes its clap arguments and a `run` function.

pub mod bench;
pub mod data;
pub mod diagnose;
pub mod doctor;
pub mod explain;
pub mod model;
pub mod predict;
pub mod report;
pub mod simulate;
pub mod sweep;
pub mod train;
