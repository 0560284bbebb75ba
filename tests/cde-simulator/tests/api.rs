//! The CDE origin: select-documents, the 303 to the callback, selected documents, auth, links.

mod common;

use cde_simulator::{
    default_documents, percent_decode, DownloadMode, Origin, SimConfig, SimDocument, Simulator,
    CREATION_DATE, STORAGE_QUERY,
};
use common::*;
use serde_json::json;

fn sim(config: SimConfig) -> Simulator {
    Simulator::start(config).expect("start simulator")
}

#[test]
fn urls_and_origins() {
    let s = sim(SimConfig::default());
    assert!(s.cde_origin().starts_with("http://127.0.0.1:"));
    assert!(s.storage_origin().starts_with("http://127.0.0.1:"));
    assert_ne!(s.cde_origin(), s.storage_origin());
    assert_eq!(
        s.documents_api_url(),
        format!("{}/documents/1.0", s.cde_origin())
    );
}

#[test]
fn default_documents_are_as_promised() {
    let docs = default_documents();
    let summary: Vec<(&str, &str, &str, usize)> = docs
        .iter()
        .map(|d| {
            (
                d.id.as_str(),
                d.title.as_str(),
                d.file_name.as_str(),
                d.content.len(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "doc-1",
                "Structural model level 2",
                "Structure L2.ifc",
                1_500_000
            ),
            ("doc-2", "Архитектура", "Проект/模型 ü.ifc", 70_000),
            ("doc-3", "Site plan", "site-plan.pdf", 12_345),
        ]
    );
    for d in &docs {
        assert!(d.content.iter().filter(|&&b| b == 0).count() < d.content.len() / 100);
        assert!(d.declared_size.is_none() && d.fault.is_none());
    }
    assert_ne!(docs[0].content[..1000], docs[1].content[..1000]);
    assert_eq!(
        default_documents()[1].content,
        docs[1].content,
        "deterministic"
    );
}

#[test]
fn select_documents_records_and_answers() {
    let s = sim(SimConfig::default());
    let cb = "http://127.0.0.1:1/cb-abc";
    let url = start_selection(&s, cb, None);
    assert!(
        url.starts_with(&format!("{}/ui/select/", s.cde_origin())),
        "{url}"
    );
    let posted = s.select_requests();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0]["callback"]["url"], cb);
    assert_eq!(posted[0]["supported_file_extensions"], json!([".ifc"]));
    assert_eq!(s.callback_url_for(&url).as_deref(), Some(cb));

    // A second session gets a different random id.
    let url2 = start_selection(&s, cb, None);
    assert_ne!(url, url2);

    let log = s.requests();
    assert_eq!(log[0].origin, Origin::Cde);
    assert_eq!(log[0].method, "POST");
    assert_eq!(log[0].target, "/documents/1.0/select-documents");
    assert_eq!(log[0].authorization, None);
}

#[test]
fn select_documents_rejects_bad_bodies() {
    let s = sim(SimConfig::default());
    for body in [
        json!({}),
        json!({"callback": {"expires_in": 5}}),
        json!({"callback": {"url": 7}}),
        json!([1]),
    ] {
        let r = post_select(&s, &body, None);
        assert_eq!(r.status, 400, "{body}");
        assert!(r.json()["message"].as_str().unwrap().len() > 3);
    }
    let url = format!("{}/select-documents", s.documents_api_url());
    let r = request("POST", &url, &[], Some(b"{not json"));
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].is_string());
    let r = get(&url);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("POST"));
}

#[test]
fn confirm_redirects_with_fully_encoded_url() {
    let s = sim(SimConfig::default());
    let select_url = start_selection(&s, "http://127.0.0.1:9/cb", None);
    let page = get(&select_url);
    assert_eq!(page.status, 200);
    let html = page.text();
    for d in default_documents() {
        assert!(html.contains(&format!(
            "<input type=\"checkbox\" name=\"doc\" value=\"{0}\" id=\"doc-{0}\">",
            d.id
        )));
    }
    assert!(html.contains("Проект/模型 ü.ifc") && html.contains("Архитектура"));
    assert!(html.contains("id=\"download\">Download</button>"));
    assert!(html.contains("id=\"cancel\""));

    let r = confirm(&select_url, &["doc-3", "doc-1"]);
    assert_eq!(r.status, 303);
    let loc = r.header("Location").unwrap().to_string();
    let (base, params) = location_params(&loc);
    assert_eq!(base, "http://127.0.0.1:9/cb");
    assert_eq!(params.len(), 1);
    assert_eq!(params[0].0, "selected_documents_url");
    let raw = &params[0].1;
    for c in [':', '/', '?', '=', '&'] {
        assert!(!raw.contains(c), "{c} left unencoded in {raw}");
    }
    assert!(raw.starts_with("http%3A%2F%2F127.0.0.1%3A"), "{raw}");
    let selected = percent_decode(raw);
    assert!(
        selected.starts_with(&format!("{}/documents/1.0/selections/", s.cde_origin())),
        "{selected}"
    );

    let v = get(&selected).json();
    assert_eq!(v["server_context"], "ctx-from-client");
    let docs = v["documents"].as_array().unwrap();
    let ids: Vec<&str> = docs
        .iter()
        .map(|d| d["document_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["doc-1", "doc-3"], "document-list order");
    let d = &docs[0];
    let base = format!("{}/documents/1.0/documents/doc-1", s.cde_origin());
    assert_eq!(
        d["links"]["document_version"]["url"],
        format!("{base}/versions/1")
    );
    assert_eq!(
        d["links"]["document_version_metadata"]["url"],
        format!("{base}/versions/1/metadata")
    );
    assert_eq!(
        d["links"]["document_version_download"]["url"],
        format!("{base}/versions/1/download")
    );
    assert_eq!(
        d["links"]["document_versions"]["url"],
        format!("{base}/versions")
    );
    assert_eq!(
        d["links"]["document_details"]["url"],
        format!("{}/ui/documents/doc-1", s.cde_origin())
    );
    assert_eq!(d["version_number"], "1");
    assert_eq!(d["version_index"], 1);
    assert_eq!(d["creation_date"], CREATION_DATE);
    assert_eq!(d["title"], "Structural model level 2");
    assert_eq!(
        d["file_description"],
        json!({"name": "Structure L2.ifc", "size_in_bytes": 1_500_000})
    );
    assert_eq!(d["x_vendor"], json!({"anything": [1, 2]}));
}

#[test]
fn callback_with_query_and_legacy_name() {
    let s = sim(SimConfig {
        legacy_callback_name: true,
        ..SimConfig::default()
    });
    let select_url = start_selection(&s, "http://127.0.0.1:9/cb?state=x", None);
    let r = confirm(&select_url, &["doc-2"]);
    assert_eq!(r.status, 303);
    let loc = r.header("Location").unwrap();
    assert!(
        loc.starts_with("http://127.0.0.1:9/cb?state=x&selected_url=http%3A%2F%2F"),
        "{loc}"
    );
    let v = get(&selected_url_from_location(loc, "selected_url")).json();
    assert_eq!(
        v["documents"][0]["file_description"]["name"],
        "Проект/模型 ü.ifc"
    );
}

#[test]
fn cancel_and_auto_modes() {
    let s = sim(SimConfig::default());
    let select_url = start_selection(&s, "http://127.0.0.1:9/cb", None);
    let r = get(&format!("{select_url}/cancel"));
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("Location"),
        Some("http://127.0.0.1:9/cb?user_cancelled_selection=true")
    );

    let r = get(&format!("{select_url}?auto=cancel"));
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("Location"),
        Some("http://127.0.0.1:9/cb?user_cancelled_selection=true")
    );

    let r = get(&format!("{select_url}?auto=all"));
    assert_eq!(r.status, 303);
    let v = get(&selected_url_from_location(
        r.header("Location").unwrap(),
        "selected_documents_url",
    ))
    .json();
    assert_eq!(v["documents"].as_array().unwrap().len(), 3);
}

#[test]
fn bad_selection_requests() {
    let s = sim(SimConfig::default());
    let select_url = start_selection(&s, "http://127.0.0.1:9/cb", None);
    assert_eq!(confirm(&select_url, &[]).status, 400);
    assert_eq!(confirm(&select_url, &["nope"]).status, 400);
    assert_eq!(
        get(&format!("{}/ui/select/0123", s.cde_origin())).status,
        404
    );
    assert_eq!(
        get(&format!(
            "{}/documents/1.0/selections/unknown",
            s.cde_origin()
        ))
        .status,
        404
    );
    let nf = get(&format!("{}/nothing/here?x=1", s.cde_origin()));
    assert_eq!(nf.status, 404);
    assert_eq!(nf.json(), json!({"message": "not found"}));
    assert_eq!(
        get(&format!(
            "{}/documents/1.0/select-documents/",
            s.cde_origin()
        ))
        .status,
        404
    );
}

#[test]
fn omitted_members() {
    let s = sim(SimConfig {
        omit_document_id: true,
        omit_server_context: true,
        ..SimConfig::default()
    });
    let select_url = start_selection(&s, "http://127.0.0.1:9/cb", None);
    let r = confirm(&select_url, &["doc-1"]);
    let v = get(&selected_url_from_location(
        r.header("Location").unwrap(),
        "selected_documents_url",
    ))
    .json();
    assert!(v.get("server_context").is_none());
    assert!(v["documents"][0].get("document_id").is_none());
    assert_eq!(v["documents"][0]["title"], "Structural model level 2");
}

#[test]
fn generated_server_context_when_none_posted() {
    let s = sim(SimConfig::default());
    let r = post_select(
        &s,
        &json!({"callback": {"url": "http://127.0.0.1:9/cb", "expires_in": 60}}),
        None,
    );
    let select_url = r.json()["select_documents_url"]
        .as_str()
        .unwrap()
        .to_string();
    let loc = confirm(&select_url, &["doc-1"])
        .header("Location")
        .unwrap()
        .to_string();
    let v = get(&selected_url_from_location(&loc, "selected_documents_url")).json();
    assert!(v["server_context"].as_str().unwrap().len() > 8);
}

#[test]
fn selected_documents_on_storage_origin() {
    let s = sim(SimConfig {
        selected_documents_on_storage: true,
        ..SimConfig::default()
    });
    let select_url = start_selection(&s, "http://127.0.0.1:9/cb", None);
    let loc = confirm(&select_url, &["doc-1"])
        .header("Location")
        .unwrap()
        .to_string();
    // The signature is encoded twice in the Location and once in the decoded URL.
    assert!(loc.contains("sig%3Dab%252Fcd%252Bef%253D"), "{loc}");
    let selected = selected_url_from_location(&loc, "selected_documents_url");
    assert!(
        selected.starts_with(&format!("{}/selections/", s.storage_origin())),
        "{selected}"
    );
    assert!(selected.ends_with(STORAGE_QUERY));
    let r = get_with(&selected, &[("Authorization", "Bearer secret")]);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("InvalidAuthenticationInfo"));
    let v = get(&selected).json();
    assert_eq!(v["documents"][0]["document_id"], "doc-1");
    assert_eq!(get(&selected.replace("%2F", "/")).status, 403);
}

#[test]
fn token_required_on_api_only() {
    let s = sim(SimConfig {
        required_token: Some("t0k".into()),
        ..SimConfig::default()
    });
    let body = json!({"callback": {"url": "http://127.0.0.1:9/cb", "expires_in": 60}});
    for token in [None, Some("wrong")] {
        let r = post_select(&s, &body, token);
        assert_eq!(r.status, 401);
        assert!(r.json()["message"].is_string());
        assert!(r.header("WWW-Authenticate").unwrap().starts_with("Bearer"));
    }
    let r = request(
        "POST",
        &format!("{}/select-documents", s.documents_api_url()),
        &[("Authorization", "Basic dDBrOg==")],
        Some(body.to_string().as_bytes()),
    );
    assert_eq!(r.status, 401);

    let select_url = start_selection(&s, "http://127.0.0.1:9/cb", Some("t0k"));
    // HTML pages need no token.
    assert_eq!(get(&select_url).status, 200);
    let loc = confirm(&select_url, &["doc-3"])
        .header("Location")
        .unwrap()
        .to_string();
    let selected = selected_url_from_location(&loc, "selected_documents_url");
    assert_eq!(get(&selected).status, 401);
    let auth = [("Authorization", "Bearer t0k")];
    let v = get_with(&selected, &auth).json();
    let dl = v["documents"][0]["links"]["document_version_download"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(get(&dl).status, 401);
    let r = get_with(&dl, &auth);
    assert_eq!(r.status, 303);
    // Storage needs none (and refuses one).
    let blob = r.header("Location").unwrap().to_string();
    assert_eq!(get(&blob).status, 200);
    assert_eq!(get_with(&blob, &auth).status, 400);
    let details = v["documents"][0]["links"]["document_details"]["url"]
        .as_str()
        .unwrap();
    assert_eq!(get(details).status, 200);
    // Lower-case scheme is accepted (schemes are case-insensitive).
    assert_eq!(
        get_with(&selected, &[("Authorization", "bearer t0k")]).status,
        200
    );
    // The log keeps Authorization for the tests to inspect.
    assert!(s
        .requests()
        .iter()
        .any(|r| r.authorization.as_deref() == Some("Bearer t0k")));
}

#[test]
fn download_modes() {
    for (mode, status) in [
        (DownloadMode::See303, 303),
        (DownloadMode::Found302, 302),
        (DownloadMode::Temporary307, 307),
    ] {
        let s = sim(SimConfig {
            download_mode: mode,
            ..SimConfig::default()
        });
        let r = get(&format!(
            "{}/documents/doc-2/versions/1/download",
            s.documents_api_url()
        ));
        assert_eq!(r.status, status, "{mode:?}");
        assert_eq!(
            r.header("Location").unwrap(),
            format!(
                "{}/blob/doc-2?sv=2024-01-01&sig=ab%2Fcd%2Bef%3D",
                s.storage_origin()
            )
        );
    }
    let s = sim(SimConfig {
        download_mode: DownloadMode::Direct200,
        ..SimConfig::default()
    });
    let r = get(&format!(
        "{}/documents/doc-3/versions/1/download",
        s.documents_api_url()
    ));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
    assert_eq!(r.body, s.document("doc-3").unwrap().content);
    assert!(s.requests().iter().all(|r| r.origin == Origin::Cde));
}

#[test]
fn other_document_endpoints() {
    let docs =
        vec![SimDocument::new("weird id/ü", "T", "f.ifc", vec![1, 2, 3]).with_declared_size(3000)];
    let s = sim(SimConfig {
        documents: docs,
        ..SimConfig::default()
    });
    let base = format!("{}/documents/weird%20id%2F%C3%BC", s.documents_api_url());
    let v = get(&format!("{base}/versions/1")).json();
    assert_eq!(v["document_id"], "weird id/ü");
    assert_eq!(v["file_description"]["size_in_bytes"], 3000);
    assert_eq!(
        v["links"]["document_version"]["url"],
        format!("{base}/versions/1")
    );
    let v = get(&format!("{base}/versions")).json();
    assert_eq!(v["documents"][0]["title"], "T");
    let v = get(&format!("{base}/versions/1/metadata")).json();
    assert_eq!(
        v,
        json!({"metadata": [{"name": "Status", "value": ["S2"], "data_type": "string"}]})
    );
    let r = get(&format!(
        "{}/ui/documents/weird%20id%2F%C3%BC",
        s.cde_origin()
    ));
    assert_eq!(r.status, 200);
    assert!(r.header("Content-Type").unwrap().starts_with("text/html"));
    assert_eq!(
        get(&format!(
            "{}/documents/nope/versions/1",
            s.documents_api_url()
        ))
        .status,
        404
    );
    let r = get(&format!("{base}/versions/1/download"));
    let blob = r.header("Location").unwrap();
    assert!(blob.contains("/blob/weird%20id%2F%C3%BC?"));
    assert_eq!(get(blob).body, vec![1, 2, 3]);
}

#[test]
fn hostile_requests_get_answers_not_panics() {
    let s = sim(SimConfig::default());
    let (authority, _) = split_url(&s.cde_origin());
    let cases: Vec<&[u8]> = vec![
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/2.0\r\n\r\n",
        b"GET /%ff%fe/%zz HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /documents/1.0/select-documents HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
        b"POST /documents/1.0/select-documents HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
        b"GET /ui/select/%00%0d%0a HTTP/1.1\r\n\r\n",
        b"GET /documents/1.0/documents/%C3%28/versions/1 HTTP/1.1\r\nNoColonHeader\r\n\r\n",
    ];
    for c in cases {
        let raw = exchange(&authority, c);
        let r = parse_raw(&raw);
        assert!(
            (400..=505).contains(&r.status),
            "{:?} -> {}",
            String::from_utf8_lossy(c),
            r.status
        );
    }
    // A chunked POST body is understood.
    let body = json!({"callback": {"url": "http://127.0.0.1:9/cb", "expires_in": 60}}).to_string();
    let (a, b) = body.split_at(10);
    let req = format!(
        "POST /documents/1.0/select-documents HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    let r = parse_raw(&exchange(&authority, req.as_bytes()));
    assert_eq!(r.status, 200, "{}", r.text());
    // A connection that sends nothing and closes is simply dropped; the server still works.
    drop(std::net::TcpStream::connect(&authority).unwrap());
    assert_eq!(get(&format!("{}/x", s.cde_origin())).status, 404);
}

#[test]
fn simulator_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Simulator>();
    let s = std::sync::Arc::new(sim(SimConfig::default()));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let s = std::sync::Arc::clone(&s);
            std::thread::spawn(move || {
                get(&format!(
                    "{}/documents/doc-3/versions/1",
                    s.documents_api_url()
                ))
                .status
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 200);
    }
    assert_eq!(s.requests().len(), 4);
}
