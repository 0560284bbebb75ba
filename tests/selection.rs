//! Selection and the loopback callback, through the C ABI (issue behaviours 1–7a).

mod common;
use common::*;
use opencde_documents::ffi::OcdeStatus;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

fn callback_parts(url: &str) -> (u16, String) {
    let rest = url
        .strip_prefix("http://127.0.0.1:")
        .expect("literal loopback address");
    let (port, path) = rest.split_once('/').unwrap();
    (port.parse().unwrap(), format!("/{path}"))
}

/// One raw HTTP/1.1 request to 127.0.0.1:port; returns the status code and the body.
fn raw(port: u16, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

#[test]
fn callback_url_is_loopback_literal_with_random_path_and_no_query() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let client = CClient::for_sim(&sim);
    let opener = Opener::new();
    let a = start(&client, &Opts::default(), &opener).unwrap();
    let b = start(&client, &Opts::default(), &opener).unwrap();
    let selects = sim.select_requests();
    let urls: Vec<String> = selects
        .iter()
        .map(|s| s["callback"]["url"].as_str().unwrap().to_string())
        .collect();
    for url in &urls {
        assert!(!url.contains('?'), "no query of our own: {url}");
        let (port, path) = callback_parts(url);
        assert_ne!(port, 0);
        let hex = path.trim_start_matches('/');
        assert!(
            hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit()),
            "128-bit random path: {path}"
        );
        // Bound to 127.0.0.1 only: another loopback address on the same port is refused.
        assert!(
            TcpStream::connect(("127.0.0.2", port)).is_err(),
            "listener must not answer on 127.0.0.2"
        );
        assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    }
    assert_ne!(
        callback_parts(&urls[0]).1,
        callback_parts(&urls[1]).1,
        "paths differ per selection"
    );
    assert_eq!(selects[0]["callback"]["expires_in"], 3600);
    drop((a, b));
}

#[test]
fn configured_port_is_used_and_a_taken_port_is_a_clear_error() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let client = CClient::for_sim(&sim);
    let probe = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    let opener = Opener::new();
    // Taken: the port is held by `probe`.
    let (status, message) = start(
        &client,
        &Opts {
            port,
            ..Default::default()
        },
        &opener,
    )
    .err()
    .expect("port in use");
    assert_eq!(status, OcdeStatus::Io);
    assert!(message.contains(&port.to_string()), "{message}");
    drop(probe);
    let sel = start(
        &client,
        &Opts {
            port,
            ..Default::default()
        },
        &opener,
    )
    .unwrap();
    assert_eq!(callback_parts(&registered_callback(&sim)).0, port);
    drop(sel);
}

#[test]
fn options_reach_the_cde() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let client = CClient::for_sim(&sim);
    let opts = Opts {
        expires_in_s: 120,
        server_context: Some("ctx-1".into()),
        extensions: vec![".ifc".into(), ".pdf".into()],
        ..Default::default()
    };
    let _sel = start(&client, &opts, &Opener::new()).unwrap();
    let body = sim.select_requests().pop().unwrap();
    assert_eq!(body["callback"]["expires_in"], 120);
    assert_eq!(body["server_context"], "ctx-1");
    assert_eq!(
        body["supported_file_extensions"],
        serde_json::json!([".ifc", ".pdf"])
    );
}

#[test]
fn bogus_requests_are_refused_and_the_real_one_still_wins() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let client = CClient::for_sim(&sim);
    let sel = start(&client, &Opts::default(), &Opener::new()).unwrap();
    let (port, path) = callback_parts(&registered_callback(&sim));
    let host = format!("127.0.0.1:{port}");
    let q = "?selected_documents_url=http%3A%2F%2F127.0.0.1%3A1%2Fx";
    let cases = [
        (
            format!("GET /favicon.ico HTTP/1.1\r\nHost: {host}\r\n\r\n"),
            404,
        ),
        (
            format!("GET /other{q} HTTP/1.1\r\nHost: {host}\r\n\r\n"),
            404,
        ),
        (
            format!("GET {path}x{q} HTTP/1.1\r\nHost: {host}\r\n\r\n"),
            404,
        ),
        (
            format!("GET {path}{q} HTTP/1.1\r\nHost: evil.example:{port}\r\n\r\n"),
            400,
        ),
        (
            format!(
                "GET {path}{q} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
                port + 1
            ),
            400,
        ),
        (
            format!("POST {path}{q} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n"),
            405,
        ),
        (
            format!("GET {path}?nothing=1 HTTP/1.1\r\nHost: {host}\r\n\r\n"),
            400,
        ),
    ];
    for (request, expected) in &cases {
        assert_eq!(raw(port, request).0, *expected, "{request}");
    }
    assert_eq!(
        sel.poll(50),
        OcdeStatus::Pending,
        "the wait goes on after bogus requests"
    );
    sim.browse(&sel.url(), BrowserChoice::SelectAll).unwrap();
    assert_eq!(sel.wait(50), OcdeStatus::Ok, "{}", last_error());
    assert_eq!(sel.count(), 3);
}

#[test]
fn localhost_host_header_counts() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let client = CClient::for_sim(&sim);
    let sel = start(&client, &Opts::default(), &Opener::new()).unwrap();
    let (port, path) = callback_parts(&registered_callback(&sim));
    let (status, body) = raw(
        port,
        &format!(
            "GET {path}?user_cancelled_selection=true HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n"
        ),
    );
    assert_eq!(status, 200);
    assert!(body.contains("cancelled"), "{body}");
    assert_eq!(sel.wait(10), OcdeStatus::UserCancelled);
}

#[test]
fn navigation_callback_selects_and_shows_a_received_page() {
    let (sim, _client, sel, status) = selected(
        SimConfig::default(),
        None,
        BrowserChoice::Select(vec!["doc-1".into(), "doc-3".into()]),
    );
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    assert_eq!(sel.count(), 2);
    assert_eq!(sel.document(0).document_id, "doc-1");
    assert_eq!(sel.document(1).document_id, "doc-3");
    // A final status sticks, even against a later abort.
    assert_eq!(sel.poll(0), OcdeStatus::Ok);
    sel.abort();
    assert_eq!(sel.poll(0), OcdeStatus::Ok);
    assert_eq!(sel.count(), 2);
    let fetches = sim
        .requests()
        .iter()
        .filter(|r| r.path().starts_with("/documents/1.0/selections/"))
        .count();
    assert_eq!(fetches, 1, "the selected documents are fetched once");
    assert!(sim
        .requests()
        .iter()
        .any(|r| r.path().starts_with("/documents/1.0/selections/")));
}

#[test]
fn browser_page_says_the_selection_arrived() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let client = CClient::for_sim(&sim);
    let sel = start(&client, &Opts::default(), &Opener::new()).unwrap();
    let outcome = sim.browse(&sel.url(), BrowserChoice::SelectAll).unwrap();
    assert_eq!(outcome.status, 200);
    assert!(
        outcome.body.contains("reached the application"),
        "{}",
        outcome.body
    );
    assert!(outcome.callback_url.contains("selected_documents_url="));
}

#[test]
fn xhr_callback_with_origin_header_works() {
    let config = SimConfig {
        xhr_callback: true,
        ..Default::default()
    };
    let sim = Simulator::start(config).unwrap();
    let client = CClient::for_sim(&sim);
    let sel = start(&client, &Opts::default(), &Opener::new()).unwrap();
    let outcome = sim.browse(&sel.url(), BrowserChoice::SelectAll).unwrap();
    assert_eq!(outcome.status, 200);
    assert_eq!(sel.wait(50), OcdeStatus::Ok, "{}", last_error());
    assert_eq!(sel.count(), 3);
}

#[test]
fn legacy_selected_url_name_is_accepted() {
    let config = SimConfig {
        legacy_callback_name: true,
        ..Default::default()
    };
    let (_sim, _client, sel, status) = selected(config, None, BrowserChoice::SelectAll);
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    assert_eq!(sel.count(), 3);
}

#[test]
fn cancel_gives_user_cancelled_and_a_cancel_page() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let client = CClient::for_sim(&sim);
    let sel = start(&client, &Opts::default(), &Opener::new()).unwrap();
    let (port, _) = callback_parts(&registered_callback(&sim));
    let outcome = sim.browse(&sel.url(), BrowserChoice::Cancel).unwrap();
    assert!(outcome.body.contains("cancelled"), "{}", outcome.body);
    assert_eq!(sel.wait(10), OcdeStatus::UserCancelled);
    assert!(
        port_is_free(port),
        "the port is free once a final status was returned"
    );
    assert_eq!(
        sel.poll(0),
        OcdeStatus::UserCancelled,
        "final status sticks"
    );
    assert_eq!(sel.count(), 0);
}

#[test]
fn poll_blocks_for_its_timeout_and_returns_pending_without_spinning() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let client = CClient::for_sim(&sim);
    let sel = start(&client, &Opts::default(), &Opener::new()).unwrap();
    let cpu_before = thread_cpu_time();
    let switches_before = voluntary_switches();
    let t = Instant::now();
    assert_eq!(sel.poll(600), OcdeStatus::Pending);
    let waited = t.elapsed();
    let cpu = thread_cpu_time() - cpu_before;
    let switches = voluntary_switches() - switches_before;
    // A condition-variable wait sleeps once; a sleep loop (even of 5 ms) wakes over a hundred times.
    assert!(switches < 20, "poll woke {switches} times while pending");
    assert!(
        waited >= Duration::from_millis(550),
        "poll returned after {waited:?}"
    );
    // A busy loop would burn ~600 ms of CPU on this thread; a condvar wait burns next to none.
    assert!(
        cpu < Duration::from_millis(100),
        "poll used {cpu:?} of CPU while pending"
    );
}

fn voluntary_switches() -> i64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    usage.ru_nvcsw
}

fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[test]
fn expiry_gives_expired_and_frees_the_port() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let client = CClient::for_sim(&sim);
    let sel = start(
        &client,
        &Opts {
            expires_in_s: 1,
            ..Default::default()
        },
        &Opener::new(),
    )
    .unwrap();
    let (port, _) = callback_parts(&registered_callback(&sim));
    assert_eq!(sel.poll(5000), OcdeStatus::Expired);
    assert!(port_is_free(port), "port {port} still bound after EXPIRED");
    assert_eq!(sel.poll(0), OcdeStatus::Expired);
    assert!(last_error().contains("expiry"), "{}", last_error());
    sel.abort();
    assert_eq!(sel.poll(0), OcdeStatus::Expired, "a final status sticks");
}

#[test]
fn abort_from_another_thread_wakes_a_blocked_poll() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let client = CClient::for_sim(&sim);
    let sel = std::sync::Arc::new(start(&client, &Opts::default(), &Opener::new()).unwrap());
    let (port, _) = callback_parts(&registered_callback(&sim));
    let other = sel.clone();
    let aborter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        other.abort();
    });
    let t = Instant::now();
    assert_eq!(sel.poll(60_000), OcdeStatus::Aborted);
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "abort did not wake the poll"
    );
    aborter.join().unwrap();
    assert!(port_is_free(port));
    assert_eq!(sel.poll(0), OcdeStatus::Aborted);
    // A late callback changes nothing.
    let _ = sim.browse(&sel.url(), BrowserChoice::SelectAll);
    assert_eq!(sel.poll(0), OcdeStatus::Aborted);
}

#[test]
fn port_is_free_after_ok_and_after_free() {
    let (sim, _client, sel, status) =
        selected(SimConfig::default(), None, BrowserChoice::SelectAll);
    assert_eq!(status, OcdeStatus::Ok);
    let (port, _) = callback_parts(&registered_callback(&sim));
    assert!(port_is_free(port));
    drop(sel);

    let client = CClient::for_sim(&sim);
    let pending = start(&client, &Opts::default(), &Opener::new()).unwrap();
    let (port, _) = callback_parts(&registered_callback(&sim));
    assert!(!port_is_free(port), "listening while pending");
    drop(pending);
    assert!(port_is_free(port), "freed with the selection");
}

#[test]
fn open_url_runs_on_the_calling_thread_with_the_page_url() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let client = CClient::for_sim(&sim);
    let opener = Opener::new();
    let sel = start(&client, &Opts::default(), &opener).unwrap();
    let urls = opener.urls.lock().unwrap().clone();
    assert_eq!(urls.len(), 1);
    assert_eq!(urls[0].0, sel.url());
    assert_eq!(urls[0].1, std::thread::current().id());
    assert!(sel.url().starts_with(&sim.cde_origin()));
}

#[test]
fn open_url_failure_aborts_and_leaves_nothing_listening() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let client = CClient::for_sim(&sim);
    let opener = Opener {
        result: 7,
        ..Opener::new()
    };
    let (status, message) = start(&client, &Opts::default(), &opener)
        .err()
        .expect("must fail");
    assert_eq!(status, OcdeStatus::Aborted);
    assert!(message.contains("open_url"), "{message}");
    let (port, _) = callback_parts(&registered_callback(&sim));
    assert!(port_is_free(port), "listener left running");
}

#[test]
fn missing_required_members_and_null_context_do_not_fail() {
    let config = SimConfig {
        omit_document_id: true,
        omit_server_context: true,
        ..Default::default()
    };
    let (_sim, _client, sel, status) = selected(config, None, BrowserChoice::SelectAll);
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    assert_eq!(sel.document(0).document_id, "");
    assert_eq!(sel.server_context(), None);
}

#[test]
fn documents_expose_every_field() {
    let (sim, _client, sel, status) =
        selected(SimConfig::default(), None, BrowserChoice::SelectAll);
    assert_eq!(status, OcdeStatus::Ok);
    assert!(sel.server_context().is_some());
    let d = sel.document(1);
    let expected = sim.document("doc-2").unwrap();
    assert_eq!(d.document_id, "doc-2");
    assert_eq!(d.file_name, expected.file_name);
    assert_eq!(d.title, expected.title);
    assert_eq!(d.size_in_bytes, expected.content.len() as i64);
    assert_eq!(d.version_index, 1);
    assert_eq!(d.version_number, "1");
    assert_eq!(d.creation_date, cde_simulator::CREATION_DATE);
    let cde = sim.cde_origin();
    for url in [
        &d.download_url,
        &d.metadata_url,
        &d.versions_url,
        &d.version_url,
    ] {
        assert!(url.starts_with(&cde), "{url}");
    }
    assert!(d.details_url.is_some());
}

#[test]
fn failed_fetch_is_retried_by_the_next_poll() {
    // The CDE wants a token; the host set a wrong one. The fetch fails with 401; the host fixes
    // the token and the next poll fetches again — the user's choice is not lost.
    let config = SimConfig {
        required_token: Some("right".into()),
        ..Default::default()
    };
    let sim = Simulator::start(config).unwrap();
    let client = CClient::for_sim(&sim).token("right");
    let sel = start(&client, &Opts::default(), &Opener::new()).unwrap();
    sim.browse(&sel.url(), BrowserChoice::SelectAll).unwrap();
    let client = client.token("wrong");
    assert_eq!(sel.wait(20), OcdeStatus::Unauthorized);
    assert_eq!(opencde_documents::ffi::ocde_last_http_status(), 401);
    assert!(
        !last_error().contains("wrong"),
        "token leaked into the error: {}",
        last_error()
    );
    let _client = client.token("right");
    assert_eq!(sel.poll(0), OcdeStatus::Ok, "{}", last_error());
    assert_eq!(sel.count(), 3);
}

#[test]
fn second_question_mark_callback_shape_is_accepted() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let client = CClient::for_sim(&sim);
    let sel = start(&client, &Opts::default(), &Opener::new()).unwrap();
    // Get a real selected-documents URL from the simulator by letting it redirect, but deliver it
    // ourselves in the deviant shape `/path?state=x?selected_documents_url=…`.
    let cb = registered_callback(&sim);
    let (port, path) = callback_parts(&cb);
    let sel_url = format!("{}/documents/1.0/selections/none", sim.cde_origin());
    let enc: String = sel_url.bytes().map(|b| format!("%{b:02X}")).collect();
    let (status, _) = raw(port, &format!("GET {path}?state=x?selected_documents_url={enc} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"));
    assert_eq!(status, 200);
    // The URL was taken (the fetch then fails on the simulator's 404, which proves it was used).
    assert_eq!(sel.wait(10), OcdeStatus::Http);
    assert!(sim
        .requests()
        .iter()
        .any(|r| r.path() == "/documents/1.0/selections/none"));
}

#[test]
fn answers_tell_the_browser_to_close_the_connection() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let client = CClient::for_sim(&sim);
    let sel = start(&client, &Opts::default(), &Opener::new()).unwrap();
    let (port, path) = callback_parts(&registered_callback(&sim));
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(format!("GET {path}?user_cancelled_selection=true HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: keep-alive\r\n\r\n").as_bytes()).unwrap();
    // Read the head and the announced body, not to EOF: a keep-alive browser closes by itself.
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("</html>") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the page was complete");
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
    assert!(text.contains("\r\nconnection: close\r\n"), "{text}");
    // A page for the browser, readable by the CDE page's cross-origin XHR as well.
    assert!(text.contains("\r\ncontent-type: text/html"), "{text}");
    assert!(
        text.contains("\r\naccess-control-allow-origin: *\r\n"),
        "{text}"
    );
    assert!(text.contains("\r\n\r\n<!doctype html>"), "{text}");
    assert_eq!(sel.wait(5), OcdeStatus::UserCancelled);
}

#[test]
fn the_browser_gets_its_whole_page_even_when_a_waiting_poll_ends_the_flow_at_once() {
    // A poll blocked on another thread returns the moment the callback is recorded and stops
    // the listener; the browser that sent the callback must still receive the complete page.
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let client = CClient::for_sim(&sim);
    for round in 0..100 {
        let sel = std::sync::Arc::new(start(&client, &Opts::default(), &Opener::new()).unwrap());
        let waiter = {
            let sel = sel.clone();
            std::thread::spawn(move || sel.poll(30_000))
        };
        std::thread::sleep(Duration::from_millis(20));
        let outcome = sim.browse(&sel.url(), BrowserChoice::Cancel).unwrap();
        assert_eq!(outcome.status, 200, "round {round}");
        assert!(
            outcome.body.contains("</html>"),
            "round {round}: page cut: {:?}",
            outcome.body
        );
        assert_eq!(waiter.join().unwrap(), OcdeStatus::UserCancelled);
    }
}

#[test]
fn a_client_dripping_its_request_is_cut_off_after_the_connection_timeout() {
    // One byte every 300 ms would keep a per-read timeout (5 s) from ever firing; the listener
    // gives the whole request head 5 s, so a slow local client cannot pin a connection slot.
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let client = CClient::for_sim(&sim);
    let sel = start(&client, &Opts::default(), &Opener::new()).unwrap();
    let (port, _) = callback_parts(&registered_callback(&sim));
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut writer = s.try_clone().unwrap();
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = answered.clone();
    let dripping = std::thread::spawn(move || {
        for b in b"GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if stop.load(std::sync::atomic::Ordering::SeqCst) || writer.write_all(&[*b]).is_err() {
                return; // the listener answered or closed the connection
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    s.set_read_timeout(Some(Duration::from_secs(40))).unwrap();
    let began = Instant::now();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let took = began.elapsed();
    answered.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(took < Duration::from_secs(15), "held for {took:?}");
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 400"),
        "{text}"
    );
    drop(s);
    dripping.join().unwrap();
    assert_eq!(sel.poll(0), OcdeStatus::Pending, "the wait goes on");
}

#[test]
fn abort_stops_a_poll_that_is_fetching_a_dripping_answer() {
    // The callback came; the selected-documents answer arrives one byte per 200 ms (minutes in
    // all, never a stall). An abort from another thread ends the poll between two bytes.
    let sim = Simulator::start(SimConfig {
        drip_selection_body: Some(Duration::from_millis(200)),
        ..Default::default()
    })
    .unwrap();
    let client = CClient::for_sim(&sim);
    let sel = std::sync::Arc::new(start(&client, &Opts::default(), &Opener::new()).unwrap());
    sim.browse(&sel.url(), BrowserChoice::SelectAll).unwrap();
    let other = sel.clone();
    let aborter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        other.abort();
    });
    let began = Instant::now();
    let status = sel.poll(60_000);
    let took = began.elapsed();
    aborter.join().unwrap();
    assert_eq!(status, OcdeStatus::Aborted, "{}", last_error());
    assert!(
        took < Duration::from_secs(20),
        "the poll ran on for {took:?}"
    );
    assert_eq!(sel.poll(0), OcdeStatus::Aborted, "and stays aborted");
    assert_eq!(sel.count(), 0);
}
