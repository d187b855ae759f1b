//! `grace data …`: summary of a prepared subset, fetching NASA's zip, and the data benchmark.
//! Thin layer over grace-data; every subcommand offers `--json` for scripts.

use anyhow::{bail, Context};
use grace_data::fetch::{self, FetchReport};
use grace_data::summary::SplitSummary;
use grace_data::{
    prepare, summary, DataSource, DataSpec, FeatureSet, PrepConfig, Source, Subset, Summary, SyntheticConfig,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

#[derive(clap::Subcommand)]
pub enum DataCommand {
    /// Engines, rows, windows, operating conditions and health-class balance of one subset.
    Summary(SummaryArgs),
    /// Download NASA's CMAPSSData.zip, verify it and unpack it.
    Fetch(FetchArgs),
    /// Time parsing + preprocessing of all four subsets (and a pandas/scikit-learn reference).
    Bench(BenchArgs),
}

#[derive(clap::Args)]
pub struct SummaryArgs {
    /// Folder with NASA's text files, or CMAPSSData.zip, or `synthetic` (the fleet `grace train
    /// --data synthetic` trains on). Default: $GRACE_CMAPSS_DIR, else a synthetic stand-in for --subset.
    #[arg(long)]
    data: Option<String>,
    /// FD001 … FD004 (also fd002, 2).
    #[arg(long, default_value = "FD001")]
    subset: String,
    /// 17 (3 settings + 14 sensors) or 14 (sensors only).
    #[arg(long, default_value_t = 17)]
    features: usize,
    /// Seed of the validation hold-out and k-means starts.
    #[arg(long, default_value_t = PrepConfig::default().seed)]
    seed: u64,
    /// Machine-readable output (the Summary as JSON).
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct FetchArgs {
    /// Folder to unpack the 12 files into (must not exist, or be empty).
    #[arg(long, default_value = "data/cmapss")]
    dest: PathBuf,
    /// Where to download from.
    #[arg(long, default_value = fetch::DEFAULT_URL)]
    url: String,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Folder with NASA's text files, or CMAPSSData.zip. Default: $GRACE_CMAPSS_DIR.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Timed repetitions (the median is reported).
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Skip the Python reference even when one is available.
    #[arg(long)]
    no_reference: bool,
    #[arg(long)]
    json: bool,
}

pub fn run(c: DataCommand) -> anyhow::Result<()> {
    match c {
        DataCommand::Summary(a) => run_summary(a),
        DataCommand::Fetch(a) => run_fetch(a),
        DataCommand::Bench(a) => run_bench(a),
    }
}

/// `--data`, else $GRACE_CMAPSS_DIR.
fn source(data: Option<PathBuf>) -> Option<DataSource> {
    data.map(DataSource::from_path).or_else(DataSource::from_env)
}

fn run_summary(a: SummaryArgs) -> anyhow::Result<()> {
    // `--data` reads like a run config's `data.source`: `synthetic` is the fleet a run trains on.
    let spec =
        a.data.as_deref().map(DataSpec::parse).or_else(|| Some(DataSpec::from_env()).filter(|s| !s.is_synthetic()));
    let src: Box<dyn Source> = match spec {
        Some(spec) => spec.open(&SyntheticConfig::default()),
        None => {
            // The stand-in flies as many regimes as the C-MAPSS subset it stands in for.
            let subset: Subset = a.subset.parse().map_err(anyhow::Error::msg)?;
            let cfg = SyntheticConfig { n_conditions: subset.default_conditions(), ..Default::default() };
            eprintln!(
                "note: no --data and GRACE_CMAPSS_DIR unset — using SYNTHETIC data ({} regime(s)), not NASA's C-MAPSS",
                cfg.n_conditions
            );
            Box::new(cfg)
        }
    };
    let schema = src.schema();
    let features = FeatureSet::from_count(a.features, &schema).with_context(|| {
        let n = |f: FeatureSet| f.n_features(&schema);
        format!("--features {} must be {} or {}", a.features, n(FeatureSet::SensorsAndSettings), n(FeatureSet::Sensors))
    })?;
    let raw = src.load_subset(&a.subset)?;
    let cfg = PrepConfig { features, seed: a.seed, ..Default::default() };
    let prepared = prepare(&raw, &cfg)?;
    let s = summary(&raw, &prepared);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print_summary(&s, &src.origin());
    }
    Ok(())
}

fn print_summary(s: &Summary, origin: &str) {
    let kind = if s.synthetic { "SYNTHETIC data (not C-MAPSS)" } else { "NASA C-MAPSS" };
    println!("{} — {kind}, from {origin}", s.name);
    println!(
        "{} features, window {}, R_max {}; file: {} train engines / {} rows, {} test engines / {} rows",
        s.n_features,
        s.window,
        s.max_rul,
        s.source_train_engines,
        s.source_train_rows,
        s.source_test_engines,
        s.source_test_rows
    );
    println!();
    println!(
        "{:<6} {:>7} {:>7} {:>8} {:>15} {:>15}   {:>26}",
        "split", "engines", "rows", "windows", "shortest", "longest", "health normal/degr./crit."
    );
    let row = |name: &str, sp: &SplitSummary, h: [usize; 3]| {
        let len = |e: Option<grace_data::summary::EngineLength>| {
            e.map(|e| format!("{} (unit {})", e.cycles, e.unit)).unwrap_or_else(|| "–".into())
        };
        println!(
            "{:<6} {:>7} {:>7} {:>8} {:>15} {:>15}   {:>26}",
            name,
            sp.engines,
            sp.rows,
            sp.windows,
            len(sp.shortest_engine),
            len(sp.longest_engine),
            format!("{} / {} / {}", h[0], h[1], h[2])
        );
    };
    row("train", &s.train, s.train.health_windows);
    row("val", &s.val, s.val.health_windows);
    row("test", &s.test, s.test.health_last);
    println!("(health counts: all windows for train/val, the last window per engine for test)");
    println!("test truths above R_max: {} (capped to {} for the targets)", s.test_truth_above_cap, s.max_rul);
    println!();
    // One column per setting of the data set's schema, headed by its key (e.g. altitude_kft).
    let width = |key: &str| key.len().max(8);
    let mut head = format!("{:<4}", "cond");
    for (key, _) in s.conditions.first().map(|c| c.centroid.0.as_slice()).unwrap_or_default() {
        head += &format!(" {key:>w$}", w = width(key));
    }
    println!("{head} {:>10} {:>8} {:>9}", "train rows", "val rows", "test rows");
    for c in &s.conditions {
        let mut line = format!("{:<4}", c.index);
        for (key, v) in &c.centroid.0 {
            line += &format!(" {v:>w$.4}", w = width(key));
        }
        println!("{line} {:>10} {:>8} {:>9}", c.train_rows, c.val_rows, c.test_rows);
    }
}

fn run_fetch(a: FetchArgs) -> anyhow::Result<()> {
    if !a.json {
        eprintln!("fetching {} …", a.url);
    }
    let r: FetchReport = fetch::fetch(&a.url, &a.dest)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    if r.already_present {
        println!("{} already holds a valid C-MAPSS copy; nothing downloaded", r.dest.display());
    } else {
        println!("downloaded {} bytes; unpacked into {}", r.downloaded_bytes, r.dest.display());
        for f in &r.files {
            let status = match f.matches_known {
                Some(true) => "matches official checksum",
                Some(false) => "DIFFERS from official checksum",
                None => "parsed (no official checksum on record)",
            };
            println!("  {:<16} {:>9} bytes  sha256 {}…  {status}", f.file, f.bytes, &f.sha256[..16]);
        }
    }
    for s in &r.subsets {
        println!(
            "  {}: {} train engines / {} rows, {} test engines / {} rows",
            s.subset, s.train_engines, s.train_rows, s.test_engines, s.test_rows
        );
    }
    if !r.checksum_mismatches.is_empty() {
        eprintln!(
            "warning: {} differ from NASA's official bytes although they parse; check the source if you expected the original files",
            r.checksum_mismatches.join(", ")
        );
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Runs the pandas/scikit-learn reference; `Err` carries why it was skipped.
fn run_reference(data: &Path, repeats: usize) -> Result<serde_json::Value, String> {
    let py = super::reference::python(None);
    let script = super::reference::script("data_reference.py")?;
    let probe = Command::new(&py)
        .args(["-c", "import pandas, sklearn"])
        .output()
        .map_err(|e| format!("{}: {e}", py.display()))?;
    if !probe.status.success() {
        return Err(format!("{} lacks pandas or scikit-learn (pip install pandas scikit-learn)", py.display()));
    }
    let out = Command::new(&py)
        .arg(&script)
        .arg("--data")
        .arg(data)
        .args(["--repeats", &repeats.to_string()])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("reference failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("reference printed no JSON: {e}"))
}

fn run_bench(a: BenchArgs) -> anyhow::Result<()> {
    let Some(src) = source(a.data) else {
        bail!("grace data bench needs NASA's files: pass --data DIR|ZIP or set GRACE_CMAPSS_DIR (or run `grace data fetch`)")
    };
    let repeats = a.repeats.max(1);
    let cfg = PrepConfig::default();
    let (mut total, mut parse, mut prep) = (Vec::new(), Vec::new(), Vec::new());
    let mut windows = serde_json::Map::new();
    for _ in 0..repeats {
        let t0 = Instant::now();
        let all = src.load_all()?;
        let t1 = Instant::now();
        for raw in &all {
            let p = prepare(raw, &cfg)?;
            let w = p.train.n_windows() + p.val.n_windows();
            windows.insert(
                raw.name.clone(),
                serde_json::json!({"train": w, "test": p.test.n_windows(), "test_engines": p.test.engines.len()}),
            );
        }
        let t2 = Instant::now();
        parse.push((t1 - t0).as_secs_f64());
        prep.push((t2 - t1).as_secs_f64());
        total.push((t2 - t0).as_secs_f64());
    }
    let grace_s = median(total);
    let reference = if a.no_reference {
        Err("--no-reference given".to_string())
    } else {
        match &src {
            DataSource::Dir(d) => run_reference(d, repeats),
            DataSource::Zip(_) => Err("the reference reads a folder, not a zip".to_string()),
        }
    };
    let ref_s = reference.as_ref().ok().and_then(|v| v["median_s"].as_f64());
    let windows_agree = reference.as_ref().ok().map(|v| v["windows"] == serde_json::Value::Object(windows.clone()));
    let out = serde_json::json!({
        "data": src.path(),
        "repeats": repeats,
        "grace": {"median_s": grace_s, "parse_median_s": median(parse), "prepare_median_s": median(prep), "windows": windows},
        "reference": match &reference { Ok(v) => v.clone(), Err(why) => serde_json::json!({"skipped": why}) },
        "ratio_reference_over_grace": ref_s.map(|r| r / grace_s),
        "windows_agree": windows_agree,
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("parse + preprocess FD001–FD004 from {} ({repeats} runs, median)", src.path().display());
    println!(
        "  grace:     {:>8.1} ms  (parse {:.1} ms, prepare {:.1} ms)",
        grace_s * 1e3,
        out["grace"]["parse_median_s"].as_f64().unwrap_or(0.0) * 1e3,
        out["grace"]["prepare_median_s"].as_f64().unwrap_or(0.0) * 1e3
    );
    match (&reference, ref_s) {
        (Ok(_), Some(r)) => {
            println!("  reference: {:>8.1} ms  (pandas + scikit-learn)", r * 1e3);
            println!("  grace is {:.1}× faster", r / grace_s);
            if windows_agree == Some(false) {
                println!("  warning: window counts differ from the reference");
            } else {
                println!("  window counts agree with the reference");
            }
        }
        (Err(why), _) => println!("  reference: skipped — {why}"),
        (Ok(_), None) => println!("  reference: ran but reported no median"),
    }
    if grace_s > 1.0 {
        println!("  note: above the 1 s target (is this a debug build?)");
    }
    Ok(())
}
