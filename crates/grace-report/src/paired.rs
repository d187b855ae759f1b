//! The paired bootstrap over test engines: the difference in RMSE and NASA score between two methods
//! on the same resampled engines, with a seeded percentile confidence interval (docs/benchmark.md).

use anyhow::{bail, ensure};
use grace_core::metrics::nasa_term;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// One method's test losses per engine, each averaged over the seeds being compared.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineLosses {
    /// Mean over seeds of the squared error (ŷ − y)².
    pub squared: Vec<f64>,
    /// Mean over seeds of the NASA cost of the error (docs/reference.md §6).
    pub nasa: Vec<f64>,
}

impl EngineLosses {
    /// `errors[s][e]` is the error ŷ − y of seed s on engine e. The loss is averaged per engine,
    /// not the signed error: the average of signed errors is the error of the seeds' mean
    /// prediction, which would score an ensemble instead of one run.
    pub fn from_errors(errors: &[Vec<f64>]) -> anyhow::Result<EngineLosses> {
        let Some(first) = errors.first() else { bail!("no seed to average over") };
        let engines = first.len();
        ensure!(engines > 0, "no test engine");
        ensure!(errors.iter().all(|e| e.len() == engines), "every seed must score the same engines");
        ensure!(errors.iter().flatten().all(|d| d.is_finite()), "an error is not a finite number");
        let seeds = errors.len() as f64;
        let mean_over_seeds = |loss: &dyn Fn(f64) -> f64| -> Vec<f64> {
            (0..engines).map(|e| errors.iter().map(|s| loss(s[e])).sum::<f64>() / seeds).collect()
        };
        Ok(EngineLosses { squared: mean_over_seeds(&|d| d * d), nasa: mean_over_seeds(&nasa_term) })
    }

    pub fn engines(&self) -> usize {
        self.squared.len()
    }

    /// RMSE over the engines `idx` (repeats count as often as they appear).
    pub fn rmse(&self, idx: &[usize]) -> f64 {
        (idx.iter().map(|&i| self.squared[i]).sum::<f64>() / idx.len() as f64).sqrt()
    }

    /// NASA score over the engines `idx`: a sum, as on the test set.
    pub fn nasa(&self, idx: &[usize]) -> f64 {
        idx.iter().map(|&i| self.nasa[i]).sum()
    }
}

/// How a method compares with the reference on one score (lower is better for both scores).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The whole interval is below 0.
    Better,
    /// The whole interval is above 0.
    Worse,
    /// The interval contains 0.
    NoMeasurableDifference,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::NoMeasurableDifference => "no measurable difference",
        })
    }
}

/// The difference method − reference of one score, with its bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    /// On all engines, as measured.
    pub difference: f64,
    /// Mean of the resampled differences.
    pub bootstrap_mean: f64,
    pub low: f64,
    pub high: f64,
    pub verdict: Verdict,
}

impl Interval {
    fn of(difference: f64, mut resampled: Vec<f64>, level: f64) -> Interval {
        resampled.sort_by(f64::total_cmp);
        let bootstrap_mean = resampled.iter().sum::<f64>() / resampled.len() as f64;
        let tail = (1.0 - level) / 2.0;
        let (low, high) = (percentile(&resampled, tail), percentile(&resampled, 1.0 - tail));
        let verdict = if high < 0.0 {
            Verdict::Better
        } else if low > 0.0 {
            Verdict::Worse
        } else {
            Verdict::NoMeasurableDifference
        };
        Interval { difference, bootstrap_mean, low, high, verdict }
    }

    pub fn width(&self) -> f64 {
        self.high - self.low
    }
}

/// The `q`-quantile of sorted values, linearly interpolated between order statistics.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos.fract());
    match sorted.get(i + 1) {
        Some(next) if frac > 0.0 => sorted[i] + frac * (next - sorted[i]),
        _ => sorted[i],
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BootstrapSettings {
    pub resamples: usize,
    pub seed: u64,
    /// Confidence level of the percentile interval, e.g. 0.95.
    pub level: f64,
}

impl Default for BootstrapSettings {
    fn default() -> Self {
        BootstrapSettings { resamples: 10_000, seed: 0, level: 0.95 }
    }
}

impl BootstrapSettings {
    pub fn check(&self) -> anyhow::Result<()> {
        ensure!(self.resamples >= 1, "--resamples must be at least 1");
        ensure!(self.level > 0.0 && self.level < 1.0, "--level {} must lie strictly between 0 and 1", self.level);
        Ok(())
    }
}

/// Method − reference on the same engines: the scores on all engines and both intervals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairedDifference {
    pub engines: usize,
    pub rmse_method: f64,
    pub rmse_reference: f64,
    pub nasa_method: f64,
    pub nasa_reference: f64,
    pub rmse: Interval,
    pub nasa: Interval,
}

/// Resamples the engines with replacement `resamples` times from a generator seeded with `seed`
/// alone, so every pair of methods on the same engines sees the same resamples.
pub fn paired_bootstrap(
    method: &EngineLosses,
    reference: &EngineLosses,
    s: &BootstrapSettings,
) -> anyhow::Result<PairedDifference> {
    s.check()?;
    let n = method.engines();
    ensure!(n > 0 && reference.engines() == n, "both methods must be scored on the same, non-empty set of engines");
    let all: Vec<usize> = (0..n).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
    let mut idx = vec![0usize; n];
    let (mut d_rmse, mut d_nasa) = (Vec::with_capacity(s.resamples), Vec::with_capacity(s.resamples));
    for _ in 0..s.resamples {
        idx.iter_mut().for_each(|i| *i = rng.gen_range(0..n));
        d_rmse.push(method.rmse(&idx) - reference.rmse(&idx));
        d_nasa.push(method.nasa(&idx) - reference.nasa(&idx));
    }
    let (rm, rr, nm, nr) = (method.rmse(&all), reference.rmse(&all), method.nasa(&all), reference.nasa(&all));
    Ok(PairedDifference {
        engines: n,
        rmse_method: rm,
        rmse_reference: rr,
        nasa_method: nm,
        nasa_reference: nr,
        rmse: Interval::of(rm - rr, d_rmse, s.level),
        nasa: Interval::of(nm - nr, d_nasa, s.level),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic, irregular errors of about ±`scale` cycles for `n` engines.
    fn errors(n: usize, scale: f64, phase: f64) -> Vec<f64> {
        (0..n).map(|e| scale * ((e as f64 * 1.7 + phase).sin() + 0.5 * (e as f64 * 0.37 + 2.0 * phase).cos())).collect()
    }

    fn losses(seeds: &[Vec<f64>]) -> EngineLosses {
        EngineLosses::from_errors(seeds).unwrap()
    }

    fn settings(resamples: usize, seed: u64) -> BootstrapSettings {
        BootstrapSettings { resamples, seed, level: 0.95 }
    }

    #[test]
    fn seeds_are_averaged_per_engine_as_losses() {
        // Engine 0 is 10 cycles late in seed 0 and 10 early in seed 1; its signed mean would be 0.
        let l = losses(&[vec![10.0, 0.0], vec![-10.0, 0.0]]);
        assert_eq!(l.squared, vec![100.0, 0.0]);
        let nasa0 = ((1f64).exp() - 1.0 + (10.0f64 / 13.0).exp() - 1.0) / 2.0;
        assert!((l.nasa[0] - nasa0).abs() < 1e-12 && l.nasa[1] == 0.0);
        assert!((l.rmse(&[0, 1]) - 50f64.sqrt()).abs() < 1e-12);
        assert!((l.rmse(&[0, 0, 1]) - (200.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((l.nasa(&[0, 0]) - 2.0 * nasa0).abs() < 1e-12);
        assert!(EngineLosses::from_errors(&[vec![1.0], vec![1.0, 2.0]]).is_err());
        assert!(EngineLosses::from_errors(&[vec![f64::NAN]]).is_err());
    }

    #[test]
    fn a_known_difference_is_detected_in_both_directions() {
        let reference = losses(&[errors(60, 20.0, 0.0), errors(60, 20.0, 1.0)]);
        let method = losses(&[errors(60, 12.0, 0.0), errors(60, 12.0, 1.0)]);
        let d = paired_bootstrap(&method, &reference, &settings(2000, 0)).unwrap();
        // Every engine's error shrinks by 40%, so RMSE does exactly: the measured difference is −0.4 × reference.
        assert!((d.rmse.difference + 0.4 * d.rmse_reference).abs() < 1e-9);
        assert_eq!((d.rmse.verdict, d.nasa.verdict), (Verdict::Better, Verdict::Better));
        assert!(d.rmse.low <= d.rmse.difference && d.rmse.difference <= d.rmse.high);
        let back = paired_bootstrap(&reference, &method, &settings(2000, 0)).unwrap();
        assert_eq!(back.rmse.verdict, Verdict::Worse);
        // The same resamples, read the other way round: the interval is mirrored.
        assert!((back.rmse.low + d.rmse.high).abs() < 1e-9 && (back.nasa.high + d.nasa.low).abs() < 1e-9);
    }

    #[test]
    fn identical_methods_give_an_interval_around_zero() {
        let a = losses(&[errors(40, 15.0, 0.3)]);
        let d = paired_bootstrap(&a, &a.clone(), &settings(500, 3)).unwrap();
        assert_eq!((d.rmse.low, d.rmse.high, d.nasa.low, d.nasa.high), (0.0, 0.0, 0.0, 0.0));
        assert_eq!(d.rmse.verdict, Verdict::NoMeasurableDifference);
        // Two methods that differ only by which engines they get wrong: no measurable difference.
        let shuffled: Vec<f64> = errors(40, 15.0, 0.3).into_iter().rev().collect();
        let d = paired_bootstrap(&a, &losses(&[shuffled]), &settings(2000, 3)).unwrap();
        assert!(d.rmse.difference.abs() < 1e-9, "same errors, other engines: same RMSE");
        assert!(d.rmse.low < 0.0 && d.rmse.high > 0.0, "{:?}", d.rmse);
        assert_eq!(d.nasa.verdict, Verdict::NoMeasurableDifference);
    }

    #[test]
    fn the_interval_narrows_with_more_engines() {
        let width = |n: usize| {
            let a = losses(&[errors(n, 20.0, 0.0)]);
            let b = losses(&[errors(n, 20.0, 2.0)]);
            paired_bootstrap(&a, &b, &settings(2000, 1)).unwrap().rmse.width()
        };
        let (few, many) = (width(20), width(320));
        // 16× the engines: about a quarter of the width (1/√16).
        assert!(many < 0.45 * few && many > 0.1 * few, "20 engines: {few}, 320 engines: {many}");
    }

    #[test]
    fn a_fixed_seed_gives_the_same_interval_and_another_seed_another() {
        let a = losses(&[errors(30, 20.0, 0.0), errors(30, 18.0, 0.5)]);
        let b = losses(&[errors(30, 16.0, 1.0), errors(30, 21.0, 1.5)]);
        let run = |seed| paired_bootstrap(&a, &b, &settings(300, seed)).unwrap();
        assert_eq!(run(7), run(7));
        assert_ne!(run(7).rmse.low, run(8).rmse.low);
        assert_eq!(run(7).rmse.difference, run(8).rmse.difference, "the measured difference does not resample");
    }

    #[test]
    fn percentiles_interpolate_and_settings_are_checked() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!((percentile(&v, 0.0), percentile(&v, 0.5), percentile(&v, 1.0)), (1.0, 3.0, 5.0));
        assert!((percentile(&v, 0.025) - 1.1).abs() < 1e-12);
        assert!(BootstrapSettings { level: 1.0, ..Default::default() }.check().is_err());
        assert!(BootstrapSettings { resamples: 0, ..Default::default() }.check().is_err());
        let a = losses(&[vec![1.0]]);
        assert!(paired_bootstrap(&a, &losses(&[vec![1.0, 2.0]]), &settings(10, 0)).is_err());
    }
}
