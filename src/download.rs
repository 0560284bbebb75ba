//! Downloading one file: streamed into a temporary file beside the destination, checked against
//! the response framing, flushed and fsynced, then renamed over the destination. On any failure
//! the temporary file is removed and the destination is untouched.
//!
//! A transfer that breaks (connection reset, body cut short) is resumed up to the client's retry
//! count: `Range: bytes=<received>-` (with `If-Range` when the server gave a validator); the
//! bytes are appended only when the answer is a 206 whose `Content-Range` starts exactly there; a
//! 200 restarts from zero; anything else fails. Runs of zero bytes are skipped with a seek, so a
//! huge zero-filled file becomes a sparse file.

use crate::abort::AbortToken;
use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::http::{aborted, describe, ensure_success, map_io_error, parse_url, Answer, Method};
use crate::listener::random_hex;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use url::Url;

/// Size of one read from the network and one write to disk.
const CHUNK: usize = 256 * 1024;

/// What a finished download reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DownloadReport {
    /// Bytes in the file.
    pub bytes: u64,
    /// Transfers resumed (or restarted) after a break.
    pub resumed: u32,
    /// Things worth logging that did not fail the download (a declared size that differs from
    /// a complete, correctly framed transfer, a resume, ...).
    pub warnings: Vec<String>,
}

/// Progress callback: `(received, total)`; return `false` to abort.
pub type ProgressFn<'a> = &'a mut dyn FnMut(u64, Option<u64>) -> bool;

/// How one response frames its body.
struct Framing {
    /// Content-Length of this response (for a 206, of the part).
    content_length: Option<u64>,
    chunked: bool,
    /// Size of the whole file, if this response says (Content-Length of a 200, total of a 206).
    total: Option<u64>,
    /// For a 206: the bytes it says it carries (`end - start + 1` of its Content-Range).
    part_len: Option<u64>,
    /// Strong ETag or Last-Modified, for `If-Range` on a resume.
    validator: Option<String>,
}

/// Downloads `url` to `dest`. `expected_size` is the size the CDE declared, if any: it is the
/// total reported to `progress` when the server sends no Content-Length, and it decides
/// completeness only when the answer has no framing at all (close-delimited).
pub fn download_to_path(
    client: &Client,
    url: &str,
    dest: &Path,
    expected_size: Option<u64>,
    progress: ProgressFn<'_>,
    abort: &AbortToken,
) -> Result<DownloadReport> {
    let url = parse_url(url, "download URL")?;
    let (dir, name) = split_destination(dest)?;
    let max_resumes = client.retry_policy().max_retries;
    let mut report = DownloadReport::default();
    let mut part: Option<PartFile> = None;
    let mut received: u64 = 0;
    let mut validator: Option<String> = None;
    // The size of the whole file as the first answer framed it: every later part must agree.
    let mut file_total: Option<u64> = None;
    loop {
        if received > 0 && validator.is_none() {
            // Without a strong ETag or a Last-Modified, `If-Range` cannot guard the resume: the
            // file may have changed, and appending would splice two versions. Start again.
            report.warnings.push(format!(
                "{}: no ETag or Last-Modified to resume safely at byte {received}: restarting from zero",
                describe(&url)
            ));
            received = 0;
            if let Some(p) = part.as_mut() {
                p.restart()?;
            }
        }
        let range = (received > 0).then(|| format!("bytes={received}-"));
        let mut headers = vec![("Accept-Encoding", "identity"), ("Accept", "*/*")];
        if let Some(r) = &range {
            headers.push(("Range", r));
            if let Some(v) = &validator {
                headers.push(("If-Range", v));
            }
        }
        let mut answer = client.send(Method::Get, &url, &headers, abort)?;
        ensure_success(&mut answer, "download")?;
        let framing = check_answer(&answer, received)?;
        if received > 0 && answer.response.status().as_u16() == 200 {
            // The server ignored the Range (or the file changed): start again from zero.
            report.warnings.push(format!(
                "{}: the server restarted the transfer from zero instead of resuming at {received}",
                describe(&answer.url)
            ));
            received = 0;
            if let Some(p) = part.as_mut() {
                p.restart()?;
            }
        }
        validator = framing.validator.clone();
        if answer.response.status().as_u16() == 206 {
            check_part(&framing, received, file_total, &answer.url)?;
        } else {
            file_total = framing.total;
        }
        let total = framing.total.or(expected_size);
        let part = match part.as_mut() {
            Some(p) => p,
            None => part.insert(PartFile::create(&dir, &name)?),
        };
        if !progress(received, total) || abort.is_aborted() {
            return Err(aborted_download());
        }
        let final_url = answer.url.clone();
        let outcome = stream_body(answer, part, &mut received, total, progress, abort);
        match outcome {
            Ok(segment) => {
                check_completeness(&framing, segment, received, expected_size, &final_url)?;
                if let Some(whole) = file_total.filter(|t| *t != received) {
                    return Err(Error::new(
                        ErrorKind::Integrity,
                        format!(
                            "{}: the file has {whole} bytes, the transfer ended at {received}",
                            describe(&final_url)
                        ),
                    ));
                }
                if let Some(expected) = expected_size.filter(|e| *e != received) {
                    report.warnings.push(format!(
                        "{}: the CDE declared {expected} bytes, the complete transfer had {received}",
                        describe(&final_url)
                    ));
                }
                break;
            }
            Err(e) if is_resumable(&e) && report.resumed < max_resumes => {
                report.resumed += 1;
                report
                    .warnings
                    .push(format!("{} (resuming at byte {received})", e.message));
                let delay = client.retry_policy().delay(report.resumed - 1, None);
                if !abort.sleep(delay) {
                    return Err(aborted_download());
                }
            }
            Err(e) => return Err(e),
        }
    }
    report.bytes = received;
    match part {
        Some(p) => p.commit(dest, received)?,
        None => {
            return Err(Error::new(
                ErrorKind::Internal,
                "download finished without a file",
            ))
        }
    }
    Ok(report)
}

/// Reads the answer's headers: refuses encodings, checks a 206 against the resume point.
fn check_answer(answer: &Answer, received: u64) -> Result<Framing> {
    let headers = answer.response.headers();
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(enc) = text("content-encoding").map(str::to_ascii_lowercase) {
        if !enc.is_empty() && enc != "identity" {
            // We asked for identity. Decoding would change the bytes the CDE stored; keeping them
            // would write a compressed file under the model's name. Refuse instead.
            return Err(Error::new(
                ErrorKind::Protocol,
                format!(
                    "{} sent Content-Encoding \"{enc}\" although identity was requested",
                    describe(&answer.url)
                ),
            ));
        }
    }
    let content_length = text("content-length").and_then(|v| v.parse::<u64>().ok());
    let chunked =
        text("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let validator = text("etag")
        .filter(|e| !e.starts_with("W/"))
        .or_else(|| text("last-modified"))
        .map(str::to_string);
    let status = answer.response.status().as_u16();
    let mut part_len = None;
    let total = if status == 206 {
        let range = text("content-range").unwrap_or("");
        let (start, end, total) = parse_content_range(range).ok_or_else(|| {
            Error::new(
                ErrorKind::Protocol,
                format!(
                    "{}: 206 with an unusable Content-Range \"{range}\"",
                    describe(&answer.url)
                ),
            )
            .with_status(206)
        })?;
        if start != received || received == 0 {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!(
                    "{}: asked to resume at byte {received}, the server sent Content-Range \"{range}\"",
                    describe(&answer.url)
                ),
            )
            .with_status(206));
        }
        part_len = Some(end - start + 1);
        total
    } else if status == 200 {
        content_length
    } else {
        return Err(Error::new(
            ErrorKind::Http,
            format!(
                "download: {} answered HTTP {status} instead of the file",
                describe(&answer.url)
            ),
        )
        .with_status(status));
    };
    Ok(Framing {
        content_length,
        chunked,
        total,
        part_len,
        validator,
    })
}

/// `bytes START-END/TOTAL` → (START, END, TOTAL if known); `None` if END < START or END is
/// not below a known TOTAL.
fn parse_content_range(value: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (start, end) = span.split_once('-')?;
    let (start, end): (u64, u64) = (start.trim().parse().ok()?, end.trim().parse().ok()?);
    let total: Option<u64> = total.trim().parse().ok();
    if end < start || total.is_some_and(|t| end >= t) {
        return None;
    }
    Some((start, end, total))
}

/// A 206 answering `Range: bytes=N-` must carry the rest of the same file: from N (checked in
/// [`check_answer`]) to its last byte, with a total equal to the first answer's, and a
/// Content-Length equal to its range.
fn check_part(f: &Framing, received: u64, file_total: Option<u64>, url: &Url) -> Result<()> {
    let refuse = |what: String| {
        Err(Error::new(ErrorKind::Protocol, format!("{}: {what}", describe(url))).with_status(206))
    };
    let part_len = f.part_len.unwrap_or(0);
    if let (Some(before), Some(now)) = (file_total, f.total) {
        if before != now {
            return refuse(format!(
                "the resumed part belongs to a file of {now} bytes, the first answer had {before}"
            ));
        }
    }
    if let Some(total) = f.total.or(file_total) {
        if received + part_len != total {
            return refuse(format!(
                "asked for bytes {received} to the end of {total}, the part holds only {part_len}"
            ));
        }
    }
    if f.content_length.is_some_and(|l| l != part_len) {
        return refuse(format!(
            "Content-Length {} differs from the Content-Range's {part_len} bytes",
            f.content_length.unwrap_or(0)
        ));
    }
    Ok(())
}

/// Copies the body into `part`; returns the bytes of this response.
fn stream_body(
    answer: Answer,
    part: &mut PartFile,
    received: &mut u64,
    total: Option<u64>,
    progress: ProgressFn<'_>,
    abort: &AbortToken,
) -> Result<u64> {
    let url = answer.url;
    let mut reader = answer.response.into_body().into_reader();
    let mut buf = vec![0u8; CHUNK];
    let mut segment: u64 = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(segment),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(
                    map_io_error(&e, &url).context(format!("downloading after {received} bytes"))
                )
            }
        };
        part.write(&buf[..n])?;
        *received += n as u64;
        segment += n as u64;
        if !progress(*received, total) || abort.is_aborted() {
            return Err(aborted_download());
        }
    }
}

/// The framing rules: Content-Length must match exactly; without any framing, the expected size
/// decides.
fn check_completeness(
    f: &Framing,
    segment: u64,
    received: u64,
    expected: Option<u64>,
    url: &Url,
) -> Result<()> {
    match (f.content_length, f.chunked, expected) {
        (Some(declared), _, _) if declared != segment => Err(Error::new(
            ErrorKind::Integrity,
            format!(
                "{}: received {segment} bytes, Content-Length said {declared}",
                describe(url)
            ),
        )),
        (None, false, Some(expected)) if expected != received => Err(Error::new(
            ErrorKind::Integrity,
            format!(
                "{}: received {received} bytes without framing, the CDE declared {expected}",
                describe(url)
            ),
        )),
        _ => Ok(()),
    }
}

/// Breaks worth resuming: the connection failed or the body was cut short. Not timeouts (a
/// stalled server is reported, not waited for again), not protocol or local errors.
fn is_resumable(e: &Error) -> bool {
    matches!(e.kind, ErrorKind::Network | ErrorKind::Integrity)
}

fn aborted_download() -> Error {
    let mut e = aborted();
    e.message = "download aborted by the host (progress callback or abort)".into();
    e
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
    /// Bytes appended so far (the file offset).
    offset: u64,
    /// Start of the first window whose write-back has not been started yet.
    writeback_from: u64,
}

/// Write-back window: every time this much has been appended, the kernel is asked to start
/// writing it to disk, and the window before it is waited for. The disk then works while the
/// network delivers, instead of flushing the whole file in the final fsync (which cost 60% of
/// a 1 GiB download before), and dirty memory stays bounded.
#[cfg(target_os = "linux")]
const WRITEBACK_WINDOW: u64 = 8 * 1024 * 1024;

impl PartFile {
    fn create(dir: &Path, name: &str) -> Result<Self> {
        // Hidden, unique, and recognisable as ours: ".<name>.<random>.ocde-part".
        // At most 80 bytes of the name (on a character boundary): with the decoration the temp
        // name stays far below the 255-byte limit, whatever script the name is in.
        let short = crate::filename::prefix_within(name, 80);
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
            offset: 0,
            writeback_from: 0,
        })
    }

    fn file(&mut self) -> Result<&mut File> {
        self.file
            .as_mut()
            .ok_or_else(|| Error::new(ErrorKind::Internal, "temporary file already closed"))
    }

    /// Appends `bytes`; a chunk of zeros is skipped with a seek (a sparse hole, sized at commit).
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| Error::new(ErrorKind::Internal, "temporary file already closed"))?;
        let result = if bytes.iter().all(|b| *b == 0) {
            file.seek(SeekFrom::Current(bytes.len() as i64)).map(|_| ())
        } else {
            file.write_all(bytes)
        };
        result.map_err(|e| Error::io("writing", &self.path, &e))?;
        self.offset += bytes.len() as u64;
        self.start_writeback();
        Ok(())
    }

    /// Starts write-back of every full window appended so far and waits for the one before it
    /// (Linux `sync_file_range`; elsewhere the final fsync does all the work).
    #[cfg(target_os = "linux")]
    fn start_writeback(&mut self) {
        use std::os::unix::io::AsRawFd;
        let Some(file) = self.file.as_ref() else {
            return;
        };
        let fd = file.as_raw_fd();
        while self.offset - self.writeback_from >= WRITEBACK_WINDOW {
            let start = self.writeback_from;
            // SAFETY: `fd` is the open temporary file; sync_file_range only reads the arguments.
            // A failure (e.g. a file system without support) only loses the optimisation.
            unsafe {
                if start >= WRITEBACK_WINDOW {
                    let wait = libc::SYNC_FILE_RANGE_WAIT_BEFORE
                        | libc::SYNC_FILE_RANGE_WRITE
                        | libc::SYNC_FILE_RANGE_WAIT_AFTER;
                    libc::sync_file_range(
                        fd,
                        (start - WRITEBACK_WINDOW) as i64,
                        WRITEBACK_WINDOW as i64,
                        wait,
                    );
                }
                libc::sync_file_range(
                    fd,
                    start as i64,
                    WRITEBACK_WINDOW as i64,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
            self.writeback_from += WRITEBACK_WINDOW;
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn start_writeback(&mut self) {}

    /// Empties the file for a transfer that starts again from zero.
    fn restart(&mut self) -> Result<()> {
        self.offset = 0;
        self.writeback_from = 0;
        let path = self.path.clone();
        let file = self.file()?;
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)).map(|_| ()))
            .map_err(|e| Error::io("truncating", &path, &e))
    }

    /// Sizes the file to `len` (materialising a trailing hole), flushes, fsyncs and renames over
    /// `dest`, then fsyncs the folder (Unix) so the rename is durable.
    fn commit(mut self, dest: &Path, len: u64) -> Result<()> {
        if let Some(mut file) = self.file.take() {
            let path = &self.path;
            // A trailing run of zeros was skipped with a seek: give the file its length (only
            // then: a needless truncate would dirty the inode once more before the fsync).
            if file.metadata().map(|m| m.len()).ok() != Some(len) {
                file.set_len(len)
                    .map_err(|e| Error::io("sizing", path, &e))?;
            }
            file.flush().map_err(|e| Error::io("flushing", path, &e))?;
            file.sync_all()
                .map_err(|e| Error::io("syncing", path, &e))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn framing(content_length: Option<u64>, chunked: bool) -> Framing {
        Framing {
            content_length,
            chunked,
            total: content_length,
            part_len: None,
            validator: None,
        }
    }

    #[test]
    fn completeness_rules() {
        let u = Url::parse("http://127.0.0.1:1/x").unwrap();
        let kind = |r: Result<()>| r.err().map(|e| e.kind);
        // Content-Length decides, whatever the CDE declared.
        assert_eq!(
            kind(check_completeness(
                &framing(Some(10), false),
                9,
                9,
                None,
                &u
            )),
            Some(ErrorKind::Integrity)
        );
        assert_eq!(
            kind(check_completeness(
                &framing(Some(10), false),
                10,
                10,
                Some(99),
                &u
            )),
            None
        );
        // Chunked framing is complete by itself.
        assert_eq!(
            kind(check_completeness(&framing(None, true), 5, 5, Some(99), &u)),
            None
        );
        // Without framing the declared size decides; without either, what came is the file.
        assert_eq!(
            kind(check_completeness(&framing(None, false), 5, 5, Some(6), &u)),
            Some(ErrorKind::Integrity)
        );
        assert_eq!(
            kind(check_completeness(&framing(None, false), 6, 6, Some(6), &u)),
            None
        );
        assert_eq!(
            kind(check_completeness(&framing(None, false), 6, 6, None, &u)),
            None
        );
        // A resumed 206 part is checked against its own length.
        assert_eq!(
            kind(check_completeness(
                &framing(Some(4), false),
                4,
                10,
                None,
                &u
            )),
            None
        );
    }

    #[test]
    fn content_range_is_parsed_strictly() {
        assert_eq!(
            parse_content_range("bytes 100-199/200"),
            Some((100, 199, Some(200)))
        );
        assert_eq!(
            parse_content_range("bytes 100-199/*"),
            Some((100, 199, None))
        );
        assert_eq!(
            parse_content_range("bytes 100-200/200"),
            None,
            "end beyond the total"
        );
        assert_eq!(parse_content_range("bytes 200-100/300"), None);
        assert_eq!(parse_content_range("items 1-2/3"), None);
        assert_eq!(parse_content_range(""), None);
    }
}
