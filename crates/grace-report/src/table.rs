//! The sweep results table: per subset × method, mean ± sample std over seeds of the test scores,
//! next to the numbers reported elsewhere (docs/reference.md §8), as Markdown, CSV and JSON.

use crate::plan::SYNTHETIC;
use crate::rundir::RunResults;
use grace_core::conformal::{IntervalKind, IntervalScores};
use grace_core::metrics::mean_std;
use grace_core::results::IntervalsSummary;
use serde::Serialize;

/// Mean ± sample standard deviation over the runs that measured the value (NaN std for n < 2).
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Stat {
    pub mean: f64,
    pub std: f64,
    pub n: usize,
}

impl Stat {
    pub fn of(xs: &[f64]) -> Stat {
        let v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
        let (mean, std) = mean_std(&v);
        Stat { mean, std, n: v.len() }
    }

    /// "10.08 ± 1.71", "10.08" when one seed, "–" when none.
    pub fn fmt(&self, decimals: usize) -> String {
        if !self.mean.is_finite() {
            "–".into()
        } else if self.std.is_finite() {
            format!("{:.d$} ± {:.d$}", self.mean, self.std, d = decimals)
        } else {
            format!("{:.d$}", self.mean, d = decimals)
        }
    }
}

/// A number reported for this method family elsewhere, under a protocol that is not ours.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct RefValue {
    pub mean: f64,
    pub std: Option<f64>,
}

impl RefValue {
    pub fn fmt(&self, decimals: usize) -> String {
        match self.std {
            Some(s) => format!("{:.d$} ± {:.d$}", self.mean, s, d = decimals),
            None => format!("{:.d$}", self.mean, d = decimals),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Reference {
    pub rmse: Option<RefValue>,
    pub nasa: Option<RefValue>,
}

const fn r(mean: f64, std: f64) -> Option<RefValue> {
    Some(RefValue { mean, std: Some(std) })
}
const fn r1(mean: f64) -> Option<RefValue> {
    Some(RefValue { mean, std: None })
}

/// docs/reference.md §8 (5 seeds, last-window protocol unless noted; protocol not fully documented).
const REFERENCE: &[(&str, &str, Option<RefValue>, Option<RefValue>)] = &[
    ("FD001", "baseline", r(10.08, 1.71), r(143.2, 48.4)),
    ("FD002", "baseline", None, r1(224.5)),
    ("FD001", "amnl", r(10.43, 1.94), r(434.4, 239.8)),
    ("FD002", "amnl", r(6.74, 0.91), None),
    ("FD001", "gaba", r(9.63, 1.90), r(130.4, 41.8)),
    ("FD002", "gaba", r(7.53, 0.65), r(224.2, 22.4)),
    ("FD001", "grace", r(9.14, 1.39), r(121.4, 36.8)),
    ("FD002", "grace", r1(7.72), r1(223.4)),
    ("FD001", "uncertainty", r(9.15, 0.42), r(115.4, 4.7)),
    ("FD002", "uncertainty", None, r1(224.4)),
    ("FD001", "gradnorm", r(9.38, 1.53), r(127.6, 44.3)),
    ("FD002", "gradnorm", r(8.19, 0.78), r(260.9, 36.1)),
    ("FD001", "dwa", r(10.58, 1.66), r(146.1, 40.3)),
    ("FD002", "dwa", None, r1(234.4)),
    ("FD003", "baseline", r1(11.53), None),
    ("FD003", "grace", r1(13.12), None),
    ("FD004", "amnl", r(8.16, 2.17), None),
];

/// Best peer-reviewed single-model results (RMSE, NASA), docs/reference.md §8.
pub const BEST_PEER_REVIEWED: &[(&str, f64, f64)] =
    &[("FD001", 10.97, 175.0), ("FD002", 12.55, 772.0), ("FD003", 10.90, 188.0), ("FD004", 14.08, 1149.0)];

pub const REFERENCE_NOTE: &str = "Reported elsewhere for this method family under a different protocol that is not fully documented (docs/reference.md §8); these are claims, not results of this code, and are not comparable run for run.";

pub fn reference(subset: &str, method: &str) -> Option<Reference> {
    REFERENCE.iter().find(|(s, m, ..)| *s == subset && *m == method).map(|&(_, _, rmse, nasa)| Reference { rmse, nasa })
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub subset: String,
    pub method: String,
    pub n: usize,
    pub seeds: Vec<u64>,
    pub runs: Vec<String>,
    /// Test RMSE and NASA with truth capped at max_rul (what the model is trained to predict).
    pub rmse: Stat,
    pub nasa: Stat,
    pub mae: Stat,
    pub rmse_uncapped: Stat,
    pub nasa_uncapped: Stat,
    pub health_accuracy: Stat,
    pub health_macro_f1: Stat,
    pub epochs: Stat,
    pub best_epoch: Stat,
    pub train_seconds: Stat,
    pub reference: Option<Reference>,
    /// Absent when no run of the row was calibrated (`data.prep.calibration` = 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intervals: Option<IntervalColumns>,
}

/// The nominal level the table reports: the 90% target (docs/intervals.md).
pub const TABLE_LEVEL: f64 = 0.9;

/// Interval figures of a row at [`TABLE_LEVEL`] against capped truth, over the seeds that have them.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct IntervalColumns {
    /// Runs of the row with an `intervals` section.
    pub calibrated_runs: usize,
    /// PICP of the symmetric interval.
    pub coverage: Stat,
    /// MPIW of the symmetric interval (cycles).
    pub width: Stat,
    /// Share of engines with true RUL at or above the one-sided lower bound.
    pub lower_bound_coverage: Stat,
}

/// The capped-truth scores of `kind` at `level` in a run's results, if it was calibrated at that level.
pub fn interval_scores(r: &RunResults, kind: IntervalKind, level: f64) -> Option<&IntervalScores> {
    scores_at(r.intervals.as_ref()?, kind, level)
}

/// The capped-truth scores of `kind` at `level` in an `intervals` section, if it holds them.
pub fn scores_at(summary: &IntervalsSummary, kind: IntervalKind, level: f64) -> Option<&IntervalScores> {
    let k = summary.kinds.iter().find(|k| same_kind(k.kind, kind))?;
    k.report.capped.iter().find(|s| (s.level - level).abs() < 1e-9)
}

/// Kinds compare by name: the normalised kind's floor is a parameter, not another kind.
pub fn same_kind(a: IntervalKind, b: IntervalKind) -> bool {
    std::mem::discriminant(&a) == std::mem::discriminant(&b)
}

impl IntervalColumns {
    /// `None` when no run of the group was calibrated; a run without the level adds no value.
    fn of(group: &[&RunResults]) -> Option<IntervalColumns> {
        let calibrated_runs = group.iter().filter(|r| r.intervals.is_some()).count();
        if calibrated_runs == 0 {
            return None;
        }
        let stat = |kind: IntervalKind, f: fn(&IntervalScores) -> Option<f64>| {
            let xs: Vec<f64> =
                group.iter().map(|r| interval_scores(r, kind, TABLE_LEVEL).and_then(f).unwrap_or(f64::NAN)).collect();
            Stat::of(&xs)
        };
        Some(IntervalColumns {
            calibrated_runs,
            coverage: stat(IntervalKind::Symmetric, |s| Some(s.coverage)),
            width: stat(IntervalKind::Symmetric, |s| s.mean_width),
            lower_bound_coverage: stat(IntervalKind::LowerBound, |s| Some(s.coverage)),
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ResultsTable {
    pub rows: Vec<Row>,
    /// Planned runs without results.json (not started, interrupted or failed).
    pub missing: Vec<String>,
    pub synthetic: bool,
    pub data: Vec<String>,
    pub protocol: String,
    pub reference_note: &'static str,
}

/// Groups finished runs by (subset label, method). Rows follow `subset_order` and `method_order`
/// (the sweep's flags); anything not listed there follows in first-seen order.
pub fn build(
    runs: &[(String, RunResults)],
    subset_order: &[String],
    method_order: &[String],
    missing: Vec<String>,
    data: Vec<String>,
) -> ResultsTable {
    let mut keys: Vec<(String, String)> = Vec::new();
    for (_, r) in runs {
        let k = (r.label(), r.method.clone());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let pos = |list: &[String], x: &str| list.iter().position(|v| v == x).unwrap_or(usize::MAX);
    let first_seen: Vec<(String, String)> = keys.clone();
    keys.sort_by_key(|(s, m)| {
        (pos(subset_order, s), pos(method_order, m), first_seen.iter().position(|k| k.0 == *s && k.1 == *m))
    });
    let rows = keys
        .into_iter()
        .map(|(subset, method)| {
            let mut group: Vec<&(String, RunResults)> =
                runs.iter().filter(|(_, r)| r.label() == subset && r.method == method).collect();
            group.sort_by_key(|(_, r)| r.seed);
            let stat = |f: &dyn Fn(&RunResults) -> f64| Stat::of(&group.iter().map(|(_, r)| f(r)).collect::<Vec<_>>());
            Row {
                n: group.len(),
                seeds: group.iter().map(|(_, r)| r.seed).collect(),
                runs: group.iter().map(|(n, _)| n.clone()).collect(),
                rmse: stat(&|r| r.test.capped.rmse),
                nasa: stat(&|r| r.test.capped.nasa),
                mae: stat(&|r| r.test.capped.mae),
                rmse_uncapped: stat(&|r| r.test.uncapped.rmse),
                nasa_uncapped: stat(&|r| r.test.uncapped.nasa),
                health_accuracy: stat(&|r| r.test.health_accuracy),
                health_macro_f1: stat(&|r| r.test.health_macro_f1),
                epochs: stat(&|r| r.epochs_run as f64),
                best_epoch: stat(&|r| r.validation.best_epoch as f64),
                train_seconds: stat(&|r| r.train_seconds),
                intervals: IntervalColumns::of(&group.iter().map(|(_, r)| r).collect::<Vec<_>>()),
                reference: if subset == SYNTHETIC { None } else { reference(&subset, &method) },
                subset,
                method,
            }
        })
        .collect();
    ResultsTable {
        rows,
        missing,
        synthetic: runs.iter().any(|(_, r)| r.synthetic),
        data,
        protocol: "test scores on the last window of every test engine, truth capped at max_rul, scored once at the end with the weights selected by validation RMSE on held-out training engines; mean ± sample std over seeds".into(),
        reference_note: REFERENCE_NOTE,
    }
}

fn ref_cell(r: &Option<Reference>, f: impl Fn(&Reference) -> Option<RefValue>, d: usize) -> String {
    r.as_ref().and_then(f).map(|v| v.fmt(d)).unwrap_or_else(|| "–".into())
}

impl ResultsTable {
    pub const HEADERS: [&'static str; 10] = [
        "subset",
        "method",
        "n seeds",
        "RMSE (cycles)",
        "NASA score",
        "health accuracy",
        "epochs",
        "wall time (s)",
        "reported RMSE †",
        "reported NASA †",
    ];

    /// The interval columns, placed after "health accuracy", when any run of the table was calibrated.
    pub const INTERVAL_HEADERS: [&'static str; 3] =
        ["90% interval coverage", "90% interval width (cycles)", "90% lower bound coverage"];

    /// Whether any run of the table has an `intervals` section: only then do interval columns appear.
    pub fn has_intervals(&self) -> bool {
        self.rows.iter().any(|r| r.intervals.is_some())
    }

    /// Column headers of the human-readable table: [`Self::HEADERS`], plus the interval columns
    /// when [`Self::has_intervals`].
    pub fn headers(&self) -> Vec<String> {
        let mut h: Vec<String> = Self::HEADERS.iter().map(|s| s.to_string()).collect();
        if self.has_intervals() {
            h.splice(6..6, Self::INTERVAL_HEADERS.iter().map(|s| s.to_string()));
        }
        h
    }

    /// The cells of the human-readable table (also used by the HTML page), as [`Self::headers`].
    pub fn display_rows(&self) -> Vec<Vec<String>> {
        let with_intervals = self.has_intervals();
        self.rows
            .iter()
            .map(|r| {
                let mut cells = vec![
                    r.subset.clone(),
                    r.method.clone(),
                    r.n.to_string(),
                    r.rmse.fmt(2),
                    r.nasa.fmt(1),
                    r.health_accuracy.fmt(3),
                    r.epochs.fmt(1),
                    r.train_seconds.fmt(1),
                    ref_cell(&r.reference, |x| x.rmse, 2),
                    ref_cell(&r.reference, |x| x.nasa, 1),
                ];
                if with_intervals {
                    let iv = r.intervals.map(|i| [i.coverage.fmt(3), i.width.fmt(1), i.lower_bound_coverage.fmt(3)]);
                    cells.splice(6..6, iv.unwrap_or_else(|| ["–".into(), "–".into(), "–".into()]));
                }
                cells
            })
            .collect()
    }

    pub fn notes(&self) -> Vec<String> {
        let mut n =
            vec![format!("Data: {}.", if self.data.is_empty() { "unknown".to_string() } else { self.data.join(", ") })];
        if self.synthetic {
            n.push("SYNTHETIC fleet: these numbers are not C-MAPSS results and are not comparable with any reported number.".into());
        }
        n.push(format!("Protocol: {}.", self.protocol));
        n.push(format!("† {REFERENCE_NOTE}"));
        let peers: Vec<String> = BEST_PEER_REVIEWED
            .iter()
            .filter(|(s, ..)| self.rows.iter().any(|r| r.subset == *s))
            .map(|(s, rmse, nasa)| format!("{s} {rmse:.2} / {nasa:.0}"))
            .collect();
        if !peers.is_empty() {
            n.push(format!(
                "Best peer-reviewed single-model results (RMSE / NASA), same caveat: {}.",
                peers.join(", ")
            ));
        }
        if self.has_intervals() {
            n.push(self.interval_note());
        }
        if !self.missing.is_empty() {
            n.push(format!("Not finished ({}): {}.", self.missing.len(), self.missing.join(", ")));
        }
        n
    }

    fn interval_note(&self) -> String {
        let partial: Vec<String> = self
            .rows
            .iter()
            .filter_map(|r| {
                let c = r.intervals.map_or(0, |i| i.calibrated_runs);
                (c < r.n).then(|| format!("{} {} ({c} of {})", r.subset, r.method, r.n))
            })
            .collect();
        let mut s = "Intervals (docs/intervals.md): split-conformal, calibrated on held-out calibration engines (`data.prep.calibration`), scored on the test set against truth capped at max_rul. Coverage: share of test engines inside the symmetric 90% interval; width: its mean width; lower bound coverage: share of engines whose true RUL is at least the one-sided 90% lower bound. A run without the 90% level adds nothing to these cells.".to_string();
        if !partial.is_empty() {
            s.push_str(&format!(" Calibrated runs only: {}.", partial.join(", ")));
        }
        s
    }

    pub fn to_markdown(&self) -> String {
        let headers = self.headers();
        let mut s = String::from("| ");
        s.push_str(&headers.join(" | "));
        s.push_str(" |\n|");
        for (i, _) in headers.iter().enumerate() {
            s.push_str(if i < 2 { "---|" } else { "---:|" });
        }
        s.push('\n');
        for row in self.display_rows() {
            s.push_str("| ");
            s.push_str(&row.join(" | "));
            s.push_str(" |\n");
        }
        s.push('\n');
        for n in self.notes() {
            s.push_str(&n);
            s.push_str("\n\n");
        }
        s
    }

    /// One line per subset × method with every statistic in its own column (empty = not available).
    pub fn to_csv(&self) -> anyhow::Result<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let stats = [
            "rmse",
            "nasa",
            "mae",
            "rmse_uncapped",
            "nasa_uncapped",
            "health_accuracy",
            "health_macro_f1",
            "epochs",
            "best_epoch",
            "train_seconds",
        ];
        let mut header = vec!["subset".to_string(), "method".into(), "n".into(), "seeds".into()];
        for s in stats {
            header.push(format!("{s}_mean"));
            header.push(format!("{s}_std"));
        }
        header.extend(
            ["reported_rmse_mean", "reported_rmse_std", "reported_nasa_mean", "reported_nasa_std"].map(String::from),
        );
        let with_intervals = self.has_intervals();
        if with_intervals {
            for s in ["coverage_90", "width_90", "lower_bound_coverage_90"] {
                header.push(format!("{s}_mean"));
                header.push(format!("{s}_std"));
            }
            header.push("calibrated_runs".into());
        }
        w.write_record(&header)?;
        let num = |v: f64| {
            if v.is_finite() {
                format!("{v}")
            } else {
                String::new()
            }
        };
        for r in &self.rows {
            let mut rec = vec![
                r.subset.clone(),
                r.method.clone(),
                r.n.to_string(),
                r.seeds.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" "),
            ];
            for st in [
                r.rmse,
                r.nasa,
                r.mae,
                r.rmse_uncapped,
                r.nasa_uncapped,
                r.health_accuracy,
                r.health_macro_f1,
                r.epochs,
                r.best_epoch,
                r.train_seconds,
            ] {
                rec.push(num(st.mean));
                rec.push(num(st.std));
            }
            for v in [r.reference.and_then(|x| x.rmse), r.reference.and_then(|x| x.nasa)] {
                rec.push(v.map(|v| num(v.mean)).unwrap_or_default());
                rec.push(v.and_then(|v| v.std).map(num).unwrap_or_default());
            }
            if with_intervals {
                let iv = r.intervals;
                for st in iv.map(|i| [i.coverage, i.width, i.lower_bound_coverage]).unwrap_or([Stat::of(&[]); 3]) {
                    rec.push(num(st.mean));
                    rec.push(num(st.std));
                }
                rec.push(iv.map_or(0, |i| i.calibrated_runs).to_string());
            }
            w.write_record(&rec)?;
        }
        Ok(String::from_utf8(w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?)
    }

    pub fn to_json(&self) -> anyhow::Result<String> {
        Ok(serde_json::to_string_pretty(self)? + "\n")
    }

    /// results.md, results.csv and results.json in `dir`, each written atomically.
    pub fn write(&self, dir: &std::path::Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
        let files =
            [("results.md", self.to_markdown()), ("results.csv", self.to_csv()?), ("results.json", self.to_json()?)];
        let mut out = Vec::new();
        for (name, text) in files {
            let p = dir.join(name);
            crate::io::write_bytes_atomic(&p, text.as_bytes())?;
            out.push(p);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rundir::{Scores, Test};

    fn run(subset: &str, method: &str, seed: u64, rmse: f64, nasa: f64, acc: f64) -> (String, RunResults) {
        let r = RunResults {
            method: method.into(),
            subset: subset.into(),
            synthetic: subset == SYNTHETIC,
            seed,
            test: Test { capped: Scores { rmse, nasa, mae: 1.0 }, health_accuracy: acc, ..Default::default() },
            epochs_run: 10 + seed as usize,
            train_seconds: 2.0,
            ..Default::default()
        };
        (crate::plan::run_name(subset, method, seed), r)
    }

    #[test]
    fn groups_in_flag_order_with_sample_std() {
        let runs = vec![
            run("FD001", "grace", 0, 10.0, 100.0, 0.8),
            run("FD001", "baseline", 0, 12.0, 150.0, 0.7),
            run("FD001", "grace", 1, 12.0, 140.0, 0.9),
            run("FD001", "grace", 2, 14.0, f64::NAN, 1.0),
        ];
        let t =
            build(&runs, &["FD001".into()], &["baseline".into(), "grace".into()], vec![], vec!["C-MAPSS at /d".into()]);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0].method, "baseline");
        let g = &t.rows[1];
        assert_eq!((g.n, g.seeds.clone()), (3, vec![0, 1, 2]));
        assert_eq!(g.rmse.mean, 12.0);
        assert!((g.rmse.std - 2.0).abs() < 1e-12); // sample std of 10, 12, 14
        assert_eq!((g.nasa.mean, g.nasa.n), (120.0, 2)); // NaN is not a measurement
        assert!((g.nasa.std - 800f64.sqrt()).abs() < 1e-9); // (20² + 20²) / (2 − 1)
        assert_eq!(g.epochs.mean, 11.0);
        assert_eq!(g.reference.unwrap().rmse.unwrap().mean, 9.14);
        assert!(t.rows[0].rmse.std.is_nan()); // one seed: no spread claimed
        let md = t.to_markdown();
        assert!(md.contains("| FD001 | grace | 3 | 12.00 ± 2.00 | 120.0 ± 28.3 |"), "{md}");
        assert!(md.contains("9.14 ± 1.39") && md.contains("different protocol"));
        let csv = t.to_csv().unwrap();
        assert!(csv.lines().nth(2).unwrap().starts_with("FD001,grace,3,0 1 2,12,2,120,"), "{csv}");
        let j: serde_json::Value = serde_json::from_str(&t.to_json().unwrap()).unwrap();
        assert_eq!(j["rows"][1]["rmse"]["mean"], 12.0);
        assert!(j["rows"][0]["rmse"]["std"].is_null());
    }

    #[test]
    fn interval_columns_hold_the_90_percent_figures_over_seeds_and_only_when_calibrated() {
        use crate::report::sections::fixtures::intervals;
        use IntervalKind::{LowerBound, Symmetric};
        let mut runs = vec![
            run("FD001", "baseline", 0, 12.0, 150.0, 0.7),
            run("FD001", "grace", 0, 10.0, 100.0, 0.8),
            run("FD001", "grace", 1, 12.0, 140.0, 0.9),
            run("FD001", "grace", 2, 14.0, 160.0, 1.0),
        ];
        let order = (["FD001".to_string()], ["baseline".to_string(), "grace".to_string()]);
        let plain = build(&runs, &order.0, &order.1, vec![], vec![]);
        assert!(!plain.has_intervals());
        assert_eq!(plain.headers(), ResultsTable::HEADERS.map(String::from));
        assert!(!plain.to_json().unwrap().contains("intervals") && !plain.to_csv().unwrap().contains("coverage_90"));
        assert!(!plain.to_markdown().contains("Intervals"));
        runs[1].1.intervals = Some(intervals(&[
            (Symmetric, &[(0.8, 0.7, Some(30.0)), (0.9, 0.9, Some(40.0))]),
            (LowerBound, &[(0.9, 0.95, None)]),
        ]));
        runs[2].1.intervals =
            Some(intervals(&[(Symmetric, &[(0.9, 0.8, Some(50.0))]), (LowerBound, &[(0.9, 0.85, None)])]));
        // no 90% symmetric level: its coverage and width cells get nothing from this seed
        runs[3].1.intervals =
            Some(intervals(&[(Symmetric, &[(0.8, 0.1, Some(9.0))]), (LowerBound, &[(0.9, 0.9, None)])]));
        let t = build(&runs, &order.0, &order.1, vec![], vec![]);
        assert!(t.rows[0].intervals.is_none(), "baseline was not calibrated");
        let iv = t.rows[1].intervals.unwrap();
        assert_eq!((iv.calibrated_runs, iv.coverage.n, iv.width.n, iv.lower_bound_coverage.n), (3, 2, 2, 3));
        assert!((iv.coverage.mean - 0.85).abs() < 1e-12 && (iv.coverage.std - 0.005f64.sqrt()).abs() < 1e-12);
        assert!((iv.width.mean - 45.0).abs() < 1e-12 && (iv.width.std - 50f64.sqrt()).abs() < 1e-12);
        assert!((iv.lower_bound_coverage.mean - 0.9).abs() < 1e-12);
        assert!((iv.lower_bound_coverage.std - 0.05).abs() < 1e-12);
        let h = t.headers();
        assert_eq!(
            h[5..9],
            ["health accuracy", "90% interval coverage", "90% interval width (cycles)", "90% lower bound coverage"]
        );
        let md = t.to_markdown();
        assert!(md.contains("| FD001 | grace | 3 | 12.00 ± 2.00 | 133.3 ± 30.6 | 0.900 ± 0.100 | 0.850 ± 0.071 | 45.0 ± 7.1 | 0.900 ± 0.050 | 11.0 ± 1.0 |"), "{md}");
        assert!(md.contains("| FD001 | baseline | 1 | 12.00 | 150.0 | 0.700 | – | – | – | 10.0 |"), "{md}");
        assert!(md.contains("Calibrated runs only: FD001 baseline (0 of 1)"), "{md}");
        let csv = t.to_csv().unwrap();
        let (head, grace) = (csv.lines().next().unwrap(), csv.lines().nth(2).unwrap());
        assert!(head.ends_with(",coverage_90_mean,coverage_90_std,width_90_mean,width_90_std,lower_bound_coverage_90_mean,lower_bound_coverage_90_std,calibrated_runs"), "{head}");
        let tail: Vec<f64> = grace.rsplit(',').take(7).map(|v| v.parse().unwrap()).collect();
        assert_eq!((tail[0], tail[4]), (3.0, 45.0), "{grace}");
        assert!((tail[6] - 0.85).abs() < 1e-12 && (tail[3] - 50f64.sqrt()).abs() < 1e-12, "{grace}");
        assert!(csv.lines().nth(1).unwrap().ends_with(",,,,,,,0"), "{csv}");
        let j: serde_json::Value = serde_json::from_str(&t.to_json().unwrap()).unwrap();
        assert_eq!(j["rows"][1]["intervals"]["width"]["mean"], 45.0);
        assert!(j["rows"][0].get("intervals").is_none());
    }

    #[test]
    fn synthetic_rows_get_no_reference_and_a_warning() {
        let t = build(
            &[run(SYNTHETIC, "grace", 0, 1.0, 1.0, 1.0)],
            &[],
            &[],
            vec!["SYNTHETIC_grace_seed1".into()],
            vec!["synthetic".into()],
        );
        assert!(t.rows[0].reference.is_none());
        let md = t.to_markdown();
        assert!(md.contains("SYNTHETIC fleet") && md.contains("Not finished (1)"));
    }

    #[test]
    fn reference_lookup_follows_section_8() {
        let r = reference("FD002", "baseline").unwrap();
        assert!(r.rmse.is_none());
        assert_eq!(r.nasa.unwrap().fmt(1), "224.5");
        assert_eq!(reference("FD004", "amnl").unwrap().rmse.unwrap().fmt(2), "8.16 ± 2.17");
        assert!(reference("FD001", "single").is_none());
    }
}
