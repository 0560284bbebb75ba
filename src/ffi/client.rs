//! `OcdeClient`: a Documents API endpoint plus token and settings.

use super::boundary::{c_string, guard, guard_value, handle_arg, opt_str_arg, out_arg, str_arg};
use super::OcdeStatus;
use crate::client::Client;
use crate::http::Timeouts;
use std::ffi::{c_char, c_void};
use std::sync::Mutex;
use std::time::Duration;

/// Severity of a log message.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OcdeLogLevel {
    /// Worth knowing, not a failure (e.g. a declared size that differs from the file received).
    Warning = 1,
    /// Diagnostic detail.
    Info = 2,
}

/// Receives log messages. Called only on the thread that called the library function, inside
/// that call. `message` is UTF-8, valid only during the call.
pub type OcdeLogFn = Option<
    unsafe extern "C" fn(user_data: *mut c_void, level: OcdeLogLevel, message: *const c_char),
>;

struct LogSink {
    f: unsafe extern "C" fn(*mut c_void, OcdeLogLevel, *const c_char),
    user_data: *mut c_void,
}
// SAFETY: the sink is only ever invoked on the thread that is inside a library call made by the
// host; the host promised (header) that `user_data` may be used from the threads it calls us on.
unsafe impl Send for LogSink {}

/// An opaque client of one CDE's Documents API. Create with `ocde_client_new`, free with
/// `ocde_client_free`. Thread-safe: one client may serve several threads at once.
pub struct OcdeClient {
    pub(crate) client: Client,
    log: Mutex<Option<LogSink>>,
    api_url: std::ffi::CString,
}

impl OcdeClient {
    /// Wraps a core client.
    pub(crate) fn wrap(client: Client) -> OcdeClient {
        let api_url = c_string(client.api_url().as_str().trim_end_matches('/'));
        OcdeClient {
            client,
            log: Mutex::new(None),
            api_url,
        }
    }

    /// Sends `messages` to the host's log callback, if one is set (on the calling thread).
    pub(crate) fn log(&self, level: OcdeLogLevel, messages: &[String]) {
        // Copy the sink out: the host's function runs without our lock held, so it may call
        // ocde_client_set_log_callback (or anything else) without deadlocking.
        let sink = self
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|s| (s.f, s.user_data));
        if let Some((f, user_data)) = sink {
            for m in messages {
                let text = c_string(m);
                // SAFETY: a host-provided function pointer, called as documented.
                unsafe { f(user_data, level, text.as_ptr()) };
            }
        }
    }
}

/// Creates a client for the Documents API at `documents_api_url` (e.g.
/// `"https://cde.example.com/documents/1.0"`; http or https). On success `*out_client` receives a
/// new client that the caller owns and frees with `ocde_client_free`; on failure it is not written.
///
/// # Safety
/// `documents_api_url` is a NUL-terminated string; `out_client` points to writable storage.
#[no_mangle]
pub unsafe extern "C" fn ocde_client_new(
    documents_api_url: *const c_char,
    out_client: *mut *mut OcdeClient,
) -> OcdeStatus {
    guard(|| {
        let out = out_arg(out_client, "out_client")?;
        let url = str_arg(documents_api_url, "documents_api_url")?;
        let client = Client::new(url)?;
        *out = Box::into_raw(Box::new(OcdeClient::wrap(client)));
        Ok(OcdeStatus::Ok)
    })
}

/// Frees a client. NULL is a no-op. Selections and sign-ins started from it stay valid (they
/// share its settings internally), but from here on no callback of the client (`OcdeTokensFn`,
/// `OcdeLogFn`) is called again, so the host may free their `user_data` with it; tokens a later
/// refresh obtains are used but not reported. Must not be called while another thread is inside
/// a call on this client.
///
/// # Safety
/// `client` is NULL or a client from `ocde_client_new`, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ocde_client_free(client: *mut OcdeClient) {
    if !client.is_null() {
        guard_value((), || {
            let client = Box::from_raw(client);
            // The shared state outlives this handle (selections hold it): forget the host's
            // callback and its user_data now, or a later poll would call into freed memory.
            client.client.set_token_observer(None);
            drop(client)
        });
    }
}

/// Sets the bearer token sent as `Authorization: Bearer <token>` — only ever to the origin
/// (scheme, host, port) of the documents API URL, never across a redirect to another origin or
/// after a 303. NULL clears it. The string is copied.
///
/// # Safety
/// `client` is a live client; `bearer_token` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ocde_client_set_access_token(
    client: *mut OcdeClient,
    bearer_token: *const c_char,
) -> OcdeStatus {
    guard(|| {
        let c = handle_arg(client, "client")?;
        let token = opt_str_arg(bearer_token, "bearer_token")?;
        c.client.set_access_token(token)?;
        Ok(OcdeStatus::Ok)
    })
}

/// Sets the connect timeout (resolve + TCP + TLS) and the stall timeout (longest time without any
/// progress while sending or receiving), in milliseconds; 0 keeps the default (15 000 and
/// 30 000). There is no total time limit: a large file may take as long as it keeps moving.
///
/// # Safety
/// `client` is a live client.
#[no_mangle]
pub unsafe extern "C" fn ocde_client_set_timeouts(
    client: *mut OcdeClient,
    connect_timeout_ms: u32,
    stall_timeout_ms: u32,
) -> OcdeStatus {
    guard(|| {
        let c = handle_arg(client, "client")?;
        let defaults = Timeouts::default();
        let pick = |ms: u32, default: Duration| {
            if ms == 0 {
                default
            } else {
                Duration::from_millis(ms.into())
            }
        };
        c.client.set_timeouts(Timeouts {
            connect: pick(connect_timeout_ms, defaults.connect),
            stall: pick(stall_timeout_ms, defaults.stall),
        });
        Ok(OcdeStatus::Ok)
    })
}

/// Sets (or with `log` NULL removes) a log callback. It is called only on the thread that is
/// inside a library call on this client, within that call; it must not call back into the library
/// with the same client.
///
/// # Safety
/// `client` is a live client; `log` is NULL or a valid function for as long as it is set.
#[no_mangle]
pub unsafe extern "C" fn ocde_client_set_log_callback(
    client: *mut OcdeClient,
    log: OcdeLogFn,
    user_data: *mut c_void,
) -> OcdeStatus {
    guard(|| {
        let c = handle_arg(client, "client")?;
        *c.log.lock().unwrap_or_else(|p| p.into_inner()) = log.map(|f| LogSink { f, user_data });
        Ok(OcdeStatus::Ok)
    })
}

/// Sets how often an idempotent request (GET) is retried after a 429/500/502/503/504 answer or
/// a failed connection, and how often a broken download is resumed (`Range`); 0 disables both.
/// Waits back off exponentially from `base_delay_ms` (0: 250), or follow the server's
/// `Retry-After`, never longer than 10 s. Default: 3 retries.
///
/// # Safety
/// `client` is a live client.
#[no_mangle]
pub unsafe extern "C" fn ocde_client_set_retries(
    client: *mut OcdeClient,
    max_retries: u32,
    base_delay_ms: u32,
) -> OcdeStatus {
    guard(|| {
        let c = handle_arg(client, "client")?;
        let defaults = crate::http::RetryPolicy::default();
        let policy = crate::http::RetryPolicy {
            max_retries,
            base_delay: match base_delay_ms {
                0 => defaults.base_delay,
                ms => Duration::from_millis(ms.into()),
            },
            ..defaults
        };
        c.client.set_retry_policy(policy);
        Ok(OcdeStatus::Ok)
    })
}

/// Aborts every download running on this client, from any thread: each returns
/// `OCDE_STATUS_ABORTED` (leaving no file) at its next received chunk or retry wait, and at the
/// latest when the stall timeout fires. Downloads started after this call are not affected.
/// NULL is a no-op. (To abort a selection's wait, use `ocde_selection_abort`.)
///
/// # Safety
/// `client` is NULL or a live client that no thread is freeing.
#[no_mangle]
pub unsafe extern "C" fn ocde_client_abort_downloads(client: *mut OcdeClient) {
    guard_value((), || {
        if let Some(c) = (client as *const OcdeClient).as_ref() {
            c.client.abort_downloads();
        }
    })
}

/// Trusts exactly the certificates of the PEM text `pem` (one or more `CERTIFICATE` blocks) as
/// TLS root certificates for this client, instead of the bundled Mozilla roots — for a company CA
/// or a TLS-inspecting proxy. NULL goes back to the bundled roots. The text is copied.
/// `OCDE_STATUS_INVALID_ARGUMENT` when it holds no certificate.
///
/// # Safety
/// `client` is a live client; `pem` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ocde_client_set_root_certificates(
    client: *mut OcdeClient,
    pem: *const c_char,
) -> OcdeStatus {
    guard(|| {
        let c = handle_arg(client, "client")?;
        let pem = opt_str_arg(pem, "pem")?;
        c.client.set_root_certificates_pem(pem.map(str::as_bytes))?;
        Ok(OcdeStatus::Ok)
    })
}

/// The Documents API base URL this client talks to (as given, or as discovered by
/// `ocde_client_new_for_server`), without a trailing slash. Borrowed; valid until
/// `ocde_client_free`. NULL only for NULL.
///
/// # Safety
/// `client` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn ocde_client_documents_api_url(client: *const OcdeClient) -> *const c_char {
    guard_value(std::ptr::null(), || {
        client
            .as_ref()
            .map_or(std::ptr::null(), |c| c.api_url.as_ptr())
    })
}
