//! `grace model`: the layer table and parameter counts of a preset (total, shared, per head); and
//! the ensemble side of `grace evaluate` (`--runs`, `--sweep`), which loads no model.

use anyhow::{bail, Context};
use grace_core::conformal::{Combine, IntervalKind};
use grace_core::results::{IntervalsSummary, RulPair};
use grace_core::rundir::RESULTS_FILE;
use grace_nn::intervals::ensemble::{sweep_members, EnsembleOptions};
use grace_nn::model::{param_counts, DualTaskModel, ModelConfig};
use grace_report::plan::Manifest;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    /// `paper` or `small`.
    #[arg(long, default_value = "paper")]
    preset: String,
    /// Input features: 17 or 14.
    #[arg(long, default_value_t = 17, value_parser = clap::value_parser!(i64).range(1..))]
    features: i64,
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let cfg = ModelConfig::preset(&a.preset, a.features).map_err(anyhow::Error::msg)?;
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let _model = DualTaskModel::new(&vs.root(), &cfg);
    let c = param_counts(&vs);
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "preset": a.preset, "features": a.features, "config": cfg,
                "parameters": {"total": c.total, "shared": c.shared, "rul_head": c.rul_head, "health_head": c.health_head,
                               "blocks": c.blocks.iter().map(|(b, n)| serde_json::json!({"block": b, "parameters": n})).collect::<Vec<_>>()}
            })
        );
        return Ok(());
    }
    let d = 2 * cfg.lstm_hidden;
    let convs = cfg.conv_channels.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(" → ");
    let funnel = cfg.funnel.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(" → ");
    let rows: Vec<(&str, String)> = vec![
        (
            "cnn",
            format!(
                "{} × [Conv1d k{} → BatchNorm → ReLU → Dropout {}]: {} → {convs}",
                cfg.conv_channels.len(),
                cfg.conv_kernel,
                cfg.conv_dropout,
                a.features
            ),
        ),
        (
            "lstm",
            format!(
                "BiLSTM {} layers, hidden {} per direction, dropout {} → ({}, {d})",
                cfg.lstm_layers, cfg.lstm_hidden, cfg.lstm_dropout, cfg.window
            ),
        ),
        (
            "attention",
            format!(
                "{}-head self-attention over {d}, residual + LayerNorm, dropout {}",
                cfg.attn_heads, cfg.attn_dropout
            ),
        ),
        (
            "funnel",
            format!(
                "last step {d} → {funnel} (ReLU, dropout {}{})",
                cfg.funnel_dropout,
                if cfg.dropout_on_shared { ", also on z" } else { ", none on z" }
            ),
        ),
        (
            "rul_head",
            format!(
                "{} → {} → 1, ReLU after every layer (last bias {})",
                cfg.funnel.last().unwrap_or(&0),
                cfg.rul_head.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(" → "),
                cfg.rul_bias_init
            ),
        ),
        (
            "health_head",
            format!(
                "{} → {} → {} logits",
                cfg.funnel.last().unwrap_or(&0),
                cfg.health_head.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(" → "),
                cfg.n_classes
            ),
        ),
    ];
    println!("model preset '{}' with {} input features, window {}", a.preset, a.features, cfg.window);
    println!("{:<12} {:>11}  layers", "block", "parameters");
    for (block, text) in rows {
        let n = c.blocks.iter().find(|(b, _)| b == block).map(|(_, n)| *n).unwrap_or(0);
        println!("{block:<12} {n:>11}  {text}");
    }
    println!("{:<12} {:>11}", "total", c.total);
    println!("{:<12} {:>11}  (everything outside the two heads)", "shared", c.shared);
    Ok(())
}

/// The ensemble flags of `grace evaluate` (flattened into its arguments): the members, given as
/// run directories or as one method's runs of a sweep directory, and how they are combined.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct EnsembleFlags {
    /// Combine these finished runs into an ensemble (needs --out; the runs are only read).
    #[arg(long, num_args = 1.., value_name = "DIR", conflicts_with = "sweep")]
    pub runs: Vec<PathBuf>,
    /// Combine the finished runs of --method in this sweep directory (its runs/ folder).
    #[arg(long, value_name = "DIR", requires = "method")]
    pub sweep: Option<PathBuf>,
    /// The method whose runs --sweep combines.
    #[arg(long, requires = "sweep")]
    pub method: Option<String>,
    /// How member predictions combine per engine: mean or median.
    #[arg(long, default_value = "mean", value_parser = parse_combine)]
    pub combine: Combine,
    /// Calibrate on the members' pooled out-of-fold residuals: runs trained on different folds
    /// (data.prep.fold) of one data.prep.folds split (docs/intervals.md).
    #[arg(long)]
    pub cross_conformal: bool,
}

impl EnsembleFlags {
    /// Whether an ensemble was asked for.
    pub fn is_set(&self) -> bool {
        !self.runs.is_empty() || self.sweep.is_some()
    }
}

/// `--combine`: mean or median.
pub fn parse_combine(s: &str) -> Result<Combine, String> {
    match s {
        "mean" => Ok(Combine::Mean),
        "median" => Ok(Combine::Median),
        other => Err(format!("unknown combine rule '{other}': use mean or median")),
    }
}

/// The finished runs of `label` in a sweep: by its plan when it has one, so a variant (say
/// `amnl_floor`, which trains `amnl`) and its registry method are told apart; by the method
/// recorded in each run's results in a folder without a plan.
fn sweep_label_members(sweep: &Path, label: &str) -> anyhow::Result<Vec<PathBuf>> {
    let Some(manifest) = Manifest::read(sweep)? else {
        return sweep_members(sweep, label);
    };
    if !manifest.methods.iter().any(|m| m == label) {
        bail!("{} has no method or variant {label}; its plan has {}", sweep.display(), manifest.methods.join(", "));
    }
    let runs: Vec<PathBuf> = manifest
        .items()
        .into_iter()
        .filter(|it| it.method == label)
        .map(|it| sweep.join("runs").join(it.name))
        .filter(|d| d.join(RESULTS_FILE).is_file())
        .collect();
    if runs.len() < 2 {
        bail!("{} holds {} finished run(s) of {label}: an ensemble needs at least two", sweep.display(), runs.len());
    }
    Ok(runs)
}

/// `grace evaluate --runs …|--sweep DIR --method M --out DIR`: scores the ensemble next to its
/// members and writes results.json, predictions.csv and calibration.json into `out`, at `levels`
/// when given (else the members' own).
pub fn evaluate_ensemble(
    flags: &EnsembleFlags,
    out: Option<&Path>,
    levels: Option<&[f64]>,
    json: bool,
) -> anyhow::Result<()> {
    let out = out.context("an ensemble needs --out DIR, a new folder for its results (members are never written)")?;
    let members = match (&flags.sweep, &flags.method) {
        (Some(sweep), Some(label)) => sweep_label_members(sweep, label)?,
        _ => flags.runs.clone(),
    };
    let opts = EnsembleOptions {
        combine: flags.combine,
        levels: levels.map(<[f64]>::to_vec),
        cross_conformal: flags.cross_conformal,
    };
    let r = grace_nn::intervals::ensemble::evaluate_ensemble(&members, out, &opts)?;
    crate::test_log::record_ensemble(out, &r)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    let label = if r.synthetic { "SYNTHETIC fleet".to_string() } else { r.subset.clone() };
    println!(
        "{}ensemble of {} runs ({label}, {} per engine) over {} test engines:",
        if flags.cross_conformal { "cross-conformal " } else { "" },
        r.members.len(),
        r.combine.name(),
        r.engines
    );
    println!("{:<44} {:>8} {:>10} {:>8} {:>14}", "model", "RMSE", "NASA", "MAE", "RMSE uncapped");
    let row = |name: &str, p: &RulPair| {
        let (c, u) = (&p.capped, &p.uncapped);
        println!("{name:<44} {:>8.2} {:>10.1} {:>8.2} {:>14.2}", c.rmse, c.nasa, c.mae, u.rmse);
    };
    for m in &r.members {
        row(&format!("{} (seed {})", m.run_dir, m.seed), &m.test);
    }
    row("mean single model", &r.mean_member);
    row("ensemble", &r.ensemble);
    if let Some(iv) = &r.intervals {
        print_intervals(iv);
    }
    println!("written to {}", out.display());
    Ok(())
}

/// The `intervals` section of a run's or an ensemble's results as a table: per kind and level,
/// coverage against capped and uncapped truth, mean width and mean lower bound, and coverage in
/// the true-RUL bands.
pub fn print_intervals(iv: &IntervalsSummary) {
    let scale = iv.scale.as_ref().map_or(String::new(), |s| format!("; normalised kind scaled by {s}"));
    println!(
        "calibrated intervals ({}, {} calibration engines, {} test-like cuts{scale}), on the test set:",
        iv.scheme.describe(),
        iv.calibration_engines,
        iv.calibration_cuts
    );
    println!(
        "  {:<12} {:>5} {:>9} {:>9} {:>7} {:>7}  coverage by true RUL",
        "kind", "level", "coverage", "uncapped", "width", "lower"
    );
    for k in &iv.kinds {
        for (c, u) in k.report.capped.iter().zip(&k.report.uncapped) {
            let width = c.mean_width.map_or("-".to_string(), |w| format!("{w:.1}"));
            let bands: Vec<String> = c
                .bands
                .iter()
                .map(|b| match b.coverage {
                    Some(x) => format!("{} {x:.2} ({})", b.band.label, b.engines),
                    None => format!("{} - (0)", b.band.label),
                })
                .collect();
            println!(
                "  {:<12} {:>5.2} {:>9.3} {:>9.3} {:>7} {:>7.1}  {}",
                kind_name(&k.kind),
                c.level,
                c.coverage,
                u.coverage,
                width,
                c.mean_lower,
                bands.join(", ")
            );
        }
    }
}

fn kind_name(k: &IntervalKind) -> &'static str {
    match k {
        IntervalKind::Symmetric => "symmetric",
        IntervalKind::LowerBound => "lower_bound",
        IntervalKind::Asymmetric => "asymmetric",
        IntervalKind::Normalised { .. } => "normalised",
    }
}
