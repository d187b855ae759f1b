//! What a tune directory keeps between invocations: its settings (`tune.json`), the synchronous
//! rounds' promotion decisions and the asynchronous scheduler's issued jobs, all written atomically.

use crate::asha::{self, Job, Schedule, Score};
use crate::sampler::Sampler;
use crate::space::Space;
use crate::trial::{run_dirs, Objective, RungState, TrialRuns};
use anyhow::{bail, Context};
use grace_core::io::write_json_atomic;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const SETTINGS_FILE: &str = "tune.json";
pub const ASHA_FILE: &str = "asha.json";
pub const DECISIONS_DIR: &str = "rungs";

/// Stated in every tune record: the search never looks at the test set.
pub const TEST_SET_NOTE: &str = "never read by tune: every trial is scored on the held-out validation engines \
only (the validation columns of its epochs.csv), and trial runs are paused before grace train's test scoring, so no \
trial is scored on the test set (the data loader still parses the test files when it prepares the subset)";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheduler {
    /// Asynchronous successive halving (local `--jobs`).
    Asha,
    /// Synchronous successive halving in rounds (job arrays; reproducible).
    Sh,
}

impl std::str::FromStr for Scheduler {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        crate::parse_name(s, "scheduler", "asha or sh")
    }
}

impl std::fmt::Display for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::name_of(self))
    }
}

impl Scheduler {
    pub fn note(self) -> &'static str {
        match self {
            Scheduler::Asha => {
                "asynchronous successive halving: a trial is promoted as soon as it is in the best 1/eta of its rung so \
far, so with --jobs > 1 the promotions depend on the order in which trials finish (timing)"
            }
            Scheduler::Sh => {
                "synchronous successive halving: a rung is decided once all its trials are in, best 1/eta promoted, \
ties broken by trial id; the result does not depend on timing"
            }
        }
    }
}

/// Everything that defines a search; a tune directory holds one, and resuming needs the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub data: String,
    pub synthetic: bool,
    pub subset: String,
    pub method: String,
    pub space: Space,
    pub sampler: Sampler,
    pub seed: u64,
    pub trials: usize,
    pub eta: usize,
    /// Total epochs of each rung, the last being every trial's `train.epochs`.
    pub rungs: Vec<usize>,
    pub scheduler: Scheduler,
    pub objective: Objective,
    /// The `grace train` arguments every trial shares (data, preset, config, --set, …).
    pub train_args: Vec<String>,
    pub test_set: String,
    /// 0: each trial is one run on the standard validation engines; K ≥ 2: K runs, one per fold
    /// of the training engines, scored by the mean (absent from older records, which had none).
    #[serde(default, skip_serializing_if = "no_folds")]
    pub folds: usize,
}

fn no_folds(folds: &usize) -> bool {
    *folds == 0
}

impl Settings {
    pub fn read(dir: &Path) -> anyhow::Result<Option<Settings>> {
        crate::read_json(&dir.join(SETTINGS_FILE), "a grace tune record")
    }

    /// Whether `dir` already holds this search (`false`: no tune there yet); an error if it holds another.
    pub fn check(&self, dir: &Path) -> anyhow::Result<bool> {
        let Some(old) = Settings::read(dir)? else {
            return Ok(false);
        };
        let (a, b) = (serde_json::to_value(&old)?, serde_json::to_value(self)?);
        let fields = a.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
        let differ: Vec<String> = fields
            .iter()
            .filter(|k| a[k.as_str()] != b[k.as_str()])
            .map(|k| format!("{k}: {} here, {} there", b[k.as_str()], a[k.as_str()]))
            .collect();
        if !differ.is_empty() {
            bail!(
                "{} holds a tune with other settings ({}); repeat its command to resume it, or use another --out",
                dir.join(SETTINGS_FILE).display(),
                differ.join("; ")
            );
        }
        Ok(true)
    }

    /// Writes the settings of a new tune, or checks that a resumed one asks for the same search.
    pub fn write_or_check(&self, dir: &Path) -> anyhow::Result<()> {
        if self.check(dir)? {
            return Ok(());
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating the tune directory {}", dir.display()))?;
        write_json_atomic(&dir.join(SETTINGS_FILE), self)
    }

    /// The searched values of trial `trial`: point `trial` of the seeded sampler, mapped into the space.
    pub fn params(&self, trial: usize) -> Vec<(String, toml::Value)> {
        self.space.assign(&self.sampler.point(self.seed, trial as u64, self.space.dims()))
    }

    pub fn round_sizes(&self) -> Vec<usize> {
        asha::round_sizes(self.trials, self.rungs.len(), self.eta)
    }

    /// The job-array items of the synchronous rounds, round after round: (rung, slot), where slot
    /// j of round k > 0 is the j-th best trial promoted out of round k − 1.
    pub fn items(&self) -> Vec<(usize, usize)> {
        self.round_sizes().iter().enumerate().flat_map(|(k, &n)| (0..n).map(move |j| (k, j))).collect()
    }

    /// The run directories of a trial (one per fold with `folds` ≥ 2).
    pub fn run_dirs(&self, dir: &Path, trial: usize) -> Vec<PathBuf> {
        run_dirs(dir, trial, self.folds)
    }

    pub fn runs(&self, dir: &Path, trial: usize) -> anyhow::Result<TrialRuns> {
        TrialRuns::read(&self.run_dirs(dir, trial))
    }

    /// A trial's state at rung `rung`, read from its directories.
    pub fn state(&self, dir: &Path, trial: usize, rung: usize) -> anyhow::Result<RungState> {
        Ok(self.runs(dir, trial)?.state(self.objective, self.rungs[rung]))
    }

    /// A settled trial's score at a rung (`None`: failed or unmeasured).
    pub fn score(&self, dir: &Path, trial: usize, rung: usize) -> anyhow::Result<Score> {
        Ok(match self.state(dir, trial, rung)? {
            RungState::Reached(score) => score,
            RungState::Failed | RungState::Open => None,
        })
    }
}

/// A synchronous round's outcome, final once written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub rung: usize,
    pub epochs: usize,
    /// Every trial of the round with its score (`null`: failed or unmeasured).
    pub scores: Vec<(usize, Score)>,
    /// Best first.
    pub promoted: Vec<usize>,
}

fn decision_path(dir: &Path, rung: usize) -> PathBuf {
    dir.join(DECISIONS_DIR).join(format!("rung_{rung}.json"))
}

pub fn read_decision(dir: &Path, rung: usize) -> anyhow::Result<Option<Decision>> {
    crate::read_json(&decision_path(dir, rung), "a rung decision")
}

/// The synchronous rounds as far as they are decided: `rounds[k]` are the trials of round k.
#[derive(Debug, Clone)]
pub struct Rounds {
    pub rounds: Vec<Vec<usize>>,
    pub decisions: Vec<Decision>,
    n_rounds: usize,
}

/// Why the next round cannot be known yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    pub rung: usize,
    pub open: Vec<usize>,
}

impl Rounds {
    /// Reads the decisions and takes every one that has become possible (all of a round's trials
    /// in); any process may do this, since a decision depends only on the trial directories.
    /// `Waiting` names the first round with trials still open; `None` means the search is over.
    pub fn advance(dir: &Path, s: &Settings) -> anyhow::Result<(Rounds, Option<Waiting>)> {
        let n_rounds = s.round_sizes().len();
        let mut r = Rounds { rounds: vec![(0..s.trials).collect()], decisions: vec![], n_rounds };
        while r.rounds.len() < n_rounds {
            let k = r.rounds.len() - 1;
            let decision = match read_decision(dir, k)? {
                Some(d) => d,
                None => match decide(dir, s, k, &r.rounds[k])? {
                    Ok(d) => d,
                    Err(open) => return Ok((r, Some(Waiting { rung: k, open }))),
                },
            };
            r.rounds.push(decision.promoted.clone());
            r.decisions.push(decision);
        }
        let last = r.rounds.len() - 1;
        let open = open_trials(dir, s, last, &r.rounds[last])?;
        Ok((r, (!open.is_empty()).then_some(Waiting { rung: last, open })))
    }
}

/// Decides round `rung` if all its trials are in (else returns the open ones) and records it.
fn decide(dir: &Path, s: &Settings, rung: usize, trials: &[usize]) -> anyhow::Result<Result<Decision, Vec<usize>>> {
    let open = open_trials(dir, s, rung, trials)?;
    if !open.is_empty() {
        return Ok(Err(open));
    }
    let mut scores = vec![];
    for &t in trials {
        scores.push((t, s.score(dir, t, rung)?));
    }
    let d = Decision { rung, epochs: s.rungs[rung], promoted: asha::promote(&scores, s.eta), scores };
    std::fs::create_dir_all(dir.join(DECISIONS_DIR))?;
    // Concurrent deciders write identical files, so the atomic rename makes the race harmless.
    write_json_atomic(&decision_path(dir, rung), &d)?;
    Ok(Ok(d))
}

impl Schedule for Rounds {
    fn scheduled(&self, trial: usize, rung: usize) -> bool {
        self.rounds.get(rung).is_some_and(|r| r.contains(&trial))
    }

    fn closed(&self, rung: usize) -> bool {
        rung < self.decisions.len() || rung + 1 >= self.n_rounds
    }

    fn final_rung(&self) -> usize {
        self.n_rounds - 1
    }
}

fn open_trials(dir: &Path, s: &Settings, rung: usize, trials: &[usize]) -> anyhow::Result<Vec<usize>> {
    let mut open = vec![];
    for &t in trials {
        if s.state(dir, t, rung)? == RungState::Open {
            open.push(t);
        }
    }
    Ok(open)
}

#[derive(Serialize, Deserialize)]
struct AshaRecord {
    jobs: Vec<Job>,
}

pub fn read_asha(dir: &Path) -> anyhow::Result<Vec<Job>> {
    let record: Option<AshaRecord> = crate::read_json(&dir.join(ASHA_FILE), "a record of issued jobs")?;
    Ok(record.map(|r| r.jobs).unwrap_or_default())
}

pub fn write_asha(dir: &Path, jobs: &[Job]) -> anyhow::Result<()> {
    write_json_atomic(&dir.join(ASHA_FILE), &AshaRecord { jobs: jobs.to_vec() })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::trial::trial_dir;
    use grace_core::rundir::{EpochRow, EPOCH_LOG};

    pub fn settings(trials: usize, rungs: Vec<usize>) -> Settings {
        Settings {
            data: "synthetic".into(),
            synthetic: true,
            subset: "SYNTHETIC".into(),
            method: "grace".into(),
            space: Space::parse("[train]\nlr = { low = 1e-4, high = 1e-2, scale = \"log\" }").unwrap(),
            sampler: Sampler::Sobol,
            seed: 3,
            trials,
            eta: 3,
            rungs,
            scheduler: Scheduler::Sh,
            objective: Objective::Rmse,
            train_args: vec!["--data".into(), "synthetic".into()],
            test_set: TEST_SET_NOTE.into(),
            folds: 0,
        }
    }

    /// A trial directory whose epoch `e` has validation RMSE `rmse[e]`.
    pub fn fake_trial(dir: &Path, trial: usize, rmse: &[f64]) {
        let d = trial_dir(dir, trial);
        std::fs::create_dir_all(&d).unwrap();
        let mut w = csv::Writer::from_path(d.join(EPOCH_LOG)).unwrap();
        for (epoch, &val_rmse) in rmse.iter().enumerate() {
            w.serialize(EpochRow { epoch, val_rmse, seconds: 1.0, ..Default::default() }).unwrap();
        }
        w.flush().unwrap();
    }

    #[test]
    fn settings_resume_only_with_the_same_search() {
        let d = tempfile::tempdir().unwrap();
        let s = settings(9, vec![1, 3]);
        s.write_or_check(d.path()).unwrap();
        s.write_or_check(d.path()).unwrap();
        let e = settings(10, vec![1, 3]).write_or_check(d.path()).unwrap_err().to_string();
        assert!(e.contains("trials: 10 here, 9 there"), "{e}");
        assert_eq!(s.params(4), s.params(4));
        assert_ne!(s.params(4), s.params(5));
    }

    #[test]
    fn rounds_are_decided_once_every_trial_is_in() {
        let d = tempfile::tempdir().unwrap();
        let s = settings(6, vec![1, 3, 9]);
        // Rung 0 (1 epoch): scores 6, 5, 4, 3, 2, 1 except trial 2, which failed.
        for t in [0, 1, 3, 4] {
            fake_trial(d.path(), t, &[6.0 - t as f64]);
        }
        let (r, waiting) = Rounds::advance(d.path(), &s).unwrap();
        assert_eq!(waiting, Some(Waiting { rung: 0, open: vec![2, 5] }));
        assert_eq!(r.rounds.len(), 1);
        crate::trial::write_failure(&trial_dir(d.path(), 2), &crate::trial::Failure { epochs: 1, error: "x".into() })
            .unwrap();
        fake_trial(d.path(), 5, &[1.0]);
        let (r, waiting) = Rounds::advance(d.path(), &s).unwrap();
        // ⌊6/3⌋ = 2 promoted: trials 5 (1.0) and 4 (2.0); rung 1 then waits for both.
        assert_eq!(r.rounds[1], [5, 4]);
        assert_eq!(waiting, Some(Waiting { rung: 1, open: vec![5, 4] }));
        // Round 1 is the last (⌊2/3⌋ = 0): nothing is promoted out of it.
        assert!(r.scheduled(4, 1) && !r.scheduled(3, 1) && r.closed(0) && r.closed(1) && r.final_rung() == 1);
        // A later change to a decided round does not move the decision.
        fake_trial(d.path(), 0, &[0.5]);
        let (r, _) = Rounds::advance(d.path(), &s).unwrap();
        assert_eq!(r.rounds[1], [5, 4]);
        fake_trial(d.path(), 5, &[1.0, 0.9, 0.8]);
        fake_trial(d.path(), 4, &[2.0, 0.7, 0.6]);
        let (r, waiting) = Rounds::advance(d.path(), &s).unwrap();
        assert_eq!((r.rounds.len(), waiting), (2, None), "the search is over");
        assert_eq!(s.round_sizes(), [6, 2]);
        assert_eq!(s.items(), [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (1, 0), (1, 1)]);
    }
}
