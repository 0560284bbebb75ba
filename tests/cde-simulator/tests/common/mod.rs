//! Raw-socket helpers shared by the integration tests (loopback only).
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use cde_simulator::{percent_decode, Simulator};

/// A response read off the wire.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// "http://127.0.0.1:P/path?q" -> ("127.0.0.1:P", "/path?q")
pub fn split_url(url: &str) -> (String, String) {
    let rest = url.strip_prefix("http://").expect("http URL");
    let i = rest.find('/').unwrap_or(rest.len());
    let target = if i == rest.len() {
        "/".to_string()
    } else {
        rest[i..].to_string()
    };
    let authority = rest[..i].to_string();
    assert!(
        authority.starts_with("127.0.0.1:"),
        "tests only talk to 127.0.0.1: {url}"
    );
    (authority, target)
}

/// Sends raw bytes and reads until the server closes; returns everything received.
pub fn exchange(authority: &str, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(authority).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read to EOF");
    out
}

/// Splits "head\r\n\r\nbody" into (status, headers, body bytes as sent).
pub fn parse_raw(bytes: &[u8]) -> Resp {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("complete head");
    let head = String::from_utf8(bytes[..end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
    let status = status_line[9..12].parse().unwrap();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_string(), v.trim().to_string())
        })
        .collect();
    Resp {
        status,
        headers,
        body: bytes[end + 4..].to_vec(),
    }
}

/// A request with these extra header lines; the response must be Content-Length framed.
pub fn request(method: &str, url: &str, extra: &[(&str, &str)], body: Option<&[u8]>) -> Resp {
    let (authority, target) = split_url(url);
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {authority}\r\n");
    for (n, v) in extra {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    if let Some(b) = body {
        bytes.extend_from_slice(b);
    }
    let raw = exchange(&authority, &bytes);
    let resp = parse_raw(&raw);
    assert_eq!(resp.header("Connection"), Some("close"));
    if method != "HEAD" {
        if let Some(cl) = resp.header("Content-Length") {
            assert_eq!(cl.parse::<usize>().unwrap(), resp.body.len(), "framing");
        }
    }
    resp
}

pub fn get(url: &str) -> Resp {
    request("GET", url, &[], None)
}

pub fn get_with(url: &str, extra: &[(&str, &str)]) -> Resp {
    request("GET", url, extra, None)
}

/// POST select-documents; returns the response.
pub fn post_select(sim: &Simulator, body: &serde_json::Value, token: Option<&str>) -> Resp {
    let url = format!("{}/select-documents", sim.documents_api_url());
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut extra = vec![("Content-Type", "application/json")];
    if let Some(a) = auth.as_deref() {
        extra.push(("Authorization", a));
    }
    request("POST", &url, &extra, Some(body.to_string().as_bytes()))
}

/// POSTs a selection request with this callback and returns the select_documents_url.
pub fn start_selection(sim: &Simulator, callback: &str, token: Option<&str>) -> String {
    let body = serde_json::json!({
        "callback": { "url": callback, "expires_in": 3600 },
        "server_context": "ctx-from-client",
        "supported_file_extensions": [".ifc"]
    });
    let r = post_select(sim, &body, token);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["expires_in"], 60);
    v["select_documents_url"].as_str().unwrap().to_string()
}

/// Follows the confirm URL of a selection page (without following the redirect).
pub fn confirm(select_url: &str, ids: &[&str]) -> Resp {
    let q: Vec<String> = ids.iter().map(|i| format!("doc={i}")).collect();
    get(&format!("{select_url}/confirm?{}", q.join("&")))
}

/// Splits a callback Location into (base, [(name, raw value)]).
pub fn location_params(location: &str) -> (String, Vec<(String, String)>) {
    let (base, q) = location.split_once('?').expect("query");
    let params = q
        .split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    (base.to_string(), params)
}

/// Decodes the selected documents URL from a 303 Location.
pub fn selected_url_from_location(location: &str, name: &str) -> String {
    let (_, params) = location_params(location);
    let raw = &params.iter().find(|(k, _)| k == name).expect("param").1;
    percent_decode(raw)
}

/// A one-connection-per-request callback listener: answers each request 200 "callback ok" and
/// reports each request head (as text) on the channel.
pub struct CallbackListener {
    pub url: String,
    pub heads: mpsc::Receiver<String>,
    _thread: JoinHandle<()>,
}

pub fn callback_listener(path: &str, requests: usize) -> CallbackListener {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        for _ in 0..requests {
            let Ok((mut s, _)) = l.accept() else { return };
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut buf = Vec::new();
            let mut tmp = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut tmp) {
                    Ok(0) => break,
                    Ok(n) => buf.extend_from_slice(&tmp[..n]),
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
            let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
            let body = "callback ok";
            let _ = s.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    CallbackListener {
        url: format!("http://127.0.0.1:{port}{path}"),
        heads: rx,
        _thread: thread,
    }
}

/// The value of a header line in a raw request head.
pub fn head_header(head: &str, name: &str) -> Option<String> {
    head.split("\r\n").skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}
