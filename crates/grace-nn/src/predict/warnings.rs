//! Why a forecast deserves less trust: an unfinished run, or engines unlike the training data
//! (settings far from every fitted condition, inputs far outside the training spread), with numbers.

use grace_core::explain::plain_number as num;
use grace_core::rundir::{EPOCH_LOG, RESULTS_FILE};
use grace_data::{Preprocessing, RawEngine};
use std::path::Path;

/// Largest distance of an input from its condition's training mean, in that condition's training
/// σ, before `predict` warns. Wear moves C-MAPSS sensors by at most about 9 σ over a whole life
/// (9.2 on FD003's training engines, 7.6 on the four test sets); 20 σ is what a wrong unit, a
/// broken sensor or another engine type gives.
pub const INPUT_SIGMA_LIMIT: f64 = 20.0;

/// Largest distance of a cycle's settings from the nearest fitted condition, in training σ of the
/// settings, when the run fitted a single condition (the σ is then that regime's own scatter; no
/// cycle of FD001 or FD003 lies beyond 4.3).
pub const SETTINGS_SIGMA_LIMIT: f64 = 10.0;

/// The warning for a run directory without results: its weights are the best so far, not the
/// run's final selection.
pub fn unfinished(dir: &Path, planned_epochs: usize) -> Option<String> {
    if dir.join(RESULTS_FILE).is_file() {
        return None;
    }
    let epochs = std::fs::read_to_string(dir.join(EPOCH_LOG))
        .map(|t| t.lines().skip(1).filter(|l| !l.trim().is_empty()).count())
        .unwrap_or(0);
    Some(format!(
        "{} is an unfinished run (no {RESULTS_FILE}; {epochs} of {planned_epochs} epochs in {EPOCH_LOG}): the \
         predictions use the best weights so far, not the run's final selection; finish it with \
         `grace train --resume {}`",
        dir.display(),
        dir.display()
    ))
}

/// The farthest a cycle of one engine lies from what the run was trained on.
struct Worst {
    score: f64,
    cycle: usize,
    text: String,
    cycles: usize,
}

impl Worst {
    fn note(slot: &mut Option<Worst>, score: f64, cycle: usize, text: impl FnOnce() -> String) {
        match slot {
            Some(w) => {
                w.cycles += 1;
                if score > w.score {
                    (w.score, w.cycle, w.text) = (score, cycle, text());
                }
            }
            None => *slot = Some(Worst { score, cycle, text: text(), cycles: 1 }),
        }
    }
}

/// Distance limit in the scaled settings space. With several conditions the settings are scaled by
/// their spread across regimes, and a cycle more than halfway to the nearest other regime belongs
/// to neither; with one condition the scale is the regime's own scatter.
fn settings_limit(scaled: &[Vec<f64>]) -> f64 {
    let mut half = SETTINGS_SIGMA_LIMIT;
    for (i, a) in scaled.iter().enumerate() {
        for b in &scaled[i + 1..] {
            half = half.min(0.5 * distance(a, b));
        }
    }
    half
}

fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt()
}

/// The input of one cycle farthest outside its condition's training spread, if any is beyond the
/// limit: its distance in σ (∞ for a feature that was constant in training) and a description.
fn farthest_input(pre: &Preprocessing, columns: &[usize], k: usize, st: &[f64], se: &[f64]) -> Option<(f64, String)> {
    let mut worst: Option<(f64, usize, f64)> = None;
    for (f, &col) in columns.iter().enumerate() {
        let x = if col < st.len() { st[col] } else { se[col - st.len()] };
        let (mean, sd) = (pre.mean[k][f], pre.std[k][f]);
        let z = if pre.is_constant(k, f) {
            if (x - mean).abs() > 1e-6 * mean.abs().max(1.0) {
                f64::INFINITY
            } else {
                0.0
            }
        } else {
            (x - mean).abs() / sd
        };
        if z > INPUT_SIGMA_LIMIT && worst.is_none_or(|w| z > w.0) {
            worst = Some((z, f, x));
        }
    }
    let (z, f, x) = worst?;
    let (name, mean, sd) = (&pre.feature_names[f], pre.mean[k][f], pre.std[k][f]);
    let text = if z.is_infinite() {
        format!("input {name} = {} but it was always {} in training (condition {k})", num(x), num(mean))
    } else {
        format!(
            "input {name} = {} lies {z:.1} σ from its training mean {} (σ {}) in condition {k}, beyond the limit of \
             {INPUT_SIGMA_LIMIT} σ",
            num(x),
            num(mean),
            num(sd)
        )
    };
    Some((z, text))
}

/// One warning per engine and kind (settings, inputs): the worst cycle with its numbers, and how
/// many cycles are that far from the training data.
pub fn unlike_training(pre: &Preprocessing, engines: &[RawEngine]) -> Vec<String> {
    let scale = &pre.setting_scale;
    let scaled: Vec<Vec<f64>> =
        pre.centroids.iter().map(|c| c.iter().zip(scale).map(|(v, s)| v / s).collect()).collect();
    let limit = settings_limit(&scaled);
    let setting_names: Vec<String> = pre.schema.settings().map(|c| c.key()).collect();
    let columns = pre.schema.feature_columns(&pre.feature_names).unwrap_or_default();
    let named = |values: &[f64]| {
        setting_names.iter().zip(values).map(|(n, v)| format!("{n} {}", num(*v))).collect::<Vec<_>>().join(", ")
    };
    let mut out = Vec::new();
    for e in engines {
        let (mut far_settings, mut far_inputs) = (None, None);
        for (c, (st, se)) in e.settings.iter().zip(e.sensors.iter()).enumerate() {
            let p: Vec<f64> = st.iter().zip(scale).map(|(v, s)| v / s).collect();
            let (k, d) = scaled
                .iter()
                .map(|cent| distance(&p, cent))
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .expect("a fitted run has at least one condition");
            if d > limit {
                Worst::note(&mut far_settings, d, c, || {
                    format!(
                        "operating settings ({}) lie {:.1} from the nearest fitted condition {k} ({}), beyond the \
                         limit of {:.2} (distances in training σ of the settings)",
                        named(st),
                        d,
                        named(&pre.centroids[k]),
                        limit
                    )
                });
            }
            if let Some((z, text)) = farthest_input(pre, &columns, k, st, se) {
                Worst::note(&mut far_inputs, z, c, || text);
            }
        }
        for w in [far_settings, far_inputs].into_iter().flatten() {
            out.push(format!(
                "unit {}: {} at cycle {} ({} of {} cycles this far from the training data): the model never saw \
                 such an engine, so its prediction is unreliable",
                e.unit,
                w.text,
                w.cycle + 1,
                w.cycles,
                e.n_cycles()
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use grace_data::{prepare, DataSource, PrepConfig, Rows, Source, SyntheticConfig};

    fn fitted(n_conditions: usize) -> (Preprocessing, Vec<RawEngine>) {
        let raw =
            SyntheticConfig { n_conditions, n_train: 20, n_test: 8, ..Default::default() }.load_subset("").unwrap();
        (prepare(&raw, &PrepConfig::default()).unwrap().preprocessing, raw.test)
    }

    /// `e` with column `col` of `[settings, sensors]` set to `value` at row `cycle`.
    fn with_value(e: &RawEngine, cycle: usize, col: usize, value: f64) -> RawEngine {
        let ns = e.settings.width();
        let (mut settings, mut sensors) = (Rows::new(ns), Rows::new(e.sensors.width()));
        for (c, (st, se)) in e.settings.iter().zip(e.sensors.iter()).enumerate() {
            let (mut st, mut se) = (st.to_vec(), se.to_vec());
            if c == cycle {
                if col < ns {
                    st[col] = value;
                } else {
                    se[col - ns] = value;
                }
            }
            settings.push(&st);
            sensors.push(&se);
        }
        RawEngine { settings, sensors, ..e.clone() }
    }

    #[test]
    fn engines_like_the_training_data_raise_no_warning() {
        for k in [1, 6] {
            let (pre, test) = fitted(k);
            assert_eq!(unlike_training(&pre, &test), Vec::<String>::new(), "{k} condition(s)");
        }
        // NASA's own test engines are the training data's kind, in every subset
        let Some(src) = DataSource::from_env() else { return };
        for name in ["FD001", "FD002", "FD003", "FD004"] {
            let raw = src.load_subset(name).unwrap();
            let pre = prepare(&raw, &PrepConfig::default()).unwrap().preprocessing;
            assert_eq!(unlike_training(&pre, &raw.test), Vec::<String>::new(), "{name}");
        }
    }

    #[test]
    fn an_engine_unlike_the_training_data_is_named_with_its_numbers() {
        let (pre, test) = fitted(1);
        let col = |name: &str| pre.schema.feature_columns(&[name.to_string()]).unwrap()[0];
        let feature = |name: &str| pre.feature_names.iter().position(|n| n == name).unwrap();
        // unit 1, cycle 3: T30 at its training mean + 30 σ
        let t30 = feature("s3_T30");
        let hot = pre.mean[0][t30] + 30.0 * pre.std[0][t30];
        let mut engines = vec![with_value(&test[0], 2, col("s3_T30"), hot)];
        // unit 2, cycle 1: flown at 10 kft, where the fleet never flew (one regime at sea level)
        engines.push(with_value(&test[1], 0, 0, 10.0));
        // unit 3: everything as trained
        engines.push(test[2].clone());
        let w = unlike_training(&pre, &engines);
        assert_eq!(w.len(), 3, "{w:#?}");
        let want = format!(
            "unit {}: input s3_T30 = {} lies 30.0 σ from its training mean {} (σ {}) in condition 0, beyond the \
             limit of 20 σ at cycle 3 (1 of {} cycles",
            test[0].unit,
            num(hot),
            num(pre.mean[0][t30]),
            num(pre.std[0][t30]),
            test[0].cycles
        );
        assert!(w[0].starts_with(&want), "{}\n{want}", w[0]);
        // the settings are ~5800 σ of the regime's altitude scatter away; altitude is also an input
        let d = (10.0 - pre.centroids[0][0]) / pre.setting_scale[0];
        let settings = format!("unit {}: operating settings (altitude_kft 10, ", test[1].unit);
        assert!(w[1].starts_with(&settings) && w[1].contains(&format!("lie {d:.1} from the nearest")), "{}", w[1]);
        assert!(w[1].contains("beyond the limit of 10.00") && w[1].contains("at cycle 1 (1 of"), "{}", w[1]);
        assert!(w[2].starts_with(&format!("unit {}: input altitude = 10 lies", test[1].unit)), "{}", w[2]);
    }

    #[test]
    fn a_sensor_that_never_moved_in_training_is_flagged_when_it_moves() {
        let (pre, test) = fitted(6);
        // each regime flies one throttle setting: TRA is a constant input within every condition
        let f = pre.feature_names.iter().position(|n| n == "tra").unwrap();
        let col = pre.schema.feature_columns(&pre.feature_names[f..=f]).unwrap()[0];
        let k = pre.condition_of(test[0].settings.row(0)) as usize;
        assert!(pre.is_constant(k, f));
        let w = unlike_training(&pre, &[with_value(&test[0], 0, col, pre.mean[k][f] + 1.0)]);
        assert_eq!(w.len(), 1, "{w:#?}");
        assert!(
            w[0].contains(&format!("but it was always {} in training (condition {k})", num(pre.mean[k][f]))),
            "{}",
            w[0]
        );
    }

    #[test]
    fn a_run_without_results_is_unfinished() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(EPOCH_LOG), "epoch,val_rmse\n0,30\n1,25\n2,21\n").unwrap();
        let w = unfinished(tmp.path(), 10).unwrap();
        assert!(w.contains("is an unfinished run (no results.json; 3 of 10 epochs in epochs.csv)"), "{w}");
        assert!(w.contains(&format!("grace train --resume {}", tmp.path().display())), "{w}");
        std::fs::write(tmp.path().join(RESULTS_FILE), "{}").unwrap();
        assert_eq!(unfinished(tmp.path(), 10), None);
    }
}
