//! Protocol models of the Documents API download flow, parsed leniently.
//!
//! Real servers omit "required" members, add unknown ones and send numbers as strings, so parsing
//! goes through `serde_json::Value` and takes what is there: unknown members are ignored, a missing
//! member becomes its documented default, and only an answer that cannot be a selection at all (not
//! JSON, no `documents` array, no `select_documents_url`) is a protocol error.

use crate::error::{Error, ErrorKind, Result};
use serde_json::{json, Map, Value};

/// Body of `POST {documents_api}/select-documents`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SelectDocumentsRequest {
    /// Our loopback callback URL.
    pub callback_url: String,
    /// How long (seconds) we promise to listen on it.
    pub callback_expires_in: u64,
    /// Opaque context handed back by an earlier selection, if any.
    pub server_context: Option<String>,
    /// File extensions the host can open, with the dot (".ifc").
    pub supported_file_extensions: Vec<String>,
}

impl SelectDocumentsRequest {
    /// The JSON body as the spec describes it; optional members are omitted when unset.
    pub fn to_json(&self) -> Value {
        let mut body = Map::new();
        body.insert(
            "callback".into(),
            json!({ "url": self.callback_url, "expires_in": self.callback_expires_in }),
        );
        if let Some(ctx) = &self.server_context {
            body.insert("server_context".into(), Value::String(ctx.clone()));
        }
        if !self.supported_file_extensions.is_empty() {
            body.insert(
                "supported_file_extensions".into(),
                json!(self.supported_file_extensions),
            );
        }
        Value::Object(body)
    }
}

/// Answer of `POST select-documents`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectDocumentsResponse {
    /// The page the user selects documents in.
    pub select_documents_url: String,
    /// How long that URL may be opened (seconds), if the server said.
    pub expires_in: Option<u64>,
}

impl SelectDocumentsResponse {
    /// Parses the answer; `select_documents_url` is the one member that must be there.
    pub fn parse(body: &[u8]) -> Result<Self> {
        let value = parse_json(body, "select-documents answer")?;
        let url = value
            .get("select_documents_url")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Protocol,
                    "select-documents answer has no select_documents_url",
                )
            })?;
        Ok(SelectDocumentsResponse {
            select_documents_url: url.to_string(),
            expires_in: value
                .get("expires_in")
                .and_then(lenient_i64)
                .and_then(|v| u64::try_from(v).ok()),
        })
    }
}

/// One selected document version (`DocumentVersion` in the spec), with every member defaulted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DocumentVersion {
    /// `document_id`; "" when the server omitted it.
    pub document_id: String,
    /// `title`; "" when absent.
    pub title: String,
    /// `file_description.name` as sent (not yet made safe for a file system).
    pub file_name: String,
    /// `file_description.size_in_bytes`; `None` when absent or not a number.
    pub size_in_bytes: Option<i64>,
    /// `version_number` (free text); "" when absent.
    pub version_number: String,
    /// `version_index`; 0 when absent.
    pub version_index: i64,
    /// `creation_date` as sent (RFC 3339 expected); "" when absent.
    pub creation_date: String,
    /// `links.document_version_download.url`; "" when absent.
    pub download_url: String,
    /// `links.document_version_metadata.url`; "" when absent.
    pub metadata_url: String,
    /// `links.document_versions.url`; "" when absent.
    pub versions_url: String,
    /// `links.document_version.url`; "" when absent.
    pub version_url: String,
    /// `links.document_details.url`; optional in the spec.
    pub details_url: Option<String>,
}

impl DocumentVersion {
    /// Reads one DocumentVersion object; anything that is not an object is a protocol error.
    pub fn from_value(value: &Value) -> Result<Self> {
        let obj = value.as_object().ok_or_else(|| {
            Error::new(ErrorKind::Protocol, "a document entry is not a JSON object")
        })?;
        let text = |key: &str| obj.get(key).map(lenient_string).unwrap_or_default();
        let links = obj.get("links");
        let link = |key: &str| -> Option<String> {
            let l = links?.get(key)?;
            // `{ "url": "..." }` per the spec; a bare string is accepted too.
            l.get("url")
                .and_then(Value::as_str)
                .or_else(|| l.as_str())
                .map(str::to_string)
        };
        let file = obj.get("file_description");
        Ok(DocumentVersion {
            document_id: text("document_id"),
            title: text("title"),
            file_name: file
                .and_then(|f| f.get("name"))
                .map(lenient_string)
                .unwrap_or_default(),
            size_in_bytes: file
                .and_then(|f| f.get("size_in_bytes"))
                .and_then(lenient_i64),
            version_number: text("version_number"),
            version_index: obj.get("version_index").and_then(lenient_i64).unwrap_or(0),
            creation_date: text("creation_date"),
            download_url: link("document_version_download").unwrap_or_default(),
            metadata_url: link("document_version_metadata").unwrap_or_default(),
            versions_url: link("document_versions").unwrap_or_default(),
            version_url: link("document_version").unwrap_or_default(),
            details_url: link("document_details"),
        })
    }
}

/// Answer of `GET selected_documents_url`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SelectedDocuments {
    /// Opaque context to send with the next selection; `None` when null or absent.
    pub server_context: Option<String>,
    /// The chosen document versions, in the server's order.
    pub documents: Vec<DocumentVersion>,
}

impl SelectedDocuments {
    /// Parses the answer. `documents` must be an array (an empty one is an empty selection).
    pub fn parse(body: &[u8]) -> Result<Self> {
        let value = parse_json(body, "selected-documents answer")?;
        let docs = match value.get("documents") {
            Some(Value::Array(items)) => items,
            Some(Value::Null) | None => {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    "selected-documents answer has no \"documents\" array",
                ))
            }
            Some(_) => {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    "selected-documents answer: \"documents\" is not an array",
                ))
            }
        };
        let documents = docs
            .iter()
            .map(DocumentVersion::from_value)
            .collect::<Result<Vec<_>>>()?;
        let server_context = match value.get("server_context") {
            None | Some(Value::Null) => None,
            Some(v) => Some(lenient_string(v)),
        };
        Ok(SelectedDocuments {
            server_context,
            documents,
        })
    }
}

/// Extracts a server's explanation from an error body in any of the shapes seen in the wild:
/// `{"message"}` (Foundation API), `{"errors":{"Message":[..]}}`, `{"detail"}`, `{"error_description"}`,
/// `{"error"}`, `{"title"}`; otherwise the start of the body as text.
pub fn error_body_message(body: &[u8]) -> Option<String> {
    if let Ok(value) = serde_json::from_slice::<Value>(without_bom(body)) {
        for key in [
            "message",
            "Message",
            "detail",
            "error_description",
            "error",
            "title",
        ] {
            if let Some(v) = value.get(key) {
                if let Some(s) = v.as_str().filter(|s| !s.is_empty()) {
                    return Some(clip(s, 300));
                }
                if let Some(s) = v.get("message").and_then(Value::as_str) {
                    return Some(clip(s, 300));
                }
            }
        }
        if let Some(errors) = value.get("errors") {
            let mut parts = Vec::new();
            collect_strings(errors, &mut parts);
            if !parts.is_empty() {
                return Some(clip(&parts.join("; "), 300));
            }
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    (!text.is_empty()).then(|| clip(text, 200))
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// Shortens `s` to at most `max` characters, replacing control characters so a hostile body
/// cannot forge lines in a host's log.
pub fn clip(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

/// `body` without a leading UTF-8 byte-order mark (some .NET servers send one; JSON parsers
/// refuse it).
pub fn without_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body)
}

fn parse_json(body: &[u8], what: &str) -> Result<Value> {
    serde_json::from_slice(without_bom(body)).map_err(|e| {
        Error::new(
            ErrorKind::Protocol,
            format!("{what} is not valid JSON: {e}"),
        )
    })
}

/// A string member, tolerating numbers and other scalars sent where text was expected.
fn lenient_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// An integer member, tolerating integers sent as strings ("5000000000") and whole floats.
fn lenient_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/selected-documents"
    );

    fn fixture(name: &str) -> SelectedDocuments {
        let body = std::fs::read(format!("{FIXTURES}/{name}")).expect("fixture present");
        SelectedDocuments::parse(&body).expect("fixture parses")
    }

    #[test]
    fn a_byte_order_mark_before_the_json_is_accepted() {
        let mut body = b"\xEF\xBB\xBF".to_vec();
        body.extend(std::fs::read(format!("{FIXTURES}/spec-example.json")).unwrap());
        let sel = SelectedDocuments::parse(&body).expect("BOM then JSON parses");
        assert_eq!(sel, fixture("spec-example.json"));
    }

    #[test]
    fn spec_example_parses_every_member() {
        let sel = fixture("spec-example.json");
        assert_eq!(
            sel.server_context.as_deref(),
            Some("5a0b9c95-481c-4eb0-b564-0d04837c669d")
        );
        let d = &sel.documents[0];
        assert_eq!(d.document_id, "bf546064-6b97-4730-a094-c21ab929c91a");
        assert_eq!(d.file_name, "model.ifc");
        assert_eq!(d.size_in_bytes, Some(1048576));
        assert_eq!(d.version_index, 3);
        assert_eq!(d.version_number, "v3.0");
        assert!(d.download_url.ends_with("/versions/v3.0/download"));
        assert!(d
            .details_url
            .as_deref()
            .unwrap_or("")
            .contains("/ui/projects/"));
    }

    #[test]
    fn python_style_ignores_extras_and_keeps_unicode() {
        let sel = fixture("python-server-style.json");
        let d = &sel.documents[0];
        assert_eq!(d.version_number, "Första");
        assert_eq!(d.size_in_bytes, Some(16962975));
        assert_eq!(d.creation_date, "2023-01-01T01:01:01.111+00:00");
    }

    #[test]
    fn dotnet_style_tolerates_missing_required_members() {
        let sel = fixture("dotnet-server-style.json");
        assert_eq!(sel.server_context, None);
        let d = &sel.documents[0];
        assert_eq!(d.document_id, "");
        assert_eq!(d.version_index, 0);
        assert_eq!(d.file_name, "Structure L2.ifc");
    }

    #[test]
    fn sizes_are_64_bit_and_strings_are_tolerated() {
        let body = br#"{"documents":[{"file_description":{"name":"a","size_in_bytes":5000000000}},
                                     {"file_description":{"name":"b","size_in_bytes":"6000000000"}},
                                     {"file_description":{"name":"c","size_in_bytes":"big"}}]}"#;
        let sel = SelectedDocuments::parse(body).unwrap();
        assert_eq!(sel.documents[0].size_in_bytes, Some(5_000_000_000));
        assert_eq!(sel.documents[1].size_in_bytes, Some(6_000_000_000));
        assert_eq!(sel.documents[2].size_in_bytes, None);
        assert_eq!(sel.documents[2].details_url, None);
    }

    #[test]
    fn null_or_absent_context_and_links_are_none() {
        let sel =
            SelectedDocuments::parse(br#"{"server_context":null,"documents":[{"links":{}}]}"#)
                .unwrap();
        assert_eq!(sel.server_context, None);
        assert_eq!(sel.documents[0].details_url, None);
        assert_eq!(sel.documents[0].download_url, "");
        let sel = SelectedDocuments::parse(br#"{"server_context":42,"documents":[]}"#).unwrap();
        assert_eq!(sel.server_context.as_deref(), Some("42"));
    }

    #[test]
    fn documents_must_be_an_array() {
        for body in [
            &br#"{}"#[..],
            br#"{"documents":null}"#,
            br#"{"documents":{}}"#,
            b"not json",
        ] {
            assert_eq!(
                SelectedDocuments::parse(body).unwrap_err().kind,
                ErrorKind::Protocol
            );
        }
        assert!(SelectedDocuments::parse(br#"{"documents":[]}"#)
            .unwrap()
            .documents
            .is_empty());
    }

    #[test]
    fn select_response_requires_url_and_tolerates_string_expiry() {
        let r = SelectDocumentsResponse::parse(
            br#"{"select_documents_url":"http://x/s","expires_in":"60","extra":1}"#,
        )
        .unwrap();
        assert_eq!(r.expires_in, Some(60));
        assert_eq!(
            SelectDocumentsResponse::parse(br#"{"expires_in":60}"#)
                .unwrap_err()
                .kind,
            ErrorKind::Protocol
        );
    }

    #[test]
    fn request_body_omits_unset_members() {
        let mut req = SelectDocumentsRequest {
            callback_url: "http://127.0.0.1:1/x".into(),
            callback_expires_in: 5,
            ..Default::default()
        };
        assert_eq!(
            req.to_json(),
            json!({"callback":{"url":"http://127.0.0.1:1/x","expires_in":5}})
        );
        req.server_context = Some("ctx".into());
        req.supported_file_extensions = vec![".ifc".into()];
        assert_eq!(req.to_json()["supported_file_extensions"], json!([".ifc"]));
        assert_eq!(req.to_json()["server_context"], json!("ctx"));
    }

    #[test]
    fn error_bodies_in_every_shape() {
        assert_eq!(
            error_body_message(br#"{"message":"nope"}"#).unwrap(),
            "nope"
        );
        assert_eq!(
            error_body_message(br#"{"errors":{"Message":["a","b"]}}"#).unwrap(),
            "a; b"
        );
        assert_eq!(error_body_message(br#"{"detail":"d"}"#).unwrap(), "d");
        assert_eq!(
            error_body_message(b"<Error>x\ny</Error>").unwrap(),
            "<Error>x y</Error>"
        );
        assert_eq!(error_body_message(b""), None);
    }
}
