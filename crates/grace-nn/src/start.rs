//! How a run directory comes to exist and is taken up again: configuration, device and data are all
//! checked before the folder is made, one process writes it at a time, and a resume continues only
//! the run and the data it finds there.

use crate::config::RunConfig;
use crate::setup::{data_difference, device_of, load_recorded, recorded_data};
use crate::train::Trainer;
use anyhow::{anyhow, bail, Context};
use grace_core::io::{remove_unfinished_writes, write_bytes_atomic, write_json_atomic};
use grace_core::lock::RunLock;
use grace_core::rundir::{DataRecord, CHECKPOINT_FILE, CONFIG_FILE, DATA_FILE, PREPROCESSING_FILE};
use grace_data::Prepared;
use std::path::Path;

/// What a resumed run may take from the command line: where and how fast it runs, never what it
/// computes (those settings stay as its `config.toml` says).
#[derive(Debug, Clone, Default)]
pub struct Runtime {
    pub device: Option<String>,
    pub threads: Option<usize>,
}

impl Runtime {
    fn apply(&self, cfg: &mut RunConfig) {
        if let Some(d) = &self.device {
            cfg.train.device = d.clone();
        }
        if let Some(t) = self.threads {
            cfg.train.threads = t;
        }
    }
}

/// A trainer ready for its next epoch, and the lock it holds on its run directory until dropped.
pub(crate) struct Started {
    pub trainer: Trainer,
    pub lock: RunLock,
}

/// Starts a new run in `dir`. Everything that can fail before the first step (settings, device,
/// data, windows, model) is tried before the folder is created, and a start that still fails
/// removes the folder it made, so the same `--out` can be used again at once.
/// `notes` (file name, contents) are written with the start files, e.g. the recipe's name.
pub(crate) fn new_run(mut cfg: RunConfig, dir: &Path, notes: &[(&str, String)]) -> anyhow::Result<Started> {
    refuse_existing_run(dir)?;
    cfg.data.source = cfg.data.absolute_source().map_err(|e| anyhow!(e))?;
    let (trainer, record) = ready(cfg, dir)?;
    let created = make_dir(dir)?;
    let lock = RunLock::acquire(dir, "grace train")?;
    lock.report_stale();
    let written = refuse_existing_run(dir).and_then(|_| write_start_files(dir, &trainer, &record, notes));
    if let Err(e) = written {
        drop(lock);
        if created {
            let _ = std::fs::remove_dir_all(dir);
        }
        return Err(e);
    }
    Ok(Started { trainer, lock })
}

/// Takes up the run in `dir` where its checkpoint left it. `runtime` may move it to another device
/// or thread count; the data must still be the data it started with.
pub(crate) fn resume(dir: &Path, runtime: &Runtime) -> anyhow::Result<Started> {
    let mut cfg = read_config(dir)?;
    runtime.apply(&mut cfg);
    let lock = RunLock::acquire(dir, "grace train --resume")?;
    lock.report_stale();
    // Temporaries of a killed writer: no one else can be writing here while the lock is held.
    remove_unfinished_writes(dir)?;
    let (mut trainer, record) = ready(cfg, dir)?;
    match recorded_data(dir)? {
        Some(old) => {
            if let Some(diff) = data_difference(&old, &record) {
                bail!(
                    "--resume {}: the data changed since the run started ({diff}); resuming would train one \
                     run on two data sets. Restore the original files, or start a new run on these data",
                    dir.display()
                );
            }
        }
        // A run started before grace fingerprinted its data, or killed before writing the record.
        None => write_json_atomic(&dir.join(DATA_FILE), &record)?,
    }
    if !dir.join(PREPROCESSING_FILE).is_file() {
        write_json_atomic(&dir.join(PREPROCESSING_FILE), &trainer.data.preprocessing)?;
    }
    if dir.join(CHECKPOINT_FILE).is_file() {
        trainer.restore_checkpoint()?;
    } else {
        tracing::warn!(dir = %dir.display(), "no checkpoint to resume from: training starts at epoch 0");
    }
    Ok(Started { trainer, lock })
}

/// Settings, device, data and model, all checked; nothing is written.
fn ready(cfg: RunConfig, dir: &Path) -> anyhow::Result<(Trainer, DataRecord)> {
    cfg.validate().map_err(|e| anyhow!(e))?;
    device_of(&cfg.train.device)?;
    let (data, record) = load_recorded(&cfg)?;
    check_windows(&data)?;
    Ok((Trainer::new(cfg, dir, data)?, record))
}

/// Training needs windows to learn from and validation windows to select an epoch by.
fn check_windows(data: &Prepared) -> anyhow::Result<()> {
    let cycles = |s: &grace_data::Split| s.engines.iter().map(|e| e.n_cycles()).max().unwrap_or(0);
    let w = data.train.window;
    if data.train.windows().is_empty() {
        bail!(
            "data.prep.window = {w} is longer than every training engine of {} (the longest has {} cycles): \
             there is nothing to train on; choose a window of at most {} cycles",
            data.name,
            cycles(&data.train),
            cycles(&data.train)
        );
    }
    if data.val.windows().is_empty() {
        bail!(
            "no validation windows in {}: {} held-out engines, the longest with {} cycles, for a window of {w} \
             (data.prep.val_fraction = {}); the best epoch cannot be selected without them",
            data.name,
            data.val.engines.len(),
            cycles(&data.val),
            data.preprocessing.config.val_fraction
        );
    }
    if data.test.engines.is_empty() {
        bail!("{} has no test engines to score the run on", data.name);
    }
    Ok(())
}

fn read_config(dir: &Path) -> anyhow::Result<RunConfig> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("--resume {}: no {CONFIG_FILE} there; is it a run directory?", dir.display()))?;
    RunConfig::from_toml(&text).map_err(|e| anyhow!("{}: {e}", path.display()))
}

fn refuse_existing_run(dir: &Path) -> anyhow::Result<()> {
    if dir.join(CONFIG_FILE).exists() {
        bail!(
            "{} already holds a run; pass --resume {} to continue it, or choose another --out",
            dir.display(),
            dir.display()
        );
    }
    Ok(())
}

/// Creates `dir` (and its parents); whether this call created it, so a failed start removes only
/// a folder of its own.
fn make_dir(dir: &Path) -> anyhow::Result<bool> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(false),
        Err(e) => Err(e).with_context(|| format!("creating {}", dir.display())),
    }
}

/// `config.toml` goes last: it is what makes the folder a run, so a start killed before it leaves
/// a folder that a new start may use.
fn write_start_files(
    dir: &Path,
    trainer: &Trainer,
    record: &DataRecord,
    notes: &[(&str, String)],
) -> anyhow::Result<()> {
    for (name, text) in notes {
        write_bytes_atomic(&dir.join(name), text.as_bytes())?;
    }
    write_json_atomic(&dir.join(PREPROCESSING_FILE), &trainer.data.preprocessing)?;
    write_json_atomic(&dir.join(DATA_FILE), record)?;
    write_bytes_atomic(&dir.join(CONFIG_FILE), trainer.cfg.to_toml().as_bytes())
}
