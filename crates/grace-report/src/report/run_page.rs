//! The page of one run: head, results table, training curves, task weights and gradients, and
//! the test-set figures, each section built from the run directory alone.

use super::sections::{
    draw_sections, epoch_points, head, lambda_points, step_x, write_sections, Draft, Figure, Plotted,
};
use super::Options;
use crate::downsample::{bucket_log_mean, bucket_mean};
use crate::figures::{color, Confusion, ErrorHistogram, Mark, Panel, Panels, Series};
use crate::html::Block;
use crate::rundir::{Columns, RunData, RunResults, HEALTH_CLASSES};
use plotters::style::{RGBColor, BLACK};
use std::path::{Path, PathBuf};

pub mod intervals;

/// Writes `dir/index.html` for one run (figures in `dir/figures/`); returns the page path.
pub fn write_run_page(
    run: &RunData,
    dir: &Path,
    back: Option<&str>,
    opts: Options,
    files: &mut Vec<PathBuf>,
) -> anyhow::Result<PathBuf> {
    let title = format!("grace run {} ({}, {})", run.name, run.label(), run.method());
    let sections = draw_sections(run_sections(run, back, opts), dir, files)?;
    write_sections(title, sections, dir)
}

pub fn run_sections(run: &RunData, back: Option<&str>, opts: Options) -> Vec<Draft> {
    let mut drafts = vec![
        run_head(run, back),
        results_section(run),
        training_section(run),
        weighting_section(run, opts.max_points),
        test_section(run),
    ];
    drafts.extend(intervals::intervals_section(run));
    drafts
}

fn run_head(run: &RunData, back: Option<&str>) -> Draft {
    let mut more = vec![Block::P(format!(
        "Run directory: {}. Method {}, seed {}.",
        run.dir.display(),
        run.method(),
        run.seed().map(|s| s.to_string()).unwrap_or_else(|| "?".into())
    ))];
    if let Some(b) = back {
        more.push(Block::Links(vec![("back to the sweep".into(), Some(b.into()))]));
    }
    head(&[run], more)
}

/// A figure with `d` decimals, or a dash for a score that was not measured.
fn num(v: f64, d: usize) -> String {
    if v.is_finite() {
        format!("{v:.d$}")
    } else {
        "–".into()
    }
}

fn results_section(run: &RunData) -> Draft {
    let d = Draft::new("Results");
    match &run.results {
        Some(r) => d.block(results_table(r)),
        None => d.block(Block::Warn(format!(
            "This run has not finished ({} has no results.json): no test scores yet.",
            run.dir.display()
        ))),
    }
}

fn results_table(r: &RunResults) -> Block {
    let (t, v) = (&r.test, &r.validation);
    let row = |q: &str, value: String| vec![q.to_string(), value];
    let early = if v.stopped_early { " (stopped early)" } else { "" };
    Block::Table {
        headers: ["quantity", "value"].map(String::from).to_vec(),
        rows: vec![
            row(&format!("test RMSE, truth capped at {} (cycles)", r.protocol.max_rul), num(t.capped.rmse, 2)),
            row("test NASA score, capped (sum over engines)", num(t.capped.nasa, 1)),
            row("test MAE, capped (cycles)", num(t.capped.mae, 2)),
            row(
                "test RMSE / NASA, truth uncapped",
                format!("{} / {}", num(t.uncapped.rmse, 2), num(t.uncapped.nasa, 1)),
            ),
            row("health accuracy / macro-F1", format!("{} / {}", num(t.health_accuracy, 3), num(t.health_macro_f1, 3))),
            row("test engines", t.engines.to_string()),
            row("selected epoch (validation RMSE)", format!("{} ({})", v.best_epoch, num(v.best_val_rmse, 2))),
            row("epochs run / optimizer steps", format!("{} / {}{early}", r.epochs_run, r.steps)),
            row("training wall time (s)", num(r.train_seconds, 1)),
        ],
    }
}

fn training_section(run: &RunData) -> Draft {
    let d = Draft::new("Training");
    let Some(e) = &run.epochs else {
        return d.block(Block::P("No epochs.csv: no training curves.".into()));
    };
    d.figure(Figure::new(
        Plotted::Panels(curves_figure(run, e)),
        "curves",
        (1400, 520),
        "Training and validation curves",
        "Left: mean training loss of each task per epoch (log scale). Right: validation RMSE per epoch on the held-out training engines; the dashed vertical line is the epoch whose weights were scored on the test set.",
    ))
}

fn curves_figure(run: &RunData, e: &Columns) -> Panels {
    let best = run.results.as_ref().map(|r| r.validation.best_epoch as f64);
    let line = |label: &str, i: usize, mark: Mark, col: &str| {
        Series::new(Some(label.into()), color(i), mark, epoch_points(e, col))
    };
    Panels {
        title: format!("Training and validation curves: {}", run.name),
        panels: vec![
            Panel {
                title: "Training loss per task (epoch mean)".into(),
                x_label: "epoch".into(),
                x_integer: true,
                y_label: "loss".into(),
                log_y: true,
                series: vec![
                    line("RUL loss (cycles²)", 0, Mark::Line, "train_loss_rul"),
                    line("health loss (cross-entropy)", 1, Mark::Line, "train_loss_health"),
                ],
                ..Default::default()
            },
            Panel {
                title: "Validation RMSE on held-out training engines".into(),
                x_label: "epoch".into(),
                x_integer: true,
                y_label: "RMSE (cycles)".into(),
                series: vec![
                    line("all windows, averaged weights", 2, Mark::Line, "val_rmse"),
                    line("all windows, live weights", 4, Mark::Dashed, "val_rmse_live"),
                    line("test-like cut", 3, Mark::Line, "val_cut_rmse"),
                ],
                vlines: best.map(|b| vec![(b, format!("selected epoch {b}"))]).unwrap_or_default(),
                ..Default::default()
            },
        ],
    }
}

fn weighting_section(run: &RunData, max_points: usize) -> Draft {
    let d = Draft::new("Task weighting and gradients");
    let Some(g) = &run.gradients else {
        return d.block(Block::P("No gradient_log.csv: no λ* or gradient figures.".into()));
    };
    d.figure(Figure::new(
        Plotted::Panels(lambda_figure(run, max_points)),
        "lambda",
        (1000, 480),
        "Task weights",
        &format!("Task weights per step, averaged in buckets to at most {max_points} points."),
    ))
    .figure(Figure::new(
        Plotted::Panels(gradients_figure(run, g, max_points)),
        "gradients",
        (1400, 480),
        "Gradient ratio and cosine",
        "Left: ratio of the task gradient norms (geometric bucket mean, log scale); right: cosine similarity (bucket mean); negative means the tasks pull the shared layers in conflicting directions.",
    ))
}

fn lambda_figure(run: &RunData, max_points: usize) -> Panels {
    let line = |label: &str, i: usize, col: &str| {
        Series::new(Some(label.into()), color(i), Mark::Line, lambda_points(run, col, max_points))
    };
    Panels {
        title: format!("Task weights λ* over training: {}", run.name),
        panels: vec![Panel {
            title: "λ* applied at each optimizer step".into(),
            x_label: "optimizer step".into(),
            y_label: "task weight λ*".into(),
            series: vec![line("λ RUL", 0, "lambda_rul"), line("λ health", 1, "lambda_health")],
            ..Default::default()
        }],
    }
}

fn gradients_figure(run: &RunData, g: &Columns, max_points: usize) -> Panels {
    let x = step_x(g);
    Panels {
        title: format!("Per-task gradients on the shared layers: {}", run.name),
        panels: vec![
            Panel {
                title: "Gradient norm ratio ‖g_RUL‖ / ‖g_health‖".into(),
                x_label: "optimizer step".into(),
                y_label: "ratio (dimensionless)".into(),
                log_y: true,
                series: vec![Series::new(None, color(0), Mark::Line, bucket_log_mean(&x, &g.col("ratio"), max_points))],
                ..Default::default()
            },
            Panel {
                title: "Cosine between the task gradients".into(),
                x_label: "optimizer step".into(),
                y_label: "cos(g_RUL, g_health)".into(),
                y_range: Some((-1.0, 1.0)),
                series: vec![Series::new(None, color(2), Mark::Line, bucket_mean(&x, &g.col("cosine"), max_points))],
                ..Default::default()
            },
        ],
    }
}

fn test_section(run: &RunData) -> Draft {
    let d = Draft::new("Test set (scored once)");
    let (Some(p), Some(r)) = (&run.predictions, &run.results) else {
        return d.block(Block::P("No predictions.csv or results.json yet: no test-set figures.".into()));
    };
    let engines = ranked_engines(p);
    let errors: Vec<f64> = engines.iter().map(|e| e.2 - e.1).collect();
    let hist = ErrorHistogram {
        title: format!("Error histogram, {} test engines: {}", errors.len(), run.name),
        x_label: format!("d = predicted − true RUL, truth capped at {} (cycles)", r.protocol.max_rul),
        errors,
    };
    let conf = Confusion {
        title: format!("Health state confusion matrix, {} test engines", r.test.engines),
        classes: HEALTH_CLASSES.map(String::from).to_vec(),
        counts: r.test.confusion.clone(),
    };
    d.figure(Figure::new(
        Plotted::Panels(pred_vs_true_figure(run, r, &engines)),
        "pred_vs_true",
        (1200, 520),
        "Predicted vs true RUL",
        "Every test engine, sorted by its true remaining life; points above the capped line are late (optimistic) predictions.",
    ))
    .figure(Figure::new(
        Plotted::Histogram(hist),
        "error_hist",
        (1000, 520),
        "Error histogram",
        "Bars: test engines per error bin. Shading: the NASA penalty of an engine with that error; at equal |d| late predictions (d > 0, red) cost more than early ones (blue).",
    ))
    .figure(Figure::new(
        Plotted::Confusion(conf),
        "confusion",
        (720, 600),
        "Confusion matrix",
        &format!(
            "Rows: true health state, columns: predicted; percentages are shares of the row. Accuracy {:.3}, macro-F1 {:.3}.",
            r.test.health_accuracy, r.test.health_macro_f1
        ),
    ))
}

/// (true RUL, true RUL capped, predicted RUL) per test engine, by increasing true RUL.
fn ranked_engines(p: &Columns) -> Vec<(f64, f64, f64)> {
    let mut rows: Vec<(f64, f64, f64)> = p
        .col("truth")
        .into_iter()
        .zip(p.col("truth_capped"))
        .zip(p.col("prediction"))
        .map(|((a, b), c)| (a, b, c))
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    rows
}

fn pred_vs_true_figure(run: &RunData, r: &RunResults, rows: &[(f64, f64, f64)]) -> Panels {
    let xs = |f: fn(&(f64, f64, f64)) -> f64| {
        rows.iter().enumerate().map(|(i, r)| ((i + 1) as f64, f(r))).collect::<Vec<_>>()
    };
    Panels {
        title: format!("Predicted vs true RUL, {} test engines sorted by true RUL: {}", rows.len(), run.name),
        panels: vec![Panel {
            title: "last window of each test engine".into(),
            x_label: "test engine, ranked by true RUL".into(),
            x_integer: true,
            y_label: "RUL (cycles)".into(),
            series: vec![
                Series::new(Some("true RUL".into()), BLACK, Mark::Line, xs(|r| r.0)),
                Series::new(
                    Some(format!("true RUL capped at {}", r.protocol.max_rul)),
                    RGBColor(127, 127, 127),
                    Mark::Dashed,
                    xs(|r| r.1),
                ),
                Series::new(Some("predicted RUL".into()), color(0), Mark::Points, xs(|r| r.2)),
            ],
            ..Default::default()
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::super::sections::fixtures::run;
    use super::*;

    fn panels(d: &Draft, i: usize) -> &Panels {
        match &d.figures().nth(i).unwrap().plot {
            Plotted::Panels(p) => p,
            other => panic!("not panels: {other:?}"),
        }
    }

    #[test]
    fn the_selected_epoch_is_marked_and_tabulated() {
        let r = run("a", "grace", false);
        let curves = training_section(&r);
        assert_eq!(panels(&curves, 0).panels[1].vlines, vec![(1.0, "selected epoch 1".to_string())]);
        let table = results_section(&r).text();
        assert!(table.contains("selected epoch (validation RMSE) | 1 (12.35)"), "{table}");
        assert!(table.contains("test RMSE, truth capped at 125 (cycles) | 14.00"), "{table}");
        // unmeasured scores are a dash, never 0 or NaN
        assert!(table.contains("health accuracy / macro-F1 | – / –"), "{table}");
    }

    #[test]
    fn missing_files_leave_a_sentence_instead_of_a_figure() {
        let mut r = run("a", "grace", false);
        r.results = None;
        r.epochs = None;
        r.gradients = None;
        assert!(results_section(&r).text().contains("has not finished"));
        for d in [training_section(&r), weighting_section(&r, 10), test_section(&r)] {
            assert_eq!(d.figures().count(), 0, "{}", d.title);
            assert!(d.text().contains("No "), "{}", d.text());
        }
        assert_eq!(
            run_sections(&run("b", "gaba", true), None, Options::default())
                .iter()
                .map(|d| d.figures().count())
                .sum::<usize>(),
            6
        );
    }

    #[test]
    fn test_engines_are_ranked_by_true_rul_and_errors_use_the_capped_truth() {
        let d = test_section(&run("a", "grace", false));
        let pvt = panels(&d, 0);
        assert_eq!(pvt.panels[0].series[0].points, vec![(1.0, 20.0), (2.0, 150.0)]);
        let Plotted::Histogram(h) = &d.figures().nth(1).unwrap().plot else { panic!("no histogram") };
        assert_eq!(h.errors, vec![10.0, -15.0]);
    }
}
