//! `grace bench accuracy`: grace and the PyTorch reference train the same recipe on the same exported
//! data for the same wall-clock budget, one after the other; best validation RMSE by elapsed time.

use crate::recipe::Recipe;
use anyhow::{anyhow, bail, Context};
use grace_data::DataSpec;
use grace_nn::bench::accuracy::{self, common_target, marks, Curve, EpochPoint, Export, Reached};
use grace_nn::config::RunConfig;
use grace_report::figures::{self, FigureFiles, Mark, Panel, Panels, Series};
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args)]
pub struct AccuracyArgs {
    /// C-MAPSS folder or CMAPSSData.zip, or `synthetic`; default: $GRACE_CMAPSS_DIR, else synthetic.
    #[arg(long)]
    data: Option<String>,
    /// FD001…FD004 [default: the recipe's subset, else FD001].
    #[arg(long)]
    subset: Option<String>,
    /// Tuned settings both sides train with: a built-in recipe (FD001…) or a TOML file.
    #[arg(long, value_name = "NAME|FILE")]
    recipe: Option<String>,
    /// baseline, amnl, single (fixed task weights), gaba or grace: the methods the reference implements.
    #[arg(long, default_value = "baseline")]
    method: String,
    /// Model preset beneath the recipe: small or paper.
    #[arg(long, default_value = "small")]
    preset: String,
    /// Wall-clock budget of each side (no epoch starts after it).
    #[arg(long, default_value_t = 10.0)]
    budget_minutes: f64,
    /// CPU threads of each side.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Override one setting of both sides, e.g. --set train.batch_size=128 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Output folder [default: runs/bench-accuracy_SUBSET_METHOD_seedN]; grace's run goes to OUT/grace_run.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Python with torch for the reference (default: .venv/bin/python, $GRACE_PYTHON).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Skip the PyTorch reference.
    #[arg(long)]
    no_reference: bool,
    /// The reference attends from the last time step only, as grace does (default: full self-attention).
    #[arg(long)]
    attn_last_query: bool,
    #[arg(long)]
    json: bool,
}

/// One side: its epochs and what they add up to within the budget.
#[derive(Serialize)]
struct Side {
    epochs_run: usize,
    epochs_in_budget: usize,
    seconds_per_epoch: Option<f64>,
    best_val_rmse: Option<f64>,
    /// When it first reached `target_rmse` (None: not within the budget).
    time_to_target: Option<f64>,
    /// The whole call or process, set-up included.
    wall_s: f64,
    #[serde(flatten)]
    curve: Curve,
}

#[derive(Serialize)]
struct MarkRow {
    elapsed_s: f64,
    grace: Reached,
    reference: Option<Reached>,
}

#[derive(Serialize)]
struct Report {
    subset: String,
    recipe: Option<String>,
    method: String,
    preset: String,
    budget_s: f64,
    threads: usize,
    seed: u64,
    metric: &'static str,
    data: Export,
    grace_run: PathBuf,
    grace: Side,
    reference: Option<Side>,
    /// The reference's settings as it printed them (torch, attention, initial weights).
    reference_info: Option<Value>,
    reference_error: Option<String>,
    /// The worse of the two sides' best RMSEs within the budget: the accuracy both reached.
    target_rmse: Option<f64>,
    marks: Vec<MarkRow>,
    figure: Option<FigureFiles>,
}

const METRIC: &str = "validation RMSE of the averaged weights over all windows of the selection engines, truth capped";

fn toml_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

/// The run configuration both sides train: defaults < preset < recipe < flags < --set.
fn resolve(a: &AccuracyArgs) -> anyhow::Result<RunConfig> {
    let (mut text, mut subset) = (None, a.subset.clone());
    if let Some(name) = &a.recipe {
        let recipe = Recipe::load(name)?;
        subset = subset.or_else(|| recipe.subset().map(String::from));
        text = Some(recipe.beneath(None)?);
    }
    let data = a.data.clone().unwrap_or_else(|| DataSpec::from_env().to_string());
    let mut sets = vec![format!("data.source={}", toml_str(&data)), format!("method.name={}", toml_str(&a.method))];
    if let Some(s) = subset {
        sets.push(format!("data.subset={}", toml_str(&s)));
    }
    sets.push(format!("train.seed={}", a.seed));
    sets.push(format!("train.threads={}", a.threads));
    sets.push("train.device=\"cpu\"".into());
    sets.extend(a.sets.iter().cloned());
    RunConfig::resolve(&a.preset, text.as_deref(), &sets).map_err(|e| anyhow!(e))
}

fn side(curve: Curve, budget_s: f64, target: Option<f64>, wall_s: f64) -> Side {
    let within = curve.at(budget_s);
    Side {
        epochs_run: curve.epochs.len(),
        epochs_in_budget: within.epochs,
        seconds_per_epoch: curve.seconds_per_epoch(),
        best_val_rmse: within.best_val_rmse,
        time_to_target: target.and_then(|t| curve.time_to(t, budget_s)),
        wall_s,
        curve,
    }
}

/// What the reference printed: its start line (with its `done` line inside) and its epochs.
#[derive(Debug)]
struct ReferenceRun {
    info: Value,
    curve: Curve,
    wall_s: f64,
}

fn run_reference(a: &AccuracyArgs, export: &Export, budget_s: f64, out: &Path) -> Result<ReferenceRun, String> {
    let script = crate::cmd::reference::script("train_ref.py")?;
    let python = crate::cmd::reference::python(a.python.as_deref());
    let started = Instant::now();
    let mut cmd = std::process::Command::new(&python);
    cmd.arg(&script).arg("--data").arg(&export.data_file).arg("--config").arg(&export.spec_file);
    cmd.args(["--budget-seconds", &budget_s.to_string(), "--threads", &a.threads.to_string()]);
    if a.attn_last_query {
        cmd.arg("--attn-last-query");
    }
    let run = cmd.output().map_err(|e| format!("could not run {}: {e}", python.display()))?;
    let wall_s = started.elapsed().as_secs_f64();
    let _ = std::fs::write(out.join("reference_epochs.jsonl"), &run.stdout);
    if !run.status.success() {
        let err = String::from_utf8_lossy(&run.stderr);
        return Err(format!("reference failed: {}", err.lines().last().unwrap_or("")));
    }
    parse_reference(&String::from_utf8_lossy(&run.stdout), wall_s)
}

/// The JSON lines of `train_ref.py`: `{"start": …}`, one object per epoch, `{"done": …}`.
fn parse_reference(stdout: &str, wall_s: f64) -> Result<ReferenceRun, String> {
    let mut run = ReferenceRun { info: Value::Null, curve: Curve::default(), wall_s };
    for line in stdout.lines().filter(|l| l.starts_with('{')) {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("reference printed a bad line ({e}): {line}"))?;
        if let Some(start) = v.get("start") {
            run.info = start.clone();
        } else if v.get("epoch").is_some() {
            let p: EpochPoint = serde_json::from_value(v).map_err(|e| format!("reference epoch line: {e}"))?;
            run.curve.epochs.push(p);
        } else if let Some(done) = v.get("done") {
            run.info["done"] = done.clone();
        }
    }
    if run.curve.epochs.is_empty() {
        return Err("the reference finished no epoch".into());
    }
    Ok(run)
}

fn out_dir(a: &AccuracyArgs, cfg: &RunConfig) -> PathBuf {
    a.out.clone().unwrap_or_else(|| {
        PathBuf::from("runs")
            .join(format!("bench-accuracy_{}_{}_seed{}", cfg.data.subset, cfg.method.name, cfg.train.seed))
    })
}

pub fn run(a: AccuracyArgs) -> anyhow::Result<()> {
    if !(a.budget_minutes.is_finite() && a.budget_minutes > 0.0) {
        bail!("--budget-minutes must be a positive number of minutes, got {}", a.budget_minutes);
    }
    let budget_s = a.budget_minutes * 60.0;
    let cfg = resolve(&a)?;
    accuracy::reference_spec(&cfg)?;
    let out = out_dir(&a, &cfg);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let data = grace_nn::train::load_data(&cfg)?;
    let export = accuracy::export(&cfg, &data, &out)?;
    drop(data);
    let say = |m: String| {
        if !a.json {
            eprintln!("{m}");
        }
    };
    say(format!("grace: training for {budget_s:.0} s on {} thread(s)…", a.threads));
    let grace_run = out.join("grace_run");
    let started = Instant::now();
    let grace = accuracy::run_grace(cfg.clone(), &grace_run, budget_s)?;
    let grace_wall = started.elapsed().as_secs_f64();
    let reference = if a.no_reference {
        Err("skipped (--no-reference)".to_string())
    } else {
        say(format!("PyTorch reference: training for {budget_s:.0} s on {} thread(s)…", a.threads));
        run_reference(&a, &export, budget_s, &out)
    };
    let report = report(&a, &cfg, budget_s, export, grace_run, (grace, grace_wall), reference);
    finish(report, &out, a.json)
}

fn report(
    a: &AccuracyArgs,
    cfg: &RunConfig,
    budget_s: f64,
    data: Export,
    grace_run: PathBuf,
    (grace, grace_wall): (Curve, f64),
    reference: Result<ReferenceRun, String>,
) -> Report {
    let target = reference.as_ref().ok().and_then(|r| common_target(&grace, &r.curve, budget_s));
    let marks = marks(budget_s)
        .into_iter()
        .map(|t| MarkRow {
            elapsed_s: t,
            grace: grace.at(t),
            reference: reference.as_ref().ok().map(|r| r.curve.at(t)),
        })
        .collect();
    let (reference, reference_info, reference_error) = match reference {
        Ok(r) => (Some(side(r.curve, budget_s, target, r.wall_s)), Some(r.info), None),
        Err(e) => (None, None, Some(e)),
    };
    Report {
        subset: if cfg.data.is_synthetic() { "SYNTHETIC".into() } else { cfg.data.subset.clone() },
        recipe: a.recipe.clone(),
        method: cfg.method.name.clone(),
        preset: a.preset.clone(),
        budget_s,
        threads: a.threads,
        seed: cfg.train.seed,
        metric: METRIC,
        data,
        grace_run,
        grace: side(grace, budget_s, target, grace_wall),
        reference,
        reference_info,
        reference_error,
        target_rmse: target,
        marks,
        figure: None,
    }
}

fn finish(mut r: Report, out: &Path, json: bool) -> anyhow::Result<()> {
    r.figure = Some(figures::save(&figure(&r), out, "accuracy", (900, 560))?);
    grace_core::io::write_json_atomic(&out.join("accuracy.json"), &r)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print_table(&r, out);
    }
    Ok(())
}

/// The best RMSE so far as a step line: flat until an epoch improves on it.
fn best_so_far(c: &Curve) -> Vec<(f64, f64)> {
    let mut best = f64::INFINITY;
    let mut pts = Vec::new();
    for p in c.epochs.iter().filter(|p| p.val_rmse.is_finite()) {
        if best.is_finite() {
            pts.push((p.elapsed_s, best));
        }
        best = best.min(p.val_rmse);
        pts.push((p.elapsed_s, best));
    }
    pts
}

fn figure(r: &Report) -> Panels {
    let mut series = vec![];
    let sides = [("grace", Some(&r.grace)), ("PyTorch reference", r.reference.as_ref())];
    for (i, (name, s)) in sides.into_iter().enumerate() {
        let Some(s) = s else { continue };
        let color = figures::color(i);
        series.push(Series::new(Some(format!("{name}: best so far")), color, Mark::Line, best_so_far(&s.curve)));
        let each: Vec<(f64, f64)> = s.curve.epochs.iter().map(|p| (p.elapsed_s, p.val_rmse)).collect();
        series.push(Series::new(None, color, Mark::Points, each));
    }
    let panel = Panel {
        title: "validation RMSE by elapsed time (points: each epoch)".into(),
        x_label: "seconds of training and validation".into(),
        y_label: "validation RMSE".into(),
        // the first epoch's RMSE (≈ 80) would flatten the differences that matter on a linear axis
        log_y: true,
        series,
        vlines: vec![(r.budget_s, "budget".into())],
        ..Default::default()
    };
    let title = format!("time to accuracy: {} {}, {} thread(s)", r.subset, r.method, r.threads);
    Panels { title, panels: vec![panel] }
}

fn cell(r: Option<Reached>) -> String {
    match r {
        Some(Reached { best_val_rmse: Some(v), epochs }) => format!("{v:.2} ({epochs})"),
        Some(Reached { epochs, .. }) => format!("– ({epochs})"),
        None => "–".into(),
    }
}

fn opt(v: Option<f64>, unit: &str) -> String {
    v.map(|v| format!("{v:.1}{unit}")).unwrap_or_else(|| "–".into())
}

fn print_table(r: &Report, out: &Path) {
    let info = r.reference_info.as_ref();
    let attention = info.and_then(|i| i["attention"].as_str()).unwrap_or("?");
    let torch = info.and_then(|i| i["torch"].as_str()).unwrap_or("?");
    println!(
        "time to accuracy: {} {}, {} windows to train on, {} to validate; budget {:.0} s per side, {} thread(s)",
        r.subset, r.method, r.data.train_windows, r.data.val_windows, r.budget_s, r.threads
    );
    println!("metric: {METRIC}; best so far (epochs ended)");
    println!("{:>10} {:>18} {:>18}", "elapsed", "grace", "PyTorch");
    for m in &r.marks {
        println!("{:>8.1} s {:>18} {:>18}", m.elapsed_s, cell(Some(m.grace)), cell(m.reference));
    }
    let g = &r.grace;
    let t = r.reference.as_ref();
    println!(
        "epochs run: grace {}, PyTorch {}; seconds per epoch (median): grace {}, PyTorch {}",
        g.epochs_run,
        t.map(|t| t.epochs_run.to_string()).unwrap_or_else(|| "–".into()),
        opt(g.seconds_per_epoch, ""),
        opt(t.and_then(|t| t.seconds_per_epoch), "")
    );
    if let Some(target) = r.target_rmse {
        println!(
            "both reached RMSE {target:.2}: grace after {}, PyTorch after {}",
            opt(g.time_to_target, " s"),
            opt(t.and_then(|t| t.time_to_target), " s")
        );
    }
    match &r.reference_error {
        Some(e) => println!("reference: {e}"),
        None => println!("reference: torch {torch}, {attention} attention"),
    }
    println!("written: {} (accuracy.json, accuracy.png, accuracy.svg, grace_run/)", out.display());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_lines_give_its_settings_and_epochs() {
        let text = "{\"start\": {\"attention\": \"full\"}}\nnoise\n\
            {\"epoch\": 0, \"elapsed_s\": 2.0, \"seconds\": 2.0, \"val_rmse\": 40.0, \"train_loss\": 9.0, \"lr\": 0.1}\n\
            {\"epoch\": 1, \"elapsed_s\": 4.5, \"seconds\": 2.5, \"val_rmse\": 30.0, \"train_loss\": 8.0}\n\
            {\"done\": {\"epochs\": 2}}\n";
        let r = parse_reference(text, 7.0).unwrap();
        assert_eq!(r.info["attention"], "full");
        assert_eq!(r.info["done"]["epochs"], 2);
        assert_eq!(r.curve.epochs.len(), 2);
        assert_eq!(r.curve.epochs[1].elapsed_s, 4.5);
        assert_eq!(best_so_far(&r.curve), [(2.0, 40.0), (4.5, 40.0), (4.5, 30.0)]);
        assert!(parse_reference("{\"start\": {}}\n", 1.0).unwrap_err().contains("no epoch"));
    }
}
