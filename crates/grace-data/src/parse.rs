//! Reading whitespace-separated data files into per-engine raw series, laid out by a [`Schema`],
//! with strict validation of every row. Fast on purpose (manual split + `str::parse`).

use crate::error::DataError;
use crate::schema::{Role, Rows, Schema};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// One engine as recorded: rows are cycles `1..=cycles` in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawEngine {
    pub unit: u32,
    /// Number of recorded cycles (the file's cycle column runs 1..=cycles).
    pub cycles: u32,
    /// Operational settings per cycle, in the schema's setting order.
    pub settings: Rows,
    /// Sensors per cycle, in the schema's sensor order.
    pub sensors: Rows,
    /// RUL after each cycle when the schema has a RUL column; empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rul: Vec<f64>,
}

impl RawEngine {
    pub fn n_cycles(&self) -> usize {
        self.settings.len()
    }

    /// Whether the row widths are the schema's (engines built by hand can disagree).
    pub fn fits(&self, schema: &Schema) -> bool {
        let n = self.n_cycles();
        self.settings.width() == schema.n_settings()
            && self.sensors.width() == schema.n_sensors()
            && self.sensors.len() == n
            && (if schema.has_rul() { self.rul.len() == n } else { self.rul.is_empty() })
    }
}

/// One data set as read from disk (or generated): training run-to-failure engines, truncated test
/// engines, and the true RUL after each test engine's last cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawSubset {
    /// "FD001" … "FD004", or "SYNTHETIC" for the generated fleet.
    pub name: String,
    /// Generated rather than measured: reports must never pass such data off as real.
    pub synthetic: bool,
    pub schema: Schema,
    /// Operating conditions to cluster into unless the config says otherwise.
    pub default_conditions: usize,
    pub train: Vec<RawEngine>,
    pub test: Vec<RawEngine>,
    /// True RUL after the last cycle of each test engine, in test-engine order.
    pub test_rul: Vec<f64>,
}

impl RawSubset {
    pub fn is_synthetic(&self) -> bool {
        self.synthetic
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
    let mut end = s.len().min(MAX);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let more = if end < s.len() { "…" } else { "" };
    format!("{}{more}", printable(&s[..end]))
}

/// `s` with control characters escaped (`\u{0}`, `\n`), so a message stays one readable line.
pub(crate) fn printable(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
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

/// The largest magnitude accepted in a data file (NASA's largest value is about 9,300). Up to it,
/// every sum, square and z-score computed from the values stays finite, in f64 and in the model's
/// f32; beyond it a single value such as `1e308` would turn statistics into inf or NaN. It is also
/// the reach of [`fast_decimal`]'s 15 digits, so the fast path never needs the check.
pub const MAX_MAGNITUDE: f64 = 1e15;

fn parse_f64(file: &str, line: usize, column: usize, tok: &str) -> Result<f64, DataError> {
    if let Some(v) = fast_decimal(tok) {
        return Ok(v);
    }
    match tok.parse::<f64>() {
        Ok(v) if v.abs() <= MAX_MAGNITUDE => Ok(v),
        Ok(v) if v.is_finite() => Err(DataError::OutOfRange { file: file.into(), line, column, value: excerpt(tok) }),
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

/// Where each file column goes, worked out once per file.
#[derive(Clone, Copy)]
enum Slot {
    Unit,
    Cycle,
    Setting(usize),
    Sensor(usize),
    Rul,
}

/// A schema turned into what the row loop needs: a slot per column and the row widths.
struct Layout {
    slots: Vec<Slot>,
    n_settings: usize,
    n_sensors: usize,
    has_rul: bool,
}

impl Layout {
    fn of(schema: &Schema) -> Self {
        let (mut set, mut sen) = (0, 0);
        let next = |n: &mut usize| {
            *n += 1;
            *n - 1
        };
        let slots = schema
            .columns
            .iter()
            .map(|c| match c.role {
                Role::Unit => Slot::Unit,
                Role::Cycle => Slot::Cycle,
                Role::Setting => Slot::Setting(next(&mut set)),
                Role::Sensor => Slot::Sensor(next(&mut sen)),
                Role::Rul => Slot::Rul,
            })
            .collect();
        Layout { slots, n_settings: set, n_sensors: sen, has_rul: schema.has_rul() }
    }

    fn engine(&self, unit: u32) -> RawEngine {
        const CAPACITY: usize = 400;
        RawEngine {
            unit,
            cycles: 0,
            settings: Rows::with_capacity(self.n_settings, CAPACITY),
            sensors: Rows::with_capacity(self.n_sensors, CAPACITY),
            rul: if self.has_rul { Vec::with_capacity(CAPACITY) } else { Vec::new() },
        }
    }
}

/// One parsed line: unit, cycle and its values, in buffers reused from line to line.
struct Line {
    unit: u32,
    cycle: u32,
    settings: Vec<f64>,
    sensors: Vec<f64>,
    rul: f64,
}

fn parse_line(file: &str, line: usize, toks: &[&str], slots: &[Slot], out: &mut Line) -> Result<(), DataError> {
    for (i, (&tok, slot)) in toks.iter().zip(slots).enumerate() {
        let column = i + 1;
        match *slot {
            Slot::Unit => out.unit = parse_u32(file, line, column, tok, "a whole, non-negative unit id")?,
            Slot::Cycle => out.cycle = parse_u32(file, line, column, tok, "a whole, positive cycle number")?,
            Slot::Setting(k) => out.settings[k] = parse_f64(file, line, column, tok)?,
            Slot::Sensor(k) => out.sensors[k] = parse_f64(file, line, column, tok)?,
            Slot::Rul => {
                out.rul = parse_f64(file, line, column, tok)?;
                if out.rul < 0.0 {
                    return Err(DataError::NegativeRul { file: file.into(), line, value: excerpt(tok) });
                }
            }
        }
    }
    Ok(())
}

/// Adds a parsed line to the engines, checking that units ascend and cycles run 1, 2, 3, ….
fn append(file: &str, line: usize, l: &Line, layout: &Layout, engines: &mut Vec<RawEngine>) -> Result<(), DataError> {
    let (unit, cycle) = (l.unit, l.cycle);
    if engines.last().is_none_or(|e| e.unit != unit) {
        if let Some(prev) = engines.last() {
            if unit < prev.unit {
                return Err(DataError::UnitOrder { file: file.into(), line, value: unit, previous: prev.unit });
            }
        }
        if cycle != 1 {
            return Err(DataError::CycleOrder { file: file.into(), line, unit, value: cycle, expected: 1 });
        }
        engines.push(layout.engine(unit));
    }
    let e = engines.last_mut().expect("pushed above");
    let expected = e.cycles + 1;
    if cycle != expected {
        return Err(DataError::CycleOrder { file: file.into(), line, unit, value: cycle, expected });
    }
    e.cycles = cycle;
    e.settings.push(&l.settings);
    e.sensors.push(&l.sensors);
    if layout.has_rul {
        e.rul.push(l.rul);
    }
    Ok(())
}

/// Parses a whitespace-separated data file laid out by `schema` into engines. `file` is used in
/// messages. Blank lines are skipped; units must ascend and cycles run 1, 2, 3, … within each unit.
pub fn parse_rows(schema: &Schema, file: &str, text: &str) -> Result<Vec<RawEngine>, DataError> {
    let layout = Layout::of(schema);
    let n_columns = layout.slots.len();
    let mut engines: Vec<RawEngine> = Vec::new();
    let mut toks: Vec<&str> = vec![""; n_columns];
    let mut row = Line {
        unit: 0,
        cycle: 0,
        settings: vec![0.0; layout.n_settings],
        sensors: vec![0.0; layout.n_sensors],
        rul: 0.0,
    };
    for (line, l) in numbered_lines(text) {
        let mut n = 0;
        for t in l.split_ascii_whitespace() {
            if n < n_columns {
                toks[n] = t;
            }
            n += 1;
        }
        if n == 0 {
            continue;
        }
        if n != n_columns {
            return Err(DataError::ColumnCount {
                file: file.into(),
                line,
                expected: n_columns,
                found: n,
                value: excerpt(l.trim()),
            });
        }
        parse_line(file, line, &toks, &layout.slots, &mut row)?;
        append(file, line, &row, &layout, &mut engines)?;
    }
    if engines.is_empty() {
        return Err(DataError::EmptyFile { file: file.into() });
    }
    for e in &mut engines {
        e.settings.shrink_to_fit();
        e.sensors.shrink_to_fit();
        e.rul.shrink_to_fit();
    }
    Ok(engines)
}

/// Parses a `train_FDxxx.txt` / `test_FDxxx.txt` text (the C-MAPSS layout) into engines.
pub fn parse_data(file: &str, text: &str) -> Result<Vec<RawEngine>, DataError> {
    parse_rows(&Schema::cmapss(), file, text)
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

/// Writes engines in `schema`'s layout, space-separated with two trailing spaces per row (as NASA's
/// files). Values use Rust's shortest round-trip formatting, so `parse_rows(write_rows(e)) == e`.
pub fn write_rows(schema: &Schema, engines: &[RawEngine]) -> String {
    let slots = Layout::of(schema).slots;
    let mut s = String::new();
    for e in engines {
        for c in 0..e.n_cycles() {
            for (i, slot) in slots.iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                let _ = match *slot {
                    Slot::Unit => write!(s, "{}", e.unit),
                    Slot::Cycle => write!(s, "{}", c + 1),
                    Slot::Setting(k) => write!(s, "{}", e.settings[c][k]),
                    Slot::Sensor(k) => write!(s, "{}", e.sensors[c][k]),
                    Slot::Rul => write!(s, "{}", e.rul[c]),
                };
            }
            s.push_str("  \n");
        }
    }
    s
}

/// Writes engines in NASA's C-MAPSS layout; `parse_data(write_data(e)) == e` exactly.
pub fn write_data(engines: &[RawEngine]) -> String {
    write_rows(&Schema::cmapss(), engines)
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

#[cfg(test)]
mod schema_tests {
    use super::*;
    use crate::schema::Column;

    /// unit, cycle, 1 setting, 2 sensors and a per-row RUL, with the RUL column before the sensors.
    fn schema() -> Schema {
        let cols = vec![
            Column::new("id", Role::Unit),
            Column::new("time", Role::Cycle),
            Column::new("speed", Role::Setting),
            Column::new("rul", Role::Rul),
            Column::new("temp", Role::Sensor),
            Column::new("vib", Role::Sensor),
        ];
        Schema::new("custom", cols, vec!["vib".into(), "temp".into()]).unwrap()
    }

    #[test]
    fn a_custom_layout_parses_by_role_and_round_trips() {
        let text = "3 1 0.5 9 20.0 0.1\n3 2 0.5 8 21.0 0.2\n5 1 1.5 4 30.0 0.3\n";
        let e = parse_rows(&schema(), "custom.txt", text).unwrap();
        assert_eq!((e.len(), e[0].unit, e[0].cycles, e[1].unit), (2, 3, 2, 5));
        assert_eq!(
            (&e[0].settings[1], &e[0].sensors[1], &e[0].rul[..]),
            (&[0.5][..], &[21.0, 0.2][..], &[9.0, 8.0][..])
        );
        assert_eq!(parse_rows(&schema(), "custom.txt", &write_rows(&schema(), &e)).unwrap(), e);
        let m = parse_rows(&schema(), "custom.txt", "3 1 0.5 -1 20.0 0.1").unwrap_err().to_string();
        assert!(m.contains("custom.txt, line 1: RUL `-1` is negative"), "{m}");
        let m = parse_rows(&schema(), "custom.txt", "3 1 0.5 1 20.0").unwrap_err().to_string();
        assert!(m.contains("expected 6 columns, found 5"), "{m}");
    }
}
