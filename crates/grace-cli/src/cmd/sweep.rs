//! `grace sweep`: trains the (subset × method × seed) grid as subprocesses of this binary,
//! resumably and N at a time, or one `--index` item for job arrays; then tabulates the results.

use anyhow::{bail, Context};
use grace_report::plan::{self, Manifest, PlanItem, SYNTHETIC};
use grace_report::rundir::{self, RunStatus};
use serde::Serialize;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// C-MAPSS folder or CMAPSSData.zip, or `synthetic`; default: $GRACE_CMAPSS_DIR, else synthetic.
    #[arg(long)]
    data: Option<String>,
    /// Comma-separated subsets (ignored, with the label SYNTHETIC, on the synthetic fleet).
    #[arg(long, value_delimiter = ',', default_value = "FD001")]
    subsets: Vec<String>,
    /// Comma-separated methods, e.g. baseline,amnl,gaba,grace.
    #[arg(long, value_delimiter = ',')]
    methods: Vec<String>,
    /// A count (5 → seeds 0..4), a range (10..15) or a list (0,7,42).
    #[arg(long, default_value = "5")]
    seeds: String,
    /// TOML file shared by every run (as `grace train --config`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override for every run, e.g. --set train.epochs=50 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Model preset for every run: small or paper.
    #[arg(long)]
    preset: Option<String>,
    #[arg(long)]
    epochs: Option<usize>,
    /// cpu, cuda, cuda:N or auto, for every run.
    #[arg(long)]
    device: Option<String>,
    /// Sweep directory: runs go to OUT/runs/SUBSET_METHOD_seedN, tables to OUT/results.{md,csv,json}.
    #[arg(long)]
    out: PathBuf,
    /// Runs trained at the same time.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// libtorch threads per run [default: max(1, cores / jobs)].
    #[arg(long)]
    threads: Option<usize>,
    /// Print the runs as JSON lines (index, subset, method, seed, run_dir, status) and exit.
    #[arg(long, conflicts_with_all = ["index", "collect"])]
    plan: bool,
    /// Run only item I of the plan (for a Slurm array or a Kubernetes indexed Job).
    #[arg(long, conflicts_with = "collect")]
    index: Option<usize>,
    /// Only build results.md/.csv/.json from the runs already in --out.
    #[arg(long)]
    collect: bool,
    /// Print a JSON summary instead of progress lines and the Markdown table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Serialize)]
struct Outcome {
    index: usize,
    name: String,
    run_dir: PathBuf,
    /// skipped (already finished), trained, resumed or failed.
    action: &'static str,
    seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The data source the runs will use, resolved as `grace train` would (flag > --set > file > env).
fn effective_source(a: &Args) -> anyhow::Result<String> {
    if let Some(d) = &a.data {
        return Ok(d.clone());
    }
    if let Some(v) = a.sets.iter().rev().find_map(|s| s.strip_prefix("data.source=")) {
        return Ok(v.trim().trim_matches('"').to_string());
    }
    if let Some(p) = &a.config {
        let text = std::fs::read_to_string(p).with_context(|| format!("reading --config {}", p.display()))?;
        let t: toml::Table = text.parse().with_context(|| format!("--config {}: not valid TOML", p.display()))?;
        if let Some(s) = t.get("data").and_then(|d| d.get("source")).and_then(|s| s.as_str()) {
            return Ok(s.to_string());
        }
    }
    Ok(std::env::var("GRACE_CMAPSS_DIR").unwrap_or_else(|_| "synthetic".into()))
}

struct Sweep {
    manifest: Manifest,
    items: Vec<PlanItem>,
}

fn resolve(a: &Args) -> anyhow::Result<Sweep> {
    if a.methods.is_empty() {
        bail!("--methods is required, e.g. --methods baseline,amnl,gaba,grace");
    }
    for m in &a.methods {
        grace_core::methods::method(m).map_err(|e| anyhow::anyhow!("--methods: {e}"))?;
    }
    let source = effective_source(a)?;
    let synthetic = source == "synthetic";
    let subsets: Vec<String> = if synthetic {
        vec![SYNTHETIC.to_string()]
    } else {
        let s: Vec<String> =
            a.subsets.iter().map(|s| s.trim().to_ascii_uppercase()).filter(|s| !s.is_empty()).collect();
        if let Some(bad) = s.iter().find(|s| !["FD001", "FD002", "FD003", "FD004"].contains(&s.as_str())) {
            bail!("--subsets: unknown subset {bad}; use FD001, FD002, FD003 or FD004");
        }
        s
    };
    let seeds = plan::parse_seeds(&a.seeds)?;
    let mut train_args = vec!["--data".to_string(), source.clone()];
    if let Some(p) = &a.preset {
        train_args.extend(["--preset".into(), p.clone()]);
    }
    if let Some(e) = a.epochs {
        train_args.extend(["--epochs".into(), e.to_string()]);
    }
    if let Some(d) = &a.device {
        train_args.extend(["--device".into(), d.clone()]);
    }
    if let Some(c) = &a.config {
        let abs = std::fs::canonicalize(c).with_context(|| format!("--config {}: no such file", c.display()))?;
        train_args.extend(["--config".into(), abs.to_string_lossy().into_owned()]);
    }
    for s in &a.sets {
        train_args.extend(["--set".into(), s.clone()]);
    }
    let manifest = Manifest { data: source, synthetic, subsets, methods: a.methods.clone(), seeds, train_args };
    Ok(Sweep { items: manifest.items(), manifest })
}

fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Trains (or resumes, or skips) one item as a child process; its stdout and stderr go to train.log.
fn execute(exe: &Path, sweep: &Sweep, out: &Path, item: &PlanItem, threads: usize) -> Outcome {
    let dir = plan::run_dir(out, item);
    let t0 = Instant::now();
    let done = |action: &'static str, error: Option<String>| Outcome {
        index: item.index,
        name: item.name.clone(),
        run_dir: dir.clone(),
        action,
        seconds: t0.elapsed().as_secs_f64(),
        error,
    };
    let status = rundir::status(&dir);
    if status == RunStatus::Finished {
        return done("skipped", None);
    }
    let mut args: Vec<String> = vec!["train".into()];
    let action = if status == RunStatus::Interrupted {
        // The run's own config.toml (threads included) is used as is.
        args.extend(["--resume".into(), dir.to_string_lossy().into_owned()]);
        "resumed"
    } else {
        args.extend(sweep.manifest.train_args.iter().cloned());
        if !sweep.manifest.synthetic {
            args.extend(["--subset".into(), item.subset.clone()]);
        }
        args.extend([
            "--method".into(),
            item.method.clone(),
            "--seed".into(),
            item.seed.to_string(),
            "--threads".into(),
            threads.to_string(),
        ]);
        args.extend(["--out".into(), dir.to_string_lossy().into_owned()]);
        "trained"
    };
    let log_path = dir.join(rundir::TRAIN_LOG);
    let run = || -> anyhow::Result<std::process::ExitStatus> {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        use std::io::Write;
        writeln!(log, "== grace sweep: grace {} ==", args.join(" "))?;
        let status = Command::new(exe)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .env("OMP_NUM_THREADS", threads.to_string())
            .env("MKL_NUM_THREADS", threads.to_string())
            .status()
            .with_context(|| format!("starting {}", exe.display()))?;
        Ok(status)
    };
    match run() {
        Ok(s) if s.success() && rundir::status(&dir) == RunStatus::Finished => done(action, None),
        Ok(s) => done(
            "failed",
            Some(format!(
                "grace train exited with {s}; last lines of {}:\n{}",
                log_path.display(),
                log_tail(&log_path, 12)
            )),
        ),
        Err(e) => done("failed", Some(format!("{e:#}"))),
    }
}

fn write_manifest(out: &Path, m: &Manifest) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating the sweep directory {}", out.display()))?;
    let merged = match Manifest::read(out)? {
        Some(old) => Manifest::merge(&old, m, out)?,
        None => m.clone(),
    };
    grace_report::io::write_json_atomic(&out.join(plan::MANIFEST_FILE), &merged)
}

fn print_table(out: &Path, json: bool, outcomes: Option<&[Outcome]>) -> anyhow::Result<()> {
    let table = grace_report::report::collect(out)?;
    if json {
        let v = serde_json::json!({ "sweep": out, "runs": outcomes, "failed": outcomes.map(|o| o.iter().filter(|x| x.action == "failed").count()), "table": table });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{}", table.to_markdown());
        eprintln!("tables: {}/results.md, results.csv, results.json", out.display());
    }
    Ok(())
}

pub fn run(a: Args) -> anyhow::Result<()> {
    if a.collect {
        if !a.out.is_dir() {
            bail!("--collect --out {}: no such sweep directory", a.out.display());
        }
        return print_table(&a.out, a.json, None);
    }
    let sweep = resolve(&a)?;
    if a.plan {
        for it in &sweep.items {
            let dir = plan::run_dir(&a.out, it);
            let line = serde_json::json!({ "index": it.index, "subset": it.subset, "method": it.method, "seed": it.seed, "name": it.name, "run_dir": dir, "status": rundir::status(&dir) });
            println!("{line}");
        }
        return Ok(());
    }
    let items: Vec<PlanItem> = match a.index {
        Some(i) => match sweep.items.get(i) {
            Some(it) => vec![it.clone()],
            None => bail!(
                "--index {i}: the plan has {} items (0..={}); see --plan",
                sweep.items.len(),
                sweep.items.len().saturating_sub(1)
            ),
        },
        None => sweep.items.clone(),
    };
    write_manifest(&a.out, &sweep.manifest)?;
    if sweep.manifest.synthetic && !a.json && a.subsets.len() > 1 {
        eprintln!("data: SYNTHETIC fleet; --subsets is ignored (one SYNTHETIC axis)");
    }
    let jobs = a.jobs.max(1).min(items.len().max(1));
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let threads = a.threads.unwrap_or((cores / jobs).max(1));
    let exe = std::env::current_exe().context("locating the grace binary for the training subprocesses")?;
    if !a.json {
        eprintln!("sweep {}: {} runs, {jobs} at a time, {threads} libtorch threads each", a.out.display(), items.len());
    }
    let total = items.len();
    let queue = Mutex::new(items.into_iter().collect::<VecDeque<_>>());
    let outcomes = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let Some(item) = queue.lock().unwrap().pop_front() else {
                    break;
                };
                let o = execute(&exe, &sweep, &a.out, &item, threads);
                let mut all = outcomes.lock().unwrap();
                if !a.json {
                    eprintln!("[{}/{total}] {} {} ({:.1} s)", all.len() + 1, o.name, o.action, o.seconds);
                }
                if let Some(e) = &o.error {
                    eprintln!("run {} FAILED: {e}", o.name);
                }
                all.push(o);
            });
        }
    });
    let mut outcomes = outcomes.into_inner().unwrap();
    outcomes.sort_by_key(|o| o.index);
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.action == "failed").collect();
    if a.index.is_some() {
        if a.json {
            println!("{}", serde_json::to_string_pretty(&outcomes)?);
        } else if let Some(o) = outcomes.first() {
            println!("item {}: {} {} -> {}", o.index, o.name, o.action, o.run_dir.display());
        }
    } else {
        print_table(&a.out, a.json, Some(&outcomes))?;
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} runs failed: {}; see train.log in each run directory, then run the same command again to retry (finished runs are skipped)",
            failed.len(),
            outcomes.len(),
            failed.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}
