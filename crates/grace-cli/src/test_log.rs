//! The test-scoring log: with `GRACE_TEST_LOG=FILE`, every test scoring (`grace train` and so every
//! sweep run, `grace evaluate` of a run or an ensemble) appends who, when, what and its scores.

use anyhow::Context;
use grace_core::results::{EnsembleResults, RunResults};
use grace_core::rundir::RECIPE_FILE;
use std::io::Write;
use std::path::Path;

pub const ENV: &str = "GRACE_TEST_LOG";
const HEADER: &str = "time_utc,user,host,run_dir,subset,method,seed,recipe,epochs_run,best_epoch,val_rmse,\
test_rmse_capped,test_nasa_capped,test_rmse_uncapped,grace\n";

/// Appends one line for a run just scored on the test set, if `GRACE_TEST_LOG` names a file; the
/// recipe is the one given, else the one the run folder recorded when it started.
pub fn record(dir: &Path, r: &RunResults, recipe: Option<&str>) -> anyhow::Result<()> {
    let recorded = std::fs::read_to_string(dir.join(RECIPE_FILE)).unwrap_or_default();
    let scores = [
        r.subset.clone(),
        r.method.clone(),
        r.seed.to_string(),
        recipe.unwrap_or(recorded.trim()).to_string(),
        r.epochs_run.to_string(),
        r.validation.best_epoch.to_string(),
        format!("{:.4}", r.validation.best_val_rmse),
        format!("{:.4}", r.test.capped.rmse),
        format!("{:.2}", r.test.capped.nasa),
        format!("{:.4}", r.test.uncapped.rmse),
        r.versions.grace.clone(),
    ];
    append(dir, scores)
}

/// Appends one line for an ensemble just scored: its methods and seeds, no epochs or validation.
pub fn record_ensemble(out: &Path, r: &EnsembleResults) -> anyhow::Result<()> {
    let mut methods: Vec<&str> = r.members.iter().map(|m| m.method.as_str()).collect();
    methods.dedup();
    let seeds: Vec<String> = r.members.iter().map(|m| m.seed.to_string()).collect();
    let scores = [
        r.subset.clone(),
        format!("ensemble ({}) of {}", r.combine.name(), methods.join("+")),
        seeds.join("+"),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        format!("{:.4}", r.ensemble.capped.rmse),
        format!("{:.2}", r.ensemble.capped.nasa),
        format!("{:.4}", r.ensemble.uncapped.rmse),
        env!("CARGO_PKG_VERSION").to_string(),
    ];
    append(out, scores)
}

fn append(dir: &Path, scores: [String; 11]) -> anyhow::Result<()> {
    let Some(log) = std::env::var_os(ENV).filter(|v| !v.is_empty()) else {
        return Ok(());
    };
    let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)?;
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| uid());
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let run = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut line = csv::WriterBuilder::new().has_headers(false).from_writer(vec![]);
    line.write_record([now, user, host.trim().to_string(), run.display().to_string()].iter().chain(&scores))?;
    let line = String::from_utf8(line.into_inner()?)?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .with_context(|| format!("{ENV}={}: cannot open for appending", Path::new(&log).display()))?;
    // One write per line: appends of a few hundred bytes from concurrent sweep runs do not interleave.
    let header = if f.metadata()?.len() == 0 { HEADER } else { "" };
    f.write_all(format!("{header}{line}").as_bytes())?;
    Ok(())
}

/// Who ran it when no login name is set (containers, cron): the numeric user id.
fn uid() -> String {
    #[cfg(unix)]
    // SAFETY: getuid(2) cannot fail and touches no memory.
    return format!("uid {}", unsafe { libc::getuid() });
    #[cfg(not(unix))]
    String::new()
}
