//! The parts every report page is made of: sections as values (text blocks and figures not yet
//! drawn), so each can be built and checked without files, and drawn into a page in one place.

use crate::downsample::bucket_mean;
use crate::figures::{self, Confusion, ErrorHistogram, Panels, ParetoPlot, Plot};
use crate::html::{Block, Section};
use crate::rundir::{Columns, RunData};
use anyhow::Context;
use plotters::coord::Shift;
use plotters::prelude::{DrawingArea, DrawingBackend};
use std::path::{Path, PathBuf};

/// Any of the report's figure kinds, so a section can hold its figures before they are drawn.
#[derive(Debug, Clone)]
pub enum Plotted {
    Panels(Panels),
    Histogram(ErrorHistogram),
    Confusion(Confusion),
    Pareto(ParetoPlot),
}

impl Plot for Plotted {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        match self {
            Plotted::Panels(p) => p.draw(root),
            Plotted::Histogram(p) => p.draw(root),
            Plotted::Confusion(p) => p.draw(root),
            Plotted::Pareto(p) => p.draw(root),
        }
    }
}

/// A figure of a section: what to draw, its file name (without extension), pixel size and the
/// title and caption shown under it.
#[derive(Debug, Clone)]
pub struct Figure {
    pub plot: Plotted,
    pub name: String,
    pub size: (u32, u32),
    pub title: String,
    pub caption: String,
}

impl Figure {
    pub fn new(plot: Plotted, name: impl Into<String>, size: (u32, u32), title: &str, caption: &str) -> Figure {
        Figure { plot, name: name.into(), size, title: title.into(), caption: caption.into() }
    }
}

#[derive(Debug, Clone)]
pub enum Item {
    Block(Block),
    Figure(Figure),
}

/// One section of a page before its figures are drawn.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    /// Empty for the untitled head of a page.
    pub title: String,
    pub items: Vec<Item>,
}

impl Draft {
    pub fn new(title: impl Into<String>) -> Draft {
        Draft { title: title.into(), items: Vec::new() }
    }

    pub fn block(mut self, b: Block) -> Draft {
        self.items.push(Item::Block(b));
        self
    }

    pub fn figure(mut self, f: Figure) -> Draft {
        self.items.push(Item::Figure(f));
        self
    }

    pub fn figures(&self) -> impl Iterator<Item = &Figure> {
        self.items.iter().filter_map(|i| match i {
            Item::Figure(f) => Some(f),
            Item::Block(_) => None,
        })
    }

    /// All text a reader sees in the section (blocks, table cells, figure titles and captions),
    /// one piece per line: what the tests of the sections read.
    pub fn text(&self) -> String {
        let mut out = vec![self.title.clone()];
        for i in &self.items {
            match i {
                Item::Block(Block::P(t) | Block::Warn(t)) => out.push(t.clone()),
                Item::Block(Block::Table { headers, rows }) => {
                    out.push(headers.join(" | "));
                    out.extend(rows.iter().map(|r| r.join(" | ")));
                }
                Item::Block(Block::Links(items)) => out.extend(items.iter().map(|(t, _)| t.clone())),
                Item::Block(Block::Figure { title, caption, .. }) | Item::Figure(Figure { title, caption, .. }) => {
                    out.push(format!("{title}: {caption}"))
                }
            }
        }
        out.join("\n")
    }

    /// Draws the figures into `fig_dir` (PNG and SVG, paths recorded in `files`) and returns the
    /// section with figures referenced as `rel/name.png` from the page.
    pub fn draw(self, fig_dir: &Path, rel: &str, files: &mut Vec<PathBuf>) -> anyhow::Result<Section> {
        let mut blocks = Vec::with_capacity(self.items.len());
        for item in self.items {
            match item {
                Item::Block(b) => blocks.push(b),
                Item::Figure(f) => {
                    std::fs::create_dir_all(fig_dir).with_context(|| format!("creating {}", fig_dir.display()))?;
                    let saved = figures::save(&f.plot, fig_dir, &f.name, f.size)?;
                    files.push(saved.png);
                    files.push(saved.svg);
                    blocks.push(Block::Figure {
                        png: format!("{rel}/{}.png", f.name),
                        svg: format!("{rel}/{}.svg", f.name),
                        title: f.title,
                        caption: f.caption,
                    });
                }
            }
        }
        Ok(Section { title: self.title, blocks })
    }
}

/// Draws the figures of every section under `dir/figures/`, recording the files in `files`.
pub fn draw_sections(drafts: Vec<Draft>, dir: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<Vec<Section>> {
    let fig_dir = dir.join("figures");
    std::fs::create_dir_all(&fig_dir).with_context(|| format!("creating {}", fig_dir.display()))?;
    drafts.into_iter().map(|d| d.draw(&fig_dir, "figures", files)).collect()
}

/// Writes `dir/index.html`; returns its path.
pub fn write_sections(title: String, sections: Vec<Section>, dir: &Path) -> anyhow::Result<PathBuf> {
    let index = dir.join("index.html");
    crate::io::write_bytes_atomic(&index, crate::html::Page { title, sections }.render().as_bytes())?;
    Ok(index)
}

/// Where the runs' data came from, with a warning when any is the synthetic fleet: the top of
/// every page, so no generated number is mistaken for a C-MAPSS result.
pub fn data_blocks(runs: &[&RunData]) -> Vec<Block> {
    let mut sources: Vec<String> = Vec::new();
    for r in runs {
        let s = if r.synthetic() {
            "the SYNTHETIC fleet generated by grace (data.source = \"synthetic\"), not NASA C-MAPSS".to_string()
        } else {
            format!("NASA C-MAPSS {} read from {}", r.label(), r.source())
        };
        if !sources.contains(&s) {
            sources.push(s);
        }
    }
    let mut b = Vec::new();
    if runs.iter().any(|r| r.synthetic()) {
        b.push(Block::Warn(
            "SYNTHETIC fleet: these runs were trained and tested on generated engines, not on NASA C-MAPSS. The numbers exercise the code; they are not C-MAPSS results and must not be compared with published ones."
                .into(),
        ));
    }
    b.push(Block::P(format!("Data: {}.", if sources.is_empty() { "unknown".to_string() } else { sources.join("; ") })));
    b
}

/// The evaluation protocol the results carry (docs/reference.md §5, §6), in one sentence.
pub fn protocol_block(runs: &[&RunData]) -> Block {
    let finished: Vec<_> = runs.iter().filter_map(|r| r.results.as_ref()).collect();
    let Some(r) = finished.first() else {
        return Block::P("No run has finished yet, so there are no test scores. Model selection uses held-out training engines; the test set is scored once, at the end.".into());
    };
    let p = &r.protocol;
    let once = finished.iter().all(|r| r.protocol.test_scored_once);
    let val = if runs.len() == 1 {
        format!(
            "{} held-out training engines (units {})",
            p.validation_units.len(),
            p.validation_units.iter().map(|u| u.to_string()).collect::<Vec<_>>().join(", ")
        )
    } else {
        format!("{} held-out training engines per run", p.validation_units.len())
    };
    Block::P(format!(
        "Protocol: model selection by {} on {val}, never on test data; evaluated weights: {}. The test set ({} engines; {}) was {} at the end of training. Window {} cycles, RUL capped at {}, {} input features, {} operating conditions.",
        p.selection_metric,
        p.evaluated_weights,
        p.test_units,
        p.test_protocol,
        if once { "scored once" } else { "NOT marked as scored once (check these runs)" },
        p.window,
        p.max_rul,
        p.features.len(),
        p.n_conditions
    ))
}

/// The untitled head of a page: data source, protocol, then the page's own lines.
pub fn head(runs: &[&RunData], more: impl IntoIterator<Item = Block>) -> Draft {
    let mut d = Draft::new("");
    for b in data_blocks(runs).into_iter().chain([protocol_block(runs)]).chain(more) {
        d = d.block(b);
    }
    d
}

pub fn epoch_points(c: &Columns, name: &str) -> Vec<(f64, f64)> {
    c.col("epoch").into_iter().zip(c.col(name)).collect()
}

/// The step column of a gradient log, or the row number for logs without one.
pub fn step_x(c: &Columns) -> Vec<f64> {
    if c.has("step") {
        c.col("step")
    } else {
        (0..c.rows).map(|i| i as f64).collect()
    }
}

/// A λ* column of a run's gradient log, bucket-averaged to at most `max_points` points.
pub fn lambda_points(run: &RunData, name: &str, max_points: usize) -> Vec<(f64, f64)> {
    match &run.gradients {
        Some(g) if g.has(name) => bucket_mean(&step_x(g), &g.col(name), max_points),
        _ => Vec::new(),
    }
}

/// Hand-made runs for the tests of the sections.
#[cfg(test)]
pub(crate) mod fixtures {
    use crate::rundir::{Columns, RunData, RunResults};
    use grace_core::conformal::{IntervalKind, IntervalReport, IntervalScores};
    use grace_core::results::{IntervalsSummary, KindIntervals, Protocol, RulScores, TestReport, ValidationSummary};
    use std::path::PathBuf;

    pub fn columns(cols: &[(&str, Vec<f64>)]) -> Columns {
        Columns {
            names: cols.iter().map(|(n, _)| n.to_string()).collect(),
            rows: cols.first().map_or(0, |c| c.1.len()),
            data: cols.iter().map(|(n, v)| (n.to_string(), v.clone())).collect(),
        }
    }

    pub fn results(method: &str, synthetic: bool, rmse: f64) -> RunResults {
        RunResults {
            method: method.into(),
            subset: "FD001".into(),
            synthetic,
            seed: 7,
            protocol: Protocol {
                selection_metric: "validation RMSE".into(),
                evaluated_weights: "averaged weights".into(),
                test_protocol: "last window per test engine".into(),
                test_scored_once: true,
                validation_units: vec![3, 9],
                test_units: 2,
                max_rul: 125.0,
                window: 30,
                features: vec!["s2".into(), "s3".into()],
                n_conditions: 1,
                ..Default::default()
            },
            validation: ValidationSummary { best_epoch: 1, best_val_rmse: 12.345, ..Default::default() },
            test: TestReport {
                engines: 2,
                capped: RulScores { rmse, nasa: 3.5, mae: 10.0 },
                health_accuracy: f64::NAN,
                health_macro_f1: f64::NAN,
                confusion: vec![vec![1, 0, 0], vec![0, 1, 0], vec![0, 0, 0]],
                ..Default::default()
            },
            epochs_run: 3,
            steps: 30,
            ..Default::default()
        }
    }

    /// (level, coverage, mean width) of one level.
    pub type LevelFigures = (f64, f64, Option<f64>);

    /// The `intervals` section of a calibrated run: per kind, its levels' figures against capped
    /// truth; band coverage and the uncapped scores are left empty.
    pub fn intervals(kinds: &[(IntervalKind, &[LevelFigures])]) -> IntervalsSummary {
        let kinds = kinds
            .iter()
            .map(|(kind, levels)| {
                let capped = levels
                    .iter()
                    .map(|&(level, coverage, mean_width)| IntervalScores {
                        level,
                        coverage,
                        mean_width,
                        mean_lower: 0.0,
                        bands: vec![],
                    })
                    .collect();
                let report = IntervalReport { max_rul: 125.0, capped, uncapped: vec![] };
                KindIntervals { kind: *kind, report }
            })
            .collect();
        IntervalsSummary {
            calibration_engines: 2,
            calibration_cuts: 20,
            cuts_per_engine: 10,
            kinds,
            ..Default::default()
        }
    }

    /// A finished run of three epochs (best: epoch 1) with a gradient log and two test engines.
    pub fn run(name: &str, method: &str, synthetic: bool) -> RunData {
        RunData {
            dir: PathBuf::from(format!("/runs/{name}")),
            name: name.into(),
            config: None,
            results: Some(results(method, synthetic, 14.0)),
            epochs: Some(columns(&[
                ("epoch", vec![0.0, 1.0, 2.0]),
                ("train_loss_rul", vec![900.0, 400.0, 300.0]),
                ("train_loss_health", vec![1.0, 0.6, 0.5]),
                ("val_rmse", vec![20.0, 12.345, 13.0]),
            ])),
            gradients: Some(columns(&[
                ("step", vec![0.0, 1.0, 2.0]),
                ("lambda_rul", vec![0.5, 0.4, 0.3]),
                ("lambda_health", vec![0.5, 0.6, 0.7]),
                ("ratio", vec![100.0, 50.0, 20.0]),
                ("cosine", vec![0.1, -0.2, 0.0]),
            ])),
            predictions: Some(columns(&[
                ("truth", vec![150.0, 20.0]),
                ("truth_capped", vec![125.0, 20.0]),
                ("prediction", vec![110.0, 30.0]),
            ])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::run;
    use super::*;

    #[test]
    fn head_flags_the_synthetic_fleet_and_states_the_protocol() {
        let (real, synth) = (run("a", "grace", false), run("b", "grace", true));
        let text = head(&[&real], []).text();
        assert!(!text.contains("SYNTHETIC"), "{text}");
        assert!(
            text.contains(
                "model selection by validation RMSE on 2 held-out training engines (units 3, 9), never on test data"
            ),
            "{text}"
        );
        assert!(text.contains("was scored once at the end of training"), "{text}");
        let both = head(&[&real, &synth], []);
        assert!(matches!(&both.items[0], Item::Block(Block::Warn(w)) if w.starts_with("SYNTHETIC fleet")));
        assert!(both.text().contains("2 held-out training engines per run"));
    }

    #[test]
    fn a_run_not_marked_scored_once_is_called_out() {
        let mut r = run("a", "grace", false);
        r.results.as_mut().unwrap().protocol.test_scored_once = false;
        assert!(head(&[&r], []).text().contains("NOT marked as scored once"));
        r.results = None;
        assert!(head(&[&r], []).text().contains("No run has finished yet"));
    }

    #[test]
    fn drawing_a_section_writes_both_files_and_references_them() {
        let dir = tempfile::tempdir().unwrap();
        let conf = Confusion {
            title: "c".into(),
            classes: vec!["a".into(), "b".into()],
            counts: vec![vec![1, 0], vec![0, 2]],
        };
        let d = Draft::new("T").block(Block::P("x".into())).figure(Figure::new(
            Plotted::Confusion(conf),
            "conf",
            (300, 300),
            "C",
            "cap",
        ));
        let mut files = Vec::new();
        let s = d.draw(&dir.path().join("figures"), "figures", &mut files).unwrap();
        assert_eq!(files.len(), 2);
        assert!(files.iter().all(|f| f.is_file()));
        assert!(matches!(&s.blocks[1], Block::Figure { png, .. } if png == "figures/conf.png"));
    }
}
