//! Property tests: the parser never panics and round-trips; windowing counts and gathers correctly.

use grace_data::{parse_data, parse_rul, write_data, Engine, RawEngine, Split};
use proptest::prelude::*;

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..5).prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| v.to_string()),
        Just("NaN".to_string()),
        Just("-".to_string()),
        Just("\r".to_string()),
        "[ -~]{0,4}",
        "\\PC{0,3}",
    ]
}

/// Text that looks roughly like a data file (so the parser gets past the first checks).
fn texty() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::collection::vec(token(), 0..30).prop_map(|t| t.join(" ")), 0..6)
        .prop_map(|lines| lines.join("\n"))
}

fn engines() -> impl Strategy<Value = Vec<RawEngine>> {
    let value = prop_oneof![-1e6f64..1e6, Just(0.0), Just(-0.0007), Just(100.0)];
    let eng = (1u32..4, 1usize..6).prop_flat_map(move |(gap, n)| {
        (
            Just(gap),
            prop::collection::vec(prop::array::uniform3(value.clone()), n),
            prop::collection::vec(prop::array::uniform21(value.clone()), n),
        )
    });
    prop::collection::vec(eng, 1..5).prop_map(|es| {
        let mut unit = 0;
        es.into_iter()
            .map(|(gap, settings, sensors)| {
                unit += gap;
                RawEngine {
                    unit,
                    cycles: settings.len() as u32,
                    settings: settings.into(),
                    sensors: sensors.into(),
                    rul: vec![],
                }
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn parser_never_panics_on_arbitrary_text(s in "\\PC*") {
        let _ = parse_data("f.txt", &s);
        let _ = parse_rul("r.txt", &s, 3, "t.txt");
    }

    #[test]
    fn parser_never_panics_on_row_like_text(s in texty()) {
        let _ = parse_data("f.txt", &s);
        let _ = parse_rul("r.txt", &s, 1, "t.txt");
    }

    #[test]
    fn valid_files_round_trip(es in engines(), crlf in any::<bool>()) {
        let mut text = write_data(&es);
        if crlf {
            text = text.replace('\n', "\r\n");
        }
        prop_assert_eq!(parse_data("train_FD001.txt", &text).unwrap(), es);
    }

    #[test]
    fn windows_count_and_gather_contents(lens in prop::collection::vec(0usize..12, 1..5), w in 1usize..8, f in 1usize..4) {
        let engines: Vec<Engine> = lens.iter().enumerate().map(|(i, &n)| Engine {
            unit: i as u32 + 1,
            // Feature value encodes (engine, cycle, feature) so gathered copies can be traced.
            features: (0..n * f).map(|k| (i * 1000 + k) as f32).collect(),
            rul: (0..n).map(|c| (n - 1 - c) as f32).collect(),
            health: (0..n).map(|c| (c % 3) as u8).collect(),
            condition: vec![0; n],
        }).collect();
        let s = Split { engines, n_features: f, window: w };
        let want: usize = lens.iter().map(|&n| (n + 1).saturating_sub(w)).sum();
        let refs = s.windows();
        prop_assert_eq!(refs.len(), want);
        prop_assert_eq!(s.n_windows(), want);
        let mut all = refs.clone();
        all.extend(s.last_windows());
        prop_assert_eq!(s.last_windows().len(), lens.iter().filter(|&&n| n > 0).count());
        let (mut x, mut y, mut h) = (vec![], vec![], vec![]);
        s.gather(&all, &mut x, &mut y, &mut h);
        prop_assert_eq!(x.len(), all.len() * w * f);
        for (k, r) in all.iter().enumerate() {
            let e = r.engine as usize;
            let end = r.end as usize;
            prop_assert_eq!(y[k], (lens[e] - 1 - end) as f32);
            prop_assert_eq!(h[k], (end % 3) as i64);
            for t in 0..w {
                let c = (end + t + 1).saturating_sub(w);
                for j in 0..f {
                    prop_assert_eq!(x[(k * w + t) * f + j], (e * 1000 + c * f + j) as f32);
                }
            }
        }
    }
}

proptest! {
    #[test]
    fn fast_decimal_agrees_with_std_parse(int in 0u64..10_000_000, frac in 0u32..100_000, places in 0usize..6, neg in any::<bool>()) {
        let f = format!("{:0width$}", frac % 10u32.pow(places as u32), width = places);
        let s = format!("{}{int}{}{f}", if neg { "-" } else { "" }, if places > 0 { "." } else { "" });
        prop_assert_eq!(grace_data::parse::fast_decimal(&s).map(f64::to_bits), Some(s.parse::<f64>().unwrap().to_bits()), "{}", s);
    }

    #[test]
    fn fast_decimal_declines_what_it_cannot_do_exactly(s in "[-+0-9.eE]{0,20}") {
        if let Some(v) = grace_data::parse::fast_decimal(&s) {
            prop_assert_eq!(v.to_bits(), s.parse::<f64>().unwrap().to_bits(), "{}", s);
        }
    }
}
