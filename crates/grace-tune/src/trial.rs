//! One trial as its run directory shows it: the epochs trained so far, the objective at a rung
//! (from the validation columns of `epochs.csv` only) and the marker a failed job leaves.

use anyhow::{bail, Context};
use grace_core::rundir::{EpochRow, EPOCH_LOG, RESULTS_FILE};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const TRIALS_DIR: &str = "trials";
/// Left in a trial directory when a job did not reach its rung; holds the rung and the error.
pub const FAILURE_FILE: &str = "tune_failure.json";
/// Left in a trial directory when its run ended on its own (early stopping) before a rung.
pub const ENDED_FILE: &str = "tune_ended.json";

pub fn trial_dir(tune_dir: &Path, trial: usize) -> PathBuf {
    tune_dir.join(TRIALS_DIR).join(format!("trial_{trial:04}"))
}

/// The run directories of a trial: the trial directory itself, or with `folds` ≥ 2 one run per
/// fold of the training engines in `fold_K` below it.
pub fn run_dirs(tune_dir: &Path, trial: usize, folds: usize) -> Vec<PathBuf> {
    let dir = trial_dir(tune_dir, trial);
    if folds < 2 {
        return vec![dir];
    }
    (0..folds).map(|k| dir.join(format!("fold_{k}"))).collect()
}

/// What a trial is scored on at a rung: the best value so far of a per-epoch validation figure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Objective {
    /// Validation RMSE of the averaged weights (the trainer's own selection metric).
    Rmse,
    /// Validation NASA score (a sum over the validation windows).
    Nasa,
    /// `(1 − w)·RMSE + w·NASA`.
    Mix(f64),
    /// Validation RMSE of several test-like windows per validation engine (`train.select_cuts`
    /// seeded cuts each, as the test set is cut), instead of all their windows.
    Cut,
}

impl std::str::FromStr for Objective {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "rmse" => Ok(Objective::Rmse),
            "nasa" => Ok(Objective::Nasa),
            "cut" => Ok(Objective::Cut),
            _ => match s.strip_prefix("mix:").and_then(|w| w.parse::<f64>().ok()) {
                Some(w) if (0.0..=1.0).contains(&w) => Ok(Objective::Mix(w)),
                _ => Err(format!("unknown objective '{s}': use rmse, nasa, cut or mix:W with W in [0, 1]")),
            },
        }
    }
}

impl std::fmt::Display for Objective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Objective::Rmse => f.write_str("rmse"),
            Objective::Nasa => f.write_str("nasa"),
            Objective::Mix(w) => write!(f, "mix:{w}"),
            Objective::Cut => f.write_str("cut"),
        }
    }
}

impl Serialize for Objective {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Objective {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

impl Objective {
    pub fn of(self, row: &EpochRow) -> f64 {
        match self {
            Objective::Rmse => row.val_rmse,
            Objective::Nasa => row.val_nasa,
            Objective::Mix(w) => (1.0 - w) * row.val_rmse + w * row.val_nasa,
            Objective::Cut => row.val_cut_rmse,
        }
    }

    pub fn describe(self) -> String {
        let what = match self {
            Objective::Rmse => "validation RMSE".to_string(),
            Objective::Nasa => "validation NASA score".to_string(),
            Objective::Mix(w) => format!("{}·validation RMSE + {w}·validation NASA score", 1.0 - w),
            Objective::Cut => "validation RMSE on several test-like cuts per validation engine".to_string(),
        };
        format!("best {what} so far at the rung (held-out training engines, truth capped at 125; lower is better)")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The rung's total epochs the job was to reach.
    pub epochs: usize,
    pub error: String,
}

/// Where a trial stands with respect to one rung.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RungState {
    /// Trained that far (or stopped early before): its score there.
    Reached(Option<f64>),
    Failed,
    /// Not there yet.
    Open,
}

/// A trial directory's epoch log and markers.
#[derive(Debug, Clone, Default)]
pub struct TrialLog {
    pub rows: Vec<EpochRow>,
    /// The run ended on its own (all its epochs, or early stopping): later rungs give nothing new.
    pub ended: bool,
    pub failure: Option<Failure>,
}

impl TrialLog {
    /// A missing directory or log is a trial that has not trained yet; a torn last line (a kill
    /// mid-write) is left out, as the resumed run writes it again.
    pub fn read(dir: &Path) -> anyhow::Result<TrialLog> {
        let mut rows = vec![];
        let log = dir.join(EPOCH_LOG);
        if log.is_file() {
            let mut r = csv::ReaderBuilder::new()
                .flexible(true)
                .from_path(&log)
                .with_context(|| format!("reading {}", log.display()))?;
            rows = r.deserialize::<EpochRow>().filter_map(Result::ok).collect();
        }
        let failure = crate::read_json(&dir.join(FAILURE_FILE), "a trial failure")?;
        let ended = dir.join(RESULTS_FILE).is_file() || dir.join(ENDED_FILE).is_file();
        Ok(TrialLog { rows, ended, failure })
    }

    /// Epochs trained: the rows of consecutive epochs 0, 1, … in the log.
    pub fn epochs(&self) -> usize {
        self.rows.iter().enumerate().take_while(|(i, r)| r.epoch == *i).count()
    }

    pub fn reached(&self, epochs: usize) -> bool {
        self.ended || self.epochs() >= epochs
    }

    /// The best objective over the first `epochs` epochs; `None` if none was measured.
    pub fn score(&self, objective: Objective, epochs: usize) -> Option<f64> {
        self.rows[..self.epochs().min(epochs)]
            .iter()
            .map(|r| objective.of(r))
            .filter(|v| v.is_finite())
            .reduce(f64::min)
    }

    pub fn state(&self, objective: Objective, epochs: usize) -> RungState {
        if self.reached(epochs) {
            RungState::Reached(self.score(objective, epochs))
        } else if self.failure.as_ref().is_some_and(|f| f.epochs == epochs) {
            RungState::Failed
        } else {
            RungState::Open
        }
    }

    /// Training seconds summed over the epochs the log holds.
    pub fn seconds(&self) -> f64 {
        self.rows[..self.epochs()].iter().fold(0.0, |sum, r| sum + r.seconds)
    }
}

/// A trial as all its runs (one per fold) show it. A fold-averaged trial reaches a rung when every
/// fold has; its score there is the mean of the folds' scores, so that one lucky validation fold
/// does not pick the recipe (docs/tune.md).
#[derive(Debug, Clone, Default)]
pub struct TrialRuns {
    pub logs: Vec<TrialLog>,
}

impl TrialRuns {
    pub fn read(dirs: &[PathBuf]) -> anyhow::Result<TrialRuns> {
        Ok(TrialRuns { logs: dirs.iter().map(|d| TrialLog::read(d)).collect::<anyhow::Result<_>>()? })
    }

    /// Epochs every fold has trained.
    pub fn epochs(&self) -> usize {
        self.logs.iter().map(TrialLog::epochs).min().unwrap_or(0)
    }

    pub fn ended(&self) -> bool {
        !self.logs.is_empty() && self.logs.iter().all(|l| l.ended)
    }

    pub fn failure(&self) -> Option<&Failure> {
        self.logs.iter().find_map(|l| l.failure.as_ref())
    }

    /// Training seconds of all folds together (the trial's cost).
    pub fn seconds(&self) -> f64 {
        self.logs.iter().map(TrialLog::seconds).sum()
    }

    /// Each fold's score at the rung (`None` where a fold is not there or unmeasured).
    pub fn fold_scores(&self, objective: Objective, epochs: usize) -> Vec<Option<f64>> {
        self.logs.iter().map(|l| if l.reached(epochs) { l.score(objective, epochs) } else { None }).collect()
    }

    /// Failed if any fold failed there; reached once every fold is there, with the mean of the
    /// folds' scores (`None` if a fold has none).
    pub fn state(&self, objective: Objective, epochs: usize) -> RungState {
        let states: Vec<RungState> = self.logs.iter().map(|l| l.state(objective, epochs)).collect();
        if states.contains(&RungState::Failed) {
            return RungState::Failed;
        }
        if states.is_empty() || states.contains(&RungState::Open) {
            return RungState::Open;
        }
        let scores: Option<Vec<f64>> = self.fold_scores(objective, epochs).into_iter().collect();
        RungState::Reached(scores.map(|v| v.iter().sum::<f64>() / v.len() as f64))
    }

    /// Sample standard deviation of the folds' scores at the rung (`None` with fewer than two).
    pub fn spread(&self, objective: Objective, epochs: usize) -> Option<f64> {
        let v: Vec<f64> = self.fold_scores(objective, epochs).into_iter().flatten().collect();
        if v.len() < 2 || v.len() < self.logs.len() {
            return None;
        }
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        Some((v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt())
    }
}

pub fn write_failure(dir: &Path, failure: &Failure) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    grace_core::io::write_json_atomic(&dir.join(FAILURE_FILE), failure)
}

/// Records that the trial's run ended on its own after `epochs` epochs.
pub fn write_ended(dir: &Path, epochs: usize) -> anyhow::Result<()> {
    grace_core::io::write_json_atomic(&dir.join(ENDED_FILE), &serde_json::json!({ "epochs": epochs }))
}

/// Before a job runs again: the old failure no longer describes the trial.
pub fn clear_failure(dir: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(dir.join(FAILURE_FILE)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => bail!("removing {}/{FAILURE_FILE}: {e}", dir.display()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_log(dir: &Path, rows: &[(f64, f64)], torn: bool) {
        let mut w = csv::Writer::from_path(dir.join(EPOCH_LOG)).unwrap();
        for (i, &(rmse, nasa)) in rows.iter().enumerate() {
            w.serialize(EpochRow { epoch: i, val_rmse: rmse, val_nasa: nasa, seconds: 1.5, ..Default::default() })
                .unwrap();
        }
        w.flush().unwrap();
        if torn {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().append(true).open(dir.join(EPOCH_LOG)).unwrap();
            write!(f, "{},12,0.001,3.0", rows.len()).unwrap();
        }
    }

    #[test]
    fn logs_written_before_the_held_out_column_still_read() {
        let d = tempfile::tempdir().unwrap();
        let old = "epoch,steps,lr,train_loss_rul,train_loss_health,lambda_rul,lambda_health,val_rmse,val_nasa,\
                   val_rmse_live,val_cut_rmse,seconds\n0,12,0.001,3.0,0.5,0.5,0.5,21.5,800.0,22.0,19.0,1.5\n";
        std::fs::write(d.path().join(EPOCH_LOG), old).unwrap();
        let t = TrialLog::read(d.path()).unwrap();
        assert_eq!(t.epochs(), 1);
        assert_eq!((t.rows[0].val_rmse, t.rows[0].val_cut_rmse), (21.5, 19.0));
        assert!(t.rows[0].held_cut_rmse.is_nan(), "an absent column is unmeasured");
    }

    #[test]
    fn the_score_is_the_best_so_far_at_the_rung() {
        let d = tempfile::tempdir().unwrap();
        write_log(d.path(), &[(30.0, 900.0), (f64::NAN, f64::NAN), (20.0, 1200.0), (25.0, 500.0)], true);
        let t = TrialLog::read(d.path()).unwrap();
        assert_eq!(t.epochs(), 4, "the torn fifth line is not an epoch");
        assert_eq!(t.score(Objective::Rmse, 1), Some(30.0));
        assert_eq!(t.score(Objective::Rmse, 2), Some(30.0), "an unmeasured epoch changes nothing");
        assert_eq!(t.score(Objective::Rmse, 3), Some(20.0));
        assert_eq!(t.score(Objective::Rmse, 9), Some(20.0));
        assert_eq!(t.score(Objective::Nasa, 4), Some(500.0));
        // Per epoch 0.75·RMSE + 0.25·NASA: 247.5, -, 315, 143.75.
        assert_eq!(t.score(Objective::Mix(0.25), 3), Some(247.5));
        assert_eq!(t.score(Objective::Mix(0.25), 4), Some(143.75));
        assert_eq!(t.state(Objective::Rmse, 4), RungState::Reached(Some(20.0)));
        assert_eq!(t.state(Objective::Rmse, 5), RungState::Open);
        assert_eq!(t.seconds(), 6.0);
    }

    #[test]
    fn a_failure_settles_its_rung_only_and_an_ended_run_settles_all() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(TrialLog::read(d.path()).unwrap().state(Objective::Rmse, 1), RungState::Open);
        write_log(d.path(), &[(30.0, 900.0)], false);
        write_failure(d.path(), &Failure { epochs: 3, error: "non-finite loss".into() }).unwrap();
        let t = TrialLog::read(d.path()).unwrap();
        assert_eq!(t.state(Objective::Rmse, 3), RungState::Failed);
        assert_eq!(t.state(Objective::Rmse, 9), RungState::Open);
        clear_failure(d.path()).unwrap();
        clear_failure(d.path()).unwrap();
        write_ended(d.path(), 1).unwrap();
        let t = TrialLog::read(d.path()).unwrap();
        assert_eq!(t.state(Objective::Rmse, 27), RungState::Reached(Some(30.0)));
    }

    #[test]
    fn a_fold_averaged_trial_reaches_a_rung_when_every_fold_has() {
        let d = tempfile::tempdir().unwrap();
        let dirs = run_dirs(d.path(), 2, 3);
        assert_eq!(dirs[1], d.path().join("trials/trial_0002/fold_1"));
        assert_eq!(run_dirs(d.path(), 2, 0), [d.path().join("trials/trial_0002")]);
        for (dir, rows) in
            dirs.iter().zip([&[(14.0, 1.0), (12.0, 1.0)][..], &[(16.0, 1.0)], &[(11.0, 1.0), (13.0, 1.0)]])
        {
            std::fs::create_dir_all(dir).unwrap();
            write_log(dir, rows, false);
        }
        let t = TrialRuns::read(&dirs).unwrap();
        assert_eq!(t.epochs(), 1);
        assert_eq!(t.state(Objective::Rmse, 1), RungState::Reached(Some((14.0 + 16.0 + 11.0) / 3.0)));
        assert_eq!(t.state(Objective::Rmse, 2), RungState::Open, "fold 1 is at epoch 1");
        assert_eq!(t.fold_scores(Objective::Rmse, 2), [Some(12.0), None, Some(11.0)]);
        assert_eq!(t.spread(Objective::Rmse, 2), None);
        // Folds 14, 16, 11: mean 41/3, sample variance (0.111 + 5.444 + 7.111)/2 = 6.333.
        assert!((t.spread(Objective::Rmse, 1).unwrap() - 6.3333f64.sqrt()).abs() < 1e-3);
        write_failure(&dirs[1], &Failure { epochs: 2, error: "nan".into() }).unwrap();
        let t = TrialRuns::read(&dirs).unwrap();
        assert_eq!(t.state(Objective::Rmse, 2), RungState::Failed);
        assert_eq!(t.seconds(), 7.5);
        write_ended(&dirs[1], 1).unwrap();
        clear_failure(&dirs[1]).unwrap();
        let t = TrialRuns::read(&dirs).unwrap();
        assert_eq!(t.state(Objective::Rmse, 2), RungState::Reached(Some((12.0 + 16.0 + 11.0) / 3.0)));
        assert!(!t.ended());
    }

    #[test]
    fn objectives_parse_and_print_back() {
        for s in ["rmse", "nasa", "cut", "mix:0.25"] {
            assert_eq!(s.parse::<Objective>().unwrap().to_string(), s);
        }
        assert!("mix:2".parse::<Objective>().is_err());
        assert!("mae".parse::<Objective>().unwrap_err().contains("rmse, nasa, cut or mix:W"));
        let row = EpochRow { val_rmse: 14.0, val_cut_rmse: 12.5, ..Default::default() };
        assert_eq!(Objective::Cut.of(&row), 12.5);
    }
}
