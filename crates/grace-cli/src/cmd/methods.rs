//! `grace methods`: the registry of task-weighting methods, as the trainer reads it — RUL loss, what a
//! step needs, its cost, the parameters with defaults (`--set method.NAME=VALUE`) and the citation.

use grace_core::methods::{MethodSummary, METHODS};
use grace_nn::config::N_TASKS;

#[derive(clap::Args)]
pub struct Args {
    /// Print the registry as JSON (one object per method; cost for the model's two tasks).
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let summaries: Vec<MethodSummary> = METHODS.iter().map(|m| m.summary(N_TASKS)).collect();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summaries)?);
        return Ok(());
    }
    for s in &summaries {
        print_one(s);
    }
    println!(
        "cost: backward passes per step for the model's {N_TASKS} tasks (the gradient log may add per-task passes)"
    );
    Ok(())
}

fn print_one(s: &MethodSummary) {
    println!("{:<12} {}", s.name, s.description);
    let extra = match s.cost.extra_forwards {
        0 => String::new(),
        n => format!(", {n} extra forward(s)"),
    };
    println!(
        "{:<12} RUL loss {}; needs {}; {} backward pass(es) per step{extra}",
        "",
        s.rul_loss.name(),
        s.needs.name(),
        s.cost.backward_passes
    );
    for p in &s.params {
        println!("{:<12} method.{} = {}  ({})", "", p.name, p.default, p.doc);
    }
    println!("{:<12} {}", "", s.citation);
}
