//! The four C-MAPSS subsets, defined once, and the facts about them the pipeline needs (file names, regimes).
//! Parsing a subset name is forgiving ("FD002", "fd002", "2") because users type it on the command line.

use crate::source::or_list;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One of NASA's four C-MAPSS subsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Subset {
    FD001,
    FD002,
    FD003,
    FD004,
}

impl Subset {
    pub const ALL: [Subset; 4] = [Subset::FD001, Subset::FD002, Subset::FD003, Subset::FD004];

    /// "FD001" … "FD004", as in NASA's file names.
    pub fn name(self) -> &'static str {
        match self {
            Subset::FD001 => "FD001",
            Subset::FD002 => "FD002",
            Subset::FD003 => "FD003",
            Subset::FD004 => "FD004",
        }
    }

    /// Operating conditions NASA simulated (k for the k-means of docs/reference.md §2 step 2).
    pub fn default_conditions(self) -> usize {
        match self {
            Subset::FD001 | Subset::FD003 => 1,
            Subset::FD002 | Subset::FD004 => 6,
        }
    }

    /// Fault modes present (1: HPC; 2: HPC and fan).
    pub fn fault_modes(self) -> usize {
        match self {
            Subset::FD001 | Subset::FD002 => 1,
            Subset::FD003 | Subset::FD004 => 2,
        }
    }

    pub fn train_file(self) -> String {
        format!("train_{}.txt", self.name())
    }

    pub fn test_file(self) -> String {
        format!("test_{}.txt", self.name())
    }

    pub fn rul_file(self) -> String {
        format!("RUL_{}.txt", self.name())
    }

    /// The three files of this subset: train, test, RUL.
    pub fn files(self) -> [String; 3] {
        [self.train_file(), self.test_file(), self.rul_file()]
    }
}

impl fmt::Display for Subset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Subset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_uppercase();
        let digits = t.strip_prefix("FD").unwrap_or(&t);
        match digits.parse::<u32>() {
            Ok(1) => Ok(Subset::FD001),
            Ok(2) => Ok(Subset::FD002),
            Ok(3) => Ok(Subset::FD003),
            Ok(4) => Ok(Subset::FD004),
            _ => {
                let names: Vec<&str> = Subset::ALL.iter().map(|s| s.name()).collect();
                Err(format!("unknown subset `{s}`: expected {} (or 1–4)", or_list(&names)))
            }
        }
    }
}

/// The six flight regimes of C-MAPSS as (altitude kft, Mach, throttle resolver angle), sorted by
/// altitude — the same order the fitted centroids are sorted in.
pub const CANONICAL_REGIMES: [[f64; 3]; 6] = [
    [0.0, 0.0, 100.0],
    [10.0, 0.25, 100.0],
    [20.0, 0.70, 100.0],
    [25.0, 0.62, 60.0],
    [35.0, 0.84, 100.0],
    [42.0, 0.84, 100.0],
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_spellings_users_type() {
        assert_eq!("FD001".parse::<Subset>().unwrap(), Subset::FD001);
        assert_eq!("fd002".parse::<Subset>().unwrap(), Subset::FD002);
        assert_eq!("3".parse::<Subset>().unwrap(), Subset::FD003);
        assert_eq!(" FD4 ".parse::<Subset>().unwrap(), Subset::FD004);
        let e = "FD005".parse::<Subset>().unwrap_err();
        assert!(e.contains("FD005") && e.contains("FD001"), "{e}");
        assert!("".parse::<Subset>().is_err());
        assert!("fd".parse::<Subset>().is_err());
    }

    #[test]
    fn display_round_trips_and_defaults_match_reference_table() {
        for s in Subset::ALL {
            assert_eq!(s.to_string().parse::<Subset>().unwrap(), s);
        }
        let k: Vec<_> = Subset::ALL.iter().map(|s| s.default_conditions()).collect();
        assert_eq!(k, [1, 6, 1, 6]);
        let m: Vec<_> = Subset::ALL.iter().map(|s| s.fault_modes()).collect();
        assert_eq!(m, [1, 1, 2, 2]);
        assert_eq!(Subset::FD003.files(), ["train_FD003.txt", "test_FD003.txt", "RUL_FD003.txt"]);
    }
}
