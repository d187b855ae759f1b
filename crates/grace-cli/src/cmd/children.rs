//! Training runs as child processes of this binary, shared by `grace sweep` and `grace tune`: the
//! arguments every run shares, one child with its log, and a pool that runs N of them at a time.

use anyhow::Context;
use grace_report::rundir::TRAIN_LOG;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Condvar, Mutex, Once};
use std::time::{Duration, Instant};

/// The training settings every child run shares, as flags of `grace sweep` and `grace tune`.
#[derive(clap::Args)]
pub struct TrainFlags {
    /// C-MAPSS folder or CMAPSSData.zip, or `synthetic`; default: $GRACE_CMAPSS_DIR, else synthetic.
    #[arg(long)]
    pub data: Option<String>,
    /// TOML file shared by every run (as `grace train --config`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Recipe for every run (as `grace train --recipe`): a built-in name or a TOML file.
    #[arg(long, value_name = "NAME|FILE")]
    pub recipe: Option<String>,
    /// Override for every run, e.g. --set train.lr=5e-4 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Model preset for every run: small or paper.
    #[arg(long)]
    pub preset: Option<String>,
    /// cpu, cuda, cuda:N or auto, for every run.
    #[arg(long)]
    pub device: Option<String>,
}

/// How child runs are spread: N at a time, or as a job array (docs/cluster.md, docs/tune.md).
#[derive(clap::Args)]
pub struct JobFlags {
    /// Runs trained at the same time.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// libtorch threads per run [default: max(1, cores / jobs)].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the job-array items as JSON lines (index, …, run_dir, status) and exit.
    #[arg(long, conflicts_with_all = ["index", "collect"])]
    pub plan: bool,
    /// Run only item I of the plan (for a Slurm array or a Kubernetes indexed Job).
    #[arg(long, conflicts_with = "collect")]
    pub index: Option<usize>,
    /// Only write the tables from the runs already in --out.
    #[arg(long)]
    pub collect: bool,
    /// Print JSON instead of progress lines and the Markdown table.
    #[arg(long)]
    pub json: bool,
}

impl TrainFlags {
    /// The data source the runs will use, resolved as `grace train` would (flag > --set > file > env).
    pub fn source(&self) -> anyhow::Result<String> {
        if let Some(d) = &self.data {
            return Ok(d.clone());
        }
        if let Some(v) = self.sets.iter().rev().find_map(|s| s.strip_prefix("data.source=")) {
            return Ok(v.trim().trim_matches('"').to_string());
        }
        if let Some(p) = &self.config {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading --config {}", p.display()))?;
            let t: toml::Table = text.parse().with_context(|| format!("--config {}: not valid TOML", p.display()))?;
            if let Some(s) = t.get("data").and_then(|d| d.get("source")).and_then(|s| s.as_str()) {
                return Ok(s.to_string());
            }
        }
        Ok(std::env::var("GRACE_CMAPSS_DIR").unwrap_or_else(|_| "synthetic".into()))
    }

    /// The `grace train` arguments; the config file by absolute path, since children may run elsewhere.
    pub fn train_args(&self, source: &str, epochs: Option<usize>) -> anyhow::Result<Vec<String>> {
        let mut args = vec!["--data".to_string(), source.to_string()];
        if let Some(p) = &self.preset {
            args.extend(["--preset".into(), p.clone()]);
        }
        if let Some(e) = epochs {
            args.extend(["--epochs".into(), e.to_string()]);
        }
        if let Some(d) = &self.device {
            args.extend(["--device".into(), d.clone()]);
        }
        if let Some(c) = &self.config {
            let abs = std::fs::canonicalize(c).with_context(|| format!("--config {}: no such file", c.display()))?;
            args.extend(["--config".into(), abs.to_string_lossy().into_owned()]);
        }
        if let Some(r) = &self.recipe {
            let recipe = crate::recipe::Recipe::load(r)?;
            // A file by absolute path, since children may run elsewhere; a built-in by name.
            let arg = match std::fs::canonicalize(r) {
                Ok(abs) if recipe.subset().is_none() => abs.to_string_lossy().into_owned(),
                _ => recipe.name,
            };
            args.extend(["--recipe".into(), arg]);
        }
        for s in &self.sets {
            args.extend(["--set".into(), s.clone()]);
        }
        Ok(args)
    }
}

/// libtorch threads per child: `--threads`, else the cores shared out between the jobs.
pub fn threads_per_run(threads: Option<usize>, jobs: usize) -> usize {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    threads.unwrap_or((cores / jobs.max(1)).max(1))
}

pub fn current_exe() -> anyhow::Result<PathBuf> {
    std::env::current_exe().context("locating the grace binary for the training subprocesses")
}

/// Runs `grace ARGS` with its stdout and stderr appended to `dir/train.log` under a banner line.
pub fn run_logged(exe: &Path, dir: &Path, args: &[String], threads: usize, caller: &str) -> anyhow::Result<ExitStatus> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let log_path = dir.join(TRAIN_LOG);
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;
    use std::io::Write;
    writeln!(log, "== {caller}: grace {} ==", args.join(" "))?;
    stop_children_on_signals();
    if let Some(sig) = stopped_by() {
        anyhow::bail!("not started: {caller} received {sig}");
    }
    let mut command = Command::new(exe);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .env("OMP_NUM_THREADS", threads.to_string())
        .env("MKL_NUM_THREADS", threads.to_string());
    end_with_parent(&mut command);
    let mut child = command.spawn().with_context(|| format!("starting {}", exe.display()))?;
    wait_or_stop(&mut child, caller)
}

/// A child gets SIGTERM when this process dies, even by SIGKILL (which no handler sees), so a
/// killed sweep or tune leaves no training running on, orphaned; its checkpoint lets it resume.
#[cfg(target_os = "linux")]
fn end_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl(2) is async-signal-safe, and the closure touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn end_with_parent(_: &mut Command) {}

/// The signal (SIGTERM or SIGINT) that asked this process to stop; 0 while none has.
static STOP: AtomicI32 = AtomicI32::new(0);

#[cfg(unix)]
extern "C" fn on_stop_signal(sig: libc::c_int) {
    // Only an atomic store: the one kind of work a signal handler may do safely.
    STOP.store(sig, Ordering::SeqCst);
}

/// From the first child on, SIGTERM and SIGINT only set [`STOP`]; the threads waiting for children
/// then stop them and return. The default action would end this process at once and leave its
/// children training on, orphaned, into run directories nobody watches.
fn stop_children_on_signals() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        #[cfg(unix)]
        // SAFETY: the handler is an `extern "C"` function that only stores to an atomic.
        unsafe {
            let handler = on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::signal(libc::SIGTERM, handler);
            libc::signal(libc::SIGINT, handler);
        }
    });
}

/// The name of the signal that stopped this process's children, once one has come.
pub fn stopped_by() -> Option<&'static str> {
    match STOP.load(Ordering::SeqCst) {
        0 => None,
        #[cfg(unix)]
        libc::SIGINT => Some("SIGINT"),
        _ => Some("SIGTERM"),
    }
}

/// Waits for `child`; when a stop signal comes first, passes SIGTERM on (SIGKILL after ten
/// seconds) and reports the run as interrupted. Its checkpoint makes it resumable.
fn wait_or_stop(child: &mut Child, caller: &str) -> anyhow::Result<ExitStatus> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if let Some(sig) = stopped_by() {
            terminate(child);
            child.wait()?;
            anyhow::bail!(
                "stopped: {caller} received {sig} and ended this training; run the same command again to resume it"
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn terminate(child: &mut Child) {
    #[cfg(unix)]
    // SAFETY: kill(2) with the pid of a child we have not yet reaped.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(10) {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
}

/// What to say when a child did not do its job: its exit status and the end of its log.
pub fn failure_message(status: ExitStatus, dir: &Path) -> String {
    let log_path = dir.join(TRAIN_LOG);
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(12)..].join("\n");
    format!("grace train exited with {status}; last lines of {}:\n{tail}", log_path.display())
}

/// Runs jobs on `workers` threads. `next` hands out work under a lock and may return `None` while
/// jobs are running (more may become possible when they report); the pool ends once it returns
/// `None` with nothing running. `work` runs unlocked; `done` records each result under the lock.
pub fn pool<S, T, O>(
    workers: usize,
    state: S,
    next: impl Fn(&mut S) -> Option<T> + Sync,
    work: impl Fn(&T) -> O + Sync,
    done: impl Fn(&mut S, T, O) + Sync,
) -> S
where
    S: Send,
    T: Send,
    O: Send,
{
    let shared = Mutex::new((state, 0usize));
    let wake = Condvar::new();
    let take = || {
        let mut g = shared.lock().unwrap();
        loop {
            // After SIGTERM/SIGINT no new child starts; running ones stop and report.
            if stopped_by().is_some() {
                return None;
            }
            if let Some(job) = next(&mut g.0) {
                g.1 += 1;
                return Some(job);
            }
            if g.1 == 0 {
                return None;
            }
            g = wake.wait(g).unwrap();
        }
    };
    std::thread::scope(|s| {
        for _ in 0..workers.max(1) {
            s.spawn(|| {
                while let Some(job) = take() {
                    let out = work(&job);
                    let mut g = shared.lock().unwrap();
                    g.1 -= 1;
                    done(&mut g.0, job, out);
                    drop(g);
                    wake.notify_all();
                }
                wake.notify_all();
            });
        }
    });
    shared.into_inner().unwrap().0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_waits_for_running_jobs_that_unlock_more_work() {
        // Job n > 0 becomes available only once job n − 1 has reported: with four workers, three
        // must wait each time, and the pool must not end while a job is running.
        let state = (0usize, Vec::new());
        let (_, order) = pool(
            4,
            state,
            |s| {
                if s.0 < 5 && s.1.len() == s.0 {
                    s.0 += 1;
                    Some(s.0 - 1)
                } else {
                    None
                }
            },
            |&n| n * 10,
            |s, n, out| s.1.push((n, out)),
        );
        assert_eq!(order, [(0, 0), (1, 10), (2, 20), (3, 30), (4, 40)]);
    }

    #[test]
    fn shared_arguments_keep_flag_order_and_absolute_config() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.toml");
        std::fs::write(&cfg, "[data]\nsource = \"/x\"\n").unwrap();
        let mut f = TrainFlags {
            data: None,
            config: Some(cfg),
            recipe: None,
            sets: vec!["train.lr=0.002".to_string()],
            preset: Some("small".into()),
            device: None,
        };
        assert_eq!(f.source().unwrap(), "/x");
        let args = f.train_args("synthetic", Some(3)).unwrap();
        assert_eq!(args[..6], ["--data", "synthetic", "--preset", "small", "--epochs", "3"]);
        assert_eq!(args[6], "--config");
        assert!(Path::new(&args[7]).is_absolute());
        assert_eq!(args[8..], ["--set", "train.lr=0.002"]);
        f.sets.push("data.source=\"/y\"".into());
        assert_eq!(f.source().unwrap(), "/y");
        f.data = Some("synthetic".into());
        assert_eq!(f.source().unwrap(), "synthetic");
    }
}
