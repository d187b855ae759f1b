//! `grace train`: resolves a run configuration from flags, a TOML file and `--set` pairs, and
//! trains (or resumes) a run directory; `grace evaluate` re-scores a finished run.

use anyhow::{anyhow, Context};
use grace_nn::config::RunConfig;
use grace_nn::train::{self, Options, RunResults};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// C-MAPSS folder or CMAPSSData.zip, or `synthetic`; default: $GRACE_CMAPSS_DIR, else synthetic.
    #[arg(long)]
    data: Option<String>,
    /// FD001, FD002, FD003 or FD004 [default: FD001].
    #[arg(long)]
    subset: Option<String>,
    /// baseline, amnl, gaba, grace, single, … (SPEC §4.3) [default: grace].
    #[arg(long)]
    method: Option<String>,
    /// Model preset: `small` (CPU work) or `paper`.
    #[arg(long, default_value = "small")]
    preset: String,
    /// Input features: 17 (14 sensors + 3 settings) or 14 (sensors only).
    #[arg(long, value_parser = ["17", "14"])]
    features: Option<String>,
    /// TOML file with any of the sections [data], [model], [method], [train].
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override one value, e.g. --set train.lr=5e-4 --set model.lstm_hidden=128 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long)]
    epochs: Option<usize>,
    /// Stop after this many optimizer steps in total.
    #[arg(long)]
    max_steps: Option<u64>,
    #[arg(long)]
    batch_size: Option<usize>,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long)]
    device: Option<String>,
    /// libtorch CPU threads (0 = its default).
    #[arg(long)]
    threads: Option<usize>,
    /// Run directory to create (default runs/SUBSET_METHOD_seedN).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the interrupted run in this directory (its config.toml is used as is).
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["config", "sets", "out"])]
    resume: Option<PathBuf>,
    /// Print results.json to stdout and no progress.
    #[arg(long)]
    json: bool,
}

pub fn resolve(a: &Args) -> anyhow::Result<RunConfig> {
    let text = match &a.config {
        Some(p) => Some(std::fs::read_to_string(p).with_context(|| format!("reading --config {}", p.display()))?),
        None => None,
    };
    // Precedence: defaults < config file < flags < --set.
    let file_has_source = text
        .as_deref()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .is_some_and(|t| t.get("data").and_then(|d| d.get("source")).is_some());
    let data = match &a.data {
        Some(d) => Some(d.clone()),
        None if file_has_source => None,
        None => Some(std::env::var("GRACE_CMAPSS_DIR").unwrap_or_else(|_| "synthetic".into())),
    };
    let mut sets = Vec::new();
    for (key, v) in [("data.source", &data), ("data.subset", &a.subset), ("method.name", &a.method)] {
        if let Some(v) = v {
            sets.push(format!("{key}={}", toml_str(v)));
        }
    }
    if let Some(f) = &a.features {
        sets.push(format!(
            "data.prep.features={}",
            toml_str(if f == "14" { "sensors" } else { "sensors_and_settings" })
        ));
    }
    let mut opt = |key: &str, v: Option<String>| {
        if let Some(v) = v {
            sets.push(format!("{key}={v}"));
        }
    };
    opt("train.seed", a.seed.map(|v| v.to_string()));
    opt("train.epochs", a.epochs.map(|v| v.to_string()));
    opt("train.max_steps", a.max_steps.map(|v| v.to_string()));
    opt("train.batch_size", a.batch_size.map(|v| v.to_string()));
    opt("train.device", a.device.as_deref().map(toml_str));
    opt("train.threads", a.threads.map(|v| v.to_string()));
    sets.extend(a.sets.iter().cloned());
    RunConfig::resolve(&a.preset, text.as_deref(), &sets).map_err(|e| anyhow!(e))
}

fn toml_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let opts = Options { quiet: a.json, ..Default::default() };
    let (results, dir) = if let Some(dir) = &a.resume {
        (train::run(None, dir, true, opts)?, dir.clone())
    } else {
        let cfg = resolve(&a)?;
        let dir = a.out.clone().unwrap_or_else(|| {
            PathBuf::from("runs").join(format!(
                "{}_{}_seed{}",
                if cfg.data.is_synthetic() { "SYNTHETIC" } else { &cfg.data.subset },
                cfg.method.name,
                cfg.train.seed
            ))
        });
        if !a.json {
            if cfg.data.is_synthetic() {
                eprintln!("data: SYNTHETIC fleet (no --data and no GRACE_CMAPSS_DIR); numbers are not C-MAPSS results");
            } else {
                eprintln!("data: {} {}", cfg.data.source, cfg.data.subset);
            }
            eprintln!("run directory: {}", dir.display());
        }
        (train::run(Some(cfg), &dir, false, opts)?, dir)
    };
    print_results(&results, &dir, a.json)
}

pub fn print_results(r: &RunResults, dir: &std::path::Path, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    let label = if r.synthetic { "SYNTHETIC fleet".to_string() } else { r.subset.clone() };
    println!("run {}  ({label}, method {}, seed {})", dir.display(), r.method, r.seed);
    println!(
        "selected epoch {} of {} by validation RMSE {:.2} on {} held-out training engines (test-like cut: RMSE {:.2})",
        r.validation.best_epoch,
        r.epochs_run,
        r.validation.best_val_rmse,
        r.protocol.validation_units.len(),
        r.validation.cut.rmse
    );
    println!("test set, scored once, last window of each of {} engines:", r.test.engines);
    println!(
        "  truth capped at {:>5}:  RMSE {:>7.2}  NASA {:>10.1}  MAE {:>7.2}",
        r.protocol.max_rul, r.test.capped.rmse, r.test.capped.nasa, r.test.capped.mae
    );
    println!(
        "  truth uncapped:        RMSE {:>7.2}  NASA {:>10.1}  MAE {:>7.2}",
        r.test.uncapped.rmse, r.test.uncapped.nasa, r.test.uncapped.mae
    );
    println!("  health: accuracy {:.3}, macro-F1 {:.3}", r.test.health_accuracy, r.test.health_macro_f1);
    println!("  {:.1} s training, {} steps", r.train_seconds, r.steps);
    Ok(())
}

#[derive(clap::Args)]
pub struct EvaluateArgs {
    /// A finished run directory.
    run_dir: PathBuf,
    /// Override the run's device.
    #[arg(long)]
    device: Option<String>,
    #[arg(long)]
    json: bool,
}

pub fn evaluate(a: EvaluateArgs) -> anyhow::Result<()> {
    let r = train::evaluate_run(&a.run_dir, a.device.as_deref())?;
    print_results(&r, &a.run_dir, a.json)?;
    if !a.json {
        println!("per-engine predictions: {}", a.run_dir.join(train::PREDICTIONS_FILE).display());
    }
    Ok(())
}
