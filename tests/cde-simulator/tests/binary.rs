//! The `cde-simulator` binary: one stdout line, stderr log without secrets, exit on stdin EOF.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

#[test]
fn binary_prints_url_logs_and_stops_on_stdin_eof() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cde-simulator"))
        .args([
            "--token",
            "s3cret-value",
            "--download",
            "302",
            "--legacy-callback",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let api = line
        .trim_end()
        .strip_prefix("DOCUMENTS_API_URL=")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    assert!(
        api.starts_with("http://127.0.0.1:") && api.ends_with("/documents/1.0"),
        "{api}"
    );

    let r = get_with(
        &format!("{api}/documents/doc-1/versions/1/download?access_token=s3cret-value"),
        &[("Authorization", "Bearer s3cret-value")],
    );
    assert_eq!(r.status, 302);
    assert_eq!(
        get(&format!("{api}/documents/doc-1/versions/1")).status,
        401
    );

    drop(child.stdin.take()); // EOF
    let started = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("did not exit after stdin closed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "", "exactly one stdout line");
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!err.contains("s3cret-value"), "{err}");
    assert!(
        err.contains("/download") && err.contains("auth=present") && err.contains("302"),
        "{err}"
    );
}

#[test]
fn binary_rejects_bad_arguments() {
    let out = Command::new(env!("CARGO_BIN_EXE_cde-simulator"))
        .args(["--download", "301"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}
