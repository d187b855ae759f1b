//! The controller shared by the methods that change the direction of the shared gradient from the
//! Gram matrix (MGDA, PCGrad, CAGrad, IMTL-G, Nash-MTL, Aligned-MTL, UPGrad; docs/reference.md §4.3).
//!
//! Each step maps G to coefficients w of the shared gradient `Σ_i w_i g_i` by the method's rule;
//! the heads keep their own task's plain gradient (`head_weights` = 1 each), as in TorchJD and LibMTL.
//! The rules are stateless apart from the step counter (PCGrad's orders depend on (seed, step)).
//!
//! Unusable input (decided, as GABA's rule): a non-finite loss or Gram entry skips the step: the
//! weights stay those of the last usable step (the rule's neutral weights before any), nothing else
//! changes, and the step counter still advances, so the PCGrad orders of later steps do not shift.

use super::{aligned, cagrad, check_task_len, imtlg, mgda, nashmtl, pcgrad, upgrad};
use super::{Gram, Needs, StepInput, StepRecord, TaskWeighting};
use crate::error::CoreError;
use serde::{Deserialize, Serialize};

/// Which method maps G to weights, with its hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Rule {
    Mgda,
    Pcgrad { seed: u64 },
    Cagrad { c: f64 },
    Imtlg,
    Nashmtl { max_norm: f64 },
    Aligned,
    Upgrad,
}

impl Rule {
    pub fn name(&self) -> &'static str {
        match self {
            Rule::Mgda => "mgda",
            Rule::Pcgrad { .. } => "pcgrad",
            Rule::Cagrad { .. } => "cagrad",
            Rule::Imtlg => "imtlg",
            Rule::Nashmtl { .. } => "nashmtl",
            Rule::Aligned => "aligned",
            Rule::Upgrad => "upgrad",
        }
    }

    /// The coefficients of the shared gradient at training step `step`.
    pub fn weights(&self, gram: &Gram, step: u64) -> Vec<f64> {
        match *self {
            Rule::Mgda => mgda::weights(gram),
            Rule::Pcgrad { seed } => pcgrad::weights(gram, seed, step),
            Rule::Cagrad { c } => cagrad::weights(gram, c),
            Rule::Imtlg => imtlg::weights(gram),
            Rule::Nashmtl { max_norm } => nashmtl::weights(gram, max_norm),
            Rule::Aligned => aligned::weights(gram),
            Rule::Upgrad => upgrad::weights(gram),
        }
    }

    /// What the rule gives when the gradients do not conflict and carry no information: PCGrad's
    /// sum (1 each), the others' mean (1/K each). Reported before the first usable step.
    pub fn neutral(&self, k: usize) -> Vec<f64> {
        match self {
            Rule::Pcgrad { .. } => vec![1.0; k],
            _ => vec![1.0 / k as f64; k],
        }
    }

    fn validate(&self) -> Result<(), CoreError> {
        match *self {
            Rule::Cagrad { c } if !(c.is_finite() && c >= 0.0) => {
                Err(CoreError::invalid("CAGrad c", c, "finite and ≥ 0"))
            }
            Rule::Nashmtl { max_norm } if !(max_norm.is_finite() && max_norm >= 0.0) => {
                Err(CoreError::invalid("Nash-MTL max_norm", max_norm, "finite and ≥ 0 (0 = no bound)"))
            }
            _ => Ok(()),
        }
    }
}

/// A Gram-matrix aggregation method as a [`TaskWeighting`] controller.
#[derive(Debug, Clone, PartialEq)]
pub struct GramAggregator {
    rule: Rule,
    weights: Vec<f64>,
    step: u64,
}

/// The serialised form; `controller` guards against restoring another method's state.
#[derive(Serialize, Deserialize)]
struct Snapshot {
    controller: String,
    rule: Rule,
    weights: Vec<f64>,
    step: u64,
}

impl GramAggregator {
    pub fn new(k: usize, rule: Rule) -> Result<GramAggregator, CoreError> {
        if k < 2 {
            return Err(CoreError::invalid("number of tasks K", k, "≥ 2"));
        }
        rule.validate()?;
        Ok(GramAggregator { rule, weights: rule.neutral(k), step: 0 })
    }

    pub fn rule(&self) -> Rule {
        self.rule
    }

    pub fn step_count(&self) -> u64 {
        self.step
    }
}

impl TaskWeighting for GramAggregator {
    fn name(&self) -> &str {
        self.rule.name()
    }

    fn n_tasks(&self) -> usize {
        self.weights.len()
    }

    fn needs(&self) -> Needs {
        Needs::Gram
    }

    fn step(&mut self, obs: &StepInput) -> Result<StepRecord, CoreError> {
        let k = self.weights.len();
        check_task_len("per-task losses", k, obs.losses)?;
        let gram = obs.gram.ok_or_else(|| CoreError::MissingGram(self.rule.name().into()))?;
        if gram.k() != k {
            return Err(CoreError::length("Gram matrix tasks", k, gram.k()));
        }
        let usable = obs.losses.iter().chain(gram.as_slice()).all(|x| x.is_finite());
        let step = self.step;
        if usable {
            self.weights = self.rule.weights(gram, step);
        }
        self.step += 1;
        let mut record = StepRecord::single_stage(step, false, !usable, &gram.norms(), self.weights.clone());
        record.head_weights = Some(vec![1.0; k]);
        Ok(record)
    }

    fn current_weights(&self) -> Vec<f64> {
        self.weights.clone()
    }

    fn state(&self) -> serde_json::Value {
        serde_json::to_value(Snapshot {
            controller: self.rule.name().into(),
            rule: self.rule,
            weights: self.weights.clone(),
            step: self.step,
        })
        .expect("an aggregator snapshot is plain numbers and always serialises")
    }

    fn restore(&mut self, v: &serde_json::Value) -> Result<(), CoreError> {
        let name = self.rule.name();
        let fail = |why: String| CoreError::Restore { controller: name.into(), why };
        let s: Snapshot = serde_json::from_value(v.clone()).map_err(|e| fail(e.to_string()))?;
        if s.controller != name || s.rule.name() != name {
            return Err(fail(format!("the state belongs to controller `{}`", s.controller)));
        }
        if s.weights.len() != self.weights.len() {
            return Err(fail(format!(
                "the state has K = {} tasks, this controller K = {}",
                s.weights.len(),
                self.weights.len()
            )));
        }
        if let Some(i) = s.weights.iter().position(|w| !w.is_finite()) {
            return Err(fail(format!("weight {i} is {}", s.weights[i])));
        }
        s.rule.validate().map_err(|e| fail(e.to_string()))?;
        *self = GramAggregator { rule: s.rule, weights: s.weights, step: s.step };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: [Rule; 7] = [
        Rule::Mgda,
        Rule::Pcgrad { seed: 3 },
        Rule::Cagrad { c: 0.4 },
        Rule::Imtlg,
        Rule::Nashmtl { max_norm: 1.0 },
        Rule::Aligned,
        Rule::Upgrad,
    ];

    fn conflicting() -> Gram {
        // g_1 = (1, 0), g_2 = (−1, 1)
        Gram::new(2, vec![1.0, -1.0, -1.0, 2.0]).unwrap()
    }

    #[test]
    fn step_uses_the_rule_and_keeps_heads_at_one() {
        for rule in RULES {
            let mut c = GramAggregator::new(2, rule).unwrap();
            assert_eq!(c.current_weights(), rule.neutral(2));
            assert_eq!(c.needs(), Needs::Gram);
            let g = conflicting();
            let r = c.step(&StepInput { losses: &[1.0, 2.0], gram: Some(&g) }).unwrap();
            assert_eq!(r.weights, rule.weights(&g, 0), "{}", rule.name());
            assert_eq!(r.head_weights, Some(vec![1.0, 1.0]));
            assert_eq!(r.norms, vec![1.0, 2f64.sqrt()]);
            assert!(!r.skipped && !r.warmup && r.step == 0);
            assert_eq!(c.current_weights(), r.weights);
        }
        // MGDA on this pair: w = (0.6, 0.4) (see mgda.rs)
        let mut m = GramAggregator::new(2, Rule::Mgda).unwrap();
        let r = m.step(&StepInput { losses: &[1.0, 1.0], gram: Some(&conflicting()) }).unwrap();
        assert!((r.weights[0] - 0.6).abs() < 1e-15);
    }

    #[test]
    fn unusable_steps_are_skipped_without_touching_the_weights() {
        for rule in RULES {
            let mut c = GramAggregator::new(2, rule).unwrap();
            c.step(&StepInput { losses: &[1.0, 1.0], gram: Some(&conflicting()) }).unwrap();
            let before = c.current_weights();
            let nan_gram = Gram::new(2, vec![f64::NAN, 0.0, 0.0, 1.0]).unwrap();
            let inf_gram = Gram::new(2, vec![1.0, f64::INFINITY, f64::INFINITY, 1.0]).unwrap();
            for (losses, g) in [([1.0, 1.0], &nan_gram), ([1.0, 1.0], &inf_gram), ([f64::NAN, 1.0], &conflicting())] {
                let r = c.step(&StepInput { losses: &losses, gram: Some(g) }).unwrap();
                assert!(r.skipped, "{}", rule.name());
                assert_eq!(r.weights, before);
                assert!(r.weights.iter().all(|w| w.is_finite()));
            }
            assert_eq!(c.current_weights(), before);
            assert_eq!(c.step_count(), 4, "skipped steps still count");
        }
    }

    #[test]
    fn misuse_is_an_error() {
        let mut c = GramAggregator::new(2, Rule::Upgrad).unwrap();
        let e = c.step(&StepInput { losses: &[1.0, 1.0], gram: None }).unwrap_err();
        assert!(matches!(e, CoreError::MissingGram(ref n) if n == "upgrad"), "{e}");
        let three = Gram::new(3, vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]).unwrap();
        assert!(c.step(&StepInput { losses: &[1.0, 1.0], gram: Some(&three) }).is_err());
        assert!(c.step(&StepInput { losses: &[1.0], gram: Some(&conflicting()) }).is_err());
        assert!(GramAggregator::new(1, Rule::Mgda).is_err());
        assert!(GramAggregator::new(2, Rule::Cagrad { c: -0.1 }).is_err());
        assert!(GramAggregator::new(2, Rule::Nashmtl { max_norm: f64::NAN }).is_err());
    }

    #[test]
    fn state_round_trips_bit_for_bit() {
        // K = 3 PCGrad: the orders depend on the step, so a restored controller must continue exactly.
        let grams: Vec<Gram> = [
            vec![1.0, -0.5, 0.2, -0.5, 2.0, -0.7, 0.2, -0.7, 1.5],
            vec![3.0, -1.0, -1.0, -1.0, 1.0, 0.3, -1.0, 0.3, 0.5],
        ]
        .into_iter()
        .map(|g| Gram::new(3, g).unwrap())
        .collect();
        for rule in RULES {
            let mut a = GramAggregator::new(3, rule).unwrap();
            for g in &grams {
                a.step(&StepInput { losses: &[1.0; 3], gram: Some(g) }).unwrap();
            }
            let text = serde_json::to_string(&a.state()).unwrap();
            let other = match rule {
                Rule::Pcgrad { .. } => Rule::Pcgrad { seed: 99 },
                r => r,
            };
            let mut b = GramAggregator::new(3, other).unwrap();
            b.restore(&serde_json::from_str(&text).unwrap()).unwrap();
            assert_eq!(b, a);
            for i in 0..10 {
                let g = &grams[i % 2];
                let (ra, rb) = (
                    a.step(&StepInput { losses: &[1.0; 3], gram: Some(g) }).unwrap(),
                    b.step(&StepInput { losses: &[1.0; 3], gram: Some(g) }).unwrap(),
                );
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&ra.weights), bits(&rb.weights), "{}", rule.name());
            }
        }
    }

    #[test]
    fn restore_rejects_foreign_state() {
        let mut m = GramAggregator::new(2, Rule::Mgda).unwrap();
        let upgrad = GramAggregator::new(2, Rule::Upgrad).unwrap().state();
        assert!(m.restore(&upgrad).unwrap_err().to_string().contains("upgrad"));
        let three = GramAggregator::new(3, Rule::Mgda).unwrap().state();
        assert!(m.restore(&three).unwrap_err().to_string().contains("K = 3"));
        let mut bad = m.state();
        bad["weights"] = serde_json::json!([0.5, null]);
        assert!(m.restore(&bad).is_err());
        let mut c = GramAggregator::new(2, Rule::Cagrad { c: 0.4 }).unwrap();
        let mut bad_c = c.state();
        bad_c["rule"]["c"] = serde_json::json!(-1.0);
        assert!(c.restore(&bad_c).is_err());
    }
}
