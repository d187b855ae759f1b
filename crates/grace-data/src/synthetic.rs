//! A deterministic synthetic run-to-failure fleet in C-MAPSS form, for demos and tests without
//! NASA's files: an exponential health index drives the sensors, with per-regime offsets and noise.

use crate::parse::{RawEngine, RawSubset, N_SENSORS};
use crate::subset::CANONICAL_REGIMES;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

/// Name carried by synthetic subsets, so reports can never pass them off as C-MAPSS.
pub const SYNTHETIC_NAME: &str = "SYNTHETIC";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyntheticConfig {
    pub n_train: usize,
    pub n_test: usize,
    /// 1–6: the first n of the six C-MAPSS regimes are flown.
    pub n_conditions: usize,
    pub seed: u64,
    /// Lifetimes are drawn uniformly from this range (cycles, inclusive).
    pub min_life: u32,
    pub max_life: u32,
    /// Multiplies every sensor's noise.
    pub noise: f64,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig { n_train: 80, n_test: 40, n_conditions: 6, seed: 7, min_life: 130, max_life: 360, noise: 1.0 }
    }
}

/// FD001-like healthy sensor levels at sea level (T2, T24, …, W32).
const BASE: [f64; N_SENSORS] = [
    518.67, 642.5, 1589.7, 1408.9, 14.62, 21.61, 553.4, 2388.1, 9065.2, 1.3, 47.5, 521.4, 2388.1, 8143.8, 8.42, 0.03,
    392.0, 2388.0, 100.0, 38.8, 23.3,
];
/// Shift at full degradation; zero for the sensors C-MAPSS leaves flat (1, 5, 6, 10, 16, 18, 19).
const DRIFT: [f64; N_SENSORS] = [
    0.0, 1.6, 12.0, 16.0, 0.0, 0.0, -4.0, 0.25, 15.0, 0.0, 0.9, -3.5, 0.25, 12.0, 0.12, 0.0, 6.0, 0.0, 0.0, -0.9, -0.55,
];
/// Measurement noise σ (NASA's sensors are roughly this noisy relative to their drift).
const NOISE: [f64; N_SENSORS] = [
    0.0, 0.5, 6.0, 9.0, 0.0, 0.001, 0.9, 0.07, 22.0, 0.0, 0.27, 0.74, 0.07, 19.0, 0.04, 0.0, 1.5, 0.0, 0.0, 0.18, 0.11,
];

/// Regime-dependent level: thinner, colder air at altitude and a lower throttle shift every
/// sensor by a sensor-specific fraction, as in FD002/FD004.
fn regime_level(s: usize, r: &[f64; 3]) -> f64 {
    let alt = r[0] / 42.0;
    let thr = (r[2] - 100.0) / 40.0;
    let sens = 0.05 + 0.02 * (s % 5) as f64;
    BASE[s] * (1.0 - sens * alt + 0.5 * sens * thr + 0.03 * r[1])
}

fn engine(unit: u32, life: u32, keep: u32, n_conditions: usize, noise: f64, rng: &mut ChaCha8Rng) -> RawEngine {
    let steep = rng.gen_range(3.0..6.0);
    let wear0 = rng.gen_range(0.0..0.1);
    let sens_gain: Vec<f64> = (0..N_SENSORS).map(|_| rng.gen_range(0.8..1.2)).collect();
    let std_normal = Normal::new(0.0, 1.0).expect("valid normal");
    let mut settings = Vec::with_capacity(keep as usize);
    let mut sensors = Vec::with_capacity(keep as usize);
    for t in 1..=keep {
        let r = CANONICAL_REGIMES[rng.gen_range(0..n_conditions)];
        let s = [r[0] + rng.gen_range(-0.003..0.003), (r[1] + rng.gen_range(-0.0005..0.0005)).max(0.0), r[2]];
        // Health index rises exponentially from a small initial wear to 1 at failure.
        let frac = f64::from(t) / f64::from(life);
        let d = wear0 + (1.0 - wear0) * ((steep * frac).exp() - 1.0) / (steep.exp() - 1.0);
        let mut row = [0.0; N_SENSORS];
        for (k, v) in row.iter_mut().enumerate() {
            *v = regime_level(k, &r) + DRIFT[k] * sens_gain[k] * d + NOISE[k] * noise * std_normal.sample(rng);
        }
        settings.push(s);
        sensors.push(row);
    }
    RawEngine { unit, cycles: keep, settings, sensors }
}

/// Generates the fleet. Training engines run to failure; test engines stop at a random cycle and
/// their `test_rul` is the remaining life. The same config always gives the same fleet.
pub fn fleet(cfg: &SyntheticConfig) -> RawSubset {
    let k = cfg.n_conditions.clamp(1, CANONICAL_REGIMES.len());
    let (lo, hi) = (cfg.min_life.max(2), cfg.max_life.max(cfg.min_life.max(2)));
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let train = (1..=cfg.n_train as u32)
        .map(|u| {
            let life = rng.gen_range(lo..=hi);
            engine(u, life, life, k, cfg.noise, &mut rng)
        })
        .collect();
    let mut test = Vec::with_capacity(cfg.n_test);
    let mut test_rul = Vec::with_capacity(cfg.n_test);
    for u in 1..=cfg.n_test as u32 {
        let life = rng.gen_range(lo..=hi);
        // Cut between 10% and 95% of life, as NASA's test engines are: some shorter than a window.
        let keep = rng.gen_range((life / 10).max(1)..=(life * 95 / 100).max(1));
        test.push(engine(u, life, keep, k, cfg.noise, &mut rng));
        test_rul.push(f64::from(life - keep));
    }
    RawSubset { name: SYNTHETIC_NAME.into(), subset: None, default_conditions: k, train, test, test_rul }
}
