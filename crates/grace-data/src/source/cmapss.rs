//! NASA C-MAPSS as a source: its 26-column schema, its four subsets FD001–FD004, and where its
//! files come from (a folder of NASA's text files or NASA's zip, also zip-in-zip).

use crate::error::DataError;
use crate::parse::{parse_rows, parse_rul, RawSubset};
use crate::schema::{Column, Role, Schema};
use crate::source::{archive, Source};
use crate::subset::Subset;
use std::path::{Path, PathBuf};

/// Columns per row: unit, cycle, 3 settings, 21 sensors.
pub const N_COLUMNS: usize = 26;

/// Names of the 3 operational settings, in file order (altitude in kft, Mach, throttle resolver angle).
pub const SETTING_NAMES: [&str; 3] = ["altitude", "mach", "tra"];

/// Names of the 21 sensors, in file order (sensor k is `SENSOR_NAMES[k - 1]`).
pub const SENSOR_NAMES: [&str; 21] = [
    "T2",
    "T24",
    "T30",
    "T50",
    "P2",
    "P15",
    "P30",
    "Nf",
    "Nc",
    "epr",
    "Ps30",
    "phi",
    "NRf",
    "NRc",
    "BPR",
    "farB",
    "htBleed",
    "Nf_dmd",
    "PCNfR_dmd",
    "W31",
    "W32",
];

/// Sensors kept (1-based); 1, 5, 6, 10, 16, 18, 19 are dropped because they are constant on FD001.
pub const KEPT_SENSORS: [usize; 14] = [2, 3, 4, 7, 8, 9, 11, 12, 13, 14, 15, 17, 20, 21];

/// Name of the data-set family in the schema.
pub const CMAPSS: &str = "C-MAPSS";

impl Schema {
    /// The C-MAPSS layout (docs/reference.md §2): unit, cycle, altitude/Mach/TRA, sensors T2 … W32;
    /// the model reads the 14 sensors of [`KEPT_SENSORS`].
    pub fn cmapss() -> Schema {
        let mut cols = vec![Column::new("unit", Role::Unit), Column::new("cycle", Role::Cycle)];
        cols.push(Column::new(SETTING_NAMES[0], Role::Setting).with_unit("kft"));
        cols.extend(SETTING_NAMES[1..].iter().map(|n| Column::new(n, Role::Setting)));
        cols.extend(SENSOR_NAMES.iter().map(|n| Column::new(n, Role::Sensor)));
        let kept = KEPT_SENSORS.iter().map(|k| SENSOR_NAMES[k - 1].to_string()).collect();
        Schema::new(CMAPSS, cols, kept).expect("the C-MAPSS schema is well formed")
    }
}

impl RawSubset {
    /// Parses the three texts of a NASA subset and checks they agree with each other.
    pub fn from_texts(subset: Subset, train: &str, test: &str, rul: &str) -> Result<Self, DataError> {
        let schema = Schema::cmapss();
        // Train and test parse on two threads: the files are independent and each is megabytes.
        let (train_e, test_e) = std::thread::scope(|s| {
            let h = s.spawn(|| parse_rows(&schema, &subset.train_file(), train));
            let te = parse_rows(&schema, &subset.test_file(), test);
            (h.join().expect("parser thread panicked"), te)
        });
        let (train_e, test_e) = (train_e?, test_e?);
        let test_rul = parse_rul(&subset.rul_file(), rul, test_e.len(), &subset.test_file())?;
        Ok(RawSubset {
            name: subset.name().to_string(),
            synthetic: false,
            schema,
            default_conditions: subset.default_conditions(),
            train: train_e,
            test: test_e,
            test_rul,
        })
    }
}

/// A location holding NASA's C-MAPSS files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSource {
    /// A folder containing `train_FD001.txt` etc.
    Dir(PathBuf),
    /// `CMAPSSData.zip` (or a zip containing it); files may sit in a subfolder.
    Zip(PathBuf),
}

impl DataSource {
    /// A folder becomes `Dir`, anything else `Zip` (the zip is checked when read).
    pub fn from_path(path: impl Into<PathBuf>) -> Self {
        let p = path.into();
        if p.is_dir() {
            DataSource::Dir(p)
        } else {
            DataSource::Zip(p)
        }
    }

    /// From the `GRACE_CMAPSS_DIR` environment variable, if set and non-empty.
    pub fn from_env() -> Option<Self> {
        std::env::var_os("GRACE_CMAPSS_DIR").filter(|v| !v.is_empty()).map(DataSource::from_path)
    }

    pub fn path(&self) -> &Path {
        match self {
            DataSource::Dir(p) | DataSource::Zip(p) => p,
        }
    }

    /// Reads and validates one subset.
    pub fn load(&self, subset: Subset) -> Result<RawSubset, DataError> {
        let names = subset.files();
        let texts = self.read_texts(&names)?;
        RawSubset::from_texts(subset, &texts[0], &texts[1], &texts[2])
    }

    /// Reads and validates all four subsets (parsed in parallel, one thread per subset).
    pub fn load_all(&self) -> Result<Vec<RawSubset>, DataError> {
        let names: Vec<String> = Subset::ALL.iter().flat_map(|s| s.files()).collect();
        let texts = self.read_texts(&names)?;
        parse_all_parallel(&texts)
    }

    /// The raw texts of `names`, in that order.
    pub fn read_texts(&self, names: &[String]) -> Result<Vec<String>, DataError> {
        match self {
            DataSource::Dir(dir) => archive::read_dir_texts(dir, names),
            DataSource::Zip(path) => archive::read_zip_texts(path, names),
        }
    }
}

impl Source for DataSource {
    fn subsets(&self) -> Vec<String> {
        Subset::ALL.iter().map(|s| s.name().to_string()).collect()
    }

    fn schema(&self) -> Schema {
        Schema::cmapss()
    }

    fn load_subset(&self, name: &str) -> Result<RawSubset, DataError> {
        self.load(name.parse::<Subset>().map_err(DataError::UnknownSubset)?)
    }

    fn origin(&self) -> String {
        self.path().display().to_string()
    }
}

/// Parses 12 texts (train, test, RUL per subset, FD001 first) on one thread per subset.
pub(crate) fn parse_all_parallel(texts: &[String]) -> Result<Vec<RawSubset>, DataError> {
    std::thread::scope(|s| {
        let handles: Vec<_> = Subset::ALL
            .iter()
            .enumerate()
            .map(|(i, &sub)| {
                let t = &texts[3 * i..3 * i + 3];
                s.spawn(move || RawSubset::from_texts(sub, &t[0], &t[1], &t[2]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("parser thread panicked")).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cmapss_schema_has_26_named_columns_and_14_model_sensors() {
        let s = Schema::cmapss();
        assert_eq!((s.n_columns(), s.n_settings(), s.n_sensors(), s.has_rul()), (N_COLUMNS, 3, 21, false));
        assert_eq!(s.settings().map(|c| c.key()).collect::<Vec<_>>(), ["altitude_kft", "mach", "tra"]);
        assert_eq!((s.sensor_index("T2"), s.sensor_index("W32"), s.setting_index("tra")), (Some(0), Some(20), Some(2)));
        assert_eq!(s.model_sensors.len(), 14);
        assert_eq!((s.model_sensors[0].as_str(), s.model_sensors[13].as_str()), ("T24", "W32"));
        assert!(!s.model_sensors.iter().any(|m| m == "epr" || m == "T2"));
    }

    #[test]
    fn an_unknown_subset_name_is_refused_by_the_source() {
        let src = DataSource::Dir(PathBuf::from("/nonexistent"));
        assert_eq!(src.subsets(), ["FD001", "FD002", "FD003", "FD004"]);
        let e = src.load_subset("FD009").unwrap_err();
        assert!(matches!(e, DataError::UnknownSubset(_)) && e.to_string().contains("unknown subset `FD009`"), "{e}");
    }
}
