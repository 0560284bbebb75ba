//! Authorization and download through the C ABI (issue behaviours 8–12).

mod common;
use common::*;
use opencde_documents::ffi::client::{ocde_client_set_log_callback, OcdeLogLevel};
use opencde_documents::ffi::{ocde_last_http_status, OcdeStatus};
use std::ffi::c_void;
use std::time::Duration;

const TOKEN: &str = "s3cr3t-t0ken";

fn sim_with(config: SimConfig) -> (Simulator, CClient) {
    let sim = Simulator::start(SimConfig {
        required_token: Some(TOKEN.into()),
        ..config
    })
    .unwrap();
    let client = CClient::for_sim(&sim).token(TOKEN);
    (sim, client)
}

fn one_doc(fault: Option<Fault>) -> Vec<SimDocument> {
    let doc = SimDocument::new(
        "d",
        "Doc",
        "d.ifc",
        cde_simulator::pseudo_random_bytes("d", 300_000),
    );
    vec![match fault {
        Some(f) => doc.with_fault(f),
        None => doc,
    }]
}

#[test]
fn whole_flow_downloads_every_document_byte_exact_without_leaking_the_token() {
    for mode in [
        DownloadMode::See303,
        DownloadMode::Found302,
        DownloadMode::Temporary307,
        DownloadMode::Moved301,
        DownloadMode::Permanent308,
        DownloadMode::Direct200,
    ] {
        let sim = Simulator::start(SimConfig {
            required_token: Some(TOKEN.into()),
            download_mode: mode,
            ..Default::default()
        })
        .unwrap();
        let client = CClient::for_sim(&sim).token(TOKEN);
        let sel = start(&client, &Opts::default(), &Opener::new()).unwrap();
        sim.browse(&sel.url(), BrowserChoice::SelectAll).unwrap();
        assert_eq!(sel.wait(50), OcdeStatus::Ok, "{mode:?}: {}", last_error());
        let dir = TempDir::new("flow");
        for i in 0..sel.count() {
            let doc = sel.document(i);
            let mut progress = Progress::default();
            let (status, path) = client.download_document(&sel, i, dir.path(), &mut progress);
            assert_eq!(
                status,
                OcdeStatus::Ok,
                "{mode:?} {}: {}",
                doc.document_id,
                last_error()
            );
            let path = path.unwrap();
            assert_eq!(path.parent().unwrap(), dir.path(), "stays inside dest_dir");
            let expected = sim.document(&doc.document_id).unwrap().content;
            assert_eq!(
                std::fs::read(&path).unwrap(),
                expected,
                "{mode:?} {}",
                doc.document_id
            );
        }
        assert_eq!(
            dir.entries().len(),
            3,
            "no temporary files left: {:?}",
            dir.entries()
        );
        assert_token_stayed_home(&sim);
        // The API itself did get the token (otherwise the test proves nothing).
        assert!(sim
            .requests()
            .iter()
            .any(|r| r.authorization.as_deref() == Some(&format!("Bearer {TOKEN}"))));
        // Storage saw the presigned query byte for byte (it answers 403 otherwise).
        if !matches!(
            mode,
            DownloadMode::Direct200 | DownloadMode::BounceViaStorage
        ) {
            assert!(sim
                .requests()
                .iter()
                .any(|r| r.origin == Origin::Storage
                    && r.target.ends_with(cde_simulator::STORAGE_QUERY)));
        }
    }
}

#[test]
fn unsafe_file_names_become_safe_names_inside_the_folder() {
    let (sim, client, sel, status) = selected(
        SimConfig::default(),
        None,
        BrowserChoice::Select(vec!["doc-2".into()]),
    );
    assert_eq!(status, OcdeStatus::Ok);
    assert_eq!(sel.document(0).file_name, "Проект/模型 ü.ifc");
    let dir = TempDir::new("names");
    let (status, path) = client.download_document(&sel, 0, dir.path(), &mut Progress::default());
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    assert_eq!(path.unwrap(), dir.path().join("Проект_模型 ü.ifc"));
    assert_eq!(dir.entries(), vec!["Проект_模型 ü.ifc".to_string()]);
    drop(sim);
}

#[test]
fn same_names_in_one_selection_do_not_overwrite_each_other() {
    let docs = vec![
        SimDocument::new("a", "A", "model.ifc", b"first".to_vec()),
        SimDocument::new("b", "B", "MODEL.ifc", b"second".to_vec()),
    ];
    let (_sim, client, sel, status) = selected(
        SimConfig {
            documents: docs,
            ..Default::default()
        },
        None,
        BrowserChoice::SelectAll,
    );
    assert_eq!(status, OcdeStatus::Ok);
    let dir = TempDir::new("dupes");
    for i in 0..2 {
        assert_eq!(
            client
                .download_document(&sel, i, dir.path(), &mut Progress::default())
                .0,
            OcdeStatus::Ok
        );
    }
    assert_eq!(
        std::fs::read(dir.path().join("model.ifc")).unwrap(),
        b"first"
    );
    assert_eq!(
        std::fs::read(dir.path().join("MODEL (2).ifc")).unwrap(),
        b"second"
    );
}

#[test]
fn token_is_not_sent_to_a_selected_documents_url_on_another_origin() {
    let (sim, _client, sel, status) = selected(
        SimConfig {
            selected_documents_on_storage: true,
            required_token: Some(TOKEN.into()),
            ..Default::default()
        },
        Some(TOKEN),
        BrowserChoice::SelectAll,
    );
    // Storage answers 400 to any Authorization header: OK proves the token stayed home.
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    assert_eq!(sel.count(), 3);
    assert!(sim
        .requests()
        .iter()
        .any(|r| r.origin == Origin::Storage && r.path().starts_with("/selections/")));
    assert_token_stayed_home(&sim);
}

#[test]
fn a_303_on_the_same_origin_drops_the_token_and_a_307_keeps_it() {
    let (sim, client) = sim_with(SimConfig {
        download_mode: DownloadMode::SameOrigin303,
        documents: one_doc(None),
        ..Default::default()
    });
    let dir = TempDir::new("303");
    let status = client.download_to_path(
        &download_url(&sim, "d"),
        &dir.path().join("d.ifc"),
        -1,
        &mut Progress::default(),
    );
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    let file_hit = request_to(&sim, "/files/d");
    assert_eq!(
        file_hit.authorization, None,
        "303 must drop Authorization even on the same origin"
    );

    let (sim, client) = sim_with(SimConfig {
        download_mode: DownloadMode::SameOrigin307,
        documents: one_doc(None),
        ..Default::default()
    });
    let status = client.download_to_path(
        &download_url(&sim, "d"),
        &dir.path().join("e.ifc"),
        -1,
        &mut Progress::default(),
    );
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    let file_hit = request_to(&sim, "/files/d");
    assert_eq!(
        file_hit.authorization.as_deref(),
        Some(&*format!("Bearer {TOKEN}")),
        "same-origin 307 keeps it"
    );
}

#[test]
fn wrong_token_is_unauthorized_with_a_clear_message() {
    let sim = Simulator::start(SimConfig {
        required_token: Some(TOKEN.into()),
        ..Default::default()
    })
    .unwrap();
    let client = CClient::for_sim(&sim).token("not-the-token");
    let (status, message) = start(&client, &Opts::default(), &Opener::new())
        .err()
        .unwrap();
    assert_eq!(status, OcdeStatus::Unauthorized);
    assert_eq!(ocde_last_http_status(), 401);
    assert!(
        message.contains("401") && message.contains(&sim.cde_origin()),
        "{message}"
    );
    assert!(!message.contains("not-the-token"));
}

#[test]
fn storage_errors_are_http_with_the_start_of_the_body() {
    let (sim, client) = sim_with(SimConfig {
        documents: one_doc(Some(Fault::Status(500, "backend exploded: disk 7".into()))),
        ..Default::default()
    });
    let dir = TempDir::new("500");
    let dest = dir.path().join("d.ifc");
    let status = client.download_to_path(
        &download_url(&sim, "d"),
        &dest,
        -1,
        &mut Progress::default(),
    );
    assert_eq!(status, OcdeStatus::Http);
    assert_eq!(ocde_last_http_status(), 500);
    let message = last_error();
    assert!(
        message.contains("backend exploded") && message.contains(&sim.storage_origin()),
        "{message}"
    );
    assert!(
        !message.contains("sig="),
        "no presigned query in messages: {message}"
    );
    assert!(dir.entries().is_empty());
}

#[test]
fn redirect_loops_are_cut_after_ten_hops() {
    let (sim, client) = sim_with(SimConfig::default());
    let dir = TempDir::new("loop");
    let url = format!("{}/documents/1.0/redirect-loop/0", sim.cde_origin());
    let status = client.download_to_path(&url, &dir.path().join("x"), -1, &mut Progress::default());
    assert_eq!(status, OcdeStatus::Protocol);
    assert!(last_error().contains("redirects"), "{}", last_error());
    let hops = sim
        .requests()
        .iter()
        .filter(|r| r.path().starts_with("/documents/1.0/redirect-loop/"))
        .count();
    assert_eq!(hops, 11, "the first request plus 10 redirects");
    assert!(dir.entries().is_empty());
}

#[test]
fn downloads_ask_for_identity_encoding() {
    let (sim, client) = sim_with(SimConfig {
        documents: one_doc(None),
        ..Default::default()
    });
    let dir = TempDir::new("identity");
    assert_eq!(
        client.download_to_path(
            &download_url(&sim, "d"),
            &dir.path().join("d"),
            -1,
            &mut Progress::default()
        ),
        OcdeStatus::Ok
    );
    let hit = sim
        .requests()
        .into_iter()
        .find(|r| r.origin == Origin::Storage)
        .unwrap();
    assert_eq!(hit.header("Accept-Encoding"), Some("identity"));
}

/// Runs a download of a single faulty document over an existing destination file and checks the
/// destination is untouched and nothing else is left in the folder.
fn failing_download(fault: Fault, expected: i64, stall_ms: u32) -> (OcdeStatus, String) {
    let (sim, client) = sim_with(SimConfig {
        documents: one_doc(Some(fault)),
        ..Default::default()
    });
    let client = client.timeouts(0, stall_ms).retries(0, 0);
    let dir = TempDir::new("fail");
    let dest = dir.path().join("d.ifc");
    std::fs::write(&dest, b"previous version").unwrap();
    let status = client.download_to_path(
        &download_url(&sim, "d"),
        &dest,
        expected,
        &mut Progress::default(),
    );
    let message = last_error();
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        b"previous version",
        "destination touched"
    );
    assert_eq!(
        dir.entries(),
        vec!["d.ifc".to_string()],
        "temporary file left"
    );
    (status, message)
}

#[test]
fn truncated_body_is_an_integrity_error_and_leaves_nothing() {
    let (status, message) = failing_download(Fault::TruncateAfter(100_000), -1, 0);
    assert_eq!(status, OcdeStatus::Integrity, "{message}");
    assert!(
        message.contains("100000") || message.contains("closed"),
        "{message}"
    );
}

#[test]
fn chunked_body_cut_before_the_last_chunk_is_an_integrity_error() {
    let (status, message) = failing_download(Fault::ChunkedCutAfter(100_000), -1, 0);
    assert!(
        matches!(status, OcdeStatus::Integrity),
        "{status:?}: {message}"
    );
}

#[test]
fn close_delimited_body_is_checked_against_the_expected_size() {
    let (status, message) = failing_download(Fault::CloseDelimited, 300_001, 0);
    assert_eq!(status, OcdeStatus::Integrity, "{message}");
    // With the right expected size the same answer is complete.
    let (sim, client) = sim_with(SimConfig {
        documents: one_doc(Some(Fault::CloseDelimited)),
        ..Default::default()
    });
    let dir = TempDir::new("close-ok");
    let status = client.download_to_path(
        &download_url(&sim, "d"),
        &dir.path().join("d"),
        300_000,
        &mut Progress::default(),
    );
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
}

#[test]
fn stall_timeout_fires_but_a_slow_steady_transfer_is_never_capped() {
    let (status, message) =
        failing_download(Fault::StallAfter(50_000, Duration::from_secs(20)), -1, 400);
    assert_eq!(status, OcdeStatus::Timeout, "{message}");
    // 300 kB at 400 kB/s takes ~750 ms, longer than the 400 ms stall timeout, but never stalls.
    let (sim, client) = sim_with(SimConfig {
        documents: one_doc(Some(Fault::Throttle(400_000))),
        ..Default::default()
    });
    let client = client.timeouts(0, 400);
    let dir = TempDir::new("slow");
    let mut progress = Progress::default();
    let status = client.download_to_path(
        &download_url(&sim, "d"),
        &dir.path().join("d"),
        -1,
        &mut progress,
    );
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    assert!(progress.calls.len() > 10);
}

#[test]
fn connect_failure_is_a_network_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = CClient::new(&format!("http://127.0.0.1:{port}/documents/1.0"));
    let dir = TempDir::new("refused");
    let status = client.download_to_path(
        &format!("http://127.0.0.1:{port}/x"),
        &dir.path().join("x"),
        -1,
        &mut Progress::default(),
    );
    assert_eq!(status, OcdeStatus::Network, "{}", last_error());
    assert!(
        last_error().contains(&format!("127.0.0.1:{port}")),
        "{}",
        last_error()
    );
}

#[test]
fn progress_reports_totals_on_the_calling_thread_and_can_abort() {
    let (sim, client) = sim_with(SimConfig {
        documents: one_doc(None),
        ..Default::default()
    });
    let dir = TempDir::new("progress");
    let mut progress = Progress::default();
    assert_eq!(
        client.download_to_path(
            &download_url(&sim, "d"),
            &dir.path().join("a"),
            -1,
            &mut progress
        ),
        OcdeStatus::Ok
    );
    assert_eq!(
        progress.calls.first(),
        Some(&(0, 300_000)),
        "total is Content-Length"
    );
    assert_eq!(progress.calls.last(), Some(&(300_000, 300_000)));
    assert!(
        progress.calls.windows(2).all(|w| w[0].0 <= w[1].0),
        "monotonic"
    );
    assert!(
        progress
            .threads
            .iter()
            .all(|t| *t == std::thread::current().id()),
        "callbacks on the calling thread"
    );

    // Chunked (no Content-Length): total is the expected size, else -1.
    let (sim, client) = sim_with(SimConfig {
        documents: one_doc(Some(Fault::Chunked)),
        ..Default::default()
    });
    let mut progress = Progress::default();
    assert_eq!(
        client.download_to_path(
            &download_url(&sim, "d"),
            &dir.path().join("b"),
            300_000,
            &mut progress
        ),
        OcdeStatus::Ok
    );
    assert_eq!(progress.calls.last(), Some(&(300_000, 300_000)));
    let mut progress = Progress::default();
    assert_eq!(
        client.download_to_path(
            &download_url(&sim, "d"),
            &dir.path().join("c"),
            -1,
            &mut progress
        ),
        OcdeStatus::Ok
    );
    assert_eq!(progress.calls.last(), Some(&(300_000, -1)));

    // Non-zero return aborts with the same cleanup.
    std::fs::write(dir.path().join("a"), b"keep me").unwrap();
    let mut progress = Progress {
        abort_after: Some(1),
        ..Default::default()
    };
    let status = client.download_to_path(
        &download_url(&sim, "d"),
        &dir.path().join("a"),
        -1,
        &mut progress,
    );
    assert_eq!(status, OcdeStatus::Aborted);
    assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"keep me");
    assert_eq!(dir.entries(), vec!["a", "b", "c"]);
}

#[test]
fn declared_size_mismatch_on_a_framed_transfer_is_logged_not_failed() {
    // The real server that declares 1000x the size it sends.
    let docs = one_doc(None)
        .into_iter()
        .map(|d| d.with_declared_size(300_000_000))
        .collect();
    let (_sim, client, sel, status) = selected(
        SimConfig {
            documents: docs,
            ..Default::default()
        },
        None,
        BrowserChoice::SelectAll,
    );
    assert_eq!(status, OcdeStatus::Ok);
    assert_eq!(sel.document(0).size_in_bytes, 300_000_000);
    let mut log: Vec<(OcdeLogLevel, String)> = Vec::new();
    unsafe {
        ocde_client_set_log_callback(
            client.0,
            Some(collect_log),
            &mut log as *mut _ as *mut c_void,
        )
    };
    let dir = TempDir::new("declared");
    let (status, path) = client.download_document(&sel, 0, dir.path(), &mut Progress::default());
    unsafe { ocde_client_set_log_callback(client.0, None, std::ptr::null_mut()) };
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    assert_eq!(std::fs::metadata(path.unwrap()).unwrap().len(), 300_000);
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].0, OcdeLogLevel::Warning);
    assert!(
        log[0].1.contains("300000000") && log[0].1.contains("300000"),
        "{}",
        log[0].1
    );
}

#[test]
fn destination_folder_must_exist() {
    let (sim, client) = sim_with(SimConfig {
        documents: one_doc(None),
        ..Default::default()
    });
    let dir = TempDir::new("nofolder");
    let status = client.download_to_path(
        &download_url(&sim, "d"),
        &dir.path().join("missing/d.ifc"),
        -1,
        &mut Progress::default(),
    );
    assert_eq!(status, OcdeStatus::Io);
    assert!(last_error().contains("missing"), "{}", last_error());
}

#[test]
fn an_existing_destination_is_replaced_only_after_success() {
    let (sim, client) = sim_with(SimConfig {
        documents: one_doc(None),
        ..Default::default()
    });
    let dir = TempDir::new("replace");
    let dest = dir.path().join("d.ifc");
    std::fs::write(&dest, b"old").unwrap();
    assert_eq!(
        client.download_to_path(
            &download_url(&sim, "d"),
            &dest,
            -1,
            &mut Progress::default()
        ),
        OcdeStatus::Ok
    );
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        sim.document("d").unwrap().content
    );
    assert_eq!(dir.entries(), vec!["d.ifc"]);
}

#[test]
fn forbidden_is_unauthorized() {
    let (sim, client) = sim_with(SimConfig {
        documents: one_doc(Some(Fault::Status(403, "denied by policy".into()))),
        ..Default::default()
    });
    let dir = TempDir::new("403");
    let status = client.download_to_path(
        &download_url(&sim, "d"),
        &dir.path().join("d"),
        -1,
        &mut Progress::default(),
    );
    assert_eq!(status, OcdeStatus::Unauthorized);
    assert_eq!(ocde_last_http_status(), 403);
    assert!(
        last_error().contains("denied by policy"),
        "{}",
        last_error()
    );
}

#[test]
fn the_scheme_is_part_of_the_origin() {
    // A client for https://127.0.0.1:P must not send its token to http://127.0.0.1:P.
    let sim = Simulator::start(SimConfig {
        documents: one_doc(None),
        download_mode: DownloadMode::Direct200,
        ..Default::default()
    })
    .unwrap();
    let port = sim.cde_origin().rsplit(':').next().unwrap().to_string();
    let client = CClient::new(&format!("https://127.0.0.1:{port}/documents/1.0")).token(TOKEN);
    let dir = TempDir::new("scheme");
    let status = client.download_to_path(
        &download_url(&sim, "d"),
        &dir.path().join("d"),
        -1,
        &mut Progress::default(),
    );
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    let hit = sim
        .requests()
        .into_iter()
        .find(|r| r.path().ends_with("/download"))
        .unwrap();
    assert_eq!(hit.authorization, None, "token sent across schemes");
}

#[test]
fn a_dropped_token_never_comes_back() {
    // CDE → 302 storage → 302 back to the CDE origin: the last hop must stay token-free.
    let (sim, client) = sim_with(SimConfig {
        documents: one_doc(None),
        download_mode: DownloadMode::BounceViaStorage,
        ..Default::default()
    });
    let dir = TempDir::new("bounce");
    let status = client.download_to_path(
        &download_url(&sim, "d"),
        &dir.path().join("d"),
        -1,
        &mut Progress::default(),
    );
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    let back = request_to(&sim, "/files/d");
    assert_eq!(back.origin, Origin::Cde);
    assert_eq!(
        back.authorization, None,
        "token came back after the storage hop"
    );
}

struct PeekDir {
    dir: std::path::PathBuf,
    seen: Option<Vec<String>>,
}

unsafe extern "C" fn peek_dir(user_data: *mut c_void, received: u64, _total: i64) -> i32 {
    let p = &mut *(user_data as *mut PeekDir);
    if received > 0 && p.seen.is_none() {
        let mut names: Vec<String> = std::fs::read_dir(&p.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        p.seen = Some(names);
    }
    0
}

#[test]
fn the_body_goes_to_a_hidden_temporary_file_beside_the_destination() {
    let (sim, client) = sim_with(SimConfig {
        documents: one_doc(None),
        ..Default::default()
    });
    let dir = TempDir::new("beside");
    let dest = dir.path().join("d.ifc");
    let mut peek = PeekDir {
        dir: dir.path().to_path_buf(),
        seen: None,
    };
    let status = unsafe {
        opencde_documents::ffi::download::ocde_download_to_path(
            client.0,
            c(&download_url(&sim, "d")).as_ptr(),
            c(dest.to_str().unwrap()).as_ptr(),
            -1,
            Some(peek_dir),
            &mut peek as *mut PeekDir as *mut c_void,
        )
    };
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    let seen = peek.seen.unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].starts_with(".d.ifc.") && seen[0].ends_with(".ocde-part"),
        "{seen:?}"
    );
    assert_eq!(dir.entries(), vec!["d.ifc"]);
}

#[test]
fn a_long_name_in_a_four_byte_script_still_gets_a_temporary_file() {
    // 62 × "𝕄" (4 bytes each) + ".ifc" = 252 bytes: a legal name whose temporary name must not
    // pass the 255-byte limit (80 characters of it would be 320 bytes).
    let (sim, client) = sim_with(SimConfig {
        documents: one_doc(None),
        ..Default::default()
    });
    let dir = TempDir::new("long-utf8");
    let name = format!("{}.ifc", "𝕄".repeat(62));
    assert_eq!(name.len(), 252);
    let dest = dir.path().join(&name);
    let status = client.download_to_path(
        &download_url(&sim, "d"),
        &dest,
        -1,
        &mut Progress::default(),
    );
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    assert_eq!(dir.entries(), vec![name]);
}

#[test]
fn the_connect_timeout_fires() {
    // A listening socket whose backlog is full: further SYNs are dropped, connect() hangs.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    assert!(fd >= 0);
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    addr.sin_family = libc::AF_INET as libc::sa_family_t;
    addr.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
    let bound = unsafe {
        libc::bind(
            fd,
            &addr as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        )
    };
    assert_eq!(bound, 0);
    assert_eq!(unsafe { libc::listen(fd, 0) }, 0);
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as u32;
    unsafe { libc::getsockname(fd, &mut addr as *mut _ as *mut libc::sockaddr, &mut len) };
    let port = u16::from_be(addr.sin_port);
    // Fill the backlog (non-blocking connects so the test itself never hangs).
    let fillers: Vec<std::net::TcpStream> = (0..3)
        .filter_map(|_| {
            std::net::TcpStream::connect_timeout(
                &format!("127.0.0.1:{port}").parse().unwrap(),
                std::time::Duration::from_millis(200),
            )
            .ok()
        })
        .collect();
    let client = CClient::new(&format!("http://127.0.0.1:{port}/documents/1.0"))
        .timeouts(300, 0)
        .retries(0, 0);
    let dir = TempDir::new("connect");
    let started = std::time::Instant::now();
    let status = client.download_to_path(
        &format!("http://127.0.0.1:{port}/x"),
        &dir.path().join("x"),
        -1,
        &mut Progress::default(),
    );
    let took = started.elapsed();
    unsafe { libc::close(fd) };
    drop(fillers);
    assert_eq!(status, OcdeStatus::Timeout, "{}", last_error());
    assert!(
        took < std::time::Duration::from_secs(5),
        "connect took {took:?}"
    );
}

#[test]
fn the_library_prints_nothing() {
    if std::env::var_os("OCDE_QUIET_CHILD").is_some() {
        // A whole flow, a warning-producing download and a failing one.
        let docs = one_doc(None)
            .into_iter()
            .map(|d| d.with_declared_size(1))
            .collect();
        let (sim, client, sel, status) = selected(
            SimConfig {
                documents: docs,
                ..Default::default()
            },
            None,
            BrowserChoice::SelectAll,
        );
        assert_eq!(status, OcdeStatus::Ok);
        let dir = TempDir::new("quiet");
        assert_eq!(
            client
                .download_document(&sel, 0, dir.path(), &mut Progress::default())
                .0,
            OcdeStatus::Ok
        );
        let missing = format!(
            "{}/documents/1.0/documents/none/versions/1/download",
            sim.cde_origin()
        );
        assert_ne!(
            client.download_to_path(
                &missing,
                &dir.path().join("x"),
                -1,
                &mut Progress::default()
            ),
            OcdeStatus::Ok
        );
        quiet_child_more_paths();
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_library_prints_nothing",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env("OCDE_QUIET_CHILD", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Only the test harness's own lines may appear.
    let foreign: Vec<&str> = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|l| {
            !l.trim().is_empty()
                && !l.starts_with("running ")
                && !l.starts_with("test result")
                && *l != "."
                && !l.starts_with("test ")
        })
        .collect();
    assert!(foreign.is_empty(), "the library printed: {foreign:?}");
}

/// More of the library for `the_library_prints_nothing`'s child: a retried and resumed download,
/// a whole selection in parallel, and sign-in with discovery, a refresh and the current user.
fn quiet_child_more_paths() {
    use opencde_documents::ffi::download::*;
    use opencde_documents::ffi::ocde_string_free;
    use opencde_documents::ffi::signin::*;
    let flaky = SimDocument::new("f", "Flaky", "flaky.ifc", vec![7u8; 300_000])
        .with_fault(Fault::TruncateFirst(100_000));
    let busy =
        SimDocument::new("b", "Busy", "busy.ifc", vec![8u8; 50_000]).with_fault(Fault::FailFirst {
            times: 1,
            status: 503,
            retry_after: None,
        });
    let (sim, client, sel, status) = selected(
        SimConfig {
            documents: vec![flaky, busy],
            required_token: Some(TOKEN.into()),
            access_token_lifetime: 1,
            ..Default::default()
        },
        Some(TOKEN),
        BrowserChoice::SelectAll,
    );
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    let dir = TempDir::new("quiet-parallel");
    let (status, results) = download_selection(&client, &sel, dir.path(), 2);
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    unsafe {
        assert_eq!(ocde_download_results_status(results, 0), OcdeStatus::Ok);
        assert_eq!(ocde_download_results_status(results, 1), OcdeStatus::Ok);
        ocde_download_results_free(results);
    }
    // Sign-in on the same simulator: discovery, the browser's "Sign in", then a refresh.
    let mut raw = std::ptr::null_mut();
    let status = unsafe { ocde_client_new_for_server(c(&sim.cde_origin()).as_ptr(), &mut raw) };
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    let signed = CClient(raw);
    let status = unsafe {
        ocde_client_set_oauth(
            signed.0,
            c(&sim.config().oauth_client_id).as_ptr(),
            std::ptr::null(),
            None,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(status, OcdeStatus::Ok);
    let opener = Opener::new();
    let mut si = std::ptr::null_mut();
    let status = unsafe {
        ocde_sign_in_start(
            signed.0,
            0,
            Some(open_cb),
            &opener as *const Opener as *mut c_void,
            &mut si,
        )
    };
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    let url = unsafe { text(ocde_sign_in_url(si)) }.unwrap();
    sim.browse_sign_in(&url, true).unwrap();
    assert_eq!(
        unsafe { ocde_sign_in_poll(si, 10_000) },
        OcdeStatus::Ok,
        "{}",
        last_error()
    );
    unsafe { ocde_sign_in_free(si) };
    std::thread::sleep(std::time::Duration::from_millis(1200)); // expire the access token
    let (mut id, mut name) = (std::ptr::null_mut(), std::ptr::null_mut());
    let status = unsafe { ocde_client_current_user(signed.0, &mut id, &mut name) };
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    unsafe {
        ocde_string_free(id);
        ocde_string_free(name);
    }
}
