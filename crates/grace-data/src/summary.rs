//! A compact, serialisable description of a prepared data set (`grace data summary`).
//! Counts come from the prepared splits so they show exactly what the trainer will see.

use crate::parse::RawSubset;
use crate::prep::Prepared;
use crate::split::Split;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Named values kept in order, serialised as the fields of an object (setting key → value).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Named(pub Vec<(String, f64)>);

impl Serialize for Named {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Named {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Named;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("named numbers")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Named, A::Error> {
                let mut v = Vec::new();
                while let Some(e) = a.next_entry::<String, f64>()? {
                    v.push(e);
                }
                Ok(Named(v))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitSummary {
    pub engines: usize,
    pub rows: usize,
    /// Full windows (stride 1), `Σ max(0, cycles − window + 1)`.
    pub windows: usize,
    /// Health-class counts [normal, degrading, critical] over all full windows.
    pub health_windows: [usize; 3],
    /// Health-class counts over the one last window per engine (the test protocol).
    pub health_last: [usize; 3],
    pub shortest_engine: Option<EngineLength>,
    pub longest_engine: Option<EngineLength>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineLength {
    pub unit: u32,
    pub cycles: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConditionSummary {
    pub index: usize,
    /// Centroid in original units, keyed by setting (`altitude_kft`, `mach`, `tra` on C-MAPSS).
    #[serde(flatten)]
    pub centroid: Named,
    pub train_rows: usize,
    pub val_rows: usize,
    pub test_rows: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub name: String,
    pub synthetic: bool,
    pub n_features: usize,
    pub feature_names: Vec<String>,
    pub window: usize,
    pub max_rul: f64,
    /// Training engines in the file (before the validation hold-out).
    pub source_train_engines: usize,
    pub source_train_rows: usize,
    pub source_test_engines: usize,
    pub source_test_rows: usize,
    pub train: SplitSummary,
    pub val: SplitSummary,
    pub test: SplitSummary,
    pub conditions: Vec<ConditionSummary>,
    /// How many test engines have an RUL-file truth above R_max (their capped truth differs).
    pub test_truth_above_cap: usize,
}

fn split_summary(s: &Split) -> SplitSummary {
    let mut health_windows = [0; 3];
    let mut health_last = [0; 3];
    let w = s.window;
    for e in &s.engines {
        for &h in e.health.iter().skip(w.saturating_sub(1)) {
            health_windows[h.min(2) as usize] += 1;
        }
        if let Some(&h) = e.health.last() {
            health_last[h.min(2) as usize] += 1;
        }
    }
    let len = |e: &crate::split::Engine| EngineLength { unit: e.unit, cycles: e.n_cycles() };
    SplitSummary {
        engines: s.engines.len(),
        rows: s.engines.iter().map(|e| e.n_cycles()).sum(),
        windows: s.n_windows(),
        health_windows,
        health_last,
        // Ties go to the first engine in order (min_by_key keeps the first, max_by_key the last).
        shortest_engine: s.engines.iter().min_by_key(|e| e.n_cycles()).map(len),
        longest_engine: s.engines.iter().rev().max_by_key(|e| e.n_cycles()).map(len),
    }
}

fn rows_per_condition(s: &Split, k: usize) -> Vec<usize> {
    let mut out = vec![0; k];
    for e in &s.engines {
        for &c in &e.condition {
            out[c as usize] += 1;
        }
    }
    out
}

/// Summarises a prepared subset (`raw` provides the figures before the validation hold-out).
pub fn summary(raw: &RawSubset, p: &Prepared) -> Summary {
    let pre = &p.preprocessing;
    let keys: Vec<String> = raw.schema.settings().map(|c| c.key()).collect();
    let k = pre.n_conditions();
    let (tr, va, te) = (rows_per_condition(&p.train, k), rows_per_condition(&p.val, k), rows_per_condition(&p.test, k));
    Summary {
        name: p.name.clone(),
        synthetic: raw.is_synthetic(),
        n_features: pre.n_features(),
        feature_names: pre.feature_names.clone(),
        window: p.train.window,
        max_rul: pre.config.max_rul,
        source_train_engines: raw.train.len(),
        source_train_rows: raw.train_rows(),
        source_test_engines: raw.test.len(),
        source_test_rows: raw.test_rows(),
        train: split_summary(&p.train),
        val: split_summary(&p.val),
        test: split_summary(&p.test),
        conditions: pre
            .centroids
            .iter()
            .enumerate()
            .map(|(i, c)| ConditionSummary {
                index: i,
                centroid: Named(keys.iter().cloned().zip(c.iter().copied()).collect()),
                train_rows: tr[i],
                val_rows: va[i],
                test_rows: te[i],
            })
            .collect(),
        test_truth_above_cap: p.test_truth_uncapped.iter().filter(|&&v| f64::from(v) > pre.config.max_rul).count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_centroids_serialise_as_setting_fields_in_schema_order() {
        let c = ConditionSummary {
            index: 2,
            centroid: Named(vec![("altitude_kft".into(), 35.0), ("mach".into(), 0.84), ("tra".into(), 100.0)]),
            train_rows: 7,
            val_rows: 1,
            test_rows: 3,
        };
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(
            json,
            r#"{"index":2,"altitude_kft":35.0,"mach":0.84,"tra":100.0,"train_rows":7,"val_rows":1,"test_rows":3}"#
        );
        assert_eq!(serde_json::from_str::<ConditionSummary>(&json).unwrap(), c);
    }
}
