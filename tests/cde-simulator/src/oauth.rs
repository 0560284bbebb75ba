//! The buildingSMART Foundation API (`/foundation/…`) and a small OAuth2 authorization server
//! (`/oauth/authorize`, `/oauth/token`) on the CDE origin: authorization code grant with PKCE over
//! a loopback redirect (RFC 6749, RFC 7636, RFC 8252), refresh token rotation, Bearer access tokens
//! that the CDE API accepts.
//!
//! Everything here reads client-controlled input, so nothing in it may panic.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::http::{html_escape, parse_query, percent_decode, percent_encode, Request, Response};
use crate::routes::{append_param, html_page};
use crate::{random_id, BasicMode, Shared};

/// The `id` answered by `current-user`.
pub const CURRENT_USER_ID: &str = "user-1";
/// The `name` answered by `current-user`.
pub const CURRENT_USER_NAME: &str = "Ada Lovelace";
/// The path the sign-in form posts to (the authorization endpoint itself).
pub(crate) const AUTHORIZE_PATH: &str = "/oauth/authorize";

/// How a code challenge was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChallengeMethod {
    S256,
    Plain,
}

/// A validated authorization request, waiting for the user's decision.
#[derive(Clone, Debug)]
struct AuthRequest {
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    challenge: Option<(String, ChallengeMethod)>,
}

/// An authorization code handed to the client.
#[derive(Clone, Debug)]
struct IssuedCode {
    request: AuthRequest,
    issued: Instant,
}

/// The OAuth part of the simulator's state.
#[derive(Default)]
pub(crate) struct OAuthState {
    /// Authorization requests shown as a sign-in page, by the form's `request` id.
    pending: HashMap<String, AuthRequest>,
    /// Codes not yet presented.
    codes: HashMap<String, IssuedCode>,
    /// Refresh tokens currently valid → the client id they were issued to.
    refresh: HashMap<String, String>,
    /// Access tokens ever issued → when, and for how long.
    access: HashMap<String, (Instant, Duration)>,
    /// Access tokens in issue order.
    access_order: Vec<String>,
    /// The form fields of each token request (plus `basic_auth`).
    pub token_requests: Vec<Value>,
}

impl OAuthState {
    /// Forgets every refresh token (later use answers `invalid_grant`).
    pub fn revoke_refresh_tokens(&mut self) {
        self.refresh.clear();
    }

    /// Every access token issued so far, in order.
    pub fn issued_access_tokens(&self) -> Vec<String> {
        self.access_order.clone()
    }
}

/// What an access token presented to the API is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IssuedToken {
    /// Issued by the token endpoint and not expired.
    Valid,
    /// Issued by the token endpoint, now expired.
    Expired,
    /// Never issued here.
    Unknown,
}

/// Looks up an access token issued by the token endpoint.
pub(crate) fn issued_token(sh: &Shared, token: &str) -> IssuedToken {
    match sh.state().oauth.access.get(token) {
        Some((issued, lifetime)) if issued.elapsed() < *lifetime => IssuedToken::Valid,
        Some(_) => IssuedToken::Expired,
        None => IssuedToken::Unknown,
    }
}

// ---------------------------------------------------------------------------------------------
// Encodings.

const B64_STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64_encode(data: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextets = [(n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63];
        let keep = chunk.len() + 1;
        for (i, s) in sextets.iter().enumerate() {
            if i < keep {
                out.push(char::from(alphabet[*s as usize]));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// base64url without padding (RFC 4648 §5), as PKCE uses.
pub fn base64url_encode(data: &[u8]) -> String {
    b64_encode(data, B64_URL, false)
}

/// Standard base64 with padding (RFC 4648 §4).
pub(crate) fn base64_encode(data: &[u8]) -> String {
    b64_encode(data, B64_STD, true)
}

/// Decodes standard base64 (padding optional, no whitespace); `None` when malformed.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for c in text.bytes() {
        let v = B64_STD.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    // A single leftover sextet cannot encode a byte.
    if text.len() % 4 == 1 {
        return None;
    }
    Some(out)
}

/// The S256 code challenge of a PKCE code verifier: `BASE64URL(SHA-256(ASCII(verifier)))`.
pub fn pkce_s256_challenge(verifier: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    base64url_encode(digest.as_ref())
}

/// An `Authorization` header value for HTTP Basic client authentication (RFC 6749 §2.3.1): the
/// client id and secret are form-urlencoded, joined by `:` and base64-encoded, after `Basic `.
pub fn basic_authorization(client_id: &str, client_secret: &str) -> String {
    let creds = format!(
        "{}:{}",
        percent_encode(client_id),
        percent_encode(client_secret)
    );
    format!("Basic {}", base64_encode(creds.as_bytes()))
}

/// True for 43 to 128 characters of `A-Z a-z 0-9 - . _ ~` (RFC 7636 §4.1 and §4.2).
fn pkce_text_ok(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

// ---------------------------------------------------------------------------------------------
// Foundation API.

fn method_not_allowed(allow: &str) -> Response<'static> {
    Response::message(405, "method not allowed").with_header("Allow", allow)
}

fn is_get(req: &Request) -> bool {
    req.method == "GET" || req.method == "HEAD"
}

/// Routes `/foundation/…` (`rest` is what follows `foundation`).
pub(crate) fn foundation(sh: &Shared, req: &Request, rest: &[&str]) -> Response<'static> {
    let known = matches!(
        rest,
        ["versions"] | ["1.0", "auth"] | ["1.0", "current-user"]
    );
    if !known {
        return Response::message(404, "not found");
    }
    if !is_get(req) {
        return method_not_allowed("GET, HEAD");
    }
    let cde = &sh.cde_origin;
    match rest {
        ["versions"] => {
            let mut documents = json!({
                "api_id": "documents",
                "version_id": "1.0",
                "detailed_version": "https://github.com/buildingSMART/documents-API",
            });
            if !sh.config.omit_api_base_url {
                if let Some(o) = documents.as_object_mut() {
                    o.insert(
                        "api_base_url".into(),
                        Value::String(format!("{cde}/documents/1.0")),
                    );
                }
            }
            Response::json(
                200,
                &json!({ "versions": [
                    {
                        "api_id": "foundation",
                        "version_id": "1.0",
                        "api_base_url": format!("{cde}/foundation/1.0"),
                    },
                    documents,
                ] }),
            )
        }
        ["1.0", "auth"] => {
            if sh.config.no_auth_endpoint {
                return Response::message(404, "this server has no authentication endpoint");
            }
            Response::json(
                200,
                &json!({
                    "oauth2_auth_url": format!("{cde}{AUTHORIZE_PATH}"),
                    "oauth2_token_url": format!("{cde}/oauth/token"),
                    "oauth2_dynamic_client_reg_url": null,
                    "http_basic_supported": sh.config.oauth_basic != BasicMode::Refused,
                    "supported_oauth2_flows": ["authorization_code_grant"],
                    "pkce_required": sh.config.pkce_required,
                    "code_challenge_method": "S256",
                }),
            )
        }
        _ => {
            if let Some(denied) = bearer_auth(sh, req) {
                return denied;
            }
            Response::json(
                200,
                &json!({ "id": CURRENT_USER_ID, "name": CURRENT_USER_NAME }),
            )
        }
    }
}

/// `None` when the request carries `Authorization: Bearer <t>` with `t` the required token or an
/// unexpired access token issued here; else the 401 to answer.
pub(crate) fn bearer_auth(sh: &Shared, req: &Request) -> Option<Response<'static>> {
    const CHALLENGE: &str = "Bearer realm=\"cde-simulator\"";
    let fail =
        |msg: &str| Some(Response::message(401, msg).with_header("WWW-Authenticate", CHALLENGE));
    let Some(value) = req.header("Authorization") else {
        return fail("authentication required: no Authorization header");
    };
    let token = match value.trim().split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return fail("authentication required: Authorization is not a Bearer token"),
    };
    if sh.config.required_token.as_deref() == Some(token) {
        return None;
    }
    match issued_token(sh, token) {
        IssuedToken::Valid => None,
        IssuedToken::Expired => Some(Response::message(401, "token expired").with_header(
            "WWW-Authenticate",
            "Bearer realm=\"cde-simulator\", error=\"invalid_token\", error_description=\"token expired\"",
        )),
        IssuedToken::Unknown => fail("invalid access token"),
    }
}

// ---------------------------------------------------------------------------------------------
// Authorization endpoint.

/// Checks that a redirect URI is `http://127.0.0.1:<port>/<path>`: ASCII without whitespace or
/// control characters, an explicit non-zero port, no user info, no fragment.
pub(crate) fn check_loopback_redirect(raw: &str) -> Result<(), String> {
    const PREFIX: &str = "http://127.0.0.1:";
    if raw.is_empty() {
        return Err("redirect_uri is required".into());
    }
    if !raw.is_ascii() || raw.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err("redirect_uri must be ASCII without spaces or control characters".into());
    }
    let Some(rest) = raw.strip_prefix(PREFIX) else {
        return Err("redirect_uri must be a loopback URI http://127.0.0.1:<port>/<path>".into());
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || rest.as_bytes().get(digits) != Some(&b'/') {
        return Err(
            "redirect_uri must have an explicit port followed by a path (http://127.0.0.1:<port>/<path>)"
                .into(),
        );
    }
    if raw.contains('#') {
        return Err("redirect_uri must not have a fragment".into());
    }
    let u = url::Url::parse(raw).map_err(|e| format!("redirect_uri is not a URL: {e}"))?;
    let loopback = u.scheme() == "http"
        && u.host() == Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
        && u.username().is_empty()
        && u.password().is_none()
        && u.port().is_some_and(|p| p != 0);
    if !loopback {
        return Err(
            "redirect_uri must be a loopback URI http://127.0.0.1:<port>/<path> with a non-zero, non-default port"
                .into(),
        );
    }
    Ok(())
}

fn bad_authorize(msg: &str) -> Response<'static> {
    html_page(
        400,
        "Sign-in request rejected",
        &format!(
            "<h1>Sign-in request rejected</h1>\n<p id=\"error\">{}</p>\n\
             <p>The application sent an invalid authorization request; you were not sent back to it.</p>",
            html_escape(msg)
        ),
    )
}

/// The single value of a parameter; an error when it appears more than once (RFC 6749 §3.1).
fn single<'a>(pairs: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, String> {
    let mut found = pairs
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str());
    let first = found.next();
    if found.next().is_some() {
        return Err(format!("{name} must not appear more than once"));
    }
    Ok(first)
}

fn validate_authorize(sh: &Shared, pairs: &[(String, String)]) -> Result<AuthRequest, String> {
    let cfg = &sh.config;
    let client_id = single(pairs, "client_id")?.unwrap_or("");
    if client_id.is_empty() {
        return Err("client_id is required".into());
    }
    if client_id != cfg.oauth_client_id {
        return Err(format!("unknown client_id {client_id:?}"));
    }
    let redirect_uri = single(pairs, "redirect_uri")?.unwrap_or("");
    check_loopback_redirect(redirect_uri)?;
    match single(pairs, "response_type")? {
        Some("code") => {}
        Some(other) => return Err(format!("unsupported response_type {other:?} (only code)")),
        None => return Err("response_type is required (code)".into()),
    }
    let state = single(pairs, "state")?.map(str::to_string);
    single(pairs, "scope")?;
    let method = single(pairs, "code_challenge_method")?;
    let challenge = match single(pairs, "code_challenge")? {
        None | Some("") => {
            if cfg.pkce_required {
                return Err("code_challenge is required (PKCE)".into());
            }
            if method.is_some() {
                return Err("code_challenge_method without code_challenge".into());
            }
            None
        }
        Some(c) => {
            let m = match method {
                Some("S256") => ChallengeMethod::S256,
                Some("plain") if cfg.pkce_method_plain => ChallengeMethod::Plain,
                None if cfg.pkce_method_plain => ChallengeMethod::Plain,
                None => {
                    return Err(
                        "code_challenge_method is required (S256; plain is not supported)".into(),
                    )
                }
                Some(other) => {
                    return Err(format!(
                        "unsupported code_challenge_method {other:?} (S256{})",
                        if cfg.pkce_method_plain {
                            " or plain"
                        } else {
                            ""
                        }
                    ))
                }
            };
            let well_formed = match m {
                ChallengeMethod::S256 => {
                    c.len() == 43
                        && c.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                }
                ChallengeMethod::Plain => pkce_text_ok(c),
            };
            if !well_formed {
                return Err(
                    "malformed code_challenge (S256: 43 base64url characters; plain: 43 to 128 unreserved characters)"
                        .into(),
                );
            }
            Some((c.to_string(), m))
        }
    };
    Ok(AuthRequest {
        client_id: client_id.to_string(),
        redirect_uri: redirect_uri.to_string(),
        state,
        challenge,
    })
}

/// The 302 back to the client with a new code (`allow`) or `error=access_denied`.
fn decide(sh: &Shared, request: AuthRequest, allow: bool) -> Response<'static> {
    let mut location = if allow {
        let code = random_id();
        let loc = append_param(&request.redirect_uri, "code", &code);
        sh.state().oauth.codes.insert(
            code,
            IssuedCode {
                request: request.clone(),
                issued: Instant::now(),
            },
        );
        loc
    } else {
        append_param(&request.redirect_uri, "error", "access_denied")
    };
    if let Some(state) = &request.state {
        location = append_param(&location, "state", state);
    }
    Response::redirect(302, &location)
}

fn sign_in_page(sh: &Shared, request: AuthRequest) -> Response<'static> {
    let id = random_id();
    let client = html_escape(&request.client_id);
    let back_to = html_escape(
        request
            .redirect_uri
            .split(['?', '#'])
            .next()
            .unwrap_or(&request.redirect_uri),
    );
    sh.state().oauth.pending.insert(id.clone(), request);
    html_page(
        200,
        "Sign in",
        &format!(
            "<h1>Sign in to the CDE simulator</h1>\n\
             <p>The application <strong id=\"client-id\">{client}</strong> asks to use the CDE \
             as <strong id=\"user-name\">{}</strong>.</p>\n\
             <p>You will be sent back to <span class=\"file\" id=\"redirect-uri\">{back_to}</span>.</p>\n\
             <form method=\"post\" action=\"{AUTHORIZE_PATH}\" id=\"authorize\">\n\
             <input type=\"hidden\" name=\"request\" value=\"{id}\">\n\
             <button type=\"submit\" name=\"decision\" value=\"allow\" id=\"sign-in\">Sign in</button>\n\
             <button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">Deny</button>\n\
             </form>",
            html_escape(CURRENT_USER_NAME)
        ),
    )
}

fn authorize(sh: &Shared, req: &Request) -> Response<'static> {
    if req.method == "POST" {
        // The sign-in form: request=<id>&decision=allow|deny.
        let pairs = parse_query(&String::from_utf8_lossy(&req.body));
        let (Ok(Some(id)), Ok(decision)) = (single(&pairs, "request"), single(&pairs, "decision"))
        else {
            return bad_authorize("the sign-in form was not filled in correctly");
        };
        let allow = match decision {
            Some("allow") => true,
            Some("deny") => false,
            _ => return bad_authorize("decision must be allow or deny"),
        };
        let Some(request) = sh.state().oauth.pending.remove(id) else {
            return bad_authorize("this sign-in page has expired or was already used");
        };
        return decide(sh, request, allow);
    }
    if !is_get(req) {
        let mut r = bad_authorize("method not allowed").with_header("Allow", "GET, HEAD, POST");
        r.status = 405;
        return r;
    }
    let pairs = req.query_pairs();
    let request = match validate_authorize(sh, &pairs) {
        Ok(r) => r,
        Err(msg) => return bad_authorize(&msg),
    };
    match single(&pairs, "auto") {
        Ok(None) => sign_in_page(sh, request),
        Ok(Some("allow")) => decide(sh, request, true),
        Ok(Some("deny")) => decide(sh, request, false),
        Ok(Some(_)) => bad_authorize("auto must be allow or deny"),
        Err(msg) => bad_authorize(&msg),
    }
}

// ---------------------------------------------------------------------------------------------
// Token endpoint.

fn oauth_error(status: u16, error: &str, description: &str) -> Response<'static> {
    Response::json(
        status,
        &json!({ "error": error, "error_description": description }),
    )
    .with_header("Pragma", "no-cache")
}

fn invalid_request(description: &str) -> Response<'static> {
    oauth_error(400, "invalid_request", description)
}

fn invalid_grant(description: &str) -> Response<'static> {
    oauth_error(400, "invalid_grant", description)
}

/// 401 `invalid_client`; with the `Basic` challenge when the client tried Basic or may use it.
fn invalid_client(sh: &Shared, description: &str) -> Response<'static> {
    let r = oauth_error(401, "invalid_client", description);
    if sh.config.oauth_basic == BasicMode::Refused {
        r
    } else {
        r.with_header("WWW-Authenticate", "Basic realm=\"cde-simulator\"")
    }
}

/// The Basic credentials of a token request: `None` without `Authorization: Basic`,
/// `Some(None)` when malformed, else the (id, raw secret) pair before form-decoding.
fn basic_credentials(req: &Request) -> Option<Option<(String, String)>> {
    let value = req.header("Authorization")?.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64_decode(rest.trim()).and_then(|b| String::from_utf8(b).ok());
    Some(decoded.and_then(|text| {
        text.split_once(':')
            .map(|(id, secret)| (id.to_string(), secret.to_string()))
    }))
}

/// Form-decoding of a Basic credential part (RFC 6749 §2.3.1): `+` is a space.
fn form_decode(s: &str) -> String {
    percent_decode(&s.replace('+', " "))
}

/// Authenticates the client of a token request; the client id it identified with, if any.
fn authenticate_client(
    sh: &Shared,
    req: &Request,
    pairs: &[(String, String)],
) -> Result<Option<String>, Response<'static>> {
    let cfg = &sh.config;
    let body_id = single(pairs, "client_id").map_err(|m| invalid_request(&m))?;
    let body_secret = single(pairs, "client_secret").map_err(|m| invalid_request(&m))?;
    if let Some(basic) = basic_credentials(req) {
        if cfg.oauth_basic == BasicMode::Refused {
            return Err(invalid_client(
                sh,
                "HTTP Basic client authentication is not accepted: send client_id and client_secret in the body",
            ));
        }
        let Some((raw_id, raw_secret)) = basic else {
            return Err(invalid_client(sh, "malformed HTTP Basic credentials"));
        };
        if body_secret.is_some() {
            return Err(invalid_request(
                "more than one client authentication method (HTTP Basic and client_secret)",
            ));
        }
        let id = form_decode(&raw_id);
        let id_ok = |candidate: &str| candidate == raw_id || candidate == id;
        if let Some(b) = body_id {
            if !id_ok(b) {
                return Err(invalid_request(
                    "client_id in the body differs from the HTTP Basic one",
                ));
            }
        }
        if !id_ok(&cfg.oauth_client_id) {
            return Err(invalid_client(sh, "unknown client"));
        }
        let secret = form_decode(&raw_secret);
        match &cfg.oauth_client_secret {
            Some(s) if *s == raw_secret || *s == secret => {}
            Some(_) => return Err(invalid_client(sh, "wrong client secret")),
            None if raw_secret.is_empty() => {}
            None => {
                return Err(invalid_client(
                    sh,
                    "this is a public client: it has no secret",
                ))
            }
        }
        return Ok(Some(cfg.oauth_client_id.clone()));
    }
    if let Some(b) = body_id {
        if b != cfg.oauth_client_id {
            return Err(invalid_client(sh, "unknown client"));
        }
    }
    match (&cfg.oauth_client_secret, body_secret) {
        (Some(_), _) if cfg.oauth_basic == BasicMode::Required => Err(invalid_client(
            sh,
            "client authentication by HTTP Basic is required",
        )),
        (Some(_), None) => Err(invalid_client(sh, "client authentication required")),
        (Some(s), Some(given)) => {
            if body_id.is_none() {
                Err(invalid_request("client_id is required with client_secret"))
            } else if given == s {
                Ok(body_id.map(str::to_string))
            } else {
                Err(invalid_client(sh, "wrong client secret"))
            }
        }
        (None, Some(given)) if !given.is_empty() => Err(invalid_client(
            sh,
            "this is a public client: it has no secret",
        )),
        (None, _) => Ok(body_id.map(str::to_string)),
    }
}

/// Issues a new access and refresh token pair to this client.
fn issue_tokens(sh: &Shared, client_id: &str) -> Response<'static> {
    let access = format!("at-{}", random_id());
    let refresh = format!("rt-{}", random_id());
    let secs = sh.config.access_token_lifetime;
    {
        let mut st = sh.state();
        let o = &mut st.oauth;
        o.access
            .insert(access.clone(), (Instant::now(), Duration::from_secs(secs)));
        o.access_order.push(access.clone());
        o.refresh.insert(refresh.clone(), client_id.to_string());
    }
    let expires_in = if sh.config.expires_in_as_string {
        Value::String(secs.to_string())
    } else {
        Value::from(secs)
    };
    let status = if sh.config.token_status_201 { 201 } else { 200 };
    Response::json(
        status,
        &json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "refresh_token": refresh,
        }),
    )
    .with_header("Pragma", "no-cache")
}

fn authorization_code_grant(
    sh: &Shared,
    pairs: &[(String, String)],
    client_id: Option<String>,
) -> Result<Response<'static>, Response<'static>> {
    let Some(client_id) = client_id else {
        return Err(invalid_request("client_id is required"));
    };
    let one = |name: &str| single(pairs, name).map_err(|m| invalid_request(&m));
    let Some(code) = one("code")?.filter(|c| !c.is_empty()) else {
        return Err(invalid_request("code is required"));
    };
    let Some(redirect_uri) = one("redirect_uri")? else {
        return Err(invalid_request("redirect_uri is required"));
    };
    let verifier = one("code_verifier")?;
    // A code is used up by the first (client-authenticated) request that presents it.
    let Some(issued) = sh.state().oauth.codes.remove(code) else {
        return Err(invalid_grant("unknown or already used authorization code"));
    };
    if issued.issued.elapsed() >= Duration::from_secs(sh.config.oauth_code_lifetime) {
        return Err(invalid_grant("authorization code expired"));
    }
    let request = issued.request;
    if request.client_id != client_id {
        return Err(invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if request.redirect_uri != redirect_uri {
        return Err(invalid_grant(
            "redirect_uri differs from the one of the authorization request",
        ));
    }
    if let Some((challenge, method)) = &request.challenge {
        let Some(verifier) = verifier else {
            return Err(invalid_request("code_verifier is required (PKCE)"));
        };
        if !pkce_text_ok(verifier) {
            return Err(invalid_grant(
                "malformed code_verifier (43 to 128 unreserved characters)",
            ));
        }
        let computed = match method {
            ChallengeMethod::S256 => pkce_s256_challenge(verifier),
            ChallengeMethod::Plain => verifier.to_string(),
        };
        if computed != *challenge {
            return Err(invalid_grant(
                "code_verifier does not match the code_challenge",
            ));
        }
    }
    Ok(issue_tokens(sh, &client_id))
}

fn refresh_token_grant(
    sh: &Shared,
    pairs: &[(String, String)],
    client_id: Option<String>,
) -> Result<Response<'static>, Response<'static>> {
    let Some(token) = single(pairs, "refresh_token")
        .map_err(|m| invalid_request(&m))?
        .filter(|t| !t.is_empty())
    else {
        return Err(invalid_request("refresh_token is required"));
    };
    // Rotation: the presented refresh token is used up whatever happens next.
    let Some(owner) = sh.state().oauth.refresh.remove(token) else {
        return Err(invalid_grant(
            "unknown, revoked or already used refresh token",
        ));
    };
    if client_id.as_deref().is_some_and(|c| c != owner) {
        return Err(invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    Ok(issue_tokens(sh, &owner))
}

/// The form fields of a token request as a JSON object (first value of each name), plus
/// `basic_auth`.
fn token_request_record(pairs: &[(String, String)], basic: bool) -> Value {
    let mut seen = HashSet::new();
    let mut o = Map::new();
    for (k, v) in pairs {
        if seen.insert(k.as_str()) {
            o.insert(k.clone(), Value::String(v.clone()));
        }
    }
    o.insert("basic_auth".into(), Value::Bool(basic));
    Value::Object(o)
}

fn token(sh: &Shared, req: &Request) -> Response<'static> {
    if req.method != "POST" {
        return oauth_error(405, "invalid_request", "the token endpoint takes POST")
            .with_header("Allow", "POST");
    }
    let pairs = parse_query(&String::from_utf8_lossy(&req.body));
    let basic = basic_credentials(req).is_some();
    sh.state()
        .oauth
        .token_requests
        .push(token_request_record(&pairs, basic));
    let form = req
        .header("Content-Type")
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form {
        return invalid_request("the body must be application/x-www-form-urlencoded");
    }
    let mut names = HashSet::new();
    if let Some((dup, _)) = pairs.iter().find(|(k, _)| !names.insert(k.as_str())) {
        return invalid_request(&format!("{dup} must not appear more than once"));
    }
    let grant_type = match single(&pairs, "grant_type") {
        Ok(Some(g)) => g,
        Ok(None) => return invalid_request("grant_type is required"),
        Err(m) => return invalid_request(&m),
    };
    if !matches!(grant_type, "authorization_code" | "refresh_token") {
        return oauth_error(
            400,
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token",
        );
    }
    let client_id = match authenticate_client(sh, req, &pairs) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let result = if grant_type == "authorization_code" {
        authorization_code_grant(sh, &pairs, client_id)
    } else {
        refresh_token_grant(sh, &pairs, client_id)
    };
    result.unwrap_or_else(|r| r)
}

/// Routes `/oauth/…` (`rest` is what follows `oauth`).
pub(crate) fn oauth(sh: &Shared, req: &Request, rest: &[&str]) -> Response<'static> {
    match rest {
        ["authorize"] => authorize(sh, req),
        ["token"] => token(sh, req),
        _ => Response::message(404, "not found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_vectors() {
        // RFC 4648 §10.
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(plain.as_bytes()), enc);
            assert_eq!(base64_decode(enc).as_deref(), Some(plain.as_bytes()));
            assert_eq!(
                base64_decode(enc.trim_end_matches('=')).as_deref(),
                Some(plain.as_bytes())
            );
            assert_eq!(
                base64url_encode(plain.as_bytes()),
                enc.trim_end_matches('=')
            );
        }
        assert_eq!(base64url_encode(&[0xfb, 0xff]), "-_8");
        for bad in ["Z", "Zm9v!", "Zm 9v", "Zm9vY", "-_8"] {
            assert_eq!(base64_decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn basic_authorization_header() {
        assert_eq!(
            basic_authorization("ocde-test-client", "s3cret"),
            format!("Basic {}", base64_encode(b"ocde-test-client:s3cret"))
        );
        // Form-urlencoded before base64: ':' in a secret cannot split it.
        assert_eq!(
            basic_authorization("a", "b:c d"),
            format!("Basic {}", base64_encode(b"a:b%3Ac%20d"))
        );
    }

    #[test]
    fn loopback_redirects() {
        for ok in [
            "http://127.0.0.1:5000/callback",
            "http://127.0.0.1:1/",
            "http://127.0.0.1:65535/cb?x=1&y=%20",
        ] {
            assert_eq!(check_loopback_redirect(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "https://127.0.0.1:5000/cb",
            "http://localhost:5000/cb",
            "http://[::1]:5000/cb",
            "http://127.0.0.2:5000/cb",
            "http://127.0.0.1/cb",
            "http://127.0.0.1:/cb",
            "http://127.0.0.1:5000",
            "http://127.0.0.1:5000@evil.example/cb",
            "http://127.0.0.1:5000\\@evil.example/cb",
            "http://127.0.0.1:0/cb",
            "http://127.0.0.1:80/cb",
            "http://127.0.0.1:99999/cb",
            "http://127.0.0.1:5000/cb#frag",
            "http://127.0.0.1:5000/c b",
            "http://127.0.0.1:5000/cb\r\nX: y",
            "http://127.0.0.1:5000/ü",
            "HTTP://127.0.0.1:5000/cb",
            "http://127.0.0.1.evil.example:5000/cb",
        ] {
            assert!(check_loopback_redirect(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn pkce_texts() {
        assert!(pkce_text_ok(&"a".repeat(43)));
        assert!(pkce_text_ok(&"-._~".repeat(32)));
        assert!(!pkce_text_ok(&"a".repeat(42)));
        assert!(!pkce_text_ok(&"a".repeat(129)));
        assert!(!pkce_text_ok(&format!("{}+", "a".repeat(43))));
    }
}
