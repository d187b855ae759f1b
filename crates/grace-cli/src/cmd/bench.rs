//! `grace bench train`: grace's training step and inference against the PyTorch reference of the
//! same model, in one run, same batch and threads; prints samples/s and ratios, and with `--method`
//! that method's step against GABA's.

use anyhow::Context;
use grace_nn::bench::{self, BenchConfig, BenchResult};
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Training-step and inference throughput versus the PyTorch reference.
    Train(TrainArgs),
}

#[derive(clap::Args)]
pub struct TrainArgs {
    /// small, paper, or both.
    #[arg(long, default_value = "both")]
    preset: String,
    #[arg(long, default_value_t = 256)]
    batch: i64,
    #[arg(long, default_value_t = 1024)]
    infer_batch: i64,
    /// CPU threads for both implementations.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Timed steps per repeat (default: 3 small, 2 paper).
    #[arg(long)]
    steps: Option<usize>,
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Python with torch 2.11 for the reference (default: .venv/bin/python, $GRACE_PYTHON).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Skip the PyTorch reference.
    #[arg(long)]
    no_reference: bool,
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Also measure this method's step (a name from `grace methods`) against GABA's.
    #[arg(long)]
    method: Option<String>,
    #[arg(long)]
    json: bool,
}

pub fn run(c: BenchCommand) -> anyhow::Result<()> {
    match c {
        BenchCommand::Train(a) => train(a),
    }
}

fn reference(a: &TrainArgs, preset: &str, steps: usize) -> Result<serde_json::Value, String> {
    let python = a
        .python
        .clone()
        .or_else(|| std::env::var_os("GRACE_PYTHON").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(".venv/bin/python"));
    let script = PathBuf::from("bench/reference/bench_train.py");
    if !script.exists() {
        return Err(format!("{} not found (run from the repository root)", script.display()));
    }
    let out = std::process::Command::new(&python)
        .arg(&script)
        .args(["--preset", preset, "--batch", &a.batch.to_string(), "--threads", &a.threads.to_string()])
        .args([
            "--steps",
            &steps.to_string(),
            "--repeats",
            &a.repeats.to_string(),
            "--infer-batch",
            &a.infer_batch.to_string(),
        ])
        .args(["--device", &a.device, "--modes", "plain,gaba_1f3b,gaba_1f2b,infer", "--json"])
        .output()
        .map_err(|e| format!("could not run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!("reference failed: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("reference printed no JSON: {e}"))
}

fn train(a: TrainArgs) -> anyhow::Result<()> {
    if let Some(m) = &a.method {
        grace_core::methods::method(m)?;
    }
    let presets: Vec<&str> = match a.preset.as_str() {
        "both" => vec!["small", "paper"],
        p => vec![p],
    };
    let device = grace_nn::train::device_of(&a.device)?;
    let mut rows = Vec::new();
    for preset in presets {
        let steps = a.steps.unwrap_or(if preset == "paper" { 2 } else { 3 });
        if !a.json {
            eprintln!("measuring {preset} preset (batch {}, {} threads)…", a.batch, a.threads);
        }
        let ours: BenchResult = bench::run(&BenchConfig {
            preset: preset.into(),
            features: 17,
            batch: a.batch,
            infer_batch: a.infer_batch,
            threads: a.threads,
            warmup_steps: 2,
            steps,
            repeats: a.repeats,
            device,
            method: a.method.clone(),
        })
        .with_context(|| format!("benchmarking the {preset} preset"))?;
        let reference =
            if a.no_reference { Err("skipped (--no-reference)".into()) } else { reference(&a, preset, steps) };
        rows.push((ours, reference));
    }
    if a.json {
        let v: Vec<_> = rows
            .iter()
            .map(|(o, r)| {
                let mut j = serde_json::json!({"grace": o});
                match r {
                    Ok(r) => {
                        let s = &r["samples_per_s"];
                        let ratio = |ours: f64, key: &str| s[key].as_f64().map(|t| ours / t);
                        j["reference"] = r.clone();
                        j["ratios"] = serde_json::json!({
                            "gaba_vs_1f3b": ratio(o.samples_per_s.gaba, "gaba_1f3b"),
                            "gaba_vs_1f2b": ratio(o.samples_per_s.gaba, "gaba_1f2b"),
                            "plain_vs_plain": ratio(o.samples_per_s.plain, "plain"),
                            "infer_vs_infer": ratio(o.samples_per_s.infer, "infer"),
                        });
                    }
                    Err(e) => j["reference_error"] = serde_json::json!(e),
                }
                j
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("{:<7} {:<26} {:>12} {:>12} {:>8}", "preset", "measure (samples/s)", "grace", "PyTorch", "ratio");
    for (o, r) in &rows {
        let s = &o.samples_per_s;
        let refv = |k: &str| r.as_ref().ok().and_then(|r| r["samples_per_s"][k].as_f64());
        let line = |name: &str, ours: f64, key: &str| match refv(key) {
            Some(t) => println!("{:<7} {:<26} {:>12.1} {:>12.1} {:>7.2}×", o.preset, name, ours, t, ours / t),
            None => println!("{:<7} {:<26} {:>12.1} {:>12} {:>8}", o.preset, name, ours, "–", "–"),
        };
        line("plain step", s.plain, "plain");
        line("GABA step vs 1F+3B (paper)", s.gaba, "gaba_1f3b");
        line("GABA step vs 1F+2B", s.gaba, "gaba_1f2b");
        line(&format!("inference, batch {}", a.infer_batch), s.infer, "infer");
        if let Some(m) = &s.method {
            let name = format!("{} step", m.name);
            println!("{:<7} {:<26} {:>12.1} {:>12} {:>8}", o.preset, name, m.samples_per_s, "–", "–");
            println!("{:<7} {:<26} {:>12.2}×", o.preset, format!("{} step / GABA step", m.name), m.vs_gaba);
        }
        if let Err(e) = r {
            println!("        reference: {e}");
        }
    }
    Ok(())
}
