//! Evaluation metrics of docs/reference.md §6: RMSE, NASA/PHM08 score, MAE, health-class accuracy,
//! confusion matrix and macro-F1, and mean ± sample standard deviation across seeds.

use crate::error::CoreError;
use crate::wmse::check_pair;
use serde::{Deserialize, Serialize};

/// Number of health classes (normal, degrading, critical).
pub const N_HEALTH_CLASSES: usize = 3;

/// Root mean squared error over engines.
pub fn rmse(y_pred: &[f64], y_true: &[f64]) -> Result<f64, CoreError> {
    Ok(crate::wmse::mse(y_pred, y_true)?.sqrt())
}

/// Mean absolute error over engines.
pub fn mae(y_pred: &[f64], y_true: &[f64]) -> Result<f64, CoreError> {
    check_pair(y_pred, y_true)?;
    Ok(y_pred.iter().zip(y_true).map(|(p, t)| (p - t).abs()).sum::<f64>() / y_true.len() as f64)
}

/// One engine's PHM08 penalty for `d = ŷ − y`: late predictions (d ≥ 0) cost more than early ones.
pub fn nasa_term(d: f64) -> f64 {
    if d < 0.0 {
        (-d / 13.0).exp() - 1.0
    } else {
        (d / 10.0).exp() - 1.0
    }
}

/// The NASA score: the **sum** (not the mean) of [`nasa_term`] over engines; lower is better.
pub fn nasa_score(y_pred: &[f64], y_true: &[f64]) -> Result<f64, CoreError> {
    check_pair(y_pred, y_true)?;
    Ok(y_pred.iter().zip(y_true).map(|(p, t)| nasa_term(p - t)).sum())
}

fn check_labels(pred: &[usize], truth: &[usize], n_classes: usize) -> Result<(), CoreError> {
    if pred.len() != truth.len() {
        return Err(CoreError::length("predicted vs. true class labels", truth.len(), pred.len()));
    }
    if truth.is_empty() {
        return Err(CoreError::invalid("class labels", "0 values", "non-empty"));
    }
    for (what, xs) in [("true class label", truth), ("predicted class label", pred)] {
        if let Some(i) = xs.iter().position(|&c| c >= n_classes) {
            return Err(CoreError::invalid(format!("{what}[{i}]"), xs[i], format!("< {n_classes}")));
        }
    }
    Ok(())
}

/// Fraction of labels predicted exactly.
pub fn accuracy(pred: &[usize], truth: &[usize], n_classes: usize) -> Result<f64, CoreError> {
    check_labels(pred, truth, n_classes)?;
    Ok(pred.iter().zip(truth).filter(|(p, t)| p == t).count() as f64 / truth.len() as f64)
}

/// `m[true][pred]` counts, rows = true class, columns = predicted class (sklearn's layout).
pub fn confusion_matrix(pred: &[usize], truth: &[usize], n_classes: usize) -> Result<Vec<Vec<u64>>, CoreError> {
    check_labels(pred, truth, n_classes)?;
    let mut m = vec![vec![0u64; n_classes]; n_classes];
    for (&p, &t) in pred.iter().zip(truth) {
        m[t][p] += 1;
    }
    Ok(m)
}

/// Per-class F1 = 2·TP / (2·TP + FP + FN).
///
/// Decided: a class with no true and no predicted sample (0/0) scores **0**, as sklearn's
/// `f1_score(..., labels=[0, 1, 2], average=None)` does with its default `zero_division`.
pub fn f1_per_class(pred: &[usize], truth: &[usize], n_classes: usize) -> Result<Vec<f64>, CoreError> {
    let m = confusion_matrix(pred, truth, n_classes)?;
    Ok((0..n_classes)
        .map(|c| {
            let tp = m[c][c] as f64;
            let fn_ = m[c].iter().sum::<u64>() as f64 - tp;
            let fp = (0..n_classes).map(|r| m[r][c]).sum::<u64>() as f64 - tp;
            let denom = 2.0 * tp + fp + fn_;
            if denom == 0.0 {
                0.0
            } else {
                2.0 * tp / denom
            }
        })
        .collect())
}

/// Unweighted mean of [`f1_per_class`] over **all** `n_classes` classes, absent ones included
/// (= sklearn `f1_score(y, ŷ, labels=range(n_classes), average="macro")`). So a test set
/// with no critical engine caps the macro-F1 at 2/3; read [`f1_per_class`] alongside it.
pub fn macro_f1(pred: &[usize], truth: &[usize], n_classes: usize) -> Result<f64, CoreError> {
    let f = f1_per_class(pred, truth, n_classes)?;
    Ok(f.iter().sum::<f64>() / n_classes as f64)
}

/// Mean and **sample** standard deviation (divides by n − 1) across seeds.
///
/// Decided: n = 0 gives (NaN, NaN) and n = 1 gives (x, NaN), like pandas, because one seed
/// says nothing about the spread and a 0 would claim it does.
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return (mean, f64::NAN);
    }
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64;
    (mean, var.sqrt())
}

/// All regression and classification metrics of one evaluation, for reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalMetrics {
    pub rmse: f64,
    pub nasa: f64,
    pub mae: f64,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub f1_per_class: Vec<f64>,
    pub confusion: Vec<Vec<u64>>,
}

impl EvalMetrics {
    pub fn compute(
        rul_pred: &[f64],
        rul_true: &[f64],
        class_pred: &[usize],
        class_true: &[usize],
        n_classes: usize,
    ) -> Result<EvalMetrics, CoreError> {
        Ok(EvalMetrics {
            rmse: rmse(rul_pred, rul_true)?,
            nasa: nasa_score(rul_pred, rul_true)?,
            mae: mae(rul_pred, rul_true)?,
            accuracy: accuracy(class_pred, class_true, n_classes)?,
            macro_f1: macro_f1(class_pred, class_true, n_classes)?,
            f1_per_class: f1_per_class(class_pred, class_true, n_classes)?,
            confusion: confusion_matrix(class_pred, class_true, n_classes)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regression_metrics_by_hand() {
        // d = ŷ − y = 8, −5, −5, −20
        let p = [20.0, 35.0, 70.0, 110.0];
        let t = [12.0, 40.0, 75.0, 130.0];
        // RMSE = √(514/4) = √128.5 = 11.3357840…
        assert!((rmse(&p, &t).unwrap() - 11.335_784_048_754_634).abs() < 1e-12);
        // MAE = (8 + 5 + 5 + 20)/4 = 9.5
        assert_eq!(mae(&p, &t).unwrap(), 9.5);
        // NASA: late 8 → e^{0.8} − 1 = 1.2255409; early 5 twice → 2·(e^{5/13} − 1) = 2·0.4690492
        // = 0.9380984; early 20 → e^{20/13} − 1 = 3.6574195; sum = 5.8210588
        let want = (0.8f64).exp() - 1.0 + 2.0 * ((5.0f64 / 13.0).exp() - 1.0) + ((20.0f64 / 13.0).exp() - 1.0);
        let got = nasa_score(&p, &t).unwrap();
        assert!((got - want).abs() < 1e-12);
        assert!((got - 5.821_058_8).abs() < 1e-6, "{got}");
    }

    #[test]
    fn nasa_is_asymmetric_and_a_sum() {
        assert_eq!(nasa_term(0.0), 0.0);
        // 10 cycles late: e − 1 = 1.71828…; 13 cycles early: e − 1 as well
        assert!((nasa_term(10.0) - (std::f64::consts::E - 1.0)).abs() < 1e-12);
        assert!((nasa_term(-13.0) - (std::f64::consts::E - 1.0)).abs() < 1e-12);
        assert!(nasa_term(10.0) > nasa_term(-10.0));
        // a sum, not a mean: two identical engines score twice one
        let one = nasa_score(&[10.0], &[0.0]).unwrap();
        assert_eq!(nasa_score(&[10.0, 10.0], &[0.0, 0.0]).unwrap(), 2.0 * one);
    }

    #[test]
    fn classification_by_hand() {
        // truth: 0 0 1 1 2 2; pred: 0 1 1 1 2 0
        let t = [0, 0, 1, 1, 2, 2];
        let p = [0, 1, 1, 1, 2, 0];
        // accuracy 4/6
        assert!((accuracy(&p, &t, 3).unwrap() - 4.0 / 6.0).abs() < 1e-15);
        let m = confusion_matrix(&p, &t, 3).unwrap();
        assert_eq!(m, vec![vec![1, 1, 0], vec![0, 2, 0], vec![1, 0, 1]]);
        // class 0: TP 1, FP 1, FN 1 → 2/4 = 0.5; class 1: TP 2, FP 1, FN 0 → 4/5 = 0.8;
        // class 2: TP 1, FP 0, FN 1 → 2/3. Macro = (0.5 + 0.8 + 0.6667)/3 = 0.6555…
        let f = f1_per_class(&p, &t, 3).unwrap();
        assert!((f[0] - 0.5).abs() < 1e-15 && (f[1] - 0.8).abs() < 1e-15 && (f[2] - 2.0 / 3.0).abs() < 1e-15);
        assert!((macro_f1(&p, &t, 3).unwrap() - (0.5 + 0.8 + 2.0 / 3.0) / 3.0).abs() < 1e-15);
    }

    #[test]
    fn absent_class_scores_zero_in_macro_f1() {
        // class 2 neither true nor predicted; classes 0 and 1 perfect → (1 + 1 + 0)/3
        let t = [0, 1, 1];
        assert_eq!(f1_per_class(&t, &t, 3).unwrap(), vec![1.0, 1.0, 0.0]);
        assert!((macro_f1(&t, &t, 3).unwrap() - 2.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn label_errors_name_the_value() {
        let e = accuracy(&[0, 3], &[0, 1], 3).unwrap_err().to_string();
        assert!(e.contains("predicted class label[1]") && e.contains('3'), "{e}");
        assert!(macro_f1(&[0], &[0, 1], 3).is_err());
        assert!(rmse(&[], &[]).is_err());
    }

    #[test]
    fn mean_std_uses_n_minus_one() {
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, Σ(x − 5)² = 32, /7 → std = √(32/7) = 2.13808993…
        let (m, s) = mean_std(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(m, 5.0);
        assert!((s - (32.0f64 / 7.0).sqrt()).abs() < 1e-15);
        assert!((s - 2.138_089_935_299_395).abs() < 1e-12);
        let (m1, s1) = mean_std(&[9.14]);
        assert_eq!(m1, 9.14);
        assert!(s1.is_nan());
        assert!(mean_std(&[]).0.is_nan());
    }

    #[test]
    fn eval_metrics_bundle() {
        let e = EvalMetrics::compute(&[20.0, 35.0], &[12.0, 40.0], &[0, 1], &[0, 2], 3).unwrap();
        assert_eq!(e.mae, 6.5);
        assert_eq!(e.accuracy, 0.5);
        assert_eq!(e.confusion[2][1], 1);
    }
}
