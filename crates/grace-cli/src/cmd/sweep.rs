//! `grace sweep`: trains the (subset × method × seed) grid as subprocesses of this binary,
//! resumably and N at a time, or one `--index` item for job arrays; then tabulates the results.

use super::children;
use anyhow::{bail, Context};
use grace_data::source::or_list;
use grace_data::{DataSpec, SyntheticConfig};
use grace_report::plan::{self, Manifest, PlanItem, Variant, SYNTHETIC};
use grace_report::rundir::{self, RunStatus};
use serde::Serialize;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    train: children::TrainFlags,
    /// Comma-separated subsets (ignored, with the label SYNTHETIC, on the synthetic fleet).
    #[arg(long, value_delimiter = ',', default_value = "FD001")]
    subsets: Vec<String>,
    /// Comma-separated methods, e.g. baseline,amnl,gaba,grace (registry names or --variant names).
    #[arg(long, value_delimiter = ',')]
    methods: Vec<String>,
    /// A named method with its own settings, a row of its own: 'NAME=METHOD KEY=VALUE …', e.g.
    /// 'amnl_floor=amnl method.fixed_weights=[0.0476,0.9524]'; list NAME in --methods (repeatable).
    #[arg(long = "variant", value_name = "NAME=METHOD KEY=VALUE…")]
    variants: Vec<String>,
    /// A count (5 → seeds 0..4), a range (10..15) or a list (0,7,42).
    #[arg(long, default_value = "5")]
    seeds: String,
    #[arg(long)]
    epochs: Option<usize>,
    /// Sweep directory: runs go to OUT/runs/SUBSET_METHOD_seedN, tables to OUT/results.{md,csv,json}.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    run: children::JobFlags,
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

struct Sweep {
    manifest: Manifest,
    items: Vec<PlanItem>,
}

fn resolve(a: &Args) -> anyhow::Result<Sweep> {
    if a.methods.is_empty() {
        bail!("--methods is required, e.g. --methods baseline,amnl,gaba,grace");
    }
    let variants = a.variants.iter().map(|v| Variant::parse(v)).collect::<anyhow::Result<Vec<_>>>()?;
    let known = Manifest::read(&a.out)?.map(|m| m.variants).unwrap_or_default();
    for v in &variants {
        grace_core::methods::method(&v.method).map_err(|e| anyhow::anyhow!("--variant {}: {e}", v.name))?;
        if grace_core::methods::method(&v.name).is_ok() {
            bail!("--variant {}: that is a method's own name; give the variant another", v.name);
        }
    }
    for m in &a.methods {
        if !variants.iter().chain(&known).any(|v| &v.name == m) {
            grace_core::methods::method(m).map_err(|e| anyhow::anyhow!("--methods: {e}"))?;
        }
    }
    let source = a.train.source()?;
    let spec = DataSpec::parse(&source);
    let synthetic = spec.is_synthetic();
    let subsets: Vec<String> = if synthetic {
        vec![SYNTHETIC.to_string()]
    } else {
        let offered = spec.open(&SyntheticConfig::default()).subsets();
        let s: Vec<String> =
            a.subsets.iter().map(|s| s.trim().to_ascii_uppercase()).filter(|s| !s.is_empty()).collect();
        if let Some(bad) = s.iter().find(|s| !offered.contains(s)) {
            bail!("--subsets: unknown subset {bad}; use {}", or_list(&offered));
        }
        s
    };
    let seeds = plan::parse_seeds(&a.seeds)?;
    let train_args = a.train.train_args(&source, a.epochs)?;
    // The sweep's earlier variants hold; redefining one is refused by the manifest merge.
    let earlier: Vec<Variant> = known.into_iter().filter(|k| !variants.iter().any(|v| v.name == k.name)).collect();
    let all = [variants, earlier].concat();
    let manifest =
        Manifest { data: source, synthetic, subsets, methods: a.methods.clone(), seeds, train_args, variants: all };
    Ok(Sweep { items: manifest.items(), manifest })
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
        let (method, sets) = match sweep.manifest.variant(&item.method) {
            Some(v) => (v.method.clone(), v.sets.clone()),
            None => (item.method.clone(), vec![]),
        };
        for set in sets {
            args.extend(["--set".into(), set]);
        }
        args.extend([
            "--method".into(),
            method,
            "--seed".into(),
            item.seed.to_string(),
            "--threads".into(),
            threads.to_string(),
        ]);
        args.extend(["--out".into(), dir.to_string_lossy().into_owned()]);
        "trained"
    };
    match children::run_logged(exe, &dir, &args, threads, "grace sweep") {
        Ok(s) if s.success() && rundir::status(&dir) == RunStatus::Finished => done(action, None),
        Ok(s) => done("failed", Some(children::failure_message(s, &dir))),
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
    if a.run.collect {
        if !a.out.is_dir() {
            bail!("--collect --out {}: no such sweep directory", a.out.display());
        }
        return print_table(&a.out, a.run.json, None);
    }
    let sweep = resolve(&a)?;
    if a.run.plan {
        for it in &sweep.items {
            let dir = plan::run_dir(&a.out, it);
            let line = serde_json::json!({ "index": it.index, "subset": it.subset, "method": it.method, "seed": it.seed, "name": it.name, "run_dir": dir, "status": rundir::status(&dir) });
            println!("{line}");
        }
        return Ok(());
    }
    let items: Vec<PlanItem> = match a.run.index {
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
    if sweep.manifest.synthetic && !a.run.json && a.subsets.len() > 1 {
        eprintln!("data: SYNTHETIC fleet; --subsets is ignored (one SYNTHETIC axis)");
    }
    let jobs = a.run.jobs.max(1).min(items.len().max(1));
    let threads = children::threads_per_run(a.run.threads, jobs);
    let exe = children::current_exe()?;
    if !a.run.json {
        eprintln!("sweep {}: {} runs, {jobs} at a time, {threads} libtorch threads each", a.out.display(), items.len());
    }
    let total = items.len();
    let (_, mut outcomes) = children::pool(
        jobs,
        (items.into_iter().collect::<VecDeque<_>>(), Vec::new()),
        |s| s.0.pop_front(),
        |item| execute(&exe, &sweep, &a.out, item, threads),
        |s, _, o: Outcome| {
            if !a.run.json {
                eprintln!("[{}/{total}] {} {} ({:.1} s)", s.1.len() + 1, o.name, o.action, o.seconds);
            }
            if let Some(e) = &o.error {
                eprintln!("run {} FAILED: {e}", o.name);
            }
            s.1.push(o);
        },
    );
    outcomes.sort_by_key(|o| o.index);
    if let Some(sig) = children::stopped_by() {
        bail!(
            "sweep stopped by {sig}: its running trainings were stopped ({} of {total} runs had reported); run the \
             same command again to resume them (finished runs are skipped)",
            outcomes.len()
        );
    }
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.action == "failed").collect();
    if a.run.index.is_some() {
        if a.run.json {
            println!("{}", serde_json::to_string_pretty(&outcomes)?);
        } else if let Some(o) = outcomes.first() {
            println!("item {}: {} {} -> {}", o.index, o.name, o.action, o.run_dir.display());
        }
    } else {
        print_table(&a.out, a.run.json, Some(&outcomes))?;
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
