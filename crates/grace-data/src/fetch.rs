//! `grace data fetch`: download NASA's CMAPSSData.zip, check it holds 12 parseable files with NASA's
//! engine and row counts, and unpack it atomically (temporary folder + rename), or install nothing.

use crate::error::DataError;
use crate::parse::RawSubset;
use crate::source::archive::{read_zip_members, texts_in_order};
use crate::source::cmapss::{parse_all_parallel, DataSource};
use crate::subset::Subset;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// NASA PCoE Prognostics Data Repository download for the turbofan set (a zip holding
/// CMAPSSData.zip), as linked from NASA's PCoE data-set page. Override with `--url`.
pub const DEFAULT_URL: &str =
    "https://phm-datasets.s3.amazonaws.com/NASA/6.+Turbofan+Engine+Degradation+Simulation+Data+Set.zip";

/// The download is about 12 MB; anything far larger is not the data set.
const MAX_DOWNLOAD_BYTES: u64 = 512 * 1024 * 1024;

/// SHA-256 of the official files whose bytes are known here. The project's reference copy
/// reproduces FD001 (train, test), FD003 test, the RUL files and readme byte for byte; the other
/// five were re-serialised from a lossless mirror, so their official sums are not known.
pub const KNOWN_SHA256: [(&str, &str); 8] = [
    ("RUL_FD001.txt", "a19c8ec94931949d0485bdc35118206e9c81c4547b422efb9cf86f4ceddbceca"),
    ("RUL_FD002.txt", "c851dd96a6ea6998d3c4a8f834d3c8013aa90e93a6ed950dc826ad0655b2906b"),
    ("RUL_FD003.txt", "df1e0566306b174a2de41c67a3e7a51877889598b78643fc3e5685259091b7cb"),
    ("RUL_FD004.txt", "196b836b85a95ac7fdbbf29c5fdf1657382eafa445644d114ffaaf50dc2975e1"),
    ("test_FD001.txt", "3cda7109ce17bafb5443f2ac926cfcf88154b941b8c4cf95eb55d1ddd6f52851"),
    ("train_FD001.txt", "963b5e22825b34d8b21c69e1aeb4af3e647050eb672ee8834ba4b5d91d2de0f8"),
    ("test_FD003.txt", "299babd63c8d987cef079c4a425429f33b3a34797d803bbe2ad48c29dbd0d790"),
    ("readme.txt", "4f5270554b775c67e73aff383c5436fd329d6e4cc3d3a116913276fae511269b"),
];

/// The 12 data files, FD001's three first.
pub fn data_file_names() -> Vec<String> {
    Subset::ALL.iter().flat_map(|s| s.files()).collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileCheck {
    pub file: String,
    pub bytes: usize,
    pub sha256: String,
    /// `Some(true/false)` when an official checksum is known for this file, else `None`.
    pub matches_known: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubsetCounts {
    pub subset: Subset,
    pub train_engines: usize,
    pub test_engines: usize,
    pub train_rows: usize,
    pub test_rows: usize,
}

const fn nasa(subset: Subset, engines: (usize, usize), rows: (usize, usize)) -> SubsetCounts {
    SubsetCounts { subset, train_engines: engines.0, test_engines: engines.1, train_rows: rows.0, test_rows: rows.1 }
}

/// NASA's counts per subset (docs/reference.md §2); each RUL file has one line per test engine.
/// A download is installed only when all twelve files match them.
pub const NASA_COUNTS: [SubsetCounts; 4] = [
    nasa(Subset::FD001, (100, 100), (20631, 13096)),
    nasa(Subset::FD002, (260, 259), (53759, 33991)),
    nasa(Subset::FD003, (100, 100), (24720, 16596)),
    nasa(Subset::FD004, (249, 248), (61249, 41214)),
];

/// Every file of `subsets` whose counts differ from `expected`, as phrases naming the file.
fn count_mismatches(subsets: &[RawSubset], expected: &[SubsetCounts]) -> Vec<String> {
    let mut wrong = Vec::new();
    for (r, want) in subsets.iter().zip(expected) {
        let s = want.subset;
        let files = [
            (s.train_file(), (r.train.len(), r.train_rows()), (want.train_engines, want.train_rows)),
            (s.test_file(), (r.test.len(), r.test_rows()), (want.test_engines, want.test_rows)),
        ];
        for (file, got, want) in files {
            if got != want {
                wrong.push(format!(
                    "{file} has {} engines and {} rows (NASA's: {} and {})",
                    got.0, got.1, want.0, want.1
                ));
            }
        }
        if r.test_rul.len() != want.test_engines {
            wrong.push(format!("{} has {} lines (NASA's: {})", s.rul_file(), r.test_rul.len(), want.test_engines));
        }
    }
    wrong
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FetchReport {
    pub url: String,
    pub dest: PathBuf,
    /// True when `dest` already held a valid copy and nothing was downloaded.
    pub already_present: bool,
    pub downloaded_bytes: usize,
    pub files: Vec<FileCheck>,
    pub subsets: Vec<SubsetCounts>,
    /// Files whose checksum differs from the known official one (parsing still succeeded).
    pub checksum_mismatches: Vec<String>,
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

fn offline_hint(url: &str, why: &str) -> DataError {
    DataError::Fetch(format!(
        "could not reach {url} ({why}); download CMAPSSData.zip by hand (NASA Prognostics Data Repository, \
         \"Turbofan Engine Degradation Simulation\") and pass --data path/to/CMAPSSData.zip"
    ))
}

/// Downloads `url` into memory (bounded size, timeouts so an offline machine fails quickly).
pub fn download(url: &str) -> Result<Vec<u8>, DataError> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(20))
        .timeout_read(Duration::from_secs(60))
        .build();
    let resp = match agent.get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(code, _)) => {
            return Err(DataError::Fetch(format!(
                "{url} answered HTTP {code}; the download may have moved — pass the current address with --url, \
                 or download CMAPSSData.zip by hand and pass --data path/to/CMAPSSData.zip"
            )))
        }
        Err(e) => return Err(offline_hint(url, &e.to_string())),
    };
    let mut buf = Vec::new();
    resp.into_reader()
        .take(MAX_DOWNLOAD_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| offline_hint(url, &format!("connection lost during download: {e}")))?;
    if buf.len() as u64 > MAX_DOWNLOAD_BYTES {
        return Err(DataError::Fetch(format!(
            "{url} sent more than {MAX_DOWNLOAD_BYTES} bytes; that is not CMAPSSData.zip"
        )));
    }
    Ok(buf)
}

/// Checks a zip (bytes) holds the 12 files, that they parse and have NASA's counts
/// ([`NASA_COUNTS`]), then unpacks them into `dest` atomically. `dest` must not exist or be an
/// empty folder; on any error nothing is installed.
pub fn install_zip(bytes: &[u8], label: &str, dest: &Path) -> Result<FetchReport, DataError> {
    install_zip_with(bytes, label, dest, &NASA_COUNTS)
}

/// [`install_zip`] against other counts (small generated data sets in tests).
pub fn install_zip_with(
    bytes: &[u8],
    label: &str,
    dest: &Path,
    expected: &[SubsetCounts],
) -> Result<FetchReport, DataError> {
    let mut names = data_file_names();
    names.push("readme.txt".into());
    let mut found = read_zip_members(Cursor::new(bytes), label, &names)?;
    let readme = found.remove("readme.txt");
    let raw_bytes: Vec<(String, Vec<u8>)> =
        data_file_names().into_iter().filter_map(|n| found.get(&n).map(|b| (n, b.clone()))).collect();
    let texts = texts_in_order(found, &data_file_names(), label)?;
    let subsets = parse_all_parallel(&texts)?;
    let wrong = count_mismatches(&subsets, expected);
    if !wrong.is_empty() {
        return Err(DataError::Fetch(format!(
            "{label} does not hold NASA's C-MAPSS files: {}; nothing was installed — check --url, or download \
             CMAPSSData.zip by hand and pass --data path/to/CMAPSSData.zip",
            wrong.join("; ")
        )));
    }

    let mut report = FetchReport {
        url: label.to_string(),
        dest: dest.to_path_buf(),
        already_present: false,
        downloaded_bytes: bytes.len(),
        files: Vec::new(),
        subsets: counts(&subsets),
        checksum_mismatches: Vec::new(),
    };
    let all: Vec<(String, Vec<u8>)> =
        raw_bytes.into_iter().chain(readme.map(|b| ("readme.txt".to_string(), b))).collect();
    for (name, b) in &all {
        let sha = sha256_hex(b);
        let known = KNOWN_SHA256.iter().find(|(n, _)| n == name).map(|(_, s)| *s == sha);
        if known == Some(false) {
            report.checksum_mismatches.push(name.clone());
        }
        report.files.push(FileCheck { file: name.clone(), bytes: b.len(), sha256: sha, matches_known: known });
    }

    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| DataError::io(&parent, e))?;
    // The temporary folder sits next to dest so the final rename stays on one file system.
    let tmp =
        tempfile::Builder::new().prefix(".grace-fetch-").tempdir_in(&parent).map_err(|e| DataError::io(&parent, e))?;
    for (name, b) in &all {
        let p = tmp.path().join(name);
        std::fs::write(&p, b).map_err(|e| DataError::io(&p, e))?;
    }
    if dest.exists() {
        // Only an empty folder may be replaced; anything else could be the user's files.
        std::fs::remove_dir(dest).map_err(|_| {
            DataError::Fetch(format!(
                "{} already exists and is not empty; remove it or choose another --dest",
                dest.display()
            ))
        })?;
    }
    let kept = tmp.keep();
    std::fs::rename(&kept, dest).map_err(|e| {
        let _ = std::fs::remove_dir_all(&kept);
        DataError::io(dest, e)
    })?;
    Ok(report)
}

/// Counts per subset; `subsets` are the four in `Subset::ALL` order, as `load_all` returns them.
fn counts(subsets: &[crate::parse::RawSubset]) -> Vec<SubsetCounts> {
    Subset::ALL
        .iter()
        .zip(subsets)
        .map(|(&subset, r)| SubsetCounts {
            subset,
            train_engines: r.train.len(),
            test_engines: r.test.len(),
            train_rows: r.train_rows(),
            test_rows: r.test_rows(),
        })
        .collect()
}

/// Downloads and installs C-MAPSS into `dest`. If `dest` already holds all 12 files and they
/// parse with NASA's counts, nothing is downloaded.
pub fn fetch(url: &str, dest: &Path) -> Result<FetchReport, DataError> {
    fetch_with(url, dest, &NASA_COUNTS)
}

/// [`fetch`] against other counts (small generated data sets in tests).
pub fn fetch_with(url: &str, dest: &Path, expected: &[SubsetCounts]) -> Result<FetchReport, DataError> {
    if dest.is_dir() && std::fs::read_dir(dest).map(|mut d| d.next().is_some()).unwrap_or(false) {
        let loaded = DataSource::Dir(dest.to_path_buf()).load_all();
        if let Some(wrong) = loaded.as_ref().ok().map(|s| count_mismatches(s, expected)).filter(|w| !w.is_empty()) {
            return Err(DataError::Fetch(format!(
                "{} exists and its files are not NASA's C-MAPSS ({}); remove it or choose another --dest",
                dest.display(),
                wrong.join("; ")
            )));
        }
        if let Ok(subsets) = loaded {
            return Ok(FetchReport {
                url: url.to_string(),
                dest: dest.to_path_buf(),
                already_present: true,
                downloaded_bytes: 0,
                files: Vec::new(),
                subsets: counts(&subsets),
                checksum_mismatches: Vec::new(),
            });
        }
        return Err(DataError::Fetch(format!(
            "{} exists, is not empty and does not hold a valid C-MAPSS copy; remove it or choose another --dest",
            dest.display()
        )));
    }
    let bytes = download(url)?;
    let mut report = install_zip_with(&bytes, url, dest, expected)?;
    report.url = url.to_string();
    Ok(report)
}
