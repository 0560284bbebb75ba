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
    let status = guard(|| {
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
    });
    if let Some(c) = (client as *const OcdeClient).as_ref() {
        super::boundary::deliver_tokens(&c.client);
    }
    status
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
    let status = guard(|| {
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
    });
    if let Some(c) = (client as *const OcdeClient).as_ref() {
        super::boundary::deliver_tokens(&c.client);
    }
    status
}

/// Progress of `ocde_download_selection`: document `index` has `received` of `total` bytes
/// (-1: unknown), and all documents together `all_received` of `all_total` (-1 unless every size
/// is known). Called only on the thread that called `ocde_download_selection`, inside that call,
/// though the transfers run on the library's worker threads. Return 0 to continue; any other
/// value aborts every transfer (each leaves no file behind).
pub type OcdeSelectionProgressFn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        index: usize,
        received: u64,
        total: i64,
        all_received: u64,
        all_total: i64,
    ) -> i32,
>;

struct DocumentOutcome {
    status: OcdeStatus,
    path: Option<CString>,
    error: CString,
}

/// The per-document outcome of `ocde_download_selection`. Free with `ocde_download_results_free`.
pub struct OcdeDownloadResults {
    items: Vec<DocumentOutcome>,
}

fn to_i64(v: Option<u64>) -> i64 {
    v.and_then(|t| i64::try_from(t).ok()).unwrap_or(-1)
}

/// Downloads every document of a selection (after `ocde_selection_poll` returned OK) into the
/// existing folder `dest_dir`, with up to `max_parallel` transfers at once (0: 4; at most 32),
/// each exactly as `ocde_download_document` would (safe unique names, temp file, checks, fsync,
/// rename). `progress` may be NULL. Returns `OCDE_STATUS_OK` when every document was downloaded;
/// `OCDE_STATUS_ABORTED` when the progress callback or `ocde_client_abort_downloads` stopped
/// them; otherwise the status of the first document that failed. Unlike other functions,
/// `*out_results` is written whenever the downloads were started — on OK and on these failures —
/// so the host can see which documents succeeded (their paths) and why the others failed; it is
/// not written for an invalid argument (a selection not yet polled to OK is one). The caller
/// frees it with `ocde_download_results_free`. `out_results` may be NULL.
///
/// # Safety
/// `client` and `selection` are live; `dest_dir` is NUL-terminated; `out_results` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn ocde_download_selection(
    client: *mut OcdeClient,
    selection: *const OcdeSelection,
    dest_dir: *const c_char,
    max_parallel: u32,
    progress: OcdeSelectionProgressFn,
    user_data: *mut c_void,
    out_results: *mut *mut OcdeDownloadResults,
) -> OcdeStatus {
    let status = guard(|| {
        let c = handle_arg(client, "client")?;
        let s = handle_arg(selection, "selection")?;
        let dir = str_arg(dest_dir, "dest_dir")?;
        s.session.ensure_selected()?;
        let mut relay = |p: &crate::parallel::SelectionProgress| match progress {
            None => true,
            // SAFETY: a host-provided function pointer, called on the calling thread as documented.
            Some(f) => unsafe {
                f(
                    user_data,
                    p.index,
                    p.received,
                    to_i64(p.total),
                    p.all_received,
                    to_i64(p.all_total),
                ) == 0
            },
        };
        let results = c.client.download_selection(
            &s.session,
            Path::new(dir),
            max_parallel as usize,
            &mut relay,
        );
        let mut first_error = None;
        let mut items = Vec::with_capacity(results.len());
        for result in results {
            items.push(match result {
                Ok((path, report)) => {
                    c.log(OcdeLogLevel::Warning, &report.warnings);
                    DocumentOutcome {
                        status: OcdeStatus::Ok,
                        path: Some(
                            CString::new(path.to_string_lossy().into_owned()).unwrap_or_default(),
                        ),
                        error: CString::default(),
                    }
                }
                Err(e) => {
                    let status = OcdeStatus::from(e.kind);
                    if first_error.is_none() || status == OcdeStatus::Aborted {
                        first_error = Some(e.clone());
                    }
                    DocumentOutcome {
                        status,
                        path: None,
                        error: super::boundary::c_string(&e.message),
                    }
                }
            });
        }
        if !out_results.is_null() {
            *out_results = Box::into_raw(Box::new(OcdeDownloadResults { items }));
        }
        match first_error {
            None => Ok(OcdeStatus::Ok),
            Some(e) => Err(e),
        }
    });
    if let Some(c) = (client as *const OcdeClient).as_ref() {
        super::boundary::deliver_tokens(&c.client);
    }
    status
}

/// Number of documents in `results` (0 for NULL).
///
/// # Safety
/// `results` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn ocde_download_results_count(results: *const OcdeDownloadResults) -> usize {
    super::boundary::guard_value(0, || results.as_ref().map_or(0, |r| r.items.len()))
}

/// The status of document `index` (`OCDE_STATUS_INVALID_ARGUMENT` for NULL or out of range).
///
/// # Safety
/// `results` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn ocde_download_results_status(
    results: *const OcdeDownloadResults,
    index: usize,
) -> OcdeStatus {
    super::boundary::guard_value(OcdeStatus::Internal, || {
        results
            .as_ref()
            .and_then(|r| r.items.get(index))
            .map_or(OcdeStatus::InvalidArgument, |i| i.status)
    })
}

/// The path written for document `index` (UTF-8), or NULL if it failed (or NULL/out of range).
/// Borrowed; valid until `ocde_download_results_free`.
///
/// # Safety
/// `results` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn ocde_download_results_path(
    results: *const OcdeDownloadResults,
    index: usize,
) -> *const c_char {
    super::boundary::guard_value(std::ptr::null(), || {
        results
            .as_ref()
            .and_then(|r| r.items.get(index))
            .and_then(|i| i.path.as_ref())
            .map_or(std::ptr::null(), |p| p.as_ptr())
    })
}

/// Why document `index` failed, like `ocde_last_error` ("" when it succeeded; NULL for
/// NULL/out of range). Borrowed; valid until `ocde_download_results_free`.
///
/// # Safety
/// `results` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn ocde_download_results_error(
    results: *const OcdeDownloadResults,
    index: usize,
) -> *const c_char {
    super::boundary::guard_value(std::ptr::null(), || {
        results
            .as_ref()
            .and_then(|r| r.items.get(index))
            .map_or(std::ptr::null(), |i| i.error.as_ptr())
    })
}

/// Frees results. NULL is a no-op.
///
/// # Safety
/// `results` is NULL or results not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ocde_download_results_free(results: *mut OcdeDownloadResults) {
    if !results.is_null() {
        super::boundary::guard_value((), || drop(Box::from_raw(results)));
    }
}
