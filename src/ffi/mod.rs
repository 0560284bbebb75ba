//! The C ABI. This layer only converts pointers, strings and statuses; every behaviour lives in
//! the core modules. Every export runs inside [`boundary`]'s panic guard.

pub mod boundary;
pub mod client;
pub mod download;
pub mod selection;
pub mod signin;

use crate::error::ErrorKind;

/// Result of every fallible function. `OCDE_STATUS_OK` is 0; values are only ever appended.
/// `PENDING`, `USER_CANCELLED`, `EXPIRED` and `ABORTED` are outcomes, not failures; from
/// `OCDE_STATUS_INVALID_ARGUMENT` on, the value is an error and `ocde_last_error()` explains it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OcdeStatus {
    /// Success.
    Ok = 0,
    /// `ocde_selection_poll`: no callback yet; poll again.
    Pending = 1,
    /// The user pressed Cancel in the CDE's selection page.
    UserCancelled = 2,
    /// No callback arrived within the callback expiry.
    Expired = 3,
    /// Aborted by `ocde_selection_abort`, a progress callback, or an `open_url` that failed.
    Aborted = 4,
    /// A NULL pointer, invalid UTF-8, a malformed URL, an index out of range.
    InvalidArgument = 5,
    /// Resolving, connecting, TLS, or a broken connection.
    Network = 6,
    /// The connect timeout or the stall timeout fired.
    Timeout = 7,
    /// The server answered an unexpected HTTP status (`ocde_last_http_status()` has it).
    Http = 8,
    /// The server answered 401 or 403.
    Unauthorized = 9,
    /// The server's answer broke the protocol (bad JSON, bad redirect, encoded body, ...).
    Protocol = 10,
    /// The body did not match its framing (truncated, or shorter than declared).
    Integrity = 11,
    /// A local file-system or socket failure (missing folder, disk full, port in use, ...).
    Io = 12,
    /// A bug in this library (a caught panic); the library stays usable.
    Internal = 13,
}

impl From<ErrorKind> for OcdeStatus {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::UserCancelled => OcdeStatus::UserCancelled,
            ErrorKind::Expired => OcdeStatus::Expired,
            ErrorKind::Aborted => OcdeStatus::Aborted,
            ErrorKind::InvalidArgument => OcdeStatus::InvalidArgument,
            ErrorKind::Network => OcdeStatus::Network,
            ErrorKind::Timeout => OcdeStatus::Timeout,
            ErrorKind::Http => OcdeStatus::Http,
            ErrorKind::Unauthorized => OcdeStatus::Unauthorized,
            ErrorKind::Protocol => OcdeStatus::Protocol,
            ErrorKind::Integrity => OcdeStatus::Integrity,
            ErrorKind::Io => OcdeStatus::Io,
            ErrorKind::Internal => OcdeStatus::Internal,
        }
    }
}

impl OcdeStatus {
    const ALL: [OcdeStatus; 14] = [
        OcdeStatus::Ok,
        OcdeStatus::Pending,
        OcdeStatus::UserCancelled,
        OcdeStatus::Expired,
        OcdeStatus::Aborted,
        OcdeStatus::InvalidArgument,
        OcdeStatus::Network,
        OcdeStatus::Timeout,
        OcdeStatus::Http,
        OcdeStatus::Unauthorized,
        OcdeStatus::Protocol,
        OcdeStatus::Integrity,
        OcdeStatus::Io,
        OcdeStatus::Internal,
    ];

    /// The status with this numeric value, if this version knows it.
    pub fn from_i32(value: i32) -> Option<OcdeStatus> {
        Self::ALL.iter().copied().find(|s| *s as i32 == value)
    }

    /// Static, NUL-terminated name of the status.
    pub(crate) fn as_cstr(self) -> &'static std::ffi::CStr {
        match self {
            OcdeStatus::Ok => c"OCDE_STATUS_OK",
            OcdeStatus::Pending => c"OCDE_STATUS_PENDING",
            OcdeStatus::UserCancelled => c"OCDE_STATUS_USER_CANCELLED",
            OcdeStatus::Expired => c"OCDE_STATUS_EXPIRED",
            OcdeStatus::Aborted => c"OCDE_STATUS_ABORTED",
            OcdeStatus::InvalidArgument => c"OCDE_STATUS_INVALID_ARGUMENT",
            OcdeStatus::Network => c"OCDE_STATUS_NETWORK",
            OcdeStatus::Timeout => c"OCDE_STATUS_TIMEOUT",
            OcdeStatus::Http => c"OCDE_STATUS_HTTP",
            OcdeStatus::Unauthorized => c"OCDE_STATUS_UNAUTHORIZED",
            OcdeStatus::Protocol => c"OCDE_STATUS_PROTOCOL",
            OcdeStatus::Integrity => c"OCDE_STATUS_INTEGRITY",
            OcdeStatus::Io => c"OCDE_STATUS_IO",
            OcdeStatus::Internal => c"OCDE_STATUS_INTERNAL",
        }
    }
}

use std::ffi::{c_char, CString};

/// This thread's last failure as human-readable UTF-8 text: what failed, the URL's origin, the
/// HTTP status, and for a storage error the start of its body; never a token. `""` if the last
/// status-returning call on this thread returned `OCDE_STATUS_OK` or `OCDE_STATUS_PENDING`.
/// Owned by the library; valid until the next status-returning call on the same thread. Never NULL.
#[no_mangle]
pub extern "C" fn ocde_last_error() -> *const c_char {
    boundary::guard_value(c"".as_ptr(), boundary::last_error_ptr)
}

/// The HTTP status involved in this thread's last failure, or 0 if none.
#[no_mangle]
pub extern "C" fn ocde_last_http_status() -> i32 {
    boundary::guard_value(0, boundary::last_http_status)
}

/// The name of `status` (`"OCDE_STATUS_OK"`, ...), static, never NULL. Takes the status as an
/// integer so that a value from a newer library is safe: it gives `"OCDE_STATUS_UNKNOWN"`.
#[no_mangle]
pub extern "C" fn ocde_status_str(status: i32) -> *const c_char {
    boundary::guard_value(c"OCDE_STATUS_UNKNOWN".as_ptr(), || {
        OcdeStatus::from_i32(status)
            .map_or(c"OCDE_STATUS_UNKNOWN".as_ptr(), |s| s.as_cstr().as_ptr())
    })
}

/// Opens `url` (http or https only) in the user's default browser, the way
/// `ocde_selection_start` does when its `open_url` is NULL. For hosts whose own `open_url` wants
/// to try the system browser first and, if that fails, show the URL to the user.
/// `OCDE_STATUS_IO` when no browser could be started.
///
/// # Safety
/// `url` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ocde_open_system_browser(url: *const c_char) -> OcdeStatus {
    boundary::guard(|| {
        let text = boundary::str_arg(url, "url")?;
        crate::http::parse_url(text, "url")?;
        crate::open_in_system_browser(text)?;
        Ok(OcdeStatus::Ok)
    })
}

/// The library version ("0.1.0"), static.
#[no_mangle]
pub extern "C" fn ocde_version() -> *const c_char {
    const VERSION: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
    ) {
        Ok(v) => v,
        Err(_) => c"unknown",
    };
    VERSION.as_ptr()
}

/// Frees a string the library handed over (such as `ocde_download_document`'s `out_path`).
/// NULL is a no-op. Never pass strings from any other allocator.
///
/// # Safety
/// `s` is NULL or a string returned to the caller by this library, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ocde_string_free(s: *mut c_char) {
    if !s.is_null() {
        boundary::guard_value((), || drop(CString::from_raw(s)));
    }
}
