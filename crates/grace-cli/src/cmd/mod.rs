//! One module per subcommand; each exposes its clap arguments and a `run` function.

pub mod bench;
/// Child training processes shared by sweep and tune (not a subcommand).
pub mod children;
pub mod compare;
pub mod data;
pub mod diagnose;
pub mod doctor;
pub mod explain;
pub mod methods;
pub mod model;
pub mod predict;
pub mod recipes;
/// Where the reference implementations and their Python are (not a subcommand).
pub mod reference;
pub mod report;
pub mod selection;
pub mod simulate;
pub mod sweep;
pub mod train;
pub mod tune;
