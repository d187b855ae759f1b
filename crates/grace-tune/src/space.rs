//! The search space of `grace tune`: which `--set` keys vary and over what (a float or integer
//! range on a linear or log scale, or a list of choices), read from a TOML file.

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The values one key can take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Domain {
    /// `low ≤ x ≤ high`, uniform in x or (log) in ln x.
    Float { low: f64, high: f64, log: bool },
    /// `low, low + step, …, ≤ high`, uniform over those integers or (log, step 1) in ln x.
    Int { low: i64, high: i64, step: i64, log: bool },
    /// One of the listed TOML values, uniformly.
    Choice { choices: Vec<toml::Value> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Param {
    /// A `--set` path such as `train.lr`.
    pub key: String,
    pub domain: Domain,
}

/// The searched keys in sorted order: coordinate j of a sample point always maps to `params[j]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Space {
    pub params: Vec<Param>,
}

/// Keys a tune sets itself, or whose change would make trial scores incomparable, with the reason.
pub const FIXED_KEYS: &[(&str, &str)] = &[
    ("data.source", "the data come from --data"),
    ("data.subset", "the subset comes from --subset"),
    ("method.name", "the method comes from --method (one method per tune)"),
    ("train.epochs", "a trial's epochs are the rungs (--min-epochs, --max-epochs, --eta)"),
    ("train.max_steps", "a trial's budget is counted in epochs"),
    (
        "data.prep.max_rul",
        "the objective is validation RMSE against truth capped at 125 for every trial; searching the cap is not supported",
    ),
    ("train.device", "a machine setting, not a hyper-parameter"),
    ("train.threads", "a machine setting, not a hyper-parameter"),
];

/// Why `key` may not be searched or set by hand in a tune, if it may not.
pub fn fixed_reason(key: &str) -> Option<&'static str> {
    FIXED_KEYS.iter().find(|(k, _)| *k == key).map(|(_, why)| *why)
}

const SPEC_KEYS: [&str; 5] = ["low", "high", "scale", "step", "choices"];

impl Space {
    pub fn read(path: &Path) -> anyhow::Result<Space> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading --space {}", path.display()))?;
        Space::parse(&text).with_context(|| format!("--space {}", path.display()))
    }

    /// Sections nest as in a run config (`[train] lr = {...}` or `"train.lr" = {...}`); a table
    /// holding `low`/`high` or `choices` is one searched key.
    pub fn parse(text: &str) -> anyhow::Result<Space> {
        let table: toml::Table = text.parse().context("not valid TOML")?;
        let mut params = Vec::new();
        collect(&table, "", &mut params)?;
        if params.is_empty() {
            bail!("the space declares no key; e.g. [train] lr = {{ low = 1e-4, high = 1e-2, scale = \"log\" }}");
        }
        params.sort_by(|a, b| a.key.cmp(&b.key));
        if let Some(w) = params.windows(2).find(|w| w[0].key == w[1].key) {
            bail!("{} is declared twice", w[0].key);
        }
        Ok(Space { params })
    }

    pub fn dims(&self) -> usize {
        self.params.len()
    }

    /// The values of one trial from a point of the unit cube (one coordinate per key).
    pub fn assign(&self, unit: &[f64]) -> Vec<(String, toml::Value)> {
        assert_eq!(unit.len(), self.dims(), "one coordinate per searched key");
        self.params.iter().zip(unit).map(|(p, &u)| (p.key.clone(), p.domain.value(u))).collect()
    }
}

fn collect(table: &toml::Table, prefix: &str, out: &mut Vec<Param>) -> anyhow::Result<()> {
    for (k, v) in table {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            toml::Value::Table(t) if t.contains_key("low") || t.contains_key("high") || t.contains_key("choices") => {
                if let Some(why) = fixed_reason(&key) {
                    bail!("{key} cannot be searched: {why}");
                }
                let domain = Domain::parse(t).with_context(|| key.clone())?;
                out.push(Param { key, domain });
            }
            toml::Value::Table(t) => collect(t, &key, out)?,
            other => bail!(
                "{key} = {other}: expected {{ low = .., high = .. [, scale = \"log\"] [, step = ..] }} or {{ choices = [..] }}"
            ),
        }
    }
    Ok(())
}

impl Domain {
    fn parse(t: &toml::Table) -> anyhow::Result<Domain> {
        if let Some(bad) = t.keys().find(|k| !SPEC_KEYS.contains(&k.as_str())) {
            bail!("unknown field `{bad}` (known: {})", SPEC_KEYS.join(", "));
        }
        if let Some(c) = t.get("choices") {
            if t.len() > 1 {
                bail!("`choices` stands alone (no low, high, scale or step)");
            }
            let choices = c.as_array().filter(|a| !a.is_empty()).context("`choices` must be a non-empty list")?;
            return Ok(Domain::Choice { choices: choices.clone() });
        }
        let log = match t.get("scale").map(|s| s.as_str()) {
            None | Some(Some("linear")) => false,
            Some(Some("log")) => true,
            Some(_) => bail!("`scale` must be \"linear\" or \"log\""),
        };
        let (low, high) = match (t.get("low"), t.get("high")) {
            (Some(l), Some(h)) => (l, h),
            _ => bail!("a range needs both `low` and `high`"),
        };
        match (low, high) {
            (toml::Value::Integer(l), toml::Value::Integer(h)) => int_range(*l, *h, t.get("step"), log),
            _ => {
                if t.contains_key("step") {
                    bail!("`step` is for integer ranges (write low and high as integers)");
                }
                let num = |v: &toml::Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
                let (l, h) = num(low).zip(num(high)).context("`low` and `high` must be numbers")?;
                float_range(l, h, log)
            }
        }
    }

    /// Maps `u` in [0, 1) to a value; equal sub-intervals of u get equal shares of the domain
    /// (equal ratios on a log scale), so low-discrepancy points stay spread out.
    pub fn value(&self, u: f64) -> toml::Value {
        let u = u.clamp(0.0, 1.0);
        let pick = |n: usize| ((u * n as f64) as usize).min(n - 1);
        match self {
            Domain::Float { low, high, log: false } => toml::Value::Float((low + u * (high - low)).clamp(*low, *high)),
            Domain::Float { low, high, log: true } => {
                toml::Value::Float((low.ln() + u * (high.ln() - low.ln())).exp().clamp(*low, *high))
            }
            Domain::Int { low, high, log: true, .. } => {
                // Integer k gets the share ln(k+1) − ln k of [ln low, ln(high+1)).
                let x = (*low as f64).ln() + u * (((high + 1) as f64).ln() - (*low as f64).ln());
                toml::Value::Integer((x.exp().floor() as i64).clamp(*low, *high))
            }
            Domain::Int { low, high, step, log: false } => {
                let n = ((high - low) / step + 1) as usize;
                toml::Value::Integer(low + pick(n) as i64 * step)
            }
            Domain::Choice { choices } => choices[pick(choices.len())].clone(),
        }
    }
}

fn int_range(low: i64, high: i64, step: Option<&toml::Value>, log: bool) -> anyhow::Result<Domain> {
    if low >= high {
        bail!("`low` ({low}) must be below `high` ({high})");
    }
    let step = match step {
        None => 1,
        Some(s) => s.as_integer().filter(|s| *s >= 1).context("`step` must be a positive integer")?,
    };
    if log && (low < 1 || step != 1) {
        bail!("a log-scale integer range needs low ≥ 1 and no step");
    }
    Ok(Domain::Int { low, high, step, log })
}

fn float_range(low: f64, high: f64, log: bool) -> anyhow::Result<Domain> {
    if !(low.is_finite() && high.is_finite() && low < high) {
        bail!("`low` ({low}) must be below `high` ({high}), both finite");
    }
    if log && low <= 0.0 {
        bail!("a log-scale range needs low > 0 (got {low})");
    }
    Ok(Domain::Float { low, high, log })
}

/// The `--set` argument that gives `key` this value (a TOML literal, as `grace train` reads it).
pub fn set_arg(key: &str, value: &toml::Value) -> String {
    format!("{key}={value}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use toml::Value;

    const EXAMPLE: &str = r#"
        "method.slope" = { low = 0.5, high = 2 }
        [train]
        lr = { low = 1e-4, high = 1e-2, scale = "log" }
        batch_size = { choices = [64, 128, 256] }
        [model]
        lstm_hidden = { low = 16, high = 64, step = 16 }
        [data.prep]
        window = { low = 20, high = 40, scale = "log" }
    "#;

    fn domain(s: &Space, key: &str) -> Domain {
        s.params.iter().find(|p| p.key == key).unwrap().domain.clone()
    }

    #[test]
    fn nested_and_dotted_keys_parse_in_sorted_order() {
        let s = Space::parse(EXAMPLE).unwrap();
        let keys: Vec<&str> = s.params.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["data.prep.window", "method.slope", "model.lstm_hidden", "train.batch_size", "train.lr"]);
        assert_eq!(domain(&s, "train.lr"), Domain::Float { low: 1e-4, high: 1e-2, log: true });
        assert_eq!(domain(&s, "model.lstm_hidden"), Domain::Int { low: 16, high: 64, step: 16, log: false });
        // A float bound makes the range continuous even when the other bound is an integer.
        assert_eq!(domain(&s, "method.slope"), Domain::Float { low: 0.5, high: 2.0, log: false });
        assert_eq!(domain(&s, "data.prep.window"), Domain::Int { low: 20, high: 40, step: 1, log: true });
    }

    #[test]
    fn values_cover_each_domain_in_equal_shares() {
        let s = Space::parse(EXAMPLE).unwrap();
        let lr = domain(&s, "train.lr");
        assert!((lr.value(0.0).as_float().unwrap() - 1e-4).abs() < 1e-18);
        // Halfway on a log scale is the geometric mean.
        assert!((lr.value(0.5).as_float().unwrap() - 1e-3).abs() < 1e-15);
        assert!(lr.value(0.999_999).as_float().unwrap() <= 1e-2);
        // 16, 32, 48, 64: a quarter of [0, 1) each, both ends included.
        let h = domain(&s, "model.lstm_hidden");
        let hs: Vec<i64> =
            [0.0, 0.249, 0.25, 0.74, 0.75, 0.999].iter().map(|&u| h.value(u).as_integer().unwrap()).collect();
        assert_eq!(hs, [16, 16, 32, 48, 64, 64]);
        let b = domain(&s, "train.batch_size");
        assert_eq!(b.value(0.5), Value::Integer(128));
        assert_eq!(b.value(0.9999), Value::Integer(256));
        // Log integers: 20 gets ln(21/20)/ln(41/20) ≈ 6.8 % of u; the top value 40 is reachable.
        let w = domain(&s, "data.prep.window");
        assert_eq!(w.value(0.06), Value::Integer(20));
        assert_eq!(w.value(0.08), Value::Integer(21));
        assert_eq!(w.value(0.9999), Value::Integer(40));
    }

    #[test]
    fn malformed_spaces_are_refused_by_name() {
        let err = |t: &str| format!("{:#}", Space::parse(t).unwrap_err());
        assert!(err("[train]\nlr = 0.1").contains("train.lr = 0.1"));
        assert!(err("[train]\nlr = { low = 0.1 }").contains("both `low` and `high`"));
        assert!(err("[train]\nlr = { low = 0.1, high = 0.01 }").contains("below"));
        assert!(err("[train]\nlr = { low = 0.0, high = 1.0, scale = \"log\" }").contains("low > 0"));
        assert!(err("[train]\nlr = { low = 0.1, high = 1.0, scale = \"ln\" }").contains("linear"));
        assert!(err("[train]\nlr = { low = 0.1, high = 1.0, steps = 2 }").contains("unknown field `steps`"));
        assert!(err("[train]\nlr = { low = 0.1, high = 1.0, step = 0.1 }").contains("integer ranges"));
        assert!(err("[train]\nbatch_size = { choices = [] }").contains("non-empty"));
        assert!(err("").contains("no key"));
        assert!(err("\"train.lr\" = { low = 1, high = 2 }\n[train]\nlr = { low = 1, high = 3 }").contains("twice"));
    }

    #[test]
    fn keys_the_tune_owns_cannot_be_searched() {
        let e = format!("{:#}", Space::parse("[data.prep]\nmax_rul = { choices = [125, 130] }").unwrap_err());
        assert!(e.contains("data.prep.max_rul cannot be searched") && e.contains("125"), "{e}");
        assert!(Space::parse("[method]\nname = { choices = [\"gaba\", \"grace\"] }").is_err());
        assert!(fixed_reason("train.epochs").is_some() && fixed_reason("train.lr").is_none());
    }

    #[test]
    fn set_arguments_are_toml_literals() {
        assert_eq!(set_arg("train.lr", &Value::Float(0.0005)), "train.lr=0.0005");
        assert_eq!(set_arg("data.prep.features", &Value::String("sensors".into())), "data.prep.features=\"sensors\"");
        let arr = Value::Array(vec![Value::Integer(32), Value::Integer(64)]);
        assert_eq!(set_arg("model.conv_channels", &arr), "model.conv_channels=[32, 64]");
    }
}
