//! The one registry of methods (docs/reference.md §4.3): name, description, citation, RUL loss, what a
//! step needs, parameters with defaults, and the constructor. Config, CLI and trainer all read it.

use crate::controller::{aligned, cagrad, dbmtl, famo, imtlg, mgda, nashmtl, pcgrad, rlw, upgrad};
use crate::controller::{dwa, fixed, gaba, gradnorm, uncertainty, Cost, Needs, TaskWeighting};
use crate::error::CoreError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RulLoss {
    Mse,
    WeightedMse,
}

impl RulLoss {
    pub fn name(self) -> &'static str {
        match self {
            RulLoss::Mse => "mse",
            RulLoss::WeightedMse => "weighted_mse",
        }
    }
}

/// A parameter's default, in a form a `const` can hold; it also fixes the parameter's kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamDefault {
    Float(f64),
    /// A whole number ≥ 0 (a count of steps).
    Int(u64),
    List(&'static [f64]),
}

impl ParamDefault {
    /// The value of a `Float` default (for the controllers' own `Default`s).
    pub const fn float(self) -> f64 {
        match self {
            ParamDefault::Float(x) => x,
            _ => panic!("not a float parameter"),
        }
    }

    pub const fn int(self) -> u64 {
        match self {
            ParamDefault::Int(x) => x,
            _ => panic!("not an integer parameter"),
        }
    }

    fn value(self) -> ParamValue {
        match self {
            ParamDefault::Float(x) => ParamValue::Float(x),
            ParamDefault::Int(x) => ParamValue::Int(x),
            ParamDefault::List(xs) => ParamValue::List(xs.to_vec()),
        }
    }

    fn kind(self) -> &'static str {
        match self {
            ParamDefault::Float(_) => "a number",
            ParamDefault::Int(_) => "a whole number ≥ 0",
            ParamDefault::List(_) => "a list of numbers",
        }
    }
}

/// A resolved parameter value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    Int(u64),
    Float(f64),
    List(Vec<f64>),
}

impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamValue::Int(x) => write!(f, "{x}"),
            ParamValue::Float(x) => write!(f, "{x:?}"),
            ParamValue::List(xs) => write!(f, "{xs:?}"),
        }
    }
}

/// One method parameter: its `[method]` config key (and `--set method.NAME`), default and doc.
/// Methods that share a parameter share this definition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Param {
    pub name: &'static str,
    pub default: ParamDefault,
    pub doc: &'static str,
}

impl Param {
    pub fn default_value(&self) -> ParamValue {
        self.default.value()
    }

    /// `v` in this parameter's kind: integers are accepted where a number is expected.
    pub fn accept(&self, v: ParamValue) -> Result<ParamValue, CoreError> {
        match (self.default, v) {
            (ParamDefault::Float(_), ParamValue::Int(i)) => Ok(ParamValue::Float(i as f64)),
            (ParamDefault::Float(_), v @ ParamValue::Float(_))
            | (ParamDefault::Int(_), v @ ParamValue::Int(_))
            | (ParamDefault::List(_), v @ ParamValue::List(_)) => Ok(v),
            (d, v) => Err(CoreError::invalid(format!("method parameter `{}`", self.name), v, d.kind())),
        }
    }
}

/// The weighted-MSE slope s of docs/reference.md §4.1, shared by the methods whose RUL loss is weighted.
pub const SLOPE: Param = Param {
    name: "slope",
    default: ParamDefault::Float(1.0),
    doc: "slope s of the weighted MSE, w(y) = 1 + s·clip(1 − y/R_max, 0, 1) (0.5 mild, 1 moderate, 2 steep)",
};

/// A registered method: everything the config, the CLI and the trainer need to know about it.
#[derive(Debug, Clone, Copy)]
pub struct Method {
    pub name: &'static str,
    pub description: &'static str,
    pub citation: &'static str,
    pub rul_loss: RulLoss,
    /// What its controller reads per step (the controller's own [`TaskWeighting::needs`]).
    pub needs: Needs,
    pub params: &'static [Param],
    /// Builds the controller for K tasks from resolved parameters (K ≥ 2 is checked before).
    pub build: Build,
}

/// A method's constructor: (K, resolved parameters) → its controller.
pub type Build = fn(usize, &ParamValues) -> Result<Box<dyn TaskWeighting>, CoreError>;

/// The registry, in the order of docs/reference.md §4.3. A new method: one controller file and one entry here.
pub const METHODS: &[Method] = &[
    fixed::BASELINE,
    fixed::AMNL,
    gaba::GABA,
    gaba::GRACE,
    uncertainty::METHOD,
    dwa::METHOD,
    gradnorm::METHOD,
    fixed::SINGLE,
    mgda::METHOD,
    pcgrad::METHOD,
    cagrad::METHOD,
    imtlg::METHOD,
    nashmtl::METHOD,
    aligned::METHOD,
    upgrad::METHOD,
    dbmtl::METHOD,
    famo::METHOD,
    rlw::METHOD,
];

pub fn method(name: &str) -> Result<&'static Method, CoreError> {
    METHODS
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| CoreError::UnknownMethod { name: name.to_string(), known: names().join(", ") })
}

pub fn names() -> Vec<&'static str> {
    METHODS.iter().map(|m| m.name).collect()
}

/// Every parameter of every method once, in registry order: the keys of the `[method]` section.
pub fn all_params() -> Vec<&'static Param> {
    let mut out: Vec<&'static Param> = Vec::new();
    for p in METHODS.iter().flat_map(|m| m.params) {
        if !out.iter().any(|q| q.name == p.name) {
            out.push(p);
        }
    }
    out
}

pub fn param(name: &str) -> Result<&'static Param, CoreError> {
    all_params().into_iter().find(|p| p.name == name).ok_or_else(|| CoreError::UnknownParam {
        name: name.to_string(),
        known: all_params().iter().map(|p| p.name).collect::<Vec<_>>().join(", "),
    })
}

impl Method {
    /// Backward passes and extra forwards per step for K tasks.
    pub fn cost(&self, k: usize) -> Cost {
        self.needs.cost(k)
    }

    /// The controller for K ≥ 2 tasks.
    pub fn controller(&self, k: usize, params: &ParamValues) -> Result<Box<dyn TaskWeighting>, CoreError> {
        if k < 2 {
            return Err(CoreError::invalid("number of tasks K", k, "≥ 2"));
        }
        (self.build)(k, params)
    }

    /// What `grace methods` prints.
    pub fn summary(&self, k: usize) -> MethodSummary {
        MethodSummary {
            name: self.name,
            description: self.description,
            rul_loss: self.rul_loss,
            needs: self.needs,
            cost: self.cost(k),
            params: self
                .params
                .iter()
                .map(|p| ParamSummary { name: p.name, default: p.default_value(), doc: p.doc })
                .collect(),
            citation: self.citation,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MethodSummary {
    pub name: &'static str,
    pub description: &'static str,
    pub rul_loss: RulLoss,
    pub needs: Needs,
    /// For the K the summary was made for.
    pub cost: Cost,
    pub params: Vec<ParamSummary>,
    pub citation: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamSummary {
    pub name: &'static str,
    pub default: ParamValue,
    pub doc: &'static str,
}

/// A value for every parameter of the registry: the defaults, overridden by name.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamValues(BTreeMap<&'static str, ParamValue>);

impl Default for ParamValues {
    fn default() -> Self {
        ParamValues(all_params().into_iter().map(|p| (p.name, p.default_value())).collect())
    }
}

impl ParamValues {
    /// Sets a known parameter (unknown names and wrong kinds are errors naming the parameter).
    pub fn set(&mut self, name: &str, value: ParamValue) -> Result<(), CoreError> {
        let p = param(name)?;
        self.0.insert(p.name, p.accept(value)?);
        Ok(())
    }

    /// As [`ParamValues::set`], chained.
    pub fn with(mut self, name: &str, value: ParamValue) -> Result<Self, CoreError> {
        self.set(name, value)?;
        Ok(self)
    }

    /// Every parameter in registry order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &ParamValue)> + '_ {
        all_params().into_iter().map(move |p| (p.name, &self.0[p.name]))
    }

    pub fn get(&self, p: &Param) -> &ParamValue {
        self.0.get(p.name).expect("every registered parameter has a value")
    }

    pub fn float(&self, p: &Param) -> f64 {
        match self.get(p) {
            ParamValue::Float(x) => *x,
            v => unreachable!("`{}` holds {v}; set() keeps each parameter's kind", p.name),
        }
    }

    pub fn int(&self, p: &Param) -> u64 {
        match self.get(p) {
            ParamValue::Int(x) => *x,
            v => unreachable!("`{}` holds {v}; set() keeps each parameter's kind", p.name),
        }
    }

    pub fn list(&self, p: &Param) -> &[f64] {
        match self.get(p) {
            ParamValue::List(x) => x,
            v => unreachable!("`{}` holds {v}; set() keeps each parameter's kind", p.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::StepInput;

    #[test]
    fn table_matches_the_reference() {
        let gram_methods = ["mgda", "pcgrad", "cagrad", "imtlg", "nashmtl", "aligned", "upgrad"];
        let before = ["baseline", "amnl", "gaba", "grace", "uncertainty", "dwa", "gradnorm", "single"];
        let after = ["dbmtl", "famo", "rlw"];
        assert_eq!(names(), [&before[..], &gram_methods[..], &after[..]].concat());
        assert_eq!(method("grace").unwrap().rul_loss, RulLoss::WeightedMse);
        assert_eq!(method("amnl").unwrap().rul_loss, RulLoss::WeightedMse);
        assert_eq!(method("gaba").unwrap().rul_loss, RulLoss::Mse);
        let e = method("mtl").unwrap_err().to_string();
        assert!(e.contains("`mtl`") && e.contains("grace") && e.contains("gradnorm"), "{e}");
        let needs: Vec<Needs> = METHODS.iter().map(|m| m.needs).collect();
        use Needs::*;
        assert_eq!(needs[..8], [Nothing, Nothing, Norms, Norms, Losses, Nothing, Norms, Nothing]);
        assert!(needs[8..15].iter().all(|n| *n == Gram));
        assert_eq!(needs[15..], [GradientVectors, LossesAfterUpdate, Nothing]);
        assert_eq!(method("grace").unwrap().cost(2).backward_passes, 2);
        assert_eq!(method("amnl").unwrap().cost(2).backward_passes, 1);
        // FAMO: one backward and one forward without gradients; DB-MTL one backward per task
        let cost = |name: &str| method(name).unwrap().cost(3);
        assert_eq!((cost("famo").backward_passes, cost("famo").extra_forwards), (1, 1));
        assert_eq!((cost("dbmtl").backward_passes, cost("dbmtl").extra_forwards), (3, 0));
        assert_eq!((cost("rlw").backward_passes, cost("rlw").extra_forwards), (1, 0));
    }

    #[test]
    fn every_entry_builds_for_k2_and_k3_and_declares_its_controllers_needs() {
        let p = ParamValues::default();
        for m in METHODS {
            for k in [2, 3] {
                let c = m.controller(k, &p).unwrap_or_else(|e| panic!("{} K = {k}: {e}", m.name));
                assert_eq!(c.n_tasks(), k, "{}", m.name);
                assert_eq!(c.needs(), m.needs, "{}", m.name);
                assert_eq!(c.current_weights().len(), k, "{}", m.name);
            }
            assert!(m.controller(1, &p).is_err(), "{}", m.name);
            assert!(!m.description.is_empty() && !m.citation.is_empty(), "{}", m.name);
            // a method's parameters are distinct
            let mut names: Vec<_> = m.params.iter().map(|p| p.name).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), m.params.len(), "{}", m.name);
        }
    }

    #[test]
    fn names_are_unique_and_shared_parameters_have_one_definition() {
        let mut n = names();
        n.sort();
        n.dedup();
        assert_eq!(n.len(), METHODS.len());
        for m in METHODS {
            for p in m.params {
                assert_eq!(param(p.name).unwrap(), p, "`{}` of {} differs from its first definition", p.name, m.name);
            }
        }
        let keys: Vec<_> = all_params().iter().map(|p| p.name).collect();
        let want = [
            "fixed_weights",
            "slope",
            "beta",
            "floor",
            "warmup_steps",
            "uncertainty_lr",
            "temperature",
            "alpha",
            "gradnorm_lr",
            "pcgrad_seed",
            "cagrad_c",
            "nashmtl_max_norm",
            "dbmtl_beta",
            "dbmtl_beta_sigma",
            "famo_lr",
            "famo_gamma",
            "rlw_seed",
        ];
        assert_eq!(keys, want);
    }

    #[test]
    fn defaults_are_those_of_the_reference() {
        let p = ParamValues::default();
        assert_eq!(p.float(&SLOPE), 1.0);
        assert_eq!(p.float(&gaba::BETA), 0.99);
        assert_eq!(p.float(&gaba::FLOOR), 0.05);
        assert_eq!(p.int(&gaba::WARMUP_STEPS), 100);
        assert_eq!(p.float(&dwa::TEMPERATURE), 2.0);
        assert_eq!(p.float(&gradnorm::ALPHA), 1.5);
        assert_eq!(p.float(&gradnorm::LR), 0.025);
        assert_eq!(p.float(&uncertainty::LR), 1e-3);
        assert!(p.list(&fixed::FIXED_WEIGHTS).is_empty(), "uniform 1/K");
        assert_eq!((p.float(&dbmtl::BETA), p.float(&dbmtl::BETA_SIGMA)), (0.9, 0.0));
        assert_eq!((p.float(&famo::LR), p.float(&famo::GAMMA)), (0.025, 1e-3));
        assert_eq!(p.int(&rlw::SEED), 0);
        assert_eq!(gaba::GabaConfig::default(), gaba::GabaConfig { beta: 0.99, floor: 0.05, warmup: 100 });
    }

    #[test]
    fn values_keep_their_kind_and_unknown_names_are_named() {
        let mut p = ParamValues::default();
        p.set("beta", ParamValue::Int(0)).unwrap();
        assert_eq!(p.float(&gaba::BETA), 0.0, "an integer where a number is expected");
        let e = p.set("warmup_steps", ParamValue::Float(1.5)).unwrap_err().to_string();
        assert!(e.contains("warmup_steps") && e.contains("whole number"), "{e}");
        assert!(p.set("fixed_weights", ParamValue::Float(0.5)).is_err());
        let e = p.set("bogus", ParamValue::Int(1)).unwrap_err().to_string();
        assert!(e.contains("`bogus`") && e.contains("temperature"), "{e}");
        // the order of iteration is the registry's
        assert_eq!(p.iter().next().unwrap().0, "fixed_weights");
    }

    #[test]
    fn parameters_reach_the_controllers() {
        let p = ParamValues::default()
            .with("beta", ParamValue::Float(0.5))
            .and_then(|p| p.with("floor", ParamValue::Float(0.1)))
            .and_then(|p| p.with("warmup_steps", ParamValue::Int(0)))
            .and_then(|p| p.with("fixed_weights", ParamValue::List(vec![0.7, 0.3])))
            .and_then(|p| p.with("temperature", ParamValue::Float(0.5)))
            .unwrap();
        let mut g = method("gaba").unwrap().controller(2, &p).unwrap();
        // raw = (1/4, 3/4); ema = 0.5·0.5 + 0.5·0.25 = 0.375 and 0.5·0.5 + 0.5·0.75 = 0.625
        let gram = crate::controller::Gram::from_norms_and_dot([3.0, 1.0], 0.0);
        let r = g.step(&StepInput { losses: &[1.0, 1.0], gram: Some(&gram) }).unwrap();
        assert_eq!(r.ema, vec![0.375, 0.625]);
        assert_eq!(method("amnl").unwrap().controller(2, &p).unwrap().current_weights(), vec![0.7, 0.3]);
        let e = method("baseline").unwrap().controller(3, &p).err().unwrap().to_string();
        assert!(e.contains("fixed_weights") && e.contains("3"), "{e}");
        // T = 0.5 reaches DWA: means (2, 1) then (1, 1) → r = (0.5, 1), r/T = (1, 2),
        // λ_0 = 2/(1 + e) = 0.5378828427
        let mut d = method("dwa").unwrap().controller(2, &p).unwrap();
        d.end_epoch(&[2.0, 1.0]).unwrap();
        d.end_epoch(&[1.0, 1.0]).unwrap();
        assert!((d.current_weights()[0] - 0.537_882_842_7).abs() < 1e-9);
        // defaults: uniform fixed weights, one-hot RUL for `single`, uncertainty ½e^0, DWA and GradNorm 1
        let d = ParamValues::default();
        let w = |name: &str, k: usize| method(name).unwrap().controller(k, &d).unwrap().current_weights();
        assert_eq!(w("baseline", 2), vec![0.5, 0.5]);
        assert_eq!(w("amnl", 3), vec![1.0 / 3.0; 3]);
        assert_eq!(w("single", 3), vec![1.0, 0.0, 0.0]);
        assert_eq!(w("uncertainty", 2), vec![0.5, 0.5]);
        assert_eq!(w("dwa", 3), vec![1.0; 3]);
        assert_eq!(w("gradnorm", 2), vec![1.0, 1.0]);
        assert_eq!(method("grace").unwrap().controller(2, &d).unwrap().name(), "gaba");
    }

    #[test]
    fn summary_lists_parameters_with_defaults() {
        let s = method("grace").unwrap().summary(2);
        let j = serde_json::to_value(&s).unwrap();
        assert_eq!(j["rul_loss"], "weighted_mse");
        assert_eq!(j["needs"], "norms");
        assert_eq!(j["cost"]["backward_passes"], 2);
        let params: Vec<_> = j["params"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(params, ["slope", "beta", "floor", "warmup_steps"]);
        assert_eq!(j["params"][3]["default"], 100);
        assert_eq!(j["params"][1]["default"], 0.99);
    }
}
