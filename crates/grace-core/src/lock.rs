//! One writer per run directory: an exclusive lock held by the process that trains or re-scores a
//! run, with the holder's pid in the lock file so a refusal names it and a stale holder is reported.

use crate::rundir::LOCK_FILE;
use anyhow::{bail, Context};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Who wrote a lock file: enough to find the process (`pid` on `host`) and say what it was doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub what: String,
}

impl Holder {
    fn current(what: &str) -> Holder {
        Holder { pid: std::process::id(), host: host_name(), what: what.to_string() }
    }

    fn parse(text: &str) -> Option<Holder> {
        let mut fields = text.trim().splitn(3, ' ');
        let pid = fields.next()?.parse().ok()?;
        let host = fields.next()?.to_string();
        Some(Holder { pid, host, what: fields.next().unwrap_or("").to_string() })
    }

    fn line(&self) -> String {
        format!("{} {} {}\n", self.pid, self.host, self.what)
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "process {} on host {} ({})", self.pid, self.host, self.what)
    }
}

/// The lock on one run directory, released when dropped (and by the kernel when the process dies).
///
/// An OS advisory lock (`flock` through `File::try_lock`) rather than a pid file created with
/// `O_EXCL`: the kernel drops it with its process, so a killed run never leaves a lock that blocks
/// its own `--resume`, and there is no window in which two processes both decide a lock is stale
/// and both take it. The pid written inside only serves the messages: a refused writer is told who
/// holds the run, and a lock file still naming a process means that process died without
/// releasing it (reported through [`RunLock::stale`]).
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
    stale: Option<Holder>,
}

impl RunLock {
    /// Locks `dir` (which must exist) for `what` (e.g. "grace train"), or says who holds it.
    pub fn acquire(dir: &Path, what: &str) -> anyhow::Result<RunLock> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = read_holder(&mut file).map_or("another process".to_string(), |h| h.to_string());
                bail!(
                    "{} is in use: {holder} is writing this run (lock {}); wait for it to finish or stop it",
                    dir.display(),
                    path.display()
                );
            }
            // A file system without locks (some network mounts): say so and go on unlocked rather
            // than make the run impossible.
            Err(TryLockError::Error(e)) => {
                eprintln!("warning: cannot lock {} ({e}); make sure no other process writes this run", path.display());
            }
        }
        let stale = read_holder(&mut file);
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(Holder::current(what).line().as_bytes())?;
        file.sync_data().ok();
        Ok(RunLock { file, path, stale })
    }

    /// The process that held this lock last and ended without releasing it (killed or crashed).
    pub fn stale(&self) -> Option<&Holder> {
        self.stale.as_ref()
    }

    /// The same, as a warning line on stderr (for commands; libraries stay quiet).
    pub fn report_stale(&self) {
        if let Some(h) = &self.stale {
            eprintln!(
                "warning: stale lock {}: {h} ended without releasing it (killed or crashed); it no longer runs, \
                 so this process takes the run over",
                self.path.display()
            );
        }
    }
}

impl Drop for RunLock {
    /// An empty lock file means "released cleanly"; a pid left inside marks a holder that died.
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    Holder::parse(&text)
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && !h.contains(' '))
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_with_the_holders_pid_and_a_dead_holder_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path(), "grace train").unwrap();
        assert!(first.stale().is_none());
        let e = RunLock::acquire(dir.path(), "grace evaluate").unwrap_err().to_string();
        assert!(e.contains(&format!("process {}", std::process::id())) && e.contains("grace train"), "{e}");
        drop(first);
        // Released cleanly: nothing stale, and the next writer gets it.
        let second = RunLock::acquire(dir.path(), "grace train").unwrap();
        assert!(second.stale().is_none());
        drop(second);
        // A holder killed while writing leaves its pid behind (the kernel dropped its lock).
        std::fs::write(dir.path().join(LOCK_FILE), "4194303 node7 grace train\n").unwrap();
        let third = RunLock::acquire(dir.path(), "grace train").unwrap();
        let h = third.stale().unwrap();
        assert_eq!((h.pid, h.host.as_str(), h.what.as_str()), (4_194_303, "node7", "grace train"));
        assert!(std::fs::read_to_string(dir.path().join(LOCK_FILE))
            .unwrap()
            .starts_with(&std::process::id().to_string()));
    }
}
