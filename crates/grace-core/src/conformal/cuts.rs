//! Where calibration residuals come from: seeded test-like truncation points of calibration engines
//! (several per engine), under the one cut rule shared with the cut validation figure.

use crate::error::CoreError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One test-like cut: engine `engine` (index into the caller's engine list) observed up to and
/// including its 0-based cycle index `last_cycle`; the tensor side predicts from the window ending
/// there, and the truth is the RUL at that cycle (`length − 1 − last_cycle`, capped as in training).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Cut {
    pub engine: usize,
    pub last_cycle: usize,
}

/// SplitMix64: a tiny, fully specified generator, so cuts stay the same across rand versions and
/// platforms (a stored calibration must be reproducible from its seed alone).
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `0..n` (n ≥ 1) by multiply-high; the bias, n/2⁶⁴, is far below anything measurable.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Uniform in [0, 1) with 53 random bits (the tests' noise).
    #[cfg(test)]
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stream per engine, so one engine's cuts do not depend on how many engines precede it.
fn engine_stream(seed: u64, engine: usize) -> SplitMix64 {
    SplitMix64::new(mix(seed ^ 0x636f_6e66_6f72_6d61) ^ mix(engine as u64 + 1))
}

/// `k` distinct values of `0..m`, ascending (Floyd's algorithm: k draws, no shuffle of all m).
fn distinct_sorted(rng: &mut SplitMix64, m: usize, k: usize) -> Vec<usize> {
    let mut chosen = BTreeSet::new();
    for j in m - k..m {
        let t = rng.below(j + 1);
        if !chosen.insert(t) {
            chosen.insert(j);
        }
    }
    chosen.into_iter().collect()
}

/// The earliest 0-based cycle a test-like cut may end at: the cut keeps at least a tenth of the
/// life (and at least one cycle), as the shortest NASA test engines do (docs/reference.md §5).
/// A cut shorter than the window is front-padded like a short test engine (docs/reference.md §2.6),
/// so cuts are not limited to full windows: test engines are not either. `n_cycles` ≥ 1.
pub fn first_cut(n_cycles: usize) -> usize {
    (n_cycles / 10).max(1).min(n_cycles) - 1
}

/// Test-like cuts of every engine: `cuts_per_engine` distinct last cycles each, drawn uniformly
/// from [`first_cut`] to the engine's last cycle. An engine with fewer possible cuts gives all of
/// them; an empty engine gives none. Pure in its arguments, and one engine's cuts do not depend
/// on the others.
pub fn calibration_cuts(engine_lengths: &[usize], seed: u64, cuts_per_engine: usize) -> Result<Vec<Cut>, CoreError> {
    if cuts_per_engine == 0 {
        return Err(CoreError::invalid("calibration cuts per engine", 0, "≥ 1"));
    }
    let mut cuts = Vec::new();
    for (engine, &n) in engine_lengths.iter().enumerate().filter(|(_, &n)| n > 0) {
        let first = first_cut(n);
        let m = n - first;
        let mut rng = engine_stream(seed, engine);
        let picks = distinct_sorted(&mut rng, m, cuts_per_engine.min(m));
        cuts.extend(picks.into_iter().map(|i| Cut { engine, last_cycle: first + i }));
    }
    Ok(cuts)
}
