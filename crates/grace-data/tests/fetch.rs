//! `fetch` against a local HTTP server on 127.0.0.1 serving a zip built from small generated files.

use grace_data::fetch::{fetch, fetch_with, install_zip, install_zip_with, SubsetCounts, NASA_COUNTS};
use grace_data::synthetic::{fleet, SyntheticConfig};
use grace_data::{write_data, write_rul, DataSource, Subset};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

fn small(i: usize) -> grace_data::RawSubset {
    fleet(&SyntheticConfig { n_train: 3 + i, n_test: 2, seed: i as u64, ..Default::default() })
}

/// The counts of [`files`], which the tests install in place of NASA's.
fn small_counts() -> Vec<SubsetCounts> {
    Subset::ALL
        .iter()
        .enumerate()
        .map(|(i, &subset)| {
            let f = small(i);
            let (train_engines, test_engines) = (f.train.len(), f.test.len());
            SubsetCounts { subset, train_engines, test_engines, train_rows: f.train_rows(), test_rows: f.test_rows() }
        })
        .collect()
}

/// Small valid NASA-layout texts for all 12 files, keyed by file name.
fn files() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, s) in Subset::ALL.iter().enumerate() {
        let f = small(i);
        out.push((s.train_file(), write_data(&f.train).into_bytes()));
        out.push((s.test_file(), write_data(&f.test).into_bytes()));
        out.push((s.rul_file(), write_rul(&f.test_rul).into_bytes()));
    }
    out
}

fn zip_of(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opt = zip::write::SimpleFileOptions::default();
    for (name, b) in entries {
        w.start_file(name.as_str(), opt).unwrap();
        w.write_all(b).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// NASA's newer layout: an outer zip holding CMAPSSData.zip, whose files sit in a subfolder.
fn nested_zip() -> Vec<u8> {
    let inner: Vec<_> = files().into_iter().map(|(n, b)| (format!("CMAPSSData/{n}"), b)).collect();
    zip_of(&[("6. Turbofan/CMAPSSData.zip".to_string(), zip_of(&inner)), ("notes.txt".into(), b"hi".to_vec())])
}

/// Serves one request on 127.0.0.1 with `status` and `body`, then stops; gives up after 20 s.
fn serve_once(status: &'static str, body: Vec<u8>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    l.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            match l.accept() {
                Ok((mut s, _)) => {
                    s.set_nonblocking(false).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    let mut req = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/zip\r\nConnection: close\r\n\r\n", body.len());
                    let _ = s.write_all(head.as_bytes());
                    let _ = s.write_all(&body);
                    return;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    format!("http://{addr}/CMAPSSData.zip")
}

#[test]
fn downloads_verifies_and_unpacks_a_nested_zip() {
    let url = serve_once("200 OK", nested_zip());
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("cmapss");
    let r = fetch_with(&url, &dest, &small_counts()).unwrap();
    assert!(!r.already_present);
    assert_eq!(r.files.len(), 12);
    assert_eq!(r.subsets.iter().map(|s| s.train_engines).collect::<Vec<_>>(), [3, 4, 5, 6]);
    assert_eq!(r.subsets.iter().map(|s| s.test_engines).collect::<Vec<_>>(), [2, 2, 2, 2]);
    // Generated files are not NASA's: known sums mismatch, unknown ones are not judged.
    let check = |n: &str| r.files.iter().find(|f| f.file == n).unwrap().matches_known;
    assert_eq!(check("train_FD001.txt"), Some(false));
    assert_eq!(check("train_FD002.txt"), None);
    assert!(r.checksum_mismatches.contains(&"RUL_FD001.txt".to_string()));
    // Unpacked files are byte-identical to what was served, and nothing temporary is left over.
    for (n, b) in files() {
        assert_eq!(std::fs::read(dest.join(&n)).unwrap(), b, "{n}");
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("cmapss")]);
    assert_eq!(DataSource::Dir(dest.clone()).load_all().unwrap().len(), 4);

    // A second fetch sees the valid copy and does not touch the network (the URL is dead).
    let r2 = fetch_with("http://127.0.0.1:9/never", &dest, &small_counts()).unwrap();
    assert!(r2.already_present);
    assert_eq!(r2.subsets[3].train_engines, 6);
}

#[test]
fn unreachable_server_says_how_to_proceed_by_hand() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("d");
    let e = fetch(&format!("http://127.0.0.1:{port}/CMAPSSData.zip"), &dest).unwrap_err().to_string();
    assert!(e.starts_with(&format!("could not reach http://127.0.0.1:{port}/CMAPSSData.zip")), "{e}");
    assert!(e.contains("pass --data path/to/CMAPSSData.zip"), "{e}");
    assert!(!dest.exists());
}

#[test]
fn http_error_status_is_reported() {
    let url = serve_once("404 Not Found", b"gone".to_vec());
    let tmp = tempfile::tempdir().unwrap();
    let e = fetch(&url, &tmp.path().join("d")).unwrap_err().to_string();
    assert!(e.contains("answered HTTP 404") && e.contains("--url"), "{e}");
}

#[test]
fn incomplete_or_broken_archives_leave_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("d");
    let mut fs = files();
    fs.retain(|(n, _)| n != "RUL_FD003.txt");
    let e = install_zip(&zip_of(&fs), "x.zip", &dest).unwrap_err().to_string();
    assert!(e.starts_with("RUL_FD003.txt not found in x.zip"), "{e}");
    let mut fs = files();
    fs[4].1 = b"1 1 2 3\n".to_vec(); // test_FD002.txt
    let e = install_zip(&zip_of(&fs), "x.zip", &dest).unwrap_err().to_string();
    assert!(e.starts_with("test_FD002.txt, line 1: expected 26 columns, found 4"), "{e}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    // A non-empty destination that is not a data set is never overwritten.
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("mine.txt"), "keep").unwrap();
    let e = fetch("http://127.0.0.1:9/never", &dest).unwrap_err().to_string();
    assert!(e.contains("is not empty"), "{e}");
    assert_eq!(std::fs::read_to_string(dest.join("mine.txt")).unwrap(), "keep");
}

#[test]
fn a_download_without_nasas_counts_is_refused_and_nothing_is_installed() {
    // The generated files parse, but their engine and row counts are not NASA's.
    let url = serve_once("200 OK", nested_zip());
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("cmapss");
    let e = fetch(&url, &dest).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{url} does not hold NASA's C-MAPSS files: ")), "{e}");
    let n = small_counts()[0].train_rows;
    assert!(e.contains(&format!("train_FD001.txt has 3 engines and {n} rows (NASA's: 100 and 20631)")), "{e}");
    assert!(e.contains("RUL_FD004.txt has 2 lines (NASA's: 248)") && e.contains("nothing was installed"), "{e}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    // One file off by one row is enough: FD003 is NASA's count but for a single cycle.
    let mut want = small_counts();
    want[2].test_rows += 1;
    let e = install_zip_with(&zip_of(&files()), "x.zip", &dest, &want).unwrap_err().to_string();
    assert!(e.contains("test_FD003.txt has 2 engines") && !e.contains("train_FD003"), "{e}");
    assert!(!dest.exists());
    // A folder holding such files is not "already present" NASA data either.
    install_zip_with(&zip_of(&files()), "x.zip", &dest, &small_counts()).unwrap();
    let e = fetch("http://127.0.0.1:9/never", &dest).unwrap_err().to_string();
    assert!(e.contains("its files are not NASA's C-MAPSS (train_FD001.txt has 3 engines"), "{e}");
    assert_eq!(NASA_COUNTS[3].train_rows, 61249);
}
