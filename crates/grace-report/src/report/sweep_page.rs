//! The page of a sweep: the results table over seeds, per-subset comparison figures of all
//! methods, and a page per run; also `collect`, which turns a sweep directory into its tables.

use super::run_page::write_run_page;
use super::sections::{
    draw_sections, epoch_points, head, lambda_points, step_x, write_sections, Draft, Figure, Plotted,
};
use super::{Options, ReportSummary};
use crate::downsample::{bucket_log_mean, bucket_mean};
use crate::figures::{color, Mark, MethodPoints, Panel, Panels, ParetoPlot, Series};
use crate::html::Block;
use crate::pareto::pareto_front;
use crate::plan::{Manifest, RUNS_DIR};
use crate::rundir::{self, RunData, RunStatus};
use crate::table::{self, ResultsTable};
use anyhow::Context;
use plotters::style::RGBColor;
use std::path::Path;

mod intervals;

/// The run directories of a sweep, in plan order (then by name), with the manifest if present.
pub fn load_sweep(sweep_dir: &Path) -> anyhow::Result<(Option<Manifest>, Vec<RunData>)> {
    let manifest = Manifest::read(sweep_dir)?;
    let runs_dir = sweep_dir.join(RUNS_DIR);
    let mut names: Vec<String> = match std::fs::read_dir(&runs_dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join(rundir::CONFIG_FILE).is_file() || e.path().join(rundir::RESULTS_FILE).is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) if manifest.is_some() => Vec::new(),
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "{} is not a sweep directory (no {} and no {RUNS_DIR}/); run `grace sweep --out {}` first",
                    sweep_dir.display(),
                    crate::plan::MANIFEST_FILE,
                    sweep_dir.display()
                )
            })
        }
    };
    let order: Vec<String> =
        manifest.as_ref().map(|m| m.items().into_iter().map(|i| i.name).collect()).unwrap_or_default();
    names.sort_by_key(|n| (order.iter().position(|o| o == n).unwrap_or(usize::MAX), n.clone()));
    let mut runs = names.iter().map(|n| RunData::load(&runs_dir.join(n))).collect::<anyhow::Result<Vec<_>>>()?;
    // A variant's runs record their registry method (`amnl`); every table and figure of the sweep
    // names them by the plan's label (`amnl_floor`), so they get their own row and colour.
    let planned = manifest.as_ref().map(Manifest::items_by_name).unwrap_or_default();
    for r in &mut runs {
        if let (Some(it), Some(res)) = (planned.get(&r.name), r.results.as_mut()) {
            res.method = it.method.clone();
        }
    }
    Ok((manifest, runs))
}

/// Builds the results table of a sweep from its finished runs and writes results.md/.csv/.json.
pub fn collect(sweep_dir: &Path) -> anyhow::Result<ResultsTable> {
    let (manifest, runs) = load_sweep(sweep_dir)?;
    let t = table_of(sweep_dir, manifest.as_ref(), &runs);
    t.write(sweep_dir)?;
    Ok(t)
}

/// The results table of the finished runs; planned runs without results are listed as missing.
fn table_of(sweep_dir: &Path, manifest: Option<&Manifest>, runs: &[RunData]) -> ResultsTable {
    // runs carry their plan labels already (load_sweep)
    let finished: Vec<(String, rundir::RunResults)> =
        runs.iter().filter_map(|r| Some((r.name.clone(), r.results.clone()?))).collect();
    let mut missing: Vec<String> = runs.iter().filter(|r| r.results.is_none()).map(|r| r.name.clone()).collect();
    if let Some(m) = manifest {
        for it in m.items() {
            if rundir::status(&crate::plan::run_dir(sweep_dir, &it)) != RunStatus::Finished
                && !missing.contains(&it.name)
            {
                missing.push(it.name);
            }
        }
    }
    let mut data = Vec::new();
    for r in runs {
        let d = if r.synthetic() {
            "SYNTHETIC fleet (generated, not C-MAPSS)".to_string()
        } else {
            format!("C-MAPSS {} from {}", r.label(), r.source())
        };
        if !data.contains(&d) {
            data.push(d);
        }
    }
    let (subsets, methods) = manifest.map(|m| (m.subsets.clone(), m.methods.clone())).unwrap_or_default();
    table::build(&finished, &subsets, &methods, missing, data)
}

/// Writes the sweep page (`out/index.html`) and a page per run under `out/runs/`.
pub fn sweep_report(sweep_dir: &Path, out: &Path, opts: Options) -> anyhow::Result<ReportSummary> {
    let (manifest, runs) = load_sweep(sweep_dir)?;
    if runs.is_empty() {
        anyhow::bail!("{} holds no runs yet; run `grace sweep` (or its --index items) first", sweep_dir.display());
    }
    let table = table_of(sweep_dir, manifest.as_ref(), &runs);
    let mut drafts = vec![sweep_head(sweep_dir, &runs), results_section(&table)];
    let methods = method_order(manifest.as_ref(), &runs);
    let mcolor = |m: &str| color(methods.iter().position(|x| x == m).unwrap_or(0));
    for subset in subsets(&runs) {
        drafts.push(subset_section(&subset, &runs, &table, &methods, opts.max_points));
        drafts.extend(intervals::intervals_section(&subset, &runs, &table, &mcolor));
    }
    drafts.push(runs_section(&runs));
    // The sweep's figures first, then each run's page; the index last, once every page it links exists.
    let mut files = Vec::new();
    let sections = draw_sections(drafts, out, &mut files)?;
    let mut pages = Vec::new();
    for r in &runs {
        let dir = out.join(RUNS_DIR).join(&r.name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        pages.push(write_run_page(r, &dir, Some("../../index.html"), opts, &mut files)?);
    }
    let name = sweep_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "sweep".into());
    let index = write_sections(format!("grace sweep {name}"), sections, out)?;
    pages.insert(0, index.clone());
    Ok(ReportSummary {
        kind: "sweep",
        input: sweep_dir.to_path_buf(),
        index,
        pages,
        figures: files,
        runs: runs.len(),
        synthetic: runs.iter().any(|r| r.synthetic()),
    })
}

fn sweep_head(sweep_dir: &Path, runs: &[RunData]) -> Draft {
    let refs: Vec<&RunData> = runs.iter().collect();
    let finished = runs.iter().filter(|r| r.results.is_some()).count();
    let line =
        format!("Sweep directory: {}; {} run directories, {finished} finished.", sweep_dir.display(), runs.len());
    head(&refs, [Block::P(line)])
}

fn results_section(table: &ResultsTable) -> Draft {
    let mut d = Draft::new("Results (mean ± sample std over seeds)")
        .block(Block::Table { headers: table.headers(), rows: table.display_rows() });
    for note in table.notes() {
        d = d.block(Block::P(note));
    }
    d
}

/// Methods in plan order, then as the runs name them: the index of a method is its colour on
/// every figure of the page.
fn method_order(manifest: Option<&Manifest>, runs: &[RunData]) -> Vec<String> {
    let mut methods: Vec<String> = manifest.map(|m| m.methods.clone()).unwrap_or_default();
    for r in runs {
        if !methods.contains(&r.method()) {
            methods.push(r.method());
        }
    }
    methods
}

/// The subsets (or SYNTHETIC) of the runs, in order of first appearance.
fn subsets(runs: &[RunData]) -> Vec<String> {
    let mut subsets: Vec<String> = Vec::new();
    for r in runs {
        if !subsets.contains(&r.label()) {
            subsets.push(r.label());
        }
    }
    subsets
}

/// The figures comparing every method on one subset: RMSE–NASA scatter, λ* trajectories,
/// gradient ratio and cosine, validation curves.
fn subset_section(subset: &str, runs: &[RunData], table: &ResultsTable, methods: &[String], mp: usize) -> Draft {
    let sruns: Vec<&RunData> = runs.iter().filter(|r| r.label() == subset).collect();
    let kind = if sruns.iter().any(|r| r.synthetic()) { "SYNTHETIC fleet" } else { "C-MAPSS" };
    let mut d = Draft::new(format!("{subset}: {kind}"));
    let slug = subset.to_ascii_lowercase();
    let mcolor = |m: &str| color(methods.iter().position(|x| x == m).unwrap_or(0));
    if let Some(f) = pareto_figure(subset, &sruns, table, &mcolor) {
        d = d.figure(f);
    }
    let per_run = |f: &dyn Fn(&RunData) -> Vec<(f64, f64)>| per_run_series(&sruns, &mcolor, f);
    let step_panel = |title: &str, y_label: &str, series: Vec<Series>| Panel {
        title: title.into(),
        x_label: "optimizer step".into(),
        y_label: y_label.into(),
        series,
        ..Default::default()
    };
    let lam = Panels {
        title: format!("{subset}: task weights λ* over training, all methods"),
        panels: vec![
            step_panel("λ RUL", "task weight λ*", per_run(&|r| lambda_points(r, "lambda_rul", mp))),
            step_panel("λ health", "task weight λ*", per_run(&|r| lambda_points(r, "lambda_health", mp))),
        ],
    };
    let column = |r: &RunData, name: &str, log: bool| {
        let Some(g) = &r.gradients else { return Vec::new() };
        if log {
            bucket_log_mean(&step_x(g), &g.col(name), mp)
        } else {
            bucket_mean(&step_x(g), &g.col(name), mp)
        }
    };
    let grads = Panels {
        title: format!("{subset}: per-task gradients on the shared layers, all methods"),
        panels: vec![
            Panel {
                log_y: true,
                ..step_panel(
                    "Gradient norm ratio ‖g_RUL‖ / ‖g_health‖",
                    "ratio (dimensionless)",
                    per_run(&|r| column(r, "ratio", true)),
                )
            },
            Panel {
                y_range: Some((-1.0, 1.0)),
                ..step_panel(
                    "Cosine between the task gradients",
                    "cos(g_RUL, g_health)",
                    per_run(&|r| column(r, "cosine", false)),
                )
            },
        ],
    };
    let val = Panels {
        title: format!("{subset}: validation RMSE per epoch, all runs"),
        panels: vec![Panel {
            title: "held-out training engines, averaged weights".into(),
            x_label: "epoch".into(),
            x_integer: true,
            y_label: "validation RMSE (cycles)".into(),
            series: per_run(&|r| r.epochs.as_ref().map(|e| epoch_points(e, "val_rmse")).unwrap_or_default()),
            ..Default::default()
        }],
    };
    d.figure(Figure::new(
        Plotted::Panels(lam),
        format!("lambda_{slug}"),
        (1400, 500),
        "λ* trajectories",
        "One line per run, coloured by method, on shared axes (bucket means of the per-step log).",
    ))
    .figure(Figure::new(
        Plotted::Panels(grads),
        format!("gradients_{slug}"),
        (1400, 500),
        "Gradient ratio and cosine",
        "One line per run, coloured by method.",
    ))
    .figure(Figure::new(
        Plotted::Panels(val),
        format!("validation_{slug}"),
        (1100, 500),
        "Validation curves",
        "The curve model selection used, one line per run, coloured by method.",
    ))
}

/// One thin line per run, coloured by method, with each method in the legend once.
fn per_run_series(
    runs: &[&RunData],
    mcolor: &dyn Fn(&str) -> RGBColor,
    points: &dyn Fn(&RunData) -> Vec<(f64, f64)>,
) -> Vec<Series> {
    let mut seen: Vec<String> = Vec::new();
    runs.iter()
        .map(|r| {
            let m = r.method();
            let label = (!seen.contains(&m)).then(|| m.clone());
            seen.push(m.clone());
            let mut s = Series::new(label, mcolor(&m), Mark::Line, points(r));
            s.width = 1;
            s
        })
        .collect()
}

/// Test RMSE against NASA score of every run and method mean on `subset`, with the Pareto front
/// of the means; `None` when no run of the subset has finished.
fn pareto_figure(
    subset: &str,
    sruns: &[&RunData],
    table: &ResultsTable,
    mcolor: &dyn Fn(&str) -> RGBColor,
) -> Option<Figure> {
    let rows: Vec<&table::Row> = table.rows.iter().filter(|r| r.subset == subset).collect();
    if rows.is_empty() {
        return None;
    }
    let mps: Vec<MethodPoints> = rows
        .iter()
        .map(|row| MethodPoints {
            method: row.method.clone(),
            color: mcolor(&row.method),
            runs: sruns
                .iter()
                .filter(|r| r.method() == row.method)
                .filter_map(|r| r.results.as_ref())
                .map(|x| (x.test.capped.rmse, x.test.capped.nasa))
                .collect(),
            mean: (row.rmse.mean, row.nasa.mean),
            std: (row.rmse.std, row.nasa.std),
        })
        .collect();
    let front = pareto_front(&mps.iter().map(|m| m.mean).collect::<Vec<_>>());
    let names: Vec<String> = front.iter().map(|&i| mps[i].method.clone()).collect();
    let plot = ParetoPlot { title: format!("{subset}: test RMSE vs NASA score, all methods"), methods: mps, front };
    Some(Figure::new(
        Plotted::Pareto(plot),
        format!("pareto_{}", subset.to_ascii_lowercase()),
        (1100, 700),
        "RMSE–NASA scatter",
        &format!("Small dots: one seed each; large dots with bars: method mean ± 1 sample std; circled and joined: the Pareto front of the method means (no other method is better in both): {}.", names.join(", ")),
    ))
}

/// Links to the run pages, each with its headline scores or "not finished".
fn runs_section(runs: &[RunData]) -> Draft {
    let links = runs
        .iter()
        .map(|r| {
            let state = match &r.results {
                Some(x) => {
                    format!("RMSE {:.2}, NASA {:.1}, {} epochs", x.test.capped.rmse, x.test.capped.nasa, x.epochs_run)
                }
                None => "not finished".into(),
            };
            (format!("{} — {state}", r.name), Some(format!("{RUNS_DIR}/{}/index.html", r.name)))
        })
        .collect();
    Draft::new("Runs (curves, predictions and confusion matrix of each)").block(Block::Links(links))
}

#[cfg(test)]
mod tests {
    use super::super::sections::fixtures::run;
    use super::*;

    fn sweep() -> Vec<RunData> {
        let mut pending = run("fd001_gaba_s1", "gaba", false);
        pending.results = None;
        pending.config = Some("[data]\nsubset = \"FD001\"\n[method]\nname = \"gaba\"\n".parse().unwrap());
        vec![run("fd001_grace_s1", "grace", false), pending, run("synthetic_grace_s1", "grace", true)]
    }

    #[test]
    fn subsets_and_method_colours_follow_the_plan_then_the_runs() {
        let runs = sweep();
        assert_eq!(subsets(&runs), ["FD001", "SYNTHETIC"]);
        assert_eq!(method_order(None, &runs), ["grace", "gaba"]);
    }

    #[test]
    fn subset_sections_are_labelled_and_unfinished_runs_have_no_scatter_point() {
        let runs = sweep();
        let table = table_of(Path::new("/nowhere"), None, &runs);
        let methods = method_order(None, &runs);
        let fd = subset_section("FD001", &runs, &table, &methods, 50);
        assert_eq!(fd.title, "FD001: C-MAPSS");
        let names: Vec<&str> = fd.figures().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["pareto_fd001", "lambda_fd001", "gradients_fd001", "validation_fd001"]);
        let Plotted::Pareto(p) = &fd.figures().next().unwrap().plot else { panic!("no scatter") };
        assert_eq!(p.methods.len(), 1, "only grace finished on FD001");
        assert_eq!(p.methods[0].runs, vec![(14.0, 3.5)]);
        let Plotted::Panels(lam) = &fd.figures().nth(1).unwrap().plot else { panic!("no λ panels") };
        let labels: Vec<_> = lam.panels[0].series.iter().map(|s| s.label.clone()).collect();
        assert_eq!(labels, [Some("grace".to_string()), Some("gaba".to_string())]);
        assert_eq!(subset_section("SYNTHETIC", &runs, &table, &methods, 50).title, "SYNTHETIC: SYNTHETIC fleet");
    }

    #[test]
    fn run_links_show_scores_or_not_finished() {
        let text = runs_section(&sweep()).text();
        assert!(text.contains("fd001_grace_s1 — RMSE 14.00, NASA 3.5, 3 epochs"), "{text}");
        assert!(text.contains("fd001_gaba_s1 — not finished"), "{text}");
        let head = sweep_head(Path::new("/sw"), &sweep()).text();
        assert!(head.contains("SYNTHETIC fleet:") && head.contains("3 run directories, 2 finished"), "{head}");
    }
}
