//! `grace compare`: the benchmark's tables for a sweep: mean ± std per subset and method, and paired
//! bootstrap differences against reference methods. The statistics live in grace-report.

use grace_report::compare::{compare, Options, COMPARE_DIR};
use grace_report::paired::BootstrapSettings;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A sweep directory (from `grace sweep`).
    #[arg(value_name = "SWEEP_DIR")]
    sweep: PathBuf,
    /// Comma-separated reference methods; every other method of a subset is compared with each.
    #[arg(long, value_delimiter = ',', default_value = "baseline,dbmtl")]
    against: Vec<String>,
    /// Bootstrap resamples of the test engines.
    #[arg(long, default_value_t = 10_000)]
    resamples: usize,
    /// Seed of the resampling: the same seed gives the same intervals.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Confidence level of the percentile intervals.
    #[arg(long, default_value_t = 0.95)]
    level: f64,
    /// Folder for compare.md/.csv/.json and compare_cells.csv [default: SWEEP_DIR/compare].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the comparison as JSON instead of the Markdown tables.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let against: Vec<String> = a.against.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    if against.is_empty() {
        anyhow::bail!("--against: name at least one reference method, e.g. --against baseline");
    }
    let opts =
        Options { against, bootstrap: BootstrapSettings { resamples: a.resamples, seed: a.seed, level: a.level } };
    let c = compare(&a.sweep, &opts)?;
    let out = a.out.clone().unwrap_or_else(|| a.sweep.join(COMPARE_DIR));
    let files = c.write(&out)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&c)?);
    } else {
        print!("{}", c.to_markdown());
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        println!("written: {}", names.join(", "));
    }
    Ok(())
}
