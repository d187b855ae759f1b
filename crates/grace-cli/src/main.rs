//! The `grace` command: parses arguments and hands each subcommand to the libraries.
//! Every subcommand lives in its own file under `cmd/` and offers `--json` for scripts.

use clap::{Parser, Subcommand};

mod cmd;

#[derive(Parser)]
#[command(name = "grace", version, about = "Gradient-aware multi-task RUL prediction for turbofan engines (NASA C-MAPSS)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect, fetch and benchmark the C-MAPSS data pipeline.
    #[command(subcommand)]
    Data(cmd::data::DataCommand),
    /// Walk the GRACE loss for one mini-batch, symbol by symbol.
    Explain(cmd::explain::Args),
    /// Drive the GABA controller with a synthetic gradient ratio and show the λ trajectory.
    Simulate(cmd::simulate::Args),
    /// Smoke-check the libtorch link.
    Doctor(cmd::doctor::Args),
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("GRACE_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Data(c) => cmd::data::run(c),
        Command::Explain(a) => cmd::explain::run(a),
        Command::Simulate(a) => cmd::simulate::run(a),
        Command::Doctor(a) => cmd::doctor::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
