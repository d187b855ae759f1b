//! `grace diagnose`: measures the per-task gradients after a short plain training (and at initialisation)
//! and the dataset's complexity, then recommends a method by the docs/reference.md §7 rules; `--json` carries every number.

use crate::recipe::Recipe;
use anyhow::anyhow;
use grace_core::rules::CostShape;
use grace_data::DataSpec;
use grace_nn::config::RunConfig;
use grace_nn::diagnose::{diagnose, Diagnosis, Gradients, Quartiles, Settling, SETTLE_EPOCHS, SETTLE_METHOD};

#[derive(clap::Args)]
pub struct Args {
    /// C-MAPSS folder or CMAPSSData.zip, or `synthetic`; default: $GRACE_CMAPSS_DIR, else synthetic.
    #[arg(long)]
    data: Option<String>,
    /// FD001, FD002, FD003 or FD004 [default: the recipe's subset, else FD001].
    #[arg(long)]
    subset: Option<String>,
    /// Tuned settings beneath the flags and --set, as `grace train --recipe` takes them: a built-in
    /// recipe (FD001…, see `grace recipes`; its subset becomes the default --subset) or a TOML file.
    #[arg(long, value_name = "NAME|FILE")]
    recipe: Option<String>,
    /// Epochs of plain training (method baseline) before the gradients the rule reads are measured;
    /// 0 measures the initialised model.
    #[arg(long, value_name = "E", default_value_t = SETTLE_EPOCHS)]
    settle_epochs: usize,
    /// Training batches to measure (seeded).
    #[arg(long, default_value_t = 20)]
    batches: usize,
    /// Model preset: `small` (CPU) or `paper`.
    #[arg(long, default_value = "small")]
    preset: String,
    /// What the predictions will be judged on: nasa (late-averse), rmse (symmetric) or balanced.
    #[arg(long, default_value = "nasa", value_parser = ["nasa", "rmse", "balanced"])]
    cost: String,
    /// Seed of the model initialisation, dropout masks and batch choice.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long)]
    batch_size: Option<usize>,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// libtorch CPU threads (0 = its default).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Override one run-config value, e.g. --set data.prep.window=40 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    #[arg(long)]
    json: bool,
}

fn toml_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let data = a.data.clone().unwrap_or_else(|| DataSpec::from_env().to_string());
    let mut sets = vec![format!("data.source={}", toml_str(&data))];
    if let Some(subset) = &a.subset {
        sets.push(format!("data.subset={}", toml_str(subset)));
    }
    sets.extend([
        format!("train.seed={}", a.seed),
        format!("train.device={}", toml_str(&a.device)),
        format!("train.threads={}", a.threads),
    ]);
    if let Some(b) = a.batch_size {
        sets.push(format!("train.batch_size={b}"));
    }
    sets.extend(a.sets.iter().cloned());
    let recipe = a.recipe.as_deref().map(|r| Recipe::config_text(r, None)).transpose()?;
    let cfg = RunConfig::resolve(&a.preset, recipe.as_deref(), &sets).map_err(|e| anyhow!(e))?;
    let cost = CostShape::from_name(&a.cost)?;
    let d = diagnose(&cfg, a.batches, cost, Settling { epochs: a.settle_epochs, quiet: a.json })?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&d)?);
    } else {
        print_text(&d, cfg.data.is_synthetic());
    }
    Ok(())
}

fn q(x: &Quartiles, prec: usize) -> String {
    format!(
        "median {:.p$}  [Q1 {:.p$}, Q3 {:.p$}]  (min {:.p$}, max {:.p$})",
        x.median,
        x.q1,
        x.q3,
        x.min,
        x.max,
        p = prec
    )
}

/// Which measurement the rule read, in words.
fn measured_when(d: &Diagnosis) -> String {
    if d.settle_epochs == 0 {
        "at initialisation".into()
    } else {
        let s = if d.settle_epochs == 1 { "" } else { "s" };
        format!("after {} epoch{s} of plain training ({SETTLE_METHOD})", d.settle_epochs)
    }
}

fn print_gradients(d: &Diagnosis) {
    let g = &d.gradients;
    println!(
        "gradients on the {} shared parameters {}, {} batches of {} ({}; RUL loss {}):",
        g.shared_parameters,
        measured_when(d),
        g.batches,
        g.batch_size,
        g.mode,
        g.rul_loss
    );
    println!("  ‖∇L_rul‖          {}", q(&g.g_rul, 3));
    println!("  ‖∇L_health‖       {}", q(&g.g_health, 4));
    println!("  g_rul/g_health    {}", q(&g.ratio_rul_health, 1));
    println!("  g_max/g_min       {}", q(&g.ratio_max_min, 1));
    println!("  cosine            {}", q(&g.cosine, 3));
    if let Some(i) = &d.initial {
        let m = |g: &Gradients| format!("cosine {:+.3}, g_max/g_min {:.1}", g.cosine.median, g.ratio_max_min.median);
        println!("  medians at initialisation: {}; {}: {}", m(i), measured_when(d), m(g));
    }
    for note in &d.notes {
        println!("  note: {note}");
    }
}

fn print_text(d: &Diagnosis, synthetic: bool) {
    let label =
        if synthetic { "SYNTHETIC fleet (numbers are not C-MAPSS results)".to_string() } else { d.subset.clone() };
    println!(
        "grace diagnose  {label}, preset {}, seed {}, windows of {} cycles × {} features",
        d.preset, d.seed, d.window, d.features
    );
    print_gradients(d);
    let c = &d.complexity;
    println!(
        "complexity: {} condition(s) × {} fault mode(s) = {} (inferred from the data, {} engines)",
        c.conditions, c.fault_modes, c.product, c.engines
    );
    let shares: Vec<String> =
        c.condition_inertia_share.iter().enumerate().map(|(i, s)| format!("k={}: {:.2e}", i + 1, s)).collect();
    println!("  conditions: {}; within-cluster share {}", c.conditions_how, shares.join(", "));
    let cos: Vec<String> =
        c.fault_mode_max_cosine.iter().enumerate().map(|(i, s)| format!("k={}: {:.3}", i + 2, s)).collect();
    println!(
        "  fault modes: {}; largest centroid cosine {}; engines per mode {:?}",
        c.fault_modes_how,
        cos.join(", "),
        c.fault_mode_engines
    );
    let n = &d.near_failure;
    println!(
        "near-failure windows (RUL ≤ {}): {:.1}% ({} of {})",
        n.threshold,
        100.0 * n.share,
        n.windows,
        n.total_windows
    );
    let r = &d.recommendation;
    println!(
        "recommendation for a {} cost: {}{}{}  (rule inputs, {}: median g_max/g_min {:.1}, median cosine {:+.3})",
        serde_json::to_value(d.cost).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
        r.method,
        r.slope.map(|s| format!(" (weighted-MSE slope {})", format!("{s:?}").to_lowercase())).unwrap_or_default(),
        r.adaptive_alternative.as_ref().map(|a| format!("; adaptive alternative: {a}")).unwrap_or_default(),
        measured_when(d),
        d.rule_ratio,
        d.rule_cosine
    );
    for reason in &r.reasons {
        println!("  - {reason}");
    }
    println!("({:.1} s)", d.seconds);
}
