//! Sign-in (issue "Sign-in: Foundation API discovery and OAuth2 authorization code with PKCE"):
//! discovery, sign-in through the loopback listener, token refresh, current user — through the
//! C ABI against the simulator's Foundation API and OAuth2 server.

mod common;
use common::*;
use opencde_documents::ffi::client::OcdeClient;
use opencde_documents::ffi::signin::*;
use opencde_documents::ffi::{ocde_last_http_status, ocde_string_free, OcdeStatus};
use std::ffi::{c_char, c_void, CStr};
use std::time::Duration;

const CLIENT_ID: &str = "ocde-test-client";

#[derive(Default)]
struct Tokens {
    sets: Vec<(String, Option<String>, i64, std::thread::ThreadId)>,
}

unsafe extern "C" fn on_tokens(
    user_data: *mut c_void,
    access: *const c_char,
    refresh: *const c_char,
    expires_at: i64,
) {
    let t = &mut *(user_data as *mut Tokens);
    let refresh =
        (!refresh.is_null()).then(|| CStr::from_ptr(refresh).to_string_lossy().into_owned());
    t.sets.push((
        CStr::from_ptr(access).to_string_lossy().into_owned(),
        refresh,
        expires_at,
        std::thread::current().id(),
    ));
}

fn server_url(sim: &Simulator) -> String {
    sim.cde_origin()
}

/// A client made from the server URL, with the OAuth client id and a token recorder.
fn client_for(sim: &Simulator, secret: Option<&str>, tokens: &mut Tokens) -> CClient {
    let mut raw: *mut OcdeClient = std::ptr::null_mut();
    let status = unsafe { ocde_client_new_for_server(c(&server_url(sim)).as_ptr(), &mut raw) };
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    let secret = secret.map(c);
    let status = unsafe {
        ocde_client_set_oauth(
            raw,
            c(CLIENT_ID).as_ptr(),
            secret.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            Some(on_tokens),
            tokens as *mut Tokens as *mut c_void,
        )
    };
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    CClient(raw)
}

struct SignIn(*mut OcdeSignIn);

impl SignIn {
    fn start(
        client: &CClient,
        expires_s: u32,
        opener: &Opener,
    ) -> Result<SignIn, (OcdeStatus, String)> {
        let mut raw = std::ptr::null_mut();
        let status = unsafe {
            ocde_sign_in_start(
                client.0,
                expires_s,
                Some(record_url),
                opener as *const Opener as *mut c_void,
                &mut raw,
            )
        };
        if status == OcdeStatus::Ok {
            Ok(SignIn(raw))
        } else {
            Err((status, last_error()))
        }
    }
    fn url(&self) -> String {
        unsafe { text(ocde_sign_in_url(self.0)) }.unwrap()
    }
    fn wait(&self) -> OcdeStatus {
        for _ in 0..100 {
            let s = unsafe { ocde_sign_in_poll(self.0, 200) };
            if s != OcdeStatus::Pending {
                return s;
            }
        }
        OcdeStatus::Pending
    }
}

impl Drop for SignIn {
    fn drop(&mut self) {
        unsafe { ocde_sign_in_free(self.0) }
    }
}

unsafe extern "C" fn record_url(user_data: *mut c_void, url: *const c_char) -> i32 {
    let o = &*(user_data as *const Opener);
    o.urls.lock().unwrap().push((
        CStr::from_ptr(url).to_string_lossy().into_owned(),
        std::thread::current().id(),
    ));
    0
}

/// Signs in (the simulated browser presses "Sign in"); returns the sign-in handle.
fn signed_in(sim: &Simulator, client: &CClient) -> SignIn {
    let s = SignIn::start(client, 0, &Opener::new()).unwrap_or_else(|e| panic!("{e:?}"));
    sim.browse_sign_in(&s.url(), true).unwrap();
    assert_eq!(s.wait(), OcdeStatus::Ok, "{}", last_error());
    s
}

/// A protected simulator whose access tokens live `seconds`.
fn with_short_lived_tokens(seconds: u64) -> Simulator {
    Simulator::start(protected(SimConfig {
        access_token_lifetime: seconds,
        ..Default::default()
    }))
    .unwrap()
}

fn protected(config: SimConfig) -> SimConfig {
    // The CDE's API needs a token; only tokens issued by the simulator's OAuth server work.
    SimConfig {
        required_token: Some("not-known-to-the-client".into()),
        ..config
    }
}

#[test]
fn discovery_reads_versions_and_auth() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let mut server = std::ptr::null_mut();
    assert_eq!(
        unsafe { ocde_server_discover(c(&server_url(&sim)).as_ptr(), &mut server) },
        OcdeStatus::Ok,
        "{}",
        last_error()
    );
    unsafe {
        assert_eq!(
            text(ocde_server_documents_api_url(server)).unwrap(),
            sim.documents_api_url()
        );
        assert_eq!(
            text(ocde_server_auth_url(server)).unwrap(),
            format!("{}/oauth/authorize", sim.cde_origin())
        );
        assert_eq!(
            text(ocde_server_token_url(server)).unwrap(),
            format!("{}/oauth/token", sim.cde_origin())
        );
        assert_eq!(
            text(ocde_server_code_challenge_method(server)).as_deref(),
            Some("S256")
        );
        assert_eq!(ocde_server_pkce_required(server), 1);
        assert_eq!(
            ocde_server_supports_flow(server, c("authorization_code_grant").as_ptr()),
            1
        );
        assert_eq!(
            ocde_server_supports_flow(server, c("implicit_grant").as_ptr()),
            0
        );
        ocde_server_free(server);
    }
}

#[test]
fn discovery_variants_default_base_url_and_no_auth() {
    let sim = Simulator::start(SimConfig {
        omit_api_base_url: true,
        no_auth_endpoint: true,
        ..Default::default()
    })
    .unwrap();
    let mut server = std::ptr::null_mut();
    assert_eq!(
        unsafe { ocde_server_discover(c(&server_url(&sim)).as_ptr(), &mut server) },
        OcdeStatus::Ok,
        "{}",
        last_error()
    );
    unsafe {
        assert_eq!(
            text(ocde_server_documents_api_url(server)).unwrap(),
            format!("{}/documents/1.0", sim.cde_origin())
        );
        assert!(ocde_server_auth_url(server).is_null());
        assert_eq!(ocde_server_pkce_required(server), 0);
        ocde_server_free(server);
    }
    // Sign-in against such a server fails with a clear status, and nothing is left listening.
    let mut tokens = Tokens::default();
    let client = client_for(&sim, None, &mut tokens);
    let (status, message) = SignIn::start(&client, 0, &Opener::new()).err().unwrap();
    assert_eq!(status, OcdeStatus::Protocol);
    assert!(message.contains("no OAuth2 sign-in"), "{message}");
    // Not a Foundation server at all.
    let plain = TcpNotFound::start();
    let mut server = std::ptr::null_mut();
    assert_eq!(
        unsafe { ocde_server_discover(c(&plain.url()).as_ptr(), &mut server) },
        OcdeStatus::Protocol
    );
    assert!(server.is_null());
}

/// A tiny server answering 404 to everything.
struct TcpNotFound(std::net::SocketAddr);
impl TcpNotFound {
    fn start() -> TcpNotFound {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            for s in l.incoming().take(4) {
                let Ok(mut s) = s else { continue };
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf);
                let _ = s.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        TcpNotFound(addr)
    }
    fn url(&self) -> String {
        format!("http://{}", self.0)
    }
}

#[test]
fn sign_in_then_select_and_download_with_the_issued_token() {
    let sim = Simulator::start(protected(SimConfig::default())).unwrap();
    let mut tokens = Tokens::default();
    let client = client_for(&sim, None, &mut tokens);
    let opener = Opener::new();
    let s = SignIn::start(&client, 0, &opener).unwrap();
    let url = s.url();
    // PKCE S256, a random state and an exact loopback redirect URI.
    assert!(
        url.contains("code_challenge_method=S256")
            && url.contains("state=")
            && url.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A"),
        "{url}"
    );
    assert_eq!(
        opener.urls.lock().unwrap()[0].1,
        std::thread::current().id()
    );
    let outcome = sim.browse_sign_in(&url, true).unwrap();
    assert!(outcome.body.contains("signed in"), "{}", outcome.body);
    assert_eq!(s.wait(), OcdeStatus::Ok, "{}", last_error());
    assert_eq!(tokens.sets.len(), 1);
    let (access, refresh, expires, thread) = tokens.sets[0].clone();
    assert!(sim.issued_access_tokens().contains(&access));
    assert!(refresh.is_some() && expires > 0);
    assert_eq!(
        thread,
        std::thread::current().id(),
        "token callback on another thread"
    );
    // The token request carried the verifier and the exact redirect URI, no secret.
    let req = sim.token_requests().pop().unwrap();
    assert_eq!(req["grant_type"], "authorization_code");
    assert!(req["code_verifier"].as_str().is_some_and(|v| v.len() >= 43));
    assert!(req["redirect_uri"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    // The issued token opens the CDE.
    let sel = start(&client, &Opts::default(), &Opener::new()).unwrap();
    sim.browse(&sel.url(), BrowserChoice::Select(vec!["doc-3".into()]))
        .unwrap();
    assert_eq!(sel.wait(50), OcdeStatus::Ok, "{}", last_error());
    let dir = TempDir::new("signed-in");
    let (status, _) = client.download_document(&sel, 0, dir.path(), &mut Progress::default());
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    // Who is it?
    let (mut id, mut name): (*mut c_char, *mut c_char) =
        (std::ptr::null_mut(), std::ptr::null_mut());
    assert_eq!(
        unsafe { ocde_client_current_user(client.0, &mut id, &mut name) },
        OcdeStatus::Ok,
        "{}",
        last_error()
    );
    unsafe {
        assert_eq!(text(id).as_deref(), Some("user-1"));
        assert_eq!(text(name).as_deref(), Some("Ada Lovelace"));
        ocde_string_free(id);
        ocde_string_free(name);
    }
    assert!(!last_error().contains(&access));
}

#[test]
fn deny_is_user_cancelled() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let mut tokens = Tokens::default();
    let client = client_for(&sim, None, &mut tokens);
    let s = SignIn::start(&client, 0, &Opener::new()).unwrap();
    sim.browse_sign_in(&s.url(), false).unwrap();
    assert_eq!(s.wait(), OcdeStatus::UserCancelled);
    assert!(tokens.sets.is_empty());
}

#[test]
fn a_redirect_with_another_state_is_refused_and_the_wait_goes_on() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let mut tokens = Tokens::default();
    let client = client_for(&sim, None, &mut tokens);
    let s = SignIn::start(&client, 0, &Opener::new()).unwrap();
    let url = s.url();
    let redirect = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .unwrap()
        .1
        .into_owned();
    let forged = ureq::get(&format!("{redirect}?code=forged&state=not-the-state"))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    assert_eq!(forged.status().as_u16(), 400);
    assert_eq!(unsafe { ocde_sign_in_poll(s.0, 100) }, OcdeStatus::Pending);
    sim.browse_sign_in(&url, true).unwrap();
    assert_eq!(s.wait(), OcdeStatus::Ok, "{}", last_error());
    assert!(sim.token_requests().iter().all(|r| r["code"] != "forged"));
}

#[test]
fn expiry_and_abort() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let mut tokens = Tokens::default();
    let client = client_for(&sim, None, &mut tokens);
    let s = SignIn::start(&client, 1, &Opener::new()).unwrap();
    assert_eq!(unsafe { ocde_sign_in_poll(s.0, 5000) }, OcdeStatus::Expired);
    let s = SignIn::start(&client, 0, &Opener::new()).unwrap();
    let raw = s.0 as usize;
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        unsafe { ocde_sign_in_abort(raw as *mut OcdeSignIn) };
    });
    let began = std::time::Instant::now();
    assert_eq!(
        unsafe { ocde_sign_in_poll(s.0, 60_000) },
        OcdeStatus::Aborted
    );
    // The abort woke the poll: it did not wait out its 60 s timeout (a bound, not a speed target).
    assert!(
        began.elapsed() < Duration::from_secs(20),
        "{:?}",
        began.elapsed()
    );
    t.join().unwrap();
}

/// The RFC 7636 example challenge: valid S256 syntax, but not the challenge of our verifier.
const OTHER_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

#[test]
fn a_code_issued_for_another_code_challenge_is_refused_by_the_exchange() {
    // The browser gets a code bound to a challenge that is not ours (a code injected into our
    // redirect): the token endpoint refuses our code_verifier; no tokens, a clear sticky error.
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let mut tokens = Tokens::default();
    let client = client_for(&sim, None, &mut tokens);
    let s = SignIn::start(&client, 0, &Opener::new()).unwrap();
    let mut url = url::Url::parse(&s.url()).unwrap();
    let ours = url
        .query_pairs()
        .find(|(k, _)| k == "code_challenge")
        .map(|(_, v)| v.into_owned())
        .expect("a PKCE challenge in the authorization URL");
    assert_ne!(ours, OTHER_CHALLENGE);
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "code_challenge" {
                OTHER_CHALLENGE.into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    sim.browse_sign_in(url.as_str(), true).unwrap();
    assert_eq!(s.wait(), OcdeStatus::Unauthorized, "{}", last_error());
    let message = last_error();
    assert!(
        message.contains("HTTP 400") && message.contains("code_verifier does not match"),
        "{message}"
    );
    assert_eq!(ocde_last_http_status(), 400);
    assert!(tokens.sets.is_empty(), "no tokens from a refused exchange");
    assert_eq!(
        unsafe { ocde_sign_in_poll(s.0, 0) },
        OcdeStatus::Unauthorized,
        "sticky"
    );
    let exchange = sim.token_requests().pop().unwrap();
    assert_eq!(exchange["grant_type"], "authorization_code");
}

unsafe extern "C" fn on_tokens_calling_a_failing_export(
    user_data: *mut c_void,
    access: *const c_char,
    refresh: *const c_char,
    expires_at: i64,
) {
    on_tokens(user_data, access, refresh, expires_at);
    // A host storing the tokens calls the library again, and that call fails.
    let status = opencde_documents::ffi::client::ocde_client_set_access_token(
        std::ptr::null_mut(),
        std::ptr::null(),
    );
    assert_eq!(status, OcdeStatus::InvalidArgument);
}

#[test]
fn the_error_of_a_call_survives_a_token_callback_that_calls_the_library() {
    let sim = with_short_lived_tokens(1);
    let mut tokens = Tokens::default();
    let client = client_for(&sim, None, &mut tokens);
    let _s = signed_in(&sim, &client);
    let status = unsafe {
        ocde_client_set_oauth(
            client.0,
            c(CLIENT_ID).as_ptr(),
            std::ptr::null(),
            Some(on_tokens_calling_a_failing_export),
            &mut tokens as *mut Tokens as *mut c_void,
        )
    };
    assert_eq!(status, OcdeStatus::Ok);
    std::thread::sleep(Duration::from_millis(1500)); // the access token expires
    let before = tokens.sets.len();
    let dir = TempDir::new("reentry");
    let missing = format!("{}/documents/1.0/no-such-download", sim.cde_origin());
    let status = client.download_to_path(
        &missing,
        &dir.path().join("x.ifc"),
        -1,
        &mut Progress::default(),
    );
    assert_eq!(
        tokens.sets.len(),
        before + 1,
        "refreshed before the request"
    );
    assert_eq!(status, OcdeStatus::Http, "{}", last_error());
    let message = last_error();
    assert!(
        message.contains("404"),
        "the download's error, not the callback's: {message}"
    );
    assert!(!message.contains("client is NULL"), "{message}");
    assert_eq!(ocde_last_http_status(), 404);
}

#[test]
fn tokens_appear_in_no_log_message_no_error_and_no_file() {
    let sim = with_short_lived_tokens(1);
    let mut tokens = Tokens::default();
    let client = client_for(&sim, None, &mut tokens);
    let mut log: Vec<(opencde_documents::ffi::client::OcdeLogLevel, String)> = Vec::new();
    unsafe {
        opencde_documents::ffi::client::ocde_client_set_log_callback(
            client.0,
            Some(collect_log),
            &mut log as *mut _ as *mut c_void,
        )
    };
    let mut errors = Vec::new();
    let _s = signed_in(&sim, &client);
    let sel = start(&client, &Opts::default(), &Opener::new()).unwrap();
    sim.browse(&sel.url(), BrowserChoice::SelectAll).unwrap();
    assert_eq!(sel.wait(50), OcdeStatus::Ok, "{}", last_error());
    std::thread::sleep(Duration::from_millis(1500)); // the next request refreshes first
    let dir = TempDir::new("no-token-anywhere");
    for i in 0..sel.count() {
        let (status, _) = client.download_document(&sel, i, dir.path(), &mut Progress::default());
        assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    }
    // Failures whose messages a host shows: a missing download, then a revoked refresh token.
    let missing = format!("{}/documents/1.0/no-such-download", sim.cde_origin());
    let status = client.download_to_path(
        &missing,
        &dir.path().join("x"),
        -1,
        &mut Progress::default(),
    );
    assert_eq!(status, OcdeStatus::Http);
    errors.push(last_error());
    sim.revoke_refresh_tokens();
    std::thread::sleep(Duration::from_millis(1500));
    let status = client.download_to_path(
        &missing,
        &dir.path().join("y"),
        -1,
        &mut Progress::default(),
    );
    assert_eq!(status, OcdeStatus::Unauthorized);
    errors.push(last_error());
    unsafe {
        opencde_documents::ffi::client::ocde_client_set_log_callback(
            client.0,
            None,
            std::ptr::null_mut(),
        )
    };
    assert!(
        tokens.sets.len() >= 2,
        "signed in and refreshed: {}",
        tokens.sets.len()
    );
    let secrets: Vec<String> = tokens
        .sets
        .iter()
        .flat_map(|(a, r, _, _)| std::iter::once(a.clone()).chain(r.clone()))
        .collect();
    let mut written = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        written.push(std::fs::read(entry.unwrap().path()).unwrap());
    }
    assert_eq!(
        written.len(),
        sel.count(),
        "only the documents were written"
    );
    for secret in &secrets {
        for (_, m) in &log {
            assert!(!m.contains(secret.as_str()), "token in a log message: {m}");
        }
        for e in &errors {
            assert!(!e.contains(secret.as_str()), "token in an error: {e}");
        }
        for bytes in &written {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "a token was written to a file");
        }
    }
}

#[test]
fn an_expired_access_token_is_refreshed_transparently_mid_flow() {
    let sim = with_short_lived_tokens(2);
    let mut tokens = Tokens::default();
    let client = client_for(&sim, None, &mut tokens);
    let _s = signed_in(&sim, &client);
    let sel = start(&client, &Opts::default(), &Opener::new()).unwrap();
    sim.browse(&sel.url(), BrowserChoice::Select(vec!["doc-3".into()]))
        .unwrap();
    assert_eq!(sel.wait(50), OcdeStatus::Ok, "{}", last_error());
    std::thread::sleep(Duration::from_millis(2500)); // the access token expires between selection and download
    let before = tokens.sets.len();
    let refreshes = |sim: &Simulator| {
        sim.token_requests()
            .iter()
            .filter(|r| r["grant_type"] == "refresh_token")
            .count()
    };
    let refreshes_before = refreshes(&sim);
    let dir = TempDir::new("refresh");
    let (status, _) = client.download_document(&sel, 0, dir.path(), &mut Progress::default());
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    assert_eq!(
        tokens.sets.len(),
        before + 1,
        "the host saw the refreshed tokens, once"
    );
    assert_eq!(
        refreshes(&sim),
        refreshes_before + 1,
        "exactly one transparent refresh"
    );
    let (old, new) = (&tokens.sets[before - 1], &tokens.sets[before]);
    assert_ne!(old.0, new.0);
    assert_ne!(old.1, new.1, "rotated refresh token stored");
}

#[test]
fn a_401_triggers_one_refresh_and_one_retry() {
    let sim = Simulator::start(protected(SimConfig::default())).unwrap();
    let mut tokens = Tokens::default();
    let client = client_for(&sim, None, &mut tokens);
    let _s = signed_in(&sim, &client);
    let refresh = tokens.sets[0].1.clone().unwrap();
    // A new client as a host would make at start-up: a stored refresh token and a stale access token.
    let mut tokens2 = Tokens::default();
    let client2 = client_for(&sim, None, &mut tokens2);
    assert_eq!(
        unsafe { ocde_client_set_refresh_token(client2.0, c(&refresh).as_ptr()) },
        OcdeStatus::Ok
    );
    let sel = start(&client2, &Opts::default(), &Opener::new()).unwrap();
    sim.browse(&sel.url(), BrowserChoice::SelectAll).unwrap();
    assert_eq!(sel.wait(50), OcdeStatus::Ok, "{}", last_error());
    assert_eq!(tokens2.sets.len(), 1, "one refresh at start-up, no browser");
    // Now a stale token: the CDE answers 401, the client refreshes once and retries.
    let client2 = client2.token("stale-token");
    let dir = TempDir::new("retry401");
    let (status, _) = client2.download_document(&sel, 0, dir.path(), &mut Progress::default());
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    assert_eq!(tokens2.sets.len(), 2);
}

#[test]
fn a_revoked_refresh_token_is_unauthorized_with_a_clear_message() {
    let sim = with_short_lived_tokens(1);
    let mut tokens = Tokens::default();
    let client = client_for(&sim, None, &mut tokens);
    let _s = signed_in(&sim, &client);
    sim.revoke_refresh_tokens();
    std::thread::sleep(Duration::from_millis(1500));
    let (status, message) = start(&client, &Opts::default(), &Opener::new())
        .err()
        .unwrap();
    assert_eq!(status, OcdeStatus::Unauthorized, "{message}");
    assert!(message.contains("sign in again"), "{message}");
    for (access, refresh, _, _) in &tokens.sets {
        assert!(
            !message.contains(access.as_str())
                && !refresh
                    .as_ref()
                    .is_some_and(|r| message.contains(r.as_str()))
        );
    }
}

#[test]
fn server_variants_201_string_expiry_and_client_authentication() {
    use cde_simulator::BasicMode;
    for (mode, basic_expected) in [(BasicMode::Required, true), (BasicMode::Refused, false)] {
        let config = SimConfig {
            token_status_201: true,
            expires_in_as_string: true,
            oauth_client_secret: Some("s3cret".into()),
            oauth_basic: mode,
            ..Default::default()
        };
        let sim = Simulator::start(config).unwrap();
        let mut tokens = Tokens::default();
        let client = client_for(&sim, Some("s3cret"), &mut tokens);
        let _s = signed_in(&sim, &client);
        assert_eq!(tokens.sets.len(), 1);
        assert!(tokens.sets[0].2 > 0, "expires_in as a string understood");
        let req = sim.token_requests().pop().unwrap();
        assert_eq!(req["basic_auth"], basic_expected, "{mode:?}");
    }
}

/// What the re-entering token callback saw.
struct Reentry {
    client: *mut OcdeClient,
    calls: usize,
    inner_status: Option<OcdeStatus>,
}

unsafe extern "C" fn on_tokens_calling_current_user(
    user_data: *mut c_void,
    _access: *const c_char,
    _refresh: *const c_char,
    _expires_at: i64,
) {
    let r = &mut *(user_data as *mut Reentry);
    r.calls += 1;
    if r.inner_status.is_none() {
        // The host shows who signed in, from inside the callback; that call refreshes again
        // (the tokens are due at once) and so delivers tokens through this callback, nested.
        r.inner_status = Some(OcdeStatus::Pending);
        let status = ocde_client_current_user(r.client, std::ptr::null_mut(), std::ptr::null_mut());
        r.inner_status = Some(status);
    }
}

#[test]
fn a_token_callback_may_call_the_library_that_delivers_tokens_again() {
    let sim = with_short_lived_tokens(0); // every token is due for refresh at once
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let server = server_url(&sim);
    let worker = std::thread::spawn(move || {
        let mut raw: *mut OcdeClient = std::ptr::null_mut();
        assert_eq!(
            unsafe { ocde_client_new_for_server(c(&server).as_ptr(), &mut raw) },
            OcdeStatus::Ok
        );
        let client = CClient(raw);
        let mut seen = Reentry {
            client: raw,
            calls: 0,
            inner_status: None,
        };
        let status = unsafe {
            ocde_client_set_oauth(
                raw,
                c(CLIENT_ID).as_ptr(),
                std::ptr::null(),
                Some(on_tokens_calling_current_user),
                &mut seen as *mut Reentry as *mut c_void,
            )
        };
        assert_eq!(status, OcdeStatus::Ok);
        let s = SignIn::start(&client, 0, &Opener::new()).unwrap();
        let _ = done_tx.send(("url", s.url(), 0, None));
        let status = s.wait();
        let _ = done_tx.send(("done", format!("{status:?}"), seen.calls, seen.inner_status));
    });
    let (_, url, _, _) = done_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    sim.browse_sign_in(&url, true).unwrap();
    // A deadlock would keep the worker inside ocde_sign_in_poll: wait with a bound.
    let (_, status, calls, inner) = done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the sign-in returned (no deadlock in the nested token delivery)");
    worker.join().unwrap();
    assert_eq!(status, "Ok");
    assert!(
        calls >= 2,
        "the nested refresh delivered tokens too: {calls}"
    );
    assert!(
        matches!(inner, Some(OcdeStatus::Ok | OcdeStatus::Unauthorized)),
        "{inner:?}"
    );
}

#[test]
fn after_ocde_client_free_the_token_callback_is_never_called_again() {
    // A selection outlives its client; a refresh during its poll must not call into the
    // host's token context, which a C host frees together with the client.
    let sim = with_short_lived_tokens(1);
    let mut tokens = Tokens::default();
    let client = client_for(&sim, None, &mut tokens);
    let _s = signed_in(&sim, &client);
    let sel = start(&client, &Opts::default(), &Opener::new()).unwrap();
    sim.browse(&sel.url(), BrowserChoice::SelectAll).unwrap();
    drop(client); // ocde_client_free
    let seen = tokens.sets.len();
    let refreshes = sim
        .token_requests()
        .iter()
        .filter(|r| r["grant_type"] == "refresh_token")
        .count();
    std::thread::sleep(Duration::from_millis(1500)); // due for refresh before the fetch
    assert_eq!(sel.wait(50), OcdeStatus::Ok, "{}", last_error());
    let refreshed = sim
        .token_requests()
        .iter()
        .filter(|r| r["grant_type"] == "refresh_token")
        .count();
    assert_eq!(
        refreshed,
        refreshes + 1,
        "the poll did refresh (so the test means something)"
    );
    assert_eq!(
        tokens.sets.len(),
        seen,
        "no callback after ocde_client_free"
    );
}

#[test]
fn tokens_are_delivered_inside_the_call_that_refreshed_not_another_threads() {
    // Thread A's download refreshes the expired token, then takes seconds (throttled storage).
    // Meanwhile thread B's quick call on the same client ends first: it must not be handed A's
    // tokens; A's own call delivers them, on A.
    let slow = SimDocument::new("slow", "Slow", "slow.ifc", vec![5u8; 450_000])
        .with_fault(Fault::Throttle(150_000));
    let sim = Simulator::start(protected(SimConfig {
        access_token_lifetime: 2,
        documents: vec![slow],
        ..Default::default()
    }))
    .unwrap();
    let mut tokens = Tokens::default();
    let client = client_for(&sim, None, &mut tokens);
    let _s = signed_in(&sim, &client);
    std::thread::sleep(Duration::from_millis(2200)); // due for refresh
    let before = tokens.sets.len();
    let raw = client.0 as usize;
    let url = download_url(&sim, "slow");
    let dir = TempDir::new("per-call-tokens");
    let dest = dir.path().join("slow.ifc");
    let a = std::thread::spawn(move || {
        let status = unsafe {
            opencde_documents::ffi::download::ocde_download_to_path(
                raw as *mut OcdeClient,
                c(&url).as_ptr(),
                c(dest.to_str().unwrap()).as_ptr(),
                -1,
                None,
                std::ptr::null_mut(),
            )
        };
        (status, std::thread::current().id())
    });
    // Wait until A has refreshed (the token endpoint saw it), then make B's call.
    let refreshed = |sim: &Simulator| {
        sim.token_requests()
            .iter()
            .filter(|r| r["grant_type"] == "refresh_token")
            .count()
    };
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while refreshed(&sim) == 0 {
        assert!(std::time::Instant::now() < until, "A never refreshed");
        std::thread::sleep(Duration::from_millis(10));
    }
    let b = std::thread::current().id();
    let status =
        unsafe { ocde_client_current_user(client.0, std::ptr::null_mut(), std::ptr::null_mut()) };
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    let after_b = tokens.sets.len();
    let (status, a_thread) = a.join().unwrap();
    assert_eq!(status, OcdeStatus::Ok);
    assert_eq!(
        after_b, before,
        "B's call was handed tokens that A's call obtained"
    );
    assert_eq!(tokens.sets.len(), before + 1);
    assert_eq!(
        tokens.sets[before].3, a_thread,
        "delivered on A, inside A's call"
    );
    assert_ne!(a_thread, b);
}

#[test]
fn a_refresh_on_a_download_worker_is_delivered_on_the_calling_thread() {
    let sim = with_short_lived_tokens(2);
    let mut tokens = Tokens::default();
    let client = client_for(&sim, None, &mut tokens);
    let _s = signed_in(&sim, &client);
    let sel = start(&client, &Opts::default(), &Opener::new()).unwrap();
    sim.browse(&sel.url(), BrowserChoice::SelectAll).unwrap();
    assert_eq!(sel.wait(50), OcdeStatus::Ok, "{}", last_error());
    std::thread::sleep(Duration::from_millis(2200)); // the workers' first request refreshes
    let before = tokens.sets.len();
    let dir = TempDir::new("worker-refresh");
    let (status, results) = download_selection(&client, &sel, dir.path(), 2);
    unsafe { opencde_documents::ffi::download::ocde_download_results_free(results) };
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    assert_eq!(tokens.sets.len(), before + 1, "one refresh, delivered");
    assert_eq!(
        tokens.sets[before].3,
        std::thread::current().id(),
        "on the calling thread"
    );
}
