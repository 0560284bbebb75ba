//! The panic boundary, the thread-local last error, and argument conversion helpers.

use super::OcdeStatus;
use crate::error::{Error, Result};
use crate::panic_guard;
use std::cell::{Cell, RefCell};
use std::ffi::{c_char, CStr, CString};

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
    static LAST_HTTP_STATUS: Cell<i32> = const { Cell::new(0) };
}

fn run_guarded<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    panic_guard::install_quiet_hook();
    panic_guard::catch(f)
}

fn set_last(message: &str, http_status: Option<u16>) {
    let text = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    // `try_with`: during thread-local destruction these are gone; never panic at the boundary.
    let _ = LAST_ERROR.try_with(|e| *e.borrow_mut() = text);
    let _ = LAST_HTTP_STATUS.try_with(|s| s.set(http_status.map(i32::from).unwrap_or(0)));
}

/// Runs a status-returning export: panics become `OCDE_STATUS_INTERNAL`, errors set the
/// thread's last error, `OK`/`PENDING` clear it, other outcomes describe themselves.
pub fn guard(f: impl FnOnce() -> Result<OcdeStatus>) -> OcdeStatus {
    match run_guarded(f) {
        Ok(Ok(status)) => {
            match status {
                OcdeStatus::Ok | OcdeStatus::Pending => set_last("", None),
                other => set_last(&outcome_message(other), None),
            }
            status
        }
        Ok(Err(err)) => {
            set_last(&err.message, err.http_status);
            err.kind.into()
        }
        Err(panic) => {
            set_last(&format!("internal error (caught panic): {panic}"), None);
            OcdeStatus::Internal
        }
    }
}

fn outcome_message(status: OcdeStatus) -> String {
    match status {
        OcdeStatus::UserCancelled => "the user cancelled the selection in the CDE".into(),
        OcdeStatus::Expired => "no callback arrived before the callback expiry".into(),
        OcdeStatus::Aborted => "aborted".into(),
        other => other.as_cstr().to_string_lossy().into_owned(),
    }
}

/// Runs an export that returns a value; a panic returns `fallback`.
pub fn guard_value<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    run_guarded(f).unwrap_or(fallback)
}

/// Tells the host of new tokens (its `OcdeTokensFn`) after an export has set its outcome, keeping
/// that outcome's `ocde_last_error` and HTTP status even if the host's callback calls another
/// export of ours: the host reads the error of the call it made, not of one made inside it.
pub fn deliver_tokens(client: &crate::Client) {
    let saved_error = LAST_ERROR.try_with(|e| e.borrow().clone()).ok();
    let saved_status = LAST_HTTP_STATUS.try_with(Cell::get).ok();
    guard_value((), || client.deliver_token_events());
    if let Some(text) = saved_error {
        let _ = LAST_ERROR.try_with(|e| *e.borrow_mut() = text);
    }
    if let Some(status) = saved_status {
        let _ = LAST_HTTP_STATUS.try_with(|s| s.set(status));
    }
}

/// The thread's last error message (valid until the next status-returning call on this thread).
pub fn last_error_ptr() -> *const c_char {
    LAST_ERROR
        .try_with(|e| e.borrow().as_ptr())
        .unwrap_or(c"".as_ptr())
}

/// The HTTP status of the thread's last error, 0 if none.
pub fn last_http_status() -> i32 {
    LAST_HTTP_STATUS.try_with(Cell::get).unwrap_or(0)
}

/// A required string argument.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives the call.
pub unsafe fn str_arg<'a>(p: *const c_char, name: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::invalid(format!("{name} is NULL")));
    }
    CStr::from_ptr(p)
        .to_str()
        .map_err(|_| Error::invalid(format!("{name} is not valid UTF-8")))
}

/// An optional string argument (NULL → `None`).
///
/// # Safety
/// As [`str_arg`].
pub unsafe fn opt_str_arg<'a>(p: *const c_char, name: &str) -> Result<Option<&'a str>> {
    if p.is_null() {
        Ok(None)
    } else {
        str_arg(p, name).map(Some)
    }
}

/// A required handle argument.
///
/// # Safety
/// `p` is NULL or a live handle of this type created by this library.
pub unsafe fn handle_arg<'a, T>(p: *const T, name: &str) -> Result<&'a T> {
    p.as_ref()
        .ok_or_else(|| Error::invalid(format!("{name} is NULL")))
}

/// A required out-pointer.
pub fn out_arg<T>(p: *mut T, name: &str) -> Result<*mut T> {
    if p.is_null() {
        Err(Error::invalid(format!("{name} is NULL")))
    } else {
        Ok(p)
    }
}

/// A CString of text that may (from a server) contain NUL bytes.
pub fn c_string(text: &str) -> CString {
    CString::new(text.replace('\0', "")).unwrap_or_default()
}
