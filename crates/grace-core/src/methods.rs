//! The methods of SPEC §4.3 as data: which RUL loss each uses and which task weighting,
//! so the trainer and the CLI read one table instead of matching names in several places.

use crate::error::CoreError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RulLoss {
    Mse,
    WeightedMse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weighting {
    /// An arithmetic controller from [`crate::controller::controller_for`] under this name.
    Controller(&'static str),
    /// Only the RUL task is trained.
    RulOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MethodSpec {
    pub name: &'static str,
    pub rul_loss: RulLoss,
    pub weighting: Weighting,
}

/// SPEC §4.3, in its order.
pub const METHODS: &[MethodSpec] = &[
    MethodSpec { name: "baseline", rul_loss: RulLoss::Mse, weighting: Weighting::Controller("baseline") },
    MethodSpec { name: "amnl", rul_loss: RulLoss::WeightedMse, weighting: Weighting::Controller("amnl") },
    MethodSpec { name: "gaba", rul_loss: RulLoss::Mse, weighting: Weighting::Controller("gaba") },
    MethodSpec { name: "grace", rul_loss: RulLoss::WeightedMse, weighting: Weighting::Controller("grace") },
    MethodSpec { name: "uncertainty", rul_loss: RulLoss::Mse, weighting: Weighting::Controller("uncertainty") },
    MethodSpec { name: "dwa", rul_loss: RulLoss::Mse, weighting: Weighting::Controller("dwa") },
    MethodSpec { name: "gradnorm", rul_loss: RulLoss::Mse, weighting: Weighting::Controller("gradnorm") },
    MethodSpec { name: "single", rul_loss: RulLoss::Mse, weighting: Weighting::RulOnly },
];

pub fn method(name: &str) -> Result<&'static MethodSpec, CoreError> {
    METHODS.iter().find(|m| m.name == name).ok_or_else(|| CoreError::UnknownMethod {
        name: name.to_string(),
        known: METHODS.iter().map(|m| m.name).collect::<Vec<_>>().join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_spec() {
        assert_eq!(method("grace").unwrap().rul_loss, RulLoss::WeightedMse);
        assert_eq!(method("amnl").unwrap().rul_loss, RulLoss::WeightedMse);
        assert_eq!(method("gaba").unwrap().rul_loss, RulLoss::Mse);
        assert_eq!(method("gradnorm").unwrap().weighting, Weighting::Controller("gradnorm"));
        assert_eq!(method("uncertainty").unwrap().weighting, Weighting::Controller("uncertainty"));
        assert!(method("mtl").unwrap_err().to_string().contains("grace"));
        // every controller-backed method builds through the registry under its own name
        let p = crate::controller::ControllerParams::default();
        for m in METHODS {
            if let Weighting::Controller(c) = m.weighting {
                assert!(crate::controller::controller_for(c, 2, &p).is_ok(), "{c}");
            }
        }
    }
}
