//! Hostile-but-fair inputs: values that parse but are absurd, and archives that lie or explode.
//! Each is refused with one error that names where (file, line and column; unit and cycle; member).

mod common;

use common::row;
use grace_data::source::archive::{read_zip_members, MAX_MEMBER_BYTES};
use grace_data::{parse_data, parse_rul, prepare, PrepConfig, RawEngine, RawSubset, Schema, Subset};
use std::io::{Cursor, Write};

/// A tiny subset: two training engines of 3 cycles and one test engine, sensors ramping with the cycle.
fn tiny() -> RawSubset {
    let engine = |unit: u32| RawEngine {
        unit,
        cycles: 3,
        settings: vec![[0.0, 0.0, 100.0]; 3].into(),
        sensors: (0..3).map(|c| [500.0 + c as f64 + unit as f64; 21]).collect::<Vec<_>>().into(),
        rul: Vec::new(),
    };
    RawSubset {
        name: "FD001".into(),
        synthetic: false,
        schema: Schema::cmapss(),
        default_conditions: 1,
        train: vec![engine(1), engine(2)],
        test: vec![engine(1)],
        test_rul: vec![10.0],
    }
}

fn cfg() -> PrepConfig {
    PrepConfig { val_fraction: 0.0, window: 2, ..Default::default() }
}

// ---- class 2: values that parse but are absurd ----

#[test]
fn an_absurd_but_finite_value_in_a_file_is_refused_with_line_and_column() {
    // Column 7 is sensor 2 (T24), a model input: 1e308 used to pass and turn σ into inf.
    let bad = row(1, 2).replacen("501.02", "1e308", 1);
    let e = parse_data("train_FD001.txt", &format!("{}\n{bad}\n", row(1, 1))).unwrap_err().to_string();
    assert!(e.starts_with("train_FD001.txt, line 2, column 7: `1e308` is beyond ±1e15"), "{e}");
    // The bound is inclusive and holds for the RUL file as well.
    assert!(parse_data("t.txt", &row(1, 1).replacen("501.01", "-1e15", 1)).is_ok());
    let e = parse_rul("RUL_FD001.txt", "10\n2e15\n", 2, "test_FD001.txt").unwrap_err().to_string();
    assert!(e.starts_with("RUL_FD001.txt, line 2, column 1: `2e15` is beyond ±1e15"), "{e}");
}

#[test]
fn absurd_values_in_engines_built_in_memory_are_refused_with_unit_cycle_and_column() {
    // Training: a statistic would overflow (σ of T24 = inf) and the feature be silently zeroed.
    let mut raw = tiny();
    let mut sensors: Vec<Vec<f64>> = raw.train[1].sensors.iter().map(|r| r.to_vec()).collect();
    sensors[2][1] = 1e308;
    raw.train[1].sensors =
        sensors.iter().map(|r| <[f64; 21]>::try_from(r.as_slice()).unwrap()).collect::<Vec<_>>().into();
    let e = prepare(&raw, &cfg()).unwrap_err().to_string();
    assert!(e.starts_with("FD001 training unit 2, cycle 3, s2_T24 = 1e308: beyond ±1e15"), "{e}");
    // A NaN setting in a test engine, and an infinite RUL truth.
    let mut raw = tiny();
    raw.test[0].settings = vec![[0.0, 0.0, 100.0], [0.0, f64::NAN, 100.0], [0.0, 0.0, 100.0]].into();
    let e = prepare(&raw, &cfg()).unwrap_err().to_string();
    assert!(e.starts_with("FD001 test unit 1, cycle 2, mach = NaN: not a finite number"), "{e}");
    let mut raw = tiny();
    raw.test_rul = vec![f64::INFINITY];
    let e = prepare(&raw, &cfg()).unwrap_err().to_string();
    assert!(e.starts_with("FD001 test unit 1: RUL after the last cycle = inf"), "{e}");
}

#[test]
fn a_fitted_preprocessing_never_serialises_null() {
    let p = prepare(&tiny(), &cfg()).unwrap();
    let mut json = serde_json::to_value(&p.preprocessing).unwrap();
    // The one null allowed is the unset setting "use the data set's own number of conditions".
    assert_eq!(json["config"].as_object_mut().unwrap().remove("n_conditions"), Some(serde_json::Value::Null));
    assert!(!json.to_string().contains("null"), "{json}");
    // And the settings that reach the JSON must be finite numbers too.
    for (key, set) in [
        ("max_rul", PrepConfig { max_rul: f64::INFINITY, ..cfg() }),
        ("eps", PrepConfig { eps: f64::INFINITY, ..cfg() }),
        (
            "health",
            PrepConfig {
                health: grace_data::HealthThresholds { normal_above: 80.0, critical_at_or_below: f64::NEG_INFINITY },
                ..cfg()
            },
        ),
    ] {
        let e = prepare(&tiny(), &set).unwrap_err().to_string();
        assert!(e.contains(key) && e.contains("inf"), "{key}: {e}");
    }
}

#[test]
fn a_test_value_far_outside_the_training_range_cannot_become_an_infinite_input() {
    // 1e15 is accepted, but σ ≈ 0.5 makes the z-score about 2e15: finite in f32 (the model's type).
    let mut raw = tiny();
    raw.test[0].sensors = vec![[1e15; 21]; 3].into();
    let p = prepare(&raw, &cfg()).unwrap();
    assert!(p.test.engines[0].features.iter().all(|x| x.is_finite()));
    assert!(p.test.engines[0].features.iter().any(|x| x.abs() > 1e14));
}

#[test]
fn a_loaded_preprocessing_with_null_or_inconsistent_fields_is_refused_with_the_field_named() {
    use grace_data::Preprocessing;
    let p = prepare(&tiny(), &cfg()).unwrap().preprocessing;
    let good = serde_json::to_value(&p).unwrap();
    let loaded = Preprocessing::from_json("pre.json", good.to_string().as_bytes()).unwrap();
    assert_eq!((&loaded.feature_names, &loaded.mean), (&p.feature_names, &p.mean));
    let cases: [(&str, serde_json::Value, &str); 5] = [
        ("/std/0/3", serde_json::Value::Null, "pre.json: invalid type: null, expected f64 at line 1"),
        ("/mean/0/3", serde_json::json!(1e300), "pre.json: mean[0][3] (s2_T24, condition 0) = 1e300 is beyond ±2e15"),
        ("/std/0/1", serde_json::json!(-1.0), "pre.json: std[0][1] (mach, condition 0) = -1 is negative"),
        ("/feature_names/0", serde_json::json!("s99_nope"), "pre.json: feature `s99_nope` is not a setting or sensor"),
        (
            "/centroids",
            serde_json::json!([[0.0, 0.0]]),
            "pre.json: centroid 0 has 2 values but the schema has 3 settings",
        ),
    ];
    for (ptr, v, want) in cases {
        let mut j = good.clone();
        *j.pointer_mut(ptr).unwrap() = v;
        let e = Preprocessing::from_json("pre.json", j.to_string().as_bytes()).unwrap_err().to_string();
        assert!(e.starts_with(want), "{ptr}: {e}");
    }
}

// ---- class 9: archives trusted too much ----

fn zip_of(entries: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opt = zip::write::SimpleFileOptions::default().compression_method(method).large_file(true);
    for (name, b) in entries {
        w.start_file(*name, opt).unwrap();
        w.write_all(b).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// The error reading FD001's files out of `zip` (the members are not printed when read: they can be huge).
fn zip_error(zip: Vec<u8>) -> String {
    match read_zip_members(Cursor::new(zip), "x.zip", &Subset::FD001.files()) {
        Ok(found) => panic!("accepted: {:?}", found.keys()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_member_larger_than_the_bound_is_refused_by_name_also_when_nested() {
    // 64 MiB + 1 of zeros deflate to about 64 KB: the shape of a zip bomb.
    let big = vec![b'0'; MAX_MEMBER_BYTES as usize + 1];
    let deflated = zip::CompressionMethod::Deflated;
    let outer = zip_of(&[("data/train_FD001.txt", &big)], deflated);
    assert!(outer.len() < 1 << 20);
    let e = zip_error(outer);
    assert!(e.starts_with("x.zip!data/train_FD001.txt holds more than 64 MiB"), "{e}");
    // The same member one archive down, and an oversized archive member that is itself a zip.
    let inner = zip_of(&[("train_FD001.txt", &big)], deflated);
    let outer = zip_of(&[("CMAPSSData.zip", &inner)], zip::CompressionMethod::Stored);
    let e = zip_error(outer);
    assert!(e.starts_with("x.zip!CMAPSSData.zip!train_FD001.txt holds more than 64 MiB"), "{e}");
    let outer = zip_of(&[("nested.zip", &big)], deflated);
    let e = zip_error(outer);
    assert!(e.starts_with("x.zip!nested.zip holds more than 64 MiB"), "{e}");
}

#[test]
fn a_member_whose_header_lies_about_its_size_is_an_error_naming_it() {
    let body = row(1, 1).into_bytes();
    let mut z = zip_of(&[("train_FD001.txt", &body)], zip::CompressionMethod::Stored);
    // Claim 3 GiB uncompressed in the local and the central header (offsets 22 and 24 of each).
    let claim = (3u32 << 30).to_le_bytes();
    for sig in [&b"PK\x03\x04"[..], &b"PK\x01\x02"[..]] {
        let at = z.windows(4).position(|w| w == sig).unwrap();
        let off = if sig[2] == 3 { 22 } else { 24 };
        z[at + off..at + off + 4].copy_from_slice(&claim);
    }
    // Refused on the claim alone: nothing is reserved or read for it.
    let e = zip_error(z);
    assert!(e.starts_with("x.zip!train_FD001.txt holds more than 64 MiB"), "{e}");
}

#[test]
fn a_file_in_a_folder_larger_than_the_bound_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let big = tmp.path().join("train_FD001.txt");
    // Sparse: 64 MiB + 1 of zeros without writing them.
    std::fs::File::create(&big).unwrap().set_len(MAX_MEMBER_BYTES + 1).unwrap();
    let e = grace_data::DataSource::Dir(tmp.path().into()).load(Subset::FD001).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{} holds more than 64 MiB", big.display())), "{e}");
}
