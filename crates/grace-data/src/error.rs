//! Everything that can go wrong while reading or preparing data, as one error type.
//! Each message names the file, the 1-based line and the offending value, and says what to do.

use std::path::PathBuf;

/// Data-side error. Messages are meant to be shown to users as they are.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{file}, line {line}: expected {expected} columns, found {found} (line starts `{value}`); C-MAPSS rows are space-separated numbers — check the file is not truncated or from a different dataset")]
    ColumnCount { file: String, line: usize, expected: usize, found: usize, value: String },

    #[error("{file}, line {line}, column {column}: `{value}` is not {expected}; fix or remove that row (the original NASA files contain only numbers)")]
    NotNumeric { file: String, line: usize, column: usize, value: String, expected: &'static str },

    #[error("{file}, line {line}, column {column}: `{value}` is not a finite number; replace it with a measured value or drop the engine")]
    NonFinite { file: String, line: usize, column: usize, value: String },

    #[error("{file}, line {line}, column {column}: `{value}` is beyond ±{max:e}, the largest magnitude grace accepts (statistics and model inputs would overflow); fix or remove that row", max = crate::parse::MAX_MAGNITUDE)]
    OutOfRange { file: String, line: usize, column: usize, value: String },

    /// A value of an engine built in memory (synthetic, or hand-made through the API), by unit and cycle.
    #[error("{what} unit {unit}, cycle {cycle}, {column} = {value}: {reason}")]
    EngineValue { what: String, unit: u32, cycle: usize, column: String, value: String, reason: String },

    #[error("{what} unit {unit}: RUL after the last cycle = {value}: {reason}")]
    EngineTruth { what: String, unit: u32, value: String, reason: String },

    #[error("{file}: {message}; this file is written by `grace train` — restore it or train the run again")]
    Preprocessing { file: String, message: String },

    #[error("{member} holds more than {limit_mib} MiB; NASA's largest file is about 10 MB, so this is not C-MAPSS (or the archive is damaged or built to exhaust memory)")]
    TooLarge { member: String, limit_mib: u64 },

    #[error("{member}: the archive unpacks to more than {limit_mib} MiB in all, far more than C-MAPSS (about 45 MB); it is not NASA's download")]
    ArchiveTooLarge { member: String, limit_mib: u64 },

    #[error("{file} is empty (no data rows); re-extract it from CMAPSSData.zip or run `grace data fetch`")]
    EmptyFile { file: String },

    #[error("{file}, line {line}: unit `{value}` follows unit {previous}; unit ids must ascend and each unit's rows must be contiguous — sort the file by unit, then cycle")]
    UnitOrder { file: String, line: usize, value: u32, previous: u32 },

    #[error("{file}, line {line}: unit {unit} has cycle `{value}` where cycle {expected} was expected; cycles must run 1, 2, 3, … without gaps or repeats within a unit")]
    CycleOrder { file: String, line: usize, unit: u32, value: u32, expected: u32 },

    #[error("{file} not found in {location}; pass the folder holding NASA's 12 text files or CMAPSSData.zip (or run `grace data fetch`)")]
    MissingFile { file: String, location: String },

    #[error("{file} has {found} values (last at line {line}) but {test_file} has {expected} engines; each test engine needs exactly one RUL line — use the RUL file that came with this test file")]
    RulCount { file: String, line: usize, found: usize, expected: usize, test_file: String },

    #[error(
        "{file}, line {line}: RUL `{value}` is negative; remaining useful life counts cycles left and must be ≥ 0"
    )]
    NegativeRul { file: String, line: usize, value: String },

    #[error("could not read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    #[error("{path} is not a readable zip archive ({message}); download CMAPSSData.zip again or unpack it by hand and pass the folder")]
    Zip { path: String, message: String },

    #[error("{0}")]
    Fetch(String),

    /// A data-set name the source does not offer; the message lists those it does.
    #[error("{0}")]
    UnknownSubset(String),

    #[error("invalid configuration: {0}")]
    Config(String),
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io { path: path.into(), source }
    }
}
