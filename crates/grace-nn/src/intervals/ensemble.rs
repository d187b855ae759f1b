//! Seed ensembles and cross-conformal fold ensembles of finished runs, from the files the runs wrote
//! (no model is loaded): members' test predictions and calibration residuals combined, scored anew.

use super::{
    check_levels, fit, kinds_with_normalised, mean_difficulty_scale, CalibrationRecord, CutPrediction, Scheme,
    MODEL_KINDS, SPREAD_SCALE,
};
use crate::evaluate::EnginePrediction;
use crate::io::write_json_atomic;
use crate::setup::recorded_data;
use anyhow::{bail, Context};
use grace_core::conformal::{combine, member_spread, Combine, DifficultyScale};
use grace_core::lock::RunLock;
use grace_core::results::{EnsembleMember, EnsembleResults, RulPair, RulScores, RunResults};
use grace_core::rundir::{CONFIG_FILE, PREDICTIONS_FILE, PREPROCESSING_FILE, RESULTS_FILE};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// How an ensemble is combined and calibrated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnsembleOptions {
    /// How member predictions combine per engine.
    pub combine: Combine,
    /// Coverage levels instead of the members' stored ones (`--coverage`); members are not rewritten.
    pub levels: Option<Vec<f64>>,
    /// Members trained on different folds, calibrated on their pooled out-of-fold residuals.
    pub cross_conformal: bool,
}

impl EnsembleOptions {
    /// Plain seed ensemble combined by `combine`, at the members' levels.
    pub fn combined(combine: Combine) -> Self {
        EnsembleOptions { combine, ..Default::default() }
    }
}

/// The `preprocessing.json` fields fitted on a member's own training engines, and its fold: in a
/// cross-conformal ensemble these differ by design (each member normalises with its own statistics).
const FITTED_FIELDS: [&str; 5] = ["setting_scale", "centroids", "condition_rows", "mean", "std"];

/// What one finished member run contributes.
struct Member {
    dir: PathBuf,
    results: RunResults,
    preprocessing: serde_json::Value,
    fingerprint: String,
    rows: Vec<EnginePrediction>,
    calibration: Option<CalibrationRecord>,
}

impl Member {
    fn read(dir: &Path) -> anyhow::Result<Self> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path)
                .with_context(|| format!("{} is not a finished run: cannot read {}", dir.display(), path.display()))
        };
        let results: RunResults = serde_json::from_str(&read(RESULTS_FILE)?)
            .with_context(|| format!("reading {}", dir.join(RESULTS_FILE).display()))?;
        let preprocessing = serde_json::from_str(&read(PREPROCESSING_FILE)?)
            .with_context(|| format!("reading {}", dir.join(PREPROCESSING_FILE).display()))?;
        let recorded = recorded_data(dir)?.map(|r| r.fingerprint);
        let fingerprint = recorded.unwrap_or_else(|| results.protocol.data_fingerprint.clone());
        let path = dir.join(PREDICTIONS_FILE);
        let rows = csv::Reader::from_path(&path)
            .and_then(|mut r| r.deserialize().collect::<Result<Vec<EnginePrediction>, _>>())
            .with_context(|| format!("reading {}", path.display()))?;
        let calibration = CalibrationRecord::load(dir)?;
        Ok(Member { dir: dir.to_path_buf(), results, preprocessing, fingerprint, rows, calibration })
    }

    fn predictions(&self) -> Vec<f64> {
        self.rows.iter().map(|r| r.prediction).collect()
    }
}

/// The first place two JSON values differ, as a dotted path ("config.window"), or `None`.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, at: &str) -> Option<String> {
    use serde_json::Value::Object;
    match (a, b) {
        (Object(x), Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| {
                let path = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => first_difference(u, v, &path),
                    _ => Some(path),
                }
            })
        }
        _ if a == b => None,
        _ => Some(if at.is_empty() { "(the whole file)".into() } else { at.to_string() }),
    }
}

/// The preprocessing that must agree between members: all of it for a seed ensemble; for a
/// cross-conformal one everything but the fold and the statistics fitted on the fold's complement.
fn shared_preprocessing(m: &Member, cross: bool) -> serde_json::Value {
    let mut v = m.preprocessing.clone();
    if cross {
        if let Some(o) = v.as_object_mut() {
            for f in FITTED_FIELDS {
                o.remove(f);
            }
        }
        if let Some(c) = v.get_mut("config").and_then(|c| c.as_object_mut()) {
            c.remove("fold");
        }
    }
    v
}

/// A member's `data.prep.fold` and `data.prep.folds`, as its preprocessing.json records them.
fn fold_of(m: &Member) -> (u64, u64) {
    let get = |k: &str| m.preprocessing.get("config").and_then(|c| c.get(k)).and_then(|v| v.as_u64()).unwrap_or(0);
    (get("fold"), get("folds"))
}

/// Cross-conformal members must be folds of one k-fold split, each fold at most once.
fn check_folds(members: &[Member]) -> anyhow::Result<()> {
    let (_, folds) = fold_of(&members[0]);
    if folds < 2 {
        bail!(
            "{} was not trained on a fold (data.prep.folds is {folds}): --cross-conformal combines runs trained \
             with --set data.prep.folds=K --set data.prep.fold=k, one per fold",
            members[0].dir.display()
        );
    }
    for (i, m) in members.iter().enumerate() {
        if let Some(o) = members[..i].iter().find(|o| fold_of(o).0 == fold_of(m).0) {
            bail!(
                "{} and {} were both trained on fold {} (data.prep.fold): cross-conformal members must hold out \
                 different folds",
                m.dir.display(),
                o.dir.display(),
                fold_of(m).0
            );
        }
    }
    Ok(())
}

/// Refuses members that were not trained on the same data, preprocessed the same way, and scored
/// on the same test engines: averaging them would mix predictions of different questions. With
/// `cross` the members must instead be distinct folds of one split (see [`shared_preprocessing`]).
fn check_compatible(members: &[Member], cross: bool) -> anyhow::Result<()> {
    let first = &members[0];
    let first_pre = shared_preprocessing(first, cross);
    for m in &members[1..] {
        let (a, b) = (first.dir.display(), m.dir.display());
        let pre = shared_preprocessing(m, cross);
        if m.results.subset != first.results.subset {
            bail!("{b} and {a} were trained on different subsets ({} vs {})", m.results.subset, first.results.subset);
        }
        if let Some(field) = first_difference(&first_pre, &pre, "") {
            bail!(
                "{b} and {a} differ in preprocessing ({PREPROCESSING_FILE} field `{field}`: {} vs {}): ensemble \
                 members must share their data preparation",
                show(&pre, &field),
                show(&first_pre, &field)
            );
        }
        if m.fingerprint != first.fingerprint {
            bail!(
                "{b} and {a} were trained on different data (data fingerprint {} vs {}): ensemble members must \
                 share their data",
                blank(&m.fingerprint),
                blank(&first.fingerprint)
            );
        }
        let engines = |x: &Member| x.rows.iter().map(|r| (r.engine, r.truth.to_bits())).collect::<Vec<_>>();
        if engines(m) != engines(first) {
            bail!("{b} and {a} were scored on different test engines ({PREDICTIONS_FILE} differs in engines or truth)");
        }
    }
    if cross {
        check_folds(members)?;
    }
    Ok(())
}

fn show(v: &serde_json::Value, path: &str) -> String {
    path.split('.').try_fold(v, |v, k| v.get(k)).map(|v| v.to_string()).unwrap_or_else(|| "absent".into())
}

fn blank(s: &str) -> &str {
    if s.is_empty() {
        "none recorded"
    } else {
        s
    }
}

/// The finished runs of `method` in a sweep directory (`DIR/runs/*`, as `grace sweep` lays it out).
pub fn sweep_members(sweep: &Path, method: &str) -> anyhow::Result<Vec<PathBuf>> {
    let runs = sweep.join("runs");
    let entries =
        std::fs::read_dir(&runs).with_context(|| format!("{} is not a sweep directory (no runs/)", sweep.display()))?;
    let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    dirs.sort();
    let picked: Vec<PathBuf> = dirs
        .into_iter()
        .filter(|d| {
            let text = std::fs::read_to_string(d.join(RESULTS_FILE)).unwrap_or_default();
            serde_json::from_str::<RunResults>(&text).is_ok_and(|r| r.method == method)
        })
        .collect();
    if picked.len() < 2 {
        bail!(
            "{} holds {} finished run(s) of method {method}: an ensemble needs at least two",
            runs.display(),
            picked.len()
        );
    }
    Ok(picked)
}

/// One row of an ensemble's `predictions.csv`.
#[derive(Debug, Serialize)]
struct EnsembleRow {
    engine: u32,
    truth: f64,
    truth_capped: f64,
    prediction: f64,
    /// The members' sample standard deviation.
    spread: f64,
}

/// The calibration of the ensemble of the finished runs `dirs` (`None` when they were trained
/// without calibration), after the same checks as [`evaluate_ensemble`]: what `grace predict
/// --runs` bounds its predictions with.
pub fn ensemble_calibration_of(dirs: &[PathBuf], opts: &EnsembleOptions) -> anyhow::Result<Option<CalibrationRecord>> {
    let members = read_members(dirs, opts)?;
    ensemble_calibration(&members, opts)
}

/// The members `dirs`, read and checked against each other (and `opts`' levels checked).
fn read_members(dirs: &[PathBuf], opts: &EnsembleOptions) -> anyhow::Result<Vec<Member>> {
    if dirs.len() < 2 {
        bail!("an ensemble needs at least two runs, got {}", dirs.len());
    }
    if let Some(levels) = &opts.levels {
        check_levels(levels)?;
    }
    let members = dirs.iter().map(|d| Member::read(d)).collect::<anyhow::Result<Vec<_>>>()?;
    check_compatible(&members, opts.cross_conformal)?;
    Ok(members)
}

/// Combines the finished runs `dirs` into an ensemble and writes its `results.json`,
/// `predictions.csv` and (when the members were calibrated) `calibration.json` into `out`, which
/// must not be a run directory. The members' own files are only read.
pub fn evaluate_ensemble(dirs: &[PathBuf], out: &Path, opts: &EnsembleOptions) -> anyhow::Result<EnsembleResults> {
    refuse_member_folder(dirs, out)?;
    let members = read_members(dirs, opts)?;
    let how = opts.combine;
    let preds: Vec<Vec<f64>> = members.iter().map(Member::predictions).collect();
    let ensemble = combine(&preds, how)?;
    let spread = member_spread(&preds)?;
    let rows0 = &members[0].rows;
    let capped: Vec<f64> = rows0.iter().map(|r| r.truth_capped).collect();
    let uncapped: Vec<f64> = rows0.iter().map(|r| r.truth).collect();
    let pair = |p: &[f64]| RulPair { capped: RulScores::of(p, &capped), uncapped: RulScores::of(p, &uncapped) };
    let member_scores: Vec<EnsembleMember> = members
        .iter()
        .zip(&preds)
        .map(|(m, p)| EnsembleMember {
            run_dir: m.dir.display().to_string(),
            method: m.results.method.clone(),
            seed: m.results.seed,
            test: pair(p),
        })
        .collect();
    let calibration = ensemble_calibration(&members, opts)?;
    let intervals = match &calibration {
        Some(c) => Some(c.summarise(&ensemble, &uncapped, Some(&spread))?),
        None => None,
    };
    let first = &members[0].results;
    let results = EnsembleResults {
        subset: first.subset.clone(),
        synthetic: first.synthetic,
        combine: how,
        engines: ensemble.len(),
        data_fingerprint: members[0].fingerprint.clone(),
        ensemble: pair(&ensemble),
        mean_member: mean_pair(&member_scores),
        members: member_scores,
        intervals,
    };
    std::fs::create_dir_all(out).with_context(|| format!("creating --out {}", out.display()))?;
    let _lock = RunLock::acquire(out, "grace evaluate --runs")?;
    let rows: Vec<EnsembleRow> = rows0
        .iter()
        .enumerate()
        .map(|(i, r)| EnsembleRow {
            engine: r.engine,
            truth: r.truth,
            truth_capped: r.truth_capped,
            prediction: ensemble[i],
            spread: spread[i],
        })
        .collect();
    crate::evaluate::write_predictions(&out.join(PREDICTIONS_FILE), &rows)?;
    if let Some(c) = &calibration {
        c.write(out)?;
    }
    write_json_atomic(&out.join(RESULTS_FILE), &results)?;
    Ok(results)
}

/// Each figure averaged over the members: the mean single model the ensemble is compared with.
fn mean_pair(members: &[EnsembleMember]) -> RulPair {
    let n = members.len() as f64;
    let mean = |f: &dyn Fn(&EnsembleMember) -> f64| members.iter().map(f).sum::<f64>() / n;
    let scores = |g: &dyn Fn(&EnsembleMember) -> &RulScores| RulScores {
        rmse: mean(&|m| g(m).rmse),
        nasa: mean(&|m| g(m).nasa),
        mae: mean(&|m| g(m).mae),
    };
    RulPair { capped: scores(&|m| &m.test.capped), uncapped: scores(&|m| &m.test.uncapped) }
}

/// The ensemble's calibration at `opts`' levels (else the first member's): split conformal on the
/// members' combined calibration-cut predictions, or cross-conformal on their pooled residuals;
/// `None` when no member was calibrated. Only some members calibrated is refused.
fn ensemble_calibration(members: &[Member], opts: &EnsembleOptions) -> anyhow::Result<Option<CalibrationRecord>> {
    let records: Vec<&CalibrationRecord> = members.iter().filter_map(|m| m.calibration.as_ref()).collect();
    if records.is_empty() {
        return Ok(None);
    }
    if records.len() < members.len() {
        let missing: Vec<String> =
            members.iter().filter(|m| m.calibration.is_none()).map(|m| m.dir.display().to_string()).collect();
        bail!(
            "some members have calibrated intervals and {} do not ({} missing); train every member with the same \
             data.prep.calibration",
            missing.join(", "),
            super::CALIBRATION_FILE
        );
    }
    let levels = opts.levels.clone().unwrap_or_else(|| records[0].levels());
    if opts.cross_conformal {
        return pooled_calibration(members, &records, &levels).map(Some);
    }
    combined_calibration(members, &records, opts.combine, &levels).map(Some)
}

/// Split conformal for a seed ensemble: the members' predictions on the shared calibration cuts
/// combined per cut. The normalised kind is scaled by the members' mean difficulty estimate, or by
/// the member spread when some member has none. Members calibrated on different cuts are refused.
fn combined_calibration(
    members: &[Member],
    records: &[&CalibrationRecord],
    how: Combine,
    levels: &[f64],
) -> anyhow::Result<CalibrationRecord> {
    let first = records[0];
    let key =
        |r: &CalibrationRecord| r.cuts.iter().map(|c| (c.unit, c.last_cycle, c.truth.to_bits())).collect::<Vec<_>>();
    if let Some(i) = records.iter().position(|r| key(r) != key(first)) {
        bail!(
            "{} was calibrated on other cuts than {} ({} differs): members must share data.prep.seed, \
             data.prep.calibration and eval.cuts_per_engine",
            members[i].dir.display(),
            members[0].dir.display(),
            super::CALIBRATION_FILE
        );
    }
    let preds: Vec<Vec<f64>> = records.iter().map(|r| r.cuts.iter().map(|c| c.prediction).collect()).collect();
    let combined = combine(&preds, how)?;
    let spread = member_spread(&preds)?;
    let cuts: Vec<CutPrediction> = first
        .cuts
        .iter()
        .zip(combined.iter().zip(&spread))
        .map(|(c, (&prediction, &s))| CutPrediction { prediction, spread: Some(s), ..c.clone() })
        .collect();
    let difficulty = members_difficulty(records)?;
    let scale = match &difficulty {
        Some(_) => mean_difficulty_scale(records.len()),
        None => SPREAD_SCALE.to_string(),
    };
    let calibrations = fit(&cuts, &kinds_with_normalised(), levels, difficulty.as_ref())?;
    Ok(CalibrationRecord { calibrations, cuts, difficulty, scale: Some(scale), scheme: Scheme::Split, ..first.clone() })
}

/// σ̂_ens(ŷ): the mean over the members of each member's σ̂ at the ensemble's ŷ, `None` unless every
/// member has one. Each member's σ̂ was fitted on its selection engines, never on a calibration
/// engine, so σ̂_ens is a fixed function of ŷ for the calibration cuts and the test engines alike:
/// the normalised scores stay exchangeable and the split-conformal guarantee holds. It replaces the
/// member spread, which on C-MAPSS tracks the ensemble's errors worse than its members' difficulty
/// does and widened the normalised interval instead of narrowing it (docs/intervals.md).
fn members_difficulty(records: &[&CalibrationRecord]) -> anyhow::Result<Option<DifficultyScale>> {
    let scales: Option<Vec<DifficultyScale>> = records.iter().map(|r| r.difficulty.clone()).collect();
    Ok(scales.map(|s| DifficultyScale::mean(&s)).transpose()?)
}

/// Cross-conformal: each member's residuals on its own calibration engines (held out from its
/// training and selection, so out-of-fold), pooled; the interval is centred on the ensemble's
/// prediction. The pooled residuals are single members', so the interval tends to over-cover a
/// little (docs/intervals.md). With every member's difficulty estimate the normalised kind is added,
/// scaled by their mean: no member's σ̂ saw any member's calibration engines (they come from the
/// selection halves of the folds), and no spread exists since each engine has one member's residual.
/// Members sharing a calibration engine are refused.
fn pooled_calibration(
    members: &[Member],
    records: &[&CalibrationRecord],
    levels: &[f64],
) -> anyhow::Result<CalibrationRecord> {
    let first = records[0];
    let mut units: Vec<u32> = Vec::new();
    for (m, r) in members.iter().zip(records) {
        if let Some(u) = r.units.iter().find(|u| units.contains(u)) {
            bail!(
                "{} calibrated on engine {u}, which another member calibrated on too: cross-conformal members must \
                 hold out disjoint folds",
                m.dir.display()
            );
        }
        units.extend(&r.units);
    }
    let cuts: Vec<CutPrediction> = records.iter().flat_map(|r| r.cuts.iter().cloned()).collect();
    let folds = fold_of(&members[0]).1 as usize;
    let difficulty = members_difficulty(records)?;
    let kinds = if difficulty.is_some() { kinds_with_normalised() } else { MODEL_KINDS.to_vec() };
    Ok(CalibrationRecord {
        calibrations: fit(&cuts, &kinds, levels, difficulty.as_ref())?,
        units,
        cuts,
        scale: difficulty.as_ref().map(|_| mean_difficulty_scale(records.len())),
        difficulty,
        scheme: Scheme::CrossConformal { folds, members: members.len() },
        ..first.clone()
    })
}

/// An ensemble's results must not replace a member's (or any run's) files.
fn refuse_member_folder(dirs: &[PathBuf], out: &Path) -> anyhow::Result<()> {
    let canon = |p: &Path| std::fs::canonicalize(p).ok();
    let is_member = canon(out).is_some_and(|o| dirs.iter().any(|d| canon(d).as_ref() == Some(&o)));
    if is_member || out.join(CONFIG_FILE).exists() {
        bail!(
            "--out {} is a run directory: an ensemble's results go to a folder of their own, so that no member's \
             files are replaced",
            out.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intervals::tests::normal;
    use grace_core::conformal::{IntervalKind, Knot, DEFAULT_SCALE_FLOOR};
    use rand::{Rng, SeedableRng};
    use serde_json::json;

    /// A member holding only what calibration reads: its folder and, for cross-conformal, its fold.
    fn member(dir: &str, fold: u64) -> Member {
        Member {
            dir: dir.into(),
            results: RunResults::default(),
            preprocessing: json!({"config": {"fold": fold, "folds": 3}}),
            fingerprint: String::new(),
            rows: vec![],
            calibration: None,
        }
    }

    /// A member's calibration: one cut per engine, engines numbered from `first_unit`.
    fn record(first_unit: u32, pred: &[f64], truth: &[f64], difficulty: Option<DifficultyScale>) -> CalibrationRecord {
        let cuts: Vec<CutPrediction> = pred
            .iter()
            .zip(truth)
            .enumerate()
            .map(|(i, (&prediction, &truth))| CutPrediction {
                unit: first_unit + i as u32,
                last_cycle: 0,
                truth,
                prediction,
                spread: None,
            })
            .collect();
        CalibrationRecord {
            seed: 0,
            cuts_per_engine: 1,
            max_rul: 1e9,
            units: cuts.iter().map(|c| c.unit).collect(),
            cuts,
            calibrations: vec![],
            difficulty,
            scale: None,
            scheme: Scheme::Split,
        }
    }

    fn knots(k: &[(f64, f64)]) -> DifficultyScale {
        let knots = k.iter().map(|&(prediction, scale)| Knot { prediction, scale }).collect();
        DifficultyScale { knots, floor: DEFAULT_SCALE_FLOOR, n: 30 }
    }

    /// The fitted normalised quantile of the first level.
    fn normalised_q(rec: &CalibrationRecord) -> f64 {
        rec.of_kind(IntervalKind::normalised()).unwrap().levels[0].above.unwrap().value().unwrap()
    }

    // Members a (20, 40, 60) and b (30, 50, 70): the ensemble predicts 25, 45, 65, where σ̂_a is
    // 3, 7, 10 and σ̂_b 4, so σ̂_ens = 3.5, 5.5, 7; the truth puts the scores |y − ŷ| / σ̂_ens at 2, 2, 0.5.
    const A: [f64; 3] = [20.0, 40.0, 60.0];
    const B: [f64; 3] = [30.0, 50.0, 70.0];
    const TRUTH: [f64; 3] = [32.0, 34.0, 68.5];

    #[test]
    fn a_seed_ensemble_is_scaled_by_the_mean_of_its_members_difficulty_on_both_sides() {
        let a = record(0, &A, &TRUTH, Some(knots(&[(20.0, 2.0), (60.0, 10.0)])));
        let b = record(0, &B, &TRUTH, Some(knots(&[(40.0, 4.0)])));
        let rec = combined_calibration(&[member("a", 0), member("b", 0)], &[&a, &b], Combine::Mean, &[0.5]).unwrap();
        assert_eq!(rec.scale.as_deref(), Some("difficulty (mean of 2 members)"));
        assert_eq!(rec.difficulty.as_ref().unwrap().scales(&[25.0, 45.0, 65.0]).unwrap(), vec![3.5, 5.5, 7.0]);
        // rank ⌈4 · 0.5⌉ = 2 of the sorted scores 0.5, 2, 2
        assert_eq!(normalised_q(&rec), 2.0);
        // the test side uses σ̂_ens too, not the spread passed in: 25 ± 2·3.5 and 65 ± 2·7
        let s = rec.summarise(&[25.0, 65.0], &[25.0, 65.0], Some(&[100.0, 100.0])).unwrap();
        assert_eq!(s.scale.as_deref(), Some("difficulty (mean of 2 members)"));
        assert_eq!((s.kinds[1].kind, s.kinds[1].report.capped[0].mean_width), (IntervalKind::normalised(), Some(21.0)));
        // refitting from the stored file keeps the scale
        assert_eq!(rec.refit(&[0.5]).unwrap(), rec);
    }

    #[test]
    fn a_member_without_difficulty_falls_back_to_the_member_spread_and_says_so() {
        let a = record(0, &A, &TRUTH, Some(knots(&[(20.0, 2.0), (60.0, 10.0)])));
        let b = record(0, &B, &TRUTH, None);
        let rec = combined_calibration(&[member("a", 0), member("b", 0)], &[&a, &b], Combine::Mean, &[0.5]).unwrap();
        assert_eq!((rec.scale.as_deref(), rec.difficulty.as_ref()), (Some(SPREAD_SCALE), None));
        // the members differ by 10 on every cut: sample std √50; scores 7, 11, 3.5 over √50
        assert!(rec.cuts.iter().all(|c| (c.spread.unwrap() - 50f64.sqrt()).abs() < 1e-12));
        assert!((normalised_q(&rec) - 7.0 / 50f64.sqrt()).abs() < 1e-12);
        let s = rec.summarise(&[25.0, 65.0], &[25.0, 65.0], Some(&[10.0, 10.0])).unwrap();
        assert_eq!(s.scale.as_deref(), Some(SPREAD_SCALE));
        let width = s.kinds[1].report.capped[0].mean_width.unwrap();
        assert!((width - 140.0 / 50f64.sqrt()).abs() < 1e-9, "{width}");
    }

    #[test]
    fn cross_conformal_members_with_difficulty_add_the_normalised_kind() {
        let d = || Some(knots(&[(20.0, 2.0), (60.0, 10.0)]));
        let folds = [member("f0", 0), member("f1", 1), member("f2", 2)];
        let with: Vec<CalibrationRecord> = (0..3).map(|k| record(3 * k, &A, &TRUTH, d())).collect();
        let rec = pooled_calibration(&folds, &with.iter().collect::<Vec<_>>(), &[0.5]).unwrap();
        assert_eq!(rec.calibrations.len(), 4);
        assert_eq!(rec.scale.as_deref(), Some("difficulty (mean of 3 members)"));
        // three equal σ̂ average to the same σ̂
        assert_eq!(rec.difficulty.as_ref().unwrap().scales(&A).unwrap(), d().unwrap().scales(&A).unwrap());
        let mut without = with.clone();
        without[1].difficulty = None;
        let rec = pooled_calibration(&folds, &without.iter().collect::<Vec<_>>(), &[0.5]).unwrap();
        assert_eq!((rec.calibrations.len(), rec.scale.as_ref(), rec.difficulty.as_ref()), (3, None, None));
    }

    /// `n` engines at x ∈ [40, 140) seen by 5 members: the truth is x + σ(x)·e with σ growing from 1
    /// to 11, while member m predicts x + 2·eₘ, so the members disagree by the same amount everywhere
    /// (as on C-MAPSS, where the spread tracks the errors poorly). Returns the truth and each member's
    /// predictions.
    fn growing_noise(rng: &mut rand_chacha::ChaCha8Rng, n: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
        let x: Vec<f64> = (0..n).map(|_| 40.0 + 100.0 * rng.gen::<f64>()).collect();
        let truth = x.iter().map(|&x| x + (1.0 + 0.1 * (x - 40.0)) * normal(rng)).collect();
        let members = (0..5).map(|_| x.iter().map(|&x| x + 2.0 * normal(rng)).collect()).collect();
        (truth, members)
    }

    #[test]
    fn difficulty_normalised_ensemble_intervals_cover_and_are_sharper_when_noise_grows_with_the_prediction() {
        let (reps, level) = (100, 0.9);
        // symmetric, normalised by σ̂_ens, normalised by the member spread
        let (mut cov, mut width) = ([0.0; 3], [0.0; 3]);
        let dirs: Vec<Member> = (0..5).map(|m| member(&format!("m{m}"), 0)).collect();
        for seed in 0..reps {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            // each member's σ̂ from its own predictions on other engines (the selection engines in a run)
            let (sel_truth, sel) = growing_noise(&mut rng, 200);
            let (cal_truth, cal) = growing_noise(&mut rng, 200);
            let records: Vec<CalibrationRecord> = sel
                .iter()
                .zip(&cal)
                .map(|(s, c)| {
                    let d = DifficultyScale::fit(s, &sel_truth, DEFAULT_SCALE_FLOOR).unwrap();
                    record(0, c, &cal_truth, Some(d))
                })
                .collect();
            let rec =
                combined_calibration(&dirs, &records.iter().collect::<Vec<_>>(), Combine::Mean, &[level]).unwrap();
            let by_spread = CalibrationRecord {
                calibrations: fit(&rec.cuts, &kinds_with_normalised(), &[level], None).unwrap(),
                difficulty: None,
                scale: None,
                ..rec.clone()
            };
            let (truth, test) = growing_noise(&mut rng, 500);
            let (pred, spread) = (combine(&test, Combine::Mean).unwrap(), member_spread(&test).unwrap());
            let s = rec.summarise(&pred, &truth, Some(&spread)).unwrap();
            let t = by_spread.summarise(&pred, &truth, Some(&spread)).unwrap();
            for (k, r) in [&s.kinds[0], &s.kinds[1], &t.kinds[1]].into_iter().enumerate() {
                cov[k] += r.report.capped[0].coverage / reps as f64;
                width[k] += r.report.capped[0].mean_width.unwrap() / reps as f64;
            }
        }
        // exchangeable scores: 181/201 = 0.9005 in expectation for every scale
        for c in cov {
            assert!((c - 0.9005).abs() < 0.01, "coverage {cov:?}");
        }
        assert!(width[1] < 0.95 * width[0], "σ̂_ens-normalised {} vs symmetric {}", width[1], width[0]);
        assert!(width[1] < width[2], "σ̂_ens-normalised {} vs spread-normalised {}", width[1], width[2]);
    }

    #[test]
    fn first_difference_names_the_nested_field() {
        let a = json!({"config": {"window": 30, "seed": 42}, "mean": [[1.0]]});
        let b = json!({"config": {"window": 20, "seed": 42}, "mean": [[1.0]]});
        assert_eq!(first_difference(&a, &b, ""), Some("config.window".into()));
        assert_eq!(first_difference(&a, &a, ""), None);
        let c = json!({"config": {"window": 30, "seed": 42}});
        assert_eq!(first_difference(&a, &c, ""), Some("mean".into()));
        assert_eq!(show(&a, "config.window"), "30");
        assert_eq!(show(&c, "mean"), "absent");
    }

    #[test]
    fn mean_member_averages_each_figure() {
        let m = |rmse: f64, nasa: f64| EnsembleMember {
            test: RulPair { capped: RulScores { rmse, nasa, mae: 1.0 }, uncapped: RulScores::default() },
            ..Default::default()
        };
        let p = mean_pair(&[m(10.0, 100.0), m(14.0, 300.0)]);
        assert_eq!((p.capped.rmse, p.capped.nasa, p.capped.mae), (12.0, 200.0, 1.0));
        assert!(p.uncapped.rmse.is_nan());
    }
}
