//! Where the PyTorch and pandas reference implementations (`bench/reference/`) and their Python
//! are found, for the benchmarks that run them next to grace (not a subcommand).

use std::path::{Path, PathBuf};

/// The repository this binary was built from: the fallback when it runs from another folder.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `explicit` (a `--python` flag), else `$GRACE_PYTHON`, else `.venv/bin/python` in the current
/// folder or the workspace root; the plain relative path when none exists, so the error names it.
pub fn python(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("GRACE_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let rel = PathBuf::from(".venv/bin/python");
    [rel.clone(), workspace_root().join(&rel)].into_iter().find(|p| p.exists()).unwrap_or(rel)
}

/// `bench/reference/NAME` in the current folder or the workspace root.
pub fn script(name: &str) -> Result<PathBuf, String> {
    let rel = Path::new("bench/reference").join(name);
    [rel.clone(), workspace_root().join(&rel)]
        .into_iter()
        .find(|p| p.exists())
        .ok_or_else(|| format!("{} not found (run from the repository root)", rel.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_scripts_are_found_outside_the_repository_root_and_a_missing_one_is_named() {
        // unit tests run in crates/grace-cli, where bench/reference/ is not: the root fallback finds it
        assert!(!Path::new("bench/reference/bench_train.py").exists());
        assert!(script("bench_train.py").unwrap().ends_with("bench/reference/bench_train.py"));
        assert_eq!(
            script("no_such.py").unwrap_err(),
            "bench/reference/no_such.py not found (run from the repository root)"
        );
        assert_eq!(python(Some(Path::new("/x/py"))), PathBuf::from("/x/py"));
    }
}
