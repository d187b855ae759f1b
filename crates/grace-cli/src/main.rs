//! The `grace` command: parses arguments and hands each subcommand to the libraries.
//! Every subcommand lives in its own file under `cmd/` and offers `--json` for scripts.

use clap::{Parser, Subcommand};

mod cmd;
mod recipe;
mod test_log;

#[derive(Parser)]
#[command(
    name = "grace",
    version,
    about = "Gradient-aware multi-task RUL prediction for turbofan engines (NASA C-MAPSS)"
)]
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
    /// Train a dual-task model on a C-MAPSS subset (or the synthetic fleet) with one method.
    Train(cmd::train::Args),
    /// List the task-weighting methods: needs, cost, parameters with defaults, citation.
    Methods(cmd::methods::Args),
    /// Score a finished run on the test set (last window per engine).
    Evaluate(cmd::train::EvaluateArgs),
    /// Predict RUL and health for in-service engines with a trained run (last window per engine).
    Predict(cmd::predict::Args),
    /// Show a model preset's layers and parameter counts.
    Model(cmd::model::Args),
    /// Measure per-task gradients after a few plain epochs and recommend a method (docs/reference.md §7).
    Diagnose(cmd::diagnose::Args),
    /// Run a grid of (subset, method, seed) trainings and tabulate mean ± std.
    Sweep(cmd::sweep::Args),
    /// List the tuned recipes built in (recipes/), or show one.
    Recipes(cmd::recipes::Args),
    /// Search hyper-parameters with successive halving (ASHA), scored on validation engines only.
    Tune(cmd::tune::Args),
    /// Write an HTML report with figures for a run or a sweep.
    Report(cmd::report::Args),
    /// Tabulate a sweep per subset and method and compare methods by a paired bootstrap over test engines.
    Compare(cmd::compare::Args),
    /// Per run, the epoch each selection score picks and the held-out calibration-cut RMSE there.
    Selection(cmd::selection::Args),
    /// Benchmarks against the PyTorch reference.
    #[command(subcommand)]
    Bench(cmd::bench::BenchCommand),
    /// Smoke-check the libtorch link.
    Doctor(cmd::doctor::Args),
}

/// A reader that goes away (`grace methods | head`) ends grace as it ends `cat`: by SIGPIPE, with
/// no message. Rust starts programs with SIGPIPE ignored, which turns the next `println!` of any
/// command into a panic; restoring the default action fixes every command at once.
#[cfg(unix)]
fn end_quietly_on_closed_pipe() {
    extern "C" {
        fn signal(signum: i32, handler: usize) -> usize;
    }
    const SIGPIPE: i32 = 13;
    const SIG_DFL: usize = 0;
    // SAFETY: signal(2) from the C library std already links; it only resets the action of one
    // signal, before any other thread exists.
    unsafe {
        signal(SIGPIPE, SIG_DFL);
    }
}

#[cfg(not(unix))]
fn end_quietly_on_closed_pipe() {}

fn main() {
    end_quietly_on_closed_pipe();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("GRACE_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Data(c) => cmd::data::run(c),
        Command::Explain(a) => cmd::explain::run(a),
        Command::Simulate(a) => cmd::simulate::run(a),
        Command::Train(a) => cmd::train::run(a),
        Command::Methods(a) => cmd::methods::run(a),
        Command::Evaluate(a) => cmd::train::evaluate(a),
        Command::Predict(a) => cmd::predict::run(a),
        Command::Model(a) => cmd::model::run(a),
        Command::Diagnose(a) => cmd::diagnose::run(a),
        Command::Sweep(a) => cmd::sweep::run(a),
        Command::Recipes(a) => cmd::recipes::run(a),
        Command::Tune(a) => cmd::tune::run(a),
        Command::Report(a) => cmd::report::run(a),
        Command::Compare(a) => cmd::compare::run(a),
        Command::Selection(a) => cmd::selection::run(a),
        Command::Bench(c) => cmd::bench::run(c),
        Command::Doctor(a) => cmd::doctor::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
