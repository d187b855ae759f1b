//! Seed ensembles: member predictions combined per engine (mean by default, median selectable) and
//! the member spread, the per-engine scale of a normalised interval (docs/reference.md §6).

use crate::error::{check_finite, CoreError};
use serde::{Deserialize, Serialize};

/// How member predictions of one engine become the ensemble's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    #[default]
    Mean,
    /// Robust to one diverged member; the mean of the two middle values for an even count.
    Median,
}

impl Combine {
    /// The rule's name as the command line and `results.json` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Combine::Mean => "mean",
            Combine::Median => "median",
        }
    }
}

/// Checks `members[m][e]` (member m, engine e) is a non-empty rectangle of finite values; returns
/// the number of engines.
fn check_members<M: AsRef<[f64]>>(members: &[M]) -> Result<usize, CoreError> {
    let first = members.first().ok_or_else(|| CoreError::invalid("ensemble members", "none", "at least one"))?;
    let engines = first.as_ref().len();
    for (m, member) in members.iter().enumerate() {
        let p = member.as_ref();
        if p.len() != engines {
            return Err(CoreError::length(format!("predictions of ensemble member {m}"), engines, p.len()));
        }
        check_finite(&format!("ensemble member {m} prediction"), p)?;
    }
    Ok(engines)
}

fn engine_values<M: AsRef<[f64]>>(members: &[M], e: usize) -> Vec<f64> {
    members.iter().map(|m| m.as_ref()[e]).collect()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// The ensemble prediction per engine from `members[m][e]`.
pub fn combine<M: AsRef<[f64]>>(members: &[M], how: Combine) -> Result<Vec<f64>, CoreError> {
    let engines = check_members(members)?;
    Ok((0..engines)
        .map(|e| {
            let xs = engine_values(members, e);
            match how {
                Combine::Mean => xs.iter().sum::<f64>() / xs.len() as f64,
                Combine::Median => median(xs),
            }
        })
        .collect())
}

/// Sample standard deviation (n − 1, as across seeds in docs/reference.md §6) of the members per
/// engine; needs at least two members.
pub fn member_spread<M: AsRef<[f64]>>(members: &[M]) -> Result<Vec<f64>, CoreError> {
    let engines = check_members(members)?;
    if members.len() < 2 {
        return Err(CoreError::invalid("ensemble members for a spread", members.len(), "at least 2"));
    }
    Ok((0..engines)
        .map(|e| {
            let xs = engine_values(members, e);
            crate::metrics::mean_std(&xs).1
        })
        .collect())
}
