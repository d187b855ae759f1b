//! Fixed task weights (`baseline`, `amnl`, `single`) behind the same trait as GABA,
//! so the trainer has one code path for every task-weighting method.

use super::{optional_norms, Needs, StepInput, StepRecord, TaskWeighting};
use crate::error::CoreError;
use crate::methods::{Method, Param, ParamDefault, ParamValues, RulLoss, SLOPE};
use serde::{Deserialize, Serialize};

pub const FIXED_WEIGHTS: Param = Param {
    name: "fixed_weights",
    default: ParamDefault::List(&[]),
    doc: "task weights (RUL, health, …) of `baseline` and `amnl`; empty = uniform 1/K",
};

pub const BASELINE: Method = Method {
    name: "baseline",
    description: "plain MSE, fixed task weights (uniform: 0.5 / 0.5)",
    citation: "docs/reference.md §4.3",
    rul_loss: RulLoss::Mse,
    needs: Needs::Nothing,
    params: &[FIXED_WEIGHTS],
    build: given_or_uniform,
};

pub const AMNL: Method = Method {
    name: "amnl",
    description: "failure-biased weighted MSE, fixed task weights (uniform: 0.5 / 0.5)",
    citation: "docs/reference.md §4.1, §4.3",
    rul_loss: RulLoss::WeightedMse,
    needs: Needs::Nothing,
    params: &[SLOPE, FIXED_WEIGHTS],
    build: given_or_uniform,
};

pub const SINGLE: Method = Method {
    name: "single",
    description: "the RUL task only (weights 1, 0, …)",
    citation: "docs/reference.md §4.3",
    rul_loss: RulLoss::Mse,
    needs: Needs::Nothing,
    params: &[],
    build: rul_only,
};

fn rul_only(k: usize, _: &ParamValues) -> Result<Box<dyn TaskWeighting>, CoreError> {
    let mut w = vec![0.0; k];
    w[0] = 1.0;
    Ok(Box::new(Fixed::new(w)?))
}

fn given_or_uniform(k: usize, p: &ParamValues) -> Result<Box<dyn TaskWeighting>, CoreError> {
    let given = p.list(&FIXED_WEIGHTS);
    if given.is_empty() {
        return Ok(Box::new(Fixed::new(vec![1.0 / k as f64; k])?));
    }
    if given.len() != k {
        return Err(CoreError::length("method.fixed_weights (one per task)", k, given.len()));
    }
    Ok(Box::new(Fixed::new(given.to_vec())?))
}

/// Weights that never change; every stage of the record shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fixed {
    weights: Vec<f64>,
    step: u64,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    controller: String,
    weights: Vec<f64>,
    step: u64,
}

impl Fixed {
    /// Weights are used as given (0.5/0.5 is the paper's baseline); they must be finite,
    /// non-negative, at least two, and not all zero. They are not renormalised, so a
    /// deliberate 1.0/1.0 stays a plain sum.
    pub fn new(weights: Vec<f64>) -> Result<Fixed, CoreError> {
        if weights.len() < 2 {
            return Err(CoreError::invalid("number of fixed task weights", weights.len(), "≥ 2"));
        }
        if let Some(i) = weights.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(CoreError::invalid(format!("fixed task weight[{i}]"), weights[i], "finite and ≥ 0"));
        }
        if weights.iter().all(|w| *w == 0.0) {
            return Err(CoreError::invalid("fixed task weights", "all zero", "not all zero"));
        }
        Ok(Fixed { weights, step: 0 })
    }
}

impl TaskWeighting for Fixed {
    fn name(&self) -> &str {
        "fixed"
    }

    fn n_tasks(&self) -> usize {
        self.weights.len()
    }

    fn needs(&self) -> Needs {
        Needs::Nothing
    }

    fn step(&mut self, obs: &StepInput) -> Result<StepRecord, CoreError> {
        let k = self.weights.len();
        let norms = optional_norms(k, obs)?;
        let step = self.step;
        self.step += 1;
        let w = self.weights.clone();
        Ok(StepRecord::single_stage(step, false, false, &norms, w))
    }

    fn current_weights(&self) -> Vec<f64> {
        self.weights.clone()
    }

    fn state(&self) -> serde_json::Value {
        serde_json::to_value(Snapshot { controller: "fixed".into(), weights: self.weights.clone(), step: self.step })
            .expect("a fixed-weight snapshot is plain numbers and always serialises")
    }

    fn restore(&mut self, v: &serde_json::Value) -> Result<(), CoreError> {
        let fail = |why: String| CoreError::Restore { controller: "fixed".into(), why };
        let s: Snapshot = serde_json::from_value(v.clone()).map_err(|e| fail(e.to_string()))?;
        if s.controller != "fixed" {
            return Err(fail(format!("the state belongs to controller `{}`", s.controller)));
        }
        if s.weights.len() != self.weights.len() {
            return Err(fail(format!(
                "the state has K = {} tasks, this controller K = {}",
                s.weights.len(),
                self.weights.len()
            )));
        }
        let mut f = Fixed::new(s.weights).map_err(|e| fail(e.to_string()))?;
        f.step = s.step;
        *self = f;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{orthogonal, Gram};
    use super::*;

    #[test]
    fn steps_return_the_fixed_weights() {
        let mut f = Fixed::new(vec![0.5, 0.5]).unwrap();
        let r = f.step(&StepInput { losses: &[900.0, 1.1], gram: None }).unwrap();
        assert_eq!(r.weights, vec![0.5, 0.5]);
        assert_eq!((r.step, r.skipped, r.warmup), (0, false, false));
        assert!(r.norms.is_empty() && r.ratio.is_nan() && r.head_weights.is_none());
        // norms 40 and 0.2 (squares 1600 and 0.04)
        let gram = Gram::new(2, vec![1600.0, 3.0, 3.0, 0.04]).unwrap();
        let r = f.step(&StepInput { losses: &[900.0, 1.1], gram: Some(&gram) }).unwrap();
        assert_eq!(r.step, 1);
        assert!((r.ratio - 200.0).abs() < 1e-12);
        assert!(f.step(&StepInput { losses: &[1.0, 1.0], gram: Some(&orthogonal(&[1.0])) }).is_err());
    }

    #[test]
    fn rejects_bad_weights_and_round_trips() {
        assert!(Fixed::new(vec![1.0]).is_err());
        assert!(Fixed::new(vec![0.0, 0.0]).is_err());
        assert!(Fixed::new(vec![0.5, -0.1]).unwrap_err().to_string().contains("weight[1]"));
        let mut a = Fixed::new(vec![0.7, 0.3]).unwrap();
        a.step(&StepInput { losses: &[1.0, 1.0], gram: None }).unwrap();
        let mut b = Fixed::new(vec![0.5, 0.5]).unwrap();
        b.restore(&serde_json::from_str(&serde_json::to_string(&a.state()).unwrap()).unwrap()).unwrap();
        assert_eq!(a, b);
    }
}
