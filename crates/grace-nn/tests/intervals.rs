//! Calibrated intervals and seed ensembles end to end on a tiny synthetic fleet: training with
//! calibration engines writes calibration.json and an `intervals` section, `grace evaluate`
//! recomputes them, and two seeds combine into an ensemble (mismatched members are refused).

use grace_core::conformal::Combine;
use grace_core::results::RunResults;
use grace_nn::config::RunConfig;
use grace_nn::intervals::ensemble::{evaluate_ensemble, sweep_members, EnsembleOptions};
use grace_nn::intervals::{CalibrationRecord, CALIBRATION_FILE};
use grace_nn::train::{self, Options};
use std::path::{Path, PathBuf};

fn tiny(seed: u64) -> RunConfig {
    let sets: Vec<String> = [
        format!("train.seed={seed}"),
        "train.epochs=1".into(),
        "train.batch_size=128".into(),
        "train.threads=1".into(),
        "train.device=\"cpu\"".into(),
        "train.warmup_epochs=1".into(),
        "data.synthetic.n_train=10".into(),
        "data.synthetic.n_test=6".into(),
        "data.synthetic.max_life=200".into(),
        // 4 validation engines: 2 select the checkpoint, 2 calibrate (20 cuts)
        "data.prep.val_fraction=0.4".into(),
        "data.prep.calibration=0.5".into(),
    ]
    .into();
    RunConfig::resolve("small", None, &sets).unwrap()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn train_run(root: &Path, name: &str, seed: u64) -> (PathBuf, RunResults) {
    let run = root.join("runs").join(name);
    let res = train::run(Some(tiny(seed)), &run, false, Options { quiet: true, ..Default::default() }).unwrap();
    (run, res)
}

fn copy_run(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn calibrated_runs_report_intervals_and_combine_into_an_ensemble() {
    let dir = tempfile::tempdir().unwrap();
    let (a, ra) = train_run(dir.path(), "SYNTHETIC_grace_seed0", 0);
    let (b, _) = train_run(dir.path(), "SYNTHETIC_grace_seed1", 1);

    // the split: 2 selection and 2 calibration engines, disjoint
    let p = &ra.protocol;
    assert_eq!((p.validation_units.len(), p.calibration_units.len(), p.train_units), (2, 2, 6));
    assert!(p.calibration_units.iter().all(|u| !p.validation_units.contains(u)));

    // calibration.json: 10 cuts on each calibration engine, four kinds at the default levels
    let rec = CalibrationRecord::load(&a).unwrap().expect("calibration.json");
    assert_eq!((rec.units.clone(), rec.cuts.len(), rec.cuts_per_engine), (p.calibration_units.clone(), 20, 10));
    assert!(rec.cuts.iter().all(|c| rec.units.contains(&c.unit) && c.truth <= 125.0 && c.prediction.is_finite()));
    let kinds: Vec<String> = rec.calibrations.iter().map(|c| format!("{:?}", c.kind)).collect();
    assert_eq!(kinds, ["Symmetric", "Normalised { floor: 1.0 }", "LowerBound", "Asymmetric"]);
    assert!(rec.calibrations.iter().all(|c| c.n == 20 && c.levels.len() == 3));
    // the single model's difficulty estimate: 2 selection engines × 10 cuts in 2 bins, never below 1
    let d = rec.difficulty.as_ref().expect("a difficulty estimate");
    assert_eq!((d.n, d.knots.len()), (20, 2));
    assert!(d.knots.iter().all(|k| k.scale >= 1.0) && d.knots[0].prediction <= d.knots[1].prediction);
    // refitting at the stored levels gives the stored calibrations back
    assert_eq!(rec.refit(&rec.levels()).unwrap(), rec);
    assert_eq!(rec.refit(&[0.5]).unwrap().levels(), [0.5]);

    // results.json: the same kinds, scored capped and uncapped at every level over all 6 test engines
    let iv = ra.intervals.clone().expect("an intervals section");
    assert_eq!((iv.calibration_engines, iv.calibration_cuts, iv.kinds.len()), (2, 20, 4));
    for k in &iv.kinds {
        let levels: Vec<f64> = k.report.capped.iter().map(|s| s.level).collect();
        assert_eq!(levels, [0.8, 0.9, 0.95]);
        for s in k.report.capped.iter().chain(&k.report.uncapped) {
            assert!((0.0..=1.0).contains(&s.coverage));
            assert_eq!(s.bands.iter().map(|b| b.engines).sum::<usize>(), 6);
        }
    }
    let written: serde_json::Value = serde_json::from_str(&read(&a.join("results.json"))).unwrap();
    assert_eq!(written["intervals"]["kinds"][1]["kind"], "normalised");
    assert_eq!(written["intervals"]["kinds"][2]["kind"], "lower_bound");

    // grace evaluate recomputes the same intervals and calibration
    let again = train::evaluate_run(&a, None).unwrap();
    assert_eq!(again.intervals, ra.intervals);
    assert_eq!(CalibrationRecord::load(&a).unwrap().unwrap(), rec);

    // the ensemble of both seeds, found through the sweep layout
    let members = sweep_members(dir.path(), "grace").unwrap();
    assert_eq!(members, vec![a.clone(), b.clone()]);
    let before = (read(&a.join("results.json")), read(&b.join(CALIBRATION_FILE)));
    let out = dir.path().join("ensemble");
    let ens = evaluate_ensemble(&members, &out, &EnsembleOptions::combined(Combine::Mean)).unwrap();
    assert_eq!((ens.members.len(), ens.engines), (2, 6));
    let mean_rmse = (ens.members[0].test.capped.rmse + ens.members[1].test.capped.rmse) / 2.0;
    assert!((ens.mean_member.capped.rmse - mean_rmse).abs() < 1e-12);
    // a mean of two predictions is never worse in RMSE than the mean of their RMSEs (convexity)
    assert!(ens.ensemble.capped.rmse <= mean_rmse + 1e-9);
    let kinds: Vec<String> = ens.intervals.as_ref().unwrap().kinds.iter().map(|k| format!("{:?}", k.kind)).collect();
    assert_eq!(kinds, ["Symmetric", "Normalised { floor: 1.0 }", "LowerBound", "Asymmetric"]);
    // both seeds have a difficulty estimate: the ensemble is scaled by their mean, not their spread
    assert_eq!(ens.intervals.as_ref().unwrap().scale.as_deref(), Some("difficulty (mean of 2 members)"));
    assert_eq!(iv.scale.as_deref(), Some("difficulty"));
    for f in ["results.json", "predictions.csv", CALIBRATION_FILE] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    assert_eq!(before, (read(&a.join("results.json")), read(&b.join(CALIBRATION_FILE))), "members untouched");
    let median =
        evaluate_ensemble(&members, &dir.path().join("median"), &EnsembleOptions::combined(Combine::Median)).unwrap();
    // with two members the median is the mean
    assert!((median.ensemble.capped.rmse - ens.ensemble.capped.rmse).abs() < 1e-9);

    // refusals: a member folder as --out, other preprocessing, other data
    let e = evaluate_ensemble(&members, &a, &EnsembleOptions::combined(Combine::Mean)).unwrap_err().to_string();
    assert!(e.contains("is a run directory"), "{e}");
    let c = dir.path().join("altered");
    copy_run(&b, &c);
    let pre = read(&c.join("preprocessing.json")).replace("\"window\": 30", "\"window\": 20");
    std::fs::write(c.join("preprocessing.json"), pre).unwrap();
    let e =
        evaluate_ensemble(&[a.clone(), c.clone()], &dir.path().join("x"), &EnsembleOptions::combined(Combine::Mean))
            .unwrap_err()
            .to_string();
    assert!(e.contains("preprocessing.json field `config.window`: 20 vs 30"), "{e}");
    copy_run(&b, &c);
    let data = read(&c.join("data.json"));
    let fp = serde_json::from_str::<serde_json::Value>(&data).unwrap()["fingerprint"].as_str().unwrap().to_string();
    std::fs::write(c.join("data.json"), data.replace(&fp, "0000")).unwrap();
    let e = evaluate_ensemble(&[a.clone(), c], &dir.path().join("y"), &EnsembleOptions::combined(Combine::Mean))
        .unwrap_err()
        .to_string();
    assert!(e.contains("different data (data fingerprint 0000 vs"), "{e}");
}
