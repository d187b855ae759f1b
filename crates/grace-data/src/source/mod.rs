//! Where data sets come from: one small trait, [`Source`], implemented by C-MAPSS files and by the
//! synthetic fleet, and [`DataSpec`], the parsed form of a run config's `data.source` string.

pub mod archive;
pub mod cmapss;
pub mod synthetic;

use crate::error::DataError;
use crate::parse::RawSubset;
use crate::schema::Schema;
use std::fmt;
use std::path::PathBuf;
use synthetic::SyntheticConfig;

pub use cmapss::DataSource;

/// A provider of named run-to-failure data sets sharing one schema. A new data set family (a
/// generic CSV layout, N-CMAPSS) is one more implementation.
pub trait Source {
    /// The data sets offered, by name, in their usual order.
    fn subsets(&self) -> Vec<String>;
    /// The column layout of every data set offered.
    fn schema(&self) -> Schema;
    /// Reads (or generates) and validates one data set by name.
    fn load_subset(&self, name: &str) -> Result<RawSubset, DataError>;
    /// Where the data come from, for messages.
    fn origin(&self) -> String;
}

/// A run's data source as written in its config: the synthetic fleet or a path to C-MAPSS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSpec {
    Synthetic,
    /// A C-MAPSS folder or `CMAPSSData.zip`.
    Path(PathBuf),
}

impl DataSpec {
    /// The config word that selects the synthetic fleet.
    pub const SYNTHETIC: &'static str = "synthetic";

    /// `synthetic` selects the fleet; anything else is a path (checked when the data are read).
    pub fn parse(s: &str) -> DataSpec {
        if s == Self::SYNTHETIC {
            DataSpec::Synthetic
        } else {
            DataSpec::Path(PathBuf::from(s))
        }
    }

    /// `$GRACE_CMAPSS_DIR` when set and non-empty, else the synthetic fleet.
    pub fn from_env() -> DataSpec {
        match std::env::var("GRACE_CMAPSS_DIR") {
            Ok(d) if !d.is_empty() => DataSpec::Path(PathBuf::from(d)),
            _ => DataSpec::Synthetic,
        }
    }

    pub fn is_synthetic(&self) -> bool {
        matches!(self, DataSpec::Synthetic)
    }

    /// The source behind this spec; `synthetic` configures the fleet when it is the one chosen.
    pub fn open(&self, synthetic: &SyntheticConfig) -> Box<dyn Source> {
        match self {
            DataSpec::Synthetic => Box::new(synthetic.clone()),
            DataSpec::Path(p) => Box::new(DataSource::from_path(p)),
        }
    }
}

impl std::str::FromStr for DataSpec {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(DataSpec::parse(s))
    }
}

/// Written back exactly as a config holds it, so `parse(spec.to_string()) == spec`.
impl fmt::Display for DataSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSpec::Synthetic => f.write_str(Self::SYNTHETIC),
            DataSpec::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

/// "A, B, C or D", for messages listing the names a user may choose from.
pub fn or_list<S: AsRef<str>>(names: &[S]) -> String {
    match names {
        [] => String::new(),
        [one] => one.as_ref().to_string(),
        [rest @ .., last] => {
            format!("{} or {}", rest.iter().map(|s| s.as_ref()).collect::<Vec<_>>().join(", "), last.as_ref())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_synthetic_selects_the_fleet_and_anything_else_is_a_path() {
        assert_eq!(DataSpec::parse("synthetic"), DataSpec::Synthetic);
        assert_eq!("data/cmapss".parse::<DataSpec>().unwrap(), DataSpec::Path("data/cmapss".into()));
        // Only the exact word: a folder that happens to be called `Synthetic` stays a path.
        assert_eq!(DataSpec::parse("Synthetic"), DataSpec::Path("Synthetic".into()));
        assert_eq!(DataSpec::parse("./synthetic"), DataSpec::Path("./synthetic".into()));
        for s in ["synthetic", "/data/CMAPSSData.zip"] {
            assert_eq!(DataSpec::parse(s).to_string(), s);
        }
        assert!(DataSpec::Synthetic.is_synthetic() && !DataSpec::parse("x.zip").is_synthetic());
    }

    #[test]
    fn each_spec_opens_its_own_source() {
        let small = SyntheticConfig { n_train: 3, n_test: 2, ..Default::default() };
        let fleet = DataSpec::Synthetic.open(&small);
        assert_eq!(fleet.subsets(), ["SYNTHETIC"]);
        // Any name gives the one fleet (a config's `subset = "FD001"` is ignored for synthetic data).
        let raw = fleet.load_subset("FD003").unwrap();
        assert_eq!((raw.name.as_str(), raw.synthetic, raw.train.len()), ("SYNTHETIC", true, 3));
        let tmp = tempfile::tempdir().unwrap();
        let files = DataSpec::Path(tmp.path().into()).open(&small);
        assert_eq!(files.subsets(), ["FD001", "FD002", "FD003", "FD004"]);
        assert_eq!((files.schema(), files.origin()), (Schema::cmapss(), tmp.path().display().to_string()));
        let e = files.load_subset("fd002").unwrap_err().to_string();
        assert!(e.starts_with("train_FD002.txt not found in "), "{e}");
    }

    #[test]
    fn or_list_joins_names_for_messages() {
        assert_eq!(or_list(&["FD001", "FD002", "FD003", "FD004"]), "FD001, FD002, FD003 or FD004");
        assert_eq!(or_list(&["a", "b"]), "a or b");
        assert_eq!(or_list(&["a"]), "a");
        assert_eq!(or_list::<&str>(&[]), "");
    }
}
