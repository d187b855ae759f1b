//! Checkpoints: live weights, averaged weights, optimizer moments and the run's counters and
//! controller state in one safetensors file, replaced atomically at the end of every epoch.

use crate::io::write_atomic;
use anyhow::{anyhow, Context};
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
        Tensor::write_safetensors(&all, tmp).map_err(|e| anyhow!("writing checkpoint {}: {e}", tmp.display()))
    })
}

pub struct Loaded {
    pub tensors: std::collections::HashMap<String, Tensor>,
    pub state: serde_json::Value,
}

pub fn load(path: &Path) -> anyhow::Result<Loaded> {
    let list = Tensor::read_safetensors(path).map_err(|e| anyhow!("reading checkpoint {}: {e}", path.display()))?;
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
