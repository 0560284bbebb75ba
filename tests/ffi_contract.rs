//! The C ABI's contract on hostile arguments (issue behaviour 13): NULL and invalid UTF-8 in every
//! argument of every export give OCDE_STATUS_INVALID_ARGUMENT (or are a documented no-op), out
//! parameters are untouched on failure, panics never cross the boundary and print nothing.

mod common;
use common::*;
use opencde_documents::ffi::boundary::guard;
use opencde_documents::ffi::client::*;
use opencde_documents::ffi::download::*;
use opencde_documents::ffi::selection::*;
use opencde_documents::ffi::*;
use std::ffi::{c_char, CStr};
use std::ptr::{null, null_mut};

const BAD_UTF8: &[u8] = b"http://127.0.0.1/\xff\xfe\0";

fn bad() -> *const c_char {
    BAD_UTF8.as_ptr() as *const c_char
}

fn assert_invalid(status: OcdeStatus, what: &str) {
    assert_eq!(
        status,
        OcdeStatus::InvalidArgument,
        "{what}: {}",
        last_error()
    );
    let message = last_error();
    assert!(!message.is_empty(), "{what}: no message");
}

#[test]
fn client_functions_reject_null_and_invalid_utf8() {
    let mut out: *mut OcdeClient = 0x1 as *mut OcdeClient; // sentinel: must stay untouched
    unsafe {
        assert_invalid(ocde_client_new(null(), &mut out), "url NULL");
        assert_invalid(ocde_client_new(bad(), &mut out), "url bad UTF-8");
        assert_invalid(
            ocde_client_new(c("ftp://x/").as_ptr(), &mut out),
            "url not http",
        );
        assert_invalid(
            ocde_client_new(c("not a url").as_ptr(), &mut out),
            "url garbage",
        );
        assert_eq!(out as usize, 0x1, "out_client written on failure");
        assert_invalid(
            ocde_client_new(c("http://127.0.0.1:1/").as_ptr(), null_mut()),
            "out NULL",
        );
        assert!(last_error().contains("out_client"), "{}", last_error());
        assert_invalid(
            ocde_client_set_access_token(null_mut(), c("t").as_ptr()),
            "client NULL",
        );
        assert_invalid(ocde_client_set_timeouts(null_mut(), 1, 1), "client NULL");
        assert_invalid(
            ocde_client_set_log_callback(null_mut(), None, null_mut()),
            "client NULL",
        );
        ocde_client_free(null_mut());
    }
    let client = CClient::new("http://127.0.0.1:1/documents/1.0");
    unsafe {
        assert_invalid(
            ocde_client_set_access_token(client.0, bad()),
            "token bad UTF-8",
        );
        assert_invalid(
            ocde_client_set_access_token(client.0, c("two words").as_ptr()),
            "token with a space",
        );
        assert_invalid(
            ocde_client_set_access_token(client.0, c("a\r\nX-Evil: 1").as_ptr()),
            "token with CRLF",
        );
        assert_eq!(
            ocde_client_set_access_token(client.0, null()),
            OcdeStatus::Ok,
            "NULL clears"
        );
        assert_eq!(
            CStr::from_ptr(ocde_last_error()).to_bytes(),
            b"",
            "OK clears the last error"
        );
    }
}

#[test]
fn selection_functions_reject_null_and_invalid_utf8() {
    let client = CClient::new("http://127.0.0.1:1/documents/1.0");
    let mut out: *mut OcdeSelection = 0x1 as *mut OcdeSelection;
    let mut opts = std::mem::MaybeUninit::<OcdeSelectionOptions>::uninit();
    unsafe {
        ocde_selection_options_init(
            opts.as_mut_ptr(),
            std::mem::size_of::<OcdeSelectionOptions>(),
        );
        ocde_selection_options_init(null_mut(), 64);
        let opts = opts.assume_init();
        assert_eq!(
            opts.struct_size as usize,
            std::mem::size_of::<OcdeSelectionOptions>()
        );
        assert_invalid(
            ocde_selection_start(null_mut(), &opts, None, null_mut(), &mut out),
            "client NULL",
        );
        assert_invalid(
            ocde_selection_start(client.0, &opts, None, null_mut(), null_mut()),
            "out NULL",
        );
        let with_bad_ctx = OcdeSelectionOptions {
            server_context: bad(),
            ..opts
        };
        assert_invalid(
            ocde_selection_start(client.0, &with_bad_ctx, None, null_mut(), &mut out),
            "server_context bad UTF-8",
        );
        let ifc = c(".ifc");
        let exts = [ifc.as_ptr(), bad()];
        let with_bad_ext = OcdeSelectionOptions {
            supported_file_extensions: exts.as_ptr(),
            supported_file_extensions_count: 2,
            ..opts
        };
        assert_invalid(
            ocde_selection_start(client.0, &with_bad_ext, None, null_mut(), &mut out),
            "extension bad UTF-8",
        );
        let null_list = OcdeSelectionOptions {
            supported_file_extensions: null(),
            supported_file_extensions_count: 1,
            ..opts
        };
        assert_invalid(
            ocde_selection_start(client.0, &null_list, None, null_mut(), &mut out),
            "extension list NULL",
        );
        let unset = OcdeSelectionOptions {
            struct_size: 0,
            ..opts
        };
        assert_invalid(
            ocde_selection_start(client.0, &unset, None, null_mut(), &mut out),
            "struct_size 0",
        );
        assert_eq!(out as usize, 0x1, "out_selection written on failure");

        assert!(ocde_selection_url(null()).is_null());
        assert_invalid(ocde_selection_poll(null_mut(), 0), "poll NULL");
        ocde_selection_abort(null_mut());
        assert_eq!(ocde_selection_count(null()), 0);
        let mut doc = std::mem::MaybeUninit::<OcdeDocument>::uninit();
        assert_invalid(
            ocde_selection_get(null(), 0, doc.as_mut_ptr()),
            "get NULL selection",
        );
        assert!(ocde_selection_server_context(null()).is_null());
        ocde_selection_free(null_mut());
    }
}

#[test]
fn older_hosts_with_a_shorter_options_struct_are_read_safely() {
    // A host compiled against a version that only had `struct_size` and the expiry: the library
    // must not read the fields beyond it (here filled with garbage).
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let client = CClient::for_sim(&sim);
    let mut opts = std::mem::MaybeUninit::<OcdeSelectionOptions>::uninit();
    unsafe {
        ocde_selection_options_init(
            opts.as_mut_ptr(),
            std::mem::size_of::<OcdeSelectionOptions>(),
        )
    };
    let mut opts = unsafe { opts.assume_init() };
    opts.struct_size = 8;
    opts.callback_expires_in_s = 77;
    opts.server_context = bad();
    opts.supported_file_extensions = 0x10 as *const *const c_char;
    opts.supported_file_extensions_count = 5;
    let mut out = null_mut();
    let status = unsafe {
        ocde_selection_start(
            client.0,
            &opts,
            None.or(Some(ok_open)),
            null_mut(),
            &mut out,
        )
    };
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    let body = sim.select_requests().pop().unwrap();
    assert_eq!(body["callback"]["expires_in"], 77);
    assert!(
        body.get("server_context").is_none() && body.get("supported_file_extensions").is_none()
    );
    unsafe { ocde_selection_free(out) };
}

unsafe extern "C" fn ok_open(_: *mut std::ffi::c_void, _: *const c_char) -> i32 {
    0
}

#[test]
fn download_functions_reject_null_and_invalid_utf8() {
    let (_sim, client, sel, status) =
        selected(SimConfig::default(), None, BrowserChoice::SelectAll);
    assert_eq!(status, OcdeStatus::Ok);
    let dir = TempDir::new("ffi-dl");
    let d = c(dir.path().to_str().unwrap());
    let url = c("http://127.0.0.1:1/x");
    let dest = c(dir.path().join("x").to_str().unwrap());
    let mut out_path: *mut c_char = 0x1 as *mut c_char;
    unsafe {
        assert_invalid(
            ocde_download_to_path(
                null_mut(),
                url.as_ptr(),
                dest.as_ptr(),
                -1,
                None,
                null_mut(),
            ),
            "client NULL",
        );
        assert_invalid(
            ocde_download_to_path(client.0, null(), dest.as_ptr(), -1, None, null_mut()),
            "url NULL",
        );
        assert_invalid(
            ocde_download_to_path(client.0, bad(), dest.as_ptr(), -1, None, null_mut()),
            "url bad UTF-8",
        );
        assert_invalid(
            ocde_download_to_path(client.0, url.as_ptr(), null(), -1, None, null_mut()),
            "dest NULL",
        );
        assert_invalid(
            ocde_download_to_path(client.0, url.as_ptr(), bad(), -1, None, null_mut()),
            "dest bad UTF-8",
        );
        assert_invalid(
            ocde_download_document(
                null_mut(),
                sel.0,
                0,
                d.as_ptr(),
                None,
                null_mut(),
                &mut out_path,
            ),
            "client NULL",
        );
        assert_invalid(
            ocde_download_document(
                client.0,
                null(),
                0,
                d.as_ptr(),
                None,
                null_mut(),
                &mut out_path,
            ),
            "selection NULL",
        );
        assert_invalid(
            ocde_download_document(client.0, sel.0, 0, null(), None, null_mut(), &mut out_path),
            "dir NULL",
        );
        assert_invalid(
            ocde_download_document(client.0, sel.0, 0, bad(), None, null_mut(), &mut out_path),
            "dir bad UTF-8",
        );
        assert_invalid(
            ocde_download_document(
                client.0,
                sel.0,
                99,
                d.as_ptr(),
                None,
                null_mut(),
                &mut out_path,
            ),
            "index out of range",
        );
        assert_eq!(out_path as usize, 0x1, "out_path written on failure");
        // out_path may be NULL on success.
        assert_eq!(
            ocde_download_document(client.0, sel.0, 0, d.as_ptr(), None, null_mut(), null_mut()),
            OcdeStatus::Ok,
            "{}",
            last_error()
        );
        let mut doc = std::mem::MaybeUninit::<OcdeDocument>::uninit();
        assert_invalid(
            ocde_selection_get(sel.0, 3, doc.as_mut_ptr()),
            "get out of range",
        );
        assert_invalid(ocde_selection_get(sel.0, 0, null_mut()), "get out NULL");
        assert_invalid(
            ocde_selection_get_sized(sel.0, 0, null_mut(), std::mem::size_of::<OcdeDocument>()),
            "get_sized out NULL",
        );
        assert_invalid(
            ocde_selection_get_sized(
                null(),
                0,
                doc.as_mut_ptr(),
                std::mem::size_of::<OcdeDocument>(),
            ),
            "get_sized NULL",
        );
        ocde_string_free(null_mut());
    }
    assert!(dir.entries().len() == 1, "{:?}", dir.entries());
}

#[test]
fn status_names_and_version() {
    unsafe {
        assert_eq!(
            CStr::from_ptr(ocde_status_str(OcdeStatus::Ok as i32))
                .to_str()
                .unwrap(),
            "OCDE_STATUS_OK"
        );
        assert_eq!(
            CStr::from_ptr(ocde_status_str(OcdeStatus::Internal as i32))
                .to_str()
                .unwrap(),
            "OCDE_STATUS_INTERNAL"
        );
        assert_eq!(
            CStr::from_ptr(ocde_version()).to_str().unwrap(),
            env!("CARGO_PKG_VERSION")
        );
    }
    assert_eq!(OcdeStatus::Ok as i32, 0);
    assert_eq!(OcdeStatus::Internal as i32, 13);
}

#[test]
fn a_panic_inside_the_boundary_is_internal_and_prints_nothing() {
    if std::env::var_os("OCDE_PANIC_CHILD").is_some() {
        // Child: panic inside the boundary; the parent checks that nothing reached stderr.
        let status = guard(|| panic!("boom in the core"));
        assert_eq!(status, OcdeStatus::Internal);
        assert!(
            last_error().contains("boom in the core"),
            "{}",
            last_error()
        );
        // The library stays usable afterwards.
        let client = CClient::new("http://127.0.0.1:1/documents/1.0");
        drop(client);
        eprint!("CHILD-DONE");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_panic_inside_the_boundary_is_internal_and_prints_nothing",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("OCDE_PANIC_CHILD", "1")
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stderr}");
    assert!(
        stderr.contains("CHILD-DONE"),
        "child did not run the check: {stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("boom"),
        "panic printed: {stderr}"
    );
}

#[test]
fn unknown_status_values_are_named_unknown() {
    for v in [-1, 14, 99, i32::MAX] {
        assert_eq!(
            unsafe { CStr::from_ptr(ocde_status_str(v)) }
                .to_str()
                .unwrap(),
            "OCDE_STATUS_UNKNOWN"
        );
    }
}

#[test]
fn sized_functions_never_write_past_the_hosts_struct() {
    // An "old host" whose options struct is only 8 bytes long, followed by bytes it owns.
    let mut words = [0xAAAA_AAAA_AAAA_AAAAu64; 8]; // aligned like a real struct
    unsafe { ocde_selection_options_init(words.as_mut_ptr() as *mut OcdeSelectionOptions, 8) };
    let buf: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
    assert_eq!(&buf[..4], &8u32.to_ne_bytes());
    assert_eq!(&buf[4..8], &[0, 0, 0, 0]);
    assert!(
        buf[8..].iter().all(|b| *b == 0xAA),
        "init wrote past struct_size"
    );

    let (_sim, _client, sel, status) =
        selected(SimConfig::default(), None, BrowserChoice::SelectAll);
    assert_eq!(status, OcdeStatus::Ok);
    let mut doc_words = [0xAAAA_AAAA_AAAA_AAAAu64; 32];
    let first_two = 2 * std::mem::size_of::<*const c_char>();
    let status = unsafe {
        ocde_selection_get_sized(
            sel.0,
            0,
            doc_words.as_mut_ptr() as *mut OcdeDocument,
            first_two,
        )
    };
    assert_eq!(status, OcdeStatus::Ok);
    let doc_buf: Vec<u8> = doc_words.iter().flat_map(|w| w.to_ne_bytes()).collect();
    assert!(
        doc_buf[first_two..].iter().all(|b| *b == 0xAA),
        "get_sized wrote past struct_size"
    );
    let id = unsafe { CStr::from_ptr(doc_words[0] as usize as *const c_char) };
    assert_eq!(id.to_str().unwrap(), "doc-1");

    // A "newer host" whose OcdeDocument is larger: the fields unknown here read as 0.
    let ours = std::mem::size_of::<OcdeDocument>();
    let mut big = [0xAAAA_AAAA_AAAA_AAAAu64; 32];
    let status = unsafe {
        ocde_selection_get_sized(sel.0, 0, big.as_mut_ptr() as *mut OcdeDocument, ours + 24)
    };
    assert_eq!(status, OcdeStatus::Ok);
    let big_buf: Vec<u8> = big.iter().flat_map(|w| w.to_ne_bytes()).collect();
    assert!(
        big_buf[ours..ours + 24].iter().all(|b| *b == 0),
        "tail not zeroed"
    );
    assert!(
        big_buf[ours + 24..].iter().all(|b| *b == 0xAA),
        "wrote past struct_size"
    );
}

#[test]
fn open_system_browser_validates_its_url() {
    unsafe {
        assert_invalid(ocde_open_system_browser(null()), "url NULL");
        assert_invalid(ocde_open_system_browser(bad()), "url bad UTF-8");
        assert_invalid(
            ocde_open_system_browser(c("file:///etc/passwd").as_ptr()),
            "file URL",
        );
        assert_invalid(
            ocde_open_system_browser(c("javascript:alert(1)").as_ptr()),
            "javascript URL",
        );
    }
}

#[test]
fn discovery_and_sign_in_functions_reject_null_and_invalid_utf8() {
    use opencde_documents::ffi::signin::*;
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let server_url = c(&sim.cde_origin());
    let mut out_server: *mut OcdeServer = 0x1 as *mut OcdeServer;
    let mut out_client: *mut OcdeClient = 0x1 as *mut OcdeClient;
    let mut out_sign_in: *mut OcdeSignIn = 0x1 as *mut OcdeSignIn;
    let mut out_text: *mut c_char = 0x1 as *mut c_char;
    unsafe {
        assert_invalid(
            ocde_server_discover(null(), &mut out_server),
            "server_url NULL",
        );
        assert_invalid(
            ocde_server_discover(bad(), &mut out_server),
            "server_url bad UTF-8",
        );
        assert_invalid(
            ocde_server_discover(server_url.as_ptr(), null_mut()),
            "out_server NULL",
        );
        assert_invalid(
            ocde_server_discover_with_roots(null(), null(), &mut out_server),
            "with_roots: server_url NULL",
        );
        assert_invalid(
            ocde_server_discover_with_roots(bad(), null(), &mut out_server),
            "with_roots: server_url bad UTF-8",
        );
        assert_invalid(
            ocde_server_discover_with_roots(server_url.as_ptr(), bad(), &mut out_server),
            "with_roots: pem bad UTF-8",
        );
        assert_invalid(
            ocde_server_discover_with_roots(server_url.as_ptr(), null(), null_mut()),
            "with_roots: out_server NULL",
        );
        assert_eq!(out_server as usize, 0x1, "out_server written on failure");
        assert_invalid(
            ocde_client_new_for_server(null(), &mut out_client),
            "server_url NULL",
        );
        assert_invalid(
            ocde_client_new_for_server(bad(), &mut out_client),
            "server_url bad UTF-8",
        );
        assert_invalid(
            ocde_client_new_for_server(server_url.as_ptr(), null_mut()),
            "out_client NULL",
        );
        assert_invalid(
            ocde_client_new_from_server(null(), &mut out_client),
            "server NULL",
        );
        assert_eq!(out_client as usize, 0x1, "out_client written on failure");
        // Accessors of a NULL server: NULL / 0, never a crash.
        assert!(ocde_server_documents_api_url(null()).is_null());
        assert!(ocde_server_auth_url(null()).is_null());
        assert!(ocde_server_token_url(null()).is_null());
        assert!(ocde_server_code_challenge_method(null()).is_null());
        assert_eq!(ocde_server_pkce_required(null()), 0);
        assert_eq!(ocde_server_http_basic_supported(null()), 0);
        assert_eq!(
            ocde_server_supports_flow(null(), c("authorization_code_grant").as_ptr()),
            0
        );
        ocde_server_free(null_mut());

        let mut server: *mut OcdeServer = null_mut();
        assert_eq!(
            ocde_server_discover(server_url.as_ptr(), &mut server),
            OcdeStatus::Ok
        );
        assert_eq!(ocde_server_supports_flow(server, null()), 0, "flow NULL");
        assert_eq!(
            ocde_server_supports_flow(server, bad()),
            0,
            "flow bad UTF-8"
        );
        assert_eq!(
            ocde_server_supports_flow(server, c("authorization_code_grant").as_ptr()),
            1,
            "the positive case, so the zeros above mean something"
        );
        assert_invalid(
            ocde_client_new_from_server(server, null_mut()),
            "out_client NULL",
        );
        let mut raw: *mut OcdeClient = null_mut();
        assert_eq!(
            ocde_client_new_from_server(server, &mut raw),
            OcdeStatus::Ok
        );
        let client = CClient(raw);
        ocde_server_free(server);
        assert_eq!(
            text(ocde_client_documents_api_url(client.0)).unwrap(),
            sim.documents_api_url(),
            "the discovered API base URL"
        );
        assert!(ocde_client_documents_api_url(null()).is_null());

        assert_invalid(
            ocde_client_set_oauth(null_mut(), c("id").as_ptr(), null(), None, null_mut()),
            "client NULL",
        );
        assert_invalid(
            ocde_client_set_oauth(client.0, null(), null(), None, null_mut()),
            "client_id NULL",
        );
        assert_invalid(
            ocde_client_set_oauth(client.0, bad(), null(), None, null_mut()),
            "client_id bad UTF-8",
        );
        assert_invalid(
            ocde_client_set_oauth(client.0, c("id").as_ptr(), bad(), None, null_mut()),
            "client_secret bad UTF-8",
        );
        assert_invalid(
            ocde_client_set_refresh_token(null_mut(), c("rt").as_ptr()),
            "client NULL",
        );
        assert_invalid(
            ocde_client_set_refresh_token(client.0, bad()),
            "refresh_token bad UTF-8",
        );
        assert_invalid(
            ocde_sign_in_start(null_mut(), 0, None, null_mut(), &mut out_sign_in),
            "client NULL",
        );
        assert_invalid(
            ocde_sign_in_start(client.0, 0, None, null_mut(), null_mut()),
            "out_sign_in NULL",
        );
        assert_eq!(out_sign_in as usize, 0x1, "out_sign_in written on failure");
        assert_invalid(ocde_sign_in_poll(null_mut(), 0), "sign_in NULL");
        assert!(ocde_sign_in_url(null()).is_null());
        ocde_sign_in_abort(null_mut());
        ocde_sign_in_free(null_mut());
        assert_invalid(
            ocde_client_current_user(null_mut(), &mut out_text, null_mut()),
            "client NULL",
        );
        assert_eq!(out_text as usize, 0x1, "out_id written on failure");
    }
}

#[test]
fn remaining_client_and_selection_download_arguments_are_checked() {
    let (_sim, client, sel, status) =
        selected(SimConfig::default(), None, BrowserChoice::SelectAll);
    assert_eq!(status, OcdeStatus::Ok);
    let dir = TempDir::new("ffi-sel");
    let d = c(dir.path().to_str().unwrap());
    let mut results: *mut OcdeDownloadResults = 0x1 as *mut OcdeDownloadResults;
    unsafe {
        assert_invalid(
            ocde_client_set_root_certificates(null_mut(), null()),
            "client NULL",
        );
        assert_invalid(
            ocde_client_set_root_certificates(client.0, bad()),
            "pem bad UTF-8",
        );
        assert_invalid(
            ocde_download_selection(
                null_mut(),
                sel.0,
                d.as_ptr(),
                0,
                None,
                null_mut(),
                &mut results,
            ),
            "client NULL",
        );
        assert_invalid(
            ocde_download_selection(
                client.0,
                null(),
                d.as_ptr(),
                0,
                None,
                null_mut(),
                &mut results,
            ),
            "selection NULL",
        );
        assert_invalid(
            ocde_download_selection(client.0, sel.0, null(), 0, None, null_mut(), &mut results),
            "dest_dir NULL",
        );
        assert_invalid(
            ocde_download_selection(client.0, sel.0, bad(), 0, None, null_mut(), &mut results),
            "dest_dir bad UTF-8",
        );
        assert_eq!(results as usize, 0x1, "out_results written on failure");
        assert_eq!(ocde_download_results_count(null()), 0);
        assert_eq!(
            ocde_download_results_status(null(), 0),
            OcdeStatus::InvalidArgument
        );
        assert!(ocde_download_results_path(null(), 0).is_null());
        assert!(ocde_download_results_error(null(), 0).is_null());
        ocde_download_results_free(null_mut());
    }
    assert!(dir.entries().is_empty(), "{:?}", dir.entries());
}
