//! TLS: the client trusts a host-given root (ocde_client_set_root_certificates), refuses an
//! untrusted certificate, and refuses a redirect from https to http — against a real rustls
//! HTTPS origin with a self-signed certificate made by `openssl`.

mod common;
use cde_simulator::tls::{SelfSigned, TlsAnswer, TlsOrigin};
use common::*;
use opencde_documents::ffi::client::ocde_client_set_root_certificates;
use opencde_documents::ffi::OcdeStatus;

fn setup(dir: &TempDir, plain: &Simulator) -> (SelfSigned, TlsOrigin) {
    let cert = SelfSigned::generate(dir.path()).expect("openssl must be installed");
    let routes = vec![
        ("/file".to_string(), TlsAnswer::Body(b"over tls".to_vec())),
        (
            "/to-http".to_string(),
            TlsAnswer::Redirect(302, format!("{}/files/d", plain.cde_origin())),
        ),
    ];
    let origin = TlsOrigin::start(&cert, routes).unwrap();
    (cert, origin)
}

fn plain_sim() -> Simulator {
    let doc = SimDocument::new("d", "Doc", "d.ifc", b"plain".to_vec());
    Simulator::start(SimConfig {
        documents: vec![doc],
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn a_trusted_root_downloads_and_an_untrusted_certificate_is_refused() {
    let dir = TempDir::new("tls-trust");
    let sim = plain_sim();
    let (cert, origin) = setup(&dir, &sim);
    let client = CClient::new(&format!("{}/documents/1.0", origin.origin())).retries(0, 0);
    let dest = dir.path().join("f.bin");
    // Default roots (Mozilla's): the self-signed certificate is not trusted.
    let status = client.download_to_path(
        &format!("{}/file", origin.origin()),
        &dest,
        -1,
        &mut Progress::default(),
    );
    assert_eq!(status, OcdeStatus::Network, "{}", last_error());
    assert!(
        last_error().contains("TLS") || last_error().to_lowercase().contains("certificate"),
        "{}",
        last_error()
    );
    assert!(!dest.exists());
    // Trust it explicitly.
    let pem = c(std::str::from_utf8(&cert.cert_pem).unwrap());
    assert_eq!(
        unsafe { ocde_client_set_root_certificates(client.0, pem.as_ptr()) },
        OcdeStatus::Ok
    );
    let status = client.download_to_path(
        &format!("{}/file", origin.origin()),
        &dest,
        -1,
        &mut Progress::default(),
    );
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    assert_eq!(std::fs::read(&dest).unwrap(), b"over tls");
    // Garbage is refused; NULL restores the bundled roots.
    let junk = c("not a certificate");
    assert_eq!(
        unsafe { ocde_client_set_root_certificates(client.0, junk.as_ptr()) },
        OcdeStatus::InvalidArgument
    );
    assert_eq!(
        unsafe { ocde_client_set_root_certificates(client.0, std::ptr::null()) },
        OcdeStatus::Ok
    );
    let status = client.download_to_path(
        &format!("{}/file", origin.origin()),
        &dir.path().join("g"),
        -1,
        &mut Progress::default(),
    );
    assert_eq!(status, OcdeStatus::Network);
}

#[test]
fn a_redirect_from_https_to_http_is_refused() {
    let dir = TempDir::new("tls-downgrade");
    let sim = plain_sim();
    let (cert, origin) = setup(&dir, &sim);
    let client = CClient::new(&format!("{}/documents/1.0", origin.origin()))
        .token("tls-token")
        .retries(0, 0);
    let pem = c(std::str::from_utf8(&cert.cert_pem).unwrap());
    assert_eq!(
        unsafe { ocde_client_set_root_certificates(client.0, pem.as_ptr()) },
        OcdeStatus::Ok
    );
    let dest = dir.path().join("d.ifc");
    let status = client.download_to_path(
        &format!("{}/to-http", origin.origin()),
        &dest,
        -1,
        &mut Progress::default(),
    );
    assert_eq!(status, OcdeStatus::Protocol, "{}", last_error());
    assert!(last_error().contains("https to http"), "{}", last_error());
    assert_eq!(origin.requests(), vec!["/to-http".to_string()]);
    assert!(
        sim.requests().is_empty(),
        "the plain-http target was contacted"
    );
    assert!(!dest.exists());
    assert_eq!(
        dir.entries()
            .iter()
            .filter(|e| e.contains("ocde-part"))
            .count(),
        0
    );
}

fn json_origin(dir: &TempDir, versions: &str, auth: &str) -> (SelfSigned, TlsOrigin) {
    let cert = SelfSigned::generate(dir.path()).expect("openssl must be installed");
    let routes = vec![
        (
            "/foundation/versions".to_string(),
            TlsAnswer::Body(versions.as_bytes().to_vec()),
        ),
        (
            "/foundation/1.0/auth".to_string(),
            TlsAnswer::Body(auth.as_bytes().to_vec()),
        ),
        ("/file".to_string(), TlsAnswer::Body(b"over tls".to_vec())),
    ];
    let origin = TlsOrigin::start(&cert, routes).unwrap();
    (cert, origin)
}

const VERSIONS: &str = r#"{"versions":[{"api_id":"foundation","version_id":"1.0"},{"api_id":"documents","version_id":"1.0"}]}"#;
const AUTH: &str = r#"{"oauth2_auth_url":"https://127.0.0.1:9/authorize","oauth2_token_url":"https://127.0.0.1:9/token","supported_oauth2_flows":["authorization_code_grant"]}"#;

#[test]
fn discovery_behind_a_company_ca_trusts_the_given_roots_and_so_do_its_clients() {
    use opencde_documents::ffi::signin::*;
    let dir = TempDir::new("tls-discovery");
    let (cert, origin) = json_origin(&dir, VERSIONS, AUTH);
    let url = c(&origin.origin());
    let mut server = std::ptr::null_mut();
    // Bundled roots: the company CA is unknown.
    let status = unsafe { ocde_server_discover(url.as_ptr(), &mut server) };
    assert_eq!(status, OcdeStatus::Network, "{}", last_error());
    let pem = c(std::str::from_utf8(&cert.cert_pem).unwrap());
    let status =
        unsafe { ocde_server_discover_with_roots(url.as_ptr(), pem.as_ptr(), &mut server) };
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    assert_eq!(
        unsafe { text(ocde_server_documents_api_url(server)) }.unwrap(),
        format!("{}/documents/1.0", origin.origin())
    );
    assert_eq!(
        unsafe { text(ocde_server_token_url(server)) }.unwrap(),
        "https://127.0.0.1:9/token"
    );
    let mut raw = std::ptr::null_mut();
    assert_eq!(
        unsafe { ocde_client_new_from_server(server, &mut raw) },
        OcdeStatus::Ok
    );
    unsafe { ocde_server_free(server) };
    let client = CClient(raw).retries(0, 0);
    let dest = dir.path().join("f.bin");
    let status = client.download_to_path(
        &format!("{}/file", origin.origin()),
        &dest,
        -1,
        &mut Progress::default(),
    );
    assert_eq!(
        status,
        OcdeStatus::Ok,
        "the client trusts the same roots: {}",
        last_error()
    );
    assert_eq!(std::fs::read(&dest).unwrap(), b"over tls");
    let bad = c("-----BEGIN NOTHING-----");
    assert_eq!(
        unsafe { ocde_server_discover_with_roots(url.as_ptr(), bad.as_ptr(), &mut server) },
        OcdeStatus::InvalidArgument
    );
}

#[test]
fn an_https_server_announcing_http_endpoints_is_refused() {
    use opencde_documents::ffi::signin::*;
    let http_api = r#"{"versions":[{"api_id":"documents","version_id":"1.0","api_base_url":"http://127.0.0.1:1/documents/1.0"}]}"#;
    let http_token = r#"{"oauth2_auth_url":"https://127.0.0.1:9/authorize","oauth2_token_url":"http://127.0.0.1:9/token"}"#;
    for (versions, auth, what) in [
        (http_api, AUTH, "api_base_url"),
        (VERSIONS, http_token, "oauth2_token_url"),
    ] {
        let dir = TempDir::new("tls-downgrade");
        let (cert, origin) = json_origin(&dir, versions, auth);
        let pem = c(std::str::from_utf8(&cert.cert_pem).unwrap());
        let mut server = 0x1 as *mut OcdeServer;
        let status = unsafe {
            ocde_server_discover_with_roots(c(&origin.origin()).as_ptr(), pem.as_ptr(), &mut server)
        };
        assert_eq!(status, OcdeStatus::Protocol, "{what}: {}", last_error());
        let message = last_error();
        assert!(
            message.contains(what) && message.contains("plain http"),
            "{message}"
        );
        assert_eq!(server as usize, 0x1);
    }
}
