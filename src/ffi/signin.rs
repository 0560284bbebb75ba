//! Discovery (`OcdeServer`), OAuth2 sign-in (`OcdeSignIn`), tokens and the current user.

use super::boundary::{c_string, guard, guard_value, handle_arg, opt_str_arg, out_arg, str_arg};
use super::client::OcdeClient;
use super::selection::OcdeOpenUrlFn;
use super::OcdeStatus;
use crate::client::Client;
use crate::error::Error;
use crate::foundation::{discover, Discovery};
use crate::http::{parse_pem_certificates, HttpSettings};
use crate::oauth::{OAuthClient, SignInSession, SignInStatus, TokenSet, DEFAULT_SIGN_IN_EXPIRY};
use std::ffi::{c_char, c_void, CString};
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

/// What a server offers, from `GET /foundation/versions` and `GET /foundation/1.0/auth`.
/// Create with `ocde_server_discover`, free with `ocde_server_free`.
pub struct OcdeServer {
    discovery: Discovery,
    /// The roots discovery trusted (PEM), for the clients made from it; `None`: bundled roots.
    root_certificates_pem: Option<String>,
    documents_api_url: CString,
    auth_url: Option<CString>,
    token_url: Option<CString>,
    code_challenge_method: Option<CString>,
}

/// Discovers the server at `server_url` (e.g. `"https://cde.example.com"`): the Documents API
/// 1.0 base URL (`api_base_url`, or the default `{server}/documents/1.0`) and the OAuth2
/// endpoints. A server without `/foundation/1.0/auth` is still discovered (no sign-in: the auth
/// accessors return NULL). Uses default timeouts and the bundled TLS roots. On OK `*out_server`
/// is the caller's, freed with `ocde_server_free`.
///
/// # Safety
/// `server_url` is NUL-terminated; `out_server` is writable.
#[no_mangle]
pub unsafe extern "C" fn ocde_server_discover(
    server_url: *const c_char,
    out_server: *mut *mut OcdeServer,
) -> OcdeStatus {
    guard(|| {
        let out = out_arg(out_server, "out_server")?;
        let url = str_arg(server_url, "server_url")?;
        let discovery = discover(url, &HttpSettings::default())?;
        *out = Box::into_raw(Box::new(server_handle(discovery, None)));
        Ok(OcdeStatus::Ok)
    })
}

/// As `ocde_server_discover`, trusting exactly the root certificates of the PEM text
/// `root_certificates_pem` (a company or test CA) instead of the bundled roots (NULL: bundled).
/// Clients made from the result with `ocde_client_new_from_server` trust the same roots. The
/// string is copied.
///
/// # Safety
/// `server_url` and `root_certificates_pem` (if not NULL) are NUL-terminated; `out_server` is
/// writable.
#[no_mangle]
pub unsafe extern "C" fn ocde_server_discover_with_roots(
    server_url: *const c_char,
    root_certificates_pem: *const c_char,
    out_server: *mut *mut OcdeServer,
) -> OcdeStatus {
    guard(|| {
        let out = out_arg(out_server, "out_server")?;
        let url = str_arg(server_url, "server_url")?;
        let pem = opt_str_arg(root_certificates_pem, "root_certificates_pem")?;
        let settings = HttpSettings {
            root_certificates: pem
                .map(|p| parse_pem_certificates(p.as_bytes()).map(Arc::new))
                .transpose()?,
            ..HttpSettings::default()
        };
        let discovery = discover(url, &settings)?;
        *out = Box::into_raw(Box::new(server_handle(discovery, pem.map(str::to_string))));
        Ok(OcdeStatus::Ok)
    })
}

fn server_handle(discovery: Discovery, root_certificates_pem: Option<String>) -> OcdeServer {
    let auth = discovery.auth.as_ref();
    OcdeServer {
        documents_api_url: c_string(&discovery.documents_api_url),
        auth_url: auth.map(|a| c_string(&a.auth_url)),
        token_url: auth.map(|a| c_string(&a.token_url)),
        code_challenge_method: auth
            .and_then(|a| a.code_challenge_method.as_deref())
            .map(c_string),
        discovery,
        root_certificates_pem,
    }
}

fn opt_ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(ptr::null(), |c| c.as_ptr())
}

/// The Documents API base URL. Borrowed; valid until `ocde_server_free`. NULL only for NULL.
///
/// # Safety
/// `server` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn ocde_server_documents_api_url(server: *const OcdeServer) -> *const c_char {
    guard_value(ptr::null(), || {
        server
            .as_ref()
            .map_or(ptr::null(), |s| s.documents_api_url.as_ptr())
    })
}

/// `oauth2_auth_url`, or NULL when the server offers no sign-in. Borrowed, as above.
///
/// # Safety
/// `server` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn ocde_server_auth_url(server: *const OcdeServer) -> *const c_char {
    guard_value(ptr::null(), || {
        server
            .as_ref()
            .map_or(ptr::null(), |s| opt_ptr(&s.auth_url))
    })
}

/// `oauth2_token_url`, or NULL when the server offers no sign-in. Borrowed, as above.
///
/// # Safety
/// `server` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn ocde_server_token_url(server: *const OcdeServer) -> *const c_char {
    guard_value(ptr::null(), || {
        server
            .as_ref()
            .map_or(ptr::null(), |s| opt_ptr(&s.token_url))
    })
}

/// `code_challenge_method` (`"S256"`, `"plain"`), or NULL when not given. Borrowed, as above.
///
/// # Safety
/// `server` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn ocde_server_code_challenge_method(
    server: *const OcdeServer,
) -> *const c_char {
    guard_value(ptr::null(), || {
        server
            .as_ref()
            .map_or(ptr::null(), |s| opt_ptr(&s.code_challenge_method))
    })
}

/// 1 when `pkce_required` is true, else 0 (also for NULL or no sign-in).
///
/// # Safety
/// `server` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn ocde_server_pkce_required(server: *const OcdeServer) -> i32 {
    guard_value(0, || {
        server
            .as_ref()
            .and_then(|s| s.discovery.auth.as_ref())
            .map_or(0, |a| i32::from(a.pkce_required))
    })
}

/// 1 when `http_basic_supported` is true, else 0.
///
/// # Safety
/// `server` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn ocde_server_http_basic_supported(server: *const OcdeServer) -> i32 {
    guard_value(0, || {
        server
            .as_ref()
            .and_then(|s| s.discovery.auth.as_ref())
            .map_or(0, |a| i32::from(a.http_basic_supported))
    })
}

/// 1 when `supported_oauth2_flows` lists `flow` (e.g. `"authorization_code_grant"`), else 0.
///
/// # Safety
/// `server` is NULL or live; `flow` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ocde_server_supports_flow(
    server: *const OcdeServer,
    flow: *const c_char,
) -> i32 {
    guard_value(0, || {
        let Ok(flow) = str_arg(flow, "flow") else {
            return 0;
        };
        server
            .as_ref()
            .and_then(|s| s.discovery.auth.as_ref())
            .map_or(0, |a| {
                i32::from(a.supported_flows.iter().any(|f| f == flow))
            })
    })
}

/// Frees a server description. NULL is a no-op.
///
/// # Safety
/// `server` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn ocde_server_free(server: *mut OcdeServer) {
    if !server.is_null() {
        guard_value((), || drop(Box::from_raw(server)));
    }
}

/// Creates a client straight from a server URL: discovery, then a client for its Documents API
/// that knows the server's sign-in endpoints (for `ocde_sign_in_start`, refresh and
/// `ocde_client_current_user`). On OK `*out_client` is the caller's (`ocde_client_free`).
///
/// # Safety
/// `server_url` is NUL-terminated; `out_client` is writable.
#[no_mangle]
pub unsafe extern "C" fn ocde_client_new_for_server(
    server_url: *const c_char,
    out_client: *mut *mut OcdeClient,
) -> OcdeStatus {
    guard(|| {
        let out = out_arg(out_client, "out_client")?;
        let url = str_arg(server_url, "server_url")?;
        let discovery = discover(url, &HttpSettings::default())?;
        *out = Box::into_raw(Box::new(OcdeClient::wrap(client_for(discovery, None)?)));
        Ok(OcdeStatus::Ok)
    })
}

/// Creates a client from a discovery result (as `ocde_client_new_for_server` does, without
/// discovering again), trusting the roots the discovery trusted. On OK `*out_client` is the
/// caller's (`ocde_client_free`); `server` may be freed afterwards.
///
/// # Safety
/// `server` is live; `out_client` is writable.
#[no_mangle]
pub unsafe extern "C" fn ocde_client_new_from_server(
    server: *const OcdeServer,
    out_client: *mut *mut OcdeClient,
) -> OcdeStatus {
    guard(|| {
        let s = handle_arg(server, "server")?;
        let out = out_arg(out_client, "out_client")?;
        let client = client_for(s.discovery.clone(), s.root_certificates_pem.as_deref())?;
        *out = Box::into_raw(Box::new(OcdeClient::wrap(client)));
        Ok(OcdeStatus::Ok)
    })
}

fn client_for(discovery: Discovery, roots_pem: Option<&str>) -> Result<Client, Error> {
    let client = Client::new(&discovery.documents_api_url)?;
    if let Some(pem) = roots_pem {
        client.set_root_certificates_pem(Some(pem.as_bytes()))?;
    }
    client.set_auth_info(discovery.auth, Some(discovery.foundation_url));
    Ok(client)
}

/// Receives every new token set — after a sign-in and after every refresh — so the host can keep
/// it in its own secure store. `refresh_token` is NULL when the server gave none;
/// `expires_at_unix` is 0 when unknown. The strings are valid only during the call. Called on the
/// thread that called the library, inside the call that obtained the tokens (also when the
/// refresh happened on a worker thread of `ocde_download_selection`), never inside another
/// thread's call on the same client. Never called after `ocde_client_free`.
/// It runs after the outcome of that call is set: `ocde_last_error` and `ocde_last_http_status`
/// still describe that call afterwards, even if the callback itself called other functions
/// of the library (it may; it must not free the client).
pub type OcdeTokensFn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        access_token: *const c_char,
        refresh_token: *const c_char,
        expires_at_unix: i64,
    ),
>;

struct TokenSink {
    f: unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, i64),
    user_data: *mut c_void,
}
// SAFETY: invoked only by Client::deliver_token_events, which the C ABI calls on the host's own
// calling thread; the host vouches that user_data may be used there.
unsafe impl Send for TokenSink {}
unsafe impl Sync for TokenSink {}

/// Sets the application's OAuth2 `client_id` and, for a confidential client only, its
/// `client_secret` (NULL for a public client; sent by HTTP Basic when the server supports it,
/// else in the form body), and the callback told of new tokens (NULL: none). Strings are copied.
///
/// # Safety
/// `client` is live; strings NULL (where allowed) or NUL-terminated; `on_tokens` valid while set.
#[no_mangle]
pub unsafe extern "C" fn ocde_client_set_oauth(
    client: *mut OcdeClient,
    client_id: *const c_char,
    client_secret: *const c_char,
    on_tokens: OcdeTokensFn,
    user_data: *mut c_void,
) -> OcdeStatus {
    guard(|| {
        let c = handle_arg(client, "client")?;
        let id = str_arg(client_id, "client_id")?;
        if id.is_empty() {
            return Err(Error::invalid("client_id is empty"));
        }
        let secret = opt_str_arg(client_secret, "client_secret")?;
        c.client.set_oauth_client(OAuthClient {
            client_id: id.to_string(),
            client_secret: secret.map(str::to_string),
        });
        let observer = on_tokens.map(|f| {
            // No lock around the call: the host's callback may call the library again, and a
            // refresh inside that call delivers tokens through this same closure.
            let sink = TokenSink { f, user_data };
            Arc::new(move |t: &TokenSet| {
                let sink = &sink; // the whole (Send + Sync) struct, not its raw-pointer field
                let access = c_string(&t.access_token);
                let refresh = t.refresh_token.as_deref().map(c_string);
                // SAFETY: a host-provided function pointer, called on the host's thread.
                unsafe {
                    (sink.f)(
                        sink.user_data,
                        access.as_ptr(),
                        refresh.as_ref().map_or(ptr::null(), |r| r.as_ptr()),
                        t.expires_at_unix.unwrap_or(0),
                    )
                };
            }) as crate::client::TokenObserver
        });
        c.client.set_token_observer(observer);
        Ok(OcdeStatus::Ok)
    })
}

/// Hands over a refresh token the host stored earlier (NULL forgets it): the next request
/// refreshes first, so no browser is needed. The string is copied.
///
/// # Safety
/// `client` is live; `refresh_token` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ocde_client_set_refresh_token(
    client: *mut OcdeClient,
    refresh_token: *const c_char,
) -> OcdeStatus {
    guard(|| {
        let c = handle_arg(client, "client")?;
        c.client
            .set_refresh_token(opt_str_arg(refresh_token, "refresh_token")?)?;
        Ok(OcdeStatus::Ok)
    })
}

/// A running sign-in. Same threading rules as `OcdeSelection`.
pub struct OcdeSignIn {
    session: SignInSession,
    url: CString,
}

/// Starts signing in with the authorization code grant and PKCE: binds a loopback listener
/// (127.0.0.1, ephemeral port, random path, used as the exact `redirect_uri`), builds the
/// authorization URL with a random `state`, and calls `open_url` with it on this thread (NULL:
/// the system browser). The client needs the server's endpoints (`ocde_client_new_for_server`)
/// and a client id (`ocde_client_set_oauth`). `expires_in_s` 0 means 600 s. On OK
/// `*out_sign_in` is the caller's (`ocde_sign_in_free`).
///
/// # Safety
/// `client` is live; `out_sign_in` writable.
#[no_mangle]
pub unsafe extern "C" fn ocde_sign_in_start(
    client: *mut OcdeClient,
    expires_in_s: u32,
    open_url: OcdeOpenUrlFn,
    user_data: *mut c_void,
    out_sign_in: *mut *mut OcdeSignIn,
) -> OcdeStatus {
    guard(|| {
        let c = handle_arg(client, "client")?;
        let out = out_arg(out_sign_in, "out_sign_in")?;
        let expiry = match expires_in_s {
            0 => DEFAULT_SIGN_IN_EXPIRY,
            s => Duration::from_secs(s.into()),
        };
        let mut opener = |url: &str| super::selection::open_with(open_url, user_data, url);
        let session = SignInSession::start(&c.client, expiry, &mut opener)?;
        let url = c_string(session.url());
        *out = Box::into_raw(Box::new(OcdeSignIn { session, url }));
        Ok(OcdeStatus::Ok)
    })
}

/// The authorization URL. Borrowed; valid until `ocde_sign_in_free`. NULL only for NULL.
///
/// # Safety
/// `sign_in` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn ocde_sign_in_url(sign_in: *const OcdeSignIn) -> *const c_char {
    guard_value(ptr::null(), || {
        sign_in.as_ref().map_or(ptr::null(), |s| s.url.as_ptr())
    })
}

/// Waits up to `timeout_ms` for the browser's redirect without using CPU: `PENDING`; once it
/// came, exchanges the code for tokens (code_verifier, exact redirect_uri), stores them on the
/// client (the token callback is called inside this call) and returns OK. The user pressing Deny
/// (`error=access_denied`) gives `USER_CANCELLED`; expiry `EXPIRED`; `ocde_sign_in_abort`
/// `ABORTED`. A redirect with another `state` is refused and the wait goes on. The final status
/// (or the exchange's error) is returned again by later calls; the port is free once it was.
///
/// # Safety
/// `sign_in` is live.
#[no_mangle]
pub unsafe extern "C" fn ocde_sign_in_poll(
    sign_in: *mut OcdeSignIn,
    timeout_ms: u32,
) -> OcdeStatus {
    let Some(s) = (sign_in as *const OcdeSignIn).as_ref() else {
        return guard(|| Err(Error::invalid("sign_in is NULL")));
    };
    let status = guard(|| {
        Ok(
            match s.session.poll(Duration::from_millis(timeout_ms.into()))? {
                SignInStatus::Pending => OcdeStatus::Pending,
                SignInStatus::SignedIn => OcdeStatus::Ok,
                SignInStatus::Denied => OcdeStatus::UserCancelled,
                SignInStatus::Expired => OcdeStatus::Expired,
                SignInStatus::Aborted => OcdeStatus::Aborted,
            },
        )
    });
    super::boundary::deliver_tokens(s.session.client());
    status
}

/// Aborts the sign-in from any thread (wakes a blocked poll). NULL is a no-op.
///
/// # Safety
/// `sign_in` is NULL or live and not being freed.
#[no_mangle]
pub unsafe extern "C" fn ocde_sign_in_abort(sign_in: *mut OcdeSignIn) {
    guard_value((), || {
        if let Some(s) = (sign_in as *const OcdeSignIn).as_ref() {
            s.session.abort();
        }
    })
}

/// Frees a sign-in (stops its listener). NULL is a no-op.
///
/// # Safety
/// `sign_in` is NULL or live and unused by other threads.
#[no_mangle]
pub unsafe extern "C" fn ocde_sign_in_free(sign_in: *mut OcdeSignIn) {
    if !sign_in.is_null() {
        guard_value((), || drop(Box::from_raw(sign_in)));
    }
}

/// Who is signed in (`GET {foundation}/1.0/current-user`): on OK `*out_id` and `*out_name` (each
/// may be NULL to skip) receive strings the caller frees with `ocde_string_free`.
///
/// # Safety
/// `client` is live; out pointers NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ocde_client_current_user(
    client: *mut OcdeClient,
    out_id: *mut *mut c_char,
    out_name: *mut *mut c_char,
) -> OcdeStatus {
    let Some(c) = (client as *const OcdeClient).as_ref() else {
        return guard(|| Err(Error::invalid("client is NULL")));
    };
    let status = guard(|| {
        let user = c.client.current_user()?;
        if !out_id.is_null() {
            *out_id = c_string(&user.id).into_raw();
        }
        if !out_name.is_null() {
            *out_name = c_string(&user.name).into_raw();
        }
        Ok(OcdeStatus::Ok)
    });
    super::boundary::deliver_tokens(&c.client);
    status
}
