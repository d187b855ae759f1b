//! The trainable parameters as views into one contiguous buffer, so the optimizer, the clipping and
//! the weight average are a handful of operations over the whole model instead of a few per tensor.

use tch::{Kind, Tensor};

/// One flat buffer holding parameters in a fixed order, each parameter a view into it.
pub struct FlatParams {
    /// Every parameter's values, one after the other (the order the parameters were given in).
    pub flat: Tensor,
    offsets: Vec<i64>,
    shapes: Vec<Vec<i64>>,
}

impl FlatParams {
    /// Moves `params` into one new buffer and points each of them at its slice of it: every other
    /// handle on the same variable (its VarStore, the model's layers) then sees the buffer too.
    pub fn adopt(params: &[Tensor]) -> FlatParams {
        let shapes: Vec<Vec<i64>> = params.iter().map(|p| p.size()).collect();
        let mut offsets = Vec::with_capacity(params.len());
        let mut total = 0;
        for p in params {
            offsets.push(total);
            total += p.numel() as i64;
        }
        let (kind, device) = params.first().map_or((Kind::Float, tch::Device::Cpu), |p| (p.kind(), p.device()));
        let flat = Tensor::zeros([total], (kind, device));
        let this = FlatParams { flat, offsets, shapes };
        tch::no_grad(|| {
            for (p, mut view) in params.iter().zip(this.views(&this.flat)) {
                view.copy_(p);
                // replaces the variable's storage in place, so autograd still treats it as the same leaf
                p.shallow_clone().set_data(&view);
            }
        });
        this
    }

    /// Number of values in the buffer.
    pub fn numel(&self) -> i64 {
        self.flat.numel() as i64
    }

    /// A buffer laid out like [`FlatParams::flat`] (gradients, moments), as one view per parameter.
    pub fn views(&self, t: &Tensor) -> Vec<Tensor> {
        self.offsets
            .iter()
            .zip(&self.shapes)
            .map(|(&off, shape)| t.narrow(0, off, shape.iter().product()).view(shape.as_slice()))
            .collect()
    }

    /// Per-parameter gradients joined into one buffer laid out like [`FlatParams::flat`].
    pub fn grads_flat(&self, grads: &[Tensor]) -> Tensor {
        let parts: Vec<Tensor> = grads.iter().map(|g| g.reshape([-1])).collect();
        Tensor::cat(&parts, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{trainable, DualTaskModel, ModelConfig};
    use tch::{nn, Device};

    #[test]
    fn adopted_parameters_share_the_buffer_everywhere_and_still_get_gradients() {
        tch::manual_seed(1);
        let vs = nn::VarStore::new(Device::Cpu);
        let model = DualTaskModel::new(&vs.root(), &ModelConfig::small(5));
        let named = trainable(&vs);
        let before: Vec<Tensor> = named.iter().map(|(_, t)| t.detach().copy()).collect();
        let x = Tensor::randn([4, 30, 5], (Kind::Float, Device::Cpu));
        let out_before = model.forward_t(&x, false).rul;
        let tensors: Vec<Tensor> = named.iter().map(|(_, t)| t.shallow_clone()).collect();
        let flat = FlatParams::adopt(&tensors);
        assert_eq!(flat.numel(), before.iter().map(|t| t.numel() as i64).sum::<i64>());
        let vars = vs.variables();
        for ((name, t), b) in named.iter().zip(&before) {
            assert!(t.equal(b) && vars[name].equal(b), "{name} kept its values");
            assert!(vars[name].requires_grad(), "{name} is still trainable");
        }
        assert!(model.forward_t(&x, false).rul.equal(&out_before), "the same function before any change");
        // a change to the buffer reaches the VarStore, `trainable` and the model's forward
        tch::no_grad(|| {
            let _ = flat.flat.shallow_clone().g_mul_scalar_(0.5);
        });
        for ((name, t), b) in trainable(&vs).iter().zip(&before) {
            assert!(t.equal(&(b * 0.5)), "{name} sees the buffer");
        }
        assert!(!model.forward_t(&x, false).rul.equal(&out_before), "the forward sees the buffer");
        // autograd: gradients for every parameter, of their own shapes
        let out = model.forward_t(&x, true);
        let loss = out.rul.square().sum(Kind::Float) + out.logits.square().sum(Kind::Float);
        let grads = Tensor::run_backward(&[loss], &tensors, false, false);
        for ((name, t), g) in named.iter().zip(&grads) {
            assert_eq!(g.size(), t.size(), "{name}");
        }
        let g = flat.grads_flat(&grads);
        assert_eq!(g.size(), [flat.numel()]);
        for (v, g) in flat.views(&g).iter().zip(&grads) {
            assert!(v.equal(g));
        }
        assert!(g.abs().sum(Kind::Float).double_value(&[]) > 0.0);
    }
}
