//! `grace train`: resolves a run configuration from flags, a TOML file and `--set` pairs, and
//! trains (or resumes) a run directory; `grace evaluate` re-scores a finished run.

use crate::recipe::Recipe;
use anyhow::{anyhow, Context};
use grace_core::rundir::{CONFIG_FILE, RECIPE_FILE};
use grace_data::synthetic::SYNTHETIC_NAME;
use grace_data::DataSpec;
use grace_nn::config::RunConfig;
use grace_nn::train::{self, Options, Paused, RunResults};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// C-MAPSS folder or CMAPSSData.zip, or `synthetic`; default: $GRACE_CMAPSS_DIR, else synthetic.
    #[arg(long)]
    data: Option<String>,
    /// FD001, FD002, FD003 or FD004 [default: FD001].
    #[arg(long)]
    subset: Option<String>,
    // The task-weighting method; the help lists the registry.
    #[arg(long, help = method_help())]
    method: Option<String>,
    /// Model preset: `small` (CPU work) or `paper` [default: small].
    #[arg(long)]
    preset: Option<String>,
    /// Input features: 17 (14 sensors + 3 settings) or 14 (sensors only).
    #[arg(long, value_parser = ["17", "14"])]
    features: Option<String>,
    /// TOML file with any of the sections `[data]`, `[model]`, `[method]`, `[train]`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Tuned settings beneath --config, the flags and --set: a built-in recipe (FD001…, see
    /// `grace recipes`; its subset becomes the default --subset) or a TOML file.
    #[arg(long, value_name = "NAME|FILE")]
    recipe: Option<String>,
    /// Coverage levels of the calibrated intervals, e.g. 0.9 or 0.8,0.9,0.95 (eval.coverage, stored
    /// with the run; needs data.prep.calibration > 0 to have any effect).
    #[arg(long, value_name = "LEVELS", value_parser = super::predict::parse_levels)]
    coverage: Option<super::predict::Levels>,
    /// Override one value, e.g. --set train.lr=5e-4 --set model.lstm_hidden=128 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long)]
    epochs: Option<usize>,
    /// Stop after this many optimizer steps in total (at least 1; leave out for no step limit).
    #[arg(long, value_parser = parse_max_steps)]
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
    /// Continue the interrupted run in this directory (its config.toml is used as is; only --device
    /// and --threads may change, since they change where it runs, not what it computes).
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["config", "recipe", "sets", "out"])]
    resume: Option<PathBuf>,
    /// Train until N epochs in total (or the run's end), then stop before the test scoring: the
    /// checkpoint stays, the exit status is 0 and --json prints {"status": "paused", …}; --resume continues.
    #[arg(long, value_name = "N")]
    stop_at_epoch: Option<usize>,
    /// Print results.json to stdout and no progress.
    #[arg(long)]
    json: bool,
}

/// `--max-steps 0` would read as "no steps" but the config's 0 means "no limit": refuse the flag.
fn parse_max_steps(s: &str) -> Result<u64, String> {
    match s.parse::<u64>().map_err(|e| format!("`{s}` is not a step count: {e}"))? {
        0 => Err("0 steps is no training; leave --max-steps out to train without a step limit".into()),
        n => Ok(n),
    }
}

/// The `--method` help, from the method registry.
fn method_help() -> String {
    let default = grace_nn::config::MethodConfig::default().name;
    format!("{} (see `grace methods`) [default: {default}]", grace_core::methods::names().join(", "))
}

pub fn resolve(a: &Args) -> anyhow::Result<RunConfig> {
    let mut text = match &a.config {
        Some(p) => Some(std::fs::read_to_string(p).with_context(|| format!("reading --config {}", p.display()))?),
        None => None,
    };
    if let Some(name) = &a.recipe {
        text = Some(Recipe::config_text(name, text.as_deref())?);
    }
    // Precedence: defaults < config file < flags < --set.
    let file_has_source = text
        .as_deref()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .is_some_and(|t| t.get("data").and_then(|d| d.get("source")).is_some());
    let data = match &a.data {
        Some(d) => Some(d.clone()),
        None if file_has_source => None,
        None => Some(DataSpec::from_env().to_string()),
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
    opt("eval.coverage", a.coverage.as_ref().map(|l| format!("{:?}", l.0)));
    sets.extend(a.sets.iter().cloned());
    RunConfig::resolve(a.preset.as_deref().unwrap_or("small"), text.as_deref(), &sets).map_err(|e| anyhow!(e))
}

fn toml_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let opts = Options { quiet: a.json, stop_at_epoch: a.stop_at_epoch, ..Default::default() };
    let (outcome, dir) = if let Some(dir) = &a.resume {
        refuse_run_changes(&a, dir)?;
        let runtime = train::Runtime { device: a.device.clone(), threads: a.threads };
        (train::resume_with(dir, &runtime, opts), dir.clone())
    } else {
        let cfg = resolve(&a)?;
        let dir = a.out.clone().unwrap_or_else(|| {
            PathBuf::from("runs").join(format!(
                "{}_{}_seed{}",
                if cfg.data.is_synthetic() { SYNTHETIC_NAME } else { &cfg.data.subset },
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
        // The run keeps its recipe's name so that the test log names it when resumed or re-scored.
        let notes: Vec<(&str, String)> = a.recipe.iter().map(|r| (RECIPE_FILE, format!("{r}\n"))).collect();
        (train::run_new_with_notes(cfg, &dir, &notes, opts), dir)
    };
    match outcome {
        Ok(results) => {
            crate::test_log::record(&dir, &results, a.recipe.as_deref())?;
            print_results(&results, &dir, a.json)
        }
        Err(e) => match e.downcast_ref::<Paused>() {
            Some(p) => print_paused(p, &dir, a.json),
            None => Err(e),
        },
    }
}

/// Flags that would change a resumed run are refused: its config.toml decides, and a flag that is
/// silently ignored would leave the user believing the run uses it.
fn refuse_run_changes(a: &Args, dir: &std::path::Path) -> anyhow::Result<()> {
    let given = [
        ("--data", a.data.is_some()),
        ("--subset", a.subset.is_some()),
        ("--method", a.method.is_some()),
        ("--preset", a.preset.is_some()),
        ("--features", a.features.is_some()),
        ("--seed", a.seed.is_some()),
        ("--epochs", a.epochs.is_some()),
        ("--max-steps", a.max_steps.is_some()),
        ("--batch-size", a.batch_size.is_some()),
        ("--coverage", a.coverage.is_some()),
    ];
    let changes: Vec<&str> = given.iter().filter(|(_, g)| *g).map(|(f, _)| *f).collect();
    if !changes.is_empty() {
        anyhow::bail!(
            "--resume {} continues the run exactly as its {} says; {} would change the run and cannot be applied \
             to it (only --device and --threads can). Start a new run with --out to train with other settings",
            dir.display(),
            CONFIG_FILE,
            changes.join(", ")
        );
    }
    Ok(())
}

fn print_paused(p: &Paused, dir: &std::path::Path, json: bool) -> anyhow::Result<()> {
    if json {
        let v = serde_json::json!({ "status": "paused", "run_dir": dir, "epochs_run": p.epochs, "ended": p.ended });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "run {} paused after {} epochs{}, not scored on the test set; continue with grace train --resume {}",
            dir.display(),
            p.epochs,
            if p.ended { " (its training has ended)" } else { "" },
            dir.display()
        );
    }
    Ok(())
}

pub fn print_results(r: &RunResults, dir: &std::path::Path, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    let label = if r.synthetic { "SYNTHETIC fleet".to_string() } else { r.subset.clone() };
    println!("run {}  ({label}, method {}, seed {})", dir.display(), r.method, r.seed);
    // Under `train.select = "cuts"` the selection score is the cut RMSE itself.
    let by_cuts = r.protocol.selection_metric.contains("cuts");
    let score = if by_cuts { "RMSE on test-like cuts" } else { "validation RMSE" };
    // Epochs are numbered from 0 in every file a run writes; the range keeps "epoch 4 of 15" from
    // reading as the fourth of fifteen.
    println!(
        "selected epoch {} (of epochs 0-{}) by {score} {:.2} on {} held-out training engines (test-like cuts: RMSE {:.2})",
        r.validation.best_epoch,
        r.epochs_run.saturating_sub(1),
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
    if let Some(iv) = &r.intervals {
        super::model::print_intervals(iv);
    }
    println!("  {:.1} s training, {} steps", r.train_seconds, r.steps);
    Ok(())
}

#[derive(clap::Args)]
pub struct EvaluateArgs {
    /// A finished run directory (or, instead, an ensemble: --runs, or --sweep with --method).
    #[arg(required_unless_present_any = ["runs", "sweep"], conflicts_with_all = ["runs", "sweep"])]
    run_dir: Option<PathBuf>,
    /// Override the run's device.
    #[arg(long)]
    device: Option<String>,
    /// Score the run on other data (a C-MAPSS folder or zip, or `synthetic`) instead of its own;
    /// needs --out. Without it, data that differ from the run's recorded fingerprint are refused.
    #[arg(long, requires = "out")]
    data: Option<String>,
    /// The subset of --data to score [default: the run's].
    #[arg(long, requires = "data")]
    subset: Option<String>,
    /// Folder for the scores on --data (results.json, predictions.csv, data.json), or for an
    /// ensemble's results; never a run directory.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    ensemble: super::model::EnsembleFlags,
    /// Coverage levels of the intervals reported by this call, e.g. 0.9 or 0.8,0.9,0.95 [default:
    /// the run's eval.coverage]; refitted from the stored calibration residuals. A run's own files
    /// keep its levels; an ensemble's --out folder gets these.
    #[arg(long, value_name = "LEVELS", value_parser = super::predict::parse_levels)]
    coverage: Option<super::predict::Levels>,
    #[arg(long)]
    json: bool,
}

pub fn evaluate(a: EvaluateArgs) -> anyhow::Result<()> {
    let levels = a.coverage.as_ref().map(|l| l.0.as_slice());
    if a.ensemble.is_set() {
        return super::model::evaluate_ensemble(&a.ensemble, a.out.as_deref(), levels, a.json);
    }
    if a.ensemble.cross_conformal {
        anyhow::bail!("--cross-conformal combines several fold runs: pass them with --runs DIR…");
    }
    let run_dir = a.run_dir.clone().expect("clap requires a run directory without --runs or --sweep");
    let (r, written_to) = match (&a.data, &a.out) {
        (Some(source), Some(out)) => {
            let other = train::OtherData { source, subset: a.subset.as_deref(), out };
            (train::evaluate_on(&run_dir, &other, a.device.as_deref())?, out.clone())
        }
        (None, Some(_)) => {
            anyhow::bail!("--out is for --data, --runs or --sweep: a run is re-scored in its own folder")
        }
        _ => (train::evaluate_run(&run_dir, a.device.as_deref())?, run_dir.clone()),
    };
    crate::test_log::record(&written_to, &r, None)?;
    let r = match levels {
        Some(l) => RunResults { intervals: grace_nn::intervals::intervals_at(&written_to, l)?, ..r },
        None => r,
    };
    print_results(&r, &run_dir, a.json)?;
    if !a.json {
        println!("per-engine predictions: {}", written_to.join(train::PREDICTIONS_FILE).display());
    }
    Ok(())
}
