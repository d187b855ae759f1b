//! `grace selection` on tiny calibrated synthetic runs: the epochs it reports are the argmins of
//! each run's epochs.csv columns, and `held_cut_rmse` is the RMSE on the calibration cuts that
//! interval calibration scores (equal at the selected epoch to calibration.json's residuals).

use std::path::Path;

mod common;
use common::{f, fails, json, read_json, stdout, train_calibrated, u};

/// (epoch, val_rmse, val_cut_rmse, held_cut_rmse) per row of the run's epochs.csv.
fn epoch_columns(run: &Path) -> Vec<(usize, f64, f64, f64)> {
    let text = std::fs::read_to_string(run.join("epochs.csv")).unwrap();
    let mut lines = text.lines();
    let names: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = |cells: &[&str], name: &str| -> f64 {
        let i = names.iter().position(|n| *n == name).unwrap_or_else(|| panic!("epochs.csv lacks {name}"));
        cells[i].parse().unwrap_or(f64::NAN)
    };
    lines
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (at(&c, "epoch") as usize, at(&c, "val_rmse"), at(&c, "val_cut_rmse"), at(&c, "held_cut_rmse"))
        })
        .collect()
}

/// The epoch of the first smallest value in `column`.
fn argmin(rows: &[(usize, f64, f64, f64)], column: impl Fn(&(usize, f64, f64, f64)) -> f64) -> usize {
    let best = rows.iter().map(&column).fold(f64::INFINITY, f64::min);
    rows.iter().find(|r| column(r) == best).unwrap().0
}

#[test]
fn selection_reports_each_scores_argmin_epoch_and_the_held_out_rmse_there() {
    let dir = tempfile::tempdir().unwrap();
    let runs: Vec<_> = (0..2).map(|s| dir.path().join(format!("run{s}"))).collect();
    for (seed, run) in runs.iter().enumerate() {
        train_calibrated(run, seed as u64, &["train.epochs=3"]);
    }
    let names: Vec<&str> = runs.iter().map(|r| r.to_str().unwrap()).collect();
    let mut args = vec!["selection"];
    args.extend(&names);
    let text = stdout(&args);
    args.push("--json");
    let study = json(&args);

    let mut held_sums = [0.0; 3];
    for (i, run) in runs.iter().enumerate() {
        let rows = epoch_columns(run);
        assert_eq!(rows.len(), 3);
        assert!(rows.iter().all(|r| r.3.is_finite() && r.3 > 0.0), "{rows:?}");
        let expected = [argmin(&rows, |r| r.1), argmin(&rows, |r| r.2), argmin(&rows, |r| r.3)];
        let picks = study["runs"][i]["picks"].as_array().unwrap();
        let scores: Vec<&str> = picks.iter().map(|p| p["score"].as_str().unwrap()).collect();
        assert_eq!(scores, ["windows", "cuts", "oracle"]);
        for (k, p) in picks.iter().enumerate() {
            assert_eq!(u(&p["epoch"]) as usize, expected[k], "{} of {}", scores[k], run.display());
            assert_eq!(f(&p["held_cut_rmse"]), rows[expected[k]].3);
            held_sums[k] += rows[expected[k]].3;
        }
        // The run selects by windows (the default), so at its selected epoch the held-out figure is
        // the RMSE of the residuals interval calibration stored.
        let best = u(&read_json(&run.join("results.json"))["validation"]["best_epoch"]) as usize;
        assert_eq!(best, expected[0]);
        let cal = read_json(&run.join("calibration.json"));
        let cuts = cal["cuts"].as_array().unwrap();
        let mse = cuts.iter().map(|c| (f(&c["prediction"]) - f(&c["truth"])).powi(2)).sum::<f64>() / cuts.len() as f64;
        assert!((mse.sqrt() - rows[best].3).abs() < 1e-3 * rows[best].3, "{} vs {}", mse.sqrt(), rows[best].3);
        let table_row = format!("  {:<8} {:>6}", "windows", expected[0]);
        assert!(text.contains(&table_row), "{text}");
    }
    let means = study["mean"].as_array().unwrap();
    for (k, m) in means.iter().enumerate() {
        assert_eq!(u(&m["runs"]), 2);
        assert!((f(&m["mean_held_cut_rmse"]) - held_sums[k] / 2.0).abs() < 1e-9);
    }
    let oracle = f(&means[2]["mean_held_cut_rmse"]);
    assert!(means.iter().all(|m| f(&m["mean_held_cut_rmse"]) >= oracle), "the oracle is the floor");
}

#[test]
fn a_run_without_calibration_engines_is_refused_with_the_setting_to_change() {
    let dir = tempfile::tempdir().unwrap();
    let old = "epoch,steps,lr,train_loss_rul,train_loss_health,lambda_rul,lambda_health,val_rmse,val_nasa,\
               val_rmse_live,val_cut_rmse,seconds\n0,12,0.001,3.0,0.5,0.5,0.5,21.5,800.0,22.0,19.0,1.5\n";
    std::fs::write(dir.path().join("epochs.csv"), old).unwrap();
    let e = fails(&["selection", dir.path().to_str().unwrap()]);
    assert!(e.contains("held_cut_rmse") && e.contains("data.prep.calibration"), "{e}");
}
