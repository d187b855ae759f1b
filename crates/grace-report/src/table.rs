//! The sweep results table: per subset × method, mean ± sample std over seeds of the test scores,
//! next to the numbers reported elsewhere (docs/reference.md §8), as Markdown, CSV and JSON.

use crate::plan::SYNTHETIC;
use crate::rundir::RunResults;
use grace_core::metrics::mean_std;
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

    /// The cells of the human-readable table (also used by the HTML page).
    pub fn display_rows(&self) -> Vec<[String; 10]> {
        self.rows
            .iter()
            .map(|r| {
                [
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
                ]
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
        if !self.missing.is_empty() {
            n.push(format!("Not finished ({}): {}.", self.missing.len(), self.missing.join(", ")));
        }
        n
    }

    pub fn to_markdown(&self) -> String {
        let mut s = String::from("| ");
        s.push_str(&Self::HEADERS.join(" | "));
        s.push_str(" |\n|");
        for (i, _) in Self::HEADERS.iter().enumerate() {
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
