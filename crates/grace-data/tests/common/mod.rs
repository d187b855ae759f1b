//! Shared helpers for the integration tests: the real C-MAPSS copy (via GRACE_CMAPSS_DIR, loaded
//! once per test binary) and small generated NASA-layout files.
#![allow(dead_code)]

use grace_data::{DataSource, RawSubset, Subset};
use std::sync::OnceLock;

/// All four real subsets, or `None` (with a note on stderr) when GRACE_CMAPSS_DIR is unset.
pub fn real(test: &str) -> Option<&'static [RawSubset]> {
    static DATA: OnceLock<Option<Vec<RawSubset>>> = OnceLock::new();
    let d = DATA.get_or_init(|| {
        DataSource::from_env().map(|src| src.load_all().unwrap_or_else(|e| panic!("GRACE_CMAPSS_DIR is set but: {e}")))
    });
    if d.is_none() {
        eprintln!("note: {test} skipped — set GRACE_CMAPSS_DIR to the folder with NASA's C-MAPSS files");
    }
    d.as_deref()
}

pub fn subset(all: &[RawSubset], s: Subset) -> &RawSubset {
    all.iter().find(|r| r.name == s.name()).expect("subset loaded")
}

/// A valid NASA-layout row.
pub fn row(unit: u32, cycle: u32) -> String {
    let mut s = format!("{unit} {cycle} 0.0023 0.0003 100.0");
    for k in 0..21 {
        s.push_str(&format!(" {:.2}", 500.0 + k as f64 + cycle as f64 * 0.01));
    }
    s.push_str("  ");
    s
}
