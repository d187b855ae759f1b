//! Fixed task weights (`baseline`, `amnl`, `single`) behind the same trait as GABA,
//! so the trainer has one code path for every task-weighting method.

use super::{optional_norms, StepInput, StepRecord, TaskWeighting};
use crate::error::CoreError;
use serde::{Deserialize, Serialize};

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

    fn needs_grad_norms(&self) -> bool {
        false
    }

    fn step(&mut self, obs: &StepInput) -> Result<StepRecord, CoreError> {
        let k = self.weights.len();
        let norms = optional_norms(k, obs)?;
        let step = self.step;
        self.step += 1;
        let w = self.weights.clone();
        Ok(StepRecord::single_stage(step, false, false, norms, w))
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
    use super::*;

    #[test]
    fn steps_return_the_fixed_weights() {
        let mut f = Fixed::new(vec![0.5, 0.5]).unwrap();
        let r = f.step(&StepInput { grad_norms: None, losses: &[900.0, 1.1] }).unwrap();
        assert_eq!(r.weights, vec![0.5, 0.5]);
        assert_eq!((r.step, r.skipped, r.warmup), (0, false, false));
        assert!(r.norms.is_empty() && r.ratio.is_nan());
        let r = f.step(&StepInput { grad_norms: Some(&[40.0, 0.2]), losses: &[900.0, 1.1] }).unwrap();
        assert_eq!(r.step, 1);
        assert!((r.ratio - 200.0).abs() < 1e-12);
        assert!(f.step(&StepInput { grad_norms: Some(&[1.0]), losses: &[1.0, 1.0] }).is_err());
    }

    #[test]
    fn rejects_bad_weights_and_round_trips() {
        assert!(Fixed::new(vec![1.0]).is_err());
        assert!(Fixed::new(vec![0.0, 0.0]).is_err());
        assert!(Fixed::new(vec![0.5, -0.1]).unwrap_err().to_string().contains("weight[1]"));
        let mut a = Fixed::new(vec![0.7, 0.3]).unwrap();
        a.step(&StepInput { grad_norms: None, losses: &[1.0, 1.0] }).unwrap();
        let mut b = Fixed::new(vec![0.5, 0.5]).unwrap();
        b.restore(&serde_json::from_str(&serde_json::to_string(&a.state()).unwrap()).unwrap()).unwrap();
        assert_eq!(a, b);
    }
}
