//! The tune's record: one row per trial (values, rung scores, status, time) as `trials.csv` and
//! `trials.json`, and `best.toml`, the best trial's configuration for `grace train --config`.

use crate::asha::{ranked, Schedule, Score};
use crate::state::Settings;
use crate::trial::{trial_dir, RungState};
use anyhow::Context;
use grace_core::io::{write_bytes_atomic, write_json_atomic};
use grace_core::rundir::CONFIG_FILE;
use serde::Serialize;
use std::path::{Path, PathBuf};

pub const TRIALS_CSV: &str = "trials.csv";
pub const TRIALS_JSON: &str = "trials.json";
pub const BEST_TOML: &str = "best.toml";

/// Keys of a trial's run configuration that `best.toml` leaves to the command line.
pub const LEFT_OUT_OF_BEST: &[&str] = &["data.source", "data.subset", "method.name", "train.device", "train.threads"];
/// Left out as well when the tune averaged over folds: the fold was the tune's yardstick, not part
/// of the recipe.
pub const FOLD_KEYS: &[&str] = &["data.prep.folds", "data.prep.fold"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not started.
    Pending,
    /// Sent to a rung it has not reached (training, or interrupted).
    Running,
    /// At a rung whose promotions are not decided yet.
    Paused,
    /// Not promoted out of the highest rung it reached.
    Pruned,
    /// Reached the last rung, or stopped early (its score is final).
    Complete,
    Failed,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::name_of(self))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TrialRecord {
    pub trial: usize,
    pub status: Status,
    pub params: toml::Table,
    /// Epochs trained so far.
    pub epochs: usize,
    /// Score at each rung the trial was sent to and reached (`null` elsewhere).
    pub rung_scores: Vec<Score>,
    /// The score at the highest rung reached.
    pub score: Score,
    /// With folds: each fold's score at that rung, and their sample standard deviation.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fold_scores: Vec<Score>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spread: Score,
    pub seconds: f64,
    pub run_dir: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Reads every trial directory and places each trial in the schedule.
pub fn trial_records(dir: &Path, s: &Settings, sched: &dyn Schedule) -> anyhow::Result<Vec<TrialRecord>> {
    (0..s.trials).map(|t| trial_record(dir, s, sched, t)).collect()
}

fn trial_record(dir: &Path, s: &Settings, sched: &dyn Schedule, trial: usize) -> anyhow::Result<TrialRecord> {
    let run_dir = trial_dir(dir, trial);
    let log = s.runs(dir, trial)?;
    let state = |k: usize| if sched.scheduled(trial, k) { log.state(s.objective, s.rungs[k]) } else { RungState::Open };
    let rung_scores: Vec<Score> =
        (0..s.rungs.len()).map(|k| if let RungState::Reached(x) = state(k) { x } else { None }).collect();
    let top = (0..s.rungs.len()).rev().find(|&k| matches!(state(k), RungState::Reached(_)));
    let failed = (0..s.rungs.len()).any(|k| state(k) == RungState::Failed);
    let status = match top {
        _ if failed => Status::Failed,
        None if sched.scheduled(trial, 0) => Status::Running,
        None => Status::Pending,
        Some(k) if k >= sched.final_rung() || log.ended() => Status::Complete,
        Some(k) if sched.scheduled(trial, k + 1) => Status::Running,
        Some(k) if sched.closed(k) => Status::Pruned,
        Some(_) => Status::Paused,
    };
    // With folds, the folds' scores at the rung the trial's score comes from.
    let fold_rung = top.filter(|_| s.folds >= 2).map(|k| s.rungs[k]);
    Ok(TrialRecord {
        trial,
        status,
        params: s.params(trial).into_iter().collect(),
        epochs: log.epochs(),
        score: top.and_then(|k| rung_scores[k]),
        fold_scores: fold_rung.map(|e| log.fold_scores(s.objective, e)).unwrap_or_default(),
        spread: fold_rung.and_then(|e| log.spread(s.objective, e)),
        rung_scores,
        seconds: log.seconds(),
        run_dir,
        error: log.failure().map(|f| f.error.clone()),
    })
}

/// The best trial: the lowest score at the highest rung any trial has a score at (scores at
/// different rungs are not comparable), ties by trial id.
pub fn best(records: &[TrialRecord]) -> Option<(&TrialRecord, usize)> {
    let n_rungs = records.first()?.rung_scores.len();
    let rung = (0..n_rungs).rev().find(|&k| records.iter().any(|r| r.rung_scores[k].is_some()))?;
    let scores: Vec<(usize, Score)> = records.iter().map(|r| (r.trial, r.rung_scores[rung])).collect();
    let t = ranked(&scores)[0];
    Some((&records[t], rung))
}

/// Writes `trials.csv`, `trials.json` and (once a trial has a score) `best.toml`; returns what
/// `trials.json` holds.
pub fn write_record(
    dir: &Path,
    s: &Settings,
    records: &[TrialRecord],
    finished: bool,
) -> anyhow::Result<serde_json::Value> {
    write_csv(&dir.join(TRIALS_CSV), s, records)?;
    let best_trial = best(records);
    let summary = serde_json::json!({
        "tune": dir,
        "finished": finished,
        "data": if s.synthetic { "SYNTHETIC fleet".to_string() } else { format!("{} {}", s.data, s.subset) },
        "method": s.method,
        "objective": s.objective,
        "objective_definition": s.objective.describe(),
        "test_set": s.test_set,
        "scheduler": s.scheduler,
        "scheduler_note": s.scheduler.note(),
        "sampler": s.sampler,
        "seed": s.seed,
        "eta": s.eta,
        "rungs": s.rungs,
        "folds": s.folds,
        "space": s.space,
        "best": best_trial.map(|(r, k)| serde_json::json!({ "trial": r.trial, "rung": k, "epochs": s.rungs[k], "score": r.rung_scores[k], "params": r.params, "run_dir": r.run_dir })),
        "trials": records,
    });
    write_json_atomic(&dir.join(TRIALS_JSON), &summary)?;
    if let Some((r, k)) = best_trial {
        let header = best_header(s, r, k);
        let config = s.run_dirs(dir, r.trial)[0].join(CONFIG_FILE);
        let text = std::fs::read_to_string(&config).with_context(|| format!("reading {}", config.display()))?;
        let drop: &[&str] = if s.folds >= 2 { FOLD_KEYS } else { &[] };
        write_bytes_atomic(&dir.join(BEST_TOML), best_toml(&text, &header, drop)?.as_bytes())?;
    }
    Ok(summary)
}

/// Where `best.toml` came from and how to use it.
fn best_header(s: &Settings, r: &TrialRecord, rung: usize) -> [String; 3] {
    let (data, flags) = if s.synthetic {
        ("the SYNTHETIC fleet".to_string(), "--data synthetic".to_string())
    } else {
        (s.subset.clone(), format!("--data DIR --subset {}", s.subset))
    };
    [
        format!(
            "grace tune: trial {} of {}, the best at rung {rung} ({} epochs) by {} = {}.",
            r.trial,
            s.trials,
            s.rungs[rung],
            s.objective,
            fmt_score(r.rung_scores[rung])
        ) + &if s.folds >= 2 {
            format!(" (mean over {} folds of the training engines, fold std {})", s.folds, fmt_score(r.spread))
        } else {
            String::new()
        },
        format!(
            "Tuned on {data} with method {} and validation scores only; no trial was scored on the test set.",
            s.method
        ),
        format!("Use: grace train --config best.toml {flags} --method {}", s.method),
    ]
}

fn fmt_score(s: Score) -> String {
    s.map(|x| format!("{x:.4}")).unwrap_or_default()
}

fn write_csv(path: &Path, s: &Settings, records: &[TrialRecord]) -> anyhow::Result<()> {
    let mut out = String::from("trial,status,epochs,score,spread,seconds");
    for e in &s.rungs {
        out.push_str(&format!(",score_at_{e}"));
    }
    for p in &s.space.params {
        out.push(',');
        out.push_str(&csv_cell(&p.key));
    }
    out.push('\n');
    for r in records {
        let (score, spread) = (fmt_score(r.score), fmt_score(r.spread));
        out.push_str(&format!("{},{},{},{score},{spread},{:.3}", r.trial, r.status, r.epochs, r.seconds));
        for x in &r.rung_scores {
            out.push(',');
            out.push_str(&fmt_score(*x));
        }
        for p in &s.space.params {
            out.push(',');
            out.push_str(&csv_cell(&r.params.get(&p.key).map(plain).unwrap_or_default()));
        }
        out.push('\n');
    }
    write_bytes_atomic(path, out.as_bytes())
}

/// A value as a spreadsheet shows it: strings without their TOML quotes.
fn plain(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A trial's `config.toml` without the keys the command line gives (data source, subset, method,
/// device, threads), under a comment header.
pub fn best_toml(config_text: &str, header: &[String], also: &[&str]) -> anyhow::Result<String> {
    let mut table: toml::Table = config_text.parse().context("a trial's config.toml is not valid TOML")?;
    for key in LEFT_OUT_OF_BEST.iter().chain(also) {
        let (section, name) = key.rsplit_once('.').expect("dotted keys");
        let parent = section.split('.').try_fold(&mut table, |t, p| t.get_mut(p).and_then(|v| v.as_table_mut()));
        if let Some(parent) = parent {
            parent.remove(name);
        }
    }
    let mut out: String = header.iter().map(|l| format!("# {l}\n")).collect();
    out.push('\n');
    out.push_str(&toml::to_string_pretty(&table)?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asha::Asha;
    use crate::state::tests::{fake_trial, settings};

    #[test]
    fn statuses_follow_the_schedule() {
        let d = tempfile::tempdir().unwrap();
        let s = settings(5, vec![1, 3]);
        // Trial 0 promoted and done; 1 pruned (rung 0 closed); 2 promoted, not yet there; 3 failed; 4 not started.
        let mut a = Asha::new(3, 2, 5);
        a.restore(
            [(0, 0), (1, 0), (2, 0), (3, 0), (0, 1), (2, 1)]
                .iter()
                .map(|&(trial, rung)| crate::asha::Job { trial, rung })
                .collect(),
            |_| Some(None),
        );
        fake_trial(d.path(), 0, &[2.0, 1.5, 1.0]);
        fake_trial(d.path(), 1, &[3.0]);
        fake_trial(d.path(), 2, &[2.5, 2.4]);
        crate::trial::write_failure(
            &trial_dir(d.path(), 3),
            &crate::trial::Failure { epochs: 1, error: "boom".into() },
        )
        .unwrap();
        let r = trial_records(d.path(), &s, &a).unwrap();
        let st: Vec<Status> = r.iter().map(|t| t.status).collect();
        assert_eq!(st, [Status::Complete, Status::Paused, Status::Running, Status::Failed, Status::Pending]);
        a.finish();
        let r = trial_records(d.path(), &s, &a).unwrap();
        assert_eq!(r[1].status, Status::Pruned);
        assert_eq!(r[0].rung_scores, [Some(2.0), Some(1.0)]);
        assert_eq!(r[2].rung_scores, [Some(2.5), None]);
        assert_eq!(r[3].error.as_deref(), Some("boom"));
        let (b, rung) = best(&r).unwrap();
        assert_eq!((b.trial, rung), (0, 1));
    }

    #[test]
    fn best_toml_leaves_data_source_and_method_to_the_command_line() {
        let config = "[data]\nsource = \"/data/cmapss\"\nsubset = \"FD001\"\n[data.prep]\nwindow = 30\n\
                      [method]\nname = \"grace\"\nslope = 1.0\n[train]\nlr = 0.0005\nepochs = 27\ndevice = \"cuda\"\nthreads = 4\n";
        let text = best_toml(config, &["header line".into()], &[]).unwrap();
        assert!(text.starts_with("# header line\n"));
        let t: toml::Table = text.parse().unwrap();
        assert!(t["data"].get("source").is_none() && t["data"].get("subset").is_none());
        assert!(t["method"].get("name").is_none() && t["train"].get("device").is_none());
        assert_eq!(t["method"]["slope"].as_float(), Some(1.0));
        assert_eq!(t["train"]["lr"].as_float(), Some(0.0005));
        assert_eq!(t["train"]["epochs"].as_integer(), Some(27));
        assert_eq!(t["data"]["prep"]["window"].as_integer(), Some(30));
    }

    #[test]
    fn the_csv_has_one_row_per_trial_with_rung_and_parameter_columns() {
        let d = tempfile::tempdir().unwrap();
        let s = settings(2, vec![1, 3]);
        fake_trial(d.path(), 0, &[2.0]);
        std::fs::write(trial_dir(d.path(), 0).join(CONFIG_FILE), "[train]\nlr = 0.001\n").unwrap();
        let mut a = Asha::new(3, 2, 2);
        a.restore(vec![crate::asha::Job { trial: 0, rung: 0 }], |_| Some(Some(2.0)));
        let r = trial_records(d.path(), &s, &a).unwrap();
        write_record(d.path(), &s, &r, false).unwrap();
        let csv = std::fs::read_to_string(d.path().join(TRIALS_CSV)).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "trial,status,epochs,score,spread,seconds,score_at_1,score_at_3,train.lr");
        assert!(lines[1].starts_with("0,paused,1,2.0000,,1.000,2.0000,,"), "{}", lines[1]);
        assert!(lines[2].starts_with("1,pending,0,,,0.000,,,"), "{}", lines[2]);
        let j: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.path().join(TRIALS_JSON)).unwrap()).unwrap();
        assert_eq!(j["best"]["trial"], 0);
        assert!(j["test_set"].as_str().unwrap().starts_with("never read"));
        assert!(std::fs::read_to_string(d.path().join(BEST_TOML)).unwrap().contains("lr = 0.001"));
    }
}
