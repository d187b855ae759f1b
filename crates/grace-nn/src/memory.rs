//! The per-task gradient memories of the methods that read the task gradients as vectors (DB-MTL):
//! K flat vectors over the shared parameters, on the model's device and in every checkpoint.

use anyhow::{anyhow, bail};
use grace_core::controller::{Gram, MemoryUpdate, Needs, TaskWeighting};
use tch::{Kind, Tensor};

/// The checkpoint entry holding the memories, a (K, P) tensor.
pub const CHECKPOINT_KEY: &str = "memory.task_gradients";

/// `m_i`, one row per task, moved as [`MemoryUpdate`] says (grace-core's `dbmtl::update_memories`
/// is the same arithmetic in f64).
pub struct GradientMemory {
    rows: Tensor,
}

impl GradientMemory {
    /// Zeros for K tasks over `p` shared values, in the parameters' kind and device.
    pub fn new(k: usize, p: i64, like: &Tensor) -> GradientMemory {
        GradientMemory { rows: Tensor::zeros([k as i64, p], (like.kind(), like.device())) }
    }

    /// The memories a controller needs: `Some` exactly when it declares [`Needs::GradientVectors`].
    pub fn for_controller(controller: &dyn TaskWeighting, p: i64, like: &Tensor) -> Option<GradientMemory> {
        (controller.needs() == Needs::GradientVectors).then(|| GradientMemory::new(controller.n_tasks(), p, like))
    }

    pub fn rows(&self) -> &Tensor {
        &self.rows
    }

    /// The memories after `update` with this step's flat task gradients `grads` (K rows of P),
    /// without changing these: the step commits them only when the controller used them.
    pub fn updated(&self, grads: &[Tensor], update: &MemoryUpdate) -> Tensor {
        tch::no_grad(|| {
            let g = Tensor::stack(grads, 0).to_kind(self.rows.kind());
            let scales = Tensor::from_slice(&update.scales).to_kind(self.rows.kind()).to_device(self.rows.device());
            &self.rows * update.mix + (g * scales.unsqueeze(1)) * (1.0 - update.mix)
        })
    }

    pub fn commit(&mut self, rows: Tensor) {
        self.rows = rows;
    }

    /// `G_ij = m_i·m_j` of (K, P) rows, summed in double precision and read back.
    pub fn gram(rows: &Tensor) -> anyhow::Result<Gram> {
        let k = rows.size()[0] as usize;
        let d = rows.to_kind(Kind::Double);
        let g = d.matmul(&d.transpose(0, 1)).to_device(tch::Device::Cpu).contiguous().view([-1]);
        Ok(Gram::new(k, Vec::<f64>::try_from(&g)?)?)
    }

    /// `Σ_i weights_i·m_i`, a flat vector of P.
    pub fn combine(&self, weights: &[f64]) -> Tensor {
        let w = Tensor::from_slice(weights).to_kind(self.rows.kind()).to_device(self.rows.device());
        tch::no_grad(|| w.unsqueeze(0).matmul(&self.rows).squeeze_dim(0))
    }

    /// Takes the memories of a checkpoint, which must have this shape.
    pub fn restore(&mut self, saved: &Tensor) -> anyhow::Result<()> {
        if saved.size() != self.rows.size() {
            bail!("checkpoint {CHECKPOINT_KEY} has shape {:?}, the run expects {:?}", saved.size(), self.rows.size());
        }
        self.rows = saved.to_kind(self.rows.kind()).to_device(self.rows.device());
        Ok(())
    }

    /// Restores from the checkpoint's tensors, naming the file when the entry is missing.
    pub fn restore_from(
        &mut self,
        tensors: &std::collections::HashMap<String, Tensor>,
        path: &std::path::Path,
    ) -> anyhow::Result<()> {
        let saved = tensors.get(CHECKPOINT_KEY).ok_or_else(|| anyhow!("{} lacks {CHECKPOINT_KEY}", path.display()))?;
        self.restore(saved)
    }
}
