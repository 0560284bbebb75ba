//! `Simulator::browse` against a small callback listener started by the test.

mod common;

use std::time::Duration;

use cde_simulator::{percent_decode, BrowserChoice, SimConfig, Simulator};
use common::*;

fn recv(l: &CallbackListener) -> String {
    l.heads
        .recv_timeout(Duration::from_secs(10))
        .expect("the callback was requested")
}

fn request_target(head: &str) -> String {
    head.split(' ').nth(1).unwrap().to_string()
}

#[test]
fn browse_select_navigates_to_the_callback() {
    let s = Simulator::start(SimConfig::default()).unwrap();
    let l = callback_listener("/cb-1f2e", 1);
    let select_url = start_selection(&s, &l.url, None);
    let out = s
        .browse(
            &select_url,
            BrowserChoice::Select(vec!["doc-3".into(), "doc-2".into()]),
        )
        .unwrap();
    assert_eq!(out.status, 200);
    assert_eq!(out.body, "callback ok");
    let head = recv(&l);
    let port = l.url.split(':').nth(2).unwrap().split('/').next().unwrap();
    assert_eq!(
        head_header(&head, "Host").as_deref(),
        Some(format!("127.0.0.1:{port}").as_str())
    );
    assert_eq!(head_header(&head, "Authorization"), None);
    assert_eq!(head_header(&head, "Origin"), None);
    let target = request_target(&head);
    assert!(
        target.starts_with("/cb-1f2e?selected_documents_url=http%3A%2F%2F127.0.0.1%3A"),
        "{target}"
    );
    assert_eq!(out.callback_url, format!("http://127.0.0.1:{port}{target}"));

    let selected = percent_decode(target.split_once('=').unwrap().1);
    let v = get(&selected).json();
    let ids: Vec<&str> = v["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["document_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["doc-2", "doc-3"]);

    // The browser's trip is in the log: page, confirm (no Authorization anywhere).
    let log = s.requests();
    assert!(log.iter().any(|r| r.path().ends_with("/confirm")));
    assert!(log.iter().all(|r| r.authorization.is_none()));
}

#[test]
fn browse_select_all_and_cancel() {
    let s = Simulator::start(SimConfig::default()).unwrap();
    let l = callback_listener("/cb", 2);
    let select_url = start_selection(&s, &l.url, None);
    let out = s.browse(&select_url, BrowserChoice::SelectAll).unwrap();
    assert_eq!(out.status, 200);
    let target = request_target(&recv(&l));
    let v = get(&percent_decode(target.split_once('=').unwrap().1)).json();
    assert_eq!(v["documents"].as_array().unwrap().len(), 3);

    let select_url = start_selection(&s, &l.url, None);
    let out = s.browse(&select_url, BrowserChoice::Cancel).unwrap();
    assert_eq!(out.status, 200);
    assert_eq!(
        request_target(&recv(&l)),
        "/cb?user_cancelled_selection=true"
    );
    assert!(out
        .callback_url
        .ends_with("/cb?user_cancelled_selection=true"));
}

#[test]
fn browse_legacy_name_with_query_callback() {
    let s = Simulator::start(SimConfig {
        legacy_callback_name: true,
        ..SimConfig::default()
    })
    .unwrap();
    let l = callback_listener("/cb?state=s1", 1);
    let select_url = start_selection(&s, &l.url, None);
    s.browse(&select_url, BrowserChoice::Select(vec!["doc-1".into()]))
        .unwrap();
    let target = request_target(&recv(&l));
    assert!(
        target.starts_with("/cb?state=s1&selected_url=http%3A%2F%2F"),
        "{target}"
    );
}

#[test]
fn browse_xhr_mode_sends_origin_and_accept() {
    let s = Simulator::start(SimConfig {
        xhr_callback: true,
        ..SimConfig::default()
    })
    .unwrap();
    let l = callback_listener("/cb", 1);
    let select_url = start_selection(&s, &l.url, None);
    let page = get(&select_url).text();
    assert!(page.contains("XMLHttpRequest") && page.contains("Sent to the application"));
    assert!(page.contains("id=\"status\""));
    assert!(page.contains("type=\"button\" id=\"download\""));
    let out = s
        .browse(&select_url, BrowserChoice::Select(vec!["doc-1".into()]))
        .unwrap();
    assert_eq!(out.status, 200);
    let head = recv(&l);
    assert_eq!(head_header(&head, "Origin"), Some(s.cde_origin()));
    assert_eq!(
        head_header(&head, "Accept").as_deref(),
        Some("text/html, */*; q=0.01")
    );
    assert_eq!(head_header(&head, "Authorization"), None);
    let target = request_target(&head);
    let v = get(&percent_decode(target.split_once('=').unwrap().1)).json();
    assert_eq!(v["documents"][0]["document_id"], "doc-1");
}

#[test]
fn browse_reports_errors() {
    let s = Simulator::start(SimConfig::default()).unwrap();
    let err = s
        .browse(
            &format!("{}/ui/select/unknown", s.cde_origin()),
            BrowserChoice::SelectAll,
        )
        .unwrap_err();
    assert!(err.contains("404"), "{err}");
    assert!(s.browse("not a url", BrowserChoice::Cancel).is_err());
    let select_url = start_selection(&s, "http://127.0.0.1:9/cb", None);
    let err = s
        .browse(&select_url, BrowserChoice::Select(vec![]))
        .unwrap_err();
    assert!(err.contains("400"), "{err}");
    // Nothing listens on the callback: the error says so.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let select_url = start_selection(&s, &format!("http://127.0.0.1:{port}/cb"), None);
    assert!(s.browse(&select_url, BrowserChoice::SelectAll).is_err());
    // Non-loopback callbacks are never contacted.
    let select_url = start_selection(&s, "http://192.0.2.1/cb", None);
    let err = s.browse(&select_url, BrowserChoice::SelectAll).unwrap_err();
    assert!(err.contains("non-loopback"), "{err}");
}
