//! `OcdeSelection` and `OcdeSelectionOptions`.

use super::boundary::{c_string, guard, guard_value, handle_arg, opt_str_arg, out_arg, str_arg};
use super::client::OcdeClient;
use super::OcdeStatus;
use crate::error::{Error, ErrorKind};
use crate::models::DocumentVersion;
use crate::selection::{SelectionOptions, SelectionSession, SelectionStatus};
use once_cell::sync::OnceCell;
use std::ffi::{c_char, c_void, CString};
use std::mem::{offset_of, size_of};
use std::ptr;
use std::time::Duration;

/// Options of `ocde_selection_start`. Prepare one with
/// `ocde_selection_options_init(&options, sizeof options)`, then set the fields you need. Every
/// field's default is zero/NULL, now and in later versions; fields added in later versions go at
/// the end and are read only when the host's `struct_size` covers them, so compiled hosts keep
/// working with newer libraries.
#[repr(C)]
pub struct OcdeSelectionOptions {
    /// `sizeof(OcdeSelectionOptions)` as compiled by the host; set by `ocde_selection_options_init`.
    pub struct_size: u32,
    /// How long (seconds) to listen for the callback (sent as `callback.expires_in`); 0: 3600.
    pub callback_expires_in_s: u32,
    /// Loopback port for the callback listener; 0: an ephemeral port (recommended).
    pub callback_port: u16,
    /// `server_context` from an earlier selection, or NULL. Copied during the call.
    pub server_context: *const c_char,
    /// Array of `supported_file_extensions_count` extensions with the dot (".ifc"), or NULL.
    pub supported_file_extensions: *const *const c_char,
    /// Number of entries in `supported_file_extensions`.
    pub supported_file_extensions_count: usize,
}

/// Sets the `struct_size` bytes at `options` to the defaults (all zero/NULL) and
/// `options->struct_size` to `struct_size` (pass `sizeof(OcdeSelectionOptions)` as the host
/// compiled it). Writes nothing beyond `struct_size` bytes. NULL, or a size too small to hold
/// `struct_size`, is a no-op.
///
/// # Safety
/// `options` is NULL or points to `struct_size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn ocde_selection_options_init(
    options: *mut OcdeSelectionOptions,
    struct_size: usize,
) {
    if options.is_null() || struct_size < size_of::<u32>() {
        return;
    }
    guard_value((), || {
        // Every default is zero; the host's struct may be older (smaller) or newer (larger).
        ptr::write_bytes(options as *mut u8, 0, struct_size);
        (*options).struct_size = u32::try_from(struct_size).unwrap_or(u32::MAX);
    });
}

/// Reads the fields the host's struct actually has (per `struct_size`).
unsafe fn read_options(p: *const OcdeSelectionOptions) -> Result<SelectionOptions, Error> {
    let mut opts = SelectionOptions::default();
    if p.is_null() {
        return Ok(opts);
    }
    let size = (*p).struct_size as usize;
    if size < size_of::<u32>() {
        return Err(Error::invalid(
            "options->struct_size is not set (use ocde_selection_options_init)",
        ));
    }
    macro_rules! has {
        ($field:ident, $ty:ty) => {
            offset_of!(OcdeSelectionOptions, $field) + size_of::<$ty>() <= size
        };
    }
    if has!(callback_expires_in_s, u32) && (*p).callback_expires_in_s > 0 {
        opts.callback_expires_in = Duration::from_secs((*p).callback_expires_in_s.into());
    }
    if has!(callback_port, u16) {
        opts.callback_port = (*p).callback_port;
    }
    if has!(server_context, *const c_char) {
        opts.server_context =
            opt_str_arg((*p).server_context, "options->server_context")?.map(str::to_string);
    }
    if has!(supported_file_extensions_count, usize) && (*p).supported_file_extensions_count > 0 {
        let list = (*p).supported_file_extensions;
        if list.is_null() {
            return Err(Error::invalid(
                "options->supported_file_extensions is NULL but its count is not 0",
            ));
        }
        for i in 0..(*p).supported_file_extensions_count {
            let ext = str_arg(*list.add(i), "options->supported_file_extensions[i]")?;
            opts.supported_file_extensions.push(ext.to_string());
        }
    }
    Ok(opts)
}

/// Receives the CDE's selection page URL to show it (system browser, embedded web view). Called
/// once, on the thread calling `ocde_selection_start`, inside that call; `url` is valid only
/// during the call. Return 0 when the page was opened; any other value aborts the start.
pub type OcdeOpenUrlFn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, url: *const c_char) -> i32>;

/// A selected document version. Every string is UTF-8, borrowed from the selection, valid until
/// `ocde_selection_free`; never NULL except `details_url`.
#[repr(C)]
pub struct OcdeDocument {
    /// `document_id`; "" when the server omitted it.
    pub document_id: *const c_char,
    /// `title`; "" when absent.
    pub title: *const c_char,
    /// `file_description.name` as sent (not sanitised; `ocde_download_document` makes it safe).
    pub file_name: *const c_char,
    /// `file_description.size_in_bytes`; -1 when unknown.
    pub size_in_bytes: i64,
    /// `version_number` (free text).
    pub version_number: *const c_char,
    /// `version_index`; 0 when absent.
    pub version_index: i64,
    /// `creation_date` as sent (RFC 3339 expected).
    pub creation_date: *const c_char,
    /// `links.document_version_download.url`.
    pub download_url: *const c_char,
    /// `links.document_version_metadata.url`.
    pub metadata_url: *const c_char,
    /// `links.document_versions.url`.
    pub versions_url: *const c_char,
    /// `links.document_version.url`.
    pub version_url: *const c_char,
    /// `links.document_details.url`; NULL when absent.
    pub details_url: *const c_char,
}

struct DocumentStrings {
    document_id: CString,
    title: CString,
    file_name: CString,
    size_in_bytes: i64,
    version_number: CString,
    version_index: i64,
    creation_date: CString,
    download_url: CString,
    metadata_url: CString,
    versions_url: CString,
    version_url: CString,
    details_url: Option<CString>,
}

impl DocumentStrings {
    fn new(d: &DocumentVersion) -> Self {
        DocumentStrings {
            document_id: c_string(&d.document_id),
            title: c_string(&d.title),
            file_name: c_string(&d.file_name),
            size_in_bytes: d.size_in_bytes.filter(|s| *s >= 0).unwrap_or(-1),
            version_number: c_string(&d.version_number),
            version_index: d.version_index,
            creation_date: c_string(&d.creation_date),
            download_url: c_string(&d.download_url),
            metadata_url: c_string(&d.metadata_url),
            versions_url: c_string(&d.versions_url),
            version_url: c_string(&d.version_url),
            details_url: d.details_url.as_deref().map(c_string),
        }
    }

    fn view(&self) -> OcdeDocument {
        OcdeDocument {
            document_id: self.document_id.as_ptr(),
            title: self.title.as_ptr(),
            file_name: self.file_name.as_ptr(),
            size_in_bytes: self.size_in_bytes,
            version_number: self.version_number.as_ptr(),
            version_index: self.version_index,
            creation_date: self.creation_date.as_ptr(),
            download_url: self.download_url.as_ptr(),
            metadata_url: self.metadata_url.as_ptr(),
            versions_url: self.versions_url.as_ptr(),
            version_url: self.version_url.as_ptr(),
            details_url: self
                .details_url
                .as_ref()
                .map_or(ptr::null(), |s| s.as_ptr()),
        }
    }
}

struct Selected {
    documents: Vec<DocumentStrings>,
    server_context: Option<CString>,
}

/// An opaque running selection. Use it from one thread at a time, except `ocde_selection_abort`,
/// which any thread may call while another is inside `ocde_selection_poll` (but not while or
/// after it is freed).
pub struct OcdeSelection {
    pub(crate) session: SelectionSession,
    url: CString,
    selected: OnceCell<Selected>,
}

impl OcdeSelection {
    fn cache(&self) -> Option<&Selected> {
        self.selected.get()
    }
}

/// Starts a selection: binds the loopback callback listener (127.0.0.1 only), POSTs
/// `select-documents`, then calls `open_url(user_data, select_documents_url)` on this thread —
/// or, with `open_url` NULL, opens the system browser (a failure to open is `OCDE_STATUS_IO`).
/// `options` NULL means defaults. On `OCDE_STATUS_OK`, `*out_selection` receives a selection the
/// caller owns and frees with `ocde_selection_free`; otherwise nothing is created, nothing keeps
/// listening and `*out_selection` is not written. `open_url` returning non-zero gives
/// `OCDE_STATUS_ABORTED`.
///
/// # Safety
/// `client` is a live client; `options` is NULL or initialised by `ocde_selection_options_init`;
/// `out_selection` points to writable storage.
#[no_mangle]
pub unsafe extern "C" fn ocde_selection_start(
    client: *mut OcdeClient,
    options: *const OcdeSelectionOptions,
    open_url: OcdeOpenUrlFn,
    user_data: *mut c_void,
    out_selection: *mut *mut OcdeSelection,
) -> OcdeStatus {
    let status = guard(|| {
        let c = handle_arg(client, "client")?;
        let out = out_arg(out_selection, "out_selection")?;
        let opts = read_options(options)?;
        let mut opener = |url: &str| open_with(open_url, user_data, url);
        let session = c.client.start_selection(&opts, &mut opener)?;
        let url = c_string(session.select_documents_url());
        *out = Box::into_raw(Box::new(OcdeSelection {
            session,
            url,
            selected: OnceCell::new(),
        }));
        Ok(OcdeStatus::Ok)
    });
    if let Some(c) = (client as *const OcdeClient).as_ref() {
        super::boundary::deliver_tokens(&c.client);
    }
    status
}

/// Opens `url` with the host's `open_url` (on this thread), or the system browser when NULL.
pub(crate) fn open_with(
    open_url: OcdeOpenUrlFn,
    user_data: *mut c_void,
    url: &str,
) -> Result<(), Error> {
    match open_url {
        None => crate::open_in_system_browser(url),
        Some(f) => {
            let text = c_string(url);
            // SAFETY: a host-provided function pointer, called on this thread as documented.
            let rc = unsafe { f(user_data, text.as_ptr()) };
            if rc == 0 {
                Ok(())
            } else {
                Err(Error::new(
                    ErrorKind::Aborted,
                    format!("open_url returned {rc}; nothing was started"),
                ))
            }
        }
    }
}

/// The CDE's selection page URL (`select_documents_url`), borrowed from the selection, valid until
/// it is freed. NULL only if `selection` is NULL.
///
/// # Safety
/// `selection` is NULL or a live selection.
#[no_mangle]
pub unsafe extern "C" fn ocde_selection_url(selection: *const OcdeSelection) -> *const c_char {
    guard_value(ptr::null(), || {
        selection.as_ref().map_or(ptr::null(), |s| s.url.as_ptr())
    })
}

/// Waits up to `timeout_ms` for the browser's callback without using CPU, then returns
/// `OCDE_STATUS_PENDING`. Once the callback came, GETs the selected documents and returns
/// `OCDE_STATUS_OK` (documents via `ocde_selection_count`/`ocde_selection_get`). Other outcomes:
/// `USER_CANCELLED`, `EXPIRED` (callback expiry passed), `ABORTED` (`ocde_selection_abort`). A final
/// status is returned again by every later call, and the listener's port is free once it was
/// returned. If fetching the selected documents fails, that error is returned and the next call
/// tries again (the user's choice is kept). Calls no host callback, except the client's
/// `OcdeTokensFn` when fetching the selected documents refreshed the tokens (on this thread,
/// inside this call).
///
/// # Safety
/// `selection` is a live selection.
#[no_mangle]
pub unsafe extern "C" fn ocde_selection_poll(
    selection: *mut OcdeSelection,
    timeout_ms: u32,
) -> OcdeStatus {
    let status = guard(|| {
        // Shared access only: `ocde_selection_abort` may run concurrently on another thread.
        let s = handle_arg(selection as *const OcdeSelection, "selection")?;
        let status = s.session.poll(Duration::from_millis(timeout_ms.into()))?;
        Ok(match status {
            SelectionStatus::Pending => OcdeStatus::Pending,
            SelectionStatus::Selected => {
                s.selected.get_or_init(|| Selected {
                    documents: s
                        .session
                        .documents()
                        .iter()
                        .map(DocumentStrings::new)
                        .collect(),
                    server_context: s.session.server_context().as_deref().map(c_string),
                });
                OcdeStatus::Ok
            }
            SelectionStatus::UserCancelled => OcdeStatus::UserCancelled,
            SelectionStatus::Expired => OcdeStatus::Expired,
            SelectionStatus::Aborted => OcdeStatus::Aborted,
        })
    });
    if let Some(s) = (selection as *const OcdeSelection).as_ref() {
        super::boundary::deliver_tokens(s.session.client());
    }
    status
}

/// Aborts the selection: a `ocde_selection_poll` blocked on another thread returns
/// `OCDE_STATUS_ABORTED` at once, and so do later polls (unless a final status was already
/// reached). Safe from any thread while the selection is alive. NULL is a no-op.
///
/// # Safety
/// `selection` is NULL or a live selection that no thread is freeing.
#[no_mangle]
pub unsafe extern "C" fn ocde_selection_abort(selection: *mut OcdeSelection) {
    guard_value((), || {
        if let Some(s) = (selection as *const OcdeSelection).as_ref() {
            s.session.abort();
        }
    })
}

/// Number of selected documents; 0 until `ocde_selection_poll` returned `OCDE_STATUS_OK`, or if
/// `selection` is NULL.
///
/// # Safety
/// `selection` is NULL or a live selection.
#[no_mangle]
pub unsafe extern "C" fn ocde_selection_count(selection: *const OcdeSelection) -> usize {
    guard_value(0, || {
        selection
            .as_ref()
            .and_then(OcdeSelection::cache)
            .map_or(0, |c| c.documents.len())
    })
}

/// Writes document `index` into `*out_document`; its strings are borrowed from the selection and
/// valid until `ocde_selection_free`. `OCDE_STATUS_INVALID_ARGUMENT` when `index` is out of range.
///
/// # Safety
/// `selection` is a live selection; `out_document` points to writable storage.
#[no_mangle]
pub unsafe extern "C" fn ocde_selection_get(
    selection: *const OcdeSelection,
    index: usize,
    out_document: *mut OcdeDocument,
) -> OcdeStatus {
    guard(|| {
        let s = handle_arg(selection, "selection")?;
        let out = out_arg(out_document, "out_document")?;
        // Version 0.1's OcdeDocument: when the struct grows, this keeps writing only these fields.
        out.write(document_at(s, index)?.view());
        Ok(OcdeStatus::Ok)
    })
}

/// Like `ocde_selection_get`, for hosts that want fields added to `OcdeDocument` in later
/// versions: writes at most `struct_size` bytes (pass `sizeof(OcdeDocument)` as compiled by the
/// host); bytes beyond this version's struct are set to 0 (unknown fields read as 0 / NULL).
/// `ocde_selection_get` itself always writes exactly the twelve fields of version 0.1, so hosts
/// compiled against this header stay safe when `OcdeDocument` grows.
///
/// # Safety
/// `selection` is a live selection; `out_document` points to `struct_size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn ocde_selection_get_sized(
    selection: *const OcdeSelection,
    index: usize,
    out_document: *mut OcdeDocument,
    struct_size: usize,
) -> OcdeStatus {
    guard(|| {
        let s = handle_arg(selection, "selection")?;
        let out = out_arg(out_document, "out_document")?;
        let doc = document_at(s, index)?.view();
        let n = struct_size.min(size_of::<OcdeDocument>());
        ptr::copy_nonoverlapping(&doc as *const OcdeDocument as *const u8, out as *mut u8, n);
        if struct_size > n {
            // A host compiled against a later, larger OcdeDocument: fields this version does not
            // know read as 0 / NULL, never as whatever was on the host's stack.
            ptr::write_bytes((out as *mut u8).add(n), 0, struct_size - n);
        }
        Ok(OcdeStatus::Ok)
    })
}

fn document_at(s: &OcdeSelection, index: usize) -> Result<&DocumentStrings, Error> {
    let docs = s.cache().map_or(&[][..], |c| &c.documents[..]);
    docs.get(index).ok_or_else(|| {
        Error::invalid(format!(
            "document index {index} out of range (count {})",
            docs.len()
        ))
    })
}

/// The `server_context` of the selected-documents answer (send it with the next selection), or
/// NULL if none or not yet selected. Borrowed; valid until the selection is freed.
///
/// # Safety
/// `selection` is NULL or a live selection.
#[no_mangle]
pub unsafe extern "C" fn ocde_selection_server_context(
    selection: *const OcdeSelection,
) -> *const c_char {
    guard_value(ptr::null(), || {
        selection
            .as_ref()
            .and_then(OcdeSelection::cache)
            .and_then(|c| c.server_context.as_ref())
            .map_or(ptr::null(), |c| c.as_ptr())
    })
}

/// Frees a selection, stopping its listener (the port is free when this returns). Every string
/// borrowed from it becomes invalid. NULL is a no-op.
///
/// # Safety
/// `selection` is NULL or a live selection no other thread is using.
#[no_mangle]
pub unsafe extern "C" fn ocde_selection_free(selection: *mut OcdeSelection) {
    if !selection.is_null() {
        guard_value((), || drop(Box::from_raw(selection)));
    }
}
