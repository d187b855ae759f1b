//! The page of a tune directory (`grace tune`): the best trials, each trial's score against every
//! searched key, and the rungs of successive halving, read from trials.json alone (no training).

use super::ReportSummary;
use crate::figures::{self, color, Mark, Panel, Panels, Plot, Series};
use crate::html::{Block, Section};
use crate::tune_figures::{Axis, ParamScatter, TrialPoint};
use anyhow::Context;
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// What marks a tune directory; `trials.json` is the record the page is drawn from.
pub const TUNE_SETTINGS: &str = "tune.json";
pub const TRIALS_JSON: &str = "trials.json";
/// Rows of the best-trials table.
const BEST_ROWS: usize = 10;

pub fn is_tune(dir: &Path) -> bool {
    dir.join(TUNE_SETTINGS).is_file()
}

/// `trials.json` as written by `grace tune`, read leniently: fields it lacks take defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TuneRecord {
    pub data: String,
    pub method: String,
    pub objective: String,
    pub objective_definition: String,
    pub test_set: String,
    pub scheduler: String,
    pub scheduler_note: String,
    pub sampler: String,
    pub seed: u64,
    pub eta: usize,
    pub rungs: Vec<usize>,
    pub folds: usize,
    pub finished: bool,
    pub space: SpaceRecord,
    pub trials: Vec<TrialRecord>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SpaceRecord {
    pub params: Vec<ParamRecord>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ParamRecord {
    pub key: String,
    /// `{"kind": "float"|"int", "low", "high", "log"}` or `{"kind": "choice", "choices": [...]}`.
    pub domain: Value,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TrialRecord {
    pub trial: usize,
    pub status: String,
    pub params: serde_json::Map<String, Value>,
    pub epochs: usize,
    pub rung_scores: Vec<Option<f64>>,
    pub score: Option<f64>,
    pub spread: Option<f64>,
    pub seconds: f64,
}

impl TrialRecord {
    /// The highest rung with a score, and that score: the trial's final word so far.
    pub fn top(&self) -> Option<(usize, f64)> {
        self.rung_scores.iter().enumerate().rev().find_map(|(k, s)| s.filter(|v| v.is_finite()).map(|v| (k, v)))
    }
}

impl TuneRecord {
    pub fn read(dir: &Path) -> anyhow::Result<TuneRecord> {
        let p = dir.join(TRIALS_JSON);
        let text = std::fs::read_to_string(&p).with_context(|| {
            format!("reading {}: the tune has no record yet (run `grace tune` on it, or its --collect)", p.display())
        })?;
        serde_json::from_str(&text).with_context(|| format!("{}: not a grace tune record", p.display()))
    }

    /// Trials with a score, best first: a higher rung beats any lower one (scores at different
    /// rungs are not comparable), then the lower score, then the lower trial id.
    pub fn ranked(&self) -> Vec<&TrialRecord> {
        let mut t: Vec<&TrialRecord> = self.trials.iter().filter(|t| t.top().is_some()).collect();
        t.sort_by(|a, b| {
            let ((ka, sa), (kb, sb)) = (a.top().unwrap(), b.top().unwrap());
            kb.cmp(&ka).then(sa.total_cmp(&sb)).then(a.trial.cmp(&b.trial))
        });
        t
    }

    fn rung_label(&self, k: usize) -> String {
        match self.rungs.get(k) {
            Some(e) => format!("rung {k} ({e} epochs)"),
            None => format!("rung {k}"),
        }
    }

    fn score_label(&self) -> String {
        format!("validation {} (lower is better)", if self.objective.is_empty() { "score" } else { &self.objective })
    }
}

/// A JSON value as the tables show it: strings without quotes.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.as_f64().map(figures::fmt_num).unwrap_or_else(|| n.to_string()),
        other => other.to_string(),
    }
}

fn score(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite()).map(|x| format!("{x:.3}")).unwrap_or_else(|| "–".into())
}

/// The head: what was searched, how, and the statement that no trial read the test set.
pub fn head_blocks(r: &TuneRecord, dir: &Path) -> Vec<Block> {
    let mut b = Vec::new();
    if r.data.to_ascii_uppercase().contains("SYNTHETIC") {
        b.push(Block::Warn("SYNTHETIC fleet: this search ran on generated engines, not on NASA C-MAPSS; its scores exercise the code and are not C-MAPSS results.".into()));
    }
    let mut counts: Vec<(String, usize)> = Vec::new();
    for t in &r.trials {
        match counts.iter_mut().find(|(s, _)| *s == t.status) {
            Some(c) => c.1 += 1,
            None => counts.push((t.status.clone(), 1)),
        }
    }
    let counts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    b.push(Block::P(format!(
        "Tune directory: {}. Data: {}; method {}. {} trials ({}){}.",
        dir.display(),
        r.data,
        r.method,
        r.trials.len(),
        counts.join(", "),
        if r.finished { "; the search is finished" } else { "; the search is not finished" }
    )));
    let rungs: Vec<String> = r.rungs.iter().map(|e| e.to_string()).collect();
    let folds = if r.folds >= 2 {
        format!(" Each trial's score is the mean over {} folds of the training engines.", r.folds)
    } else {
        String::new()
    };
    b.push(Block::P(format!(
        "Objective: {} — {}. Sampler {} (seed {}); scheduler {}: {}. Rungs at {} epochs, η = {}.{folds}",
        r.objective,
        r.objective_definition,
        r.sampler,
        r.seed,
        r.scheduler,
        r.scheduler_note,
        rungs.join(", "),
        r.eta
    )));
    b.push(Block::P(format!("Test set: {}.", r.test_set)));
    b
}

/// The best trials, ranked as `best.toml` was chosen, with every searched value.
pub fn best_table(r: &TuneRecord) -> Block {
    let keys: Vec<&str> = r.space.params.iter().map(|p| p.key.as_str()).collect();
    let mut headers: Vec<String> =
        ["rank", "trial", "status", "rung reached", "score"].iter().map(|s| s.to_string()).collect();
    if r.folds >= 2 {
        headers.push("fold std".into());
    }
    headers.push("time (s)".into());
    headers.extend(keys.iter().map(|k| k.to_string()));
    let rows = r
        .ranked()
        .iter()
        .take(BEST_ROWS)
        .enumerate()
        .map(|(i, t)| {
            let (k, s) = t.top().expect("ranked trials have a score");
            let mut row = vec![(i + 1).to_string(), t.trial.to_string(), t.status.clone(), r.rung_label(k)];
            row.push(score(Some(s)));
            if r.folds >= 2 {
                row.push(score(t.spread));
            }
            row.push(format!("{:.1}", t.seconds));
            row.extend(keys.iter().map(|k| t.params.get(*k).map(plain).unwrap_or_else(|| "–".into())));
            row
        })
        .collect();
    Block::Table { headers, rows }
}

/// The axis a searched key's domain asks for.
pub fn axis_of(p: &ParamRecord) -> Axis {
    match p.domain.get("kind").and_then(Value::as_str) {
        Some("choice") => {
            let c = p.domain.get("choices").and_then(Value::as_array).cloned().unwrap_or_default();
            Axis::Choices(c.iter().map(plain).collect())
        }
        _ if p.domain.get("log").and_then(Value::as_bool) == Some(true) => Axis::Log,
        _ => Axis::Linear,
    }
}

/// Every scored trial's final score against the value of `p`.
pub fn param_scatter(r: &TuneRecord, p: &ParamRecord) -> ParamScatter {
    let axis = axis_of(p);
    let x_of = |v: &Value| match &axis {
        Axis::Choices(c) => c.iter().position(|name| *name == plain(v)).map(|i| i as f64),
        _ => v.as_f64(),
    };
    let points = r
        .trials
        .iter()
        .filter_map(|t| {
            let (rung, score) = t.top()?;
            Some(TrialPoint { trial: t.trial, x: x_of(t.params.get(&p.key)?)?, score, rung })
        })
        .collect();
    ParamScatter {
        title: format!("Score against {}", p.key),
        key: p.key.clone(),
        y_label: r.score_label(),
        axis,
        points,
        rung_labels: (0..r.rungs.len()).map(|k| format!("reached {}", r.rung_label(k))).collect(),
    }
}

/// Each trial's score at every rung it reached: lines for promoted trials, a point for the rest;
/// coloured by the highest rung reached, as in the scatters.
pub fn rung_panels(r: &TuneRecord) -> Panels {
    let mut labelled = vec![false; r.rungs.len().max(1)];
    let series = r
        .trials
        .iter()
        .filter_map(|t| {
            let (top, _) = t.top()?;
            let pts: Vec<(f64, f64)> = t
                .rung_scores
                .iter()
                .enumerate()
                .filter_map(|(k, s)| Some((*r.rungs.get(k)? as f64, s.filter(|v| v.is_finite())?)))
                .collect();
            let slot = top.min(labelled.len() - 1);
            let label =
                (!std::mem::replace(&mut labelled[slot], true)).then(|| format!("reached {}", r.rung_label(top)));
            let mark = if pts.len() >= 2 { Mark::Line } else { Mark::Points };
            Some(Series::new(label, color(top), mark, pts))
        })
        .collect();
    Panels {
        title: "Successive halving: score at each rung".into(),
        panels: vec![Panel {
            title: "one line per promoted trial, a point per trial stopped at its first rung".into(),
            x_label: "epochs trained (rungs)".into(),
            y_label: r.score_label(),
            series,
            x_integer: true,
            ..Default::default()
        }],
    }
}

/// Draws `plot` into `dir/figures/` and returns the block that shows it.
fn figure<P: Plot>(
    plot: &P,
    dir: &Path,
    name: &str,
    size: (u32, u32),
    text: (&str, String),
    files: &mut Vec<PathBuf>,
) -> anyhow::Result<Block> {
    let saved = figures::save(plot, &dir.join("figures"), name, size)?;
    files.extend([saved.png, saved.svg]);
    Ok(Block::Figure {
        png: format!("figures/{name}.png"),
        svg: format!("figures/{name}.svg"),
        title: text.0.into(),
        caption: text.1,
    })
}

/// A file name for a key: `train.lr` → `param_train_lr`.
fn slug(key: &str) -> String {
    let s: String = key.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    format!("param_{s}")
}

/// Writes `out/index.html` with its figures for the tune in `dir`.
pub fn tune_report(dir: &Path, out: &Path) -> anyhow::Result<ReportSummary> {
    let r = TuneRecord::read(dir)?;
    std::fs::create_dir_all(out.join("figures")).with_context(|| format!("creating {}", out.display()))?;
    let mut files = Vec::new();
    let best = r.ranked().first().map(|t| format!("Best so far: trial {}.", t.trial));
    let mut best_blocks = vec![best_table(&r)];
    best_blocks.push(Block::P(format!(
        "{} Ranked by the highest rung reached, then by score (scores at different rungs are not comparable), then by trial id; the top {BEST_ROWS} of {} scored trials.",
        best.unwrap_or_else(|| "No trial has a score yet.".into()),
        r.ranked().len()
    )));
    let mut scatters = Vec::new();
    for p in &r.space.params {
        let plot = param_scatter(&r, p);
        let how = match plot.axis {
            Axis::Log => "log-scaled range, log axis",
            Axis::Linear => "linear range",
            Axis::Choices(_) => "a list of choices, one column each (points spread sideways to stay visible)",
        };
        let caption = format!("Each scored trial's score at the highest rung it reached against its value of {} ({how}); colour: the rung reached.", p.key);
        scatters.push(figure(&plot, out, &slug(&p.key), (900, 550), (&p.key, caption), &mut files)?);
    }
    let caption = "Every trial's score at each rung it reached; a line joins the rungs of a promoted trial. Colour: the highest rung reached.".to_string();
    let rungs = figure(&rung_panels(&r), out, "rungs", (1000, 600), ("Rungs", caption), &mut files)?;
    let sections = vec![
        Section { title: String::new(), blocks: head_blocks(&r, dir) },
        Section { title: "Best trials".into(), blocks: best_blocks },
        Section { title: "Score against each searched key".into(), blocks: scatters },
        Section { title: "Promotions".into(), blocks: vec![rungs] },
    ];
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "tune".into());
    let index = super::sections::write_sections(format!("grace tune {name}"), sections, out)?;
    Ok(ReportSummary {
        kind: "tune",
        input: dir.to_path_buf(),
        index: index.clone(),
        pages: vec![index],
        figures: files,
        runs: r.trials.len(),
        synthetic: r.data.to_ascii_uppercase().contains("SYNTHETIC"),
    })
}

#[cfg(test)]
mod tests;
