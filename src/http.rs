//! HTTP policy: which origin gets the bearer token, how redirects are followed, which timeouts
//! apply, and how failures are mapped onto [`ErrorKind`]s.
//!
//! ureq follows no redirect by itself here (`max_redirects(0)`): every hop is decided by
//! [`Transport::send`], so the credential rule is applied per hop with the port included in the
//! origin (ureq's own `SameHost` rule ignores ports).

use crate::abort::AbortToken;
use crate::error::{Error, ErrorKind, Result};
use crate::models::{clip, error_body_message};
use std::io::Read;
use std::time::{Duration, Instant};
use ureq::http::Response;
use ureq::Body;
use url::{Origin, Url};

/// Most redirect hops followed for one request.
pub const MAX_REDIRECTS: u32 = 10;
/// Largest JSON answer read into memory.
pub const JSON_BODY_LIMIT: u64 = 16 * 1024 * 1024;

/// Timeouts of a client. There is deliberately no total cap: a multi-gigabyte model may take long,
/// but it may never stall for longer than `stall`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Resolving plus connecting (TCP and TLS).
    pub connect: Duration,
    /// Longest wait for any progress: sending, the response head, or the next body bytes.
    pub stall: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(15),
            stall: Duration::from_secs(30),
        }
    }
}

/// Retries of idempotent GETs: on 429/500/502/503/504 answers and on connection failures
/// (never on timeouts: a stalled server is reported, not waited for again), with exponential
/// backoff from `base_delay`, or the server's `Retry-After` seconds, capped at `max_delay`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0: none).
    pub max_retries: u32,
    /// Wait before the first retry; doubled for each further one.
    pub base_delay: Duration,
    /// Longest wait between attempts, whatever `Retry-After` says.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (0-based), honouring a `Retry-After` hint.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = self.base_delay.saturating_mul(1u32 << attempt.min(16));
        retry_after.unwrap_or(backoff).min(self.max_delay)
    }
}

/// The error of an operation stopped by the host.
pub fn aborted() -> Error {
    Error::new(ErrorKind::Aborted, "aborted by the host")
}

/// Statuses worth another try of an idempotent request.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

/// `Retry-After` as delta-seconds (an HTTP-date falls back to the backoff).
fn retry_after(response: &Response<Body>) -> Option<Duration> {
    let value = response.headers().get("retry-after")?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The request method and body.
#[derive(Clone, Copy, Debug)]
pub enum Method<'a> {
    /// GET; redirects are followed.
    Get,
    /// POST with a JSON body; a redirect is an error.
    PostJson(&'a [u8]),
    /// POST with an `application/x-www-form-urlencoded` body (OAuth2 token requests); a
    /// redirect is an error.
    PostForm(&'a [u8]),
}

/// Whom the bearer token may reach: exactly one origin (scheme, host, port).
#[derive(Clone, Copy, Debug)]
pub struct Credentials<'a> {
    /// The token, if the host set one.
    pub token: Option<&'a str>,
    /// The documents API origin; the only one that ever sees the token.
    pub origin: &'a Origin,
}

/// A response after all redirects, with the URL that produced it.
pub struct Answer {
    /// The final response (not a redirect).
    pub response: Response<Body>,
    /// The URL of the final hop.
    pub url: Url,
}

/// The HTTP agent with our policy applied.
/// Everything a [`Transport`] is built from.
#[derive(Clone, Debug, Default)]
pub struct HttpSettings {
    /// Connect and stall timeouts.
    pub timeouts: Timeouts,
    /// Retries of idempotent requests and resumes of broken downloads.
    pub retry: RetryPolicy,
    /// `Some`: trust exactly these root certificates (DER) instead of the bundled Mozilla roots
    /// (a company CA, a test CA).
    pub root_certificates: Option<std::sync::Arc<Vec<Vec<u8>>>>,
}

/// Parses every certificate of a PEM bundle into DER; none at all is an invalid argument.
pub fn parse_pem_certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c.der().to_vec()),
            Ok(_) => {}
            Err(e) => {
                return Err(Error::invalid(format!(
                    "root certificates: invalid PEM: {e}"
                )))
            }
        }
    }
    if certs.is_empty() {
        return Err(Error::invalid(
            "root certificates: no CERTIFICATE block in the PEM text",
        ));
    }
    Ok(certs)
}

/// The rustls crypto provider of every transport: ring, with the AES-128-GCM suites first.
///
/// AES-128-GCM is what browsers and Go prefer: as secure for this purpose, and 10 AES rounds
/// instead of 14, which is most of the CPU of a large HTTPS download (servers that honour the
/// client's order pick it). The rest of ring's order is kept. Set explicitly, so that a crypto
/// provider another plugin installed process-wide in the same host never changes ours.
fn crypto_provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    static PROVIDER: once_cell::sync::Lazy<std::sync::Arc<rustls::crypto::CryptoProvider>> =
        once_cell::sync::Lazy::new(|| {
            use rustls::CipherSuite::{
                TLS13_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            };
            let mut provider = rustls::crypto::ring::default_provider();
            provider.cipher_suites.sort_by_key(|s| {
                !matches!(
                    s.suite(),
                    TLS13_AES_128_GCM_SHA256
                        | TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
                        | TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
                )
            });
            std::sync::Arc::new(provider)
        });
    PROVIDER.clone()
}

#[derive(Clone, Debug)]
pub struct Transport {
    agent: ureq::Agent,
    settings: HttpSettings,
}

impl Transport {
    /// A transport with these settings.
    pub fn new(settings: HttpSettings) -> Self {
        let timeouts = settings.timeouts;
        let mut tls =
            ureq::tls::TlsConfig::builder().unversioned_rustls_crypto_provider(crypto_provider());
        if let Some(roots) = &settings.root_certificates {
            let certs: Vec<ureq::tls::Certificate<'static>> = roots
                .iter()
                .map(|der| ureq::tls::Certificate::from_der(der).to_owned())
                .collect();
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
        }
        let config = ureq::Agent::config_builder()
            .tls_config(tls.build())
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_resolve(Some(timeouts.connect))
            .timeout_connect(Some(timeouts.connect))
            .timeout_send_request(Some(timeouts.stall))
            .timeout_send_body(Some(timeouts.stall))
            .timeout_recv_response(Some(timeouts.stall))
            .timeout_per_read(Some(timeouts.stall))
            .timeout_per_write(Some(timeouts.stall))
            .user_agent(concat!("opencde-documents/", env!("CARGO_PKG_VERSION")))
            .build();
        Transport {
            agent: config.into(),
            settings,
        }
    }

    /// The timeouts in force.
    pub fn timeouts(&self) -> Timeouts {
        self.settings.timeouts
    }

    /// The settings this transport was built from.
    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    /// The retry policy in force.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.settings.retry
    }

    /// Sends `method` to `url`, following GET redirects per the policy:
    /// - the token goes only to `credentials.origin`; once a hop drops it, no later hop gets it back;
    /// - a 303, or a redirect to another origin, drops it (the spec's diagram; presigned storage
    ///   rejects any Authorization header);
    /// - https → http is refused; at most [`MAX_REDIRECTS`] hops; the `Location` is used as sent
    ///   (relative ones resolved against the current URL).
    ///
    /// A GET is retried per the [`RetryPolicy`]; the last answer or error is returned.
    pub fn send(
        &self,
        method: Method<'_>,
        url: &Url,
        credentials: Credentials<'_>,
        headers: &[(&str, &str)],
        abort: &AbortToken,
    ) -> Result<Answer> {
        let mut attempt = 0;
        loop {
            let result = self.send_following(method, url, credentials, headers);
            let wait = match (&result, method) {
                (_, Method::PostJson(_) | Method::PostForm(_)) => None,
                (Ok(answer), Method::Get) => is_retryable_status(answer.response.status().as_u16())
                    .then(|| retry_after(&answer.response)),
                (Err(e), Method::Get) => (e.kind == ErrorKind::Network).then_some(None),
            };
            match wait {
                Some(hint) if attempt < self.settings.retry.max_retries => {
                    if !abort.sleep(self.settings.retry.delay(attempt, hint)) {
                        return Err(aborted());
                    }
                    attempt += 1;
                }
                _ => return result,
            }
        }
    }

    fn send_following(
        &self,
        method: Method<'_>,
        url: &Url,
        credentials: Credentials<'_>,
        headers: &[(&str, &str)],
    ) -> Result<Answer> {
        let mut url = url.clone();
        let mut carry_token = true;
        let mut hops = 0u32;
        loop {
            check_scheme(&url)?;
            let token = credentials
                .token
                .filter(|_| carry_token && url.origin() == *credentials.origin);
            let response = self.send_once(method, &url, token, headers)?;
            let status = response.status().as_u16();
            if !matches!(status, 301 | 302 | 303 | 307 | 308) || !matches!(method, Method::Get) {
                return Ok(Answer { response, url });
            }
            hops += 1;
            if hops > MAX_REDIRECTS {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!(
                        "more than {MAX_REDIRECTS} redirects, the last at {}",
                        describe(&url)
                    ),
                )
                .with_status(status));
            }
            let location = response.headers().get("location").map(|v| v.as_bytes());
            let next = redirect_target(&url, status, location)?;
            if status == 303 || next.origin() != *credentials.origin {
                carry_token = false;
            }
            url = next;
        }
    }

    fn send_once(
        &self,
        method: Method<'_>,
        url: &Url,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Response<Body>> {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let result = match method {
            Method::Get => {
                let mut req = self.agent.get(url.as_str());
                for (name, value) in headers {
                    req = req.header(*name, *value);
                }
                if let Some(b) = &bearer {
                    req = req.header("Authorization", b.as_str());
                }
                req.call()
            }
            Method::PostJson(body) | Method::PostForm(body) => {
                let content_type = match method {
                    Method::PostForm(_) => "application/x-www-form-urlencoded",
                    _ => "application/json",
                };
                let mut req = self
                    .agent
                    .post(url.as_str())
                    .header("Content-Type", content_type);
                for (name, value) in headers {
                    req = req.header(*name, *value);
                }
                if let Some(b) = &bearer {
                    req = req.header("Authorization", b.as_str());
                }
                req.send(body)
            }
        };
        result.map_err(|e| map_ureq_error(e, url))
    }
}

/// Checks a JSON answer is 2xx and reads its body, at most [`JSON_BODY_LIMIT`] bytes.
pub fn read_json_body(answer: &mut Answer, what: &str, abort: &AbortToken) -> Result<Vec<u8>> {
    ensure_success(answer, what)?;
    read_small_body(answer, JSON_BODY_LIMIT, abort)
        .map_err(|e| e.context(format!("reading the {what}")))
}

/// Longest a small answer (JSON, a token answer) may take to arrive once its head came. The stall
/// timeout alone would let a server that drips a byte now and then hold the call for days.
pub const SMALL_BODY_TOTAL_TIMEOUT: Duration = Duration::from_secs(120);

/// How long the explanation in an error answer may take to arrive.
const ERROR_BODY_TOTAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads a small body of at most `limit` bytes, within [`SMALL_BODY_TOTAL_TIMEOUT`] in all, and
/// stops between reads once `abort` is raised.
pub fn read_small_body(answer: &mut Answer, limit: u64, abort: &AbortToken) -> Result<Vec<u8>> {
    let url = answer.url.clone();
    let mut reader = answer
        .response
        .body_mut()
        .with_config()
        .limit(limit)
        .reader();
    read_within(&mut reader, &url, abort, SMALL_BODY_TOTAL_TIMEOUT).map_err(|(e, _)| e)
}

/// The first `limit` bytes of a body (a longer body is cut, not an error), within `total`;
/// on a failure, the bytes read so far.
fn read_capped(
    answer: &mut Answer,
    limit: u64,
    total: Duration,
) -> std::result::Result<Vec<u8>, Vec<u8>> {
    let url = answer.url.clone();
    let mut reader = answer.response.body_mut().as_reader().take(limit);
    read_within(&mut reader, &url, &AbortToken::none(), total).map_err(|(_, partial)| partial)
}

/// Reads `reader` to its end within `total` (each read is bounded by the stall timeout),
/// checking `abort` between reads; a failure comes with the bytes read so far.
fn read_within(
    reader: &mut dyn Read,
    url: &Url,
    abort: &AbortToken,
    total: Duration,
) -> std::result::Result<Vec<u8>, (Error, Vec<u8>)> {
    let deadline = Instant::now() + total;
    let mut body = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(body),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err((map_io_error(&e, url), body)),
        };
        body.extend_from_slice(&chunk[..n]);
        if abort.is_aborted() {
            return Err((aborted(), body));
        }
        if Instant::now() >= deadline {
            let late = Error::new(
                ErrorKind::Timeout,
                format!(
                    "{}: the answer took more than {} s to arrive",
                    describe(url),
                    total.as_secs()
                ),
            );
            return Err((late, body));
        }
    }
}

/// Fails unless the answer is 2xx: 401/403 → Unauthorized, any other → Http, with the server's
/// explanation taken from the start of its body.
pub fn ensure_success(answer: &mut Answer, what: &str) -> Result<()> {
    let status = answer.response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(());
    }
    // The explanation is a courtesy: at most 4 KiB of it, within 10 s, failures ignored (a server
    // dripping its error page must not hold the call).
    let body =
        read_capped(answer, 4096, ERROR_BODY_TOTAL_TIMEOUT).unwrap_or_else(|partial| partial);
    let kind = if status == 401 || status == 403 {
        ErrorKind::Unauthorized
    } else {
        ErrorKind::Http
    };
    let mut message = format!("{what}: {} answered HTTP {status}", describe(&answer.url));
    if let Some(explained) = error_body_message(&body) {
        message.push_str(": ");
        message.push_str(&explained);
    }
    Err(Error::new(kind, message).with_status(status))
}

/// The origin and path of `url`, for messages: never its query (pre-signed URLs carry secrets).
pub fn describe(url: &Url) -> String {
    format!(
        "{}{}",
        url.origin().ascii_serialization(),
        clip(url.path(), 120)
    )
}

/// Parses a URL given by the host or a server; only http and https are accepted.
pub fn parse_url(text: &str, what: &str) -> Result<Url> {
    let url = Url::parse(text.trim())
        .map_err(|e| Error::invalid(format!("{what} is not a valid URL: {e}")))?;
    check_scheme(&url).map_err(|e| Error::invalid(format!("{what}: {}", e.message)))?;
    Ok(url)
}

fn check_scheme(url: &Url) -> Result<()> {
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(()),
        other => Err(Error::new(
            ErrorKind::Protocol,
            format!("unsupported URL scheme \"{other}\" (only http and https)"),
        )),
    }
}

/// A `Location` value as URL text: ASCII as sent, every other byte percent-encoded as it came
/// (`caf\xE9` → `caf%E9`, UTF-8 `é` → `%C3%A9`), never replaced by U+FFFD: a presigned storage
/// URL must reach the storage byte for byte.
fn location_text(location: &[u8]) -> String {
    let mut text = String::with_capacity(location.len());
    for &b in location {
        if b.is_ascii() {
            text.push(char::from(b));
        } else {
            text.push_str(&format!("%{b:02X}"));
        }
    }
    text
}

/// Where a redirect `status` from `current` with `location` leads: the `Location` is used as
/// sent (relative ones resolved against `current`; a non-ASCII byte is percent-encoded, existing
/// escapes are never decoded); only http(s) targets; https → http refused.
pub fn redirect_target(current: &Url, status: u16, location: Option<&[u8]>) -> Result<Url> {
    let location = location.ok_or_else(|| {
        Error::new(
            ErrorKind::Protocol,
            format!(
                "redirect {status} from {} without Location",
                describe(current)
            ),
        )
        .with_status(status)
    })?;
    let text = location_text(location);
    let next = current.join(text.trim()).map_err(|e| {
        Error::new(
            ErrorKind::Protocol,
            format!(
                "redirect {status} from {} has an invalid Location: {e}",
                describe(current)
            ),
        )
        .with_status(status)
    })?;
    check_scheme(&next).map_err(|e| e.with_status(status))?;
    if current.scheme() == "https" && next.scheme() == "http" {
        return Err(Error::new(
            ErrorKind::Protocol,
            format!(
                "refused a redirect from https to http ({} → {})",
                describe(current),
                describe(&next)
            ),
        )
        .with_status(status));
    }
    Ok(next)
}

/// Maps a ureq error on a request to `url` onto our categories.
pub fn map_ureq_error(err: ureq::Error, url: &Url) -> Error {
    let at = describe(url);
    match err {
        ureq::Error::Timeout(which) => {
            Error::new(ErrorKind::Timeout, format!("{at}: timed out ({which})"))
        }
        ureq::Error::Io(io) => map_io_error(&io, url),
        ureq::Error::HostNotFound => {
            Error::new(ErrorKind::Network, format!("{at}: host not found"))
        }
        ureq::Error::ConnectionFailed => {
            Error::new(ErrorKind::Network, format!("{at}: connection failed"))
        }
        ureq::Error::Tls(msg) => {
            Error::new(ErrorKind::Network, format!("{at}: TLS failure: {msg}"))
        }
        ureq::Error::BodyExceedsLimit(n) => Error::new(
            ErrorKind::Protocol,
            format!("{at}: answer larger than the {n}-byte limit"),
        ),
        ureq::Error::BadUri(msg) => Error::invalid(format!("{at}: invalid URL: {msg}")),
        other => Error::new(ErrorKind::Protocol, format!("{at}: {other}")),
    }
}

/// Maps an I/O error from a response body (where ureq wraps its own errors in `io::Error`).
pub fn map_io_error(io: &std::io::Error, url: &Url) -> Error {
    let at = describe(url);
    if let Some(inner) = io.get_ref().and_then(|e| e.downcast_ref::<ureq::Error>()) {
        if let ureq::Error::Timeout(which) = inner {
            return Error::new(
                ErrorKind::Timeout,
                format!("{at}: stalled, no data for the stall timeout ({which})"),
            );
        }
        if let ureq::Error::Io(inner_io) = inner {
            return map_io_error(inner_io, url);
        }
        if let ureq::Error::BodyExceedsLimit(n) = inner {
            return Error::new(
                ErrorKind::Protocol,
                format!("{at}: answer larger than the {n}-byte limit"),
            );
        }
        return Error::new(ErrorKind::Protocol, format!("{at}: {inner}"));
    }
    use std::io::ErrorKind as K;
    match io.kind() {
        K::TimedOut | K::WouldBlock => {
            Error::new(ErrorKind::Timeout, format!("{at}: timed out: {io}"))
        }
        K::UnexpectedEof => Error::new(
            ErrorKind::Integrity,
            format!("{at}: connection closed before the whole body arrived"),
        ),
        _ => Error::new(ErrorKind::Network, format!("{at}: {io}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_bytes_outside_ascii_are_percent_encoded_not_replaced() {
        let here = Url::parse("https://cde.example/documents/1.0/d/download").unwrap();
        let next = redirect_target(
            &here,
            302,
            Some(b"https://s.example/blob/caf\xE9.ifc?sig=a%2Fb"),
        )
        .unwrap();
        assert_eq!(next.as_str(), "https://s.example/blob/caf%E9.ifc?sig=a%2Fb");
        let utf8 = redirect_target(&here, 302, Some("/blob/é?x=ü".as_bytes())).unwrap();
        assert_eq!(utf8.as_str(), "https://cde.example/blob/%C3%A9?x=%C3%BC");
    }

    #[test]
    fn aes_128_gcm_is_offered_first_and_nothing_is_dropped() {
        let ours = crypto_provider();
        let ring = rustls::crypto::ring::default_provider();
        assert_eq!(
            ours.cipher_suites[0].suite(),
            rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
        );
        assert_eq!(ours.cipher_suites.len(), ring.cipher_suites.len());
        for s in &ring.cipher_suites {
            assert!(ours.cipher_suites.iter().any(|o| o.suite() == s.suite()));
        }
    }

    #[test]
    fn retry_delays_back_off_and_respect_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(0, None), Duration::from_millis(250));
        assert_eq!(p.delay(2, None), Duration::from_secs(1));
        assert_eq!(p.delay(30, None), Duration::from_secs(10));
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(3600))),
            Duration::from_secs(10)
        );
        assert!(is_retryable_status(503) && !is_retryable_status(404) && !is_retryable_status(401));
    }

    #[test]
    fn origins_include_the_port() {
        let a = Url::parse("http://127.0.0.1:8080/x").unwrap().origin();
        let b = Url::parse("http://127.0.0.1:8081/x").unwrap().origin();
        let c = Url::parse("http://127.0.0.1:8080/y?z").unwrap().origin();
        assert_ne!(a, b);
        assert_eq!(a, c);
        assert_eq!(
            Url::parse("https://h/").unwrap().origin(),
            Url::parse("https://h:443/").unwrap().origin()
        );
    }

    #[test]
    fn parse_url_accepts_only_http_and_https() {
        assert!(parse_url("http://127.0.0.1:1/a", "u").is_ok());
        assert_eq!(
            parse_url("file:///etc/passwd", "u").unwrap_err().kind,
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            parse_url("not a url", "u").unwrap_err().kind,
            ErrorKind::InvalidArgument
        );
    }

    #[test]
    fn describe_never_shows_the_query() {
        let u = Url::parse("https://s.example/blob/x?sig=SECRET").unwrap();
        assert_eq!(describe(&u), "https://s.example/blob/x");
    }

    #[test]
    fn relative_and_encoded_locations_are_kept_byte_for_byte() {
        let base = Url::parse("http://127.0.0.1:1/a/b").unwrap();
        let next = redirect_target(&base, 302, Some(b"/blob/x?sig=ab%2Fcd%2Bef%3D")).unwrap();
        assert_eq!(
            next.as_str(),
            "http://127.0.0.1:1/blob/x?sig=ab%2Fcd%2Bef%3D"
        );
        assert_eq!(
            redirect_target(&base, 302, Some(b"c")).unwrap().as_str(),
            "http://127.0.0.1:1/a/c"
        );
    }

    #[test]
    fn https_to_http_and_odd_targets_are_refused() {
        let secure = Url::parse("https://cde.example/dl").unwrap();
        let err = redirect_target(&secure, 302, Some(b"http://storage.example/blob")).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Protocol);
        assert_eq!(err.http_status, Some(302));
        assert!(redirect_target(&secure, 302, Some(b"https://storage.example/blob")).is_ok());
        assert_eq!(
            redirect_target(&secure, 302, Some(b"file:///etc/passwd"))
                .unwrap_err()
                .kind,
            ErrorKind::Protocol
        );
        assert_eq!(
            redirect_target(&secure, 302, None).unwrap_err().kind,
            ErrorKind::Protocol
        );
    }
}
