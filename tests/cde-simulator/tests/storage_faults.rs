//! The storage origin: Authorization rejection, byte-exact signature check, and each transfer
//! fault's exact wire behaviour, read with raw sockets.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use cde_simulator::{
    pseudo_random_bytes, DownloadMode, Fault, SimConfig, SimDocument, Simulator, STORAGE_AUTH_ERROR,
};
use common::*;

fn sim_with(doc: SimDocument) -> Simulator {
    Simulator::start(SimConfig {
        documents: vec![doc],
        ..SimConfig::default()
    })
    .expect("start")
}

fn blob(s: &Simulator, id: &str) -> String {
    format!(
        "{}/blob/{id}?sv=2024-01-01&sig=ab%2Fcd%2Bef%3D",
        s.storage_origin()
    )
}

/// Connects and sends a GET for `url`; returns the stream.
fn send_get(url: &str) -> TcpStream {
    let (authority, target) = split_url(url);
    let mut s = TcpStream::connect(&authority).unwrap();
    s.write_all(format!("GET {target} HTTP/1.1\r\nHost: {authority}\r\n\r\n").as_bytes())
        .unwrap();
    s
}

/// Reads until the head is complete; returns (head text, body bytes already read).
fn read_head(s: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(buf[..i].to_vec()).unwrap();
            return (head, buf[i + 4..].to_vec());
        }
        let n = s.read(&mut tmp).unwrap();
        assert!(n > 0, "closed before the head was complete");
        buf.extend_from_slice(&tmp[..n]);
    }
}

fn head_value(head: &str, name: &str) -> Option<String> {
    head_header(&format!("{head}\r\n"), name)
}

#[test]
fn storage_serves_bytes_without_authorization() {
    let s = Simulator::start(SimConfig::default()).unwrap();
    let r = get(&blob(&s, "doc-1"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
    assert_eq!(r.header("Content-Length"), Some("1500000"));
    assert_eq!(r.body, s.document("doc-1").unwrap().content);
    let h = request("HEAD", &blob(&s, "doc-3"), &[], None);
    assert_eq!(h.status, 200);
    assert_eq!(h.header("Content-Length"), Some("12345"));
    assert!(h.body.is_empty());
}

#[test]
fn storage_rejects_authorization_with_400() {
    let s = Simulator::start(SimConfig::default()).unwrap();
    for value in ["Bearer abc", "", "Basic eDp5"] {
        let r = get_with(&blob(&s, "doc-3"), &[("Authorization", value)]);
        assert_eq!(r.status, 400, "{value:?}");
        assert_eq!(r.text(), STORAGE_AUTH_ERROR);
    }
    let r = get_with(&blob(&s, "doc-3"), &[("authorization", "Bearer abc")]);
    assert_eq!(r.status, 400, "header names are case-insensitive");
    let log = s.requests();
    assert_eq!(
        log.last().unwrap().authorization.as_deref(),
        Some("Bearer abc")
    );
}

#[test]
fn storage_checks_signature_byte_for_byte() {
    let s = Simulator::start(SimConfig::default()).unwrap();
    let base = format!("{}/blob/doc-3", s.storage_origin());
    for query in [
        "sv=2024-01-01&sig=ab/cd+ef=",
        "sv=2024-01-01&sig=ab%2fcd%2bef%3d",
        "sv=2024-01-01&sig=ab%252Fcd%252Bef%253D",
        "sv=2024-01-01",
        "sv=2024-01-01&sig=",
    ] {
        let r = get(&format!("{base}?{query}"));
        assert_eq!(r.status, 403, "{query}");
        assert!(r.text().contains("AuthenticationFailed"));
    }
    assert_eq!(get(&format!("{base}?sig=ab%2Fcd%2Bef%3D")).status, 200);
    assert_eq!(get(&blob(&s, "missing")).status, 404);
    assert_eq!(get(&format!("{}/other", s.storage_origin())).status, 404);
}

#[test]
fn truncate_after_sends_full_length_then_closes() {
    let content = pseudo_random_bytes("t", 5000);
    let s = sim_with(
        SimDocument::new("d", "D", "d.bin", content.clone()).with_fault(Fault::TruncateAfter(1000)),
    );
    let mut st = send_get(&blob(&s, "d"));
    st.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (head, mut body) = read_head(&mut st);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert_eq!(head_value(&head, "Content-Length").as_deref(), Some("5000"));
    assert_eq!(head_value(&head, "Transfer-Encoding"), None);
    st.read_to_end(&mut body)
        .expect("a real close (FIN), not a reset");
    assert_eq!(body, content[..1000]);
}

#[test]
fn stall_after_sends_then_goes_silent_then_closes() {
    let content = pseudo_random_bytes("s", 5000);
    let stall = Duration::from_millis(1500);
    let s = sim_with(
        SimDocument::new("d", "D", "d.bin", content.clone())
            .with_fault(Fault::StallAfter(100, stall)),
    );
    let started = Instant::now();
    let mut st = send_get(&blob(&s, "d"));
    st.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (head, mut body) = read_head(&mut st);
    assert_eq!(head_value(&head, "Content-Length").as_deref(), Some("5000"));
    let mut tmp = [0u8; 4096];
    while body.len() < 100 {
        let n = st.read(&mut tmp).unwrap();
        assert!(n > 0);
        body.extend_from_slice(&tmp[..n]);
    }
    assert_eq!(body, content[..100]);
    // Silence, with the socket open.
    st.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let e = st.read(&mut tmp).expect_err("silence expected");
    assert!(
        matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{e:?}"
    );
    // Then the close.
    st.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut rest = Vec::new();
    st.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(1400), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(8), "{elapsed:?}");
}

#[test]
fn chunked_cut_after_omits_the_last_chunk() {
    let content = pseudo_random_bytes("c", 100_000);
    let s = sim_with(
        SimDocument::new("d", "D", "d.bin", content.clone())
            .with_fault(Fault::ChunkedCutAfter(40_000)),
    );
    let mut st = send_get(&blob(&s, "d"));
    st.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (head, mut raw) = read_head(&mut st);
    assert_eq!(
        head_value(&head, "Transfer-Encoding").as_deref(),
        Some("chunked")
    );
    assert_eq!(head_value(&head, "Content-Length"), None);
    st.read_to_end(&mut raw).unwrap();
    // Decode the chunks: all complete, 40 000 bytes of data, and no terminating 0-chunk.
    let mut pos = 0;
    let mut data = Vec::new();
    while pos < raw.len() {
        let nl = raw[pos..].windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&raw[pos..pos + nl]).unwrap(), 16).unwrap();
        assert!(size > 0, "a terminating chunk was sent");
        pos += nl + 2;
        data.extend_from_slice(&raw[pos..pos + size]);
        pos += size;
        assert_eq!(&raw[pos..pos + 2], b"\r\n");
        pos += 2;
    }
    assert_eq!(data, content[..40_000]);
}

#[test]
fn close_delimited_body() {
    let content = pseudo_random_bytes("cd", 30_000);
    let s = sim_with(
        SimDocument::new("d", "D", "d.bin", content.clone()).with_fault(Fault::CloseDelimited),
    );
    let mut st = send_get(&blob(&s, "d"));
    st.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (head, mut body) = read_head(&mut st);
    assert!(head.starts_with("HTTP/1.1 200 "));
    assert_eq!(head_value(&head, "Content-Length"), None);
    assert_eq!(head_value(&head, "Transfer-Encoding"), None);
    assert_eq!(head_value(&head, "Connection").as_deref(), Some("close"));
    st.read_to_end(&mut body).unwrap();
    assert_eq!(body, content);
}

#[test]
fn status_fault() {
    let s = sim_with(
        SimDocument::new("d", "D", "d.bin", vec![1; 10])
            .with_fault(Fault::Status(500, "storage exploded".into())),
    );
    let r = get(&blob(&s, "d"));
    assert_eq!(r.status, 500);
    assert_eq!(r.text(), "storage exploded");
}

#[test]
fn direct200_applies_the_fault_on_the_cde_origin() {
    let content = pseudo_random_bytes("x", 3000);
    let s = Simulator::start(SimConfig {
        documents: vec![SimDocument::new("d", "D", "d.bin", content.clone())
            .with_fault(Fault::TruncateAfter(10))],
        download_mode: DownloadMode::Direct200,
        ..SimConfig::default()
    })
    .unwrap();
    let url = format!("{}/documents/d/versions/1/download", s.documents_api_url());
    let (authority, _) = split_url(&url);
    let mut st = send_get(&url);
    st.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (head, mut body) = read_head(&mut st);
    assert_eq!(head_value(&head, "Content-Length").as_deref(), Some("3000"));
    st.read_to_end(&mut body).unwrap();
    assert_eq!(body, content[..10]);
    assert_eq!(authority, s.cde_origin().trim_start_matches("http://"));
}

#[test]
fn drop_ends_a_stall_and_frees_the_ports_quickly() {
    let s = sim_with(
        SimDocument::new("d", "D", "d.bin", vec![7; 1000])
            .with_fault(Fault::StallAfter(10, Duration::from_secs(120))),
    );
    let mut st = send_get(&blob(&s, "d"));
    st.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = read_head(&mut st);
    // An idle connection that never sends a request.
    let (authority, _) = split_url(&s.cde_origin());
    let _idle = TcpStream::connect(&authority).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    drop(s);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let mut rest = Vec::new();
    let _ = st.read_to_end(&mut rest);
    assert!(rest.len() < 1000);
}

#[test]
fn head_with_status_fault_sends_the_status() {
    let s = sim_with(
        SimDocument::new("d", "D", "d.bin", vec![1; 10])
            .with_fault(Fault::Status(503, "busy".into())),
    );
    let r = request("HEAD", &blob(&s, "d"), &[], None);
    assert_eq!(r.status, 503);
    assert!(r.body.is_empty());
}
