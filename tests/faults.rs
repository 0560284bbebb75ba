//! The fault matrix (issue "Hostile CDEs, hostile networks, hostile names"): every case asserts
//! the status, a specific `ocde_last_error`, no file at the destination (or the old one
//! untouched), no temporary file left, and that no origin but the CDE's saw the token.

mod common;
use cde_simulator::{EtagMode, RangeMode};
use common::*;
use opencde_documents::ffi::client::{
    ocde_client_abort_downloads, ocde_client_set_log_callback, OcdeLogLevel,
};
use opencde_documents::ffi::{ocde_last_http_status, OcdeStatus};
use std::ffi::c_void;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

const TOKEN: &str = "fault-matrix-token";
const SIZE: usize = 300_000;

fn doc(fault: Option<Fault>) -> SimDocument {
    let d = SimDocument::new(
        "d",
        "Doc",
        "d.ifc",
        cde_simulator::pseudo_random_bytes("d", SIZE),
    );
    match fault {
        Some(f) => d.with_fault(f),
        None => d,
    }
}

fn start_sim(
    documents: Vec<SimDocument>,
    tweak: impl FnOnce(&mut SimConfig),
) -> (Simulator, CClient) {
    let mut config = SimConfig {
        documents,
        required_token: Some(TOKEN.into()),
        ..Default::default()
    };
    tweak(&mut config);
    let sim = Simulator::start(config).unwrap();
    let client = CClient::for_sim(&sim).token(TOKEN).retries(3, 20);
    (sim, client)
}

/// Downloads `id` over an existing destination; returns status, message, final destination bytes
/// and the folder listing.
struct Outcome {
    status: OcdeStatus,
    message: String,
    dest: Vec<u8>,
    entries: Vec<String>,
    log: Vec<String>,
    http_status: i32,
}

fn download(sim: &Simulator, client: &CClient, id: &str, expected: i64) -> Outcome {
    let dir = TempDir::new(&format!("fault-{id}"));
    let dest = dir.path().join("model.ifc");
    std::fs::write(&dest, b"previous version").unwrap();
    let mut log: Vec<(OcdeLogLevel, String)> = Vec::new();
    unsafe {
        ocde_client_set_log_callback(
            client.0,
            Some(collect_log),
            &mut log as *mut _ as *mut c_void,
        )
    };
    let status = client.download_to_path(
        &download_url(sim, id),
        &dest,
        expected,
        &mut Progress::default(),
    );
    let message = last_error();
    let http_status = ocde_last_http_status();
    unsafe { ocde_client_set_log_callback(client.0, None, std::ptr::null_mut()) };
    assert!(!message.contains(TOKEN), "token in the error: {message}");
    assert_token_stayed_home(sim);
    Outcome {
        status,
        message,
        dest: std::fs::read(&dest).unwrap(),
        entries: dir.entries(),
        log: log.into_iter().map(|(_, m)| m).collect(),
        http_status,
    }
}

fn assert_failed_cleanly(o: &Outcome, status: OcdeStatus, needle: &str) {
    assert_eq!(o.status, status, "{}", o.message);
    assert!(
        o.message.contains(needle),
        "message {:?} lacks {needle:?}",
        o.message
    );
    assert_eq!(o.dest, b"previous version", "destination touched");
    assert_eq!(
        o.entries,
        vec!["model.ifc".to_string()],
        "temporary file left"
    );
}

/// A document whose first transfer breaks after 100 000 bytes, downloaded over an existing file
/// with `tweak` applied to the simulator.
fn broken_once(tweak: impl FnOnce(&mut SimConfig)) -> (Simulator, Outcome) {
    let (sim, client) = start_sim(vec![doc(Some(Fault::TruncateFirst(100_000)))], tweak);
    let o = download(&sim, &client, "d", -1);
    (sim, o)
}

fn assert_logged(o: &Outcome, needle: &str) {
    assert!(
        o.log.iter().any(|m| m.contains(needle)),
        "{needle:?} not in {:?}",
        o.log
    );
}

fn assert_succeeded(o: &Outcome, sim: &Simulator, id: &str) {
    assert_eq!(o.status, OcdeStatus::Ok, "{}", o.message);
    assert_eq!(o.dest, sim.document(id).unwrap().content, "bytes differ");
    assert_eq!(
        o.entries,
        vec!["model.ifc".to_string()],
        "temporary file left"
    );
}

// ---- transfer ----

#[test]
fn server_errors_are_retried_with_backoff_then_succeed() {
    for status in [500, 502, 503] {
        let (sim, client) = start_sim(
            vec![doc(Some(Fault::FailFirst {
                times: 2,
                status,
                retry_after: None,
            }))],
            |_| {},
        );
        let o = download(&sim, &client, "d", -1);
        assert_succeeded(&o, &sim, "d");
        assert_eq!(sim.byte_requests("d"), 3, "{status}");
    }
}

#[test]
fn retries_are_bounded() {
    let (sim, client) = start_sim(
        vec![doc(Some(Fault::FailFirst {
            times: 50,
            status: 502,
            retry_after: None,
        }))],
        |_| {},
    );
    let o = download(&sim, &client, "d", -1);
    assert_failed_cleanly(&o, OcdeStatus::Http, "502");
    assert_eq!(o.http_status, 502);
    assert_eq!(sim.byte_requests("d"), 4, "first attempt + 3 retries");
}

#[test]
fn retry_after_is_honoured() {
    let (sim, client) = start_sim(
        vec![doc(Some(Fault::FailFirst {
            times: 1,
            status: 503,
            retry_after: Some(1),
        }))],
        |_| {},
    );
    let started = Instant::now();
    let o = download(&sim, &client, "d", -1);
    assert_succeeded(&o, &sim, "d");
    // The backoff alone would wait 20 ms; the server asked for 1 s.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "Retry-After ignored: {:?}",
        started.elapsed()
    );
}

#[test]
fn a_broken_transfer_resumes_with_range() {
    let (sim, o) = broken_once(|_| {});
    assert_succeeded(&o, &sim, "d");
    let hits: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.origin == Origin::Storage)
        .collect();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[1].header("Range"), Some("bytes=100000-"));
    assert_eq!(
        hits[1].header("If-Range"),
        Some("\"d-v1\""),
        "the resume is guarded by the first answer's ETag"
    );
    assert_logged(&o, "resuming at byte 100000");
}

/// The storage requests for the document bytes, in order.
fn storage_hits(sim: &Simulator) -> Vec<cde_simulator::LoggedRequest> {
    sim.requests()
        .into_iter()
        .filter(|r| r.origin == Origin::Storage)
        .collect()
}

#[test]
fn without_a_validator_a_broken_transfer_restarts_from_zero() {
    // No ETag, no Last-Modified: bytes from a changed file could not be told apart.
    let (sim, o) = broken_once(|c| c.etag_mode = EtagMode::Omitted);
    assert_succeeded(&o, &sim, "d");
    let hits = storage_hits(&sim);
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[1].header("Range"), None, "no blind resume");
    assert_logged(&o, "restarting from zero");
}

#[test]
fn a_file_that_changed_between_attempts_is_fetched_whole_again() {
    // The ETag differs on the retry: the server answers If-Range with the whole new file.
    let (sim, o) = broken_once(|c| c.etag_mode = EtagMode::ChangesEveryRequest);
    assert_succeeded(&o, &sim, "d");
    let hits = storage_hits(&sim);
    assert_eq!(hits[1].header("If-Range"), Some("\"d-v1\""));
    assert_logged(&o, "restarted the transfer from zero");
}

#[test]
fn a_206_that_stops_short_of_the_end_fails_cleanly() {
    let (_sim, o) = broken_once(|c| c.range_mode = RangeMode::ShortPart);
    assert_failed_cleanly(&o, OcdeStatus::Protocol, "the part holds only 100");
}

#[test]
fn a_206_of_a_file_of_another_size_fails_cleanly() {
    let (_sim, o) = broken_once(|c| c.range_mode = RangeMode::OtherTotal);
    assert_failed_cleanly(&o, OcdeStatus::Protocol, "belongs to a file of");
}

#[test]
fn a_200_to_a_range_request_restarts_from_zero() {
    let (sim, o) = broken_once(|c| c.range_mode = RangeMode::Ignore);
    assert_succeeded(&o, &sim, "d");
    assert_logged(&o, "restarted the transfer from zero");
}

#[test]
fn a_206_at_the_wrong_offset_fails_cleanly() {
    let (_sim, o) = broken_once(|c| c.range_mode = RangeMode::WrongStart);
    assert_failed_cleanly(&o, OcdeStatus::Protocol, "resume at byte 100000");
}

#[test]
fn any_other_answer_to_a_range_request_fails_cleanly() {
    // 416 to a resume at byte 100000 of a longer document: not a 206 at our length, not a 200.
    let (sim, o) = broken_once(|c| c.range_mode = RangeMode::Unsatisfiable);
    assert_failed_cleanly(&o, OcdeStatus::Http, "416");
    assert_eq!(o.http_status, 416);
    let storage: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.origin == Origin::Storage)
        .collect();
    assert_eq!(storage.len(), 2, "one resume attempt, then the failure");
    assert_eq!(storage[1].header("Range"), Some("bytes=100000-"));
}

#[test]
fn connection_reset_mid_body_is_an_integrity_error() {
    // ureq surfaces a reset after part of the body as an early end of the body: the bytes did not
    // match the framing, so INTEGRITY (resumable, like any cut transfer).
    let (sim, client) = start_sim(vec![doc(Some(Fault::ResetAfter(100_000)))], |_| {});
    let client = client.retries(0, 0);
    let o = download(&sim, &client, "d", -1);
    assert_failed_cleanly(&o, OcdeStatus::Integrity, "after 100000 bytes");
    assert!(o.message.contains(&sim.storage_origin()), "{}", o.message);
}

#[test]
fn content_length_larger_than_the_body_is_an_integrity_error() {
    let (sim, client) = start_sim(vec![doc(Some(Fault::TruncateAfter(1234)))], |_| {});
    let client = client.retries(0, 0);
    let o = download(&sim, &client, "d", -1);
    assert_failed_cleanly(&o, OcdeStatus::Integrity, "closed before the whole body");
}

#[test]
fn chunked_body_cut_before_the_last_chunk_is_an_integrity_error() {
    let (sim, client) = start_sim(vec![doc(Some(Fault::ChunkedCutAfter(50_000)))], |_| {});
    let client = client.retries(0, 0);
    let o = download(&sim, &client, "d", -1);
    assert_failed_cleanly(&o, OcdeStatus::Integrity, &sim.storage_origin());
}

#[test]
fn headers_then_silence_fires_the_stall_timeout() {
    let (sim, client) = start_sim(
        vec![doc(Some(Fault::StallAfter(1000, Duration::from_secs(30))))],
        |_| {},
    );
    let client = client.retries(0, 0).timeouts(0, 300);
    let o = download(&sim, &client, "d", -1);
    assert_failed_cleanly(&o, OcdeStatus::Timeout, "stalled");
}

#[test]
fn an_error_page_dripped_byte_by_byte_does_not_hold_the_call() {
    // 404 with a 4 KiB body sent one byte per 300 ms (20 minutes in all, never a stall): the
    // explanation is a courtesy, read for 10 s at most; the call ends with the 404.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let drip = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = server.accept().unwrap();
        let mut head = [0u8; 4096];
        let _ = s.read(&mut head);
        let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 4096\r\n\r\n");
        for _ in 0..4096 {
            if stopped.load(std::sync::atomic::Ordering::SeqCst) || s.write_all(b"x").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let client = CClient::new(&format!("http://127.0.0.1:{port}/documents/1.0"))
        .timeouts(0, 2000)
        .retries(0, 0);
    let dir = TempDir::new("drip-404");
    let began = Instant::now();
    let status = client.download_to_path(
        &format!("http://127.0.0.1:{port}/x"),
        &dir.path().join("x"),
        -1,
        &mut Progress::default(),
    );
    let took = began.elapsed();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(status, OcdeStatus::Http, "{}", last_error());
    assert_eq!(ocde_last_http_status(), 404);
    assert!(took < Duration::from_secs(30), "held for {took:?}");
    assert!(dir.entries().is_empty());
    drip.join().unwrap();
}

#[test]
fn accept_and_never_answer_fires_the_stall_timeout() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let keep = std::thread::spawn(move || {
        // Accept and hold the connections without ever answering.
        let mut held = Vec::new();
        for s in silent.incoming().take(1) {
            held.push(s);
        }
        std::thread::sleep(Duration::from_secs(3));
        drop(held);
    });
    let client = CClient::new(&format!("http://127.0.0.1:{port}/documents/1.0"))
        .timeouts(0, 300)
        .retries(0, 0);
    let dir = TempDir::new("silent");
    let started = Instant::now();
    let status = client.download_to_path(
        &format!("http://127.0.0.1:{port}/x"),
        &dir.path().join("x"),
        -1,
        &mut Progress::default(),
    );
    assert_eq!(status, OcdeStatus::Timeout, "{}", last_error());
    let message = last_error();
    assert!(
        message.contains(&format!("127.0.0.1:{port}")) && message.contains("timed out"),
        "{message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "not the stall timeout"
    );
    assert!(dir.entries().is_empty());
    keep.join().unwrap();
}

#[test]
fn gzip_despite_identity_is_refused() {
    let (sim, client) = start_sim(vec![doc(Some(Fault::Gzip))], |_| {});
    let o = download(&sim, &client, "d", -1);
    assert_failed_cleanly(&o, OcdeStatus::Protocol, "Content-Encoding \"gzip\"");
}

#[test]
fn a_zero_byte_document_downloads_as_an_empty_file() {
    let empty = SimDocument::new("e", "Empty", "empty.ifc", Vec::new());
    let (sim, client) = start_sim(vec![empty], |_| {});
    let o = download(&sim, &client, "e", 0);
    assert_eq!(o.status, OcdeStatus::Ok, "{}", o.message);
    assert!(
        o.dest.is_empty(),
        "the previous content was replaced by the empty document"
    );
    assert_eq!(
        o.entries,
        vec!["model.ifc".to_string()],
        "temporary file left"
    );
}

#[test]
fn a_body_larger_than_4_gib_downloads_with_the_exact_size() {
    const HUGE: u64 = 5_000_000_000;
    let (sim, client, sel, status) = selected(
        SimConfig {
            documents: vec![SimDocument::zeros("z", "zeros.bin", HUGE)],
            ..Default::default()
        },
        None,
        BrowserChoice::SelectAll,
    );
    assert_eq!(status, OcdeStatus::Ok);
    assert_eq!(sel.document(0).size_in_bytes, HUGE as i64);
    let dir = TempDir::new("huge");
    let mut progress = Progress::default();
    let (status, path) = client.download_document(&sel, 0, dir.path(), &mut progress);
    assert_eq!(status, OcdeStatus::Ok, "{}", last_error());
    let meta = std::fs::metadata(path.unwrap()).unwrap();
    assert_eq!(meta.len(), HUGE);
    assert_eq!(progress.calls.last(), Some(&(HUGE, HUGE as i64)));
    // Zero runs are holes: far fewer blocks than the length (sparse output).
    assert!(
        std::os::unix::fs::MetadataExt::blocks(&meta) * 512 < HUGE / 100,
        "not sparse"
    );
    drop(sim);
}

#[test]
fn a_relative_location_is_resolved_against_the_current_url() {
    let (sim, client) = start_sim(vec![doc(None)], |c| {
        c.download_mode = DownloadMode::RelativeSameOrigin307
    });
    let o = download(&sim, &client, "d", -1);
    assert_succeeded(&o, &sim, "d");
    assert!(sim.requests().iter().any(|r| r.path() == "/files/d"));
}

#[test]
fn abort_from_another_thread_during_a_download() {
    let fast = SimDocument::new(
        "f",
        "Fast",
        "f.ifc",
        cde_simulator::pseudo_random_bytes("f", SIZE),
    );
    let (sim, client) = start_sim(vec![doc(Some(Fault::Throttle(100_000))), fast], |_| {});
    let raw = client.0 as usize;
    let aborter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        unsafe { ocde_client_abort_downloads(raw as *mut _) };
    });
    let started = Instant::now();
    let o = download(&sim, &client, "d", -1);
    aborter.join().unwrap();
    assert_failed_cleanly(&o, OcdeStatus::Aborted, "aborted");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "3 s transfer was not cut short"
    );
    // The client stays usable, and a later download is not affected by the earlier abort.
    assert_succeeded(&download(&sim, &client, "f", -1), &sim, "f");
}

// ---- JSON ----

fn selection_with_body(
    body: Vec<u8>,
    truncate: bool,
) -> (OcdeStatus, String, CSelection, Simulator) {
    let sim = Simulator::start(SimConfig {
        selection_body: Some(body),
        truncate_selection_body: truncate,
        ..Default::default()
    })
    .unwrap();
    let client = CClient::for_sim(&sim);
    let sel = start(&client, &Opts::default(), &Opener::new()).unwrap();
    sim.browse(&sel.url(), BrowserChoice::SelectAll).unwrap();
    let status = sel.wait(50);
    (status, last_error(), sel, sim)
}

#[test]
fn malformed_json_is_a_protocol_error_and_a_cut_body_an_integrity_error() {
    let (status, message, _sel, _sim) = selection_with_body(b"{\"documents\": [ {".to_vec(), false);
    assert_eq!(status, OcdeStatus::Protocol, "{message}");
    assert!(message.contains("not valid JSON"), "{message}");
    let (status, message, _sel, _sim) = selection_with_body(br#"{"documents": []}"#.to_vec(), true);
    // A cut body is not bad JSON but an incomplete transfer.
    assert_eq!(status, OcdeStatus::Integrity, "{message}");
    assert!(
        message.contains("selected documents") && message.contains("before the whole body"),
        "{message}"
    );
}

#[test]
fn a_50_mb_selection_answer_hits_the_size_cap() {
    let mut body = br#"{"documents": [], "pad": ""#.to_vec();
    body.extend(std::iter::repeat_n(b'x', 50_000_000));
    body.extend(b"\"}");
    let (status, message, _sel, _sim) = selection_with_body(body, false);
    assert_eq!(status, OcdeStatus::Protocol, "{message}");
    assert!(message.contains("limit"), "{message}");
}

#[test]
fn wrong_types_missing_documents_and_empty_selections() {
    let (status, message, sel, _sim) =
        selection_with_body(br#"{"documents":[{"file_description":{"name":"a.ifc","size_in_bytes":"123"},"version_index":"2"}]}"#.to_vec(), false);
    assert_eq!(status, OcdeStatus::Ok, "{message}");
    assert_eq!(sel.document(0).size_in_bytes, 123);
    let (status, message, _sel, _sim) =
        selection_with_body(br#"{"server_context":"x"}"#.to_vec(), false);
    assert_eq!(status, OcdeStatus::Protocol);
    assert!(message.contains("documents"), "{message}");
    let (status, _m, _sel, _sim) = selection_with_body(br#"{"documents":null}"#.to_vec(), false);
    assert_eq!(status, OcdeStatus::Protocol);
    let (status, _m, sel, _sim) = selection_with_body(br#"{"documents":[]}"#.to_vec(), false);
    assert_eq!(status, OcdeStatus::Ok);
    assert_eq!(sel.count(), 0);
}

// ---- callback listener ----

fn callback_port_path(sim: &Simulator) -> (u16, String) {
    let cb = registered_callback(sim);
    let rest = cb.trim_start_matches("http://127.0.0.1:");
    let (port, path) = rest.split_once('/').unwrap();
    (port.parse().unwrap(), format!("/{path}"))
}

#[test]
fn a_thousand_bogus_requests_then_the_real_one_wins() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let client = CClient::for_sim(&sim);
    let sel = start(&client, &Opts::default(), &Opener::new()).unwrap();
    let (port, path) = callback_port_path(&sim);
    let host = format!("127.0.0.1:{port}");
    let kinds = [
        format!("GET /wrong HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        format!("GET {path}?selected_documents_url=x HTTP/1.1\r\nHost: evil:{port}\r\n\r\n"),
        format!("POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 3\r\n\r\nabc"),
        format!("HEAD {path} HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        format!("GET /favicon.ico HTTP/1.1\r\nHost: {host}\r\n\r\n"),
    ];
    for i in 0..1000 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(kinds[i % kinds.len()].as_bytes()).unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 4"), "request {i}: {answer:?}");
    }
    assert_eq!(sel.poll(0), OcdeStatus::Pending);
    sim.browse(&sel.url(), BrowserChoice::SelectAll).unwrap();
    assert_eq!(sel.wait(50), OcdeStatus::Ok, "{}", last_error());
}

#[test]
fn a_kept_alive_connection_from_a_previous_flow_does_not_block_the_next() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let client = CClient::for_sim(&sim);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let opts = Opts {
        port,
        ..Default::default()
    };
    let first = start(&client, &opts, &Opener::new()).unwrap();
    // A browser connection that stays open (and never sends a request) across the flows.
    let mut stale = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sim.browse(&first.url(), BrowserChoice::SelectAll).unwrap();
    assert_eq!(first.wait(50), OcdeStatus::Ok);
    drop(first);
    let second = start(&client, &opts, &Opener::new()).unwrap();
    // The stale connection was closed by the first listener: it cannot swallow the new callback.
    stale
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert!(
        matches!(stale.read(&mut buf), Ok(0) | Err(_)),
        "stale connection still open"
    );
    sim.browse(&second.url(), BrowserChoice::Cancel).unwrap();
    assert_eq!(second.wait(50), OcdeStatus::UserCancelled);
}

#[test]
fn two_selections_at_once_on_two_ports() {
    let sim = Simulator::start(SimConfig::default()).unwrap();
    let client = CClient::for_sim(&sim);
    let a = start(&client, &Opts::default(), &Opener::new()).unwrap();
    let (port_a, _) = callback_port_path(&sim);
    let b = start(&client, &Opts::default(), &Opener::new()).unwrap();
    let (port_b, _) = callback_port_path(&sim);
    assert_ne!(port_a, port_b);
    sim.browse(&b.url(), BrowserChoice::Select(vec!["doc-2".into()]))
        .unwrap();
    sim.browse(&a.url(), BrowserChoice::Cancel).unwrap();
    assert_eq!(b.wait(50), OcdeStatus::Ok);
    assert_eq!(b.count(), 1);
    assert_eq!(a.wait(50), OcdeStatus::UserCancelled);
}

// ---- names ----

#[test]
fn hostile_file_names_become_distinct_safe_names_inside_the_folder() {
    let long = format!("{}.ifc", "L".repeat(300));
    let names = [
        "A:B.ifc",
        "CON.ifc",
        "nul.tar.gz",
        "model .ifc.",
        "..\\..\\evil.dll",
        "/etc/passwd",
        long.as_str(),
        "",
        "....",
        "same.ifc",
        "SAME.ifc",
    ];
    let docs: Vec<SimDocument> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            SimDocument::new(
                &format!("n{i}"),
                "t",
                n,
                format!("content {i}").into_bytes(),
            )
        })
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
    let dir = TempDir::new("hostile-names");
    let mut written = Vec::new();
    assert_eq!(sel.count(), names.len());
    for (i, name) in names.iter().enumerate() {
        let (status, path) =
            client.download_document(&sel, i, dir.path(), &mut Progress::default());
        assert_eq!(status, OcdeStatus::Ok, "{:?}: {}", name, last_error());
        let path = path.unwrap();
        assert_eq!(
            path.parent().unwrap(),
            dir.path(),
            "{:?} escaped the folder",
            name
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            format!("content {i}").into_bytes(),
            "{:?} overwritten",
            name
        );
        written.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    let expected_prefix = [
        "A_B.ifc",
        "_CON.ifc",
        "_nul.tar.gz",
        "model .ifc",
        "_.._evil.dll",
        "_etc_passwd",
        "",
        "document",
        "document (2)",
        "same.ifc",
        "SAME (2).ifc",
    ];
    for (got, want) in written.iter().zip(expected_prefix) {
        if !want.is_empty() {
            assert_eq!(got, want);
        }
    }
    assert!(
        written[6].len() <= 200 && written[6].ends_with(".ifc"),
        "{}",
        written[6]
    );
    assert_eq!(
        dir.entries().len(),
        names.len(),
        "every document has its own file: {:?}",
        dir.entries()
    );
}
