//! Hyper-parameter search for `grace tune`, without libtorch: search spaces, seeded random and
//! quasi-random samplers, successive halving (synchronous rounds and ASHA) and the trial records.
//!
//! A trial is an ordinary run directory trained by `grace train` child processes, paused at each
//! rung; everything here reads those directories and never the test set.

pub mod asha;
pub mod record;
pub mod sampler;
pub mod space;
pub mod state;
pub mod trial;

pub use asha::{Asha, Job, Schedule, Score};
pub use sampler::Sampler;
pub use space::Space;
pub use state::{Rounds, Scheduler, Settings, Waiting};
pub use trial::{Objective, TrialLog};

/// A unit enum from its serde name, so that each enum spells its names once.
pub(crate) fn parse_name<T: serde::de::DeserializeOwned>(s: &str, what: &str, names: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| format!("unknown {what} '{s}': use {names}"))
}

/// The serde name of a unit enum value.
pub(crate) fn name_of<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
}

/// A JSON file's content, or `None` if there is no such file.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
    what: &str,
) -> anyhow::Result<Option<T>> {
    use anyhow::Context;
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(serde_json::from_str(&text).with_context(|| format!("{}: not {what}", path.display()))?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}
