//! Downloads: `ocde_download_to_path` and `ocde_download_document`.

use super::boundary::{guard, handle_arg, str_arg};
use super::client::{OcdeClient, OcdeLogLevel};
use super::selection::OcdeSelection;
use super::OcdeStatus;
use std::ffi::{c_char, c_void, CString};
use std::path::Path;

/// Progress of a download: `received` bytes so far and `total` (Content-Length, else the expected
/// size, else -1). Called on the thread that called the download function, inside that call, once
/// with 0 before the first byte and after every chunk. Return 0 to continue; any other value
/// aborts the download with `OCDE_STATUS_ABORTED` (no file is left behind).
pub type OcdeProgressFn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, received: u64, total: i64) -> i32>;

fn progress_closure(
    progress: OcdeProgressFn,
    user_data: *mut c_void,
) -> impl FnMut(u64, Option<u64>) -> bool {
    move |received, total| match progress {
        None => true,
        Some(f) => {
            let total = total.and_then(|t| i64::try_from(t).ok()).unwrap_or(-1);
            // SAFETY: a host-provided function pointer, called as documented.
            unsafe { f(user_data, received, total) == 0 }
        }
    }
}

/// Downloads `download_url` to the file `dest_path` (UTF-8). Redirects are followed (at most 10;
/// the token never leaves the API origin and is dropped after a 303). The body goes to a hidden
/// temporary file beside `dest_path`, is checked against Content-Length or chunked framing
/// (`OCDE_STATUS_INTEGRITY` otherwise), fsynced, then renamed over `dest_path`. On any failure
/// no file appears at `dest_path`, an existing one is untouched and the temporary file is removed.
/// `expected_size` (-1: unknown) is the CDE's declared size: reported as `total` when the server
/// sends no length, and checked only when the answer has no framing; a mismatch with a complete,
/// framed transfer is logged as a warning, not an error. `progress` may be NULL.
///
/// # Safety
/// `client` is a live client; the strings are NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ocde_download_to_path(
    client: *mut OcdeClient,
    download_url: *const c_char,
    dest_path: *const c_char,
    expected_size: i64,
    progress: OcdeProgressFn,
    user_data: *mut c_void,
) -> OcdeStatus {
    guard(|| {
        let c = handle_arg(client, "client")?;
        let url = str_arg(download_url, "download_url")?;
        let dest = str_arg(dest_path, "dest_path")?;
        let expected = u64::try_from(expected_size).ok();
        let mut progress = progress_closure(progress, user_data);
        let report = c
            .client
            .download_to_path(url, Path::new(dest), expected, &mut progress)?;
        c.log(OcdeLogLevel::Warning, &report.warnings);
        Ok(OcdeStatus::Ok)
    })
}

/// Downloads document `index` of a selection (after `ocde_selection_poll` returned OK) into the
/// existing folder `dest_dir`, under its `file_name` reduced to a safe base name (no separators,
/// no `..`, no control or Windows-reserved characters; a name used twice in the selection gets
/// " (2)"), exactly as `ocde_download_to_path` would. If `out_path` is not NULL, on success
/// `*out_path` receives the path written (UTF-8), which the caller frees with `ocde_string_free`.
///
/// # Safety
/// `client` and `selection` are live; `dest_dir` is NUL-terminated; `out_path` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ocde_download_document(
    client: *mut OcdeClient,
    selection: *const OcdeSelection,
    index: usize,
    dest_dir: *const c_char,
    progress: OcdeProgressFn,
    user_data: *mut c_void,
    out_path: *mut *mut c_char,
) -> OcdeStatus {
    guard(|| {
        let c = handle_arg(client, "client")?;
        let s = handle_arg(selection, "selection")?;
        let dir = str_arg(dest_dir, "dest_dir")?;
        let mut progress = progress_closure(progress, user_data);
        let (path, report) =
            c.client
                .download_document(&s.session, index, Path::new(dir), &mut progress)?;
        c.log(OcdeLogLevel::Warning, &report.warnings);
        if !out_path.is_null() {
            let text = CString::new(path.to_string_lossy().into_owned()).unwrap_or_default();
            *out_path = text.into_raw();
        }
        Ok(OcdeStatus::Ok)
    })
}
