//! `grace compare`: per subset and method the test scores over seeds, and paired bootstrap comparisons
//! of each method against reference methods on the same test engines (docs/benchmark.md).

use crate::paired::{paired_bootstrap, BootstrapSettings, EngineLosses, PairedDifference};
use crate::plan::Manifest;
use crate::report::load_sweep;
use crate::rundir::{self, RunData, RunResults, RunStatus};
use crate::table::{self, Row, Stat};
use anyhow::{bail, Context};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const COMPARE_DIR: &str = "compare";

#[derive(Debug, Clone, Serialize)]
pub struct Options {
    /// Reference methods every other method is compared with.
    pub against: Vec<String>,
    pub bootstrap: BootstrapSettings,
}

/// One subset × method: mean ± std over the seeds that finished, and how many the sweep planned.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    #[serde(flatten)]
    pub row: Row,
    /// Seeds in the sweep's plan for this cell; `None` for runs outside the plan.
    pub planned_seeds: Option<usize>,
    /// Fewer seeds finished than planned: the row is an interim figure, never padded.
    pub partial: bool,
}

/// A method against a reference on one subset.
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    pub subset: String,
    pub method: String,
    pub reference: String,
    /// The seeds both methods finished: each engine's losses are averaged over these.
    pub seeds: Vec<u64>,
    #[serde(flatten)]
    pub difference: PairedDifference,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub sweep: PathBuf,
    pub against: Vec<String>,
    pub bootstrap: BootstrapSettings,
    pub synthetic: bool,
    pub cells: Vec<Cell>,
    pub pairs: Vec<Pair>,
    /// Planned runs without results.
    pub missing: Vec<String>,
    /// References or pairs that could not be compared, and why.
    pub skipped: Vec<String>,
    pub method_note: &'static str,
}

pub const METHOD_NOTE: &str = "Paired bootstrap over test engines: each engine's squared error and NASA cost (truth capped at max_rul) are first averaged over the seeds both methods finished; the engines are then resampled with replacement, the same engines for both methods, and the difference method − reference of RMSE and of NASA score (a sum over engines) is recomputed on each resample. The interval is the percentile interval of those differences. Lower is better for both scores: an interval below 0 is \"better\", above 0 \"worse\", and one containing 0 is \"no measurable difference\". The RMSE here is the root of the seed-averaged mean squared error, so it can differ slightly from the mean of the per-seed RMSEs in the first table.";

/// A finished run under its place in the grid: the sweep's method name (a variant keeps its own
/// name though its results name the registry method it trains).
struct Scored<'a> {
    subset: String,
    method: String,
    seed: u64,
    run: &'a RunData,
    results: &'a RunResults,
}

/// Reads the sweep, tabulates it and compares every method with each reference.
pub fn compare(sweep_dir: &Path, opts: &Options) -> anyhow::Result<Comparison> {
    opts.bootstrap.check()?;
    let (manifest, runs) = load_sweep(sweep_dir)?;
    let scored = place(manifest.as_ref(), &runs);
    if scored.is_empty() {
        bail!("{} has no finished run yet; run `grace sweep` (or its --index items) first", sweep_dir.display());
    }
    let (subsets, methods) = grid_order(manifest.as_ref(), &scored);
    let mut skipped = Vec::new();
    let mut pairs = Vec::new();
    for subset in &subsets {
        let present: Vec<&String> = methods.iter().filter(|m| has(&scored, subset, m)).collect();
        for reference in &opts.against {
            if !present.contains(&reference) {
                skipped.push(format!("{subset}: no finished run of {reference} to compare against"));
                continue;
            }
            for method in present.iter().filter(|m| *m != &reference) {
                match pair(&scored, subset, method, reference, &opts.bootstrap)? {
                    Some(p) => pairs.push(p),
                    None => skipped.push(format!("{subset}: {method} and {reference} share no seed with predictions")),
                }
            }
        }
    }
    Ok(Comparison {
        sweep: sweep_dir.to_path_buf(),
        against: opts.against.clone(),
        bootstrap: opts.bootstrap,
        synthetic: scored.iter().any(|s| s.results.synthetic),
        cells: cells(manifest.as_ref(), &scored, &subsets, &methods),
        pairs,
        missing: missing(sweep_dir, manifest.as_ref(), &runs),
        skipped,
        method_note: METHOD_NOTE,
    })
}

fn place<'a>(manifest: Option<&Manifest>, runs: &'a [RunData]) -> Vec<Scored<'a>> {
    let planned = manifest.map(Manifest::items_by_name).unwrap_or_default();
    runs.iter()
        .filter_map(|run| {
            let results = run.results.as_ref()?;
            let (subset, method, seed) = match planned.get(&run.name) {
                Some(i) => (i.subset.clone(), i.method.clone(), i.seed),
                None => (results.label(), results.method.clone(), results.seed),
            };
            Some(Scored { subset, method, seed, run, results })
        })
        .collect()
}

/// Subsets and methods in the plan's order, then as the runs name them.
fn grid_order(manifest: Option<&Manifest>, scored: &[Scored]) -> (Vec<String>, Vec<String>) {
    let (mut subsets, mut methods) = manifest.map(|m| (m.subsets.clone(), m.methods.clone())).unwrap_or_default();
    for s in scored {
        if !subsets.contains(&s.subset) {
            subsets.push(s.subset.clone());
        }
        if !methods.contains(&s.method) {
            methods.push(s.method.clone());
        }
    }
    (subsets, methods)
}

fn has(scored: &[Scored], subset: &str, method: &str) -> bool {
    scored.iter().any(|s| s.subset == subset && s.method == method)
}

fn cells(manifest: Option<&Manifest>, scored: &[Scored], subsets: &[String], methods: &[String]) -> Vec<Cell> {
    let runs: Vec<(String, RunResults)> = scored
        .iter()
        .map(|s| (s.run.name.clone(), RunResults { method: s.method.clone(), seed: s.seed, ..s.results.clone() }))
        .collect();
    let planned = |row: &Row| {
        manifest.filter(|m| m.subsets.contains(&row.subset) && m.methods.contains(&row.method)).map(|m| m.seeds.len())
    };
    table::build(&runs, subsets, methods, vec![], vec![])
        .rows
        .into_iter()
        .map(|row| {
            let planned_seeds = planned(&row);
            Cell { partial: planned_seeds.is_some_and(|p| row.n < p), planned_seeds, row }
        })
        .collect()
}

fn missing(sweep_dir: &Path, manifest: Option<&Manifest>, runs: &[RunData]) -> Vec<String> {
    let mut out: Vec<String> = runs.iter().filter(|r| r.results.is_none()).map(|r| r.name.clone()).collect();
    for it in manifest.map(|m| m.items()).unwrap_or_default() {
        if rundir::status(&crate::plan::run_dir(sweep_dir, &it)) != RunStatus::Finished && !out.contains(&it.name) {
            out.push(it.name);
        }
    }
    out
}

/// A run's test predictions: engine → (capped truth, error ŷ − y).
type EngineErrors = BTreeMap<u32, (f64, f64)>;

fn engine_errors(run: &RunData) -> anyhow::Result<EngineErrors> {
    let p = run.predictions.as_ref().with_context(|| {
        format!("{}: no {} (the run finished without test predictions)", run.dir.display(), rundir::PREDICTIONS_FILE)
    })?;
    let (engine, truth, pred) = (p.col("engine"), p.col("truth_capped"), p.col("prediction"));
    let rows = (0..p.rows).filter(|&i| engine[i].is_finite() && truth[i].is_finite() && pred[i].is_finite());
    Ok(rows.map(|i| (engine[i] as u32, (truth[i], pred[i] - truth[i]))).collect())
}

/// `method` − `reference` on `subset` over the seeds both finished; `None` when they share none.
fn pair(
    scored: &[Scored],
    subset: &str,
    method: &str,
    reference: &str,
    settings: &BootstrapSettings,
) -> anyhow::Result<Option<Pair>> {
    let run_of = |m: &str, seed: u64| scored.iter().find(|s| s.subset == subset && s.method == m && s.seed == seed);
    let mut seeds: Vec<u64> = scored
        .iter()
        .filter(|s| s.subset == subset && s.method == method && run_of(reference, s.seed).is_some())
        .map(|s| s.seed)
        .collect();
    seeds.sort_unstable();
    if seeds.is_empty() {
        return Ok(None);
    }
    let per_seed = |m: &str| -> anyhow::Result<Vec<EngineErrors>> {
        seeds.iter().map(|&s| engine_errors(run_of(m, s).expect("a seed both finished").run)).collect()
    };
    let (of_method, of_reference) = (per_seed(method)?, per_seed(reference)?);
    let engines = common_engines(subset, of_method.iter().chain(&of_reference))?;
    let losses = |per_seed: &[EngineErrors]| {
        let matrix: Vec<Vec<f64>> = per_seed.iter().map(|m| engines.iter().map(|e| m[e].1).collect()).collect();
        EngineLosses::from_errors(&matrix)
    };
    let difference = paired_bootstrap(&losses(&of_method)?, &losses(&of_reference)?, settings)
        .with_context(|| format!("{subset}: {method} against {reference}"))?;
    Ok(Some(Pair { subset: subset.into(), method: method.into(), reference: reference.into(), seeds, difference }))
}

/// The engines every run scored, after checking that they agree on each engine's truth (the
/// same test data).
fn common_engines<'a>(subset: &str, mut runs: impl Iterator<Item = &'a EngineErrors>) -> anyhow::Result<Vec<u32>> {
    let first = runs.next().context("no run")?;
    let mut engines: Vec<u32> = first.keys().copied().collect();
    for r in runs {
        for (e, (truth, _)) in r {
            if first.get(e).is_some_and(|(t, _)| (t - truth).abs() > 1e-6) {
                bail!("{subset}: runs disagree on the truth of test engine {e}; they did not score the same test data");
            }
        }
        engines.retain(|e| r.contains_key(e));
    }
    if engines.is_empty() {
        bail!("{subset}: the runs share no test engine");
    }
    Ok(engines)
}

fn signed(v: f64, d: usize) -> String {
    if v.is_finite() {
        format!("{v:+.d$}").replace('-', "−")
    } else {
        "–".into()
    }
}

fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        String::new()
    }
}

impl Cell {
    /// "5", or "3 of 5, partial".
    pub fn seeds_label(&self) -> String {
        match self.planned_seeds {
            Some(p) if self.partial => format!("{} of {p}, partial", self.row.n),
            _ => self.row.n.to_string(),
        }
    }

    fn stats(&self) -> [(&'static str, Stat, usize); 10] {
        let r = &self.row;
        [
            ("rmse", r.rmse, 2),
            ("nasa", r.nasa, 1),
            ("rmse_uncapped", r.rmse_uncapped, 2),
            ("nasa_uncapped", r.nasa_uncapped, 1),
            ("mae", r.mae, 2),
            ("health_accuracy", r.health_accuracy, 3),
            ("health_macro_f1", r.health_macro_f1, 3),
            ("epochs", r.epochs, 1),
            ("best_epoch", r.best_epoch, 1),
            ("train_seconds", r.train_seconds, 1),
        ]
    }
}

impl Comparison {
    pub const CELL_HEADERS: [&'static str; 13] = [
        "subset",
        "method",
        "seeds",
        "RMSE",
        "NASA",
        "RMSE uncapped",
        "NASA uncapped",
        "MAE",
        "health accuracy",
        "macro-F1",
        "epochs",
        "best epoch",
        "wall time (s)",
    ];

    pub fn cell_rows(&self) -> Vec<Vec<String>> {
        self.cells
            .iter()
            .map(|c| {
                let mut row = vec![c.row.subset.clone(), c.row.method.clone(), c.seeds_label()];
                row.extend(c.stats().iter().map(|(_, s, d)| s.fmt(*d)));
                row
            })
            .collect()
    }

    pub fn pair_headers(&self) -> Vec<String> {
        let ci = format!("{:.0}% interval", 100.0 * self.bootstrap.level);
        ["subset", "method", "against", "seeds", "engines", "Δ RMSE", &ci, "RMSE", "Δ NASA", &ci, "NASA"]
            .map(String::from)
            .to_vec()
    }

    pub fn pair_rows(&self) -> Vec<Vec<String>> {
        let interval = |i: &crate::paired::Interval, d| format!("[{}, {}]", signed(i.low, d), signed(i.high, d));
        self.pairs
            .iter()
            .map(|p| {
                let (r, n) = (&p.difference.rmse, &p.difference.nasa);
                vec![
                    p.subset.clone(),
                    p.method.clone(),
                    p.reference.clone(),
                    p.seeds.len().to_string(),
                    p.difference.engines.to_string(),
                    signed(r.difference, 2),
                    interval(r, 2),
                    r.verdict.to_string(),
                    signed(n.difference, 1),
                    interval(n, 1),
                    n.verdict.to_string(),
                ]
            })
            .collect()
    }

    pub fn notes(&self) -> Vec<String> {
        let b = &self.bootstrap;
        let mut n = Vec::new();
        if self.synthetic {
            n.push("SYNTHETIC fleet: these numbers exercise the code; they are not C-MAPSS results.".to_string());
        }
        n.push(format!(
            "Bootstrap: {} resamples of the test engines, seed {}, {:.0}% percentile intervals; methods compared against {}.",
            b.resamples,
            b.seed,
            100.0 * b.level,
            self.against.join(", ")
        ));
        n.push(METHOD_NOTE.to_string());
        n.push("Seeds: the number of finished seeds of each cell; \"partial\" when fewer than the sweep planned (the mean is over those seeds only).".into());
        n.extend(self.skipped.iter().map(|s| format!("Not compared: {s}.")));
        if !self.missing.is_empty() {
            n.push(format!("Not finished ({}): {}.", self.missing.len(), self.missing.join(", ")));
        }
        n
    }

    pub fn to_markdown(&self) -> String {
        let mut s =
            format!("# Comparison of {}\n\n## Test scores (mean ± sample std over seeds)\n\n", self.sweep.display());
        s.push_str(&md_table(&Self::CELL_HEADERS.map(String::from), &self.cell_rows()));
        s.push_str("\n## Paired differences (method − reference; below 0 is better)\n\n");
        if self.pairs.is_empty() {
            s.push_str("No pair could be compared.\n");
        } else {
            s.push_str(&md_table(&self.pair_headers(), &self.pair_rows()));
        }
        s.push('\n');
        for n in self.notes() {
            s.push_str(&n);
            s.push_str("\n\n");
        }
        s
    }

    /// One line per pair, every figure in its own column.
    pub fn pairs_csv(&self) -> anyhow::Result<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut header: Vec<String> =
            ["subset", "method", "reference", "n_seeds", "seeds", "engines"].map(String::from).to_vec();
        for score in ["rmse", "nasa"] {
            for f in ["method", "reference", "difference", "bootstrap_mean", "low", "high", "verdict"] {
                header.push(format!("{score}_{f}"));
            }
        }
        header.extend(["level", "resamples", "bootstrap_seed"].map(String::from));
        w.write_record(&header)?;
        let b = &self.bootstrap;
        for p in &self.pairs {
            let d = &p.difference;
            let seeds: Vec<String> = p.seeds.iter().map(|s| s.to_string()).collect();
            let mut rec = vec![p.subset.clone(), p.method.clone(), p.reference.clone(), p.seeds.len().to_string()];
            rec.extend([seeds.join(" "), d.engines.to_string()]);
            for (m, r, i) in [(d.rmse_method, d.rmse_reference, &d.rmse), (d.nasa_method, d.nasa_reference, &d.nasa)] {
                rec.extend([m, r, i.difference, i.bootstrap_mean, i.low, i.high].map(num));
                rec.push(serde_json::to_value(i.verdict)?.as_str().unwrap_or_default().to_string());
            }
            rec.extend([num(b.level), b.resamples.to_string(), b.seed.to_string()]);
            w.write_record(&rec)?;
        }
        Ok(String::from_utf8(w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?)
    }

    /// One line per subset × method with every mean and std, the seed counts and the partial flag.
    pub fn cells_csv(&self) -> anyhow::Result<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut header: Vec<String> =
            ["subset", "method", "n", "planned", "partial", "seeds"].map(String::from).to_vec();
        if let Some(c) = self.cells.first() {
            for (name, ..) in c.stats() {
                header.extend([format!("{name}_mean"), format!("{name}_std")]);
            }
        }
        w.write_record(&header)?;
        for c in &self.cells {
            let seeds: Vec<String> = c.row.seeds.iter().map(|s| s.to_string()).collect();
            let mut rec = vec![c.row.subset.clone(), c.row.method.clone(), c.row.n.to_string()];
            rec.extend([c.planned_seeds.map(|p| p.to_string()).unwrap_or_default(), c.partial.to_string()]);
            rec.push(seeds.join(" "));
            for (_, s, _) in c.stats() {
                rec.extend([num(s.mean), num(s.std)]);
            }
            w.write_record(&rec)?;
        }
        Ok(String::from_utf8(w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?)
    }

    /// compare.md, compare.csv (the pairs), compare_cells.csv and compare.json in `dir`, each atomically.
    pub fn write(&self, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let json = serde_json::to_string_pretty(self)? + "\n";
        let files = [
            ("compare.md", self.to_markdown()),
            ("compare.csv", self.pairs_csv()?),
            ("compare_cells.csv", self.cells_csv()?),
            ("compare.json", json),
        ];
        let mut out = Vec::new();
        for (name, text) in files {
            let p = dir.join(name);
            crate::io::write_bytes_atomic(&p, text.as_bytes())?;
            out.push(p);
        }
        Ok(out)
    }
}

fn md_table(headers: &[String], rows: &[Vec<String>]) -> String {
    let mut s = format!("| {} |\n|", headers.join(" | "));
    for i in 0..headers.len() {
        s.push_str(if i < 2 { "---|" } else { "---:|" });
    }
    s.push('\n');
    for r in rows {
        s.push_str(&format!("| {} |\n", r.join(" | ")));
    }
    s
}

#[cfg(test)]
mod tests;
