//! Which checkpoint-selection score picks epochs that generalise: each score's argmin epoch in a
//! run's `epochs.csv`, judged by the held-out calibration-cut RMSE there (docs/tune.md).

use crate::rundir::EpochRow;
use serde::Serialize;

/// The selection scores compared, with the epoch-log column each minimises; the last is the
/// oracle, the held-out figure itself (the best any score could do).
pub const SCORES: [(&str, &str); 3] = [("windows", "val_rmse"), ("cuts", "val_cut_rmse"), ("oracle", "held_cut_rmse")];

/// The epoch a score selects and the held-out RMSE of the averaged weights there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pick {
    pub score: String,
    pub epoch: usize,
    pub held_cut_rmse: f64,
}

/// The mean held-out RMSE under one score over the runs that have it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeanPick {
    pub score: String,
    pub runs: usize,
    pub mean_held_cut_rmse: f64,
}

/// Index of the smallest finite value, the first on ties; `None` when none is finite.
fn argmin(values: &[f64]) -> Option<usize> {
    values
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .fold(None, |best, (i, &v)| match best {
            Some((_, b)) if b <= v => best,
            _ => Some((i, v)),
        })
        .map(|(i, _)| i)
}

/// One pick per entry of [`SCORES`], in that order; `None` when the run logged no held-out figure
/// (trained without calibration engines, or before the column existed). A score that never has a
/// finite value is left out.
pub fn picks(rows: &[EpochRow]) -> Option<Vec<Pick>> {
    let held: Vec<f64> = rows.iter().map(|r| r.held_cut_rmse).collect();
    argmin(&held)?;
    let columns: [Vec<f64>; 3] =
        [rows.iter().map(|r| r.val_rmse).collect(), rows.iter().map(|r| r.val_cut_rmse).collect(), held.clone()];
    let picks = SCORES
        .iter()
        .zip(&columns)
        .filter_map(|((score, _), column)| {
            let i = argmin(column)?;
            Some(Pick { score: score.to_string(), epoch: rows[i].epoch, held_cut_rmse: held[i] })
        })
        .collect();
    Some(picks)
}

/// Per score (in [`SCORES`] order), the mean held-out RMSE at the picked epochs over the runs
/// where it is finite.
pub fn mean_over_runs(runs: &[Vec<Pick>]) -> Vec<MeanPick> {
    SCORES
        .iter()
        .filter_map(|(score, _)| {
            let values: Vec<f64> = runs
                .iter()
                .flatten()
                .filter(|p| p.score == *score && p.held_cut_rmse.is_finite())
                .map(|p| p.held_cut_rmse)
                .collect();
            (!values.is_empty()).then(|| MeanPick {
                score: score.to_string(),
                runs: values.len(),
                mean_held_cut_rmse: values.iter().sum::<f64>() / values.len() as f64,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(val: &[f64], cut: &[f64], held: &[f64]) -> Vec<EpochRow> {
        (0..val.len())
            .map(|i| EpochRow {
                epoch: i,
                val_rmse: val[i],
                val_cut_rmse: cut[i],
                held_cut_rmse: held[i],
                ..Default::default()
            })
            .collect()
    }

    fn pick(score: &str, epoch: usize, held_cut_rmse: f64) -> Pick {
        Pick { score: score.into(), epoch, held_cut_rmse }
    }

    #[test]
    fn each_score_picks_its_first_minimum_and_is_judged_by_the_held_out_figure_there() {
        let nan = f64::NAN;
        // windows: minimum 10 at epochs 2 and 3, the first wins; cuts: NaN skipped, minimum at 1.
        let r = rows(&[12.0, 11.0, 10.0, 10.0], &[nan, 13.0, 14.0, 15.0], &[20.0, 17.0, 18.5, 16.0]);
        assert_eq!(picks(&r).unwrap(), vec![pick("windows", 2, 18.5), pick("cuts", 1, 17.0), pick("oracle", 3, 16.0)]);
    }

    #[test]
    fn runs_without_a_held_out_figure_give_no_picks() {
        let nan = f64::NAN;
        assert_eq!(picks(&rows(&[12.0, 11.0], &[13.0, 12.0], &[nan, nan])), None);
        assert_eq!(picks(&[]), None);
        // A score never measured is left out rather than picking an arbitrary epoch.
        let only_windows = picks(&rows(&[12.0, 11.0], &[nan, nan], &[9.0, 8.0])).unwrap();
        assert_eq!(only_windows, vec![pick("windows", 1, 8.0), pick("oracle", 1, 8.0)]);
    }

    #[test]
    fn means_are_per_score_over_the_runs_that_have_it() {
        let runs = vec![
            vec![pick("windows", 2, 18.0), pick("cuts", 1, 17.0), pick("oracle", 3, 16.0)],
            vec![pick("windows", 0, 12.0), pick("oracle", 0, 12.0)],
        ];
        let m = mean_over_runs(&runs);
        let got: Vec<(&str, usize, f64)> = m.iter().map(|p| (p.score.as_str(), p.runs, p.mean_held_cut_rmse)).collect();
        assert_eq!(got, vec![("windows", 2, 15.0), ("cuts", 1, 17.0), ("oracle", 2, 14.0)]);
        assert!(mean_over_runs(&[]).is_empty());
    }
}
