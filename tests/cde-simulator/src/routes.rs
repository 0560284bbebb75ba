//! Request routing for the CDE origin and the storage origin.

use std::borrow::Cow;

use serde_json::{json, Value};

use crate::http::{html_escape, percent_encode, Body, Request, Response, Source};
use crate::{
    random_id, DownloadMode, EtagMode, Fault, RangeMode, Selection, Session, Shared, SimConfig,
    SimDocument, CREATION_DATE, STORAGE_AUTH_ERROR, STORAGE_QUERY, STORAGE_SIG,
};

/// The name of the callback parameter that carries the selected-documents URL.
pub(crate) fn callback_param_name(config: &SimConfig) -> &'static str {
    if config.legacy_callback_name {
        "selected_url"
    } else {
        "selected_documents_url"
    }
}

/// Appends `name=<percent-encoded value>` to a callback URL: with `&` when it already has a query,
/// `?` otherwise, before any fragment.
pub(crate) fn append_param(callback: &str, name: &str, value: &str) -> String {
    let (base, fragment) = match callback.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (callback, None),
    };
    let sep = if !base.contains('?') {
        "?"
    } else if base.ends_with('?') || base.ends_with('&') {
        ""
    } else {
        "&"
    };
    let mut out = format!("{base}{sep}{name}={}", percent_encode(value));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

fn not_found_json() -> Response<'static> {
    Response::message(404, "not found")
}

fn method_not_allowed(allow: &str) -> Response<'static> {
    Response::message(405, "method not allowed").with_header("Allow", allow)
}

fn is_get(req: &Request) -> bool {
    req.method == "GET" || req.method == "HEAD"
}

pub(crate) fn html_page(status: u16, title: &str, body_html: &str) -> Response<'static> {
    Response::html(
        status,
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{} — CDE simulator</title>\n\
             <style>body{{font-family:sans-serif;margin:2em;max-width:50em}}\
             ul{{list-style:none;padding:0}}li{{margin:.4em 0}}.file{{color:#555;font-family:monospace}}\
             button,#cancel{{font-size:1em;margin-right:1em}}</style>\n</head>\n<body>\n{}\n</body>\n</html>\n",
            html_escape(title),
            body_html
        ),
    )
}

/// 401 unless the request carries `Authorization: Bearer <t>`, `t` being the required token or an
/// unexpired access token issued by the token endpoint (`None` when no token is required).
fn check_auth(sh: &Shared, req: &Request) -> Option<Response<'static>> {
    sh.config.required_token.as_deref()?;
    crate::oauth::bearer_auth(sh, req)
}

/// The selected-documents URL for a selection id.
pub(crate) fn selected_documents_url(sh: &Shared, selection: &str) -> String {
    let sel = percent_encode(selection);
    if sh.config.selected_documents_on_storage {
        format!("{}/selections/{sel}?{STORAGE_QUERY}", sh.storage_origin)
    } else {
        format!("{}/documents/1.0/selections/{sel}", sh.cde_origin)
    }
}

/// The presigned storage URL of a document, or `{external_storage}/{id}` when
/// [`SimConfig::external_storage`] is set.
fn blob_url(sh: &Shared, doc: &SimDocument) -> String {
    if let Some(base) = &sh.config.external_storage {
        return external_blob_url(base, &doc.id);
    }
    format!(
        "{}/blob/{}?{STORAGE_QUERY}",
        sh.storage_origin,
        percent_encode(&doc.id)
    )
}

/// `{base}/{id}` with the id percent-encoded and exactly one `/` between them.
pub(crate) fn external_blob_url(base: &str, id: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), percent_encode(id))
}

/// The same-origin file URL of a document (`/files/<id>` on the CDE origin).
fn file_url(sh: &Shared, doc: &SimDocument) -> String {
    format!("{}/files/{}", sh.cde_origin, percent_encode(&doc.id))
}

/// A DocumentVersion for this document (all links absolute on the CDE origin).
fn document_version(sh: &Shared, doc: &SimDocument, with_id: bool) -> Value {
    let base = format!(
        "{}/documents/1.0/documents/{}",
        sh.cde_origin,
        percent_encode(&doc.id)
    );
    let size = match doc.declared_size {
        Some(s) => Value::from(s),
        None => Value::from(doc.served_len()),
    };
    let mut v = json!({
        "links": {
            "document_version": { "url": format!("{base}/versions/1") },
            "document_version_metadata": { "url": format!("{base}/versions/1/metadata") },
            "document_version_download": { "url": format!("{base}/versions/1/download") },
            "document_versions": { "url": format!("{base}/versions") },
            "document_details": {
                "url": format!("{}/ui/documents/{}", sh.cde_origin, percent_encode(&doc.id))
            }
        },
        "version_number": "1",
        "version_index": 1,
        "creation_date": CREATION_DATE,
        "title": doc.title,
        "file_description": { "name": doc.file_name, "size_in_bytes": size },
        "x_vendor": { "anything": [1, 2] }
    });
    if with_id {
        if let Some(o) = v.as_object_mut() {
            o.insert("document_id".into(), Value::String(doc.id.clone()));
        }
    }
    v
}

/// The ids among `wanted` that exist, in document-list order, without duplicates.
fn known_ids(sh: &Shared, wanted: &[String]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for d in &sh.config.documents {
        if wanted.contains(&d.id) && !ids.contains(&d.id) {
            ids.push(d.id.clone());
        }
    }
    ids
}

/// The 200 answer of `…/selections/<id>`: these JSON bytes, cut in half when
/// [`SimConfig::truncate_selection_body`] is set.
fn selection_answer<'a>(sh: &Shared, bytes: Cow<'a, [u8]>) -> Response<'a> {
    let send = if sh.config.truncate_selection_body {
        bytes.len() / 2
    } else {
        bytes.len()
    };
    Response {
        status: 200,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: Body::Framed {
            bytes,
            send,
            drip: sh.config.drip_selection_body,
        },
    }
}

fn selection_json<'a>(sh: &'a Shared, selection: &str) -> Response<'a> {
    if let Some(body) = &sh.config.selection_body {
        return selection_answer(sh, Cow::Borrowed(body.as_slice()));
    }
    let (sel, session) = {
        let st = sh.state();
        let Some(sel) = st.selections.get(selection).cloned() else {
            return Response::message(404, "unknown selection");
        };
        let session = st.sessions.get(&sel.session).cloned();
        (sel, session)
    };
    let docs: Vec<Value> = sel
        .doc_ids
        .iter()
        .filter_map(|id| sh.document(id))
        .map(|d| document_version(sh, d, !sh.config.omit_document_id))
        .collect();
    let mut out = serde_json::Map::new();
    if !sh.config.omit_server_context {
        let ctx = session.map(|s| s.server_context).unwrap_or_default();
        out.insert("server_context".into(), Value::String(ctx));
    }
    out.insert("documents".into(), Value::Array(docs));
    let bytes = Value::Object(out).to_string().into_bytes();
    selection_answer(sh, Cow::Owned(bytes))
}

/// The start N of a `Range: bytes=N-` value; `None` for any other form.
pub(crate) fn open_range_start(value: &str) -> Option<u64> {
    let (unit, spec) = value.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return None;
    }
    let start = spec.trim().strip_suffix('-')?.trim_end();
    if start.is_empty() || !start.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    start.parse().ok()
}

/// A document's bytes (storage `/blob/<id>`, `/files/<id>`, `Direct200`): counts the request,
/// resolves `FailFirst`/`TruncateFirst` against the count, and honours `Range: bytes=N-` as
/// [`SimConfig::range_mode`] says when no fault is active.
fn document_bytes<'a>(sh: &'a Shared, req: &Request, doc: &'a SimDocument) -> Response<'a> {
    let count = sh.count_byte_request(&doc.id);
    let source = match doc.fault {
        Some(Fault::VirtualZeros(n)) => Source::Zeros(n),
        _ => Source::Slice(&doc.content),
    };
    let fault = match &doc.fault {
        None | Some(Fault::VirtualZeros(_)) => None,
        Some(Fault::FailFirst {
            times,
            status,
            retry_after,
        }) => {
            if count <= *times {
                let mut r = Response::new(
                    *status,
                    "text/plain; charset=utf-8",
                    "temporarily unavailable",
                );
                if let Some(secs) = retry_after {
                    r = r.with_header("Retry-After", &secs.to_string());
                }
                return r;
            }
            None
        }
        Some(Fault::TruncateFirst(n)) => (count <= 1).then_some(Fault::TruncateAfter(*n)),
        Some(other) => Some(other.clone()),
    };
    let etag = match sh.config.etag_mode {
        EtagMode::Stable => Some(format!("\"{}-v1\"", doc.id)),
        EtagMode::Omitted => None,
        EtagMode::ChangesEveryRequest => Some(format!("\"{}-v{count}\"", doc.id)),
    };
    let etag_header: Vec<(String, String)> = etag
        .iter()
        .map(|e| ("ETag".to_string(), e.clone()))
        .collect();
    let whole = |fault: Option<Fault>| Response {
        status: 200,
        headers: etag_header.clone(),
        body: Body::Document {
            source,
            start: 0,
            fault,
        },
    };
    if fault.is_some() || sh.config.range_mode == RangeMode::Ignore {
        return whole(fault);
    }
    let Some(start) = req.header("Range").and_then(open_range_start) else {
        return whole(None);
    };
    if let Some(if_range) = req.header("If-Range") {
        if etag.as_deref() != Some(if_range.trim()) {
            return whole(None); // not the version the client has: the whole current file
        }
    }
    let len = source.len();
    if start >= len || sh.config.range_mode == RangeMode::Unsatisfiable {
        return Response::new(416, "text/plain; charset=utf-8", "range not satisfiable")
            .with_header("Content-Range", &format!("bytes */{len}"));
    }
    let sent_from = match sh.config.range_mode {
        RangeMode::WrongStart => start + 1,
        _ => start,
    };
    if sh.config.range_mode == RangeMode::ShortPart
        && start + 100 < len
        && !matches!(doc.fault, Some(Fault::VirtualZeros(_)))
    {
        let part = &doc.content[start as usize..start as usize + 100];
        let mut r = Response::new(206, "application/octet-stream", part.to_vec()).with_header(
            "Content-Range",
            &format!("bytes {start}-{}/{len}", start + 99),
        );
        r.headers.extend(etag_header);
        return r;
    }
    let named_total = match sh.config.range_mode {
        RangeMode::OtherTotal => len + 1,
        _ => len,
    };
    let mut headers = vec![(
        "Content-Range".into(),
        format!("bytes {sent_from}-{}/{named_total}", len - 1),
    )];
    headers.extend(etag_header);
    Response {
        status: 206,
        headers,
        body: Body::Document {
            source,
            start: sent_from,
            fault: None,
        },
    }
}

fn select_documents(sh: &Shared, req: &Request) -> Response<'static> {
    if req.method != "POST" {
        return method_not_allowed("POST");
    }
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => return Response::message(400, &format!("request body is not valid JSON: {e}")),
    };
    sh.state().selects.push(body.clone());
    if !body.is_object() {
        return Response::message(400, "request body must be a JSON object");
    }
    let Some(callback) = body.pointer("/callback/url").and_then(Value::as_str) else {
        return Response::message(400, "callback.url is required");
    };
    if callback
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Response::message(400, "callback.url must not contain whitespace");
    }
    if url::Url::parse(callback).is_err() {
        return Response::message(400, "callback.url is not an absolute URL");
    }
    let server_context = body
        .get("server_context")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("ctx-{}", random_id()));
    let session = random_id();
    sh.state().sessions.insert(
        session.clone(),
        Session {
            callback_url: callback.to_string(),
            server_context,
        },
    );
    Response::json(
        200,
        &json!({
            "select_documents_url": format!("{}/ui/select/{session}", sh.cde_origin),
            "expires_in": sh.config.select_documents_expires_in,
        }),
    )
}

fn session(sh: &Shared, id: &str) -> Option<Session> {
    sh.state().sessions.get(id).cloned()
}

fn unknown_session() -> Response<'static> {
    html_page(
        404,
        "Unknown session",
        "<h1>Unknown selection session</h1>\n<p>This selection link is not valid.</p>",
    )
}

/// Creates a selection and returns the 303 to the client's callback.
fn redirect_with_selection(
    sh: &Shared,
    session_id: &str,
    s: &Session,
    ids: Vec<String>,
) -> Response<'static> {
    let sel_id = random_id();
    sh.state().selections.insert(
        sel_id.clone(),
        Selection {
            session: session_id.to_string(),
            doc_ids: ids,
        },
    );
    let value = selected_documents_url(sh, &sel_id);
    let location = append_param(&s.callback_url, callback_param_name(&sh.config), &value);
    Response::redirect(303, &location)
}

fn cancel_redirect(s: &Session) -> Response<'static> {
    Response::redirect(
        303,
        &append_param(&s.callback_url, "user_cancelled_selection", "true"),
    )
}

fn js_string(s: &str) -> String {
    Value::String(s.to_string())
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn selection_page(sh: &Shared, session_id: &str, s: &Session) -> Response<'static> {
    let seg = percent_encode(session_id);
    let mut items = String::new();
    for d in &sh.config.documents {
        let id = html_escape(&d.id);
        items.push_str(&format!(
            "<li><input type=\"checkbox\" name=\"doc\" value=\"{id}\" id=\"doc-{id}\"> \
             <label for=\"doc-{id}\"><span class=\"title\">{}</span> — \
             <span class=\"file\">{}</span></label></li>\n",
            html_escape(&d.title),
            html_escape(&d.file_name)
        ));
    }
    let xhr = sh.config.xhr_callback;
    let button_type = if xhr { "button" } else { "submit" };
    let mut body = format!(
        "<h1>Select documents</h1>\n\
         <form method=\"get\" action=\"/ui/select/{seg}/confirm\" id=\"selection\">\n\
         <ul>\n{items}</ul>\n\
         <button type=\"{button_type}\" id=\"download\">Download</button>\n\
         <a id=\"cancel\" href=\"/ui/select/{seg}/cancel\">Cancel</a>\n\
         </form>\n<p id=\"status\" role=\"status\"></p>"
    );
    if xhr {
        body.push_str(&format!(
            r#"
<script>
(function () {{
  var callbackUrl = {callback};
  var paramName = {param};
  var selectionUrlEndpoint = {endpoint};
  var status = document.getElementById('status');
  function send() {{
    var boxes = document.querySelectorAll('input[name=doc]:checked');
    var query = [];
    for (var i = 0; i < boxes.length; i++) {{
      query.push('doc=' + encodeURIComponent(boxes[i].value));
    }}
    if (query.length === 0) {{
      status.textContent = 'Select at least one document';
      return;
    }}
    var r = new XMLHttpRequest();
    r.open('GET', selectionUrlEndpoint + '?' + query.join('&'));
    r.onload = function () {{
      if (r.status !== 200) {{
        status.textContent = 'Error: ' + r.responseText;
        return;
      }}
      var selected = r.responseText.trim();
      var sep = callbackUrl.indexOf('?') >= 0 ? '&' : '?';
      var x = new XMLHttpRequest();
      x.open('GET', callbackUrl + sep + paramName + '=' + encodeURIComponent(selected));
      x.setRequestHeader('Accept', 'text/html, */*; q=0.01');
      x.onloadend = function () {{
        status.textContent = 'Sent to the application';
      }};
      x.send();
    }};
    r.onerror = function () {{
      status.textContent = 'Error: the CDE could not be reached';
    }};
    r.send();
  }}
  document.getElementById('download').addEventListener('click', send);
  document.getElementById('selection').addEventListener('submit', function (e) {{
    e.preventDefault();
    send();
  }});
}})();
</script>"#,
            callback = js_string(&s.callback_url),
            param = js_string(callback_param_name(&sh.config)),
            endpoint = js_string(&format!("/ui/select/{seg}/selection-url")),
        ));
    }
    html_page(200, "Select documents", &body)
}

fn doc_ids_from_query(req: &Request) -> Vec<String> {
    req.query_pairs()
        .into_iter()
        .filter(|(k, _)| k == "doc")
        .map(|(_, v)| v)
        .collect()
}

fn no_selection() -> Response<'static> {
    html_page(
        400,
        "Nothing selected",
        "<h1>Nothing selected</h1>\n<p>Select at least one document. \
         <a href=\"javascript:history.back()\">Back</a></p>",
    )
}

fn ui_select(
    sh: &Shared,
    req: &Request,
    session_id: &str,
    action: Option<&str>,
) -> Response<'static> {
    if !is_get(req) {
        return method_not_allowed("GET, HEAD");
    }
    let Some(s) = session(sh, session_id) else {
        return unknown_session();
    };
    match action {
        None => {
            let auto = req
                .query_pairs()
                .into_iter()
                .find(|(k, _)| k == "auto")
                .map(|(_, v)| v);
            match auto.as_deref() {
                Some("all") => {
                    let ids: Vec<String> =
                        sh.config.documents.iter().map(|d| d.id.clone()).collect();
                    let ids = known_ids(sh, &ids);
                    redirect_with_selection(sh, session_id, &s, ids)
                }
                Some("cancel") => cancel_redirect(&s),
                _ => selection_page(sh, session_id, &s),
            }
        }
        Some("confirm") => {
            let ids = known_ids(sh, &doc_ids_from_query(req));
            if ids.is_empty() {
                return no_selection();
            }
            redirect_with_selection(sh, session_id, &s, ids)
        }
        Some("cancel") => cancel_redirect(&s),
        Some("selection-url") => {
            let ids = known_ids(sh, &doc_ids_from_query(req));
            if ids.is_empty() {
                return Response::new(
                    400,
                    "text/plain; charset=utf-8",
                    "select at least one document",
                );
            }
            let sel_id = random_id();
            sh.state().selections.insert(
                sel_id.clone(),
                Selection {
                    session: session_id.to_string(),
                    doc_ids: ids,
                },
            );
            Response::new(
                200,
                "text/plain; charset=utf-8",
                selected_documents_url(sh, &sel_id),
            )
        }
        Some(_) => html_page(404, "Not found", "<h1>Not found</h1>"),
    }
}

fn details_page(sh: &Shared, req: &Request, id: &str) -> Response<'static> {
    if !is_get(req) {
        return method_not_allowed("GET, HEAD");
    }
    let Some(d) = sh.document(id) else {
        return html_page(404, "Not found", "<h1>Unknown document</h1>");
    };
    html_page(
        200,
        &d.title,
        &format!(
            "<h1>{}</h1>\n<dl><dt>Document id</dt><dd id=\"document-id\">{}</dd>\
             <dt>File</dt><dd class=\"file\">{}</dd><dt>Size</dt><dd>{} bytes</dd>\
             <dt>Version</dt><dd>1 ({CREATION_DATE})</dd></dl>",
            html_escape(&d.title),
            html_escape(&d.id),
            html_escape(&d.file_name),
            d.served_len()
        ),
    )
}

fn api<'a>(sh: &'a Shared, req: &Request, rest: &[&str]) -> Response<'a> {
    if let Some(denied) = check_auth(sh, req) {
        return denied;
    }
    if let ["select-documents"] = rest {
        return select_documents(sh, req);
    }
    if !is_get(req) {
        return match rest {
            ["selections", _] | ["documents", _, "versions", ..] => method_not_allowed("GET, HEAD"),
            _ => not_found_json(),
        };
    }
    match rest {
        ["selections", sel] => selection_json(sh, sel),
        // An endless redirect chain: /redirect-loop/N → /redirect-loop/N+1.
        ["redirect-loop", n] => {
            let next = n.parse::<u64>().unwrap_or(0) + 1;
            Response::redirect(
                302,
                &format!("{}/documents/1.0/redirect-loop/{next}", sh.cde_origin),
            )
        }
        ["documents", id, "versions", more @ ..] => {
            let Some(doc) = sh.document(id) else {
                return Response::message(404, "document not found");
            };
            match more {
                [] => Response::json(
                    200,
                    &json!({ "documents": [document_version(sh, doc, true)] }),
                ),
                ["1"] => Response::json(200, &document_version(sh, doc, true)),
                ["1", "metadata"] => Response::json(
                    200,
                    &json!({ "metadata": [
                        { "name": "Status", "value": ["S2"], "data_type": "string" }
                    ] }),
                ),
                ["1", "download"] => match sh.config.download_mode {
                    DownloadMode::Direct200 => document_bytes(sh, req, doc),
                    DownloadMode::See303 => Response::redirect(303, &blob_url(sh, doc)),
                    DownloadMode::Found302 => Response::redirect(302, &blob_url(sh, doc)),
                    DownloadMode::Temporary307 => Response::redirect(307, &blob_url(sh, doc)),
                    DownloadMode::SameOrigin303 => Response::redirect(303, &file_url(sh, doc)),
                    DownloadMode::SameOrigin307 => Response::redirect(307, &file_url(sh, doc)),
                    DownloadMode::RelativeSameOrigin307 => {
                        Response::redirect(307, &format!("/files/{}", percent_encode(&doc.id)))
                    }
                    DownloadMode::Moved301 => Response::redirect(301, &blob_url(sh, doc)),
                    DownloadMode::Permanent308 => Response::redirect(308, &blob_url(sh, doc)),
                    DownloadMode::BounceViaStorage => Response::redirect(
                        302,
                        &format!(
                            "{}/bounce/{}?{STORAGE_QUERY}",
                            sh.storage_origin,
                            percent_encode(&doc.id)
                        ),
                    ),
                },
                _ => not_found_json(),
            }
        }
        _ => not_found_json(),
    }
}

/// Routes a request on the CDE origin.
pub(crate) fn cde<'a>(sh: &'a Shared, req: &Request) -> Response<'a> {
    let segs = req.segments();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    match s.as_slice() {
        ["documents", "1.0", rest @ ..] => api(sh, req, rest),
        ["foundation", rest @ ..] => crate::oauth::foundation(sh, req, rest),
        ["oauth", rest @ ..] => crate::oauth::oauth(sh, req, rest),
        ["ui", "select", session] if !session.is_empty() => ui_select(sh, req, session, None),
        ["ui", "select", session, action] if !session.is_empty() => {
            ui_select(sh, req, session, Some(action))
        }
        ["ui", "documents", id] => details_page(sh, req, id),
        // Same-origin file endpoint (no token needed), target of the SameOrigin* download modes.
        ["files", id] if is_get(req) => match sh.document(id) {
            Some(doc) => document_bytes(sh, req, doc),
            None => Response::message(404, "file not found"),
        },
        _ => not_found_json(),
    }
}

fn storage_error(status: u16, code: &str, message: &str) -> Response<'static> {
    Response::new(
        status,
        "application/xml",
        format!("<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"),
    )
}

/// True when the raw query's first `sig` parameter is byte for byte [`STORAGE_SIG`].
fn sig_ok(req: &Request) -> bool {
    req.query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .find_map(|p| p.strip_prefix("sig="))
        .map(|v| v == STORAGE_SIG)
        .unwrap_or(false)
}

/// Routes a request on the storage origin.
pub(crate) fn storage<'a>(sh: &'a Shared, req: &Request) -> Response<'a> {
    if req.header("Authorization").is_some() {
        return Response::new(400, "application/xml", STORAGE_AUTH_ERROR);
    }
    if !is_get(req) {
        return storage_error(
            405,
            "UnsupportedHttpVerb",
            "The resource doesn't support the specified HTTP verb.",
        )
        .with_header("Allow", "GET, HEAD");
    }
    let segs = req.segments();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let known = matches!(
        s.as_slice(),
        ["blob", _] | ["selections", _] | ["bounce", _]
    );
    if !known {
        return storage_error(
            404,
            "ResourceNotFound",
            "The specified resource does not exist.",
        );
    }
    if !sig_ok(req) {
        return storage_error(
            403,
            "AuthenticationFailed",
            "Server failed to authenticate the request. Signature did not match.",
        );
    }
    match s.as_slice() {
        ["bounce", id] => match sh.document(id) {
            Some(doc) => Response::redirect(302, &file_url(sh, doc)),
            None => storage_error(404, "BlobNotFound", "The specified blob does not exist."),
        },
        ["blob", id] => match sh.document(id) {
            Some(doc) => document_bytes(sh, req, doc),
            None => storage_error(404, "BlobNotFound", "The specified blob does not exist."),
        },
        ["selections", sel] => selection_json(sh, sel),
        _ => storage_error(
            404,
            "ResourceNotFound",
            "The specified resource does not exist.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_param_separators() {
        assert_eq!(
            append_param("http://h/cb", "a", "x y"),
            "http://h/cb?a=x%20y"
        );
        assert_eq!(
            append_param("http://h/cb?s=1", "a", "b"),
            "http://h/cb?s=1&a=b"
        );
        assert_eq!(append_param("http://h/cb?", "a", "b"), "http://h/cb?a=b");
        assert_eq!(append_param("http://h/cb#f", "a", "b"), "http://h/cb?a=b#f");
    }

    #[test]
    fn only_open_ended_byte_ranges() {
        assert_eq!(open_range_start("bytes=0-"), Some(0));
        assert_eq!(open_range_start(" Bytes = 1234- "), Some(1234));
        for other in [
            "bytes=0-99",
            "bytes=-500",
            "bytes=1-,5-",
            "bytes=-",
            "bytes=+1-",
            "items=1-",
            "bytes=99999999999999999999999-",
            "",
            "bytes",
        ] {
            assert_eq!(open_range_start(other), None, "{other:?}");
        }
    }

    #[test]
    fn external_storage_urls() {
        assert_eq!(
            external_blob_url("http://127.0.0.1:8080/files", "big-1"),
            "http://127.0.0.1:8080/files/big-1"
        );
        assert_eq!(
            external_blob_url("https://127.0.0.1:8443/", "a b"),
            "https://127.0.0.1:8443/a%20b"
        );
    }

    #[test]
    fn js_strings_cannot_close_the_script() {
        assert_eq!(js_string("</script>"), "\"\\u003c/script\\u003e\"");
    }
}
