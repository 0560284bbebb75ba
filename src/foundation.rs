//! The buildingSMART Foundation API: where a server's Documents API lives (`/foundation/versions`),
//! how it signs users in (`/foundation/1.0/auth`), and who is signed in (`current-user`).
//! Missing members mean "not supported".

use crate::abort::AbortToken;
use crate::error::{Error, ErrorKind, Result};
use crate::http::{describe, parse_url, Credentials, HttpSettings, Method, Transport};
use serde_json::Value;
use url::Url;

/// What `/foundation/1.0/auth` says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthInfo {
    /// `oauth2_auth_url`.
    pub auth_url: String,
    /// `oauth2_token_url`.
    pub token_url: String,
    /// `supported_oauth2_flows` (e.g. `authorization_code_grant`).
    pub supported_flows: Vec<String>,
    /// `pkce_required`; false when absent.
    pub pkce_required: bool,
    /// `code_challenge_method` (`S256` or `plain`), if given.
    pub code_challenge_method: Option<String>,
    /// `http_basic_supported`; false when absent.
    pub http_basic_supported: bool,
}

/// The result of discovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovery {
    /// The Documents API 1.0 base URL (`api_base_url`, or `{server}/documents/1.0`).
    pub documents_api_url: String,
    /// The Foundation API 1.0 base URL (its `api_base_url`, or `{server}/foundation/1.0`).
    pub foundation_url: String,
    /// How the server signs users in; `None` when `/auth` is missing (404).
    pub auth: Option<AuthInfo>,
}

/// Who is signed in (`/foundation/1.0/current-user`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentUser {
    /// `id`.
    pub id: String,
    /// `name`; "" when absent.
    pub name: String,
}

fn base(server: &Url) -> String {
    server.as_str().trim_end_matches('/').to_string()
}

fn get_json(transport: &Transport, url: &Url, what: &str) -> Result<Option<Value>> {
    let origin = url.origin();
    let creds = Credentials {
        token: None,
        origin: &origin,
    };
    let mut answer = transport.send(
        Method::Get,
        url,
        creds,
        &[("Accept", "application/json")],
        &AbortToken::none(),
    )?;
    if answer.response.status().as_u16() == 404 {
        return Ok(None);
    }
    let body = crate::http::read_json_body(&mut answer, what, &AbortToken::none())?;
    serde_json::from_slice(crate::models::without_bom(&body))
        .map(Some)
        .map_err(|e| {
            Error::new(
                ErrorKind::Protocol,
                format!("{what} from {} is not valid JSON: {e}", describe(url)),
            )
        })
}

/// Discovers the Documents API and the sign-in endpoints of the server at `server_url`.
pub fn discover(server_url: &str, settings: &HttpSettings) -> Result<Discovery> {
    let mut server = parse_url(server_url, "server URL")?;
    server.set_query(None);
    server.set_fragment(None);
    let transport = Transport::new(settings.clone());
    let versions_url = parse_url(
        &format!("{}/foundation/versions", base(&server)),
        "versions URL",
    )?;
    let versions =
        get_json(&transport, &versions_url, "Foundation versions")?.ok_or_else(|| {
            Error::new(
                ErrorKind::Protocol,
                format!(
                    "{} answered 404: not an OpenCDE Foundation API server",
                    describe(&versions_url)
                ),
            )
            .with_status(404)
        })?;
    let list = versions
        .get("versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let find = |api: &str| {
        list.iter().find(|v| {
            v.get("api_id").and_then(Value::as_str) == Some(api)
                && v.get("version_id").and_then(Value::as_str) == Some("1.0")
        })
    };
    let base_for = |api: &str, entry: Option<&Value>| {
        entry
            .and_then(|e| e.get("api_base_url"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(|s| s.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("{}/{api}/1.0", base(&server)))
    };
    let documents = find("documents").ok_or_else(|| {
        Error::new(
            ErrorKind::Protocol,
            format!("{} lists no Documents API 1.0", describe(&versions_url)),
        )
    })?;
    let documents_api_url = base_for("documents", Some(documents));
    let secure = server.scheme() == "https";
    no_downgrade(secure, &documents_api_url, "the Documents API api_base_url")?;
    let foundation_url = base_for("foundation", find("foundation"));
    no_downgrade(secure, &foundation_url, "the Foundation API api_base_url")?;
    let auth_url = parse_url(&format!("{foundation_url}/auth"), "auth URL")?;
    let auth = get_json(&transport, &auth_url, "Foundation auth")?
        .map(|v| parse_auth(&v))
        .transpose()?;
    if let Some(a) = &auth {
        // Over http the authorization code, the client secret and the tokens would travel in clear.
        no_downgrade(secure, &a.auth_url, "oauth2_auth_url")?;
        no_downgrade(secure, &a.token_url, "oauth2_token_url")?;
    }
    Ok(Discovery {
        documents_api_url,
        foundation_url,
        auth,
    })
}

/// Checks a URL a server announced: an http(s) URL, and never http when the server itself was
/// reached over https (tokens and secrets would then leave in clear text).
fn no_downgrade(secure: bool, url: &str, what: &str) -> Result<()> {
    let parsed = parse_url(url, what).map_err(|e| Error::new(ErrorKind::Protocol, e.message))?;
    if secure && parsed.scheme() == "http" {
        return Err(Error::new(
            ErrorKind::Protocol,
            format!(
                "the server, reached over https, announced {what} over plain http ({}): refused",
                describe(&parsed)
            ),
        ));
    }
    Ok(())
}

/// Reads `/foundation/1.0/auth`; the two URLs are required when the document is there.
pub fn parse_auth(v: &Value) -> Result<AuthInfo> {
    let text = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let auth_url = text("oauth2_auth_url").ok_or_else(|| {
        Error::new(
            ErrorKind::Protocol,
            "the auth document has no oauth2_auth_url",
        )
    })?;
    let token_url = text("oauth2_token_url").ok_or_else(|| {
        Error::new(
            ErrorKind::Protocol,
            "the auth document has no oauth2_token_url",
        )
    })?;
    Ok(AuthInfo {
        auth_url,
        token_url,
        supported_flows: v
            .get("supported_oauth2_flows")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        pkce_required: v
            .get("pkce_required")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        code_challenge_method: text("code_challenge_method"),
        http_basic_supported: v
            .get("http_basic_supported")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// Reads `/foundation/1.0/current-user`.
pub fn parse_current_user(body: &[u8]) -> Result<CurrentUser> {
    let v: Value = serde_json::from_slice(crate::models::without_bom(body)).map_err(|e| {
        Error::new(
            ErrorKind::Protocol,
            format!("current-user answer is not valid JSON: {e}"),
        )
    })?;
    let id = match v.get("id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            return Err(Error::new(
                ErrorKind::Protocol,
                "current-user answer has no id",
            ))
        }
    };
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Ok(CurrentUser { id, name })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_https_server_may_not_announce_http_endpoints() {
        let err = no_downgrade(true, "http://cde.example/documents/1.0", "x").unwrap_err();
        assert_eq!(err.kind, ErrorKind::Protocol);
        assert!(err.message.contains("plain http"), "{}", err.message);
        assert!(no_downgrade(true, "https://other.example/documents/1.0", "x").is_ok());
        // A server reached over http (a test or an intranet CDE) may name http endpoints.
        assert!(no_downgrade(false, "http://cde.example/documents/1.0", "x").is_ok());
        assert!(no_downgrade(false, "ftp://cde.example/", "x").is_err());
    }

    #[test]
    fn auth_members_missing_mean_not_supported() {
        let a = parse_auth(
            &json!({"oauth2_auth_url":"https://a/x","oauth2_token_url":"https://a/t","extra":1}),
        )
        .unwrap();
        assert!(!a.pkce_required && !a.http_basic_supported && a.supported_flows.is_empty());
        assert_eq!(a.code_challenge_method, None);
        assert_eq!(
            parse_auth(&json!({"oauth2_token_url":"x"}))
                .unwrap_err()
                .kind,
            ErrorKind::Protocol
        );
    }

    #[test]
    fn current_user_needs_an_id() {
        assert_eq!(
            parse_current_user(br#"{"id":"u","name":"N"}"#).unwrap(),
            CurrentUser {
                id: "u".into(),
                name: "N".into()
            }
        );
        assert_eq!(parse_current_user(br#"{"id":7}"#).unwrap().id, "7");
        assert_eq!(
            parse_current_user(br#"{"name":"N"}"#).unwrap_err().kind,
            ErrorKind::Protocol
        );
    }
}
