//! Where C-MAPSS comes from: a folder of NASA's text files or NASA's zip (also zip-in-zip).
//! Files are found by name anywhere inside a zip, because NASA's downloads nest them differently.

use crate::error::DataError;
use crate::parse::RawSubset;
use crate::subset::Subset;
use std::collections::HashMap;
use std::io::{Cursor, Read, Seek};
use std::path::{Path, PathBuf};

/// Zips inside zips are followed this deep (NASA's newer download is a zip holding CMAPSSData.zip).
const MAX_ZIP_DEPTH: usize = 3;

/// A location holding NASA's files.
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
            DataSource::Dir(dir) => names
                .iter()
                .map(|n| {
                    let p = dir.join(n);
                    match std::fs::read(&p) {
                        Ok(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                            Err(DataError::MissingFile { file: n.clone(), location: dir.display().to_string() })
                        }
                        Err(e) => Err(DataError::io(p, e)),
                    }
                })
                .collect(),
            DataSource::Zip(path) => {
                let f = std::fs::File::open(path).map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => {
                        DataError::MissingFile { file: path.display().to_string(), location: "the file system".into() }
                    }
                    _ => DataError::io(path, e),
                })?;
                let found = read_zip_members(f, &path.display().to_string(), names)?;
                texts_in_order(found, names, &path.display().to_string())
            }
        }
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

/// Orders the found members like `names`, or names the first missing one.
pub(crate) fn texts_in_order(
    mut found: HashMap<String, Vec<u8>>,
    names: &[String],
    location: &str,
) -> Result<Vec<String>, DataError> {
    names
        .iter()
        .map(|n| {
            found
                .remove(n)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .ok_or_else(|| DataError::MissingFile { file: n.clone(), location: location.to_string() })
        })
        .collect()
}

/// The members of a zip whose base name is in `names`, searching nested zips too. The first
/// occurrence wins, so a top-level copy beats one inside a nested archive.
pub(crate) fn read_zip_members<R: Read + Seek>(
    reader: R,
    label: &str,
    names: &[String],
) -> Result<HashMap<String, Vec<u8>>, DataError> {
    let mut found = HashMap::new();
    collect_zip(reader, label, names, &mut found, 0)?;
    Ok(found)
}

fn collect_zip<R: Read + Seek>(
    reader: R,
    label: &str,
    names: &[String],
    found: &mut HashMap<String, Vec<u8>>,
    depth: usize,
) -> Result<(), DataError> {
    let zerr = |e: zip::result::ZipError| DataError::Zip { path: label.to_string(), message: e.to_string() };
    let mut archive = zip::ZipArchive::new(reader).map_err(zerr)?;
    let mut nested = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(zerr)?;
        if entry.is_dir() {
            continue;
        }
        let full = entry.name().replace('\\', "/");
        // macOS resource forks (`__MACOSX/._train_FD001.txt`) share the base name but are not text.
        if full.split('/').any(|c| c == "__MACOSX") {
            continue;
        }
        let base = full.rsplit('/').next().unwrap_or(&full).to_string();
        let wanted = names.contains(&base) && !found.contains_key(&base);
        let is_zip = base.to_ascii_lowercase().ends_with(".zip");
        if wanted || (is_zip && depth + 1 < MAX_ZIP_DEPTH) {
            let mut buf = Vec::with_capacity(entry.size() as usize);
            entry
                .read_to_end(&mut buf)
                .map_err(|e| DataError::Zip { path: format!("{label}!{full}"), message: e.to_string() })?;
            if wanted {
                found.insert(base, buf);
            } else {
                nested.push((full, buf));
            }
        }
    }
    for (name, bytes) in nested {
        if names.iter().all(|n| found.contains_key(n)) {
            break;
        }
        collect_zip(Cursor::new(bytes), &format!("{label}!{name}"), names, found, depth + 1)?;
    }
    Ok(())
}
