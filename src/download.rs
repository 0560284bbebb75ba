//! Downloading one file: streamed into a temporary file beside the destination, checked against
//! the response framing, flushed and fsynced, then renamed over the destination. On any failure
//! the temporary file is removed and the destination is untouched.

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::http::{describe, ensure_success, map_io_error, parse_url, Method};
use crate::listener::random_hex;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Size of one read from the network and one write to disk.
const CHUNK: usize = 256 * 1024;

/// What a finished download reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DownloadReport {
    /// Bytes written.
    pub bytes: u64,
    /// Things worth logging that did not fail the download (a declared size that differs from
    /// a complete, correctly framed transfer, ...).
    pub warnings: Vec<String>,
}

/// Progress callback: `(received, total)`; return `false` to abort.
pub type ProgressFn<'a> = &'a mut dyn FnMut(u64, Option<u64>) -> bool;

/// Downloads `url` to `dest`. `expected_size` is the size the CDE declared, if any: it is the
/// total reported to `progress` when the server sends no Content-Length, and it decides
/// completeness only when the answer has no framing at all (close-delimited).
pub fn download_to_path(
    client: &Client,
    url: &str,
    dest: &Path,
    expected_size: Option<u64>,
    progress: ProgressFn<'_>,
) -> Result<DownloadReport> {
    let url = parse_url(url, "download URL")?;
    let (dir, name) = split_destination(dest)?;
    let mut answer = client.send(
        Method::Get,
        &url,
        &[("Accept-Encoding", "identity"), ("Accept", "*/*")],
    )?;
    ensure_success(&mut answer, "download")?;
    let final_url = answer.url.clone();
    let headers = answer.response.headers();
    if let Some(enc) = headers.get("content-encoding").map(|v| {
        String::from_utf8_lossy(v.as_bytes())
            .trim()
            .to_ascii_lowercase()
    }) {
        if !enc.is_empty() && enc != "identity" {
            // We asked for identity; decoding would change the bytes the CDE stored, keeping them
            // would write a compressed file under the model's name. Refuse instead.
            return Err(Error::new(
                ErrorKind::Protocol,
                format!(
                    "{} sent Content-Encoding \"{enc}\" although identity was requested",
                    describe(&final_url)
                ),
            ));
        }
    }
    let content_length = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let chunked = headers
        .get("transfer-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let total = content_length.or(expected_size);

    let mut part = PartFile::create(&dir, &name)?;
    let mut reader = answer.response.into_body().into_reader();
    let mut buf = vec![0u8; CHUNK];
    let mut received: u64 = 0;
    if !progress(0, total) {
        return Err(aborted());
    }
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(map_io_error(&e, &final_url)
                    .context(format!("downloading after {received} bytes")))
            }
        };
        part.write(&buf[..n])?;
        received += n as u64;
        if !progress(received, total) {
            return Err(aborted());
        }
    }

    let mut report = DownloadReport {
        bytes: received,
        warnings: Vec::new(),
    };
    match (content_length, chunked, expected_size) {
        (Some(declared), _, _) if declared != received => {
            return Err(Error::new(
                ErrorKind::Integrity,
                format!(
                    "{}: received {received} bytes, Content-Length said {declared}",
                    describe(&final_url)
                ),
            ))
        }
        (None, false, Some(expected)) if expected != received => {
            return Err(Error::new(
                ErrorKind::Integrity,
                format!(
                    "{}: received {received} bytes without framing, the CDE declared {expected}",
                    describe(&final_url)
                ),
            ))
        }
        (_, _, Some(expected)) if expected != received => report.warnings.push(format!(
            "{}: the CDE declared {expected} bytes, the complete transfer had {received}",
            describe(&final_url)
        )),
        _ => {}
    }
    part.commit(dest)?;
    Ok(report)
}

fn aborted() -> Error {
    Error::new(
        ErrorKind::Aborted,
        "download aborted by the progress callback",
    )
}

/// Checks that `dest` names a file in an existing folder; returns (folder, file name).
fn split_destination(dest: &Path) -> Result<(PathBuf, String)> {
    let name = dest
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::invalid(format!("destination {} has no file name", dest.display())))?
        .to_string();
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(Error::new(
            ErrorKind::Io,
            format!("destination folder {} does not exist", dir.display()),
        ));
    }
    if dest.is_dir() {
        return Err(Error::new(
            ErrorKind::Io,
            format!("destination {} is a folder", dest.display()),
        ));
    }
    Ok((dir, name))
}

/// The temporary file beside the destination; removed on drop unless committed.
struct PartFile {
    path: PathBuf,
    /// `None` once closed: Windows neither renames nor removes a file that is still open.
    file: Option<File>,
    committed: bool,
}

impl PartFile {
    fn create(dir: &Path, name: &str) -> Result<Self> {
        // Hidden, unique, and recognisable as ours: ".<name>.<random>.ocde-part".
        let short: String = name.chars().take(80).collect();
        let path = dir.join(format!(".{short}.{}.ocde-part", random_hex(6)?));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io("creating", &path, &e))?;
        Ok(PartFile {
            path,
            file: Some(file),
            committed: false,
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        match self.file.as_mut() {
            Some(f) => f
                .write_all(bytes)
                .map_err(|e| Error::io("writing", &self.path, &e)),
            None => Err(Error::new(ErrorKind::Internal, "write after close")),
        }
    }

    /// Flushes, fsyncs and renames over `dest`, then fsyncs the folder (Unix) so the rename is durable.
    fn commit(mut self, dest: &Path) -> Result<()> {
        if let Some(mut file) = self.file.take() {
            file.flush()
                .map_err(|e| Error::io("flushing", &self.path, &e))?;
            file.sync_all()
                .map_err(|e| Error::io("syncing", &self.path, &e))?;
        }
        std::fs::rename(&self.path, dest).map_err(|e| Error::io("renaming onto", dest, &e))?;
        self.committed = true;
        #[cfg(unix)]
        if let Some(dir) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.committed {
            drop(self.file.take());
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
