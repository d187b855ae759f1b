//! `grace bench train`: grace's training step and inference against the PyTorch reference, alternated
//! round by round (median and range); `grace bench accuracy`: time to accuracy against the same reference.

mod accuracy;

use anyhow::Context;
use grace_nn::bench::{alternation, Bench, BenchConfig, BenchResult, MethodRate, Profile, Side, Spread};
use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Training-step and inference throughput versus the PyTorch reference.
    Train(TrainArgs),
    /// Best validation RMSE by elapsed time, grace against the PyTorch reference, same recipe and data.
    Accuracy(accuracy::AccuracyArgs),
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
    /// Each measure runs whole steps for at least this long.
    #[arg(long, default_value_t = 2.0)]
    min_seconds: f64,
    /// Rounds of grace then the reference; median and range are over the rounds.
    #[arg(long, default_value_t = 5)]
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
    /// Also time the phases of the training step (of --method, else GABA's), and the reference's.
    #[arg(long)]
    profile: bool,
    #[arg(long)]
    json: bool,
}

pub fn run(c: BenchCommand) -> anyhow::Result<()> {
    match c {
        BenchCommand::Train(a) => train(a),
        BenchCommand::Accuracy(a) => accuracy::run(a),
    }
}

/// The compared measures: JSON key of the ratio, label, grace's rate, the reference's mode.
const MEASURES: [(&str, &str, &str, &str); 4] = [
    ("plain_vs_plain", "plain step", "plain", "plain"),
    ("gaba_vs_1f3b", "GABA step vs 1F+3B (paper)", "gaba", "gaba_1f3b"),
    ("gaba_vs_1f2b", "GABA step vs 1F+2B", "gaba", "gaba_1f2b"),
    ("infer_vs_infer", "inference", "infer", "infer"),
];

fn ours(r: &BenchResult, key: &str) -> f64 {
    let s = &r.samples_per_s;
    match key {
        "plain" => s.plain,
        "gaba" => s.gaba,
        _ => s.infer,
    }
}

#[derive(serde::Serialize)]
struct MethodSpread {
    name: String,
    samples_per_s: Option<Spread>,
    vs_gaba: Option<Spread>,
}

/// Every round of one preset, both sides.
struct PresetRun {
    preset: String,
    ours: Vec<BenchResult>,
    reference: Vec<Value>,
    reference_error: Option<String>,
    profile: Option<Profile>,
    reference_profile: Option<Value>,
}

fn reference(a: &TrainArgs, preset: &str, extra: &[&str]) -> Result<Value, String> {
    let python = super::reference::python(a.python.as_deref());
    let script = super::reference::script("bench_train.py")?;
    let out = std::process::Command::new(&python)
        .arg(&script)
        .args(["--preset", preset, "--batch", &a.batch.to_string(), "--threads", &a.threads.to_string()])
        .args(["--min-seconds", &a.min_seconds.to_string(), "--repeats", "1"])
        .args(["--infer-batch", &a.infer_batch.to_string(), "--device", &a.device, "--json"])
        .args(["--modes", "plain,gaba_1f3b,gaba_1f2b,infer"])
        .args(extra)
        .output()
        .map_err(|e| format!("could not run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!("reference failed: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("reference printed no JSON: {e}"))
}

fn measure_preset(a: &TrainArgs, preset: &str) -> anyhow::Result<PresetRun> {
    let mut bench = Bench::new(&BenchConfig {
        preset: preset.into(),
        features: 17,
        batch: a.batch,
        infer_batch: a.infer_batch,
        threads: a.threads,
        warmup_steps: 2,
        min_seconds: a.min_seconds,
        device: grace_nn::train::device_of(&a.device)?,
        method: a.method.clone(),
    })?;
    let mut run = PresetRun {
        preset: preset.into(),
        ours: vec![],
        reference: vec![],
        reference_error: a.no_reference.then(|| "skipped (--no-reference)".to_string()),
        profile: None,
        reference_profile: None,
    };
    for side in alternation(a.repeats.max(1)) {
        match side {
            Side::Grace => run.ours.push(bench.round()?),
            Side::Reference if run.reference_error.is_none() => match reference(a, preset, &[]) {
                Ok(v) => run.reference.push(v),
                Err(e) => run.reference_error = Some(e),
            },
            Side::Reference => {}
        }
    }
    if a.profile {
        run.profile = Some(bench.profile(a.method.as_deref().unwrap_or("gaba"), a.repeats)?);
        if run.reference_error.is_none() {
            run.reference_profile = reference(a, preset, &["--profile"]).ok().map(|v| v["profile"].clone());
        }
    }
    Ok(run)
}

fn spread(v: impl Iterator<Item = f64>) -> Option<Spread> {
    Spread::of(&v.collect::<Vec<_>>())
}

impl PresetRun {
    fn ours(&self, key: &str) -> Option<Spread> {
        spread(self.ours.iter().map(|r| ours(r, key)))
    }

    fn reference(&self, mode: &str) -> Option<Spread> {
        spread(self.reference.iter().filter_map(|r| r["samples_per_s"][mode].as_f64()))
    }

    /// The ratio round by round (grace's measure over the reference's of the same round).
    fn ratio(&self, key: &str, mode: &str) -> Option<Spread> {
        let per_round = self.ours.iter().zip(&self.reference);
        spread(per_round.filter_map(|(o, r)| r["samples_per_s"][mode].as_f64().map(|t| ours(o, key) / t)))
    }

    fn method(&self) -> Option<MethodSpread> {
        let name = self.ours.first()?.samples_per_s.method.as_ref()?.name.clone();
        let m =
            |f: fn(&MethodRate) -> f64| spread(self.ours.iter().filter_map(|r| r.samples_per_s.method.as_ref().map(f)));
        Some(MethodSpread { name, samples_per_s: m(|m| m.samples_per_s), vs_gaba: m(|m| m.vs_gaba) })
    }

    fn to_json(&self, a: &TrainArgs) -> Value {
        let mut j = json!({
            "preset": self.preset,
            "batch": a.batch,
            "threads": self.ours.first().map(|r| r.threads),
            "rounds": self.ours.len(),
            "min_seconds": a.min_seconds,
            "grace": {"plain": self.ours("plain"), "gaba": self.ours("gaba"), "infer": self.ours("infer")},
        });
        if let Some(m) = self.method() {
            j["grace"]["method"] = json!(m);
        }
        if !self.reference.is_empty() {
            let modes = MEASURES.iter().map(|m| (m.3.to_string(), json!(self.reference(m.3))));
            j["reference"] = Value::Object(modes.collect());
            j["reference_torch"] = self.reference[0]["torch"].clone();
            let ratios = MEASURES.iter().map(|m| (m.0.to_string(), json!(self.ratio(m.2, m.3))));
            j["ratios"] = Value::Object(ratios.collect());
        }
        if let Some(e) = &self.reference_error {
            j["reference_error"] = json!(e);
        }
        if let Some(p) = &self.profile {
            j["profile"] = json!(p);
        }
        if let Some(p) = &self.reference_profile {
            j["reference_profile"] = p.clone();
        }
        j
    }
}

fn train(a: TrainArgs) -> anyhow::Result<()> {
    if let Some(m) = &a.method {
        grace_core::methods::method(m)?;
    }
    let presets: Vec<&str> = match a.preset.as_str() {
        "both" => vec!["small", "paper"],
        p => vec![p],
    };
    let mut rows = Vec::new();
    for preset in presets {
        if !a.json {
            eprintln!(
                "measuring {preset} preset (batch {}, {} threads, {} rounds of ≥ {} s per measure)…",
                a.batch, a.threads, a.repeats, a.min_seconds
            );
        }
        rows.push(measure_preset(&a, preset).with_context(|| format!("benchmarking the {preset} preset"))?);
    }
    if a.json {
        let v: Vec<Value> = rows.iter().map(|r| r.to_json(&a)).collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    print_table(&a, &rows);
    Ok(())
}

fn cell(s: Option<Spread>, digits: usize) -> String {
    match s {
        Some(s) => format!("{:.d$} [{:.d$}–{:.d$}]", s.median, s.min, s.max, d = digits),
        None => "–".into(),
    }
}

fn print_table(a: &TrainArgs, rows: &[PresetRun]) {
    println!("samples/s and ratio: median [min–max] over {} rounds", a.repeats.max(1));
    println!("{:<7} {:<26} {:>26} {:>26} {:>20}", "preset", "measure", "grace", "PyTorch", "ratio");
    for r in rows {
        for (_, label, ours, mode) in MEASURES {
            let label = if ours == "infer" { format!("{label}, batch {}", a.infer_batch) } else { label.to_string() };
            let (o, t, q) = (cell(r.ours(ours), 1), cell(r.reference(mode), 1), cell(r.ratio(ours, mode), 2));
            println!("{:<7} {:<26} {:>26} {:>26} {:>20}", r.preset, label, o, t, q);
        }
        if let Some(m) = r.method() {
            println!("{:<7} {:<26} {:>26}", r.preset, format!("{} step", m.name), cell(m.samples_per_s, 1));
            println!("{:<7} {:<26} {:>26}", r.preset, format!("{} step / GABA step", m.name), cell(m.vs_gaba, 2));
        }
        if let Some(e) = &r.reference_error {
            println!("        reference: {e}");
        }
        if let Some(p) = &r.profile {
            print_profile(&r.preset, p, r.reference_profile.as_ref());
        }
    }
}

/// grace's phases (ms, share) and, where the reference reported them, its own.
fn print_profile(preset: &str, p: &Profile, reference: Option<&Value>) {
    println!(
        "{preset:<7} profile of the {} step ({} repetitions; whole step {:.2} ms without sync points)",
        p.method, p.repetitions, p.step_ms
    );
    for ph in &p.phases {
        println!("{:<7}   {:<14} {:>9.3} ms {:>6.1}%", "", ph.name, ph.ms, 100.0 * ph.share);
    }
    let Some(phases) = reference.and_then(|r| r["phases"].as_array()) else { return };
    let mode = reference.and_then(|r| r["mode"].as_str()).unwrap_or("?");
    println!("{preset:<7} PyTorch reference, {mode} step");
    for ph in phases {
        let (name, ms, share) = (ph["name"].as_str().unwrap_or("?"), ph["ms"].as_f64(), ph["share"].as_f64());
        println!(
            "{:<7}   {:<14} {:>9.3} ms {:>6.1}%",
            "",
            name,
            ms.unwrap_or(f64::NAN),
            100.0 * share.unwrap_or(f64::NAN)
        );
    }
}
