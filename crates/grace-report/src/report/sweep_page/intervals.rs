//! The prediction-interval section of a sweep page, one per subset with calibrated runs: coverage
//! and width per method, kind and level over seeds, and a calibration plot of the method means.

use crate::figures::{Mark, Panel, Panels, Series};
use crate::html::Block;
use crate::report::run_page::intervals::kind_name;
use crate::report::sections::{Draft, Figure, Plotted};
use crate::rundir::{RunData, RunResults};
use crate::table::{interval_scores, same_kind, ResultsTable, Stat};
use grace_core::conformal::{IntervalKind, IntervalScores};
use plotters::style::RGBColor;

/// The finished runs of one table row (a method, or a variant under its own name) on the subset.
struct MethodRuns<'a> {
    method: String,
    results: Vec<&'a RunResults>,
}

impl MethodRuns<'_> {
    /// Mean ± std over the row's runs of `f` at `kind` and `level`; runs without them add nothing.
    fn stat(&self, kind: IntervalKind, level: f64, f: fn(&IntervalScores) -> Option<f64>) -> Stat {
        let xs: Vec<f64> =
            self.results.iter().map(|r| interval_scores(r, kind, level).and_then(f).unwrap_or(f64::NAN)).collect();
        Stat::of(&xs)
    }
}

fn rows_of<'a>(subset: &str, runs: &'a [RunData], table: &ResultsTable) -> Vec<MethodRuns<'a>> {
    table
        .rows
        .iter()
        .filter(|row| row.subset == subset)
        .map(|row| MethodRuns {
            method: row.method.clone(),
            results: runs
                .iter()
                .filter(|r| row.runs.contains(&r.name))
                .filter_map(|r| r.results.as_ref())
                .filter(|r| r.intervals.is_some())
                .collect(),
        })
        .filter(|m| !m.results.is_empty())
        .collect()
}

/// The kinds and levels stored by any run, kinds in first-seen order, levels ascending.
fn kinds_and_levels(methods: &[MethodRuns]) -> (Vec<IntervalKind>, Vec<f64>) {
    let (mut kinds, mut levels): (Vec<IntervalKind>, Vec<f64>) = (Vec::new(), Vec::new());
    for k in methods.iter().flat_map(|m| m.results.iter()).flat_map(|r| r.intervals.iter().flat_map(|i| &i.kinds)) {
        if !kinds.iter().any(|&x| same_kind(x, k.kind)) {
            kinds.push(k.kind);
        }
        for s in &k.report.capped {
            if !levels.iter().any(|l| (l - s.level).abs() < 1e-9) {
                levels.push(s.level);
            }
        }
    }
    levels.sort_by(f64::total_cmp);
    (kinds, levels)
}

fn pct(level: f64) -> String {
    format!("{}%", crate::figures::fmt_num(100.0 * level))
}

/// `None` when no run of the subset was calibrated.
pub fn intervals_section(
    subset: &str,
    runs: &[RunData],
    table: &ResultsTable,
    mcolor: &dyn Fn(&str) -> RGBColor,
) -> Option<Draft> {
    let methods = rows_of(subset, runs, table);
    if methods.is_empty() {
        return None;
    }
    let (kinds, levels) = kinds_and_levels(&methods);
    let d = Draft::new(format!("{subset}: prediction intervals")).block(Block::P(
        "Test-set coverage (share of engines inside their interval, truth capped at max_rul) and mean width of the split-conformal intervals, mean ± sample std over the calibrated seeds of each method (docs/intervals.md). The lower bound is one-sided: it has a coverage but no width.".into(),
    ));
    Some(
        d.block(coverage_table(&methods, &kinds, &levels))
            .figure(calibration_figure(subset, &methods, &levels, mcolor)),
    )
}

fn coverage_table(methods: &[MethodRuns], kinds: &[IntervalKind], levels: &[f64]) -> Block {
    let mut headers: Vec<String> = ["method", "level", "calibrated runs"].map(String::from).to_vec();
    for &k in kinds {
        headers.push(format!("{} coverage", kind_name(k)));
        if k != IntervalKind::LowerBound {
            headers.push(format!("{} width (cycles)", kind_name(k)));
        }
    }
    let mut rows = Vec::new();
    for m in methods {
        for &level in levels {
            let mut row = vec![m.method.clone(), pct(level), m.results.len().to_string()];
            for &k in kinds {
                row.push(m.stat(k, level, |s| Some(s.coverage)).fmt(3));
                if k != IntervalKind::LowerBound {
                    row.push(m.stat(k, level, |s| s.mean_width).fmt(1));
                }
            }
            rows.push(row);
        }
    }
    Block::Table { headers, rows }
}

/// Mean coverage of each method's symmetric interval (solid) and lower bound (dashed) per level.
fn calibration_figure(
    subset: &str,
    methods: &[MethodRuns],
    levels: &[f64],
    mcolor: &dyn Fn(&str) -> RGBColor,
) -> Figure {
    let lo = levels.first().map_or(0.5, |l| (l - 0.1).max(0.0));
    let mut series = vec![Series::new(
        Some("nominal = empirical".into()),
        RGBColor(127, 127, 127),
        Mark::Dashed,
        vec![(lo, lo), (1.0, 1.0)],
    )];
    for m in methods {
        let c = mcolor(&m.method);
        let mean = |kind| levels.iter().map(|&l| (l, m.stat(kind, l, |s| Some(s.coverage)).mean)).collect::<Vec<_>>();
        series.push(Series::new(Some(format!("{} symmetric", m.method)), c, Mark::Line, mean(IntervalKind::Symmetric)));
        series.push(Series::new(
            Some(format!("{} lower bound", m.method)),
            c,
            Mark::Dashed,
            mean(IntervalKind::LowerBound),
        ));
    }
    let plot = Panels {
        title: format!("{subset}: interval calibration on the test set, mean over seeds"),
        panels: vec![Panel {
            title: "share of test engines inside their interval (capped truth)".into(),
            x_label: "nominal coverage level".into(),
            y_label: "empirical coverage".into(),
            series,
            ..Default::default()
        }],
    };
    Figure::new(
        Plotted::Panels(plot),
        format!("intervals_{}", subset.to_ascii_lowercase()),
        (1000, 600),
        "Interval calibration",
        "Solid: the symmetric interval, dashed: the one-sided lower bound, one colour per method; each point is the mean test coverage over the method's calibrated seeds. Below the grey diagonal: under-coverage.",
    )
}

#[cfg(test)]
mod tests {
    use super::super::table_of;
    use super::*;
    use crate::report::sections::fixtures::{intervals, run};
    use std::path::Path;
    use IntervalKind::{LowerBound, Symmetric};

    /// Two calibrated grace seeds on FD001, an uncalibrated baseline and an uncalibrated synthetic run.
    fn sweep() -> Vec<RunData> {
        let mut runs = vec![
            run("FD001_grace_seed0", "grace", false),
            run("FD001_grace_seed1", "grace", false),
            run("FD001_baseline_seed0", "baseline", false),
            run("SYNTHETIC_grace_seed0", "grace", true),
        ];
        runs[0].results.as_mut().unwrap().intervals = Some(intervals(&[
            (Symmetric, &[(0.8, 0.7, Some(30.0)), (0.9, 0.9, Some(40.0))]),
            (LowerBound, &[(0.9, 0.95, None)]),
        ]));
        runs[1].results.as_mut().unwrap().intervals =
            Some(intervals(&[(Symmetric, &[(0.9, 0.8, Some(50.0))]), (LowerBound, &[(0.9, 0.85, None)])]));
        runs
    }

    #[test]
    fn a_subset_with_calibrated_runs_tabulates_coverage_and_width_per_method_and_level() {
        let runs = sweep();
        let table = table_of(Path::new("/nowhere"), None, &runs);
        let grey = |_: &str| RGBColor(0, 0, 0);
        assert!(intervals_section("SYNTHETIC", &runs, &table, &grey).is_none());
        let d = intervals_section("FD001", &runs, &table, &grey).unwrap();
        let text = d.text();
        assert!(text.contains("method | level | calibrated runs | symmetric coverage | symmetric width (cycles) | lower bound coverage\n"), "{text}");
        assert!(text.contains("grace | 80% | 2 | 0.700 | 30.0 | –\n"), "{text}");
        assert!(text.contains("grace | 90% | 2 | 0.850 ± 0.071 | 45.0 ± 7.1 | 0.900 ± 0.071"), "{text}");
        assert!(!text.contains("baseline |"), "the uncalibrated baseline has no row: {text}");
        let Plotted::Panels(p) = &d.figures().next().unwrap().plot else { panic!("no calibration plot") };
        let s = &p.panels[0].series;
        assert_eq!(s[1].label.as_deref(), Some("grace symmetric"));
        assert_eq!(s[1].points[0], (0.8, 0.7));
        assert!(s[1].points[1].0 == 0.9 && (s[1].points[1].1 - 0.85).abs() < 1e-12);
        assert!(s[2].points[0].1.is_nan() && (s[2].points[1].1 - 0.9).abs() < 1e-12);
    }

    #[test]
    fn a_sweep_page_with_calibrated_runs_renders() {
        let (sweep_dir, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for r in sweep() {
            let dir = sweep_dir.path().join("runs").join(&r.name);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("results.json"), serde_json::to_string(r.results.as_ref().unwrap()).unwrap())
                .unwrap();
        }
        let summary = crate::report::report(sweep_dir.path(), out.path(), Default::default()).unwrap();
        let checked = crate::html::check_page(&summary.index).unwrap();
        assert!(checked.iter().any(|p| p.ends_with("figures/intervals_fd001.png")), "{checked:?}");
        assert!(!checked.iter().any(|p| p.ends_with("figures/intervals_synthetic.png")), "{checked:?}");
        let page = std::fs::read_to_string(&summary.index).unwrap();
        assert!(page.contains("90% interval coverage") && page.contains("FD001: prediction intervals"));
        let run_page = out.path().join("runs/FD001_grace_seed0/index.html");
        crate::html::check_page(&run_page).unwrap();
        assert!(std::fs::read_to_string(run_page).unwrap().contains("no per-engine bounds"));
    }
}
