//! `grace selection`: per run, the epoch each checkpoint-selection score picks and the held-out
//! calibration-cut RMSE there, and the mean over runs (docs/tune.md, "Which selection score?").

use anyhow::Context;
use grace_core::selection::{mean_over_runs, picks, MeanPick, Pick};
use serde::Serialize;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Run directories trained with calibration engines (`data.prep.calibration` > 0).
    #[arg(value_name = "RUN_DIR", required = true)]
    runs: Vec<PathBuf>,
    /// Print the picks and means as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct RunPicks {
    run: String,
    picks: Vec<Pick>,
}

#[derive(Serialize)]
struct Study {
    runs: Vec<RunPicks>,
    mean: Vec<MeanPick>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let mut runs = vec![];
    for dir in &a.runs {
        let rows = grace_nn::logs::read_epoch_log(dir)?;
        let picks = picks(&rows).with_context(|| {
            format!(
                "{} logged no held_cut_rmse: train it with data.prep.calibration > 0 (e.g. 0.5) to hold out \
                 calibration engines",
                dir.display()
            )
        })?;
        runs.push(RunPicks { run: dir.display().to_string(), picks });
    }
    let all: Vec<Vec<Pick>> = runs.iter().map(|r| r.picks.clone()).collect();
    let study = Study { mean: mean_over_runs(&all), runs };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&study)?);
    } else {
        print_study(&study);
    }
    Ok(())
}

fn print_study(s: &Study) {
    for r in &s.runs {
        println!("{}", r.run);
        println!("  {:<8} {:>6} {:>14}", "score", "epoch", "held_cut_rmse");
        for p in &r.picks {
            println!("  {:<8} {:>6} {:>14.3}", p.score, p.epoch, p.held_cut_rmse);
        }
    }
    println!("mean over runs");
    println!("  {:<8} {:>6} {:>14}", "score", "runs", "held_cut_rmse");
    for m in &s.mean {
        println!("  {:<8} {:>6} {:>14.3}", m.score, m.runs, m.mean_held_cut_rmse);
    }
}
