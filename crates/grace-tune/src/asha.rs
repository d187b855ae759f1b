//! Successive halving: the rungs (epoch budgets), the ranking that promotes the best 1/η of a rung,
//! the synchronous rounds of job arrays and the asynchronous scheduler (ASHA) of local runs.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// A trial's score at a rung: `None` when it failed or measured nothing (ranked last, never promoted).
pub type Score = Option<f64>;

/// `min, min·η, min·η², …` below `max`, then `max`: the total epochs a trial has trained at each rung.
pub fn rungs(min_epochs: usize, max_epochs: usize, eta: usize) -> Result<Vec<usize>, String> {
    if eta < 2 {
        return Err(format!("--eta must be at least 2, got {eta}"));
    }
    if min_epochs == 0 || min_epochs > max_epochs {
        return Err(format!("need 1 ≤ --min-epochs ({min_epochs}) ≤ --max-epochs ({max_epochs})"));
    }
    let mut out = vec![];
    let mut e = min_epochs;
    while e < max_epochs {
        out.push(e);
        e = e.saturating_mul(eta);
    }
    out.push(max_epochs);
    Ok(out)
}

/// Trials best first: lower finite scores first, ties by trial id, then the unscored by id.
pub fn ranked(scores: &[(usize, Score)]) -> Vec<usize> {
    let mut v: Vec<(usize, Score)> = scores.iter().map(|&(t, s)| (t, s.filter(|x| x.is_finite()))).collect();
    v.sort_by(|a, b| match (a.1, b.1) {
        (Some(x), Some(y)) => x.total_cmp(&y).then(a.0.cmp(&b.0)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.0.cmp(&b.0),
    });
    v.into_iter().map(|(t, _)| t).collect()
}

/// The trials a rung promotes: the best ⌊n/η⌋ of the n trials in it, scored ones only, best first.
pub fn promote(scores: &[(usize, Score)], eta: usize) -> Vec<usize> {
    let scored: std::collections::HashSet<usize> =
        scores.iter().filter(|(_, s)| s.is_some_and(f64::is_finite)).map(|(t, _)| *t).collect();
    ranked(scores).into_iter().take(scores.len() / eta).filter(|t| scored.contains(t)).collect()
}

/// How many trials each synchronous round trains at most: n, ⌊n/η⌋, ⌊n/η²⌋, … while above zero.
pub fn round_sizes(trials: usize, n_rungs: usize, eta: usize) -> Vec<usize> {
    let mut out = vec![];
    let mut n = trials;
    while n > 0 && out.len() < n_rungs {
        out.push(n);
        n /= eta;
    }
    out
}

/// One unit of work: train `trial` until it has the epochs of `rung`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Job {
    pub trial: usize,
    pub rung: usize,
}

/// What the trial table needs to know from a scheduler.
pub trait Schedule {
    /// Whether the trial was sent to this rung (started, for rung 0; promoted, above).
    fn scheduled(&self, trial: usize, rung: usize) -> bool;
    /// Whether no more trials will be promoted out of this rung.
    fn closed(&self, rung: usize) -> bool;
    /// The highest rung a trial can reach.
    fn final_rung(&self) -> usize;
}

/// Asynchronous successive halving: whenever a worker is free, promote a trial that is in the
/// best 1/η of the trials finished at its rung (highest rungs first), else start a new trial.
/// With one worker this is deterministic; with several, the order of finishing decides.
#[derive(Debug, Clone)]
pub struct Asha {
    eta: usize,
    n_rungs: usize,
    n_trials: usize,
    issued: Vec<Job>,
    results: BTreeMap<Job, Score>,
    resume: VecDeque<Job>,
    finished: bool,
}

impl Asha {
    pub fn new(eta: usize, n_rungs: usize, n_trials: usize) -> Asha {
        Asha {
            eta,
            n_rungs,
            n_trials,
            issued: vec![],
            results: BTreeMap::new(),
            resume: VecDeque::new(),
            finished: false,
        }
    }

    /// Continues a search from the jobs it had issued: `settled` gives the score of a job that
    /// completed (or failed) before the interruption, `None` for one to run again first.
    pub fn restore(&mut self, issued: Vec<Job>, settled: impl Fn(Job) -> Option<Score>) {
        for job in &issued {
            match settled(*job) {
                Some(score) => {
                    self.results.insert(*job, score);
                }
                None => self.resume.push_back(*job),
            }
        }
        self.issued = issued;
    }

    /// Every job issued so far, in order: the record that makes a search resumable.
    pub fn issued(&self) -> &[Job] {
        &self.issued
    }

    /// The next job, or `None` when nothing can start now (the caller waits for running jobs,
    /// and the search is over once none is running).
    pub fn next_job(&mut self) -> Option<Job> {
        if let Some(job) = self.resume.pop_front() {
            return Some(job);
        }
        for rung in (0..self.n_rungs.saturating_sub(1)).rev() {
            let done: Vec<(usize, Score)> =
                self.results.iter().filter(|(j, _)| j.rung == rung).map(|(j, s)| (j.trial, *s)).collect();
            let job = promote(&done, self.eta)
                .into_iter()
                .map(|trial| Job { trial, rung: rung + 1 })
                .find(|j| !self.issued.contains(j));
            if let Some(job) = job {
                self.issued.push(job);
                return Some(job);
            }
        }
        let started = self.issued.iter().filter(|j| j.rung == 0).count();
        if started < self.n_trials {
            let job = Job { trial: started, rung: 0 };
            self.issued.push(job);
            return Some(job);
        }
        None
    }

    pub fn record(&mut self, job: Job, score: Score) {
        self.results.insert(job, score);
    }

    /// Marks the search as over (no job running and none to issue), which closes every rung.
    pub fn finish(&mut self) {
        self.finished = true;
    }
}

impl Schedule for Asha {
    fn scheduled(&self, trial: usize, rung: usize) -> bool {
        self.issued.contains(&Job { trial, rung })
    }

    fn closed(&self, rung: usize) -> bool {
        self.finished || rung + 1 >= self.n_rungs
    }

    fn final_rung(&self) -> usize {
        self.n_rungs - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rungs_grow_by_eta_and_end_at_the_budget() {
        assert_eq!(rungs(3, 27, 3).unwrap(), [3, 9, 27]);
        assert_eq!(rungs(1, 10, 3).unwrap(), [1, 3, 9, 10]);
        assert_eq!(rungs(2, 16, 2).unwrap(), [2, 4, 8, 16]);
        assert_eq!(rungs(5, 5, 3).unwrap(), [5]);
        assert!(rungs(0, 5, 3).is_err());
        assert!(rungs(6, 5, 3).is_err());
        assert!(rungs(1, 5, 1).unwrap_err().contains("eta"));
    }

    #[test]
    fn promotion_takes_the_best_floor_n_over_eta_with_ties_by_id() {
        let s = [
            (0, Some(3.0)),
            (1, Some(1.0)),
            (2, None),
            (3, Some(1.0)),
            (4, Some(2.0)),
            (5, Some(9.0)),
            (6, Some(f64::NAN)),
        ];
        assert_eq!(ranked(&s), [1, 3, 4, 0, 5, 2, 6]);
        assert_eq!(promote(&s, 3), [1, 3]); // ⌊7/3⌋ = 2
        assert_eq!(promote(&s, 2), [1, 3, 4]); // ⌊7/2⌋ = 3
        assert_eq!(promote(&s[..2], 3), Vec::<usize>::new()); // ⌊2/3⌋ = 0
                                                              // Failed trials fill no place: only one of the two promotions has a score.
        assert_eq!(promote(&[(0, None), (1, None), (2, None), (3, Some(5.0))], 2), [3]);
    }

    #[test]
    fn synchronous_rounds_shrink_by_eta() {
        assert_eq!(round_sizes(27, 4, 3), [27, 9, 3, 1]);
        assert_eq!(round_sizes(10, 3, 3), [10, 3, 1]);
        assert_eq!(round_sizes(10, 2, 3), [10, 3]);
        assert_eq!(round_sizes(2, 3, 3), [2]);
    }

    /// Rung scores of six trials; lower is better.
    fn score(job: Job) -> Score {
        let r0 = [5.0, 3.0, 4.0, 1.0, 6.0, 2.0];
        Some(r0[job.trial] - job.rung as f64 * 0.5)
    }

    #[test]
    fn one_worker_promotes_as_computed_by_hand() {
        let mut a = Asha::new(3, 3, 6);
        let mut order = vec![];
        while let Some(job) = a.next_job() {
            order.push((job.trial, job.rung));
            a.record(job, score(job));
        }
        // t0, t1, t2 start; with three in rung 0 the best (t1, 3.0) is promoted; t3 starts and,
        // best of four, is promoted; t4, t5 start; six in rung 0 promote two: t3 and t5; three in
        // rung 1 (t1 2.5, t3 0.5, t5 1.5) promote t3 to the last rung.
        assert_eq!(order, [(0, 0), (1, 0), (2, 0), (1, 1), (3, 0), (3, 1), (4, 0), (5, 0), (5, 1), (3, 2)]);
        a.finish();
        assert!(a.scheduled(3, 2) && !a.scheduled(1, 2) && a.closed(0));
    }

    #[test]
    fn jobs_in_flight_hold_back_promotions_until_they_report() {
        let mut a = Asha::new(3, 2, 3);
        let first: Vec<Job> = (0..3).map(|_| a.next_job().unwrap()).collect();
        assert_eq!(first.iter().map(|j| j.trial).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(a.next_job(), None, "all trials started, none reported: wait");
        a.record(first[2], Some(1.0));
        a.record(first[0], Some(2.0));
        assert_eq!(a.next_job(), None, "⌊2/3⌋ = 0 promotions");
        a.record(first[1], None);
        assert_eq!(a.next_job(), Some(Job { trial: 2, rung: 1 }));
        assert_eq!(a.next_job(), None);
    }

    #[test]
    fn a_restored_search_reruns_unsettled_jobs_first_and_continues_identically() {
        let mut whole = Asha::new(3, 3, 6);
        let mut expected = vec![];
        while let Some(j) = whole.next_job() {
            expected.push(j);
            whole.record(j, score(j));
        }
        // Killed after issuing five jobs, the fifth (t3 rung 0) still running.
        let issued = expected[..5].to_vec();
        let mut resumed = Asha::new(3, 3, 6);
        resumed.restore(issued.clone(), |j| (j != issued[4]).then(|| score(j)));
        let mut order = vec![];
        while let Some(j) = resumed.next_job() {
            order.push(j);
            resumed.record(j, score(j));
        }
        assert_eq!(order[0], issued[4]);
        assert_eq!(order, expected[4..]);
        assert_eq!(resumed.issued(), &expected[..]);
    }
}
