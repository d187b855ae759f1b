//! Checkpoints: live weights, averaged weights, optimizer moments and the run's counters and
//! controller state in one safetensors file, replaced atomically at the end of every epoch.

use crate::io::write_atomic;
use crate::train::Trainer;
use anyhow::{anyhow, Context};
use grace_core::rundir::{BEST_FILE, CHECKPOINT_FILE};
use std::path::Path;
use tch::{nn, Kind, Tensor};

pub const STATE_KEY: &str = "__state_json";

/// Writes `tensors` plus a JSON document (stored as a u8 tensor, so the checkpoint is one file).
pub fn save(path: &Path, tensors: Vec<(String, Tensor)>, state: &serde_json::Value) -> anyhow::Result<()> {
    let json = serde_json::to_vec(state)?;
    let mut all = tensors;
    all.push((STATE_KEY.to_string(), Tensor::from_slice(&json)));
    // safetensors wants contiguous CPU tensors.
    let all: Vec<(String, Tensor)> =
        all.into_iter().map(|(n, t)| (n, t.to_device(tch::Device::Cpu).contiguous())).collect();
    write_atomic(path, |tmp| {
        Tensor::write_safetensors(&all, tmp).map_err(|e| anyhow!("writing checkpoint {}: {e}", tmp.display()))?;
        crate::fault::point("checkpoint");
        Ok(())
    })
}

/// The name of the first tensor holding NaN or an infinity, in name order.
pub fn first_non_finite<'a>(tensors: impl IntoIterator<Item = (&'a String, &'a Tensor)>) -> Option<&'a str> {
    let mut bad: Vec<&str> = tensors
        .into_iter()
        .filter(|(_, t)| t.is_floating_point() && t.isfinite().logical_not().any().int64_value(&[]) != 0)
        .map(|(n, _)| n.as_str())
        .collect();
    bad.sort_unstable();
    bad.first().copied()
}

pub struct Loaded {
    pub tensors: std::collections::HashMap<String, Tensor>,
    pub state: serde_json::Value,
}

pub fn load(path: &Path) -> anyhow::Result<Loaded> {
    let list = crate::weights::read(path)?;
    let mut tensors: std::collections::HashMap<String, Tensor> = list.into_iter().collect();
    let raw = tensors
        .remove(STATE_KEY)
        .ok_or_else(|| anyhow!("{} is not a grace checkpoint (no {STATE_KEY})", path.display()))?;
    let bytes: Vec<u8> = Vec::try_from(&raw.to_kind(Kind::Uint8))?;
    let state = serde_json::from_slice(&bytes).with_context(|| format!("state in {}", path.display()))?;
    Ok(Loaded { tensors, state })
}

/// Named copies of every variable of `vs` (weights and batch-norm statistics) under `prefix`.
pub fn named_vars(vs: &nn::VarStore, prefix: &str) -> Vec<(String, Tensor)> {
    let mut v: Vec<_> = vs.variables().into_iter().map(|(n, t)| (format!("{prefix}{n}"), t.detach().copy())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Copies tensors named `prefix + variable name` into `vs`; every variable must be present.
pub fn restore_vars(
    vs: &nn::VarStore,
    tensors: &std::collections::HashMap<String, Tensor>,
    prefix: &str,
) -> anyhow::Result<()> {
    tch::no_grad(|| {
        for (name, mut var) in vs.variables() {
            let key = format!("{prefix}{name}");
            let src = tensors.get(&key).ok_or_else(|| anyhow!("checkpoint lacks {key}"))?;
            if src.size() != var.size() {
                anyhow::bail!("checkpoint {key} has shape {:?}, the model expects {:?}", src.size(), var.size());
            }
            var.copy_(src);
        }
        Ok(())
    })
}

impl Trainer {
    /// Everything a resumed run needs: both weight sets, the optimizer moments, the counters and
    /// the controller's state (with its task-gradient memories, for a method that keeps them).
    pub(crate) fn save_checkpoint(&self) -> anyhow::Result<()> {
        let mut tensors = named_vars(&self.vs, "model.");
        tensors.extend(named_vars(&self.ema_vs, "ema."));
        // per tensor (views of the flat moments): the format checkpoints had before the flat buffer
        let (exp_avg, exp_avg_sq) = (self.flat.views(&self.opt.exp_avg), self.flat.views(&self.opt.exp_avg_sq));
        for (i, (m, v)) in exp_avg.iter().zip(&exp_avg_sq).enumerate() {
            tensors.push((format!("opt.exp_avg.{}", self.params.names[i]), m.copy()));
            tensors.push((format!("opt.exp_avg_sq.{}", self.params.names[i]), v.copy()));
        }
        if let Some(memory) = &self.memory {
            tensors.push((crate::memory::CHECKPOINT_KEY.to_string(), memory.rows().copy()));
        }
        let state = serde_json::json!({
            "progress": self.progress,
            "optimizer_step": self.opt.step,
            "controller": self.controller.state(),
            // Randomness is re-seeded from (seed, epoch) at every epoch start, so the epoch counter
            // is the whole RNG state a resumed run needs.
            "rng": {"seed": self.cfg.train.seed, "next_epoch": self.progress.epoch},
        });
        save(&self.dir.join(CHECKPOINT_FILE), tensors, &state)
    }

    pub(crate) fn restore_checkpoint(&mut self) -> anyhow::Result<()> {
        let path = self.dir.join(CHECKPOINT_FILE);
        let ck = load(&path)?;
        // A checkpoint of NaN weights would resume into a run that never improves again and quietly
        // reports an earlier epoch as its best.
        if let Some(name) = first_non_finite(&ck.tensors) {
            anyhow::bail!(
                "{} holds NaN or infinite values (in `{name}`): it cannot be resumed; the file is damaged, or the \
                 run diverged before it was written — start the run again (a lower train.lr may help)",
                path.display()
            );
        }
        restore_vars(&self.vs, &ck.tensors, "model.")?;
        restore_vars(&self.ema_vs, &ck.tensors, "ema.")?;
        let (mut exp_avg, mut exp_avg_sq) = (self.flat.views(&self.opt.exp_avg), self.flat.views(&self.opt.exp_avg_sq));
        tch::no_grad(|| -> anyhow::Result<()> {
            for (i, name) in self.params.names.iter().enumerate() {
                for (key, dst) in [("exp_avg", &mut exp_avg[i]), ("exp_avg_sq", &mut exp_avg_sq[i])] {
                    let k = format!("opt.{key}.{name}");
                    let src = ck.tensors.get(&k).ok_or_else(|| anyhow!("{} lacks {k}", path.display()))?;
                    dst.copy_(src);
                }
            }
            Ok(())
        })?;
        self.opt.step =
            ck.state["optimizer_step"].as_u64().ok_or_else(|| anyhow!("{}: no optimizer_step", path.display()))?;
        self.progress = serde_json::from_value(ck.state["progress"].clone()).context("checkpoint progress")?;
        self.controller.restore(&ck.state["controller"])?;
        if let Some(memory) = &mut self.memory {
            memory.restore_from(&ck.tensors, &path)?;
        }
        Ok(())
    }

    /// The averaged weights of the epoch just selected, as plain safetensors (loadable by PyTorch).
    pub(crate) fn save_best(&self) -> anyhow::Result<()> {
        let vars = named_vars(&self.ema_vs, "");
        write_atomic(&self.dir.join(BEST_FILE), |tmp| {
            Tensor::write_safetensors(&vars, tmp).map_err(|e| anyhow!("{e}"))?;
            crate::fault::point("best");
            Ok(())
        })
    }
}
