//! Reading weight files (`best.safetensors`, checkpoints) with errors a user can act on: which file,
//! what is wrong with it and what to do, checked before libtorch sees a tensor of the wrong shape.

use anyhow::{anyhow, bail, Context};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use tch::{nn, Tensor};

/// What one entry of a safetensors header promises: element type, shape and byte range.
#[derive(Debug, serde::Deserialize)]
struct Entry {
    dtype: String,
    shape: Vec<i64>,
    data_offsets: [u64; 2],
}

/// Bytes per element of the safetensors element types.
fn dtype_bytes(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E4M3" | "F8_E5M2" => 1,
        "F16" | "BF16" | "I16" | "U16" => 2,
        "F32" | "I32" | "U32" => 4,
        "F64" | "I64" | "U64" => 8,
        _ => return None,
    })
}

/// The advice that ends every message about a damaged file.
fn damaged(path: &Path, what: &str) -> String {
    format!(
        "{} is not a readable weights file: {what}; the file is damaged or was replaced — restore it from a copy, \
         or train the run again",
        path.display()
    )
}

/// Checks a safetensors file's layout (header, types, byte ranges) and returns its entries by name,
/// so a truncated or foreign file is reported in words instead of a parser's enum name.
fn check_layout(path: &Path, bytes: &[u8]) -> anyhow::Result<BTreeMap<String, Entry>> {
    let Some(head) = bytes.get(..8) else {
        bail!(damaged(path, &format!("it has {} bytes, fewer than the 8 of a safetensors header length", bytes.len())));
    };
    let n = u64::from_le_bytes(head.try_into().expect("8 bytes"));
    let data_start = 8u64.checked_add(n).filter(|&end| end <= bytes.len() as u64).ok_or_else(|| {
        anyhow!(damaged(
            path,
            &format!("its header claims {n} bytes but the file has {} in all (truncated?)", bytes.len())
        ))
    })?;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes[8..data_start as usize])
        .map_err(|e| anyhow!(damaged(path, &format!("its header is not safetensors JSON ({e})"))))?;
    let data_len = bytes.len() as u64 - data_start;
    let mut entries = BTreeMap::new();
    for (name, v) in header.into_iter().filter(|(k, _)| k != "__metadata__") {
        let e: Entry = serde_json::from_value(v)
            .map_err(|err| anyhow!(damaged(path, &format!("its header entry `{name}` is malformed ({err})"))))?;
        let size = dtype_bytes(&e.dtype)
            .ok_or_else(|| anyhow!(damaged(path, &format!("`{name}` has unknown element type {}", e.dtype))))?;
        let span = e.shape.iter().fold(size, |n, &d| n.saturating_mul(d.max(0) as u64));
        let [begin, end] = e.data_offsets;
        if begin > end || end > data_len || end - begin != span {
            bail!(damaged(
                path,
                &format!(
                    "`{name}` ({} {:?}) should span {} bytes, its header gives bytes {begin}..{end} of {data_len} \
                     (truncated?)",
                    e.dtype, e.shape, span
                )
            ));
        }
        entries.insert(name, e);
    }
    Ok(entries)
}

/// Reads every tensor of a safetensors file, after checking its layout.
pub fn read(path: &Path) -> anyhow::Result<Vec<(String, Tensor)>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read weights file {}", path.display()))?;
    check_layout(path, &bytes)?;
    Tensor::read_safetensors(path).map_err(|e| anyhow!(damaged(path, &e.to_string())))
}

/// Loads `path` into every variable of `vs`. The file must hold exactly the model's variables with
/// the model's shapes; otherwise the error lists the differences and points at `config_file`, the
/// usual cause being a config edited after training.
pub fn load_into(vs: &nn::VarStore, path: &Path, config_file: &str) -> anyhow::Result<()> {
    if !path.is_file() {
        bail!("{} does not exist: the run has no selected weights yet — train or resume it first", path.display());
    }
    let tensors: HashMap<String, Tensor> = read(path)?.into_iter().collect();
    let mut vars = vs.variables();
    let mut diffs = Vec::new();
    for (name, var) in &vars {
        match tensors.get(name) {
            None => diffs.push(format!("`{name}` {:?} is missing from the file", var.size())),
            Some(t) if t.size() != var.size() => {
                diffs.push(format!("`{name}` is {:?} in the file, the model expects {:?}", t.size(), var.size()))
            }
            Some(_) => {}
        }
    }
    let mut extra: Vec<&String> = tensors.keys().filter(|k| !vars.contains_key(*k)).collect();
    extra.sort();
    diffs.extend(extra.iter().map(|k| format!("`{k}` in the file belongs to no layer of the model")));
    if !diffs.is_empty() {
        diffs.sort();
        let shown = diffs.len().min(4);
        let more = if diffs.len() > shown { format!(" (and {} more)", diffs.len() - shown) } else { String::new() };
        bail!(
            "{} does not fit the model described by {config_file}: {}{more}. Was {config_file} edited after \
             training? Restore the settings the run was trained with, or train a new run with the new ones",
            path.display(),
            diffs[..shown].join("; ")
        );
    }
    tch::no_grad(|| {
        for (name, var) in vars.iter_mut() {
            var.copy_(&tensors[name]);
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn store(hidden: i64) -> nn::VarStore {
        let vs = nn::VarStore::new(Device::Cpu);
        let _ = nn::linear(vs.root() / "head", 3, hidden, Default::default());
        vs
    }

    fn save(vs: &nn::VarStore, path: &Path) {
        let vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        Tensor::write_safetensors(&vars, path).unwrap();
    }

    #[test]
    fn a_matching_file_loads_bit_for_bit() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("best.safetensors");
        let a = store(4);
        save(&a, &path);
        let b = store(4);
        load_into(&b, &path, "config.toml").unwrap();
        let (wa, wb) = (&a.variables()["head.weight"], &b.variables()["head.weight"]);
        assert_eq!(wa.to_kind(Kind::Float), wb.to_kind(Kind::Float));
    }

    #[test]
    fn damaged_files_are_described_in_words() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("best.safetensors");
        save(&store(4), &path);
        let good = std::fs::read(&path).unwrap();
        let err = |bytes: &[u8]| {
            std::fs::write(&path, bytes).unwrap();
            format!("{:#}", load_into(&store(4), &path, "config.toml").unwrap_err())
        };
        let e = err(&good[..5]);
        assert!(e.contains("best.safetensors") && e.contains("5 bytes") && e.contains("train the run again"), "{e}");
        let e = err(&good[..good.len() - 3]);
        assert!(e.contains("truncated?") && !e.contains("Error"), "{e}");
        let mut junk_header = good.clone();
        junk_header[8..16].copy_from_slice(b"garbage!");
        let e = err(&junk_header);
        assert!(e.contains("header is not safetensors JSON"), "{e}");
        let e = err(&[255u8; 64]);
        assert!(e.contains("header claims 18446744073709551615 bytes but the file has 64"), "{e}");
        std::fs::remove_file(&path).unwrap();
        let e = format!("{:#}", load_into(&store(4), &path, "config.toml").unwrap_err());
        assert!(e.contains("does not exist") && e.contains("train or resume"), "{e}");
    }

    #[test]
    fn a_model_that_changed_since_training_is_one_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("best.safetensors");
        save(&store(4), &path);
        let e = format!("{:#}", load_into(&store(5), &path, "config.toml").unwrap_err());
        assert!(e.contains("`head.weight` is [4, 3] in the file, the model expects [5, 3]"), "{e}");
        assert!(e.contains("`head.bias` is [4] in the file, the model expects [5]"), "{e}");
        assert!(e.contains("Was config.toml edited after training?") && !e.contains("C++"), "{e}");
        let other = nn::VarStore::new(Device::Cpu);
        let _ = nn::linear(other.root() / "tail", 3, 4, Default::default());
        let e = format!("{:#}", load_into(&other, &path, "config.toml").unwrap_err());
        assert!(
            e.contains("`tail.weight` [4, 3] is missing") && e.contains("`head.bias` in the file belongs to no"),
            "{e}"
        );
    }
}
