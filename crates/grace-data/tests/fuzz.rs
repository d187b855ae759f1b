//! Fuzzing (proptest; `make fuzz` raises PROPTEST_CASES): the C-MAPSS parser and preprocessing.json
//! loading never panic, refuse with one error naming the file, and whatever they accept stays finite.

use grace_data::{parse_data, parse_rul, prepare, PrepConfig, Preprocessing, RawEngine, RawSubset, Schema};
use proptest::prelude::*;
use std::path::Path;

const DATA_FILE: &str = "train_FD001.txt";
const RUL_FILE: &str = "RUL_FD001.txt";
const PRE_FILE: &str = "pre.json";

fn config(k: usize) -> PrepConfig {
    PrepConfig { n_conditions: Some(k), val_fraction: 0.0, window: 3, kmeans_restarts: 2, ..Default::default() }
}

/// Every feature, target and fitted number that a prepared data set holds is finite, and its
/// preprocessing serialises without a null (the only null allowed is the unset `n_conditions`).
fn assert_finite(engines: Vec<RawEngine>, k: usize) -> Result<(), TestCaseError> {
    let n_rul = engines.len();
    let raw = RawSubset {
        name: "FD001".into(),
        synthetic: false,
        schema: Schema::cmapss(),
        default_conditions: 1,
        test: engines.clone(),
        train: engines,
        test_rul: vec![1.0; n_rul],
    };
    let rows = raw.train_rows();
    match prepare(&raw, &config(k)) {
        Ok(p) => {
            for e in p.train.engines.iter().chain(&p.test.engines) {
                prop_assert!(e.features.iter().chain(&e.rul).all(|v| v.is_finite()), "unit {}", e.unit);
            }
            let mut json = serde_json::to_value(&p.preprocessing).unwrap();
            json["config"].as_object_mut().unwrap().remove("n_conditions");
            prop_assert!(!json.to_string().contains("null"), "{json}");
        }
        // Parsed data is always usable; the one refusal left is too few rows for the conditions.
        Err(e) => prop_assert!(rows < k && e.to_string().contains("cannot be clustered"), "{e}"),
    }
    Ok(())
}

/// The C-MAPSS target: the data and RUL parsers, and preparing whatever parses.
fn cmapss_outcome(bytes: &[u8], k: usize) -> Result<String, TestCaseError> {
    let text = String::from_utf8_lossy(bytes);
    if let Err(e) = parse_rul(RUL_FILE, &text, 2, "test_FD001.txt") {
        let m = e.to_string();
        prop_assert!(m.starts_with(RUL_FILE) && !m.chars().any(char::is_control), "{m:?}");
    }
    match parse_data(DATA_FILE, &text) {
        Ok(engines) => {
            assert_finite(engines, k)?;
            Ok("ok".into())
        }
        Err(e) => {
            let m = e.to_string();
            prop_assert!(m.starts_with(DATA_FILE) && !m.chars().any(char::is_control), "{m:?}");
            Ok(m)
        }
    }
}

/// A fitted preprocessing to mutate: two operating conditions, the 17 features.
fn fitted() -> serde_json::Value {
    let engine = |unit: u32, alt: f64| RawEngine {
        unit,
        cycles: 4,
        settings: (0..4).map(|c| [alt + c as f64 * 0.001, 0.5, 100.0]).collect::<Vec<_>>().into(),
        sensors: (0..4).map(|c| [500.0 + (c * unit) as f64; 21]).collect::<Vec<_>>().into(),
        rul: Vec::new(),
    };
    let pre = Preprocessing::fit(&Schema::cmapss(), &[engine(1, 0.0), engine(2, 35.0)], 2, &config(2)).unwrap();
    serde_json::to_value(pre).unwrap()
}

/// The preprocessing target: load, then apply to engines that span both conditions.
fn preprocessing_outcome(bytes: &[u8]) -> Result<String, TestCaseError> {
    match Preprocessing::from_json(PRE_FILE, bytes) {
        Ok(pre) => {
            let e = RawEngine {
                unit: 7,
                cycles: 3,
                settings: vec![[0.0, 0.5, 100.0], [35.0, 0.5, 100.0], [1e15, -1e15, 0.0]].into(),
                sensors: vec![[500.0; 21], [-1e15; 21], [1e15; 21]].into(),
                rul: Vec::new(),
            };
            if let Ok(out) = pre.apply(&[e], Some(&[3.0])) {
                prop_assert!(out[0].features.iter().all(|v| v.is_finite()), "{:?}", out[0].features);
            }
            Ok("ok".into())
        }
        Err(e) => {
            let m = e.to_string();
            prop_assert!(m.starts_with(&format!("{PRE_FILE}: ")) && !m.chars().any(char::is_control), "{m:?}");
            Ok(m)
        }
    }
}

/// A plain value, as NASA's files hold them.
fn plain() -> impl Strategy<Value = String> {
    (-1e4f64..1e4).prop_map(|v| format!("{v:.4}"))
}

/// A token at an edge of what parses (or just beyond it).
fn special() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "1e308",
            "-1e308",
            "1e15",
            "-1e15",
            "1.0000000000000002e15",
            "999999999999999",
            "1000000000000000",
            "4.9e-324",
            "1e-320",
            "-0",
            "NaN",
            "inf",
            "-infinity",
            "0x1p3",
            "1_0",
            "+5",
            ".5",
            "5.",
            "e5",
            "--1",
            "\u{feff}1",
            "１",
            "\0",
        ])
        .prop_map(String::from),
        any::<f64>().prop_map(|v| v.to_string()),
    ]
}

/// Near-valid data files: ascending units and cycles 1, 2, … (sometimes broken), 26 tokens a row,
/// now and then one token from [`special`].
fn rows() -> impl Strategy<Value = Vec<u8>> {
    let odd = prop::option::weighted(0.15, (0usize..24, special()));
    let row = (0u32..4, 0u32..6, prop::collection::vec(plain(), 24..=24), odd, 0usize..40);
    prop::collection::vec(row, 1..12).prop_map(|rows| {
        let mut out = String::new();
        for (i, (unit, cycle, mut values, odd, damage)) in rows.into_iter().enumerate() {
            if let Some((at, tok)) = odd {
                values[at] = tok;
            }
            // Mostly a well-ordered file; `damage` 0 breaks the order, 1 drops a column, 2 ends in CRLF.
            let (u, c) = if damage == 0 { (unit, cycle) } else { (1 + i as u32 / 3, 1 + i as u32 % 3) };
            let mut toks = vec![u.to_string(), c.to_string()];
            toks.extend(values);
            if damage == 1 {
                toks.pop();
            }
            out.push_str(&toks.join(" "));
            out.push_str(if damage == 2 { "\r\n" } else { "  \n" });
        }
        out.into_bytes()
    })
}

/// A few random edits of the fitted preprocessing: a leaf replaced, a key dropped, an array cut.
fn mutated_preprocessing() -> impl Strategy<Value = Vec<u8>> {
    let value = prop::sample::select(vec![
        "null",
        "1e300",
        "-1",
        "0",
        "1e-300",
        "256",
        "\"x\"",
        "[]",
        "{}",
        "true",
        "[[0,0]]",
        "\"s99_nope\"",
        "1e15",
    ]);
    prop::collection::vec((any::<prop::sample::Index>(), value, 0u8..3), 1..4).prop_map(|edits| {
        let mut json = fitted();
        for (at, v, kind) in edits {
            let paths = pointers(&json, "");
            let p = &paths[at.index(paths.len())];
            let (parent, key) = p.rsplit_once('/').unwrap();
            match (kind, json.pointer_mut(parent)) {
                (0, Some(serde_json::Value::Object(o))) => {
                    o.remove(key);
                }
                (1, Some(serde_json::Value::Array(a))) => a.truncate(key.parse::<usize>().unwrap()),
                _ => *json.pointer_mut(p).unwrap() = serde_json::from_str(v).unwrap(),
            }
        }
        json.to_string().into_bytes()
    })
}

/// JSON pointers of every value inside `v` (not `v` itself).
fn pointers(v: &serde_json::Value, at: &str) -> Vec<String> {
    let children: Vec<(String, &serde_json::Value)> = match v {
        serde_json::Value::Object(o) => o.iter().map(|(k, c)| (format!("{at}/{k}"), c)).collect(),
        serde_json::Value::Array(a) => a.iter().enumerate().map(|(i, c)| (format!("{at}/{i}"), c)).collect(),
        _ => Vec::new(),
    };
    children.into_iter().flat_map(|(p, c)| std::iter::once(p.clone()).chain(pointers(c, &p))).collect()
}

proptest! {
    #[test]
    fn cmapss_parser_takes_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600), k in 1usize..3) {
        cmapss_outcome(&bytes, k)?;
    }

    #[test]
    fn cmapss_parser_takes_near_valid_files(bytes in rows(), k in 1usize..3) {
        cmapss_outcome(&bytes, k)?;
    }

    #[test]
    fn preprocessing_loading_takes_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        preprocessing_outcome(&bytes)?;
    }

    #[test]
    fn preprocessing_loading_takes_edited_files(bytes in mutated_preprocessing()) {
        preprocessing_outcome(&bytes)?;
    }

    #[test]
    fn preprocessing_loading_takes_byte_edits(at in any::<prop::sample::Index>(), b in any::<u8>(), cut in any::<bool>()) {
        let mut bytes = fitted().to_string().into_bytes();
        let i = at.index(bytes.len());
        if cut { bytes.truncate(i) } else { bytes[i] = b }
        preprocessing_outcome(&bytes)?;
    }
}

/// Replays `tests/corpus/`: each input listed in `expected.tsv` with the start of its outcome
/// ("ok" or the error message); every file in the corpus must be listed.
#[test]
fn corpus_inputs_keep_their_outcomes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let listing = std::fs::read_to_string(dir.join("expected.tsv")).unwrap();
    let mut listed = Vec::new();
    for line in listing.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let (file, want) = line.split_once('\t').unwrap_or_else(|| panic!("no tab in `{line}`"));
        let bytes = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let got = match file.split('/').next() {
            Some("cmapss") => cmapss_outcome(&bytes, 1),
            Some("preprocessing") => preprocessing_outcome(&bytes),
            _ => panic!("{file}: unknown target"),
        }
        .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(got.starts_with(want), "{file}: expected `{want}`, got `{got}`");
        listed.push(file.to_string());
    }
    for sub in ["cmapss", "preprocessing"] {
        for f in std::fs::read_dir(dir.join(sub)).unwrap() {
            let name = format!("{sub}/{}", f.unwrap().file_name().to_string_lossy());
            assert!(listed.contains(&name), "{name} is not listed in expected.tsv");
        }
    }
    assert!(listed.len() >= 20, "{listed:?}");
}
