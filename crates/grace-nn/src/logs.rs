//! The run's two CSV logs (`gradient_log.csv`, `epochs.csv`): rows from grace-core's schema,
//! appended a whole epoch at a time and cut back to the checkpoint when a run resumes.

use crate::io::write_bytes_atomic;
use crate::step::StepOutcome;
use grace_core::rundir::{EpochRow, GradientRow, EPOCH_LOG, GRADIENT_LOG};
use serde::Serialize;
use std::io::Write;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// The rows of a run's `epochs.csv` (older logs may lack later columns: they read as unmeasured).
pub fn read_epoch_log(dir: &Path) -> anyhow::Result<Vec<EpochRow>> {
    use anyhow::Context;
    let path = dir.join(EPOCH_LOG);
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(&path)
        .with_context(|| format!("reading {}", path.display()))?;
    r.deserialize().collect::<Result<_, _>>().with_context(|| format!("parsing {}", path.display()))
}

/// An append-only CSV log whose first column is the epoch.
pub struct Log<R> {
    path: PathBuf,
    rows: PhantomData<fn(&R)>,
}

impl<R: Serialize + Default> Log<R> {
    /// Opens the log of a run that continues at `epoch`: writes the header and keeps only the rows
    /// of earlier epochs, since a killed run may have logged steps after its last checkpoint and
    /// the resumed run logs them again.
    pub fn resume(path: PathBuf, epoch: usize) -> anyhow::Result<Log<R>> {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut out = header::<R>()?;
        for line in text.lines().skip(1) {
            let e: usize = line.split(',').next().and_then(|v| v.parse().ok()).unwrap_or(usize::MAX);
            if e < epoch {
                out.push_str(line);
                out.push('\n');
            }
        }
        write_bytes_atomic(&path, out.as_bytes())?;
        Ok(Log { path, rows: PhantomData })
    }

    /// Appends `rows` in one write, so a run killed mid-epoch leaves no partial row behind.
    pub fn append(&self, rows: &[R]) -> anyhow::Result<()> {
        let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
        for r in rows {
            w.serialize(r)?;
        }
        let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut file = std::fs::OpenOptions::new().append(true).create(true).open(&self.path)?;
        file.write_all(&bytes)?;
        Ok(())
    }
}

/// The header line of a log: the field names of its row type, in order.
fn header<R: Serialize + Default>() -> anyhow::Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.serialize(R::default())?;
    let text = String::from_utf8(w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?;
    Ok(format!("{}\n", text.lines().next().unwrap_or_default()))
}

/// Both logs of a run.
pub struct Logs {
    pub gradients: Log<GradientRow>,
    pub epochs: Log<EpochRow>,
}

impl Logs {
    pub fn resume(dir: &Path, epoch: usize) -> anyhow::Result<Logs> {
        Ok(Logs {
            gradients: Log::resume(dir.join(GRADIENT_LOG), epoch)?,
            epochs: Log::resume(dir.join(EPOCH_LOG), epoch)?,
        })
    }
}

/// The gradient-log row of step `step` in `epoch`; controller fields a method lacks stay empty.
pub fn gradient_row(epoch: usize, step: u64, out: &StepOutcome) -> GradientRow {
    let r = &out.record;
    let at = |v: &[f64], i: usize| v.get(i).copied().unwrap_or(f64::NAN);
    GradientRow {
        epoch,
        step,
        loss_rul: out.losses[0],
        loss_health: out.losses[1],
        g_rul: out.norms[0],
        g_health: out.norms[1],
        ratio: out.norms[0] / out.norms[1],
        cosine: out.cosine,
        raw_rul: at(&r.raw, 0),
        raw_health: at(&r.raw, 1),
        ema_rul: at(&r.ema, 0),
        ema_health: at(&r.ema, 1),
        floored_rul: at(&r.floored, 0),
        floored_health: at(&r.floored, 1),
        lambda_rul: r.weights[0],
        lambda_health: r.weights[1],
        grad_norm: out.grad_norm,
        warmup: r.warmup as u8,
        skipped: r.skipped as u8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_keep_their_column_order_and_write_unmeasured_cells_empty() {
        assert_eq!(
            header::<GradientRow>().unwrap(),
            "epoch,step,loss_rul,loss_health,g_rul,g_health,ratio,cosine,raw_rul,raw_health,ema_rul,ema_health,\
             floored_rul,floored_health,lambda_rul,lambda_health,grad_norm,warmup,skipped\n"
        );
        assert_eq!(
            header::<EpochRow>().unwrap(),
            "epoch,steps,lr,train_loss_rul,train_loss_health,lambda_rul,lambda_health,val_rmse,val_nasa,\
             val_rmse_live,val_cut_rmse,seconds,held_cut_rmse\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gradient_log.csv");
        // A row of epoch 1 logged after the epoch-1 checkpoint is dropped on resume; epoch 0 stays.
        std::fs::write(&path, "old header\n0,0,1\n1,7,1\n").unwrap();
        let log: Log<GradientRow> = Log::resume(path.clone(), 1).unwrap();
        let row = GradientRow {
            epoch: 1,
            step: 1,
            loss_rul: 2.5,
            g_rul: f64::NAN,
            ratio: f64::INFINITY,
            lambda_rul: 0.5,
            lambda_health: 0.5,
            warmup: 1,
            ..Default::default()
        };
        log.append(&[row]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("epoch,step,"));
        assert_eq!(lines[1], "0,0,1");
        assert_eq!(lines[2], "1,1,2.5,0.0,,0.0,,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.5,0.5,0.0,1,0");
    }
}
