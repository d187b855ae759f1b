//! `grace predict`: RUL and health for in-service engines from a trained run's (or a seed
//! ensemble's) selected weights and fitted preprocessing, one prediction per engine from its last window.

use grace_core::conformal::Combine;
use grace_nn::intervals::ensemble::EnsembleOptions;
use grace_nn::predict::{self, Forecast};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A trained run directory (with config.toml, preprocessing.json and best.safetensors).
    #[arg(required_unless_present = "runs", conflicts_with = "runs")]
    run_dir: Option<PathBuf>,
    /// Predict with the ensemble of these trained runs instead (same data and preprocessing).
    #[arg(long, num_args = 2.., value_name = "DIR")]
    runs: Vec<PathBuf>,
    /// How the ensemble's member predictions combine per engine: mean or median.
    #[arg(long, default_value = "mean", value_parser = super::model::parse_combine, requires = "runs")]
    combine: Combine,
    /// Pool the members' out-of-fold calibration residuals: runs trained on different folds
    /// (data.prep.fold) of one data.prep.folds split (docs/intervals.md).
    #[arg(long, requires = "runs")]
    cross_conformal: bool,
    /// Coverage levels of the bounds for this call, e.g. 0.9 or 0.8,0.9,0.95 [default: the run's
    /// eval.coverage]; refitted from the stored calibration residuals, no file is rewritten.
    #[arg(long, value_name = "LEVELS", value_parser = parse_levels)]
    coverage: Option<Levels>,
    /// Engine histories in NASA's layout (like test_FD001.txt): unit, cycle, 3 settings, 21 sensors.
    #[arg(long, value_name = "FILE")]
    engines: PathBuf,
    /// Also write the predictions to this CSV file.
    #[arg(long, value_name = "CSV")]
    out: Option<PathBuf>,
    /// cpu, cuda, cuda:N or auto [default: the run's device].
    #[arg(long)]
    device: Option<String>,
    /// Print the header and predictions as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let levels = a.coverage.as_ref().map(|l| l.0.as_slice());
    let f = match &a.run_dir {
        Some(dir) => predict::predict_file(dir, &a.engines, a.device.as_deref(), levels)?,
        None => {
            let opts = EnsembleOptions {
                combine: a.combine,
                levels: levels.map(<[f64]>::to_vec),
                cross_conformal: a.cross_conformal,
            };
            predict::predict_ensemble(&a.runs, &a.engines, a.device.as_deref(), &opts)?
        }
    };
    for w in &f.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(out) = &a.out {
        predict::write_csv(out, &f.engines)?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&f)?);
    } else {
        print_table(&f);
        if let Some(out) = &a.out {
            println!("predictions written to {}", out.display());
        }
    }
    Ok(())
}

fn print_table(f: &Forecast) {
    let h = &f.header;
    let label = if h.synthetic { "SYNTHETIC fleet".to_string() } else { h.subset.clone() };
    println!("run {}  ({label}, method {}), engines from {}", h.run_dir, h.method, h.engines_file);
    println!("last window of {} cycles per engine; condition is the last cycle's (of {})", h.window, h.n_conditions);
    let levels: Vec<f64> = f.engines.first().map(|e| e.intervals.iter().map(|b| b.level).collect()).unwrap_or_default();
    let bound_header: String =
        levels.iter().map(|l| format!(" {:>22}", format!("{:.0}%: ≥L [lo, hi]", l * 100.0))).collect();
    println!(
        "{:>6} {:>7} {:>8}  {:<9} {:>8} {:>11} {:>10} {:>9}{bound_header}",
        "unit", "cycles", "RUL", "health", "p_normal", "p_degrading", "p_critical", "condition"
    );
    for e in &f.engines {
        let bounds: String = e
            .intervals
            .iter()
            .map(|b| {
                let hi = b.upper.map_or("-".to_string(), |u| format!("{u:.0}"));
                format!(" {:>22}", format!("≥{:.0} [{:.0}, {hi}]", b.at_least, b.lower))
            })
            .collect();
        println!(
            "{:>6} {:>7} {:>8.1}  {:<9} {:>8.3} {:>11.3} {:>10.3} {:>9}{bounds}{}",
            e.unit,
            e.cycles,
            e.rul,
            e.health,
            e.p_normal,
            e.p_degrading,
            e.p_critical,
            e.condition,
            if e.front_padded { "  (padded)" } else { "" }
        );
    }
    if !levels.is_empty() {
        println!(
            "bounds: ≥L is the calibrated one-sided lower bound (RUL ≥ L with that probability), [lo, hi] the \
             symmetric interval; both calibrated on held-out engines (docs/intervals.md)"
        );
    }
    println!("note: {}", h.note);
}

/// Coverage levels given on the command line (`--coverage 0.8,0.9`).
#[derive(Debug, Clone, PartialEq)]
pub struct Levels(pub Vec<f64>);

/// `--coverage`: comma-separated levels, each a number in (0, 1) (checked by the same rule as
/// the ensemble options, [`grace_nn::intervals::check_levels`]); the error names the value.
pub fn parse_levels(s: &str) -> Result<Levels, String> {
    let levels = s
        .split(',')
        .map(|x| x.trim().parse::<f64>().map_err(|_| format!("coverage level '{}' is not a number", x.trim())))
        .collect::<Result<Vec<f64>, String>>()?;
    grace_nn::intervals::check_levels(&levels).map_err(|e| e.to_string())?;
    Ok(Levels(levels))
}
