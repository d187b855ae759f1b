//! Where trial i sits in the unit cube: independent uniform draws, or point i of a scrambled
//! Sobol or Halton sequence. A point depends only on (sampler, seed, i), never on timing.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sampler {
    Random,
    Sobol,
    Halton,
}

impl std::str::FromStr for Sampler {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        crate::parse_name(s, "sampler", "random, sobol or halton")
    }
}

impl std::fmt::Display for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::name_of(self))
    }
}

/// Primitive polynomials (with both end bits, so degree = bit length − 1) and initial direction
/// numbers m₁…m_s of Sobol dimensions 2–32: Joe and Kuo's table (new-joe-kuo-6.21201).
/// Dimension 1 is the van der Corput sequence.
const SOBOL_DIRECTIONS: [(u32, &[u32]); 31] = [
    (3, &[1]),
    (7, &[1, 3]),
    (11, &[1, 3, 1]),
    (13, &[1, 1, 1]),
    (19, &[1, 1, 3, 3]),
    (25, &[1, 3, 5, 13]),
    (37, &[1, 1, 5, 5, 17]),
    (41, &[1, 1, 5, 5, 5]),
    (47, &[1, 1, 7, 11, 19]),
    (55, &[1, 1, 5, 1, 1]),
    (59, &[1, 1, 1, 3, 11]),
    (61, &[1, 3, 5, 5, 31]),
    (67, &[1, 3, 3, 9, 7, 49]),
    (91, &[1, 1, 1, 15, 21, 21]),
    (97, &[1, 3, 1, 13, 27, 49]),
    (103, &[1, 1, 1, 15, 7, 5]),
    (109, &[1, 3, 1, 15, 13, 25]),
    (115, &[1, 1, 5, 5, 19, 61]),
    (131, &[1, 3, 7, 11, 23, 15, 103]),
    (137, &[1, 3, 7, 13, 13, 15, 69]),
    (143, &[1, 1, 3, 13, 7, 35, 63]),
    (145, &[1, 3, 5, 9, 1, 25, 53]),
    (157, &[1, 3, 1, 13, 9, 35, 107]),
    (167, &[1, 3, 1, 5, 27, 61, 31]),
    (171, &[1, 1, 5, 11, 19, 41, 61]),
    (185, &[1, 3, 5, 3, 3, 13, 69]),
    (191, &[1, 1, 7, 13, 1, 19, 1]),
    (193, &[1, 3, 7, 5, 13, 19, 59]),
    (203, &[1, 1, 3, 9, 25, 29, 41]),
    (211, &[1, 3, 5, 13, 23, 1, 55]),
    (213, &[1, 3, 7, 3, 13, 59, 17]),
];

/// The stream of the scrambling draws; trial streams are the trial indices, far below it.
const SCRAMBLE_STREAM: u64 = u64::MAX;

impl Sampler {
    pub fn max_dims(self) -> usize {
        match self {
            Sampler::Sobol => SOBOL_DIRECTIONS.len() + 1,
            Sampler::Random | Sampler::Halton => usize::MAX,
        }
    }

    pub fn check(self, dims: usize) -> Result<(), String> {
        if dims > self.max_dims() {
            return Err(format!("the {self} sampler handles at most {} keys; the space has {dims}", self.max_dims()));
        }
        Ok(())
    }

    /// Point `index` of the seeded sequence, one coordinate in [0, 1) per dimension.
    pub fn point(self, seed: u64, index: u64, dims: usize) -> Vec<f64> {
        match self {
            Sampler::Random => {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(index);
                (0..dims).map(|_| rng.gen::<f64>()).collect()
            }
            Sampler::Sobol => {
                let shifts: Vec<u32> =
                    scramble_rng(seed).sample_iter(rand::distributions::Standard).take(dims).collect();
                (0..dims).map(|j| (sobol(index, j) ^ shifts[j]) as f64 / 4_294_967_296.0).collect()
            }
            Sampler::Halton => {
                let mut rng = scramble_rng(seed);
                primes(dims)
                    .into_iter()
                    .map(|b| {
                        let mut perm: Vec<u64> = (0..b).collect();
                        perm.shuffle(&mut rng);
                        radical_inverse(index, b, &perm)
                    })
                    .collect()
            }
        }
    }
}

fn scramble_rng(seed: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(SCRAMBLE_STREAM);
    rng
}

/// The 32 direction numbers v₀…v₃₁ of Sobol dimension `dim` (0-based), left-aligned in 32 bits.
fn directions(dim: usize) -> [u32; 32] {
    let mut v = [0u32; 32];
    if dim == 0 {
        for (k, vk) in v.iter_mut().enumerate() {
            *vk = 1 << (31 - k);
        }
        return v;
    }
    let (poly, m) = SOBOL_DIRECTIONS[dim - 1];
    let s = m.len();
    for k in 0..32 {
        v[k] = if k < s {
            m[k] << (31 - k)
        } else {
            // Bratley and Fox's recurrence over the polynomial's inner coefficients a₁…a_{s−1}.
            let mut x = v[k - s] ^ (v[k - s] >> s);
            for l in 1..s {
                if (poly >> (s - l)) & 1 == 1 {
                    x ^= v[k - l];
                }
            }
            x
        };
    }
    v
}

/// Coordinate `dim` of Sobol point `index` in Gray-code order, as a 32-bit fraction.
fn sobol(index: u64, dim: usize) -> u32 {
    let v = directions(dim);
    let gray = index ^ (index >> 1);
    (0..32).filter(|b| (gray >> b) & 1 == 1).fold(0, |x, b| x ^ v[b])
}

/// The digits of `index` in base `b`, each mapped through `perm`, mirrored behind the radix
/// point. All digit positions that 32-bit indices use are permuted (leading zeros included), so
/// the first bᵏ points still fall one in each interval of width b⁻ᵏ.
fn radical_inverse(index: u64, b: u64, perm: &[u64]) -> f64 {
    // Integer digits, one division at the end: boundaries such as 26/27 come out exact.
    let (mut i, mut numerator, mut denominator) = (index, 0u128, 1u128);
    while denominator < 1 << 32 {
        numerator = numerator * b as u128 + perm[(i % b) as usize] as u128;
        denominator *= b as u128;
        i /= b;
    }
    numerator as f64 / denominator as f64
}

fn primes(n: usize) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::with_capacity(n);
    let mut c = 2;
    while out.len() < n {
        if out.iter().take_while(|p| *p * *p <= c).all(|p| c % p != 0) {
            out.push(c);
        }
        c += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(s: Sampler, seed: u64, n: u64, dims: usize) -> Vec<Vec<f64>> {
        (0..n).map(|i| s.point(seed, i, dims)).collect()
    }

    /// Each of the `cells` equal intervals of [0, 1) holds exactly one of the values.
    fn one_per_cell(values: impl Iterator<Item = f64>, cells: usize) -> bool {
        let mut count = vec![0; cells];
        for v in values {
            // Products such as (7/27)·27 may round just below 7.
            count[(v * cells as f64 + 1e-9) as usize] += 1;
        }
        count.iter().all(|&c| c == 1)
    }

    /// Warnock's closed form of the squared L2 star discrepancy.
    fn l2_star_discrepancy_sq(p: &[Vec<f64>]) -> f64 {
        let (n, d) = (p.len() as f64, p[0].len() as i32);
        let single: f64 = p.iter().map(|x| x.iter().map(|v| 1.0 - v * v).product::<f64>()).sum();
        let pairs: f64 = p
            .iter()
            .flat_map(|x| p.iter().map(move |y| x.iter().zip(y).map(|(a, b)| 1.0 - a.max(*b)).product::<f64>()))
            .sum();
        3f64.powi(-d) - 2f64.powi(1 - d) / n * single + pairs / (n * n)
    }

    #[test]
    fn the_same_seed_gives_the_same_points_and_another_seed_others() {
        for s in [Sampler::Random, Sampler::Sobol, Sampler::Halton] {
            assert_eq!(points(s, 7, 20, 5), points(s, 7, 20, 5));
            assert_ne!(points(s, 7, 20, 5), points(s, 8, 20, 5));
            // Coordinate j does not depend on how many keys follow it.
            assert_eq!(s.point(7, 3, 2)[..], s.point(7, 3, 5)[..2]);
            assert!(points(s, 1, 50, 4).iter().flatten().all(|u| (0.0..1.0).contains(u)));
        }
    }

    #[test]
    fn unscrambled_sobol_matches_the_published_sequence() {
        // The first eight points of dimensions 1–4 (Gray-code order).
        let expected = [
            [0.0, 0.0, 0.0, 0.0],
            [0.5, 0.5, 0.5, 0.5],
            [0.75, 0.25, 0.25, 0.25],
            [0.25, 0.75, 0.75, 0.75],
            [0.375, 0.375, 0.625, 0.875],
            [0.875, 0.875, 0.125, 0.375],
            [0.625, 0.125, 0.875, 0.625],
            [0.125, 0.625, 0.375, 0.125],
        ];
        for (i, row) in expected.iter().enumerate() {
            for (j, &x) in row.iter().enumerate() {
                assert_eq!(sobol(i as u64, j) as f64 / 4_294_967_296.0, x, "point {i}, dimension {j}");
            }
        }
    }

    #[test]
    fn scrambled_sobol_stays_stratified() {
        for seed in 0..4 {
            let p = points(Sampler::Sobol, seed, 64, Sampler::Sobol.max_dims());
            for j in 0..p[0].len() {
                assert!(one_per_cell(p.iter().map(|x| x[j]), 64), "seed {seed}, dimension {j}");
            }
            // The first two dimensions form a (0, 6, 2)-net: one point in each 8 × 8 and 2 × 32 box.
            for (rows, cols) in [(8, 8), (2, 32), (32, 2)] {
                let cell = |x: &Vec<f64>| (x[0] * rows as f64) as usize * cols + (x[1] * cols as f64) as usize;
                assert!(one_per_cell(p.iter().map(|x| (cell(x) as f64 + 0.5) / 64.0), 64), "{rows}×{cols}");
            }
        }
    }

    #[test]
    fn scrambled_halton_stays_stratified_per_base() {
        assert_eq!(primes(5), [2, 3, 5, 7, 11]);
        let identity = |b: u64| (0..b).collect::<Vec<_>>();
        assert_eq!(radical_inverse(5, 2, &identity(2)), 0.625);
        assert!((radical_inverse(5, 3, &identity(3)) - 7.0 / 9.0).abs() < 1e-15);
        for seed in 0..4 {
            let p = points(Sampler::Halton, seed, 125, 3);
            assert!(one_per_cell(p[..64].iter().map(|x| x[0]), 64));
            assert!(one_per_cell(p[..27].iter().map(|x| x[1]), 27));
            assert!(one_per_cell(p[..125].iter().map(|x| x[2]), 125));
        }
    }

    #[test]
    fn quasi_random_points_are_more_even_than_random_ones() {
        let (n, d) = (128, 4);
        // Expected squared L2 star discrepancy of n independent uniform points.
        let random_expected = (2f64.powi(-d) - 3f64.powi(-d)) / n as f64;
        for seed in 0..3 {
            for s in [Sampler::Sobol, Sampler::Halton] {
                let t2 = l2_star_discrepancy_sq(&points(s, seed, n as u64, d as usize));
                assert!(t2 < 0.25 * random_expected, "{s} seed {seed}: {t2} vs random {random_expected}");
            }
            let r = l2_star_discrepancy_sq(&points(Sampler::Random, seed, n as u64, d as usize));
            assert!(r > 0.25 * random_expected, "random seed {seed}: {r}");
        }
    }

    #[test]
    fn sobol_refuses_more_keys_than_its_table() {
        assert!(Sampler::Sobol.check(32).is_ok());
        assert!(Sampler::Sobol.check(33).unwrap_err().contains("at most 32"));
        assert!(Sampler::Halton.check(100).is_ok());
        assert_eq!("sobol".parse::<Sampler>().unwrap(), Sampler::Sobol);
        assert!("tpe".parse::<Sampler>().is_err());
    }
}
