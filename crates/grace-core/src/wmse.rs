//! The failure-biased weighted MSE of docs/reference.md §4.1 (the AMNL inner loss), over plain slices.
//! The tensor trainer computes the same weights; this is the reference it is tested against.

use crate::error::{check_finite, check_same_len, CoreError};
use serde::{Deserialize, Serialize};

/// Default RUL cap R_max, in cycles.
pub const DEFAULT_R_MAX: f64 = 125.0;

/// The named slopes s of docs/reference.md §4.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Slope {
    /// s = 0.5, w ∈ [1, 1.5].
    Mild,
    /// s = 1.0, w ∈ [1, 2]; the default.
    #[default]
    Moderate,
    /// s = 2.0, w ∈ [1, 3].
    Steep,
}

impl Slope {
    pub const ALL: [Slope; 3] = [Slope::Mild, Slope::Moderate, Slope::Steep];

    pub fn value(self) -> f64 {
        match self {
            Slope::Mild => 0.5,
            Slope::Moderate => 1.0,
            Slope::Steep => 2.0,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Slope::Mild => "mild",
            Slope::Moderate => "moderate",
            Slope::Steep => "steep",
        }
    }

    pub fn from_name(name: &str) -> Result<Slope, CoreError> {
        Slope::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| CoreError::invalid("slope name", name, "one of mild, moderate, steep"))
    }
}

/// `w(y) = 1 + s·clip(1 − y/R_max, 0, 1)` and the loss `mean_j w(y_j)(ŷ_j − y_j)²`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WeightedMse {
    pub slope: f64,
    pub r_max: f64,
}

impl Default for WeightedMse {
    fn default() -> Self {
        WeightedMse { slope: Slope::Moderate.value(), r_max: DEFAULT_R_MAX }
    }
}

/// One row of the per-sample breakdown `grace explain` prints.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SampleTerm {
    pub y: f64,
    pub y_hat: f64,
    pub residual: f64,
    pub residual_sq: f64,
    pub weight: f64,
    pub weighted: f64,
}

impl WeightedMse {
    /// Any slope ≥ 0 is allowed (0 gives the plain MSE), not only the three named ones.
    pub fn new(slope: f64, r_max: f64) -> Result<WeightedMse, CoreError> {
        if !(slope.is_finite() && slope >= 0.0) {
            return Err(CoreError::invalid("weighted-MSE slope s", slope, "finite and ≥ 0"));
        }
        if !(r_max.is_finite() && r_max > 0.0) {
            return Err(CoreError::invalid("R_max", r_max, "finite and > 0"));
        }
        Ok(WeightedMse { slope, r_max })
    }

    pub fn with_slope(slope: Slope, r_max: f64) -> Result<WeightedMse, CoreError> {
        WeightedMse::new(slope.value(), r_max)
    }

    /// The weight depends on the true label only, which is why it is a constant for autodiff.
    pub fn weight(&self, y: f64) -> f64 {
        1.0 + self.slope * (1.0 - y / self.r_max).clamp(0.0, 1.0)
    }

    pub fn weights(&self, y: &[f64]) -> Vec<f64> {
        y.iter().map(|&v| self.weight(v)).collect()
    }

    /// Per-sample terms; rejects mismatched lengths, empty batches and non-finite values.
    pub fn terms(&self, y_pred: &[f64], y_true: &[f64]) -> Result<Vec<SampleTerm>, CoreError> {
        check_pair(y_pred, y_true)?;
        Ok(y_true
            .iter()
            .zip(y_pred)
            .map(|(&y, &y_hat)| {
                let residual = y_hat - y;
                let residual_sq = residual * residual;
                let weight = self.weight(y);
                SampleTerm { y, y_hat, residual, residual_sq, weight, weighted: weight * residual_sq }
            })
            .collect())
    }

    /// A plain mean over the batch: dividing by Σw instead would undo the emphasis on late life.
    pub fn loss(&self, y_pred: &[f64], y_true: &[f64]) -> Result<f64, CoreError> {
        let t = self.terms(y_pred, y_true)?;
        Ok(t.iter().map(|t| t.weighted).sum::<f64>() / t.len() as f64)
    }
}

/// Plain MSE `mean_j (ŷ_j − y_j)²`, the `baseline`/`gaba` RUL loss.
pub fn mse(y_pred: &[f64], y_true: &[f64]) -> Result<f64, CoreError> {
    check_pair(y_pred, y_true)?;
    Ok(y_pred.iter().zip(y_true).map(|(p, t)| (p - t) * (p - t)).sum::<f64>() / y_true.len() as f64)
}

pub(crate) fn check_pair(y_pred: &[f64], y_true: &[f64]) -> Result<(), CoreError> {
    check_same_len("predictions vs. true values", y_true, y_pred)?;
    check_finite("y_true", y_true)?;
    check_finite("y_pred", y_pred)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_by_hand_moderate() {
        let w = WeightedMse::default();
        // 1 + 1·(1 − 12/125) = 1 + 0.904 = 1.904
        assert!((w.weight(12.0) - 1.904).abs() < 1e-12);
        // 1 + (1 − 40/125) = 1 + 0.68 = 1.68
        assert!((w.weight(40.0) - 1.68).abs() < 1e-12);
        // y = 0 (failure): clip(1, 0, 1) = 1 → 2
        assert_eq!(w.weight(0.0), 2.0);
        // y = R_max and beyond: clip(≤ 0) = 0 → 1
        assert_eq!(w.weight(125.0), 1.0);
        assert_eq!(w.weight(130.0), 1.0);
        // negative y clips at 1 (never above 1 + s)
        assert_eq!(w.weight(-5.0), 2.0);
    }

    #[test]
    fn weights_by_hand_other_slopes_and_rmax() {
        // mild: 1 + 0.5·(1 − 50/125) = 1 + 0.5·0.6 = 1.3
        let mild = WeightedMse::with_slope(Slope::Mild, 125.0).unwrap();
        assert!((mild.weight(50.0) - 1.3).abs() < 1e-12);
        // steep: 1 + 2·0.6 = 2.2
        let steep = WeightedMse::with_slope(Slope::Steep, 125.0).unwrap();
        assert!((steep.weight(50.0) - 2.2).abs() < 1e-12);
        // R_max 100: 1 + 1·(1 − 50/100) = 1.5
        let r100 = WeightedMse::new(1.0, 100.0).unwrap();
        assert!((r100.weight(50.0) - 1.5).abs() < 1e-12);
        assert_eq!(Slope::from_name("steep").unwrap(), Slope::Steep);
        assert!(Slope::from_name("gentle").is_err());
    }

    #[test]
    fn loss_is_plain_mean_not_divided_by_weight_sum() {
        // y = 12, 40, 75, 130; ŷ = 20, 35, 70, 110
        // r² = 64, 25, 25, 400; w = 1.904, 1.68, 1.4, 1
        // w·r² = 121.856, 42, 35, 400 → Σ = 598.856, /4 = 149.714
        let w = WeightedMse::default();
        let l = w.loss(&[20.0, 35.0, 70.0, 110.0], &[12.0, 40.0, 75.0, 130.0]).unwrap();
        assert!((l - 149.714).abs() < 1e-9, "{l}");
        // plain MSE: 514/4 = 128.5
        assert_eq!(mse(&[20.0, 35.0, 70.0, 110.0], &[12.0, 40.0, 75.0, 130.0]).unwrap(), 128.5);
        // slope 0 reduces to the MSE
        let flat = WeightedMse::new(0.0, 125.0).unwrap();
        assert_eq!(flat.loss(&[20.0, 35.0, 70.0, 110.0], &[12.0, 40.0, 75.0, 130.0]).unwrap(), 128.5);
    }

    #[test]
    fn rejects_bad_input() {
        let w = WeightedMse::default();
        assert!(matches!(w.loss(&[1.0], &[1.0, 2.0]), Err(CoreError::Length { .. })));
        assert!(w.loss(&[], &[]).is_err());
        let e = w.loss(&[1.0, f64::NAN], &[1.0, 2.0]).unwrap_err().to_string();
        assert!(e.contains("y_pred[1]") && e.contains("NaN"), "{e}");
        assert!(WeightedMse::new(-1.0, 125.0).is_err());
        assert!(WeightedMse::new(1.0, 0.0).is_err());
    }
}
