//! `grace predict`: RUL and health for in-service engines from a trained run's selected weights and
//! its own fitted preprocessing, one prediction per engine from its last window.

use grace_nn::predict::{self, Forecast};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A trained run directory (with config.toml, preprocessing.json and best.safetensors).
    run_dir: PathBuf,
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
    let f = predict::predict_file(&a.run_dir, &a.engines, a.device.as_deref())?;
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
    println!(
        "{:>6} {:>7} {:>8}  {:<9} {:>8} {:>11} {:>10} {:>9}",
        "unit", "cycles", "RUL", "health", "p_normal", "p_degrading", "p_critical", "condition"
    );
    for e in &f.engines {
        println!(
            "{:>6} {:>7} {:>8.1}  {:<9} {:>8.3} {:>11.3} {:>10.3} {:>9}{}",
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
    println!("note: {}", h.note);
}
