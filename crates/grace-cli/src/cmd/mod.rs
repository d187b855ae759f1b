//! One module per subcommand; each exposes its clap arguments and a `run` function.

pub mod data;
pub mod doctor;
pub mod explain;
pub mod simulate;
