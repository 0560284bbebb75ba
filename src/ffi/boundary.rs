//! The panic boundary, the thread-local last error, and argument conversion helpers.

use super::OcdeStatus;
use crate::error::{Error, Result};
use std::cell::{Cell, RefCell};
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
    static LAST_HTTP_STATUS: Cell<i32> = const { Cell::new(0) };
    static GUARD_DEPTH: Cell<u32> = const { Cell::new(0) };
    static PANIC_MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Replaces the default panic hook (which prints to stderr) for panics inside our exports only:
/// those are recorded for `ocde_last_error`; any other panic goes to the previous hook.
fn install_quiet_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARD_DEPTH.with(Cell::get) > 0 {
                let text = info.to_string();
                PANIC_MESSAGE.with(|m| *m.borrow_mut() = Some(text));
            } else {
                previous(info);
            }
        }));
    });
}

fn run_guarded<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    install_quiet_panic_hook();
    GUARD_DEPTH.with(|d| d.set(d.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(f));
    GUARD_DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    result.map_err(|_| {
        PANIC_MESSAGE
            .with(|m| m.borrow_mut().take())
            .unwrap_or_else(|| "panic".into())
    })
}

fn set_last(message: &str, http_status: Option<u16>) {
    let text = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = text);
    LAST_HTTP_STATUS.with(|s| s.set(http_status.map(i32::from).unwrap_or(0)));
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

/// The thread's last error message (valid until the next status-returning call on this thread).
pub fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// The HTTP status of the thread's last error, 0 if none.
pub fn last_http_status() -> i32 {
    LAST_HTTP_STATUS.with(Cell::get)
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
