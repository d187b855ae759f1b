//! `grace tune`: a seeded hyper-parameter search with successive halving. Each trial is a run
//! directory trained by `grace train` children and paused at every rung; scores are validation only.

use super::children;
use anyhow::{anyhow, bail, Context};
use grace_data::source::or_list;
use grace_data::{DataSpec, SyntheticConfig};
use grace_nn::config::RunConfig;
use grace_report::plan::SYNTHETIC;
use grace_report::rundir::CONFIG_FILE;
use grace_tune::record::{self, TrialRecord, FOLD_KEYS};
use grace_tune::space::{self, Space};
use grace_tune::state::{self, Rounds, Scheduler, Settings};
use grace_tune::trial::{self, trial_dir, Failure, RungState, TrialLog};
use grace_tune::{Asha, Job, Objective, Sampler, Schedule, Score};
use serde::Serialize;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    train: children::TrainFlags,
    /// FD001, FD002, FD003 or FD004 (ignored, with the label SYNTHETIC, on the synthetic fleet).
    #[arg(long, default_value = "FD001")]
    subset: String,
    /// The task-weighting method every trial trains with (one method per tune).
    #[arg(long)]
    method: Option<String>,
    /// TOML file of searched keys: `key = { low, high [, scale = "log"] [, step] }` or `{ choices = [..] }`
    /// (docs/tune.md). Any --set key except data.source, data.subset, method.name, train.epochs,
    /// train.max_steps, train.device, train.threads and data.prep.max_rul: every trial is scored
    /// against validation truth capped at 125, so the cap cannot be searched (nor changed) for now.
    #[arg(long, value_name = "FILE")]
    space: Option<PathBuf>,
    /// Number of trials (sampled configurations).
    #[arg(long, default_value_t = 20)]
    trials: usize,
    /// random, sobol or halton (both scrambled by --seed).
    #[arg(long, default_value = "random")]
    sampler: Sampler,
    /// Seed of the sampler: trial i's values depend only on the seed, sampler, space and i.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Epochs of the first rung.
    #[arg(long, default_value_t = 3)]
    min_epochs: usize,
    /// Epochs of the last rung: every trial's train.epochs.
    #[arg(long, default_value_t = 27)]
    max_epochs: usize,
    /// Reduction factor: each rung promotes the best 1/eta of its trials; rungs are min·eta^k epochs.
    #[arg(long, default_value_t = 3)]
    eta: usize,
    /// asha (asynchronous; with --jobs > 1 promotions depend on timing) or sh (synchronous rounds,
    /// reproducible; the only one for --plan/--index) [default: sh with --plan/--index, else asha].
    #[arg(long)]
    scheduler: Option<Scheduler>,
    /// Score each trial over K folds of the training engines (K runs per trial, data.prep.folds=K,
    /// fold 0…K−1): the mean of the folds' scores, with their spread in the record. 0: one run
    /// on the standard validation engines. A single 20-engine split is a noisy guide.
    #[arg(long, default_value_t = 0)]
    folds: usize,
    /// rmse, nasa, cut (several test-like cuts per validation engine), or mix:W = (1−W)·RMSE + W·NASA:
    /// best so far at the rung, on the validation engines.
    #[arg(long, default_value = "rmse")]
    objective: Objective,
    /// Tune directory: trials in OUT/trials/trial_NNNN, the record in OUT/trials.{csv,json} and OUT/best.toml.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    run: children::JobFlags,
}

/// Keys of `--set` the tune gives itself.
const TUNE_OWNS: [&str; 4] = ["method.name", "data.subset", "train.epochs", "train.max_steps"];
const MAX_RUL: f64 = 125.0;

/// One job's result: train `trial` to the epochs of `rung`.
#[derive(Debug, Clone, Serialize)]
struct Outcome {
    trial: usize,
    rung: usize,
    epochs: usize,
    /// skipped (already there), trained (new), continued (resumed) or failed.
    action: &'static str,
    score: Score,
    seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// What every job needs.
struct Ctx<'a> {
    exe: PathBuf,
    s: &'a Settings,
    out: &'a Path,
    threads: usize,
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    if a.run.collect {
        let s = Settings::read(&a.out)?.with_context(|| {
            format!("--collect --out {}: no tune there (no {})", a.out.display(), state::SETTINGS_FILE)
        })?;
        return print_summary(&a.out, &s, a.run.json, &[]);
    }
    let s = resolve(&a)?;
    if a.run.plan {
        s.check(&a.out)?;
        return print_plan(&a.out, &s);
    }
    s.write_or_check(&a.out)?;
    let jobs = if a.run.index.is_some() { 1 } else { a.run.jobs.max(1) };
    let c = Ctx {
        exe: children::current_exe()?,
        s: &s,
        out: &a.out,
        threads: children::threads_per_run(a.run.threads, jobs),
        json: a.run.json,
    };
    if let Some(i) = a.run.index {
        return run_item(&c, i);
    }
    if !a.run.json {
        eprintln!(
            "tune {}: {} trials, rungs {:?} epochs, {} scheduler, {jobs} at a time, {} libtorch threads each",
            a.out.display(),
            s.trials,
            s.rungs,
            s.scheduler,
            c.threads
        );
    }
    let outcomes = match s.scheduler {
        Scheduler::Asha => run_asha(&c, jobs),
        Scheduler::Sh => run_rounds(&c, jobs),
    };
    if let Some(sig) = children::stopped_by() {
        bail!(
            "tune stopped by {sig}: its running trainings were stopped and stay open; run the same command again to \
             resume the search"
        );
    }
    print_summary(&a.out, &s, a.run.json, &outcomes?)
}

/// The search the flags describe, checked before any training: every trial's configuration resolves.
fn resolve(a: &Args) -> anyhow::Result<Settings> {
    let method = a.method.clone().context("--method is required (one method per tune)")?;
    grace_core::methods::method(&method).map_err(|e| anyhow!("--method: {e}"))?;
    let space = Space::read(a.space.as_deref().context("--space FILE is required; see docs/tune.md")?)?;
    a.sampler.check(space.dims()).map_err(|e| anyhow!(e))?;
    if a.folds == 1 {
        bail!("--folds 1: use 0 (the standard validation engines) or K ≥ 2 folds");
    }
    let fold_owned = |key: &str| a.folds >= 2 && FOLD_KEYS.contains(&key);
    if let Some(p) = space.params.iter().find(|p| fold_owned(&p.key)) {
        bail!("{} is in the search space, but --folds {} sets it for every trial", p.key, a.folds);
    }
    for set in &a.train.sets {
        let key = set.split_once('=').map(|(k, _)| k.trim()).unwrap_or(set);
        if TUNE_OWNS.contains(&key) {
            bail!("--set {set}: {}", space::fixed_reason(key).unwrap_or("the tune sets it"));
        }
        if fold_owned(key) {
            bail!("--set {set}: --folds {} sets {key} for each of a trial's runs", a.folds);
        }
        if space.params.iter().any(|p| p.key == key) {
            bail!("--set {set}: {key} is also in the search space; fix it or search it, not both");
        }
    }
    let source = a.train.source()?;
    let spec = DataSpec::parse(&source);
    let synthetic = spec.is_synthetic();
    let subset = if synthetic { SYNTHETIC.to_string() } else { a.subset.trim().to_ascii_uppercase() };
    let offered = spec.open(&SyntheticConfig::default()).subsets();
    if !synthetic && !offered.contains(&subset) {
        bail!("--subset {subset}: use {}", or_list(&offered));
    }
    let scheduler =
        a.scheduler.unwrap_or(if a.run.plan || a.run.index.is_some() { Scheduler::Sh } else { Scheduler::Asha });
    if scheduler == Scheduler::Asha && (a.run.plan || a.run.index.is_some()) {
        bail!("--plan and --index need --scheduler sh: asynchronous promotions depend on timing");
    }
    let s = Settings {
        train_args: a.train.train_args(&source, None)?,
        data: source,
        synthetic,
        subset,
        method,
        space,
        sampler: a.sampler,
        seed: a.seed,
        trials: a.trials.max(1),
        eta: a.eta,
        rungs: grace_tune::asha::rungs(a.min_epochs, a.max_epochs, a.eta).map_err(|e| anyhow!(e))?,
        scheduler,
        objective: a.objective,
        test_set: state::TEST_SET_NOTE.into(),
        folds: a.folds,
    };
    check_trial_configs(a, &s)?;
    Ok(s)
}

/// Resolves every trial's run configuration as `grace train` will, so a bad key or value stops the
/// tune before any training, and keeps the yardstick (truth capped at 125) the same for all.
fn check_trial_configs(a: &Args, s: &Settings) -> anyhow::Result<()> {
    let text = match &a.train.config {
        Some(p) => Some(std::fs::read_to_string(p).with_context(|| format!("reading --config {}", p.display()))?),
        None => None,
    };
    let preset = a.train.preset.as_deref().unwrap_or("small");
    for t in 0..s.trials {
        let mut sets =
            vec![format!("method.name=\"{}\"", s.method), format!("train.epochs={}", s.rungs[s.rungs.len() - 1])];
        sets.extend(a.train.sets.iter().cloned());
        sets.extend(fold_sets(s, s.folds.saturating_sub(1)));
        sets.extend(s.params(t).iter().map(|(k, v)| space::set_arg(k, v)));
        let cfg = RunConfig::resolve(preset, text.as_deref(), &sets).map_err(|e| anyhow!("trial {t}: {e}"))?;
        if cfg.data.prep.max_rul != MAX_RUL {
            bail!(
                "data.prep.max_rul = {}: tune scores every trial against validation truth capped at {MAX_RUL}; other caps are not supported yet",
                cfg.data.prep.max_rul
            );
        }
        if cfg.train.max_steps != 0 {
            bail!(
                "train.max_steps = {}: {}",
                cfg.train.max_steps,
                space::fixed_reason("train.max_steps").unwrap_or("")
            );
        }
    }
    Ok(())
}

/// Trains `job.trial` until the epochs of `job.rung` (new, or resumed from its pause) as child
/// processes, one per fold, in fold order; a run that does not get there leaves a failure marker in
/// its directory and the trial's other folds wait for the next attempt.
fn train_trial(c: &Ctx, job: Job) -> Outcome {
    let epochs = c.s.rungs[job.rung];
    let t0 = Instant::now();
    let outcome = |action: &'static str, error: Option<String>| Outcome {
        trial: job.trial,
        rung: job.rung,
        epochs,
        action,
        score: c.s.score(c.out, job.trial, job.rung).ok().flatten(),
        seconds: t0.elapsed().as_secs_f64(),
        error,
    };
    match c.s.state(c.out, job.trial, job.rung) {
        Ok(RungState::Reached(_)) => return outcome("skipped", None),
        Err(e) => return outcome("failed", Some(format!("{e:#}"))),
        Ok(_) => {}
    }
    let mut action = "skipped";
    for (fold, dir) in c.s.run_dirs(c.out, job.trial).iter().enumerate() {
        match TrialLog::read(dir).map(|l| l.reached(epochs)) {
            Ok(true) => continue,
            Err(e) => return outcome("failed", Some(format!("{e:#}"))),
            Ok(false) => {}
        }
        match train_run(c, job.trial, fold, epochs, dir) {
            Ok(a) => action = a,
            // Stopped by a signal to the tune: open, not failed (see train_run).
            Err(error) if children::stopped_by().is_some() => return outcome("stopped", Some(error)),
            Err(error) => return outcome("failed", Some(error)),
        }
    }
    outcome(action, None)
}

/// One run of a trial (fold `fold` when the tune has folds) to `epochs`.
fn train_run(c: &Ctx, trial: usize, fold: usize, epochs: usize, dir: &Path) -> Result<&'static str, String> {
    let (args, action) = trial_args(c, trial, fold, epochs, dir);
    let result = trial::clear_failure(dir)
        .and_then(|_| children::run_logged(&c.exe, dir, &args, c.threads, "grace tune"))
        .and_then(|status| settle(dir, epochs, status));
    result.map(|_| action).map_err(|e| {
        let error = format!("{e:#}");
        // A run stopped by a signal to the tune did not fail: it stays open and resumes next time.
        if children::stopped_by().is_some() {
            return error;
        }
        if let Err(w) = trial::write_failure(dir, &Failure { epochs, error: error.clone() }) {
            eprintln!("trial {trial}: could not record its failure: {w:#}");
        }
        error
    })
}

/// `--set` arguments that put a run on fold `fold` (none without folds).
fn fold_sets(s: &Settings, fold: usize) -> Vec<String> {
    if s.folds < 2 {
        return vec![];
    }
    vec![format!("data.prep.folds={}", s.folds), format!("data.prep.fold={fold}")]
}

fn trial_args(c: &Ctx, trial: usize, fold: usize, epochs: usize, dir: &Path) -> (Vec<String>, &'static str) {
    let d = dir.to_string_lossy().into_owned();
    let stop = ["--stop-at-epoch".to_string(), epochs.to_string()];
    if dir.join(CONFIG_FILE).is_file() {
        return ([vec!["train".into(), "--resume".into(), d], stop.to_vec()].concat(), "continued");
    }
    let mut args = vec!["train".to_string()];
    args.extend(c.s.train_args.iter().cloned());
    for set in fold_sets(c.s, fold) {
        args.extend(["--set".into(), set]);
    }
    for (k, v) in c.s.params(trial) {
        args.extend(["--set".into(), space::set_arg(&k, &v)]);
    }
    if !c.s.synthetic {
        args.extend(["--subset".into(), c.s.subset.clone()]);
    }
    let total = c.s.rungs[c.s.rungs.len() - 1];
    args.extend(["--method".into(), c.s.method.clone(), "--epochs".into(), total.to_string()]);
    args.extend(["--threads".into(), c.threads.to_string(), "--out".into(), d]);
    args.extend(stop);
    (args, "trained")
}

/// After a child exits: at the rung, or ended on its own before it (early stopping), or failed.
fn settle(dir: &Path, epochs: usize, status: std::process::ExitStatus) -> anyhow::Result<()> {
    if !status.success() {
        bail!(children::failure_message(status, dir));
    }
    let log = TrialLog::read(dir)?;
    if !log.reached(epochs) {
        // `--stop-at-epoch` exits 0 short of its epoch only when the run has ended on its own.
        trial::write_ended(dir, log.epochs())?;
    }
    Ok(())
}

/// A progress line per job, on stderr.
fn report(c: &Ctx, o: &Outcome) {
    if c.json {
        return;
    }
    let score = o.score.map(|x| format!("{} {x:.4}", c.s.objective)).unwrap_or_else(|| "no score".into());
    eprintln!(
        "trial {:>4} rung {} ({:>3} epochs): {:<9} {score}  ({:.1} s)",
        o.trial, o.rung, o.epochs, o.action, o.seconds
    );
    match (&o.error, o.action) {
        (Some(e), "stopped") => eprintln!("trial {} {e}", o.trial),
        (Some(e), _) => eprintln!("trial {} FAILED: {e}", o.trial),
        _ => {}
    }
}

struct AshaRun {
    asha: Asha,
    outcomes: Vec<Outcome>,
    error: Option<anyhow::Error>,
}

/// Local asynchronous successive halving; its issued jobs are saved before they start, so a killed
/// search continues where it was (unfinished jobs first).
fn run_asha(c: &Ctx, jobs: usize) -> anyhow::Result<Vec<Outcome>> {
    let mut asha = Asha::new(c.s.eta, c.s.rungs.len(), c.s.trials);
    asha.restore(state::read_asha(c.out)?, |j| settled(c.out, c.s, j));
    let run = AshaRun { asha, outcomes: vec![], error: None };
    let mut run = children::pool(
        jobs,
        run,
        |r| {
            if r.error.is_some() {
                return None;
            }
            let before = r.asha.issued().len();
            let job = r.asha.next_job()?;
            if r.asha.issued().len() > before {
                if let Err(e) = state::write_asha(c.out, r.asha.issued()) {
                    r.error = Some(e);
                    return None;
                }
            }
            Some(job)
        },
        |&job| train_trial(c, job),
        |r, job, o| {
            report(c, &o);
            r.asha.record(job, o.score);
            r.outcomes.push(o);
            if let Err(e) = write_record(c.out, c.s, &r.asha, false) {
                eprintln!("could not update the tune record: {e:#}");
            }
        },
    );
    if let Some(e) = run.error {
        return Err(e);
    }
    run.asha.finish();
    Ok(run.outcomes)
}

/// A job's score if it is settled on disk (reached its rung, or failed there).
fn settled(out: &Path, s: &Settings, j: Job) -> Option<Score> {
    match s.state(out, j.trial, j.rung).ok()? {
        RungState::Reached(score) => Some(score),
        RungState::Failed => Some(None),
        RungState::Open => None,
    }
}

/// Local synchronous rounds: the open trials of the first undecided round, `jobs` at a time,
/// then its decision, until the last round is in.
fn run_rounds(c: &Ctx, jobs: usize) -> anyhow::Result<Vec<Outcome>> {
    let mut outcomes = vec![];
    let mut last = None;
    while let (rounds, Some(w)) = Rounds::advance(c.out, c.s)? {
        if last.as_ref() == Some(&w) {
            bail!("rung {}: trials {:?} could not be settled (see their train.log)", w.rung, w.open);
        }
        let queue: VecDeque<Job> = w.open.iter().map(|&trial| Job { trial, rung: w.rung }).collect();
        let (_, done) = children::pool(
            jobs,
            (queue, vec![]),
            |q| q.0.pop_front(),
            |&job| train_trial(c, job),
            |q, _, o| {
                report(c, &o);
                q.1.push(o);
            },
        );
        outcomes.extend(done);
        write_record(c.out, c.s, &rounds, false)?;
        last = Some(w);
    }
    Ok(outcomes)
}

/// `--index I`: one item of the synchronous rounds (its round must be decided, i.e. the previous
/// round's trials all in).
fn run_item(c: &Ctx, i: usize) -> anyhow::Result<()> {
    let items = c.s.items();
    let &(rung, slot) = items.get(i).with_context(|| {
        format!("--index {i}: the plan has {} items (0..={}); see --plan", items.len(), items.len().saturating_sub(1))
    })?;
    let (rounds, waiting) = Rounds::advance(c.out, c.s)?;
    let Some(trials) = rounds.rounds.get(rung) else {
        let w = waiting.expect("an undecided round has open trials");
        bail!(
            "item {i} belongs to rung {rung}, which is decided once rung {} is in; {} of its trials are still open ({:?}). Run rung {rung}'s items after rung {}'s (see --plan)",
            w.rung,
            w.open.len(),
            w.open,
            w.rung
        );
    };
    let Some(&trial) = trials.get(slot) else {
        let line =
            format!("item {i}: no trial (rung {rung} got {} promotions; failed trials are not promoted)", trials.len());
        println!(
            "{}",
            if c.json { serde_json::json!({ "index": i, "rung": rung, "trial": null }).to_string() } else { line }
        );
        return Ok(());
    };
    let o = train_trial(c, Job { trial, rung });
    if c.json {
        println!("{}", serde_json::to_string_pretty(&o)?);
    } else {
        println!(
            "item {i}: trial {trial} rung {rung} ({} epochs) {} -> {}",
            o.epochs,
            o.action,
            trial_dir(c.out, trial).display()
        );
    }
    if let Some(e) = o.error {
        bail!("trial {trial} failed: {e}\nrunning the same item again retries it while rung {rung} is undecided");
    }
    Ok(())
}

fn print_plan(out: &Path, s: &Settings) -> anyhow::Result<()> {
    let (rounds, _) = Rounds::advance(out, s)?;
    for (index, (rung, slot)) in s.items().into_iter().enumerate() {
        let trial = rounds.rounds.get(rung).map(|r| r.get(slot).copied());
        let status = match trial {
            None => "waiting".to_string(),
            Some(None) => "empty".to_string(),
            Some(Some(t)) => match s.state(out, t, rung)? {
                RungState::Reached(_) => "done".into(),
                RungState::Failed => "failed".into(),
                RungState::Open => "open".into(),
            },
        };
        let trial = trial.flatten();
        let line = serde_json::json!({ "index": index, "rung": rung, "epochs": s.rungs[rung], "slot": slot, "trial": trial, "run_dir": trial.map(|t| trial_dir(out, t)), "status": status });
        println!("{line}");
    }
    Ok(())
}

/// Reads every trial, writes trials.csv/.json and best.toml.
fn write_record(
    out: &Path,
    s: &Settings,
    sched: &dyn Schedule,
    finished: bool,
) -> anyhow::Result<(Vec<TrialRecord>, serde_json::Value)> {
    let records = record::trial_records(out, s, sched)?;
    let summary = record::write_record(out, s, &records, finished)?;
    Ok((records, summary))
}

/// The record as the schedule on disk stands: rounds decided as far as possible, or the
/// asynchronous search restored from its issued jobs. Also says what remains, if anything.
fn current_record(out: &Path, s: &Settings) -> anyhow::Result<(Vec<TrialRecord>, serde_json::Value, Option<String>)> {
    match s.scheduler {
        Scheduler::Sh => {
            let (rounds, waiting) = Rounds::advance(out, s)?;
            let next = waiting.map(|w| format!("rung {} has {} open trials: {:?}", w.rung, w.open.len(), w.open));
            let (records, summary) = write_record(out, s, &rounds, next.is_none())?;
            Ok((records, summary, next))
        }
        Scheduler::Asha => {
            let mut asha = Asha::new(s.eta, s.rungs.len(), s.trials);
            asha.restore(state::read_asha(out)?, |j| settled(out, s, j));
            let over = asha.clone().next_job().is_none();
            if over {
                asha.finish();
            }
            let (records, summary) = write_record(out, s, &asha, over)?;
            Ok((records, summary, (!over).then(|| "run the same command to continue the search".to_string())))
        }
    }
}

fn print_summary(out: &Path, s: &Settings, json: bool, outcomes: &[Outcome]) -> anyhow::Result<()> {
    let (records, mut summary, next) = current_record(out, s)?;
    if json {
        summary["jobs"] = serde_json::to_value(outcomes)?;
        summary["next"] = serde_json::to_value(&next)?;
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("{}", table(s, &records));
        eprintln!("record: {}/trials.csv, trials.json, best.toml", out.display());
        if let Some(n) = &next {
            eprintln!("not finished: {n}");
        }
    }
    if !records.iter().any(|r| r.score.is_some()) && next.is_none() {
        bail!("no trial has a score; see the errors in {}/trials.json and each trial's train.log", out.display());
    }
    Ok(())
}

/// The best trials as a Markdown table: furthest rung first, then by score.
fn table(s: &Settings, records: &[TrialRecord]) -> String {
    let top_rung = |r: &TrialRecord| r.rung_scores.iter().rposition(Option::is_some);
    let mut order: Vec<&TrialRecord> = records.iter().filter(|r| r.score.is_some()).collect();
    order.sort_by(|a, b| {
        top_rung(b).cmp(&top_rung(a)).then(a.score.unwrap_or(f64::MAX).total_cmp(&b.score.unwrap_or(f64::MAX)))
    });
    let keys: Vec<&str> = s.space.params.iter().map(|p| p.key.as_str()).collect();
    let mut out = format!(
        "| trial | status | epochs | {} | {} |\n|---:|---|---:|---:|{}\n",
        s.objective,
        keys.join(" | "),
        "---|".repeat(keys.len())
    );
    for r in order.iter().take(20) {
        let values: Vec<String> =
            keys.iter().map(|k| r.params.get(*k).map(|v| v.to_string()).unwrap_or_default()).collect();
        out.push_str(&format!(
            "| {} | {} | {} | {:.4} | {} |\n",
            r.trial,
            r.status,
            r.epochs,
            r.score.unwrap_or(f64::NAN),
            values.join(" | ")
        ));
    }
    let unscored = records.len() - order.len();
    if order.len() > 20 {
        out.push_str(&format!("\n{} more scored trials in trials.csv\n", order.len() - 20));
    }
    if unscored > 0 {
        out.push_str(&format!("\n{unscored} trials without a score (failed or not trained yet): see trials.csv\n"));
    }
    out
}
