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

#[test]
fn binary_oauth_flags_and_no_secrets_in_the_log() {
    use cde_simulator::{basic_authorization, percent_decode, percent_encode, pkce_s256_challenge};

    const SECRET: &str = "S3CRET-client-value";
    const VERIFIER: &str = "verifier-0123456789-abcdefghijklmnopqrstuvwxyz";
    let mut child = Command::new(env!("CARGO_BIN_EXE_cde-simulator"))
        .args([
            "--oauth-client-secret",
            SECRET,
            "--oauth-basic",
            "required",
            "--access-token-lifetime",
            "7",
            "--token-status-201",
            "--expires-in-as-string",
            "--omit-api-base-url",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let api = line.trim_end().strip_prefix("DOCUMENTS_API_URL=").unwrap();
    let cde = api.strip_suffix("/documents/1.0").unwrap().to_string();

    let v = get(&format!("{cde}/foundation/versions")).json();
    assert!(v["versions"][1].get("api_base_url").is_none(), "{v}");
    assert_eq!(get(&format!("{cde}/foundation/1.0/auth")).status, 200);

    let redirect = "http://127.0.0.1:49152/cb";
    let r = get(&format!(
        "{cde}/oauth/authorize?response_type=code&client_id=ocde-test-client&redirect_uri={}\
         &state=s&code_challenge={}&code_challenge_method=S256&auto=allow",
        percent_encode(redirect),
        pkce_s256_challenge(VERIFIER)
    ));
    assert_eq!(r.status, 302, "{}", r.text());
    let location = r.header("Location").unwrap().to_string();
    let code = percent_decode(
        location
            .split("code=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap(),
    );
    let body = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={VERIFIER}",
        percent_encode(redirect)
    );
    let basic = basic_authorization("ocde-test-client", SECRET);
    let r = request(
        "POST",
        &format!("{cde}/oauth/token"),
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", &basic),
        ],
        Some(body.as_bytes()),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let tokens = r.json();
    assert_eq!(tokens["expires_in"], "7");
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let r = get_with(
        &format!("{cde}/foundation/1.0/current-user"),
        &[("Authorization", &format!("Bearer {access}"))],
    );
    assert_eq!(r.status, 200);
    // A client that puts credentials in the query: logged redacted.
    let r = get(&format!(
        "{cde}/oauth/token?client_secret={SECRET}&code={code}&code_verifier={VERIFIER}&refresh_token={refresh}"
    ));
    assert_eq!(r.status, 405);

    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert!(status.success());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("/oauth/token") && err.contains("201"), "{err}");
    for secret in [SECRET, VERIFIER, &code, &access, &refresh] {
        assert!(!err.contains(secret), "{secret} in {err}");
    }
}
