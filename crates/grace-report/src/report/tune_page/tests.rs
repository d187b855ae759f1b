use super::*;

/// Five trials over rungs at 1, 3 and 9 epochs: 0 went to the end, 2 was promoted once,
/// 1 and 4 stopped at rung 0, 3 failed before any score.
const TRIALS: &str = r#"{
  "data": "SYNTHETIC fleet", "method": "baseline", "objective": "rmse",
  "objective_definition": "best validation RMSE so far", "test_set": "never read by tune",
  "scheduler": "sh", "scheduler_note": "synchronous", "sampler": "sobol", "seed": 3, "eta": 3,
  "rungs": [1, 3, 9], "finished": false,
  "space": {"params": [
    {"key": "model.lstm_hidden", "domain": {"kind": "choice", "choices": [8, 16]}},
    {"key": "train.dropout", "domain": {"kind": "float", "low": 0.0, "high": 0.5, "log": false}},
    {"key": "train.lr", "domain": {"kind": "float", "low": 0.0001, "high": 0.01, "log": true}}]},
  "trials": [
    {"trial": 0, "status": "complete", "params": {"model.lstm_hidden": 16, "train.dropout": 0.1, "train.lr": 0.001},
     "epochs": 9, "rung_scores": [2.0, 1.5, 1.2], "score": 1.2, "seconds": 9.0, "run_dir": "t/trial_0000"},
    {"trial": 1, "status": "pruned", "params": {"model.lstm_hidden": 8, "train.dropout": 0.4, "train.lr": 0.005},
     "epochs": 1, "rung_scores": [3.0, null, null], "score": 3.0, "seconds": 1.0},
    {"trial": 2, "status": "pruned", "params": {"model.lstm_hidden": 8, "train.dropout": 0.2, "train.lr": 0.0002},
     "epochs": 3, "rung_scores": [2.5, 1.4, null], "score": 1.4, "seconds": 3.0},
    {"trial": 3, "status": "failed", "params": {"model.lstm_hidden": 16, "train.dropout": 0.3, "train.lr": 0.002},
     "epochs": 0, "rung_scores": [null, null, null], "score": null, "seconds": 0.5, "error": "boom"},
    {"trial": 4, "status": "paused", "params": {"model.lstm_hidden": 16, "train.dropout": 0.0, "train.lr": 0.008},
     "epochs": 1, "rung_scores": [2.2, null, null], "score": 2.2, "seconds": 1.0}]
}"#;

fn record() -> TuneRecord {
    serde_json::from_str(TRIALS).unwrap()
}

#[test]
fn trials_rank_by_rung_reached_then_score() {
    let r = record();
    let order: Vec<usize> = r.ranked().iter().map(|t| t.trial).collect();
    assert_eq!(order, [0, 2, 4, 1], "the failed trial has no score and no rank");
    let Block::Table { headers, rows } = best_table(&r) else { panic!("a table") };
    assert_eq!(headers[..6], ["rank", "trial", "status", "rung reached", "score", "time (s)"]);
    assert_eq!(headers[6..], ["model.lstm_hidden", "train.dropout", "train.lr"]);
    assert_eq!(rows[0], ["1", "0", "complete", "rung 2 (9 epochs)", "1.200", "9.0", "16", "0.1", "0.001"]);
    assert_eq!(rows[1][3..5], ["rung 1 (3 epochs)".to_string(), "1.400".to_string()]);
    let head: Vec<String> = head_blocks(&r, Path::new("/t"))
        .into_iter()
        .map(|b| match b {
            Block::P(t) | Block::Warn(t) => t,
            _ => String::new(),
        })
        .collect();
    assert!(head[0].starts_with("SYNTHETIC fleet"));
    assert!(
        head[1].contains("5 trials (1 complete, 2 pruned, 1 failed, 1 paused); the search is not finished"),
        "{head:?}"
    );
}

#[test]
fn each_key_gets_its_axis_and_every_scored_trial_a_point() {
    let r = record();
    let axes: Vec<Axis> = r.space.params.iter().map(axis_of).collect();
    assert_eq!(axes, [Axis::Choices(vec!["8".into(), "16".into()]), Axis::Linear, Axis::Log]);
    let hidden = param_scatter(&r, &r.space.params[0]);
    let pts: Vec<(usize, f64, f64, usize)> = hidden.points.iter().map(|p| (p.trial, p.x, p.score, p.rung)).collect();
    assert_eq!(pts, [(0, 1.0, 1.2, 2), (1, 0.0, 3.0, 0), (2, 0.0, 1.4, 1), (4, 1.0, 2.2, 0)]);
    assert_eq!(hidden.rung_labels[2], "reached rung 2 (9 epochs)");
    let lr = param_scatter(&r, &r.space.params[2]);
    assert_eq!(lr.points[0].x, 0.001);
    assert_eq!(lr.position(&lr.points[0]).0, -3.0);
}

#[test]
fn the_rung_picture_joins_the_rungs_of_promoted_trials() {
    let p = rung_panels(&record());
    let s = &p.panels[0].series;
    assert_eq!(s.len(), 4);
    assert_eq!((s[0].mark, s[0].points.clone()), (Mark::Line, vec![(1.0, 2.0), (3.0, 1.5), (9.0, 1.2)]));
    assert_eq!((s[1].mark, s[1].points.clone()), (Mark::Points, vec![(1.0, 3.0)]));
    assert_eq!((s[2].mark, s[2].points.len()), (Mark::Line, 2));
    let labels: Vec<Option<String>> = s.iter().map(|x| x.label.clone()).collect();
    assert_eq!(
        labels,
        [
            Some("reached rung 2 (9 epochs)".into()),
            Some("reached rung 0 (1 epochs)".into()),
            Some("reached rung 1 (3 epochs)".into()),
            None
        ]
    );
    assert_eq!((s[1].color, s[3].color), (color(0), color(0)), "colour: the rung reached");
}

#[test]
fn a_hand_made_tune_directory_gets_a_page_that_renders() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(TUNE_SETTINGS), "{}").unwrap();
    let out = dir.path().join("report");
    let e = super::super::report(dir.path(), &out, Default::default()).unwrap_err().to_string();
    assert!(e.contains("has no record yet"), "{e}");
    std::fs::write(dir.path().join(TRIALS_JSON), TRIALS).unwrap();
    let s = super::super::report(dir.path(), &out, Default::default()).unwrap();
    assert_eq!((s.kind, s.runs, s.synthetic, s.figures.len()), ("tune", 5, true, 8));
    let checked = crate::html::check_page(&s.index).unwrap();
    assert_eq!(checked.len(), 8, "three scatters and the rung picture, PNG and SVG each");
    let html = std::fs::read_to_string(&s.index).unwrap();
    for text in ["Best so far: trial 0.", "figures/param_train_lr.png", "figures/rungs.svg", "never read by tune"] {
        assert!(html.contains(text), "{text}");
    }
}
