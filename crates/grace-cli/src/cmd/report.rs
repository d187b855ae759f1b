//! `grace report`: an HTML page with PNG/SVG figures for one run directory, a whole sweep or a tune.
//! All the work is in grace-report; this file only parses flags and prints where the page is.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A run directory (from `grace train`), a sweep directory (from `grace sweep`) or a tune
    /// directory (from `grace tune`).
    #[arg(value_name = "RUN_DIR|SWEEP_DIR|TUNE_DIR")]
    input: PathBuf,
    /// Folder for index.html and its figures [default: INPUT/report].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Points per per-step curve after downsampling.
    #[arg(long, default_value_t = 400)]
    max_points: usize,
    /// Print a JSON summary (page, figures) instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let out = a.out.clone().unwrap_or_else(|| a.input.join("report"));
    let s = grace_report::report::report(
        &a.input,
        &out,
        grace_report::report::Options { max_points: a.max_points.max(2) },
    )?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        let unit = if s.kind == "tune" { "trial" } else { "run" };
        println!(
            "{} report of {} ({} {unit}{}): {}",
            s.kind,
            s.input.display(),
            s.runs,
            if s.runs == 1 { "" } else { "s" },
            s.index.display()
        );
        println!("  {} pages, {} figure files (PNG + SVG)", s.pages.len(), s.figures.len());
        if s.synthetic {
            println!("  data: SYNTHETIC fleet (flagged on the page); not C-MAPSS results");
        }
    }
    Ok(())
}
