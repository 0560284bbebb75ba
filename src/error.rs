//! The error type of the core: a kind that maps one-to-one onto the C status codes, a human-readable
//! message (never containing a token) and the HTTP status where one was involved.

use std::fmt;

/// What went wrong, in the categories a host can act on. Mirrors `OcdeStatus` (minus OK/PENDING).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The user pressed Cancel in the CDE's selection page.
    UserCancelled,
    /// The callback window (`callback.expires_in`) passed without a callback.
    Expired,
    /// The host aborted (abort call or a callback asking to stop).
    Aborted,
    /// A caller-supplied value was unusable (NULL, invalid UTF-8, bad URL, ...).
    InvalidArgument,
    /// Connecting, resolving, TLS, or the connection broke.
    Network,
    /// Connect or stall timeout.
    Timeout,
    /// The server answered with an unexpected HTTP status.
    Http,
    /// 401 or 403 from the server.
    Unauthorized,
    /// The server's answer did not follow the protocol (bad JSON, bad redirect, ...).
    Protocol,
    /// The bytes received do not match the framing (truncated body, short chunked body, ...).
    Integrity,
    /// Local file-system failure.
    Io,
    /// A bug in this library (a caught panic, a poisoned lock).
    Internal,
}

/// A failure of a core operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// The category.
    pub kind: ErrorKind,
    /// What failed, for a human; names the URL origin and HTTP status, never a token.
    pub message: String,
    /// The HTTP status involved, if any.
    pub http_status: Option<u16>,
}

/// Result alias of the core.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A new error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            http_status: None,
        }
    }

    /// The same error carrying an HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.http_status = Some(status);
        self
    }

    /// Prefixes the message with context ("downloading X: ...").
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// Shorthand for an invalid argument.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    /// Shorthand for a local I/O failure on `path`.
    pub fn io(action: &str, path: &std::path::Path, err: &std::io::Error) -> Self {
        Self::new(ErrorKind::Io, format!("{action} {}: {err}", path.display()))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
