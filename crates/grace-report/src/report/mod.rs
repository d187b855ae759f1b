//! Building the report of a run, a sweep or a tune: loads the directories, builds the page sections,
//! draws their figures and writes the HTML page(s); also `collect`, a sweep's results tables.

mod run_page;
pub mod sections;
mod sweep_page;
mod tune_page;

pub use run_page::{run_sections, write_run_page};
pub use sweep_page::{collect, load_sweep, sweep_report};
pub use tune_page::{is_tune, tune_report};

use crate::plan::RUNS_DIR;
use crate::rundir::{self, RunData};
use anyhow::Context;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Points per per-step curve after downsampling.
    pub max_points: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { max_points: 400 }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportSummary {
    pub kind: &'static str,
    pub input: PathBuf,
    pub index: PathBuf,
    pub pages: Vec<PathBuf>,
    pub figures: Vec<PathBuf>,
    pub runs: usize,
    pub synthetic: bool,
}

pub fn is_sweep(dir: &Path) -> bool {
    dir.join(crate::plan::MANIFEST_FILE).is_file()
        || (dir.join(RUNS_DIR).is_dir() && !dir.join(rundir::CONFIG_FILE).is_file())
}

/// A run, a sweep or a tune directory, whichever `input` is.
pub fn report(input: &Path, out: &Path, opts: Options) -> anyhow::Result<ReportSummary> {
    if !input.is_dir() {
        anyhow::bail!("{} is not a directory; pass a run directory (from `grace train`), a sweep directory (from `grace sweep`) or a tune directory (from `grace tune`)", input.display());
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating the report folder {}", out.display()))?;
    if is_tune(input) {
        return tune_report(input, out);
    }
    if is_sweep(input) {
        return sweep_report(input, out, opts);
    }
    let run = RunData::load(input)?;
    let mut figures = Vec::new();
    let index = write_run_page(&run, out, None, opts, &mut figures)?;
    Ok(ReportSummary {
        kind: "run",
        input: input.to_path_buf(),
        index: index.clone(),
        pages: vec![index],
        figures,
        runs: 1,
        synthetic: run.synthetic(),
    })
}
