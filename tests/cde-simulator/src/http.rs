//! A small HTTP/1.1 server-side wire layer: request-head parsing, body reading, response writing
//! (including the deliberate transfer faults), percent-encoding helpers and a tiny raw client.
//!
//! Everything here works on bytes a client controls, so nothing in it may panic.

use std::borrow::Cow;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::Fault;

/// Largest request head (request line + headers) accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body accepted.
const MAX_BODY: usize = 1024 * 1024;
/// Size of the slices in which bodies are written.
const WRITE_SLICE: usize = 64 * 1024;
/// Data size of each chunk in a chunked body.
const CHUNK_SIZE: usize = 16 * 1024;
/// The buffer [`Source::Zeros`] is written from (never a whole virtual document).
static ZEROS: [u8; WRITE_SLICE] = [0; WRITE_SLICE];

/// A parsed request.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub method: String,
    /// The raw request target as it was on the wire.
    pub target: String,
    /// Raw path (before `?`), still percent-encoded.
    pub path: String,
    /// Raw query (after `?`), still percent-encoded.
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Decoded query parameters (form decoding: `+` is a space), in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        parse_query(self.query.as_deref().unwrap_or(""))
    }

    /// The percent-decoded path segments (without the leading empty one).
    pub fn segments(&self) -> Vec<String> {
        let p = self.path.strip_prefix('/').unwrap_or(&self.path);
        p.split('/').map(percent_decode).collect()
    }
}

/// Why no request could be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer closed, timed out or the socket failed before a full head arrived: answer nothing.
    Gone,
    /// The request was malformed: answer with this status and message, then close.
    Bad(u16, &'static str),
}

fn find_head_end(buf: &[u8]) -> Option<(usize, usize)> {
    // Returns (end of head, start of body).
    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
        return Some((i, i + 4));
    }
    buf.windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| (i, i + 2))
}

/// Reads one request (head and body) from the stream.
pub(crate) fn read_request(stream: &mut TcpStream) -> Result<Request, ReadError> {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut tmp = [0u8; 4096];
    let (head_end, body_start) = loop {
        if let Some(pos) = find_head_end(&buf) {
            break pos;
        }
        if buf.len() > MAX_HEAD {
            return Err(ReadError::Bad(431, "request head too large"));
        }
        match stream.read(&mut tmp) {
            Ok(0) => {
                return Err(if buf.iter().all(|b| b.is_ascii_whitespace()) {
                    ReadError::Gone
                } else {
                    ReadError::Bad(400, "incomplete request head")
                })
            }
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(ReadError::Gone),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    // Tolerate empty lines before the request line (RFC 9112 §2.2).
    let request_line = loop {
        match lines.next() {
            Some("") => continue,
            Some(l) => break l,
            None => return Err(ReadError::Bad(400, "missing request line")),
        }
    };
    let mut parts = request_line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) => (m, t, v),
        _ => return Err(ReadError::Bad(400, "malformed request line")),
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
        return Err(ReadError::Bad(400, "malformed method"));
    }
    if !version.starts_with("HTTP/1.") {
        return Err(ReadError::Bad(505, "only HTTP/1.x is supported"));
    }
    if target.is_empty() || target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(ReadError::Bad(400, "malformed request target"));
    }
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(ReadError::Bad(400, "malformed header line"));
        };
        if name.is_empty() || name.bytes().any(|b| b <= b' ') {
            return Err(ReadError::Bad(400, "malformed header name"));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }

    // Origin-form is the norm; accept absolute-form by dropping scheme and authority.
    let mut path_and_query = target;
    for scheme in ["http://", "https://"] {
        let is_absolute = target
            .get(..scheme.len())
            .map(|p| p.eq_ignore_ascii_case(scheme))
            .unwrap_or(false);
        if is_absolute {
            let after = target.get(scheme.len()..).unwrap_or("");
            path_and_query = after.find('/').and_then(|i| after.get(i..)).unwrap_or("/");
        }
    }
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (path_and_query.to_string(), None),
    };

    let mut req = Request {
        method: method.to_string(),
        target: target.to_string(),
        path,
        query,
        headers,
        body: Vec::new(),
    };

    let mut rest: Vec<u8> = buf
        .get(body_start..)
        .map(|s| s.to_vec())
        .unwrap_or_default();
    let chunked = req
        .header("Transfer-Encoding")
        .map(|v| v.to_ascii_lowercase().contains("chunked"))
        .unwrap_or(false);
    let content_length = match req.header("Content-Length") {
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => return Err(ReadError::Bad(400, "malformed Content-Length")),
        },
        None => None,
    };
    if (chunked || content_length.unwrap_or(0) > 0)
        && req
            .header("Expect")
            .map(|v| v.eq_ignore_ascii_case("100-continue"))
            .unwrap_or(false)
    {
        let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    if chunked {
        req.body = read_chunked_body(stream, rest)?;
    } else if let Some(n) = content_length {
        if n > MAX_BODY as u64 {
            return Err(ReadError::Bad(413, "request body too large"));
        }
        let n = n as usize;
        while rest.len() < n {
            match stream.read(&mut tmp) {
                Ok(0) => {
                    return Err(ReadError::Bad(
                        400,
                        "request body shorter than Content-Length",
                    ))
                }
                Ok(k) => rest.extend_from_slice(&tmp[..k]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Err(ReadError::Gone),
            }
        }
        rest.truncate(n);
        req.body = rest;
    }
    Ok(req)
}

fn read_chunked_body(stream: &mut TcpStream, mut buf: Vec<u8>) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    let mut pos = 0usize;
    let mut tmp = [0u8; 4096];
    // Makes sure buf[pos..] holds at least `need` bytes or a line end, reading more as needed.
    let mut fill = |buf: &mut Vec<u8>, pred: &dyn Fn(&[u8]) -> bool| -> Result<(), ReadError> {
        loop {
            if pred(buf) {
                return Ok(());
            }
            if buf.len() > MAX_BODY + MAX_HEAD {
                return Err(ReadError::Bad(413, "request body too large"));
            }
            match stream.read(&mut tmp) {
                Ok(0) => return Err(ReadError::Bad(400, "truncated chunked body")),
                Ok(k) => buf.extend_from_slice(&tmp[..k]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Err(ReadError::Gone),
            }
        }
    };
    loop {
        let p = pos;
        fill(&mut buf, &|b: &[u8]| {
            b.get(p..).map(|s| s.contains(&b'\n')).unwrap_or(false)
        })?;
        let line_end = buf[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| pos + i)
            .unwrap_or(pos);
        let line = String::from_utf8_lossy(&buf[pos..line_end]).into_owned();
        let size_txt = line
            .trim()
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        let size = usize::from_str_radix(&size_txt, 16)
            .map_err(|_| ReadError::Bad(400, "malformed chunk size"))?;
        pos = line_end + 1;
        if size == 0 {
            // Skip trailers up to the empty line.
            loop {
                let p = pos;
                fill(&mut buf, &|b: &[u8]| {
                    b.get(p..).map(|s| s.contains(&b'\n')).unwrap_or(false)
                })?;
                let end = buf[pos..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map(|i| pos + i)
                    .unwrap_or(pos);
                let blank = buf[pos..end].iter().all(|&b| b == b'\r');
                pos = end + 1;
                if blank {
                    return Ok(body);
                }
            }
        }
        if body.len().saturating_add(size) > MAX_BODY {
            return Err(ReadError::Bad(413, "request body too large"));
        }
        let need = pos + size;
        fill(&mut buf, &|b: &[u8]| b.len() >= need)?;
        body.extend_from_slice(&buf[pos..need]);
        pos = need;
        // Chunk data is followed by CRLF (tolerate a bare LF).
        let p = pos;
        fill(&mut buf, &|b: &[u8]| {
            b.get(p..).map(|s| s.contains(&b'\n')).unwrap_or(false)
        })?;
        let end = buf[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| pos + i)
            .unwrap_or(pos);
        pos = end + 1;
    }
}

/// Where a document's bytes come from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Source<'a> {
    /// These bytes.
    Slice(&'a [u8]),
    /// This many zero bytes, written from [`ZEROS`].
    Zeros(u64),
}

impl Source<'_> {
    pub fn len(&self) -> u64 {
        match self {
            Source::Slice(b) => b.len() as u64,
            Source::Zeros(n) => *n,
        }
    }

    /// Calls `each` with the bytes `[from, to)` (clamped to the length) in pieces of at most
    /// `piece` bytes, in order, until it returns `Ok(false)` or an error.
    fn for_each_piece(
        &self,
        from: u64,
        to: u64,
        piece: usize,
        mut each: impl FnMut(&[u8]) -> io::Result<bool>,
    ) -> io::Result<()> {
        let to = to.min(self.len());
        let from = from.min(to);
        match self {
            Source::Slice(b) => {
                // from <= to <= b.len(), so both fit in usize.
                let part = b.get(from as usize..to as usize).unwrap_or(&[]);
                for p in part.chunks(piece.max(1)) {
                    if !each(p)? {
                        break;
                    }
                }
            }
            Source::Zeros(_) => {
                let piece = piece.clamp(1, ZEROS.len()) as u64;
                let mut at = from;
                while at < to {
                    let n = (to - at).min(piece);
                    // n <= ZEROS.len().
                    if !each(&ZEROS[..n as usize])? {
                        break;
                    }
                    at += n;
                }
            }
        }
        Ok(())
    }

    /// Writes the bytes `[from, to)` in [`WRITE_SLICE`] pieces, then flushes.
    fn write_range(&self, out: &mut impl Write, from: u64, to: u64) -> io::Result<()> {
        self.for_each_piece(from, to, WRITE_SLICE, |p| out.write_all(p).map(|_| true))?;
        out.flush()
    }
}

/// What a response body is.
pub(crate) enum Body<'a> {
    /// A complete, Content-Length-framed body.
    Bytes(Vec<u8>),
    /// `Content-Length: bytes.len()`, but only the first `send` bytes are sent (all of them when
    /// `send >= bytes.len()`); the caller then closes.
    Framed {
        bytes: Cow<'a, [u8]>,
        send: usize,
        /// `Some(pause)`: one byte, then this pause, and so on (a server dripping its answer).
        drip: Option<Duration>,
    },
    /// A document's bytes, served as `application/octet-stream` (plus the response's headers)
    /// with the fault applied. Without a fault the bytes from `start` are sent with the response's
    /// status (200, or 206 with a `Content-Range` header); with one, `start` is ignored.
    Document {
        source: Source<'a>,
        start: u64,
        fault: Option<Fault>,
    },
}

/// A response to write.
pub(crate) struct Response<'a> {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body<'a>,
}

impl<'a> Response<'a> {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: Body::Bytes(body.into()),
        }
    }
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self::new(status, "application/json", value.to_string())
    }
    pub fn message(status: u16, msg: &str) -> Self {
        Self::json(status, &serde_json::json!({ "message": msg }))
    }
    pub fn html(status: u16, body: String) -> Self {
        Self::new(status, "text/html; charset=utf-8", body)
    }
    pub fn redirect(status: u16, location: &str) -> Self {
        let mut r = Self::new(
            status,
            "text/plain; charset=utf-8",
            format!("Redirecting to {location}\n"),
        );
        r.headers.push(("Location".into(), location.into()));
        r
    }
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// True when the connection must end with a TCP reset ([`Fault::ResetAfter`]).
    pub fn resets(&self) -> bool {
        matches!(
            self.body,
            Body::Document {
                fault: Some(Fault::ResetAfter(_)),
                ..
            }
        )
    }
}

/// Reason phrase for a status code.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

fn write_head(
    out: &mut impl Write,
    status: u16,
    headers: &[(String, String)],
    framing: &[(&str, String)],
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", status, reason(status));
    for (n, v) in headers {
        head.push_str(n);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    for (n, v) in framing {
        head.push_str(n);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str("Server: cde-simulator\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n");
    out.write_all(head.as_bytes())
}

fn write_slices(out: &mut impl Write, data: &[u8]) -> io::Result<()> {
    for slice in data.chunks(WRITE_SLICE) {
        out.write_all(slice)?;
    }
    out.flush()
}

/// Sleeps for `d`, waking early when `stop` is set.
fn interruptible_sleep(d: Duration, stop: &AtomicBool) {
    let end = Instant::now() + d;
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now >= end {
            break;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(25)));
    }
}

/// Writes the response. `head_only` is set for HEAD requests. Returns the status actually sent.
/// The caller closes the connection afterwards (every response is `Connection: close`).
pub(crate) fn write_response(
    out: &mut impl Write,
    resp: &Response<'_>,
    head_only: bool,
    stop: &AtomicBool,
) -> io::Result<u16> {
    match &resp.body {
        Body::Bytes(b) => {
            write_head(
                out,
                resp.status,
                &resp.headers,
                &[("Content-Length", b.len().to_string())],
            )?;
            if !head_only {
                write_slices(out, b)?;
            }
            out.flush()?;
            Ok(resp.status)
        }
        Body::Framed { bytes, send, drip } => {
            write_head(
                out,
                resp.status,
                &resp.headers,
                &[("Content-Length", bytes.len().to_string())],
            )?;
            let body = bytes.get(..*send).unwrap_or(bytes);
            match drip {
                _ if head_only => {}
                None => write_slices(out, body)?,
                Some(pause) => {
                    for b in body.iter() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        out.write_all(std::slice::from_ref(b))?;
                        out.flush()?;
                        interruptible_sleep(*pause, stop);
                    }
                }
            }
            out.flush()?;
            Ok(resp.status)
        }
        Body::Document {
            source,
            start,
            fault,
        } => {
            let mut headers = vec![(
                "Content-Type".to_string(),
                "application/octet-stream".to_string(),
            )];
            headers.extend(resp.headers.iter().cloned());
            if matches!(fault, Some(Fault::Gzip)) {
                headers.push(("Content-Encoding".to_string(), "gzip".to_string()));
            }
            let len = source.len();
            let full_length = [("Content-Length", len.to_string())];
            match fault {
                // FailFirst/TruncateFirst are resolved by the router (they reach here only once
                // their budget is used up); VirtualZeros is the source itself.
                None
                | Some(
                    Fault::FailFirst { .. } | Fault::TruncateFirst(_) | Fault::VirtualZeros(_),
                ) => {
                    let start = (*start).min(len);
                    write_head(
                        out,
                        resp.status,
                        &headers,
                        &[("Content-Length", (len - start).to_string())],
                    )?;
                    if !head_only {
                        source.write_range(out, start, len)?;
                    }
                    out.flush()?;
                    Ok(resp.status)
                }
                Some(fault) if head_only && !matches!(fault, Fault::Status(..)) => {
                    write_head(out, 200, &headers, &full_length)?;
                    out.flush()?;
                    Ok(200)
                }
                Some(Fault::TruncateAfter(n) | Fault::ResetAfter(n)) => {
                    write_head(out, 200, &headers, &full_length)?;
                    source.write_range(out, 0, *n as u64)?;
                    Ok(200)
                }
                Some(Fault::StallAfter(n, d)) => {
                    write_head(out, 200, &headers, &full_length)?;
                    source.write_range(out, 0, *n as u64)?;
                    interruptible_sleep(*d, stop);
                    Ok(200)
                }
                Some(Fault::ChunkedCutAfter(n)) => {
                    write_head(
                        out,
                        200,
                        &headers,
                        &[("Transfer-Encoding", "chunked".to_string())],
                    )?;
                    write_chunks(out, source, *n as u64)?;
                    out.flush()?;
                    Ok(200)
                }
                Some(Fault::Chunked) => {
                    write_head(
                        out,
                        200,
                        &headers,
                        &[("Transfer-Encoding", "chunked".to_string())],
                    )?;
                    write_chunks(out, source, len)?;
                    out.write_all(b"0\r\n\r\n")?;
                    out.flush()?;
                    Ok(200)
                }
                Some(Fault::Throttle(rate)) => {
                    write_head(out, 200, &headers, &full_length)?;
                    let started = Instant::now();
                    let mut sent = 0u64;
                    source.for_each_piece(0, len, 1024, |piece| {
                        if stop.load(Ordering::SeqCst) {
                            return Ok(false);
                        }
                        out.write_all(piece)?;
                        out.flush()?;
                        sent += piece.len() as u64;
                        let due = Duration::from_secs_f64(sent as f64 / (*rate).max(1) as f64);
                        let elapsed = started.elapsed();
                        if due > elapsed {
                            std::thread::sleep(due - elapsed);
                        }
                        Ok(true)
                    })?;
                    Ok(200)
                }
                Some(Fault::CloseDelimited) => {
                    write_head(out, 200, &headers, &[])?;
                    source.write_range(out, 0, len)?;
                    Ok(200)
                }
                Some(Fault::Gzip) => {
                    write_head(out, 200, &headers, &full_length)?;
                    source.write_range(out, 0, len)?;
                    Ok(200)
                }
                Some(Fault::Status(code, body)) => {
                    let headers = vec![(
                        "Content-Type".to_string(),
                        "text/plain; charset=utf-8".to_string(),
                    )];
                    write_head(
                        out,
                        *code,
                        &headers,
                        &[("Content-Length", body.len().to_string())],
                    )?;
                    if !head_only {
                        write_slices(out, body.as_bytes())?;
                    }
                    Ok(*code)
                }
            }
        }
    }
}

/// Writes the bytes `[0, end)` as complete chunks of [`CHUNK_SIZE`] (no terminating chunk).
fn write_chunks(out: &mut impl Write, source: &Source<'_>, end: u64) -> io::Result<()> {
    source.for_each_piece(0, end, CHUNK_SIZE, |chunk| {
        out.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
        out.write_all(chunk)?;
        out.write_all(b"\r\n")?;
        Ok(true)
    })
}

/// Ends a connection with a TCP reset: `SO_LINGER {on, 0}`, then close (no FIN, no draining).
/// Unsent data is discarded by the kernel; the peer's next read fails with `ECONNRESET`.
pub(crate) fn close_abortively(stream: TcpStream) {
    let mut stream = stream;
    let _ = stream.flush();
    if set_linger_zero(&stream).is_err() {
        // Without the option, a plain close is the best that can be done.
        let _ = stream.shutdown(Shutdown::Both);
    }
    drop(stream);
}

#[cfg(unix)]
#[allow(unsafe_code)]
fn set_linger_zero(stream: &TcpStream) -> io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the descriptor is an open socket owned by `stream`, which outlives the call, and
    // the option value points to an initialised `linger` whose exact size is passed.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast::<libc::c_void>(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(unix))]
fn set_linger_zero(_stream: &TcpStream) -> io::Result<()> {
    // Closing a socket without draining its unread input also resets on Windows; nothing more
    // portable is available without `unsafe` platform calls.
    Ok(())
}

/// Closes a connection gracefully: FIN (not RST), after draining what the peer still sends for a
/// short while so that unread input does not turn the close into a reset.
pub(crate) fn close_gracefully(stream: &mut TcpStream) {
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(300)));
    let mut tmp = [0u8; 8192];
    let mut total = 0usize;
    while total < 1024 * 1024 {
        match stream.read(&mut tmp) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
}

/// Percent-encodes everything except RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn decode_bytes(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(if plus_is_space && b == b'+' { b' ' } else { b });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-decodes once (invalid escapes are kept as they are, invalid UTF-8 becomes U+FFFD).
pub fn percent_decode(s: &str) -> String {
    decode_bytes(s, false)
}

/// Parses a raw query string with form decoding (`+` is a space), keeping order and duplicates.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode_bytes(k, true), decode_bytes(v, true)),
            None => (decode_bytes(p, true), String::new()),
        })
        .collect()
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A response read by the raw client.
#[derive(Debug, Clone)]
pub(crate) struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Tries to parse a complete response out of `buf`; `eof` says the peer has closed.
/// Ok(None) means "need more bytes".
fn try_parse_response(buf: &[u8], eof: bool) -> Result<Option<RawResponse>, String> {
    let Some((head_end, body_start)) = find_head_end(buf) else {
        return if eof {
            Err("connection closed before a complete response head".into())
        } else {
            Ok(None)
        };
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let status_line = lines.next().unwrap_or("");
    let mut sp = status_line.splitn(3, ' ');
    let version = sp.next().unwrap_or("");
    let status = sp.next().and_then(|s| s.parse::<u16>().ok());
    let Some(status) = status.filter(|_| version.starts_with("HTTP/1.")) else {
        return Err(format!("malformed status line {status_line:?}"));
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let resp_header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let data = &buf[body_start..];
    let no_body = (100..200).contains(&status) || status == 204 || status == 304;
    if no_body {
        return Ok(Some(RawResponse {
            status,
            headers,
            body: Vec::new(),
        }));
    }
    if resp_header("Transfer-Encoding")
        .map(|v| v.to_ascii_lowercase().contains("chunked"))
        .unwrap_or(false)
    {
        // Decode as far as possible.
        let mut body = Vec::new();
        let mut pos = 0usize;
        loop {
            let Some(nl) = data
                .get(pos..)
                .and_then(|s| s.iter().position(|&b| b == b'\n'))
            else {
                return if eof {
                    Err("chunked body cut short".into())
                } else {
                    Ok(None)
                };
            };
            let line = String::from_utf8_lossy(&data[pos..pos + nl]).into_owned();
            let size_txt = line
                .trim()
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            let size = usize::from_str_radix(&size_txt, 16)
                .map_err(|_| format!("malformed chunk size line {line:?}"))?;
            pos += nl + 1;
            if size == 0 {
                return Ok(Some(RawResponse {
                    status,
                    headers,
                    body,
                }));
            }
            if data.len() < pos.saturating_add(size).saturating_add(1) {
                return if eof {
                    Err("chunked body cut short".into())
                } else {
                    Ok(None)
                };
            }
            body.extend_from_slice(&data[pos..pos + size]);
            pos += size;
            match data
                .get(pos..)
                .and_then(|s| s.iter().position(|&b| b == b'\n'))
            {
                Some(i) => pos += i + 1,
                None => {
                    return if eof {
                        Err("chunked body cut short".into())
                    } else {
                        Ok(None)
                    }
                }
            }
        }
    }
    if let Some(cl) = resp_header("Content-Length") {
        let n: usize = cl
            .trim()
            .parse()
            .map_err(|_| format!("malformed Content-Length {cl:?}"))?;
        if data.len() >= n {
            return Ok(Some(RawResponse {
                status,
                headers,
                body: data[..n].to_vec(),
            }));
        }
        return if eof {
            Err(format!(
                "body shorter than Content-Length ({} of {n})",
                data.len()
            ))
        } else {
            Ok(None)
        };
    }
    if eof {
        Ok(Some(RawResponse {
            status,
            headers,
            body: data.to_vec(),
        }))
    } else {
        Ok(None)
    }
}

/// A minimal HTTP/1.1 GET over a fresh loopback connection (`Connection: close`), used to play the
/// browser. Refuses anything that does not resolve to a loopback address.
pub(crate) fn raw_get(url: &url::Url, headers: &[(&str, &str)]) -> Result<RawResponse, String> {
    raw_request("GET", url, headers, None)
}

/// Like [`raw_get`] with any method and, when `body` is `Some`, that body with `Content-Length`.
pub(crate) fn raw_request(
    method: &str,
    url: &url::Url,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<RawResponse, String> {
    if url.scheme() != "http" {
        return Err(format!("only http URLs can be browsed, got {url}"));
    }
    let host = url
        .host_str()
        .ok_or_else(|| format!("URL without host: {url}"))?;
    let addrs = url
        .socket_addrs(|| Some(80))
        .map_err(|e| format!("cannot resolve {url}: {e}"))?;
    let addr = addrs
        .into_iter()
        .find(|a| a.ip().is_loopback())
        .ok_or_else(|| format!("refusing to contact a non-loopback host: {url}"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
    let host_header = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let mut target = url.path().to_string();
    if let Some(q) = url.query() {
        target.push('?');
        target.push_str(q);
    }
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {host_header}\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("Connection: close\r\n\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body.unwrap_or(&[]));
    stream
        .write_all(&bytes)
        .map_err(|e| format!("cannot send request to {url}: {e}"))?;
    let mut buf = Vec::new();
    let mut tmp = [0u8; 16 * 1024];
    loop {
        if let Some(resp) = try_parse_response(&buf, false)? {
            return Ok(resp);
        }
        if buf.len() > 64 * 1024 * 1024 {
            return Err(format!("response from {url} too large"));
        }
        match stream.read(&mut tmp) {
            Ok(0) => {
                return try_parse_response(&buf, true)?
                    .ok_or_else(|| format!("incomplete response from {url}"))
            }
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("reading the response from {url} failed: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_all_reserved() {
        assert_eq!(
            percent_encode("http://127.0.0.1:1/a?b=c&d"),
            "http%3A%2F%2F127.0.0.1%3A1%2Fa%3Fb%3Dc%26d"
        );
        assert_eq!(percent_encode("ü ~"), "%C3%BC%20~");
    }

    #[test]
    fn decode_is_lenient() {
        assert_eq!(percent_decode("%41%zz%4"), "A%zz%4");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
        assert_eq!(
            parse_query("doc=a+b&doc=%2F&x&=&"),
            vec![
                ("doc".to_string(), "a b".to_string()),
                ("doc".to_string(), "/".to_string()),
                ("x".to_string(), String::new()),
                (String::new(), String::new()),
            ]
        );
    }

    #[test]
    fn zeros_are_streamed_in_bounded_pieces() {
        // 5 GB of virtual zeros: only the last 100 000 bytes are visited, from the fixed buffer.
        let source = Source::Zeros(5_000_000_000);
        assert_eq!(source.len(), 5_000_000_000);
        let (mut total, mut pieces) = (0u64, 0u32);
        source
            .for_each_piece(4_999_900_000, u64::MAX, WRITE_SLICE, |p| {
                assert!(p.len() <= WRITE_SLICE && p.iter().all(|&b| b == 0));
                total += p.len() as u64;
                pieces += 1;
                Ok(true)
            })
            .unwrap();
        assert_eq!((total, pieces), (100_000, 2));
        // Stopping early, and ranges past the end.
        let mut seen = 0;
        source
            .for_each_piece(0, 10_000_000, 1024, |_| {
                seen += 1;
                Ok(seen < 3)
            })
            .unwrap();
        assert_eq!(seen, 3);
        Source::Slice(b"abc")
            .for_each_piece(5, 2, 1, |_| panic!("nothing to visit"))
            .unwrap();
        let mut out = Vec::new();
        Source::Slice(b"abcdef")
            .write_range(&mut out, 2, 99)
            .unwrap();
        assert_eq!(out, b"cdef");
    }

    #[test]
    fn parse_chunked_and_lengths() {
        let r = try_parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.body, b"abc");
        assert!(
            try_parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", false)
                .unwrap()
                .is_none()
        );
        assert!(
            try_parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", true).is_err()
        );
        let r = try_parse_response(b"HTTP/1.1 200 OK\r\n\r\nuntil-close", true)
            .unwrap()
            .unwrap();
        assert_eq!(r.body, b"until-close");
    }
}
