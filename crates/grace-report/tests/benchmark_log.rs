//! The committed C-MAPSS benchmark tables against its test-scoring log: every run and ensemble a
//! table summarises must have been logged in `benchmarks/cmapss/test-log.csv` with the same scores.

mod common;

use common::{json, repo};
use std::path::PathBuf;

/// Each folder of committed tables and the sweep folder its runs were trained in.
const TABLES: &[(&str, &str)] = &[
    ("FD001", "cmapss-fd001"),
    ("FD001/zoo", "cmapss-fd001-zoo"),
    ("FD002", "cmapss-fd002"),
    ("FD002/zoo", "cmapss-fd002-zoo"),
    ("FD003", "cmapss-fd003"),
    ("FD003/zoo", "cmapss-fd003-zoo"),
    ("FD004", "cmapss-fd004"),
];

fn bench() -> PathBuf {
    repo("benchmarks/cmapss")
}

/// (run folder, capped test RMSE, capped test NASA) of every logged scoring, in log order.
fn log() -> Vec<(String, f64, f64)> {
    let mut reader = csv::Reader::from_path(bench().join("test-log.csv")).expect("test-log.csv");
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
    let (dir, rmse, nasa) = (col("run_dir"), col("test_rmse_capped"), col("test_nasa_capped"));
    let records = reader.records().map(|r| r.unwrap_or_else(|e| panic!("test-log.csv: {e}")));
    records
        .enumerate()
        .map(|(i, r)| {
            // line i + 2: the header is line 1
            let number = |c: usize| {
                r[c].parse().unwrap_or_else(|e| panic!("test-log.csv line {}: {} {:?}: {e}", i + 2, &header[c], &r[c]))
            };
            (r[dir].to_string(), number(rmse), number(nasa))
        })
        .collect()
}

/// The last logged scores of the run folder whose path ends with `tail`.
fn last_scoring(log: &[(String, f64, f64)], tail: &str) -> (f64, f64) {
    let found = log.iter().rev().find(|(dir, _, _)| dir.ends_with(tail));
    let (_, rmse, nasa) = found.unwrap_or_else(|| panic!("test-log.csv has no scoring of …{tail}"));
    (*rmse, *nasa)
}

fn close(logged: f64, table: f64, tolerance: f64, what: &str) {
    // the log keeps 4 decimals of RMSE and 2 of NASA
    assert!((logged - table).abs() <= tolerance, "{what}: logged {logged}, table {table}");
}

#[test]
fn every_tabled_run_and_ensemble_was_logged_with_its_scores() {
    let log = log();
    let mut runs = 0;
    for (folder, sweep) in TABLES {
        let dir = bench().join(folder);
        for row in json(&dir.join("results.json"))["rows"].as_array().unwrap() {
            let method = row["method"].as_str().unwrap();
            let scores: Vec<(f64, f64)> = row["runs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|run| last_scoring(&log, &format!("/{sweep}/runs/{}", run.as_str().unwrap())))
                .collect();
            let n = scores.len() as f64;
            let mean = |f: fn(&(f64, f64)) -> f64| scores.iter().map(f).sum::<f64>() / n;
            let what = format!("{folder} {method}");
            close(mean(|s| s.0), row["rmse"]["mean"].as_f64().unwrap(), 1e-4, &format!("{what} RMSE"));
            close(mean(|s| s.1), row["nasa"]["mean"].as_f64().unwrap(), 1e-2, &format!("{what} NASA"));
            runs += scores.len();

            let ensemble = &json(&dir.join(format!("ensemble-{method}.json")))["ensemble"]["capped"];
            // run.sh names an ensemble's folder after its sweep: cmapss-fd002-zoo -> ens-fd002-zoo-METHOD
            let (rmse, nasa) = last_scoring(&log, &format!("/ens-{sweep}-{method}").replace("cmapss-", ""));
            close(rmse, ensemble["rmse"].as_f64().unwrap(), 1e-4, &format!("{what} ensemble RMSE"));
            close(nasa, ensemble["nasa"].as_f64().unwrap(), 1e-2, &format!("{what} ensemble NASA"));
        }
    }
    // FD001/FD003: 6 core + 9 zoo methods x 5 seeds; FD002: (6 + 9) x 3; FD004: 12 x 3
    assert_eq!(runs, 2 * 15 * 5 + 15 * 3 + 12 * 3, "runs in the committed tables");
}
