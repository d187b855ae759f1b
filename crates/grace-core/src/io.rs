//! Atomic file output for everything grace writes (checkpoints, results, tables, pages, figures): a
//! temporary file in the same folder, then a rename, so a crash never leaves a half-written file.

use anyhow::Context;
use std::path::{Path, PathBuf};

/// A temporary name next to `path` that keeps its extension (plotters picks the image format from it).
pub fn tmp_path(path: &Path) -> PathBuf {
    let stem = path.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let ext = path.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
    path.with_file_name(format!(".{stem}.{}.tmp{ext}", std::process::id()))
}

/// Runs `write` on a temporary path next to `path`, then renames it over `path`.
pub fn write_atomic<F>(path: &Path, write: F) -> anyhow::Result<()>
where
    F: FnOnce(&Path) -> anyhow::Result<()>,
{
    let tmp = tmp_path(path);
    let result = write(&tmp).and_then(|_| {
        std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Removes the temporaries of writes that never finished (a killed process) from `dir`. Only for
/// the process that holds the folder's lock: nobody else can be writing there.
pub fn remove_unfinished_writes(dir: &Path) -> anyhow::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        if is_temporary(&entry.file_name().to_string_lossy()) && entry.file_type()?.is_file() {
            std::fs::remove_file(entry.path()).with_context(|| format!("removing {}", entry.path().display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Whether `name` has the form [`tmp_path`] gives: `.STEM.PID.tmp` plus an optional extension.
fn is_temporary(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else { return false };
    let Some((before, after)) = rest.rsplit_once(".tmp") else { return false };
    let pid = before.rsplit_once('.').map(|(_, p)| p).unwrap_or("");
    !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) && (after.is_empty() || after.starts_with('.'))
}

pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_atomic(path, |tmp| {
        std::fs::write(tmp, bytes).with_context(|| format!("writing {} (is the folder writable?)", tmp.display()))
    })
}

pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    write_bytes_atomic(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_keeps_the_extension_and_failures_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fig.png");
        assert!(tmp_path(&p).to_string_lossy().ends_with(".png"));
        write_bytes_atomic(&p, b"old").unwrap();
        assert!(write_atomic(&p, |tmp| {
            std::fs::write(tmp, b"half")?;
            anyhow::bail!("crash")
        })
        .is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn only_temporaries_of_unfinished_writes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let names =
            [".checkpoint.4242.tmp.safetensors", ".config.17.tmp.toml", ".lock", "results.json", ".x.tmp", "a.1.tmp"];
        for n in names {
            std::fs::write(dir.path().join(n), b"x").unwrap();
        }
        assert_eq!(
            tmp_path(&dir.path().join("best.safetensors")).file_name().map(|n| is_temporary(&n.to_string_lossy())),
            Some(true)
        );
        assert_eq!(remove_unfinished_writes(dir.path()).unwrap(), 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [".lock", ".x.tmp", "a.1.tmp", "results.json"]);
    }
}
