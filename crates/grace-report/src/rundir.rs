//! Reading one run directory written by `grace train`, tolerant of extra fields and of files
//! that are missing (an unfinished run has no results.json) or have empty (unmeasured) cells.

use anyhow::Context;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

// The file names, log rows and results schema live in grace-core, shared with the trainer that
// writes them; the report's names for the results' parts are kept as aliases.
pub use grace_core::results::{Protocol, RunResults};
pub use grace_core::rundir::{
    EpochRow, GradientRow, CONFIG_FILE, EPOCH_LOG, GRADIENT_LOG, HEALTH_CLASSES, PREDICTIONS_FILE, RESULTS_FILE,
    TRAIN_LOG,
};
pub type Scores = grace_core::results::RulScores;
pub type Validation = grace_core::results::ValidationSummary;
pub type Test = grace_core::results::TestReport;

/// Where a run directory stands, as the sweep decides what to do with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// No config.toml: training never started (or died before writing it).
    Pending,
    /// config.toml but no results.json: killed mid-way; `grace train --resume` continues it.
    Interrupted,
    /// results.json exists.
    Finished,
}

pub fn status(dir: &Path) -> RunStatus {
    if dir.join(RESULTS_FILE).is_file() {
        RunStatus::Finished
    } else if dir.join(CONFIG_FILE).is_file() {
        RunStatus::Interrupted
    } else {
        RunStatus::Pending
    }
}

pub fn read_results(dir: &Path) -> anyhow::Result<RunResults> {
    let p = dir.join(RESULTS_FILE);
    let text = std::fs::read_to_string(&p)
        .with_context(|| format!("reading {}: the run has not finished (train or resume it first)", p.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not a grace results.json", p.display()))
}

/// A CSV file as named numeric columns; empty or unparsable cells become NaN (not measured).
#[derive(Debug, Clone, Default)]
pub struct Columns {
    pub names: Vec<String>,
    pub data: HashMap<String, Vec<f64>>,
    pub rows: usize,
}

impl Columns {
    pub fn read(path: &Path) -> anyhow::Result<Columns> {
        let mut r = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(path)
            .with_context(|| format!("reading {}", path.display()))?;
        let names: Vec<String> = r
            .headers()
            .with_context(|| format!("{}: no header line", path.display()))?
            .iter()
            .map(|s| s.trim().to_string())
            .collect();
        let mut cols: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
        let mut rows = 0;
        for rec in r.records() {
            let rec = rec.with_context(|| format!("{}: bad CSV line", path.display()))?;
            for (i, col) in cols.iter_mut().enumerate() {
                col.push(rec.get(i).and_then(|s| s.trim().parse::<f64>().ok()).unwrap_or(f64::NAN));
            }
            rows += 1;
        }
        Ok(Columns { data: names.iter().cloned().zip(cols).collect(), names, rows })
    }

    /// The column, or all-NaN when the file lacks it (older runs, other methods).
    pub fn col(&self, name: &str) -> Vec<f64> {
        self.data.get(name).cloned().unwrap_or_else(|| vec![f64::NAN; self.rows])
    }

    pub fn has(&self, name: &str) -> bool {
        self.data.get(name).is_some_and(|c| c.iter().any(|v| v.is_finite()))
    }
}

/// Everything a report shows about one run; each part is optional.
#[derive(Debug, Clone)]
pub struct RunData {
    pub dir: PathBuf,
    pub name: String,
    pub config: Option<toml::Table>,
    pub results: Option<RunResults>,
    pub epochs: Option<Columns>,
    pub gradients: Option<Columns>,
    pub predictions: Option<Columns>,
}

fn optional<T>(path: &Path, read: impl FnOnce(&Path) -> anyhow::Result<T>) -> anyhow::Result<Option<T>> {
    if path.is_file() {
        read(path).map(Some)
    } else {
        Ok(None)
    }
}

impl RunData {
    pub fn load(dir: &Path) -> anyhow::Result<RunData> {
        let cfg_path = dir.join(CONFIG_FILE);
        if !cfg_path.is_file() && !dir.join(RESULTS_FILE).is_file() {
            anyhow::bail!("{} is not a run directory (no {CONFIG_FILE} or {RESULTS_FILE}); pass a directory written by `grace train` or `grace sweep`", dir.display());
        }
        let config = optional(&cfg_path, |p| {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            text.parse::<toml::Table>().with_context(|| format!("{}: not valid TOML", p.display()))
        })?;
        let results = if dir.join(RESULTS_FILE).is_file() { Some(read_results(dir)?) } else { None };
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "run".into());
        Ok(RunData {
            dir: dir.to_path_buf(),
            name,
            config,
            results,
            epochs: optional(&dir.join(EPOCH_LOG), Columns::read)?,
            gradients: optional(&dir.join(GRADIENT_LOG), Columns::read)?,
            predictions: optional(&dir.join(PREDICTIONS_FILE), Columns::read)?,
        })
    }

    fn cfg_str(&self, section: &str, key: &str) -> Option<String> {
        self.config.as_ref()?.get(section)?.get(key)?.as_str().map(str::to_string)
    }

    pub fn method(&self) -> String {
        self.results
            .as_ref()
            .map(|r| r.method.clone())
            .or_else(|| self.cfg_str("method", "name"))
            .unwrap_or_else(|| "?".into())
    }

    /// The data source as configured: a C-MAPSS path or "synthetic".
    pub fn source(&self) -> String {
        self.cfg_str("data", "source").unwrap_or_else(|| if self.synthetic() { "synthetic".into() } else { "?".into() })
    }

    pub fn synthetic(&self) -> bool {
        match &self.results {
            Some(r) => r.synthetic,
            None => self.cfg_str("data", "source").is_some_and(|s| s == "synthetic"),
        }
    }

    pub fn label(&self) -> String {
        match &self.results {
            Some(r) => r.label(),
            None if self.synthetic() => "SYNTHETIC".into(),
            None => self.cfg_str("data", "subset").unwrap_or_else(|| "?".into()),
        }
    }

    pub fn seed(&self) -> Option<u64> {
        self.results
            .as_ref()
            .map(|r| r.seed)
            .or_else(|| self.config.as_ref()?.get("train")?.get("seed")?.as_integer().map(|v| v as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_scores_read_as_nan_and_extra_fields_are_ignored() {
        let r: RunResults = serde_json::from_str(
            r#"{"method":"gaba","subset":"FD001","synthetic":false,"seed":3,"extra":{"x":1},
                "test":{"engines":2,"capped":{"rmse":null,"nasa":4.0,"mae":1.0},"uncapped":{"rmse":1,"nasa":2,"mae":3},
                "health_accuracy":null,"health_macro_f1":0.5,"confusion":[[1]]},"train_seconds":2.5}"#,
        )
        .unwrap();
        assert!(r.test.capped.rmse.is_nan());
        assert_eq!(r.test.capped.nasa, 4.0);
        assert!(r.test.health_accuracy.is_nan());
        assert_eq!(r.label(), "FD001");
        assert_eq!(r.seed, 3);
    }

    /// One row written with csv as the trainer writes it, read back as the report reads it.
    fn round_trip<R: serde::Serialize>(row: R) -> Columns {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.csv");
        let mut w = csv::Writer::from_path(&path).unwrap();
        w.serialize(row).unwrap();
        w.flush().unwrap();
        Columns::read(&path).unwrap()
    }

    #[test]
    fn the_logs_have_every_column_the_report_draws() {
        let e = round_trip(EpochRow { epoch: 2, val_rmse: 5.5, val_nasa: f64::NAN, ..Default::default() });
        for name in ["epoch", "train_loss_rul", "train_loss_health", "val_rmse", "val_rmse_live", "val_cut_rmse"] {
            assert!(e.names.iter().any(|n| n == name), "epochs.csv lacks {name}");
        }
        assert_eq!((e.col("epoch"), e.col("val_rmse")), (vec![2.0], vec![5.5]));
        assert!(e.col("val_nasa")[0].is_nan() && !e.has("val_nasa"), "unmeasured is empty, read as NaN");
        let g = round_trip(GradientRow { step: 7, ratio: f64::INFINITY, cosine: -0.5, ..Default::default() });
        for name in ["step", "lambda_rul", "lambda_health", "ratio", "cosine"] {
            assert!(g.names.iter().any(|n| n == name), "gradient_log.csv lacks {name}");
        }
        assert_eq!((g.col("step"), g.col("cosine")), (vec![7.0], vec![-0.5]));
        assert!(g.col("ratio")[0].is_nan());
    }

    #[test]
    fn empty_cells_are_nan_and_status_follows_the_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("epochs.csv"), "epoch,val_rmse,x\n0,,1\n1,5.5,2\n").unwrap();
        let c = Columns::read(&dir.path().join("epochs.csv")).unwrap();
        assert_eq!(c.rows, 2);
        assert!(c.col("val_rmse")[0].is_nan());
        assert_eq!(c.col("val_rmse")[1], 5.5);
        assert!(c.col("missing").iter().all(|v| v.is_nan()));
        assert_eq!(status(dir.path()), RunStatus::Pending);
        std::fs::write(dir.path().join(CONFIG_FILE), "[data]\nsource = \"synthetic\"\n").unwrap();
        assert_eq!(status(dir.path()), RunStatus::Interrupted);
        let d = RunData::load(dir.path()).unwrap();
        assert!(d.synthetic());
        assert_eq!(d.label(), "SYNTHETIC");
        std::fs::write(dir.path().join(RESULTS_FILE), r#"{"method":"grace","subset":"SYNTHETIC","synthetic":true}"#)
            .unwrap();
        assert_eq!(status(dir.path()), RunStatus::Finished);
    }
}
