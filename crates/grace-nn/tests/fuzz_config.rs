//! Fuzzing the run configuration (proptest; `make fuzz` raises PROPTEST_CASES): TOML and `--set` text
//! resolve to a configuration that reads back unchanged, or to one error that says where; no panic.

use grace_nn::config::RunConfig;
use proptest::prelude::*;

/// Every key of the default configuration as a dotted path (`train.lr`, `data.prep.health.normal_above`).
fn keys() -> Vec<String> {
    fn walk(t: &toml::Table, at: &str, out: &mut Vec<String>) {
        for (k, v) in t {
            let path = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
            match v {
                toml::Value::Table(inner) => walk(inner, &path, out),
                _ => out.push(path),
            }
        }
    }
    let cfg = RunConfig::resolve("small", None, &[]).unwrap();
    let mut out = Vec::new();
    walk(&toml::Table::try_from(&cfg).unwrap(), "", &mut out);
    out
}

/// A key: mostly a real one, sometimes one that is not, or a section used as a key.
fn key() -> impl Strategy<Value = String> {
    let real = keys();
    assert!(real.len() > 30 && real.contains(&"data.prep.window".to_string()), "{real:?}");
    prop_oneof![
        6 => prop::sample::select(real),
        1 => prop::sample::select(vec!["train", "data.prep", "model.preset", "method.name", "nope.deep.key", "", ".", "a..b"])
            .prop_map(String::from),
        1 => "[a-z_.]{1,12}",
    ]
}

/// A value as typed after `=`: edges of each type, names grace knows, and arbitrary text.
fn value() -> impl Strategy<Value = String> {
    let mut known: Vec<String> = [
        "0",
        "-1",
        "1",
        "2",
        "0.5",
        "1.5",
        "1e-300",
        "1e308",
        "-1e308",
        "nan",
        "inf",
        "-inf",
        "256",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "100000000",
        "\"x\"",
        "x",
        "",
        "[]",
        "[1, 2]",
        "[0]",
        "{}",
        "{ a = 1 }",
        "true",
        "\"synthetic\"",
        "\"paper\"",
        "\"small\"",
        "\"cpu\"",
        "\"sensors\"",
        "\"fd002\"",
    ]
    .map(String::from)
    .to_vec();
    known.extend(grace_core::methods::names().into_iter().map(|m| format!("\"{m}\"")));
    prop_oneof![
        6 => prop::sample::select(known),
        1 => any::<f64>().prop_map(|v| format!("{v:?}")),
        1 => any::<i64>().prop_map(|v| v.to_string()),
        1 => "\\PC{0,8}",
    ]
}

/// Resolves and checks the outcome: a valid configuration that round-trips through `config.toml`,
/// or one non-empty error. Returns the error for the caller's own checks.
fn outcome(toml_text: Option<&str>, sets: &[String]) -> Result<Option<String>, TestCaseError> {
    match RunConfig::resolve("small", toml_text, sets) {
        Ok(cfg) => {
            prop_assert!(cfg.validate().is_ok());
            let written = cfg.to_toml();
            let back = RunConfig::from_toml(&written);
            prop_assert!(back.is_ok(), "{written}\n{back:?}");
            prop_assert_eq!(back.unwrap().to_toml(), written);
            Ok(None)
        }
        Err(m) => {
            prop_assert!(!m.trim().is_empty());
            Ok(Some(m))
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_text_as_a_config_file(text in "\\PC{0,200}") {
        if let Some(m) = outcome(Some(&text), &[])? {
            // Syntax errors point at the spot; anything else is a setting, named in the message.
            prop_assert!(m.starts_with("config TOML: ") || m.contains("config") || m.contains('.') || m.contains('`'), "{m}");
        }
    }

    #[test]
    fn config_files_built_from_real_keys(pairs in prop::collection::vec((key(), value()), 1..5)) {
        let text: String = pairs.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
        outcome(Some(&text), &[])?;
    }

    #[test]
    fn set_pairs_of_real_keys_and_edge_values(pairs in prop::collection::vec((key(), value()), 1..4)) {
        let sets: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        outcome(None, &sets)?;
    }

    #[test]
    fn one_bad_set_pair_is_named_in_its_error(k in key(), v in value()) {
        if let Some(m) = outcome(None, &[format!("{k}={v}")])? {
            // The key, one of its sections (`method `grace`: …`), or the `--set` pair itself.
            let named = k.split('.').any(|s| !s.is_empty() && m.contains(s));
            prop_assert!(named || m.contains("--set") || m.contains("preset"), "--set {k}={v}: {m}");
        }
    }

    #[test]
    fn arbitrary_set_text(sets in prop::collection::vec("\\PC{0,30}", 0..4)) {
        outcome(None, &sets)?;
    }
}

/// Class 2 in the configuration: a setting that would put NaN or inf into the data, or generate a
/// fleet too large for memory, is refused when the configuration is resolved, before any run starts.
#[test]
fn absurd_data_settings_are_refused_with_the_setting_named() {
    let err = |set: &str| RunConfig::resolve("small", None, &[set.to_string()]).unwrap_err();
    for (set, want) in [
        ("data.synthetic.noise=nan", "data.synthetic: noise NaN must be a finite number ≥ 0"),
        ("data.synthetic.max_life=4000000000", "data.synthetic: (n_train 80 + n_test 40) engines of up to 4000000000"),
        ("data.prep.max_rul=inf", "data.prep: max_rul inf must be positive and at most 1e15"),
        ("data.prep.eps=inf", "data.prep: eps inf must be a finite number ≥ 0"),
        ("data.prep.health.normal_above=inf", "data.prep: health thresholds must be finite numbers"),
    ] {
        let e = err(set);
        assert!(e.starts_with(want), "--set {set}: {e}");
    }
}
