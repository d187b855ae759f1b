//! The synthetic source: a deterministic run-to-failure fleet in the C-MAPSS schema, for demos and
//! tests without NASA's files; an exponential health index drives the sensors, with regime offsets.

use crate::error::DataError;
use crate::parse::{RawEngine, RawSubset};
use crate::schema::{Rows, Schema};
use crate::source::Source;
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

impl SyntheticConfig {
    /// The most rows a generated fleet may have (NASA's largest subset, FD004, has about 100,000).
    pub const MAX_ROWS: u64 = 10_000_000;

    /// A noise that is a finite number ≥ 0 and a fleet of at most [`Self::MAX_ROWS`] rows; beyond
    /// them the sensors would be NaN or the fleet would not fit in memory.
    // `!(x >= 0)` rather than `x < 0` so NaN is rejected too.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    pub fn check(&self) -> Result<(), String> {
        if !(self.noise >= 0.0 && self.noise.is_finite()) {
            return Err(format!("noise {} must be a finite number ≥ 0", self.noise));
        }
        // Lives are drawn up to the larger of the two (the fleet orders them itself).
        let life = u64::from(self.max_life.max(self.min_life));
        let rows = (self.n_train as u64).saturating_add(self.n_test as u64).saturating_mul(life);
        if rows > Self::MAX_ROWS {
            return Err(format!(
                "(n_train {} + n_test {}) engines of up to {life} cycles can be more than {} rows; generate a smaller fleet",
                self.n_train,
                self.n_test,
                Self::MAX_ROWS
            ));
        }
        Ok(())
    }
}

/// How one sensor of the C-MAPSS schema behaves in the fleet.
struct Profile {
    sensor: &'static str,
    /// FD001-like healthy level at sea level.
    base: f64,
    /// Shift at full degradation; zero for the sensors C-MAPSS leaves flat (1, 5, 6, 10, 16, 18, 19).
    drift: f64,
    /// Measurement noise σ (NASA's sensors are roughly this noisy relative to their drift).
    noise: f64,
}

const PROFILES: [Profile; 21] = [
    Profile { sensor: "T2", base: 518.67, drift: 0.0, noise: 0.0 },
    Profile { sensor: "T24", base: 642.5, drift: 1.6, noise: 0.5 },
    Profile { sensor: "T30", base: 1589.7, drift: 12.0, noise: 6.0 },
    Profile { sensor: "T50", base: 1408.9, drift: 16.0, noise: 9.0 },
    Profile { sensor: "P2", base: 14.62, drift: 0.0, noise: 0.0 },
    Profile { sensor: "P15", base: 21.61, drift: 0.0, noise: 0.001 },
    Profile { sensor: "P30", base: 553.4, drift: -4.0, noise: 0.9 },
    Profile { sensor: "Nf", base: 2388.1, drift: 0.25, noise: 0.07 },
    Profile { sensor: "Nc", base: 9065.2, drift: 15.0, noise: 22.0 },
    Profile { sensor: "epr", base: 1.3, drift: 0.0, noise: 0.0 },
    Profile { sensor: "Ps30", base: 47.5, drift: 0.9, noise: 0.27 },
    Profile { sensor: "phi", base: 521.4, drift: -3.5, noise: 0.74 },
    Profile { sensor: "NRf", base: 2388.1, drift: 0.25, noise: 0.07 },
    Profile { sensor: "NRc", base: 8143.8, drift: 12.0, noise: 19.0 },
    Profile { sensor: "BPR", base: 8.42, drift: 0.12, noise: 0.04 },
    Profile { sensor: "farB", base: 0.03, drift: 0.0, noise: 0.0 },
    Profile { sensor: "htBleed", base: 392.0, drift: 6.0, noise: 1.5 },
    Profile { sensor: "Nf_dmd", base: 2388.0, drift: 0.0, noise: 0.0 },
    Profile { sensor: "PCNfR_dmd", base: 100.0, drift: 0.0, noise: 0.0 },
    Profile { sensor: "W31", base: 38.8, drift: -0.9, noise: 0.18 },
    Profile { sensor: "W32", base: 23.3, drift: -0.55, noise: 0.11 },
];

/// The profile of each sensor of `schema`, in its order.
fn profiles(schema: &Schema) -> Vec<&'static Profile> {
    schema
        .sensors()
        .map(|c| PROFILES.iter().find(|p| p.sensor == c.name).expect("the fleet simulates every C-MAPSS sensor"))
        .collect()
}

/// Regime-dependent level of the sensor at position `s`: thinner, colder air at altitude and a
/// lower throttle shift every sensor by a sensor-specific fraction, as in FD002/FD004.
fn regime_level(s: usize, p: &Profile, r: &[f64; 3]) -> f64 {
    let alt = r[0] / 42.0;
    let thr = (r[2] - 100.0) / 40.0;
    let sens = 0.05 + 0.02 * (s % 5) as f64;
    p.base * (1.0 - sens * alt + 0.5 * sens * thr + 0.03 * r[1])
}

/// How the fleet is drawn: the regimes flown, the noise scale and the sensors simulated.
struct Fleet<'a> {
    n_conditions: usize,
    noise: f64,
    sensors: &'a [&'static Profile],
}

fn engine(f: &Fleet, unit: u32, life: u32, keep: u32, rng: &mut ChaCha8Rng) -> RawEngine {
    let steep = rng.gen_range(3.0..6.0);
    let wear0 = rng.gen_range(0.0..0.1);
    let sens_gain: Vec<f64> = f.sensors.iter().map(|_| rng.gen_range(0.8..1.2)).collect();
    let std_normal = Normal::new(0.0, 1.0).expect("valid normal");
    let mut settings = Rows::with_capacity(3, keep as usize);
    let mut sensors = Rows::with_capacity(f.sensors.len(), keep as usize);
    let mut row = vec![0.0; f.sensors.len()];
    for t in 1..=keep {
        let r = CANONICAL_REGIMES[rng.gen_range(0..f.n_conditions)];
        let s = [r[0] + rng.gen_range(-0.003..0.003), (r[1] + rng.gen_range(-0.0005..0.0005)).max(0.0), r[2]];
        // Health index rises exponentially from a small initial wear to 1 at failure.
        let frac = f64::from(t) / f64::from(life);
        let d = wear0 + (1.0 - wear0) * ((steep * frac).exp() - 1.0) / (steep.exp() - 1.0);
        for (k, (v, p)) in row.iter_mut().zip(f.sensors).enumerate() {
            *v = regime_level(k, p, &r) + p.drift * sens_gain[k] * d + p.noise * f.noise * std_normal.sample(rng);
        }
        settings.push(&s);
        sensors.push(&row);
    }
    RawEngine { unit, cycles: keep, settings, sensors, rul: Vec::new() }
}

/// Generates the fleet in the C-MAPSS schema. Training engines run to failure; test engines stop
/// at a random cycle and their `test_rul` is the remaining life. The same config, the same fleet.
pub fn fleet(cfg: &SyntheticConfig) -> RawSubset {
    let schema = Schema::cmapss();
    let sensors = profiles(&schema);
    let k = cfg.n_conditions.clamp(1, CANONICAL_REGIMES.len());
    let f = Fleet { n_conditions: k, noise: cfg.noise, sensors: &sensors };
    let (lo, hi) = (cfg.min_life.max(2), cfg.max_life.max(cfg.min_life.max(2)));
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let train = (1..=cfg.n_train as u32)
        .map(|u| {
            let life = rng.gen_range(lo..=hi);
            engine(&f, u, life, life, &mut rng)
        })
        .collect();
    let mut test = Vec::with_capacity(cfg.n_test);
    let mut test_rul = Vec::with_capacity(cfg.n_test);
    for u in 1..=cfg.n_test as u32 {
        let life = rng.gen_range(lo..=hi);
        // Cut between 10% and 95% of life, as NASA's test engines are: some shorter than a window.
        let keep = rng.gen_range((life / 10).max(1)..=(life * 95 / 100).max(1));
        test.push(engine(&f, u, life, keep, &mut rng));
        test_rul.push(f64::from(life - keep));
    }
    RawSubset { name: SYNTHETIC_NAME.into(), synthetic: true, schema, default_conditions: k, train, test, test_rul }
}

impl Source for SyntheticConfig {
    fn subsets(&self) -> Vec<String> {
        vec![SYNTHETIC_NAME.to_string()]
    }

    fn schema(&self) -> Schema {
        Schema::cmapss()
    }

    /// The fleet is a single data set, so every name gives it: a run config's C-MAPSS subset
    /// has no meaning here and is ignored.
    fn load_subset(&self, _name: &str) -> Result<RawSubset, DataError> {
        self.check().map_err(|m| DataError::Config(format!("data.synthetic: {m}")))?;
        Ok(fleet(self))
    }

    fn origin(&self) -> String {
        "generated in memory".to_string()
    }
}
