//! Reading named files out of a folder or a zip (also zip-in-zip), found by name wherever they sit.
//! Every read is bounded, so a lying header or a zip bomb fails with the member's name, not an OOM.

use crate::error::DataError;
use std::collections::HashMap;
use std::io::{Cursor, Read, Seek};
use std::path::Path;

/// Zips inside zips are followed this deep (NASA's newer download is a zip holding CMAPSSData.zip).
const MAX_ZIP_DEPTH: usize = 3;

/// The most read from one file or archive member, nested archives included: NASA's largest file,
/// `train_FD004.txt`, is 10,350,705 bytes, and its CMAPSSData.zip about 12 MB.
pub const MAX_MEMBER_BYTES: u64 = 64 << 20;

/// The most read from one archive in all, its nested archives' members included (C-MAPSS: ~45 MB).
pub const MAX_ARCHIVE_BYTES: u64 = 256 << 20;

/// Reads `r` to its end if that is at most [`MAX_MEMBER_BYTES`] and fits in what is left of
/// `budget`; otherwise an error naming `member`. Nothing is reserved ahead of the bytes read.
fn read_bounded(r: impl Read, member: &str, budget: &mut u64) -> Result<Vec<u8>, DataError> {
    let limit = MAX_MEMBER_BYTES.min(*budget);
    let mut buf = Vec::new();
    r.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| DataError::Zip { path: member.to_string(), message: e.to_string() })?;
    if buf.len() as u64 > limit {
        return Err(if limit < MAX_MEMBER_BYTES {
            DataError::ArchiveTooLarge { member: member.to_string(), limit_mib: MAX_ARCHIVE_BYTES >> 20 }
        } else {
            DataError::TooLarge { member: member.to_string(), limit_mib: MAX_MEMBER_BYTES >> 20 }
        });
    }
    *budget -= buf.len() as u64;
    Ok(buf)
}

/// The bytes of the file at `path`, at most [`MAX_MEMBER_BYTES`] of them.
pub fn read_file_bounded(path: &Path) -> Result<Vec<u8>, DataError> {
    let mut f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut buf = Vec::new();
    (&mut f).take(MAX_MEMBER_BYTES + 1).read_to_end(&mut buf).map_err(|e| DataError::io(path, e))?;
    if buf.len() as u64 > MAX_MEMBER_BYTES {
        return Err(DataError::TooLarge { member: path.display().to_string(), limit_mib: MAX_MEMBER_BYTES >> 20 });
    }
    Ok(buf)
}

/// The texts of `names` in `dir`, in that order.
pub fn read_dir_texts(dir: &Path, names: &[String]) -> Result<Vec<String>, DataError> {
    names
        .iter()
        .map(|n| {
            let p = dir.join(n);
            if !p.exists() {
                return Err(DataError::MissingFile { file: n.clone(), location: dir.display().to_string() });
            }
            read_file_bounded(&p).map(|b| String::from_utf8_lossy(&b).into_owned())
        })
        .collect()
}

/// The texts of the members `names` of the zip at `path`, in that order.
pub fn read_zip_texts(path: &Path, names: &[String]) -> Result<Vec<String>, DataError> {
    let f = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            DataError::MissingFile { file: path.display().to_string(), location: "the file system".into() }
        }
        _ => DataError::io(path, e),
    })?;
    let found = read_zip_members(f, &path.display().to_string(), names)?;
    texts_in_order(found, names, &path.display().to_string())
}

/// Orders the found members like `names`, or names the first missing one.
pub fn texts_in_order(
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
/// occurrence wins, so a top-level copy beats one inside a nested archive. At most
/// [`MAX_MEMBER_BYTES`] are read per member and [`MAX_ARCHIVE_BYTES`] in all.
pub fn read_zip_members<R: Read + Seek>(
    reader: R,
    label: &str,
    names: &[String],
) -> Result<HashMap<String, Vec<u8>>, DataError> {
    let mut found = HashMap::new();
    let mut budget = MAX_ARCHIVE_BYTES;
    collect_zip(reader, label, names, &mut found, 0, &mut budget)?;
    Ok(found)
}

/// A member's path inside its archive (with `/`) and its base name; `None` for folders and for
/// macOS resource forks (`__MACOSX/._train_FD001.txt` shares the base name but is not text).
fn member_name<R: Read>(entry: &zip::read::ZipFile<'_, R>) -> Option<(String, String)> {
    if entry.is_dir() {
        return None;
    }
    let full = entry.name().replace('\\', "/");
    if full.split('/').any(|c| c == "__MACOSX") {
        return None;
    }
    let base = full.rsplit('/').next().unwrap_or(&full).to_string();
    Some((full, base))
}

/// One member's bytes, refused by name when its header already declares more than the bound.
fn read_entry<R: Read>(entry: zip::read::ZipFile<'_, R>, member: &str, budget: &mut u64) -> Result<Vec<u8>, DataError> {
    if entry.size() > MAX_MEMBER_BYTES {
        return Err(DataError::TooLarge { member: member.to_string(), limit_mib: MAX_MEMBER_BYTES >> 20 });
    }
    read_bounded(entry, member, budget)
}

fn collect_zip<R: Read + Seek>(
    reader: R,
    label: &str,
    names: &[String],
    found: &mut HashMap<String, Vec<u8>>,
    depth: usize,
    budget: &mut u64,
) -> Result<(), DataError> {
    let zerr = |e: zip::result::ZipError| DataError::Zip { path: label.to_string(), message: e.to_string() };
    let mut archive = zip::ZipArchive::new(reader).map_err(zerr)?;
    let mut nested = Vec::new();
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(zerr)?;
        let Some((full, base)) = member_name(&entry) else { continue };
        if names.contains(&base) && !found.contains_key(&base) {
            let bytes = read_entry(entry, &format!("{label}!{full}"), budget)?;
            found.insert(base, bytes);
        } else if base.to_ascii_lowercase().ends_with(".zip") && depth + 1 < MAX_ZIP_DEPTH {
            nested.push((i, full));
        }
    }
    // Nested archives come after this level's own files, one in memory at a time.
    for (i, full) in nested {
        if names.iter().all(|n| found.contains_key(n)) {
            break;
        }
        let member = format!("{label}!{full}");
        let bytes = read_entry(archive.by_index(i).map_err(zerr)?, &member, budget)?;
        collect_zip(Cursor::new(bytes), &member, names, found, depth + 1, budget)?;
    }
    Ok(())
}
