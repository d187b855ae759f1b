//! Reading NASA's text files into per-engine raw series, with strict validation of every row.
//! Fast on purpose (manual whitespace split + `str::parse`): all four subsets parse in tens of ms.

use crate::error::DataError;
use crate::subset::Subset;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Columns per row: unit, cycle, 3 settings, 21 sensors.
pub const N_COLUMNS: usize = 26;
pub const N_SETTINGS: usize = 3;
pub const N_SENSORS: usize = 21;

/// Names of the 3 operational settings, in file order.
pub const SETTING_NAMES: [&str; N_SETTINGS] = ["altitude", "mach", "tra"];

/// Names of the 21 sensors, in file order (sensor k is `SENSOR_NAMES[k - 1]`).
pub const SENSOR_NAMES: [&str; N_SENSORS] = [
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

/// One engine as recorded: rows are cycles `1..=cycles` in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawEngine {
    pub unit: u32,
    /// Number of recorded cycles (the file's cycle column runs 1..=cycles).
    pub cycles: u32,
    /// Operational settings per cycle: altitude (kft), Mach, throttle resolver angle.
    pub settings: Vec<[f64; N_SETTINGS]>,
    /// The 21 sensors per cycle, in file order.
    pub sensors: Vec<[f64; N_SENSORS]>,
}

impl RawEngine {
    pub fn n_cycles(&self) -> usize {
        self.settings.len()
    }
}

/// One subset as read from disk (or generated): training run-to-failure engines, truncated test
/// engines, and the true RUL after each test engine's last cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawSubset {
    /// "FD001" … "FD004", or "SYNTHETIC" for the generated fleet.
    pub name: String,
    /// The NASA subset, `None` for synthetic data.
    pub subset: Option<Subset>,
    /// Operating conditions to cluster into unless the config says otherwise.
    pub default_conditions: usize,
    pub train: Vec<RawEngine>,
    pub test: Vec<RawEngine>,
    /// True RUL after the last cycle of each test engine, in test-engine order.
    pub test_rul: Vec<f64>,
}

impl RawSubset {
    /// Parses the three texts of a NASA subset and checks they agree with each other.
    pub fn from_texts(subset: Subset, train: &str, test: &str, rul: &str) -> Result<Self, DataError> {
        // Train and test parse on two threads: the files are independent and each is megabytes.
        let (train_e, test_e) = std::thread::scope(|s| {
            let h = s.spawn(|| parse_data(&subset.train_file(), train));
            let te = parse_data(&subset.test_file(), test);
            (h.join().expect("parser thread panicked"), te)
        });
        let (train_e, test_e) = (train_e?, test_e?);
        let test_rul = parse_rul(&subset.rul_file(), rul, test_e.len(), &subset.test_file())?;
        Ok(RawSubset {
            name: subset.name().to_string(),
            subset: Some(subset),
            default_conditions: subset.default_conditions(),
            train: train_e,
            test: test_e,
            test_rul,
        })
    }

    pub fn is_synthetic(&self) -> bool {
        self.subset.is_none()
    }

    pub fn train_rows(&self) -> usize {
        self.train.iter().map(RawEngine::n_cycles).sum()
    }

    pub fn test_rows(&self) -> usize {
        self.test.iter().map(RawEngine::n_cycles).sum()
    }
}

/// The start of a line for error messages, cut on a char boundary so odd bytes cannot panic.
fn excerpt(s: &str) -> String {
    const MAX: usize = 40;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Lines with their 1-based numbers; a trailing `\r` (CRLF files) is dropped.
fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split('\n').enumerate().map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
}

/// Exact fast path for plain decimals like `-0.0007` or `8341.91` (all of NASA's values):
/// digits ≤ 15 and a power of ten ≤ 10^22 are both exact in f64, so one division rounds once,
/// giving the same bits as `str::parse`. Anything else returns `None` and takes the slow path.
#[inline]
pub fn fast_decimal(tok: &str) -> Option<f64> {
    const POW10: [f64; 16] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
    let b = tok.as_bytes();
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    let (mut mant, mut n_digits, mut frac, mut seen_dot) = (0u64, 0usize, 0usize, false);
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                mant = mant * 10 + u64::from(c - b'0');
                n_digits += 1;
                if seen_dot {
                    frac += 1;
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => return None,
        }
    }
    if n_digits == 0 || n_digits > 15 {
        return None;
    }
    let v = mant as f64 / POW10[frac];
    Some(if neg { -v } else { v })
}

fn parse_f64(file: &str, line: usize, column: usize, tok: &str) -> Result<f64, DataError> {
    if let Some(v) = fast_decimal(tok) {
        return Ok(v);
    }
    match tok.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(DataError::NonFinite { file: file.into(), line, column, value: excerpt(tok) }),
        Err(_) => {
            Err(DataError::NotNumeric { file: file.into(), line, column, value: excerpt(tok), expected: "a number" })
        }
    }
}

fn parse_u32(file: &str, line: usize, column: usize, tok: &str, what: &'static str) -> Result<u32, DataError> {
    tok.parse::<u32>().map_err(|_| DataError::NotNumeric {
        file: file.into(),
        line,
        column,
        value: excerpt(tok),
        expected: what,
    })
}

/// Parses a `train_FDxxx.txt` / `test_FDxxx.txt` text into engines. `file` is used in messages.
/// Blank lines are skipped; units must ascend and cycles run 1, 2, 3, … within each unit.
pub fn parse_data(file: &str, text: &str) -> Result<Vec<RawEngine>, DataError> {
    let mut engines: Vec<RawEngine> = Vec::new();
    let mut toks: [&str; N_COLUMNS] = [""; N_COLUMNS];
    for (line, l) in numbered_lines(text) {
        let mut n = 0;
        for t in l.split_ascii_whitespace() {
            if n < N_COLUMNS {
                toks[n] = t;
            }
            n += 1;
        }
        if n == 0 {
            continue;
        }
        if n != N_COLUMNS {
            return Err(DataError::ColumnCount {
                file: file.into(),
                line,
                expected: N_COLUMNS,
                found: n,
                value: excerpt(l.trim()),
            });
        }
        let unit = parse_u32(file, line, 1, toks[0], "a whole, non-negative unit id")?;
        let cycle = parse_u32(file, line, 2, toks[1], "a whole, positive cycle number")?;
        let mut settings = [0.0; N_SETTINGS];
        for (k, s) in settings.iter_mut().enumerate() {
            *s = parse_f64(file, line, 3 + k, toks[2 + k])?;
        }
        let mut sensors = [0.0; N_SENSORS];
        for (k, s) in sensors.iter_mut().enumerate() {
            *s = parse_f64(file, line, 6 + k, toks[5 + k])?;
        }
        let same_unit = engines.last().is_some_and(|e| e.unit == unit);
        if !same_unit {
            if let Some(prev) = engines.last() {
                if unit < prev.unit {
                    return Err(DataError::UnitOrder { file: file.into(), line, value: unit, previous: prev.unit });
                }
            }
            if cycle != 1 {
                return Err(DataError::CycleOrder { file: file.into(), line, unit, value: cycle, expected: 1 });
            }
            engines.push(RawEngine {
                unit,
                cycles: 0,
                settings: Vec::with_capacity(400),
                sensors: Vec::with_capacity(400),
            });
        }
        let e = engines.last_mut().expect("pushed above");
        let expected = e.cycles + 1;
        if cycle != expected {
            return Err(DataError::CycleOrder { file: file.into(), line, unit, value: cycle, expected });
        }
        e.cycles = cycle;
        e.settings.push(settings);
        e.sensors.push(sensors);
    }
    if engines.is_empty() {
        return Err(DataError::EmptyFile { file: file.into() });
    }
    for e in &mut engines {
        e.settings.shrink_to_fit();
        e.sensors.shrink_to_fit();
    }
    Ok(engines)
}

/// Parses `RUL_FDxxx.txt` (one value per line) and checks there is one per test engine.
pub fn parse_rul(file: &str, text: &str, n_test_engines: usize, test_file: &str) -> Result<Vec<f64>, DataError> {
    let mut out = Vec::with_capacity(n_test_engines);
    let mut last_line = 0;
    for (line, l) in numbered_lines(text) {
        let mut it = l.split_ascii_whitespace();
        let Some(tok) = it.next() else { continue };
        let extra = it.count();
        if extra > 0 {
            return Err(DataError::ColumnCount {
                file: file.into(),
                line,
                expected: 1,
                found: 1 + extra,
                value: excerpt(l.trim()),
            });
        }
        let v = parse_f64(file, line, 1, tok)?;
        if v < 0.0 {
            return Err(DataError::NegativeRul { file: file.into(), line, value: excerpt(tok) });
        }
        out.push(v);
        last_line = line;
    }
    if out.is_empty() {
        return Err(DataError::EmptyFile { file: file.into() });
    }
    if out.len() != n_test_engines {
        return Err(DataError::RulCount {
            file: file.into(),
            line: last_line,
            found: out.len(),
            expected: n_test_engines,
            test_file: test_file.into(),
        });
    }
    Ok(out)
}

/// Writes engines in NASA's layout (two trailing spaces per row). Values use Rust's shortest
/// round-trip formatting, so `parse_data(write_data(e)) == e` exactly.
pub fn write_data(engines: &[RawEngine]) -> String {
    let mut s = String::new();
    for e in engines {
        for c in 0..e.n_cycles() {
            let _ = write!(s, "{} {}", e.unit, c + 1);
            for v in e.settings[c].iter().chain(e.sensors[c].iter()) {
                let _ = write!(s, " {v}");
            }
            s.push_str("  \n");
        }
    }
    s
}

/// Writes RUL values one per line, as integers when they are whole (as NASA's are).
pub fn write_rul(rul: &[f64]) -> String {
    let mut s = String::new();
    for v in rul {
        let _ = writeln!(s, "{v}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(unit: u32, cycle: u32) -> String {
        let mut s = format!("{unit} {cycle} -0.0007 -0.0004 100.0");
        for k in 0..21 {
            s.push_str(&format!(" {}", 500.0 + k as f64));
        }
        s
    }

    #[test]
    fn reads_crlf_trailing_spaces_and_blank_lines() {
        let text = format!("{}  \r\n{}  \r\n\r\n{} \r\n", row(1, 1), row(1, 2), row(2, 1));
        let e = parse_data("train_FD001.txt", &text).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].unit, e[0].cycles, e[1].unit, e[1].cycles), (1, 2, 2, 1));
        assert_eq!(e[0].settings[1], [-0.0007, -0.0004, 100.0]);
        assert_eq!(e[0].sensors[0][0], 500.0);
        assert_eq!(e[0].sensors[0][20], 520.0);
    }

    #[test]
    fn rul_file_accepts_trailing_spaces_and_rejects_two_columns() {
        assert_eq!(parse_rul("RUL_FD001.txt", "112 \n98\r\n", 2, "t").unwrap(), vec![112.0, 98.0]);
        let e = parse_rul("RUL_FD001.txt", "112\n98 7\n", 2, "t").unwrap_err().to_string();
        assert!(e.contains("RUL_FD001.txt, line 2") && e.contains("98 7"), "{e}");
    }
}
