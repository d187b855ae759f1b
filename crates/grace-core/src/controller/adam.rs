//! A plain Adam optimiser over a few f64 scalars, for the controllers whose task weights are
//! learned (uncertainty, gradnorm); no tensors, so the update is exact and checkpointable.

use serde::{Deserialize, Serialize};

/// Adam as in PyTorch's `torch.optim.Adam` without weight decay: β₁ = 0.9, β₂ = 0.999, ε = 1e-8.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// First and second moment estimates, one per parameter.
    pub m: Vec<f64>,
    pub v: Vec<f64>,
    /// Number of updates made (the bias correction uses it).
    pub t: u64,
}

impl Adam {
    pub fn new(n: usize, lr: f64) -> Adam {
        Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, m: vec![0.0; n], v: vec![0.0; n], t: 0 }
    }

    /// `p_i −= lr · m̂_i / (√v̂_i + ε)` with bias-corrected moments.
    pub fn update(&mut self, params: &mut [f64], grads: &[f64]) {
        self.t += 1;
        let c1 = 1.0 - self.beta1.powi(self.t.min(i32::MAX as u64) as i32);
        let c2 = 1.0 - self.beta2.powi(self.t.min(i32::MAX as u64) as i32);
        for i in 0..params.len() {
            let g = grads[i];
            self.m[i] = self.beta1 * self.m[i] + (1.0 - self.beta1) * g;
            self.v[i] = self.beta2 * self.v[i] + (1.0 - self.beta2) * g * g;
            let (mh, vh) = (self.m[i] / c1, self.v[i] / c2);
            params[i] -= self.lr * mh / (vh.sqrt() + self.eps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_two_steps_by_hand() {
        // Step 1: m̂ = g, v̂ = g², so Δ = −lr·g/(|g| + ε): with g = 4, lr = 0.1 → −0.1·4/(4 + 1e-8).
        let mut a = Adam::new(1, 0.1);
        let mut p = [1.0];
        a.update(&mut p, &[4.0]);
        assert!((p[0] - (1.0 - 0.4 / (4.0 + 1e-8))).abs() < 1e-15);
        // Step 2 with g = −2: m = 0.9·0.4 + 0.1·(−2) = 0.16, v = 0.999·0.016 + 0.001·4 = 0.019984;
        // m̂ = 0.16/0.19 = 0.842105…, v̂ = 0.019984/0.001999 = 9.996998…, √v̂ = 3.161803…, Δ = −0.1·0.842105/3.161803 = −0.0266337
        let before = p[0];
        a.update(&mut p, &[-2.0]);
        let mh = 0.16 / (1.0 - 0.81);
        let vh = 0.019984 / (1.0 - 0.999f64 * 0.999);
        assert!((p[0] - (before - 0.1 * mh / (vh.sqrt() + 1e-8))).abs() < 1e-14);
        assert!((p[0] - (before - 0.026_633_7)).abs() < 1e-6);
    }
}
