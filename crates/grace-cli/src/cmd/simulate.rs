//! `grace simulate`: drives the GABA controller with a constant gradient ratio and shows the
//! λ trajectory (summary, floor binding, equilibrium), optionally as an SVG/PNG plot or a CSV.

use anyhow::{bail, Context};
use grace_core::controller::gaba;
use grace_core::simulate::{simulate, SimConfig, Trajectory};
use grace_core::GabaConfig;
use grace_report::simulate_plot::{draw_lambda_trajectory, task_names, trajectory_csv};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    /// Gradient-norm ratio g_rul / g_other (task 0 = RUL, every other task has norm 1).
    #[arg(long, default_value_t = 500.0)]
    ratio: f64,
    /// EMA factor β.
    #[arg(long, default_value_t = gaba::BETA.default.float())]
    beta: f64,
    /// Floor ε on each task weight; below 1/K, or the K weights could not all reach it.
    #[arg(long, default_value_t = gaba::FLOOR.default.float())]
    floor: f64,
    /// Warm-up steps holding the raw weights at 1/K.
    #[arg(long, default_value_t = gaba::WARMUP_STEPS.default.int())]
    warmup: u64,
    /// Number of controller steps.
    #[arg(long, default_value_t = 1000)]
    steps: u64,
    /// Number of tasks K (≥ 2).
    #[arg(long, default_value_t = 2)]
    tasks: usize,
    /// σ of log-normal noise on every norm (each is multiplied by exp(σ·z), z ~ N(0, 1)).
    #[arg(long, default_value_t = 0.0)]
    noise: f64,
    /// Seed of the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the trajectory: .svg or .png draws it, .csv writes step, λ and raw per task.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

/// Steps shown in the summary: start, warm-up edge, floor binding, ~8 even points and the end.
fn summary_steps(t: &Trajectory) -> Vec<usize> {
    let n = t.lambda.len();
    let w = t.config.gaba.warmup as usize;
    let mut s: Vec<usize> = (0..=8).map(|i| i * (n - 1) / 8).collect();
    s.extend([w.saturating_sub(1), w].into_iter().filter(|&x| x < n));
    s.extend(t.floor_binds_at.map(|b| b as usize));
    s.sort_unstable();
    s.dedup();
    s
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let cfg = SimConfig {
        ratio: a.ratio,
        tasks: a.tasks,
        gaba: GabaConfig { beta: a.beta, floor: a.floor, warmup: a.warmup },
        steps: a.steps,
        noise: a.noise,
    };
    let ext = match &a.out {
        None => None,
        Some(p) => match p.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some(e @ ("svg" | "png" | "csv")) => Some(e.to_string()),
            _ => bail!("--out {} must end in .svg, .png or .csv", p.display()),
        },
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed);
    let t = simulate(&cfg, &mut || StandardNormal.sample(&mut rng))?;
    if let (Some(p), Some(e)) = (&a.out, ext.as_deref()) {
        match e {
            "csv" => write_atomic(p, |tmp| std::fs::write(tmp, trajectory_csv(&t)).map_err(Into::into))?,
            _ => write_atomic(p, |tmp| draw_lambda_trajectory(&t, tmp))?,
        }
    }
    let names = task_names(cfg.tasks);
    let last = t.lambda.last().expect("at least one step");
    if a.json {
        let rows: Vec<_> = summary_steps(&t)
            .into_iter()
            .map(|s| serde_json::json!({"step": s, "lambda": t.lambda[s], "raw": t.raw[s]}))
            .collect();
        let v = serde_json::json!({
            "config": cfg,
            "tasks": names,
            "summary": rows,
            "final": last,
            "floor_binds_at": t.floor_binds_at,
            "equilibrium": t.equilibrium,
            "settled_at": t.settled_at,
            "skipped": t.skipped,
            "out": a.out.as_ref().map(|p| p.display().to_string()),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "GABA λ trajectory: K = {}, g_rul/g_other = {}, β = {}, ε = {}, warm-up {} steps, {} steps, {}",
        cfg.tasks,
        cfg.ratio,
        cfg.gaba.beta,
        cfg.gaba.floor,
        cfg.gaba.warmup,
        cfg.steps,
        if cfg.noise > 0.0 {
            format!("log-normal noise σ = {} (seed {})", cfg.noise, a.seed)
        } else {
            "no noise".into()
        }
    );
    print!("\n{:>8}", "step");
    for n in &names {
        print!(" {:>12}", format!("λ_{n}"));
    }
    for n in &names {
        print!(" {:>12}", format!("raw_{n}"));
    }
    println!();
    for s in summary_steps(&t) {
        print!("{s:>8}");
        for x in t.lambda[s].iter().chain(&t.raw[s]) {
            print!(" {x:>12.6}");
        }
        println!();
    }
    println!();
    match t.floor_binds_at {
        Some(b) => println!("floor ε = {} first binds at step {b}", cfg.gaba.floor),
        None => println!("floor ε = {} never binds in {} steps", cfg.gaba.floor, cfg.steps),
    }
    let fmt = |v: &[f64]| v.iter().zip(&names).map(|(x, n)| format!("{n} {x:.6}")).collect::<Vec<_>>().join(", ");
    println!("equilibrium λ* (ema = raw): {}", fmt(&t.equilibrium));
    println!("final λ* (step {}): {}", t.lambda.len() - 1, fmt(last));
    match t.settled_at {
        Some(s) => println!("within 1e-3 of the equilibrium from step {s} on"),
        None => println!("not settled within 1e-3 of the equilibrium by the last step"),
    }
    if t.skipped > 0 {
        println!("{} step(s) skipped: unusable norms", t.skipped);
    }
    if let Some(p) = &a.out {
        println!("wrote {}", p.display());
    }
    Ok(())
}

/// grace_core's atomic write, after checking --out's folder so the error says which flag is wrong.
fn write_atomic(path: &Path, write: impl FnOnce(&Path) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    anyhow::ensure!(dir.is_dir(), "directory {} of --out does not exist", dir.display());
    grace_core::io::write_atomic(path, write).with_context(|| format!("cannot write {}", path.display()))
}
