//! Random truncation of training trajectories (docs/reference.md §5): a share of each epoch's windows
//! end at test-like cuts of the training engines, so training windows follow the test set's last windows.

use crate::split::WindowRef;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// Where test-like cuts of one engine may end: 0-based last cycles `first..n_cycles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutSpan {
    pub engine: u32,
    pub first: u32,
    pub n_cycles: u32,
}

/// The cut spans of every non-empty engine, given the cut rule `first_cut` (the first cycle a cut
/// may end at, for an engine of n cycles): the caller passes the rule shared with the validation
/// and calibration cuts, so this crate does not restate it.
pub fn cut_spans(engine_lengths: &[usize], first_cut: impl Fn(usize) -> usize) -> Vec<CutSpan> {
    engine_lengths
        .iter()
        .enumerate()
        .filter(|(_, &n)| n > 0)
        .map(|(e, &n)| CutSpan { engine: e as u32, first: first_cut(n).min(n - 1) as u32, n_cycles: n as u32 })
        .collect()
}

/// The windows of one epoch with a share `share` (in [0, 1]) of them replaced by test-like cuts.
/// `windows` is the epoch's order of full windows (already shuffled and subsampled); the first
/// round((1 − share)·m) of them stay, and the rest of the m places go to cuts, each from an engine
/// drawn uniformly from `spans` and a last cycle drawn uniformly from its span; the mix is then
/// shuffled. Drawn from (seed, epoch) alone, so a resumed run draws the same. Share 0 (or no
/// spans) returns `windows` untouched.
pub fn truncated_epoch(
    windows: Vec<WindowRef>,
    spans: &[CutSpan],
    share: f64,
    seed: u64,
    epoch: usize,
) -> Vec<WindowRef> {
    let m = windows.len();
    let cuts = ((share * m as f64).round() as usize).min(m);
    if cuts == 0 || spans.is_empty() {
        return windows;
    }
    // A generator of its own, apart from the epoch's shuffle and the libtorch generator: one
    // ChaCha stream per epoch.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x7472_756e_6361_7465);
    rng.set_stream(epoch as u64);
    let mut order = windows;
    order.truncate(m - cuts);
    order.extend((0..cuts).map(|_| {
        let s = spans[rng.gen_range(0..spans.len())];
        WindowRef { engine: s.engine, end: rng.gen_range(s.first..s.n_cycles) }
    }));
    order.shuffle(&mut rng);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cut rule of grace-core (`conformal::first_cut`), restated for these tests only.
    fn tenth(n: usize) -> usize {
        (n / 10).max(1).min(n) - 1
    }

    /// 100 full windows of an engine (99) that no span names, so cuts are told apart by engine.
    fn full() -> Vec<WindowRef> {
        (0..100).map(|end| WindowRef { engine: 99, end }).collect()
    }

    fn spans() -> Vec<CutSpan> {
        cut_spans(&[200, 0, 35, 5], tenth)
    }

    #[test]
    fn spans_follow_the_cut_rule_and_skip_empty_engines() {
        let want = [
            CutSpan { engine: 0, first: 19, n_cycles: 200 },
            CutSpan { engine: 2, first: 2, n_cycles: 35 },
            CutSpan { engine: 3, first: 0, n_cycles: 5 },
        ];
        assert_eq!(spans(), want);
    }

    #[test]
    fn share_zero_is_the_epoch_as_it_was() {
        assert_eq!(truncated_epoch(full(), &spans(), 0.0, 3, 5), full());
        assert_eq!(truncated_epoch(full(), &[], 0.5, 3, 5), full(), "no engine to cut");
        // 0.004 of 100 windows rounds to no cut at all
        assert_eq!(truncated_epoch(full(), &spans(), 0.004, 3, 5), full());
    }

    #[test]
    fn share_one_gives_only_cuts_within_their_engines_spans() {
        let spans = spans();
        let got = truncated_epoch(full(), &spans, 1.0, 3, 5);
        assert_eq!(got.len(), 100);
        for w in &got {
            let s = spans.iter().find(|s| s.engine == w.engine).unwrap_or_else(|| panic!("{w:?} is no cut"));
            assert!((s.first..s.n_cycles).contains(&w.end), "{w:?} outside {s:?}");
        }
        // engines drawn uniformly: each of the three gets about a third of 100 (binomial sd ≈ 4.7)
        for s in &spans {
            let k = got.iter().filter(|w| w.engine == s.engine).count();
            assert!((15..=52).contains(&k), "engine {}: {k} cuts", s.engine);
        }
        // last cycles spread over engine 0's span 19..200, not piled at its end
        let ends: Vec<u32> = got.iter().filter(|w| w.engine == 0).map(|w| w.end).collect();
        assert!(ends.iter().any(|&e| e < 100) && ends.iter().any(|&e| e >= 100), "{ends:?}");
    }

    #[test]
    fn a_share_keeps_the_count_and_the_first_full_windows() {
        let got = truncated_epoch(full(), &spans(), 0.25, 3, 5);
        assert_eq!(got.len(), 100, "the epoch's window count stays");
        let mut kept: Vec<u32> = got.iter().filter(|w| w.engine == 99).map(|w| w.end).collect();
        kept.sort_unstable();
        assert_eq!(kept, (0..75).collect::<Vec<u32>>(), "the first 75 full windows, each once");
        // mixed: the cuts are not all at the end of the epoch
        let first_cut = got.iter().position(|w| w.engine != 99).unwrap();
        assert!(first_cut < 75, "cuts begin at {first_cut}");
        // 0.333 of 10 windows: round(3.33) = 3 cuts
        let ten = full()[..10].to_vec();
        assert_eq!(truncated_epoch(ten, &spans(), 0.333, 3, 5).iter().filter(|w| w.engine != 99).count(), 3);
    }

    #[test]
    fn the_draw_depends_on_seed_and_epoch_only() {
        let a = truncated_epoch(full(), &spans(), 0.5, 3, 5);
        assert_eq!(a, truncated_epoch(full(), &spans(), 0.5, 3, 5), "the same (seed, epoch), the same draw");
        assert_ne!(a, truncated_epoch(full(), &spans(), 0.5, 3, 6), "another epoch, another draw");
        assert_ne!(a, truncated_epoch(full(), &spans(), 0.5, 4, 5), "another seed, another draw");
    }
}
