//! The README's results tables and `benchmarks/cmapss/summary.md` against the committed tables they
//! quote: every per-method figure must be the one in `benchmarks/cmapss/`, rounded once.

mod common;

use common::{json, read, repo};
use serde_json::Value;
use std::path::PathBuf;

/// Each README results table (by the bold words that open its paragraph) and the folder of
/// `benchmarks/cmapss/` it quotes; FD004's zoo rows live in its core grid's tables.
const SECTIONS: &[(&str, &str)] = &[
    ("**FD001 with the tuned recipe**", "FD001"),
    ("**The method zoo on FD001**", "FD001/zoo"),
    ("**FD003**", "FD003"),
    ("**The method zoo on FD003**", "FD003/zoo"),
    ("**FD002**", "FD002"),
    ("**The method zoo on FD002**", "FD002/zoo"),
    ("**FD004**", "FD004"),
    ("**The method zoo on FD004**", "FD004"),
];

fn cells(line: &str) -> Vec<String> {
    line.trim().trim_matches('|').split('|').map(|c| c.trim().to_string()).collect()
}

/// The first Markdown table after `heading`: its header cells and body rows.
fn table_after(text: &str, heading: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let start = text.find(heading).unwrap_or_else(|| panic!("README has no paragraph {heading}"));
    let mut lines = text[start..].lines().skip_while(|l| !l.starts_with('|'));
    let header = cells(lines.next().unwrap_or_else(|| panic!("no table after {heading}")));
    let rows = lines.skip(1).take_while(|l| l.starts_with('|')).map(cells).collect();
    (header, rows)
}

/// The row of `method` in a committed results.json.
fn row_of<'a>(results: &'a Value, method: &str) -> Option<&'a Value> {
    results["rows"].as_array().unwrap().iter().find(|r| r["method"] == *method)
}

fn mean_std(stat: &Value, digits: usize) -> String {
    let (mean, std) = (stat["mean"].as_f64().unwrap(), stat["std"].as_f64().unwrap());
    format!("{mean:.digits$} ± {std:.digits$}")
}

/// What the README cell under `column` must read for this results row and ensemble.
fn expected(column: &str, row: &Value, ensemble: &Value) -> Option<String> {
    let capped = &ensemble["ensemble"]["capped"];
    let intervals = &row["intervals"];
    Some(match column {
        "seeds" => row["n"].to_string(),
        "test RMSE" => mean_std(&row["rmse"], 2),
        "NASA" => mean_std(&row["nasa"], 0),
        "RMSE uncapped" => mean_std(&row["rmse_uncapped"], 2),
        c if c.ends_with("ensemble RMSE / NASA") => {
            format!("{:.2} / {:.0}", capped["rmse"].as_f64().unwrap(), capped["nasa"].as_f64().unwrap())
        }
        c if c.ends_with("ensemble RMSE") => format!("{:.2}", capped["rmse"].as_f64().unwrap()),
        "90% interval coverage, width" => format!(
            "{}, {:.0} cycles",
            mean_std(&intervals["coverage"], 3),
            intervals["width"]["mean"].as_f64().unwrap()
        ),
        "90% lower bound coverage" => mean_std(&intervals["lower_bound_coverage"], 3),
        _ => return None, // the method's name, and minutes per run (from the run folders)
    })
}

#[test]
fn readme_result_tables_quote_the_committed_benchmark_tables() {
    let readme = read(&repo("README.md"));
    let mut checked = 0;
    for (heading, folder) in SECTIONS {
        let dir = repo("benchmarks/cmapss").join(folder);
        let results = json(&dir.join("results.json"));
        let (header, rows) = table_after(&readme, heading);
        assert!(!rows.is_empty(), "README table after {heading} has no rows");
        for row in rows {
            let method = &row[0];
            let found = row_of(&results, method)
                .unwrap_or_else(|| panic!("{heading}: {method} is not in {folder}/results.json"));
            let ensemble = json(&dir.join(format!("ensemble-{method}.json")));
            for (column, cell) in header.iter().zip(&row) {
                if let Some(want) = expected(column, found, &ensemble) {
                    assert_eq!(cell, &want, "README {heading}, {method}, {column}: {folder} says {want}");
                    checked += 1;
                }
            }
        }
    }
    // 8 tables of 6 methods; FD001's two tables check 7 columns (they add RMSE uncapped), the others 6
    assert_eq!(checked, 2 * 6 * 7 + 6 * 6 * 6, "README cells checked");
}

#[test]
fn readme_glance_table_is_the_benchmark_summary() {
    let readme = read(&repo("README.md"));
    let summary = read(&repo("benchmarks/cmapss/summary.md"));
    let start = summary.find("| method |").expect("summary.md has no table");
    let end = summary.find("\n\n## NASA").expect("summary.md has no NASA section");
    let block = &summary[start..end];
    assert!(
        readme.contains(block),
        "README's at-a-glance table differs from benchmarks/cmapss/summary.md; copy its RMSE table and notes"
    );
}

/// The folder of `benchmarks/cmapss/` a summary cell quotes: the zoo's own sweep where it had one.
fn summary_source(subset: &str, method: &str) -> PathBuf {
    let bench = repo("benchmarks/cmapss");
    let zoo = bench.join(subset).join("zoo");
    let zoo_method = ["uncertainty", "dwa", "rlw", "pcgrad", "gradnorm", "dbmtl"].contains(&method);
    if zoo_method && zoo.join("results.json").exists() {
        zoo
    } else {
        bench.join(subset)
    }
}

/// " (worse)", " (better)" or nothing, from the paired comparison against `baseline`.
fn marker(compare: &Value, method: &str, metric: &str) -> &'static str {
    let pairs = compare["pairs"].as_array().unwrap();
    let pair = pairs.iter().find(|p| p["method"] == *method && p["reference"] == "baseline");
    match pair.map(|p| p[metric]["verdict"].as_str().unwrap()) {
        Some("worse") => " (worse)",
        Some("better") => " (better)",
        _ => "",
    }
}

#[test]
fn benchmark_summary_quotes_each_subsets_tables() {
    let summary = read(&repo("benchmarks/cmapss/summary.md"));
    let mut checked = 0;
    for (section, metric, digits) in [("## Test RMSE", "rmse", 2), ("## NASA score", "nasa", 0)] {
        let (header, rows) = table_after(&summary, section);
        for row in rows.iter().filter(|r| !r[0].starts_with('*')) {
            let method = &row[0];
            for (column, cell) in header.iter().zip(row).skip(1) {
                let subset = &column[..5];
                let dir = summary_source(subset, method);
                let results = json(&dir.join("results.json"));
                let found = row_of(&results, method)
                    .unwrap_or_else(|| panic!("{method} not in {}/results.json", dir.display()));
                let compare = json(&dir.join("compare.json"));
                let want = format!("{}{}", mean_std(&found[metric], digits), marker(&compare, method, metric));
                assert_eq!(cell, &want, "summary.md {section}, {method}, {subset}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 2 * 12 * 4, "summary.md: 12 methods x 4 subsets x 2 scores");
}
