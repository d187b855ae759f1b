//! Every malformed-input case yields a `DataError` naming the file, 1-based line and value.

mod common;

use common::row;
use grace_data::{parse_data, parse_rul, DataError, DataSource, RawSubset, Subset};

fn data_err(text: &str) -> (DataError, String) {
    let e = parse_data("train_FD001.txt", text).unwrap_err();
    let m = e.to_string();
    (e, m)
}

#[test]
fn wrong_column_count_names_line_and_row() {
    let short: String = row(1, 3).split_whitespace().take(25).collect::<Vec<_>>().join(" ");
    let text = format!("{}\n{}\n{short}\n", row(1, 1), row(1, 2));
    let (e, m) = data_err(&text);
    assert!(matches!(e, DataError::ColumnCount { line: 3, found: 25, expected: 26, .. }), "{e:?}");
    assert!(m.starts_with("train_FD001.txt, line 3: expected 26 columns, found 25 (line starts `1 3 0.0023"), "{m}");
}

#[test]
fn non_numeric_value_is_quoted_with_line_and_column() {
    let bad = row(1, 2).replacen("500.02", "5OO.02", 1);
    let (e, m) = data_err(&format!("{}\r\n{bad}\r\n", row(1, 1)));
    assert!(matches!(e, DataError::NotNumeric { line: 2, column: 6, .. }), "{e:?}");
    assert!(m.contains("train_FD001.txt, line 2, column 6: `5OO.02` is not a number"), "{m}");
    let (e, m) = data_err(&format!("1.5 1{}", &row(1, 1)[3..]));
    assert!(matches!(e, DataError::NotNumeric { line: 1, column: 1, .. }), "{e:?}");
    assert!(m.contains("`1.5` is not a whole, non-negative unit id"), "{m}");
}

#[test]
fn nan_and_infinity_are_rejected() {
    for tok in ["NaN", "inf", "-infinity"] {
        let bad = row(4, 1).replacen("100.0", tok, 1);
        let (e, m) = data_err(&bad);
        assert!(matches!(e, DataError::NonFinite { line: 1, column: 5, .. }), "{e:?}");
        assert!(m.contains(&format!("`{tok}` is not a finite number")), "{m}");
    }
}

#[test]
fn empty_or_blank_files_are_rejected() {
    for text in ["", "\n", "  \r\n \n"] {
        let (e, m) = data_err(text);
        assert!(matches!(e, DataError::EmptyFile { .. }), "{e:?}");
        assert!(m.starts_with("train_FD001.txt is empty"), "{m}");
    }
    let e = parse_rul("RUL_FD001.txt", "\n", 0, "test_FD001.txt").unwrap_err();
    assert!(e.to_string().starts_with("RUL_FD001.txt is empty"), "{e}");
}

#[test]
fn units_must_ascend_and_not_repeat() {
    let (e, m) = data_err(&[row(2, 1), row(1, 1)].join("\n"));
    assert!(matches!(e, DataError::UnitOrder { line: 2, value: 1, previous: 2, .. }), "{e:?}");
    assert!(m.contains("train_FD001.txt, line 2: unit `1` follows unit 2"), "{m}");
    // Unit 1 reappearing after unit 2 is a duplicate block.
    let (e, _) = data_err(&[row(1, 1), row(2, 1), row(1, 2)].join("\n"));
    assert!(matches!(e, DataError::UnitOrder { line: 3, value: 1, previous: 2, .. }), "{e:?}");
}

#[test]
fn cycles_must_be_consecutive_from_one() {
    let cases = [
        (vec![row(1, 1), row(1, 3)], 2, 3, 2),
        (vec![row(1, 1), row(1, 2), row(1, 2)], 3, 2, 3),
        (vec![row(1, 1), row(2, 2)], 2, 2, 1),
        (vec![row(7, 0)], 1, 0, 1),
    ];
    for (rows, line_, value_, expected_) in cases {
        let (e, m) = data_err(&rows.join("\n"));
        match e {
            DataError::CycleOrder { line, value, expected, .. } => {
                assert_eq!((line, value, expected), (line_, value_, expected_))
            }
            other => panic!("{other:?}"),
        }
        assert!(m.contains(&format!("line {line_}: unit")) && m.contains(&format!("cycle `{value_}`")), "{m}");
    }
}

#[test]
fn rul_count_must_match_test_engines() {
    let e = parse_rul("RUL_FD002.txt", "10\n20\n30\n", 4, "test_FD002.txt").unwrap_err();
    assert!(matches!(e, DataError::RulCount { found: 3, expected: 4, line: 3, .. }), "{e:?}");
    let m = e.to_string();
    assert!(m.contains("RUL_FD002.txt has 3 values") && m.contains("test_FD002.txt has 4 engines"), "{m}");
    // Through the whole-subset reader as well: 2 test engines, 1 RUL value.
    let train = [row(1, 1), row(1, 2)].join("\n");
    let test = [row(1, 1), row(2, 1)].join("\n");
    let e = RawSubset::from_texts(Subset::FD001, &train, &test, "5\n").unwrap_err();
    assert!(e.to_string().contains("RUL_FD001.txt has 1 values"), "{e}");
}

#[test]
fn negative_or_non_numeric_rul_is_rejected() {
    let e = parse_rul("RUL_FD003.txt", "12\n-3\n", 2, "test_FD003.txt").unwrap_err();
    assert!(matches!(e, DataError::NegativeRul { line: 2, .. }), "{e:?}");
    assert!(e.to_string().contains("RUL_FD003.txt, line 2: RUL `-3` is negative"), "{e}");
    let e = parse_rul("RUL_FD003.txt", "12\nabc\n", 2, "test_FD003.txt").unwrap_err();
    assert!(e.to_string().contains("line 2, column 1: `abc` is not a number"), "{e}");
}

#[test]
fn missing_files_name_the_file_and_place() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("train_FD001.txt"), row(1, 1)).unwrap();
    std::fs::write(tmp.path().join("test_FD001.txt"), row(1, 1)).unwrap();
    let e = DataSource::Dir(tmp.path().into()).load(Subset::FD001).unwrap_err();
    let m = e.to_string();
    assert!(m.starts_with("RUL_FD001.txt not found in ") && m.contains(&tmp.path().display().to_string()), "{m}");
    let e = DataSource::from_path(tmp.path().join("nope.zip")).load(Subset::FD001).unwrap_err();
    assert!(e.to_string().contains("nope.zip not found"), "{e}");
    // A file that is not a zip.
    let fake = tmp.path().join("CMAPSSData.zip");
    std::fs::write(&fake, "not a zip").unwrap();
    let e = DataSource::from_path(&fake).load(Subset::FD001).unwrap_err();
    assert!(matches!(e, DataError::Zip { .. }) && e.to_string().contains("not a readable zip"), "{e}");
}

#[test]
fn error_in_a_subset_file_names_that_file() {
    let good = [row(1, 1), row(1, 2)].join("\n");
    let e = RawSubset::from_texts(Subset::FD004, &good, &format!("{}\nx", row(1, 1)), "1\n").unwrap_err();
    assert!(e.to_string().starts_with("test_FD004.txt, line 2: expected 26 columns, found 1"), "{e}");
}
