//! AdamW over an explicit list of parameters and gradients, with its moments as plain tensors.
//! Written here rather than using tch's optimizer because that one keeps its state inside libtorch,
//! out of reach of checkpoints, and exact resume needs the moments saved and restored.

use tch::Tensor;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        // torch.optim.AdamW's defaults except the weight decay, which docs/reference.md §5 sets to 1e-4.
        AdamWConfig { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 1e-4 }
    }
}

/// AdamW over one flat buffer of parameters (see [`crate::flat`]), its moments flat alike.
pub struct AdamW {
    pub config: AdamWConfig,
    /// Number of updates applied so far (bias correction uses it).
    pub step: u64,
    pub exp_avg: Tensor,
    pub exp_avg_sq: Tensor,
}

impl AdamW {
    pub fn new(params: &Tensor, config: AdamWConfig) -> Self {
        AdamW { config, step: 0, exp_avg: params.zeros_like(), exp_avg_sq: params.zeros_like() }
    }

    /// One update, exactly torch.optim.AdamW's (decoupled decay, bias-corrected moments), over the
    /// whole buffer at once: every operation is elementwise, so each value gets the arithmetic a
    /// per-tensor loop would give it.
    pub fn update(&mut self, params: &Tensor, grads: &Tensor, lr: f64) {
        let c = self.config;
        self.step += 1;
        let bc1 = 1.0 - c.beta1.powi(self.step as i32);
        let bc2_sqrt = (1.0 - c.beta2.powi(self.step as i32)).sqrt();
        tch::no_grad(|| {
            let mut p = params.shallow_clone();
            if c.weight_decay != 0.0 {
                let _ = p.g_mul_scalar_(1.0 - lr * c.weight_decay);
            }
            let _ = self.exp_avg.lerp_(grads, 1.0 - c.beta1);
            let _ = self.exp_avg_sq.lerp_(&grads.square(), 1.0 - c.beta2);
            // p −= lr/bc1 · m / (√v/√bc2 + ε), with the step size folded into the denominator
            // so the update is one fused addcdiv and one temporary.
            let mut denom = self.exp_avg_sq.sqrt();
            let _ = denom.g_div_scalar_(bc2_sqrt).g_add_scalar_(c.eps).g_mul_scalar_(-bc1 / lr);
            let _ = p.addcdiv_(&self.exp_avg, &denom);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flat::FlatParams;
    use tch::{Device, Kind};

    /// The per-tensor update this module made before the flat buffer, kept as the oracle.
    fn per_tensor_update(
        c: AdamWConfig,
        step: u64,
        params: &[Tensor],
        grads: &[Tensor],
        m: &mut [Tensor],
        v: &mut [Tensor],
        lr: f64,
    ) {
        let bc1 = 1.0 - c.beta1.powi(step as i32);
        let bc2_sqrt = (1.0 - c.beta2.powi(step as i32)).sqrt();
        tch::no_grad(|| {
            for (i, (p, g)) in params.iter().zip(grads).enumerate() {
                let mut p = p.shallow_clone();
                let _ = p.g_mul_scalar_(1.0 - lr * c.weight_decay);
                let _ = m[i].lerp_(g, 1.0 - c.beta1);
                let _ = v[i].lerp_(&g.square(), 1.0 - c.beta2);
                let mut denom = v[i].sqrt();
                let _ = denom.g_div_scalar_(bc2_sqrt).g_add_scalar_(c.eps).g_mul_scalar_(-bc1 / lr);
                let _ = p.addcdiv_(&m[i], &denom);
            }
        });
    }

    #[test]
    fn first_two_updates_match_the_adamw_formula() {
        // p = 1, g = 0.5 twice, lr 0.1, wd 0.01, β = (0.9, 0.999), ε = 1e-8.
        // step 1: p ← 1·(1 − 0.001) = 0.999; m = 0.05, v = 0.00025; m̂ = 0.5, v̂ = 0.25 → p ← 0.999 − 0.1·0.5/0.5 = 0.899
        // step 2: p ← 0.899·0.999 = 0.898101; m = 0.095, v = 0.00049975; m̂ = 0.5, v̂ = 0.25 → 0.798101
        let p = Tensor::from_slice(&[1.0f64]);
        let g = Tensor::from_slice(&[0.5f64]);
        let cfg = AdamWConfig { weight_decay: 0.01, ..Default::default() };
        let mut opt = AdamW::new(&p, cfg);
        opt.update(&p, &g, 0.1);
        assert!((p.double_value(&[0]) - 0.899).abs() < 1e-7);
        opt.update(&p, &g, 0.1);
        assert!((p.double_value(&[0]) - 0.798101).abs() < 1e-7, "{}", p.double_value(&[0]));
        assert_eq!(opt.step, 2);
    }

    #[test]
    fn updates_over_the_flat_buffer_equal_the_per_tensor_ones_bitwise() {
        tch::manual_seed(7);
        // odd sizes, so tensors start and end off the vector width inside the buffer
        let shapes: [&[i64]; 5] = [&[3, 7], &[1], &[64], &[5, 3, 2], &[33]];
        let init = |s: &&[i64]| Tensor::randn(*s, (Kind::Float, Device::Cpu));
        let oracle: Vec<Tensor> = shapes.iter().map(init).collect();
        let start: Vec<Tensor> = oracle.iter().map(|t| t.copy()).collect();
        let adopted: Vec<Tensor> = oracle.iter().map(|t| t.copy()).collect();
        let flat = FlatParams::adopt(&adopted);
        let c = AdamWConfig { weight_decay: 0.01, ..Default::default() };
        let mut opt = AdamW::new(&flat.flat, c);
        let (mut m, mut v): (Vec<Tensor>, Vec<Tensor>) =
            oracle.iter().map(|t| (t.zeros_like(), t.zeros_like())).unzip();
        for step in 1..=5 {
            let grads: Vec<Tensor> = oracle.iter().map(|t| t.randn_like() * (step as f64)).collect();
            per_tensor_update(c, step, &oracle, &grads, &mut m, &mut v, 1e-3);
            opt.update(&flat.flat, &flat.grads_flat(&grads), 1e-3);
        }
        // bitwise: every operation is elementwise, wherever a value sits in the buffer
        let (m_flat, v_flat) = (flat.views(&opt.exp_avg), flat.views(&opt.exp_avg_sq));
        for (i, (o, f)) in oracle.iter().zip(&adopted).enumerate() {
            assert!(f.equal(o), "tensor {i}: parameters");
            assert!(m_flat[i].equal(&m[i]) && v_flat[i].equal(&v[i]), "tensor {i}: moments");
        }
        assert!(adopted.iter().zip(&start).all(|(a, s)| !a.equal(s)), "every tensor moved");
    }
}
