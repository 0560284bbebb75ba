//! The loopback callback listener: where the user's browser lands after the selection.
//!
//! It binds `127.0.0.1` only, on an ephemeral port unless one is configured, and answers only
//! `GET` on an unguessable path (128 random bits) with a `Host` of `127.0.0.1:PORT` or
//! `localhost:PORT`. A background thread answers every request at once (so a browser never waits
//! for the host to poll) and records the first valid callback; [`CallbackListener::wait`] blocks
//! on a condition variable, so waiting costs no CPU. The thread never calls into the host.
//!
//! It is written on `std::net` rather than tiny_http: tiny_http cannot close a connection after
//! answering (it drops a `Connection` response header and keeps keep-alive sockets in its pool
//! with no read timeout), so one local process could pin its threads forever and a browser's
//! kept-alive connection could outlive the flow. Here every connection gets one answer, a read
//! timeout, `Connection: close`, and is closed; and stopping joins the accept thread, so the port
//! is free when [`CallbackListener::stop`] returns.

use crate::error::{Error, ErrorKind, Result};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the browser told us.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// `selected_documents_url` (or the older `selected_url`), decoded once.
    Selected(String),
    /// `user_cancelled_selection=true`.
    Cancelled,
    /// OAuth2 redirect with `code` (and the expected `state`).
    Authorized(String),
    /// OAuth2 redirect with `error` (e.g. `access_denied`) and the expected `state`.
    Denied(String),
}

/// What a listener waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallbackKind {
    /// The Documents API selection callback.
    Selection,
    /// An OAuth2 authorization-code redirect carrying this `state`.
    OAuth {
        /// The random `state` sent in the authorization request; any other is refused.
        state: String,
    },
}

/// Why [`CallbackListener::wait`] returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitResult {
    /// The callback arrived.
    Callback(CallbackOutcome),
    /// [`CallbackListener::abort`] was called.
    Aborted,
    /// The deadline passed.
    Expired,
    /// The timeout passed; nothing happened yet.
    TimedOut,
    /// The listener thread failed (a bug caught as a panic); no callback can arrive any more.
    Failed(String),
}

#[derive(Default)]
struct State {
    outcome: Option<CallbackOutcome>,
    aborted: bool,
    stopping: bool,
    failed: Option<String>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere; the state itself stays consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running callback listener. Dropping it stops the listener and frees the port.
pub struct CallbackListener {
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    addr: SocketAddr,
    path: String,
}

/// Longest request head read (request line plus headers).
const MAX_HEAD: usize = 16 * 1024;
/// How long a connection may take to send its request head.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections handled at once; more are closed unanswered (a flood must not exhaust threads).
const MAX_CONNECTIONS: usize = 32;

impl CallbackListener {
    /// Binds `127.0.0.1:port` (0: an ephemeral port) and starts answering selection callbacks.
    pub fn bind(port: u16) -> Result<Self> {
        Self::bind_for(port, CallbackKind::Selection)
    }

    /// Binds `127.0.0.1:port` (0: an ephemeral port) and starts answering callbacks of `kind`.
    pub fn bind_for(port: u16, kind: CallbackKind) -> Result<Self> {
        let socket = TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot listen for the callback on 127.0.0.1:{port}: {e}"),
            )
        })?;
        let addr = socket
            .local_addr()
            .map_err(|e| Error::new(ErrorKind::Io, format!("callback listener address: {e}")))?;
        let path = format!("/{}", random_hex(16)?);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let thread = {
            let (shared, path) = (shared.clone(), path.clone());
            std::thread::Builder::new()
                .name("ocde-listen".into())
                .spawn(move || {
                    // A bug here must not print or vanish: the waiting host is told at once.
                    let caught = crate::panic_guard::catch(|| {
                        accept_loop(socket, &shared, &path, addr.port(), &kind)
                    });
                    if let Err(panic) = caught {
                        shared.lock().failed = Some(panic);
                        shared.changed.notify_all();
                    }
                })
                .map_err(|e| {
                    Error::new(
                        ErrorKind::Internal,
                        format!("cannot start the listener thread: {e}"),
                    )
                })?
        };
        Ok(CallbackListener {
            thread: Some(thread),
            shared,
            addr,
            path,
        })
    }

    /// The URL to give the CDE: `http://127.0.0.1:PORT/<32 hex digits>`, with no query.
    pub fn callback_url(&self) -> String {
        format!("http://127.0.0.1:{}{}", self.addr.port(), self.path)
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Blocks until the callback arrives, `abort` is called, `deadline` passes, or `timeout` passes.
    /// A recorded callback wins over an abort or an expiry that came after it.
    pub fn wait(&self, timeout: Duration, deadline: Instant) -> WaitResult {
        let until = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if let Some(outcome) = &state.outcome {
                return WaitResult::Callback(outcome.clone());
            }
            if state.aborted {
                return WaitResult::Aborted;
            }
            if let Some(panic) = &state.failed {
                return WaitResult::Failed(panic.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return WaitResult::Expired;
            }
            if now >= until {
                return WaitResult::TimedOut;
            }
            let wake = until.min(deadline) - now;
            state = self
                .shared
                .changed
                .wait_timeout(state, wake)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Wakes every [`wait`](Self::wait) with [`WaitResult::Aborted`]; safe from any thread.
    pub fn abort(&self) {
        (self.abort_handle())()
    }

    /// A function doing [`abort`](Self::abort) that can be moved to another thread and outlive
    /// the listener.
    pub fn abort_handle(&self) -> impl Fn() + Send + Sync + 'static {
        let shared = self.shared.clone();
        move || {
            shared.lock().aborted = true;
            shared.changed.notify_all();
        }
    }

    /// Whether [`abort`](Self::abort) was called.
    pub fn is_aborted(&self) -> bool {
        self.shared.lock().aborted
    }

    /// Stops answering and closes the listening socket before returning (the port is free).
    /// Idempotent; [`wait`](Self::wait) and [`abort`](Self::abort) keep working afterwards.
    pub fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.shared.lock().stopping = true;
        // Wake the blocking accept(); the loop sees `stopping` and returns, dropping the socket.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        let _ = thread.join();
    }
}

impl Drop for CallbackListener {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(
    socket: TcpListener,
    shared: &Arc<Shared>,
    path: &str,
    port: u16,
    kind: &CallbackKind,
) {
    // Connection threads are joined before this returns, so that no thread of ours outlives
    // `stop()` (a host may unload the library right after freeing the selection).
    let mut connections: Vec<(TcpStream, JoinHandle<()>)> = Vec::new();
    for stream in socket.incoming() {
        if shared.lock().stopping {
            break;
        }
        connections.retain(|(_, t)| !t.is_finished());
        let Ok(stream) = stream else {
            // A failed accept (e.g. out of descriptors): don't spin.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        if connections.len() >= MAX_CONNECTIONS {
            continue; // dropped: closed unanswered; a flood must not exhaust threads
        }
        let Ok(handle) = stream.try_clone() else {
            continue;
        };
        let (shared, path, kind) = (shared.clone(), path.to_string(), kind.clone());
        let spawned = std::thread::Builder::new()
            .name("ocde-conn".into())
            .spawn(move || {
                // A bug in answering one connection costs that connection only.
                let _ = crate::panic_guard::catch(|| {
                    handle_connection(stream, &shared, &path, port, &kind)
                });
            });
        match spawned {
            Ok(thread) => connections.push((handle, thread)),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    drop(socket); // the port is free from here on
    for (stream, thread) in connections {
        // Wakes a connection blocked in read (a browser's idle pre-connect, a slow client), but
        // lets one that is writing its answer finish: shutting down both directions here could
        // cut the page of the very callback that ended the wait (the browser would show an
        // empty response). Writes are bounded by the connection timeout.
        let _ = stream.shutdown(Shutdown::Read);
        let _ = thread.join();
    }
}

/// The decision for one request, separated from I/O so it can be unit-tested.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A valid callback.
    Accept(CallbackOutcome),
    /// Refused with this status and reason.
    Refuse(u16, &'static str),
}

/// Judges one request: method, `Host`, exact path, then the query.
pub fn judge(method: &str, target: &str, host: Option<&str>, path: &str, port: u16) -> Verdict {
    judge_for(&CallbackKind::Selection, method, target, host, path, port)
}

/// Judges one request for a listener waiting for `kind`.
pub fn judge_for(
    kind: &CallbackKind,
    method: &str,
    target: &str,
    host: Option<&str>,
    path: &str,
    port: u16,
) -> Verdict {
    if method != "GET" {
        return Verdict::Refuse(405, "Method Not Allowed");
    }
    let host_ok = host.is_some_and(|h| {
        let h = h.trim().to_ascii_lowercase();
        h == format!("127.0.0.1:{port}") || h == format!("localhost:{port}")
    });
    if !host_ok {
        return Verdict::Refuse(400, "Bad Request");
    }
    let (req_path, query) = target.split_once('?').unwrap_or((target, ""));
    if req_path != path {
        return Verdict::Refuse(404, "Not Found");
    }
    let outcome = match kind {
        CallbackKind::Selection => parse_callback_query(query),
        CallbackKind::OAuth { state } => parse_oauth_query(query, state),
    };
    match outcome {
        Some(outcome) => Verdict::Accept(outcome),
        None => Verdict::Refuse(400, "Bad Request"),
    }
}

/// Reads an OAuth2 redirect query: `code` (or `error`) with exactly the expected `state`; any
/// other state, or neither member, is refused (`None`).
pub fn parse_oauth_query(query: &str, expected_state: &str) -> Option<CallbackOutcome> {
    let (mut state, mut code, mut error) = (None, None, None);
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "state" => state = Some(value.into_owned()),
            "code" if !value.is_empty() => code = Some(value.into_owned()),
            "error" if !value.is_empty() => error = Some(value.into_owned()),
            _ => {}
        }
    }
    if state.as_deref() != Some(expected_state) {
        return None;
    }
    code.map(CallbackOutcome::Authorized)
        .or_else(|| error.map(CallbackOutcome::Denied))
}

/// Reads the callback query as `application/x-www-form-urlencoded` (split first, then decode each
/// value once, `+` is a space). Accepts `selected_documents_url`, the older `selected_url`, and
/// `user_cancelled_selection=true`. If none is found, the query is read again with `?` as a
/// separator too, for the server that appends `?selected_documents_url=` after an existing query.
pub fn parse_callback_query(query: &str) -> Option<CallbackOutcome> {
    find_outcome(query).or_else(|| {
        query
            .contains('?')
            .then(|| find_outcome(&query.replace('?', "&")))
            .flatten()
    })
}

fn find_outcome(query: &str) -> Option<CallbackOutcome> {
    let mut selected = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "user_cancelled_selection" if value.eq_ignore_ascii_case("true") => {
                return Some(CallbackOutcome::Cancelled)
            }
            "selected_documents_url" if !value.is_empty() => selected = Some(value.into_owned()),
            "selected_url" if !value.is_empty() && selected.is_none() => {
                selected = Some(value.into_owned())
            }
            _ => {}
        }
    }
    selected.map(CallbackOutcome::Selected)
}

/// A parsed request head.
#[derive(Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// The method as sent (case-sensitive).
    pub method: String,
    /// The raw request target (path and query, not decoded).
    pub target: String,
    /// The `Host` header, trimmed.
    pub host: Option<String>,
}

/// Parses a request head (the bytes before the blank line): request line and headers.
/// Anything that is not `METHOD TARGET HTTP/1.x` in UTF-8 is `None`.
pub fn parse_head(head: &[u8]) -> Option<RequestHead> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let mut parts = lines.next()?.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if method.is_empty()
        || target.is_empty()
        || !version.starts_with("HTTP/1.")
        || parts.next().is_some()
    {
        return None;
    }
    let host = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("host"))
        .map(|(_, value)| value.trim().to_string());
    Some(RequestHead {
        // Methods are case-sensitive (RFC 9110): "get" is not GET.
        method: method.to_string(),
        target: target.to_string(),
        host,
    })
}

/// Judges a raw request (head and blank line, as read from the socket); `None` when it is not
/// a parseable HTTP/1.x request (answered 400).
pub fn judge_raw(request: &[u8], path: &str, port: u16) -> Option<Verdict> {
    let end = request.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = parse_head(&request[..end])?;
    Some(judge(
        &head.method,
        &head.target,
        head.host.as_deref(),
        path,
        port,
    ))
}

/// Reads one request head (up to [`MAX_HEAD`] bytes, within [`CONNECTION_TIMEOUT`]).
/// `Ok(None)`: the peer closed (or went silent) before sending a byte — nothing to answer.
/// `Err(())`: something came that is not a request head — answered 400.
/// Reads the request head within [`CONNECTION_TIMEOUT`] in all (not per read: a client sending
/// a byte every few seconds must not hold one of the [`MAX_CONNECTIONS`] slots for hours).
fn read_head(stream: &mut TcpStream) -> std::result::Result<Option<RequestHead>, ()> {
    let deadline = Instant::now() + CONNECTION_TIMEOUT;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return if buf.is_empty() { Ok(None) } else { Err(()) };
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) if buf.is_empty() => return Ok(None),
            Ok(0) | Err(_) => return Err(()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    parse_head(&buf[..end]).map(Some).ok_or(())
}

fn handle_connection(
    mut stream: TcpStream,
    shared: &Shared,
    path: &str,
    port: u16,
    kind: &CallbackKind,
) {
    let _ = stream.set_read_timeout(Some(CONNECTION_TIMEOUT));
    let _ = stream.set_write_timeout(Some(CONNECTION_TIMEOUT));
    let head = match read_head(&mut stream) {
        Ok(Some(head)) => head,
        // An idle connection (a browser's pre-connect) that closed, or that `stop` shut down.
        Ok(None) => return,
        Err(()) => {
            respond(
                &mut stream,
                400,
                "Bad Request",
                "text/plain; charset=utf-8",
                b"Bad Request",
                false,
            );
            return;
        }
    };
    let head_only = head.method == "HEAD";
    match judge_for(
        kind,
        &head.method,
        &head.target,
        head.host.as_deref(),
        path,
        port,
    ) {
        Verdict::Accept(outcome) => {
            let page_for = {
                let mut state = shared.lock();
                if state.outcome.is_none() && !state.aborted {
                    state.outcome = Some(outcome);
                    shared.changed.notify_all();
                }
                // Whatever was recorded first decides the page (a reload shows the same answer).
                state.outcome.clone()
            };
            let body = match page_for {
                Some(CallbackOutcome::Cancelled) => CANCELLED_PAGE,
                Some(CallbackOutcome::Selected(_)) => RECEIVED_PAGE,
                Some(CallbackOutcome::Authorized(_)) => SIGNED_IN_PAGE,
                Some(CallbackOutcome::Denied(_)) => SIGN_IN_DENIED_PAGE,
                None => ABORTED_PAGE,
            };
            respond(
                &mut stream,
                200,
                "OK",
                "text/html; charset=utf-8",
                body.as_bytes(),
                head_only,
            );
        }
        Verdict::Refuse(status, reason) => {
            respond(
                &mut stream,
                status,
                reason,
                "text/plain; charset=utf-8",
                reason.as_bytes(),
                head_only,
            );
        }
    }
}

/// Writes one complete answer with `Connection: close`, then closes our side.
fn respond(
    stream: &mut TcpStream,
    status: u16,
    reason: &str,
    content_type: &str,
    body: &[u8],
    head_only: bool,
) {
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n\
         X-Content-Type-Options: nosniff\r\nAccess-Control-Allow-Origin: *\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    if !head_only {
        let _ = stream.write_all(body);
    }
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
}

const RECEIVED_PAGE: &str =
    "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Selection received</title></head>\
<body><h1>Selection received</h1><p id=\"ocde-result\">Your selection reached the application. \
You can close this tab.</p></body></html>";
const SIGNED_IN_PAGE: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Signed in</title></head>\
<body><h1>Signed in</h1><p id=\"ocde-result\">The application is now signed in. You can close this tab.</p></body></html>";
const SIGN_IN_DENIED_PAGE: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Sign-in cancelled</title></head>\
<body><h1>Sign-in cancelled</h1><p id=\"ocde-result\">The application was told that sign-in was cancelled. \
You can close this tab.</p></body></html>";
const CANCELLED_PAGE: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Selection cancelled</title></head>\
<body><h1>Selection cancelled</h1><p id=\"ocde-result\">The application was told that you cancelled. \
You can close this tab.</p></body></html>";
const ABORTED_PAGE: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Selection no longer awaited</title></head>\
<body><h1>Selection no longer awaited</h1><p id=\"ocde-result\">The application stopped waiting for this selection. \
You can close this tab.</p></body></html>";

/// `bytes` random bytes from the OS, as lowercase hex.
pub fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf).map_err(|e| {
        Error::new(
            ErrorKind::Internal,
            format!("no randomness from the OS: {e}"),
        )
    })?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "/0123456789abcdef0123456789abcdef";

    #[test]
    fn only_get_on_the_exact_path_with_a_loopback_host() {
        let ok = "/0123456789abcdef0123456789abcdef?selected_documents_url=http%3A%2F%2Fh%2Fs";
        assert!(matches!(
            judge("GET", ok, Some("127.0.0.1:5"), P, 5),
            Verdict::Accept(_)
        ));
        assert!(matches!(
            judge("GET", ok, Some("LocalHost:5"), P, 5),
            Verdict::Accept(_)
        ));
        assert_eq!(
            judge("POST", ok, Some("127.0.0.1:5"), P, 5),
            Verdict::Refuse(405, "Method Not Allowed")
        );
        assert_eq!(
            judge("HEAD", ok, Some("127.0.0.1:5"), P, 5),
            Verdict::Refuse(405, "Method Not Allowed")
        );
        assert_eq!(
            judge("GET", ok, Some("evil.example:5"), P, 5),
            Verdict::Refuse(400, "Bad Request")
        );
        assert_eq!(
            judge("GET", ok, Some("127.0.0.1:6"), P, 5),
            Verdict::Refuse(400, "Bad Request")
        );
        assert_eq!(
            judge("GET", ok, None, P, 5),
            Verdict::Refuse(400, "Bad Request")
        );
        assert_eq!(
            judge("GET", "/favicon.ico", Some("127.0.0.1:5"), P, 5),
            Verdict::Refuse(404, "Not Found")
        );
        assert_eq!(
            judge("GET", &ok[..20], Some("127.0.0.1:5"), P, 5),
            Verdict::Refuse(404, "Not Found")
        );
        assert_eq!(
            judge("GET", P, Some("127.0.0.1:5"), P, 5),
            Verdict::Refuse(400, "Bad Request")
        );
    }

    #[test]
    fn query_is_split_then_decoded_once() {
        // %2526 is "%26" after one decode: must not become "&".
        let q = "selected_documents_url=http%3A%2F%2Fh%2Fsel%3Fa%3D1%26b%3D2%2526+x";
        assert_eq!(
            parse_callback_query(q),
            Some(CallbackOutcome::Selected(
                "http://h/sel?a=1&b=2%26 x".into()
            ))
        );
    }

    #[test]
    fn legacy_name_cancel_and_second_question_mark() {
        assert_eq!(
            parse_callback_query("selected_url=http%3A%2F%2Fh%2Fs"),
            Some(CallbackOutcome::Selected("http://h/s".into()))
        );
        assert_eq!(
            parse_callback_query("user_cancelled_selection=true"),
            Some(CallbackOutcome::Cancelled)
        );
        assert_eq!(
            parse_callback_query("user_cancelled_selection=TRUE"),
            Some(CallbackOutcome::Cancelled)
        );
        assert_eq!(parse_callback_query("user_cancelled_selection=false"), None);
        assert_eq!(
            parse_callback_query("state=x?selected_documents_url=http%3A%2F%2Fh%2Fs"),
            Some(CallbackOutcome::Selected("http://h/s".into()))
        );
        // An unencoded '?' inside the value survives when the plain reading already finds the key.
        assert_eq!(
            parse_callback_query("selected_documents_url=http://h/s?id=5"),
            Some(CallbackOutcome::Selected("http://h/s?id=5".into()))
        );
        assert_eq!(parse_callback_query(""), None);
    }

    #[test]
    fn methods_are_case_sensitive() {
        let raw =
            format!("get {P}?user_cancelled_selection=true HTTP/1.1\r\nHost: 127.0.0.1:5\r\n\r\n");
        assert_eq!(
            judge_raw(raw.as_bytes(), P, 5),
            Some(Verdict::Refuse(405, "Method Not Allowed"))
        );
        let raw = raw.replacen("get", "GET", 1);
        assert!(matches!(
            judge_raw(raw.as_bytes(), P, 5),
            Some(Verdict::Accept(_))
        ));
    }

    #[test]
    fn oauth_redirects_need_the_exact_state() {
        let ok = parse_oauth_query("code=abc&state=s1", "s1");
        assert_eq!(ok, Some(CallbackOutcome::Authorized("abc".into())));
        assert_eq!(
            parse_oauth_query("error=access_denied&state=s1", "s1"),
            Some(CallbackOutcome::Denied("access_denied".into()))
        );
        assert_eq!(parse_oauth_query("code=abc&state=s2", "s1"), None);
        assert_eq!(parse_oauth_query("code=abc", "s1"), None);
        assert_eq!(parse_oauth_query("state=s1", "s1"), None);
        let kind = CallbackKind::OAuth { state: "s1".into() };
        assert_eq!(
            judge_for(
                &kind,
                "GET",
                &format!("{P}?code=c&state=bad"),
                Some("127.0.0.1:5"),
                P,
                5
            ),
            Verdict::Refuse(400, "Bad Request")
        );
        // A selection callback is not a sign-in, and the other way round.
        assert_eq!(
            judge_for(
                &kind,
                "GET",
                &format!("{P}?user_cancelled_selection=true"),
                Some("127.0.0.1:5"),
                P,
                5
            ),
            Verdict::Refuse(400, "Bad Request")
        );
        assert_eq!(
            judge(
                "GET",
                &format!("{P}?code=c&state=s1"),
                Some("127.0.0.1:5"),
                P,
                5
            ),
            Verdict::Refuse(400, "Bad Request")
        );
    }

    #[test]
    fn random_paths_are_128_bits_and_differ() {
        let a = random_hex(16).unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, random_hex(16).unwrap());
    }
}
