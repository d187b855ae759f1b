//! The prediction-interval section of a run page: each test engine's bounds recomputed from
//! predictions.csv and the quantiles in calibration.json, calibration, width and band coverage.

use crate::figures::{color, Band, Mark, Panel, Panels, Series};
use crate::html::Block;
use crate::report::sections::{Draft, Figure, Plotted};
use crate::rundir::{Columns, RunData};
use crate::table::{same_kind, scores_at, TABLE_LEVEL};
use anyhow::Context;
use grace_core::conformal::{normalised_scales, Calibration, DifficultyScale, Interval, IntervalKind};
use grace_core::results::{IntervalsSummary, KindIntervals};
use plotters::style::{RGBColor, BLACK};
use serde::Deserialize;
use std::path::Path;

/// Written next to results.json by a calibrated run (docs/intervals.md, "The files").
pub const CALIBRATION_FILE: &str = "calibration.json";

/// The parts of `calibration.json` a report needs; the cuts and other fields are not read.
#[derive(Debug, Clone, Deserialize)]
pub struct CalibrationFile {
    /// R_max: the truth the quantiles were fitted on was capped at it.
    pub max_rul: f64,
    pub calibrations: Vec<Calibration>,
    /// σ̂(ŷ), the normalised kind's scale when present (a run's, or an ensemble's mean of its members').
    #[serde(default)]
    pub difficulty: Option<DifficultyScale>,
}

impl CalibrationFile {
    /// `None` when the run has no calibration.json (calibration off, or an older run).
    pub fn load(dir: &Path) -> anyhow::Result<Option<CalibrationFile>> {
        let path = dir.join(CALIBRATION_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).map(Some).with_context(|| format!("{}: not a calibration record", path.display()))
    }
}

/// The test engines by increasing true RUL, each with its bounds of every stored kind at one level.
#[derive(Debug, Clone)]
pub struct EngineBounds {
    pub level: f64,
    pub max_rul: f64,
    /// (true RUL, true RUL capped, prediction) per engine.
    pub engines: Vec<(f64, f64, f64)>,
    /// Per kind, one interval per engine (same order as `engines`).
    pub kinds: Vec<(IntervalKind, Vec<Interval>)>,
}

impl EngineBounds {
    /// The intervals of `kind`, if it was stored (and could be applied).
    pub fn of_kind(&self, kind: IntervalKind) -> Option<&[Interval]> {
        self.kinds.iter().find(|(k, _)| same_kind(*k, kind)).map(|(_, iv)| iv.as_slice())
    }
}

/// 90% when stored, else the stored level nearest to it (the figures name the level they show).
pub fn figure_level(cal: &CalibrationFile) -> Option<f64> {
    let levels = cal.calibrations.iter().flat_map(|c| c.levels.iter().map(|l| l.level));
    levels.min_by(|a, b| (a - TABLE_LEVEL).abs().total_cmp(&(b - TABLE_LEVEL).abs()))
}

/// Applies each stored calibration to the predictions of predictions.csv. The normalised kind is
/// scaled as it was fitted: by the stored difficulty estimate, else by the per-engine `spread` column
/// (ensembles of older runs); with neither that kind is left out.
pub fn engine_bounds(cal: &CalibrationFile, p: &Columns) -> anyhow::Result<Option<EngineBounds>> {
    let Some(level) = figure_level(cal) else { return Ok(None) };
    let (truth, capped, pred) = (p.col("truth"), p.col("truth_capped"), p.col("prediction"));
    let mut order: Vec<usize> = (0..p.rows).collect();
    order.sort_by(|&a, &b| truth[a].total_cmp(&truth[b]));
    let spread_col = p.col("spread");
    let spread: Vec<f64> = order.iter().map(|&i| spread_col[i]).collect();
    let sorted_pred: Vec<f64> = order.iter().map(|&i| pred[i]).collect();
    let normalised = normalised_scales(cal.difficulty.as_ref(), &sorted_pred, p.has("spread").then_some(&spread[..]))?;
    let mut kinds = Vec::new();
    for c in &cal.calibrations {
        let scales = match (c.kind, &normalised) {
            (IntervalKind::Normalised { .. }, Some(s)) => Some(s.as_slice()),
            (IntervalKind::Normalised { .. }, None) => continue,
            _ => None,
        };
        let levels =
            c.apply(&sorted_pred, scales).with_context(|| format!("applying the {} quantiles", kind_name(c.kind)))?;
        if let Some(l) = levels.into_iter().find(|l| (l.level - level).abs() < 1e-9) {
            kinds.push((c.kind, l.intervals));
        }
    }
    let engines = order.iter().map(|&i| (truth[i], capped[i], pred[i])).collect();
    Ok(Some(EngineBounds { level, max_rul: cal.max_rul, engines, kinds }))
}

pub fn kind_name(kind: IntervalKind) -> &'static str {
    match kind {
        IntervalKind::Symmetric => "symmetric",
        IntervalKind::LowerBound => "lower bound",
        IntervalKind::Asymmetric => "asymmetric",
        IntervalKind::Normalised { .. } => "normalised",
    }
}

fn kind_color(kind: IntervalKind) -> RGBColor {
    color(match kind {
        IntervalKind::Symmetric => 0,
        IntervalKind::LowerBound => 3,
        IntervalKind::Asymmetric => 2,
        IntervalKind::Normalised { .. } => 4,
    })
}

/// Earlier kinds get larger points, so a kind that coincides with a later one still shows around it.
fn overlap_width(i: usize, n: usize) -> u32 {
    2 + 2 * n.saturating_sub(i + 1) as u32
}

fn pct(level: f64) -> String {
    format!("{}%", crate::figures::fmt_num(100.0 * level))
}

/// The section, present only when results.json has an `intervals` section.
pub fn intervals_section(run: &RunData) -> Option<Draft> {
    let summary = run.results.as_ref()?.intervals.as_ref()?;
    let mut d = Draft::new("Prediction intervals (test set)").block(Block::P(format!(
        "Intervals calibrated ({}) on {} held-out calibration engines ({} test-like cuts, {} per engine), never on test data; coverage is against the true RUL capped at R_max (docs/intervals.md).",
        summary.scheme.describe(), summary.calibration_engines, summary.calibration_cuts, summary.cuts_per_engine
    )));
    d = d.block(band_table(summary)).figure(calibration_figure(run, summary));
    Some(match bounds_of(run) {
        Ok(Some(b)) => {
            if let Some(w) = reproduction_warning(summary, &b) {
                d = d.block(Block::Warn(w));
            }
            d.figure(bands_figure(run, &b)).figure(width_figure(run, &b))
        }
        Ok(None) => d.block(Block::P(format!(
            "No {CALIBRATION_FILE} or predictions.csv in the run directory: no per-engine bounds."
        ))),
        Err(e) => d.block(Block::Warn(format!("Per-engine bounds not drawn: {e:#}."))),
    })
}

fn bounds_of(run: &RunData) -> anyhow::Result<Option<EngineBounds>> {
    let (Some(cal), Some(p)) = (CalibrationFile::load(&run.dir)?, &run.predictions) else { return Ok(None) };
    engine_bounds(&cal, p)
}

/// A warning when the recomputed bounds do not give the coverage results.json reports: the
/// files of the run directory disagree (edited, or from different evaluations).
fn reproduction_warning(summary: &IntervalsSummary, b: &EngineBounds) -> Option<String> {
    let bad: Vec<String> = b
        .kinds
        .iter()
        .filter_map(|(kind, iv)| {
            let reported = scores_at(summary, *kind, b.level)?.coverage;
            let inside = iv.iter().zip(&b.engines).filter(|(i, e)| i.contains(e.1)).count();
            let recomputed = inside as f64 / iv.len().max(1) as f64;
            ((recomputed - reported).abs() > 1e-9)
                .then(|| format!("{} {recomputed:.3} vs {reported:.3}", kind_name(*kind)))
        })
        .collect();
    (!bad.is_empty()).then(|| {
        format!(
            "The bounds recomputed from {CALIBRATION_FILE} and predictions.csv do not reproduce the {} coverage of results.json ({}): these files come from different evaluations.",
            pct(b.level),
            bad.join("; ")
        )
    })
}

fn cell(v: Option<f64>, d: usize) -> String {
    v.filter(|v| v.is_finite()).map_or_else(|| "–".into(), |v| format!("{v:.d$}"))
}

/// Coverage, width and mean lower bound of every kind and level, and coverage per true-RUL band.
fn band_table(summary: &IntervalsSummary) -> Block {
    let bands: Vec<String> = summary
        .kinds
        .iter()
        .flat_map(|k| k.report.capped.iter())
        .next()
        .map(|s| s.bands.iter().map(|b| format!("coverage, true RUL {}", b.band.label)).collect())
        .unwrap_or_default();
    let mut headers: Vec<String> =
        ["kind", "level", "coverage", "mean width (cycles)", "mean lower bound (cycles)"].map(String::from).to_vec();
    headers.extend(bands);
    let rows = summary
        .kinds
        .iter()
        .flat_map(|k: &KindIntervals| k.report.capped.iter().map(move |s| (k.kind, s)))
        .map(|(kind, s)| {
            let mut row = vec![
                kind_name(kind).to_string(),
                pct(s.level),
                cell(Some(s.coverage), 3),
                cell(s.mean_width, 1),
                cell(Some(s.mean_lower), 1),
            ];
            row.extend(s.bands.iter().map(|b| format!("{} (n={})", cell(b.coverage, 3), b.engines)));
            row
        })
        .collect();
    Block::Table { headers, rows }
}

/// Nominal level against empirical test coverage (capped truth), one line per kind, with the diagonal.
fn calibration_figure(run: &RunData, summary: &IntervalsSummary) -> Figure {
    let mut series = Vec::new();
    let mut lo: f64 = 1.0;
    for k in &summary.kinds {
        let pts: Vec<(f64, f64)> = k.report.capped.iter().map(|s| (s.level, s.coverage)).collect();
        lo = pts.iter().fold(lo, |m, p| m.min(p.0).min(p.1));
        let c = kind_color(k.kind);
        let mut points = Series::new(Some(kind_name(k.kind).into()), c, Mark::Points, pts.clone());
        points.width = overlap_width(series.len() / 2, summary.kinds.len());
        series.push(points);
        series.push(Series::new(None, c, Mark::Line, pts));
    }
    let lo = (lo - 0.05).max(0.0);
    series.insert(
        0,
        Series::new(
            Some("nominal = empirical".into()),
            RGBColor(127, 127, 127),
            Mark::Dashed,
            vec![(lo, lo), (1.0, 1.0)],
        ),
    );
    let plot = Panels {
        title: format!("Calibration of the intervals on the test set: {}", run.name),
        panels: vec![Panel {
            title: "share of test engines inside their interval".into(),
            x_label: "nominal coverage level".into(),
            y_label: "empirical coverage (capped truth)".into(),
            series,
            ..Default::default()
        }],
    };
    Figure::new(
        Plotted::Panels(plot),
        "interval_calibration",
        (900, 600),
        "Interval calibration",
        "Each stored level of each kind: the nominal coverage against the share of test engines whose capped true RUL lies inside their interval (for the lower bound: at or above it). Points below the dashed diagonal under-cover.",
    )
}

/// Predicted against true RUL by engine rank, the symmetric interval as a band, the lower bound as a line.
fn bands_figure(run: &RunData, b: &EngineBounds) -> Figure {
    let rank = |i: usize| (i + 1) as f64;
    let xs = |f: fn(&(f64, f64, f64)) -> f64| b.engines.iter().enumerate().map(|(i, e)| (rank(i), f(e))).collect();
    let (lv, mut series, mut bands) = (pct(b.level), Vec::new(), Vec::new());
    if let Some(iv) = b.of_kind(IntervalKind::Symmetric) {
        let points = iv.iter().enumerate().filter_map(|(i, v)| Some((rank(i), v.lower, v.upper?))).collect();
        bands.push(Band {
            label: Some(format!("{lv} symmetric interval")),
            color: kind_color(IntervalKind::Symmetric),
            points,
        });
    }
    series.push(Series::new(Some("true RUL".into()), BLACK, Mark::Line, xs(|e| e.0)));
    series.push(Series::new(
        Some(format!("true RUL capped at {}", b.max_rul)),
        RGBColor(127, 127, 127),
        Mark::Dashed,
        xs(|e| e.1),
    ));
    series.push(Series::new(Some("predicted RUL".into()), color(0), Mark::Points, xs(|e| e.2)));
    if let Some(iv) = b.of_kind(IntervalKind::LowerBound) {
        let pts = iv.iter().enumerate().map(|(i, v)| (rank(i), v.lower)).collect();
        series.push(Series::new(
            Some(format!("{lv} lower bound")),
            kind_color(IntervalKind::LowerBound),
            Mark::Line,
            pts,
        ));
    }
    let plot = Panels {
        title: format!(
            "Predicted RUL with {lv} intervals, {} test engines sorted by true RUL: {}",
            b.engines.len(),
            run.name
        ),
        panels: vec![Panel {
            title: "last window of each test engine".into(),
            x_label: "test engine, ranked by true RUL".into(),
            x_integer: true,
            y_label: "RUL (cycles)".into(),
            series,
            bands,
            ..Default::default()
        }],
    };
    Figure::new(
        Plotted::Panels(plot),
        "interval_bands",
        (1200, 560),
        "Predicted vs true RUL with intervals",
        &format!("Shaded: the {lv} symmetric interval of each engine; red line: the one-sided {lv} lower bound (RUL at least this with {lv} probability). Bounds recomputed from predictions.csv and the quantiles in {CALIBRATION_FILE}; an engine whose interval is unbounded above has no band."),
    )
}

/// Width of each two-sided kind's interval against the engine's true RUL.
fn width_figure(run: &RunData, b: &EngineBounds) -> Figure {
    let series = b
        .kinds
        .iter()
        .enumerate()
        .map(|(i, (kind, iv))| {
            let pts = iv.iter().zip(&b.engines).filter_map(|(v, e)| Some((e.0, v.width()?))).collect();
            let mut s = Series::new(Some(kind_name(*kind).into()), kind_color(*kind), Mark::Points, pts);
            s.width = overlap_width(i, b.kinds.len());
            s
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    let plot = Panels {
        title: format!("Width of the {} intervals against true RUL: {}", pct(b.level), run.name),
        panels: vec![Panel {
            title: "one point per test engine and kind".into(),
            x_label: "true RUL (cycles)".into(),
            y_label: "interval width (cycles)".into(),
            series,
            ..Default::default()
        }],
    };
    Figure::new(
        Plotted::Panels(plot),
        "interval_width",
        (1000, 520),
        "Interval width against true RUL",
        "Upper minus lower bound of each two-sided kind (the lower bound has no width). Constant-width kinds narrow only where the lower bound is clipped at 0.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sections::fixtures::results;
    use crate::report::{write_run_page, Options};
    use grace_core::conformal::{default_bands, IntervalReport, LevelBounds, Quantile};

    fn q(value: f64) -> Option<Quantile> {
        Some(Quantile::Finite { value, rank: 18, n: 19 })
    }

    /// Symmetric ŷ ± 12 at 80% and ± 20 at 90%; lower bound ŷ − 15 at 90%.
    fn calibrations() -> Vec<Calibration> {
        let level = |level, below, above| LevelBounds { level, below, above };
        vec![
            Calibration {
                kind: IntervalKind::Symmetric,
                n: 19,
                levels: vec![level(0.8, q(12.0), q(12.0)), level(0.9, q(20.0), q(20.0))],
            },
            Calibration { kind: IntervalKind::LowerBound, n: 19, levels: vec![level(0.9, q(15.0), None)] },
        ]
    }

    const TRUTH: [f64; 4] = [150.0, 20.0, 100.0, 60.0];
    const PRED: [f64; 4] = [110.0, 30.0, 130.0, 55.0];

    /// A run directory as a calibrated `grace train` leaves it, its results scored from the same files.
    fn calibrated_run(dir: &Path) -> RunData {
        let mut csv = String::from("engine,truth,truth_capped,prediction\n");
        for (i, (t, p)) in TRUTH.iter().zip(PRED).enumerate() {
            csv.push_str(&format!("{},{t},{},{p}\n", i + 1, t.min(125.0)));
        }
        std::fs::write(dir.join("predictions.csv"), csv).unwrap();
        let record = serde_json::json!({"seed": 0, "cuts_per_engine": 10, "max_rul": 125.0, "units": [4, 8],
            "cuts": [], "calibrations": calibrations()});
        std::fs::write(dir.join(CALIBRATION_FILE), record.to_string()).unwrap();
        let kinds = calibrations()
            .iter()
            .map(|c| {
                let levels = c.apply(&PRED, None).unwrap();
                KindIntervals {
                    kind: c.kind,
                    report: IntervalReport::of(&levels, &TRUTH, 125.0, &default_bands()).unwrap(),
                }
            })
            .collect();
        let mut r = results("grace", false, 14.0);
        r.intervals = Some(IntervalsSummary {
            calibration_engines: 2,
            calibration_cuts: 20,
            cuts_per_engine: 10,
            kinds,
            ..Default::default()
        });
        std::fs::write(dir.join("results.json"), serde_json::to_string(&r).unwrap()).unwrap();
        RunData::load(dir).unwrap()
    }

    fn panel(f: &Figure) -> &Panel {
        let Plotted::Panels(p) = &f.plot else { panic!("{} is not panels", f.name) };
        &p.panels[0]
    }

    #[test]
    fn bounds_are_recomputed_per_engine_by_true_rul_and_match_the_reported_coverage() {
        let dir = tempfile::tempdir().unwrap();
        let d = intervals_section(&calibrated_run(dir.path())).expect("a calibrated run has the section");
        let names: Vec<&str> = d.figures().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["interval_calibration", "interval_bands", "interval_width"]);
        let text = d.text();
        assert!(!text.contains("do not reproduce"), "{text}");
        // capped truth 125, 20, 100, 60 in [ŷ − 20, ŷ + 20]: all but the engine predicted 130
        assert!(text.contains("symmetric | 90% | 0.750 | 40.0 |"), "{text}");
        assert!(text.contains("| 1.000 (n=1) | 1.000 (n=1) | 0.500 (n=2)"), "{text}");
        assert!(text.contains("lower bound | 90% | 0.750 | – |"), "{text}");
        let figs: Vec<&Figure> = d.figures().collect();
        let bands = panel(figs[1]);
        // engines by true RUL 20, 60, 100, 150: predictions 30, 55, 130, 110
        assert_eq!(
            bands.bands[0].points,
            [(1.0, 10.0, 50.0), (2.0, 35.0, 75.0), (3.0, 110.0, 150.0), (4.0, 90.0, 130.0)]
        );
        let lower = bands.series.last().unwrap();
        assert_eq!(lower.label.as_deref(), Some("90% lower bound"));
        assert_eq!(lower.points, [(1.0, 15.0), (2.0, 40.0), (3.0, 115.0), (4.0, 95.0)]);
        let calib = panel(figs[0]);
        let sym = calib.series.iter().find(|s| s.label.as_deref() == Some("symmetric")).unwrap();
        // at 80%, ŷ ± 12 holds 20 (in 18..42) and 60 (in 43..67), not 125 (98..122) nor 100 (118..142)
        assert_eq!(sym.points, [(0.8, 0.5), (0.9, 0.75)]);
        let width = panel(figs[2]);
        assert_eq!(width.series.len(), 1, "the lower bound has no width");
        assert_eq!(width.series[0].points, [(20.0, 40.0), (60.0, 40.0), (100.0, 40.0), (150.0, 40.0)]);
    }

    #[test]
    fn files_that_disagree_with_results_are_called_out_and_uncalibrated_runs_have_no_section() {
        let dir = tempfile::tempdir().unwrap();
        let mut run = calibrated_run(dir.path());
        let iv = run.results.as_mut().unwrap().intervals.as_mut().unwrap();
        iv.kinds[0].report.capped[1].coverage = 1.0;
        let text = intervals_section(&run).unwrap().text();
        assert!(
            text.contains("do not reproduce the 90% coverage of results.json (symmetric 0.750 vs 1.000)"),
            "{text}"
        );
        std::fs::remove_file(dir.path().join(CALIBRATION_FILE)).unwrap();
        let d = intervals_section(&run).unwrap();
        assert_eq!(d.figures().count(), 1, "the calibration plot needs results.json only");
        assert!(d.text().contains("no per-engine bounds"));
        run.results.as_mut().unwrap().intervals = None;
        assert!(intervals_section(&run).is_none());
    }

    #[test]
    fn the_normalised_kind_is_scaled_by_the_stored_difficulty_before_the_spread_column() {
        use std::collections::HashMap;
        let normalised = IntervalKind::normalised();
        let at_09 = LevelBounds { level: 0.9, below: q(2.0), above: q(2.0) };
        let d = |knots: serde_json::Value| {
            serde_json::json!({"max_rul": 125.0, "calibrations": [Calibration { kind: normalised, n: 19,
                levels: vec![at_09] }], "difficulty": {"knots": knots, "floor": 1.0, "n": 40}})
        };
        // σ̂ = 3 up to ŷ = 40, rising to 5 at ŷ = 80: engine ŷ 30 gets ± 6, ŷ 60 gets ± 8
        let cal: CalibrationFile = serde_json::from_value(d(serde_json::json!([
            {"prediction": 40.0, "scale": 3.0}, {"prediction": 80.0, "scale": 5.0}
        ])))
        .unwrap();
        let col = |v: [f64; 2]| v.to_vec();
        let names = ["truth", "truth_capped", "prediction", "spread"].map(String::from).to_vec();
        let data: HashMap<String, Vec<f64>> = names
            .iter()
            .cloned()
            .zip([col([20.0, 70.0]), col([20.0, 70.0]), col([30.0, 60.0]), col([50.0, 50.0])])
            .collect();
        let p = Columns { names, data, rows: 2 };
        let b = engine_bounds(&cal, &p).unwrap().unwrap();
        let iv = b.of_kind(normalised).unwrap();
        assert_eq!((iv[0].lower, iv[0].upper, iv[1].lower, iv[1].upper), (24.0, Some(36.0), 52.0, Some(68.0)));
        // without a stored difficulty (ensembles of older runs) the spread column scales it: ± 100
        let old = CalibrationFile { difficulty: None, ..cal };
        let iv = engine_bounds(&old, &p).unwrap().unwrap().of_kind(normalised).unwrap().to_vec();
        assert_eq!((iv[0].lower, iv[0].upper), (0.0, Some(130.0)));
    }

    #[test]
    fn the_run_page_renders_the_interval_figures() {
        let (dir, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut files = Vec::new();
        let page =
            write_run_page(&calibrated_run(dir.path()), out.path(), None, Options::default(), &mut files).unwrap();
        let checked = crate::html::check_page(&page).unwrap();
        for name in ["interval_calibration", "interval_bands", "interval_width"] {
            assert!(checked.iter().any(|p| p.ends_with(format!("figures/{name}.png"))), "{name}: {checked:?}");
        }
        assert!(std::fs::read_to_string(&page).unwrap().contains("Prediction intervals (test set)"));
    }
}
