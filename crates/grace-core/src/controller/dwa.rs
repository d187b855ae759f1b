//! Dynamic Weight Average (Liu, Johns & Davison 2019) as an arithmetic controller: task weights
//! `λ_i = K·softmax(r_i / T)` from each task's loss ratio `r_i = L_i(t−1)/L_i(t−2)` over epochs.
//!
//! `L_i(e)` is the mean training loss of task i in epoch e, given to [`TaskWeighting::end_epoch`].
//! The weights are constant within an epoch; they are 1 (uniform, Σ = K) until two epochs have
//! ended, as in the paper. A task whose loss falls more slowly gets the larger weight. T = 2
//! by default; the weights sum to K and are logged as they are (not rescaled to Σ = 1).
//! The softmax subtracts the largest r_i/T first, so large ratios cannot overflow.

use super::{check_task_len, optional_norms, Needs, StepInput, StepRecord, TaskWeighting};
use crate::error::CoreError;
use crate::methods::{Method, Param, ParamDefault, ParamValues, RulLoss};
use serde::{Deserialize, Serialize};

pub const TEMPERATURE: Param =
    Param { name: "temperature", default: ParamDefault::Float(2.0), doc: "DWA softmax temperature T, > 0" };

pub const METHOD: Method = Method {
    name: "dwa",
    description: "plain MSE, Dynamic Weight Average: K·softmax of the epoch loss ratios over T",
    citation: "Liu, Johns & Davison 2019 (docs/reference.md §4.3)",
    rul_loss: RulLoss::Mse,
    // the weights move at epoch ends, from the epoch mean losses given to `end_epoch`
    needs: Needs::Nothing,
    params: &[TEMPERATURE],
    build,
};

fn build(k: usize, p: &ParamValues) -> Result<Box<dyn TaskWeighting>, CoreError> {
    Ok(Box::new(Dwa::new(k, p.float(&TEMPERATURE))?))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dwa {
    temperature: f64,
    /// Mean task losses of the last two completed epochs, oldest first (at most two kept).
    history: Vec<Vec<f64>>,
    weights: Vec<f64>,
    step: u64,
    epochs: u64,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    controller: String,
    temperature: f64,
    history: Vec<Vec<f64>>,
    weights: Vec<f64>,
    step: u64,
    epochs: u64,
}

impl Dwa {
    pub fn new(k: usize, temperature: f64) -> Result<Dwa, CoreError> {
        if k < 2 {
            return Err(CoreError::invalid("number of tasks K", k, "≥ 2"));
        }
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err(CoreError::invalid("DWA temperature T", temperature, "finite and > 0"));
        }
        Ok(Dwa { temperature, history: Vec::new(), weights: vec![1.0; k], step: 0, epochs: 0 })
    }

    pub fn temperature(&self) -> f64 {
        self.temperature
    }
}

/// `K·softmax(r/T)` with `r_i = last_i/prev_i`.
pub fn dwa_weights(prev: &[f64], last: &[f64], temperature: f64) -> Vec<f64> {
    let z: Vec<f64> = last.iter().zip(prev).map(|(l, p)| l / p / temperature).collect();
    let zmax = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - zmax).exp()).collect();
    let total: f64 = e.iter().sum();
    let k = z.len() as f64;
    e.iter().map(|v| k * v / total).collect()
}

impl TaskWeighting for Dwa {
    fn name(&self) -> &str {
        "dwa"
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
        // The first two epochs hold the weights uniform, like GABA's warm-up.
        Ok(StepRecord::single_stage(step, self.epochs < 2, false, &norms, w))
    }

    fn end_epoch(&mut self, mean_task_losses: &[f64]) -> Result<(), CoreError> {
        check_task_len("DWA epoch mean losses", self.weights.len(), mean_task_losses)?;
        // A zero or non-finite mean would make r = ∞ or NaN: refuse it by name rather than
        // let it into the weights.
        if let Some(i) = mean_task_losses.iter().position(|l| !(l.is_finite() && *l > 0.0)) {
            return Err(CoreError::invalid(
                format!("DWA mean loss of task {i} in epoch {}", self.epochs),
                mean_task_losses[i],
                "finite and > 0",
            ));
        }
        self.history.push(mean_task_losses.to_vec());
        if self.history.len() > 2 {
            self.history.remove(0);
        }
        self.epochs += 1;
        if self.history.len() == 2 {
            self.weights = dwa_weights(&self.history[0], &self.history[1], self.temperature);
        }
        Ok(())
    }

    fn current_weights(&self) -> Vec<f64> {
        self.weights.clone()
    }

    fn state(&self) -> serde_json::Value {
        serde_json::to_value(Snapshot {
            controller: "dwa".into(),
            temperature: self.temperature,
            history: self.history.clone(),
            weights: self.weights.clone(),
            step: self.step,
            epochs: self.epochs,
        })
        .expect("a DWA snapshot is plain numbers and always serialises")
    }

    fn restore(&mut self, v: &serde_json::Value) -> Result<(), CoreError> {
        let fail = |why: String| CoreError::Restore { controller: "dwa".into(), why };
        let s: Snapshot = serde_json::from_value(v.clone()).map_err(|e| fail(e.to_string()))?;
        if s.controller != "dwa" {
            return Err(fail(format!("the state belongs to controller `{}`", s.controller)));
        }
        let k = self.weights.len();
        if s.weights.len() != k || s.history.iter().any(|h| h.len() != k) || s.history.len() > 2 {
            return Err(fail(format!("the state has K = {} tasks, this controller K = {k}", s.weights.len())));
        }
        if let Some(i) = s.weights.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(fail(format!("weight[{i}] = {} is not finite and ≥ 0", s.weights[i])));
        }
        let mut d = Dwa::new(k, s.temperature).map_err(|e| fail(e.to_string()))?;
        d.history = s.history;
        d.weights = s.weights;
        d.step = s.step;
        d.epochs = s.epochs;
        *self = d;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(d: &mut Dwa) -> StepRecord {
        let ones = vec![1.0; d.n_tasks()];
        d.step(&StepInput { losses: &ones, gram: None }).unwrap()
    }

    #[test]
    fn two_task_example_by_hand() {
        let mut d = Dwa::new(2, 2.0).unwrap();
        // epochs 0 and 1: uniform, K·(1/K) = 1 each
        assert_eq!(step(&mut d).weights, vec![1.0, 1.0]);
        d.end_epoch(&[100.0, 2.0]).unwrap();
        let r = step(&mut d);
        assert_eq!(r.weights, vec![1.0, 1.0]);
        assert!(r.warmup);
        d.end_epoch(&[50.0, 2.0]).unwrap();
        // epoch 2: r = (50/100, 2/2) = (0.5, 1); r/T = (0.25, 0.5);
        // e^0.25 = 1.2840254167, e^0.5 = 1.6487212707, Σ = 2.9327466874;
        // λ = 2·(0.4378234991, 0.5621765009) = (0.8756469982, 1.1243530018)
        let r = step(&mut d);
        assert!(!r.warmup);
        assert!((r.weights[0] - 0.875_646_998_2).abs() < 1e-9, "{:?}", r.weights);
        assert!((r.weights[1] - 1.124_353_001_8).abs() < 1e-9);
        assert!((r.weights.iter().sum::<f64>() - 2.0).abs() < 1e-15);
        // epoch 3 uses epochs 1 and 2 only: r = (40/50, 3/2) = (0.8, 1.5); r/T = (0.4, 0.75);
        // λ_0 = 2·e^0.4/(e^0.4 + e^0.75) = 2/(1 + e^{0.35}) = 2/2.4190675486 = 0.8267648…
        d.end_epoch(&[40.0, 3.0]).unwrap();
        let w = step(&mut d).weights;
        assert!((w[0] - 0.826_764_8).abs() < 1e-6, "{w:?}");
    }

    #[test]
    fn large_ratios_do_not_overflow_and_bad_means_are_refused() {
        let w = dwa_weights(&[1e-300, 1.0], &[1.0, 1.0], 2.0);
        assert!(w.iter().all(|x| x.is_finite()), "{w:?}");
        assert!((w[0] - 2.0).abs() < 1e-12);
        let mut d = Dwa::new(2, 2.0).unwrap();
        let e = d.end_epoch(&[0.0, 1.0]).unwrap_err().to_string();
        assert!(e.contains("task 0") && e.contains("0"), "{e}");
        assert!(d.end_epoch(&[f64::NAN, 1.0]).is_err());
        assert!(d.end_epoch(&[1.0]).is_err());
        assert!(Dwa::new(2, 0.0).unwrap_err().to_string().contains("temperature"));
    }

    #[test]
    fn serde_round_trip_is_bit_identical() {
        let mut a = Dwa::new(3, 2.0).unwrap();
        for m in [[3.0, 2.0, 1.0], [2.5, 1.9, 0.7], [2.0, 1.95, 0.69]] {
            step(&mut a);
            a.end_epoch(&m).unwrap();
        }
        let mut b = Dwa::new(3, 1.0).unwrap();
        b.restore(&serde_json::from_str(&serde_json::to_string(&a.state()).unwrap()).unwrap()).unwrap();
        assert_eq!(a, b);
        a.end_epoch(&[1.7, 1.8, 0.6]).unwrap();
        b.end_epoch(&[1.7, 1.8, 0.6]).unwrap();
        let bits = |v: Vec<f64>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(a.current_weights()), bits(b.current_weights()));
        assert!(b.restore(&Dwa::new(2, 2.0).unwrap().state()).is_err());
    }
}
