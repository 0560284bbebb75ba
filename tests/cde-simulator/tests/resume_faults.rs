//! Retry and resume behaviour of document bytes: FailFirst, TruncateFirst, Range (and RangeMode),
//! ResetAfter, Gzip, VirtualZeros, the relative same-origin 307, and the selections-answer knobs.
//! Read with raw sockets.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use cde_simulator::{
    pseudo_random_bytes, BrowserChoice, DownloadMode, Fault, Origin, RangeMode, SimConfig,
    SimDocument, Simulator,
};
use common::*;

const TOKEN: &str = "tok-123";

fn sim_with(docs: Vec<SimDocument>, config: SimConfig) -> Simulator {
    Simulator::start(SimConfig {
        documents: docs,
        ..config
    })
    .expect("start")
}

fn blob(s: &Simulator, id: &str) -> String {
    format!(
        "{}/blob/{id}?sv=2024-01-01&sig=ab%2Fcd%2Bef%3D",
        s.storage_origin()
    )
}

fn files(s: &Simulator, id: &str) -> String {
    format!("{}/files/{id}", s.cde_origin())
}

fn download(s: &Simulator, id: &str) -> String {
    format!(
        "{}/documents/{id}/versions/1/download",
        s.documents_api_url()
    )
}

/// What a raw GET got: the head, the body bytes received, and the error that ended reading (None
/// for a clean end of stream).
struct Raw {
    head: String,
    body: Vec<u8>,
    error: Option<std::io::Error>,
}

impl Raw {
    fn status(&self) -> u16 {
        self.head[9..12].parse().unwrap()
    }
    fn header(&self, name: &str) -> Option<String> {
        head_header(&format!("{}\r\n", self.head), name)
    }
}

/// GET with these extra headers; reads until the server closes (or resets).
fn raw_get(url: &str, extra: &[(&str, &str)]) -> Raw {
    let (authority, target) = split_url(url);
    let mut s = TcpStream::connect(&authority).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: {authority}\r\n");
    for (n, v) in extra {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let mut tmp = [0u8; 16 * 1024];
    let mut error = None;
    loop {
        match s.read(&mut tmp) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    Raw {
        head: String::from_utf8(buf[..end].to_vec()).unwrap(),
        body: buf[end + 4..].to_vec(),
        error,
    }
}

#[test]
fn fail_first_counts_requests_and_sends_retry_after() {
    let content = pseudo_random_bytes("ff", 4000);
    let s = sim_with(
        vec![
            SimDocument::new("d", "D", "d.bin", content.clone()).with_fault(Fault::FailFirst {
                times: 2,
                status: 503,
                retry_after: Some(7),
            }),
            SimDocument::new("e", "E", "e.bin", content.clone()).with_fault(Fault::FailFirst {
                times: 1,
                status: 429,
                retry_after: None,
            }),
        ],
        SimConfig::default(),
    );
    assert_eq!(s.byte_requests("d"), 0);
    for n in 1..=2 {
        let r = get(&blob(&s, "d"));
        assert_eq!(r.status, 503);
        assert_eq!(r.header("Retry-After"), Some("7"));
        assert!(r.header("Content-Type").unwrap().starts_with("text/plain"));
        assert_eq!(r.text(), "temporarily unavailable");
        assert_eq!(s.byte_requests("d"), n);
    }
    // Requests stopped before the bytes (Authorization, bad signature) are not counted.
    assert_eq!(
        get_with(&blob(&s, "d"), &[("Authorization", "Bearer x")]).status,
        400
    );
    assert_eq!(
        get(&format!("{}/blob/d?sig=wrong", s.storage_origin())).status,
        403
    );
    assert_eq!(s.byte_requests("d"), 2);
    // The budget is used up: the bytes, and Range is honoured.
    let r = get(&blob(&s, "d"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Retry-After"), None);
    assert_eq!(r.body, content);
    let r = get_with(&blob(&s, "d"), &[("Range", "bytes=3000-")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 3000-3999/4000"));
    assert_eq!(r.body, content[3000..]);
    assert_eq!(s.byte_requests("d"), 4);

    // 429 without Retry-After; /files counts for the same document.
    let r = get(&files(&s, "e"));
    assert_eq!(r.status, 429);
    assert_eq!(r.header("Retry-After"), None);
    assert_eq!(r.text(), "temporarily unavailable");
    assert_eq!(get(&blob(&s, "e")).body, content);
    assert_eq!(s.byte_requests("e"), 2);
    assert_eq!(s.byte_requests("unknown"), 0);
}

#[test]
fn fail_first_on_direct200_and_head() {
    let s = sim_with(
        vec![
            SimDocument::new("d", "D", "d.bin", vec![5; 100]).with_fault(Fault::FailFirst {
                times: 1,
                status: 500,
                retry_after: Some(0),
            }),
        ],
        SimConfig {
            download_mode: DownloadMode::Direct200,
            required_token: Some(TOKEN.into()),
            ..SimConfig::default()
        },
    );
    let auth = format!("Bearer {TOKEN}");
    let h = request(
        "HEAD",
        &download(&s, "d"),
        &[("Authorization", &auth)],
        None,
    );
    assert_eq!(h.status, 500);
    assert_eq!(h.header("Retry-After"), Some("0"));
    assert!(h.body.is_empty());
    let r = get_with(&download(&s, "d"), &[("Authorization", &auth)]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, vec![5; 100]);
    assert_eq!(s.byte_requests("d"), 2);
}

#[test]
fn truncate_first_then_a_range_request_resumes() {
    let content = pseudo_random_bytes("tf", 50_000);
    let s = sim_with(
        vec![SimDocument::new("d", "D", "d.bin", content.clone())
            .with_fault(Fault::TruncateFirst(12_345))],
        SimConfig::default(),
    );
    let first = raw_get(&blob(&s, "d"), &[]);
    assert_eq!(first.status(), 200);
    assert_eq!(first.header("Content-Length").as_deref(), Some("50000"));
    assert!(first.error.is_none(), "a clean close: {:?}", first.error);
    assert_eq!(first.body, content[..12_345]);

    let second = raw_get(&blob(&s, "d"), &[("Range", "bytes=12345-")]);
    assert!(second.error.is_none());
    assert_eq!(second.status(), 206);
    assert_eq!(
        second.header("Content-Range").as_deref(),
        Some("bytes 12345-49999/50000")
    );
    assert_eq!(second.header("Content-Length").as_deref(), Some("37655"));
    assert_eq!(second.body, content[12_345..]);
    let last = s.requests().pop().unwrap();
    assert_eq!(last.origin, Origin::Storage);
    assert_eq!(last.header("range"), Some("bytes=12345-"));

    // Later requests without Range get everything; the same holds on /files.
    let third = get(&files(&s, "d"));
    assert_eq!(third.status, 200);
    assert_eq!(third.header("Content-Range"), None);
    assert_eq!(third.body, content);
    let r = get_with(&files(&s, "d"), &[("Range", "bytes=49999-")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 49999-49999/50000"));
    assert_eq!(r.body, content[49_999..]);
    assert_eq!(s.byte_requests("d"), 4);
}

#[test]
fn range_honoured_by_default_and_other_forms_ignored() {
    let content = pseudo_random_bytes("rg", 10_000);
    let s = sim_with(
        vec![SimDocument::new("d", "D", "d.bin", content.clone())],
        SimConfig::default(),
    );
    assert_eq!(s.config().range_mode, RangeMode::Honour);
    let r = get_with(&blob(&s, "d"), &[("Range", "bytes=0-")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 0-9999/10000"));
    assert_eq!(r.body, content);
    for other in [
        "bytes=0-99",
        "bytes=-100",
        "bytes=1-,5-",
        "pages=1-",
        "nonsense",
    ] {
        let r = get_with(&blob(&s, "d"), &[("Range", other)]);
        assert_eq!(r.status, 200, "{other}");
        assert_eq!(r.header("Content-Range"), None, "{other}");
        assert_eq!(r.body, content, "{other}");
    }
    for past in ["bytes=10000-", "bytes=99999999999-"] {
        let r = get_with(&blob(&s, "d"), &[("Range", past)]);
        assert_eq!(r.status, 416, "{past}");
        assert_eq!(r.header("Content-Range"), Some("bytes */10000"));
    }
    let h = request("HEAD", &blob(&s, "d"), &[("Range", "bytes=400-")], None);
    assert_eq!(h.status, 206);
    assert_eq!(h.header("Content-Length"), Some("9600"));
    assert_eq!(h.header("Content-Range"), Some("bytes 400-9999/10000"));
    assert!(h.body.is_empty());
}

#[test]
fn range_on_direct200() {
    let content = pseudo_random_bytes("d2", 3000);
    let s = sim_with(
        vec![SimDocument::new("d", "D", "d.bin", content.clone())],
        SimConfig {
            download_mode: DownloadMode::Direct200,
            ..SimConfig::default()
        },
    );
    let r = get_with(&download(&s, "d"), &[("Range", "bytes=1000-")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 1000-2999/3000"));
    assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
    assert_eq!(r.body, content[1000..]);
    assert_eq!(s.byte_requests("d"), 1);
}

#[test]
fn range_mode_ignore_and_wrong_start() {
    let content = pseudo_random_bytes("rm", 8000);
    let doc = || vec![SimDocument::new("d", "D", "d.bin", content.clone())];
    let ignore = sim_with(
        doc(),
        SimConfig {
            range_mode: RangeMode::Ignore,
            ..SimConfig::default()
        },
    );
    for range in ["bytes=100-", "bytes=8000-"] {
        let r = get_with(&blob(&ignore, "d"), &[("Range", range)]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Content-Range"), None);
        assert_eq!(r.header("Content-Length"), Some("8000"));
        assert_eq!(r.body, content);
    }

    let wrong = sim_with(
        doc(),
        SimConfig {
            range_mode: RangeMode::WrongStart,
            ..SimConfig::default()
        },
    );
    let r = get_with(&files(&wrong, "d"), &[("Range", "bytes=100-")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 101-7999/8000"));
    assert_eq!(r.header("Content-Length"), Some("7899"));
    assert_eq!(r.body, content[101..]);
    // Without Range it is a normal server.
    assert_eq!(get(&blob(&wrong, "d")).body, content);
}

#[test]
fn range_not_honoured_while_a_fault_is_active() {
    let content = pseudo_random_bytes("tr", 5000);
    let s = sim_with(
        vec![SimDocument::new("d", "D", "d.bin", content.clone())
            .with_fault(Fault::TruncateFirst(100))],
        SimConfig::default(),
    );
    // The first request is the truncated one even with a Range header.
    let first = raw_get(&blob(&s, "d"), &[("Range", "bytes=10-")]);
    assert_eq!(first.status(), 200);
    assert_eq!(first.header("Content-Length").as_deref(), Some("5000"));
    assert_eq!(first.body, content[..100]);
}

#[test]
fn reset_after_ends_with_a_tcp_reset() {
    let content = pseudo_random_bytes("rst", 200_000);
    let s = sim_with(
        vec![SimDocument::new("d", "D", "d.bin", content.clone())
            .with_fault(Fault::ResetAfter(1000))],
        SimConfig::default(),
    );
    let r = raw_get(&blob(&s, "d"), &[]);
    assert_eq!(r.status(), 200);
    assert_eq!(r.header("Content-Length").as_deref(), Some("200000"));
    assert!(r.body.len() <= 1000, "{}", r.body.len());
    assert_eq!(r.body, content[..r.body.len()]);
    if cfg!(target_os = "linux") {
        let e = r.error.expect("a reset, not a clean end of stream");
        assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e:?}");
        assert_eq!(r.body.len(), 1000);
    }
    // Every request resets (it is not a first-only fault).
    let again = raw_get(&files(&s, "d"), &[]);
    assert!(again.body.len() < 200_000);
    assert_eq!(s.byte_requests("d"), 2);
}

#[test]
fn gzip_header_with_raw_bytes() {
    let content = pseudo_random_bytes("gz", 6000);
    let s = sim_with(
        vec![SimDocument::new("d", "D", "d.bin", content.clone()).with_fault(Fault::Gzip)],
        SimConfig::default(),
    );
    let r = get_with(&blob(&s, "d"), &[("Accept-Encoding", "identity")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Encoding"), Some("gzip"));
    assert_eq!(r.header("Content-Length"), Some("6000"));
    assert_eq!(r.body, content);
    let h = request("HEAD", &files(&s, "d"), &[], None);
    assert_eq!(h.header("Content-Encoding"), Some("gzip"));
}

#[test]
fn virtual_zeros_length_json_and_range() {
    const LEN: u64 = 3 * 1024 * 1024;
    let zeros = SimDocument::zeros("z", "zeros.bin", LEN);
    assert!(zeros.content.is_empty());
    assert_eq!(zeros.fault, Some(Fault::VirtualZeros(LEN)));
    assert_eq!(zeros.file_name, "zeros.bin");
    let big = SimDocument::zeros("big", "big.bin", 5_000_000_000);
    let declared = SimDocument::zeros("dz", "dz.bin", 10).with_declared_size(77);
    let s = sim_with(vec![zeros, big, declared], SimConfig::default());

    let r = get(&blob(&s, "z"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("3145728"));
    assert_eq!(r.body.len() as u64, LEN);
    assert!(r.body.iter().all(|&b| b == 0));
    let r = get_with(&files(&s, "z"), &[("Range", "bytes=3145000-")]);
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("Content-Range"),
        Some("bytes 3145000-3145727/3145728")
    );
    assert_eq!(r.body, vec![0; 728]);

    let v = |id: &str| {
        get(&format!(
            "{}/documents/{id}/versions/1",
            s.documents_api_url()
        ))
        .json()["file_description"]["size_in_bytes"]
            .clone()
    };
    assert_eq!(v("z"), 3_145_728);
    assert_eq!(v("big"), 5_000_000_000u64);
    assert_eq!(v("dz"), 77);

    // 5 GB: announced, streamed; read the head and the first MiB, then hang up.
    let h = request("HEAD", &blob(&s, "big"), &[], None);
    assert_eq!(h.header("Content-Length"), Some("5000000000"));
    let (authority, target) = split_url(&blob(&s, "big"));
    let mut st = TcpStream::connect(&authority).unwrap();
    st.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    st.write_all(format!("GET {target} HTTP/1.1\r\nHost: {authority}\r\n\r\n").as_bytes())
        .unwrap();
    let mut buf = vec![0u8; 1 << 20];
    st.read_exact(&mut buf).unwrap();
    assert!(buf.starts_with(b"HTTP/1.1 200 "));
    assert!(String::from_utf8_lossy(&buf[..200]).contains("Content-Length: 5000000000\r\n"));
    let r = get_with(&blob(&s, "big"), &[("Range", "bytes=4999999000-")]);
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("Content-Range"),
        Some("bytes 4999999000-4999999999/5000000000")
    );
    assert_eq!(r.body, vec![0; 1000]);
}

#[test]
fn relative_same_origin_307() {
    let content = pseudo_random_bytes("rel", 2000);
    let s = sim_with(
        vec![SimDocument::new("d d", "D", "d.bin", content.clone())],
        SimConfig {
            download_mode: DownloadMode::RelativeSameOrigin307,
            required_token: Some(TOKEN.into()),
            ..SimConfig::default()
        },
    );
    let auth = format!("Bearer {TOKEN}");
    let r = get_with(&download(&s, "d%20d"), &[("Authorization", &auth)]);
    assert_eq!(r.status, 307);
    let location = r.header("Location").unwrap().to_string();
    assert_eq!(location, "/files/d%20d");
    let file = get(&format!("{}{location}", s.cde_origin()));
    assert_eq!(file.status, 200);
    assert_eq!(file.body, content);
    assert_eq!(s.byte_requests("d d"), 1);
}

#[test]
fn selection_body_is_served_verbatim() {
    let odd = b"{\"server_context\": 5, \"documents\": [{\"title\": null}], trailing".to_vec();
    let s = sim_with(
        vec![SimDocument::new("d", "D", "d.bin", vec![1; 10])],
        SimConfig {
            selection_body: Some(odd.clone()),
            required_token: Some(TOKEN.into()),
            ..SimConfig::default()
        },
    );
    let auth = format!("Bearer {TOKEN}");
    let url = format!("{}/selections/anything", s.documents_api_url());
    let r = get_with(&url, &[("Authorization", &auth)]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(r.body, odd);
    // The token is still checked.
    assert_eq!(get(&url).status, 401);

    // A big one, through the real flow, on the storage origin.
    let mut huge = b"{\"documents\": [".to_vec();
    huge.resize(8 * 1024 * 1024, b' ');
    let s = sim_with(
        vec![SimDocument::new("d", "D", "d.bin", vec![1; 10])],
        SimConfig {
            selection_body: Some(huge.clone()),
            selected_documents_on_storage: true,
            ..SimConfig::default()
        },
    );
    let cb = callback_listener("/cb", 1);
    let select_url = start_selection(&s, &cb.url, None);
    let outcome = s
        .browse(&select_url, BrowserChoice::SelectAll)
        .expect("browse");
    assert_eq!(outcome.status, 200);
    let head = cb.heads.recv().unwrap();
    let target = head.split(' ').nth(1).unwrap();
    let selected = selected_url_from_location(target, "selected_documents_url");
    assert!(selected.starts_with(&s.storage_origin()), "{selected}");
    let r = get(&selected);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("8388608"));
    assert!(r.body == huge);
}

#[test]
fn truncate_selection_body_sends_half() {
    // The generated answer.
    let s = sim_with(
        vec![SimDocument::new("d", "D", "d.bin", vec![1; 10])],
        SimConfig {
            truncate_selection_body: true,
            ..SimConfig::default()
        },
    );
    let select_url = start_selection(&s, "http://127.0.0.1:9/cb", None);
    let r = confirm(&select_url, &["d"]);
    assert_eq!(r.status, 303);
    let selected =
        selected_url_from_location(r.header("Location").unwrap(), "selected_documents_url");
    let raw = raw_get(&selected, &[]);
    assert!(raw.error.is_none(), "a clean close: {:?}", raw.error);
    assert_eq!(raw.status(), 200);
    let full: usize = raw.header("Content-Length").unwrap().parse().unwrap();
    assert!(full > 100);
    assert_eq!(raw.body.len(), full / 2);
    assert!(serde_json::from_slice::<serde_json::Value>(&raw.body).is_err());
    assert!(raw.body.starts_with(b"{"));

    // A custom body, cut the same way.
    let body = b"0123456789".to_vec();
    let s = sim_with(
        vec![SimDocument::new("d", "D", "d.bin", vec![1; 10])],
        SimConfig {
            truncate_selection_body: true,
            selection_body: Some(body),
            ..SimConfig::default()
        },
    );
    let raw = raw_get(&format!("{}/selections/x", s.documents_api_url()), &[]);
    assert_eq!(raw.header("Content-Length").as_deref(), Some("10"));
    assert_eq!(raw.body, b"01234");
}
