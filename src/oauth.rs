//! OAuth2 sign-in: the authorization code grant with PKCE over the loopback listener, and the
//! token requests (code exchange and refresh). Tokens never appear in errors, URLs or logs.

use crate::abort::AbortToken;
use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::foundation::AuthInfo;
use crate::http::{describe, parse_url, Credentials, Method, Transport};
use crate::listener::{random_hex, CallbackKind, CallbackListener, CallbackOutcome, WaitResult};
use crate::models::error_body_message;
use serde_json::Value;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a sign-in waits for the browser by default.
pub const DEFAULT_SIGN_IN_EXPIRY: Duration = Duration::from_secs(600);

/// The registered application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthClient {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret` of a confidential client; `None` for a public client (the usual case).
    pub client_secret: Option<String>,
}

/// A set of tokens, as given to the host.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSet {
    /// The access token.
    pub access_token: String,
    /// The refresh token, if the server gave one.
    pub refresh_token: Option<String>,
    /// When the access token expires (Unix seconds), if the server said.
    pub expires_at_unix: Option<i64>,
    /// Seconds the access token lives, if the server said.
    pub expires_in: Option<u64>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a token, even in a debug dump.
        f.debug_struct("TokenSet")
            .field("expires_at_unix", &self.expires_at_unix)
            .finish_non_exhaustive()
    }
}

/// Unix time now, in seconds.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Base64 (RFC 4648); `url` selects the URL-safe alphabet without padding.
pub fn base64(bytes: &[u8], url: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                let c = B64[((n >> (18 - 6 * i)) & 63) as usize] as char;
                out.push(match (url, c) {
                    (true, '+') => '-',
                    (true, '/') => '_',
                    (_, c) => c,
                });
            } else if !url {
                out.push('=');
            }
        }
    }
    out
}

/// A PKCE pair: (code_verifier, code_challenge, method). S256 unless the server demands plain.
pub fn pkce(auth: &AuthInfo) -> Result<(String, String, &'static str)> {
    let mut raw = [0u8; 32];
    getrandom::getrandom(&mut raw).map_err(|e| {
        Error::new(
            ErrorKind::Internal,
            format!("no randomness from the OS: {e}"),
        )
    })?;
    let verifier = base64(&raw, true); // 43 characters of [A-Za-z0-9-_]
    if auth.code_challenge_method.as_deref() == Some("plain") {
        return Ok((verifier.clone(), verifier, "plain"));
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    Ok((verifier, base64(digest.as_ref(), true), "S256"))
}

/// Longest access-token lifetime taken from a server (ten years, in seconds).
pub const MAX_TOKEN_LIFETIME_S: u64 = 10 * 365 * 24 * 3600;

/// Reads a token answer: 200 or 201, `access_token` required, `expires_in` a number or a string.
pub fn parse_token_response(body: &[u8]) -> Result<TokenSet> {
    let v: Value = serde_json::from_slice(crate::models::without_bom(body)).map_err(|e| {
        Error::new(
            ErrorKind::Protocol,
            format!("token answer is not valid JSON: {e}"),
        )
    })?;
    let access_token = v
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::new(ErrorKind::Protocol, "token answer has no access_token"))?
        .to_string();
    let expires_in = match v.get("expires_in") {
        Some(Value::Number(n)) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    // A lifetime beyond ten years is a server's "forever" (or garbage such as 1e300): cap it so
    // that expiry arithmetic can never overflow.
    .map(|e: u64| e.min(MAX_TOKEN_LIFETIME_S));
    Ok(TokenSet {
        access_token,
        refresh_token: v
            .get("refresh_token")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        expires_at_unix: expires_in.map(|e| unix_now() + e as i64),
        expires_in,
    })
}

/// POSTs a token request (`form`) to the token endpoint, authenticating the client by HTTP Basic
/// when the server supports it and a secret is set, else in the body. Never sends the bearer token.
pub fn token_request(
    transport: &Transport,
    auth: &AuthInfo,
    client: &OAuthClient,
    form: &[(&str, &str)],
) -> Result<TokenSet> {
    let url = parse_url(&auth.token_url, "oauth2_token_url")
        .map_err(|e| Error::new(ErrorKind::Protocol, e.message))?;
    let mut body = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in form {
        body.append_pair(k, v);
    }
    body.append_pair("client_id", &client.client_id);
    let mut basic = None;
    if let Some(secret) = &client.client_secret {
        if auth.http_basic_supported {
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = format!("{}:{}", enc(&client.client_id), enc(secret));
            basic = Some(format!("Basic {}", base64(pair.as_bytes(), false)));
        } else {
            body.append_pair("client_secret", secret);
        }
    }
    let body = body.finish();
    let mut headers = vec![("Accept", "application/json")];
    if let Some(b) = &basic {
        headers.push(("Authorization", b.as_str()));
    }
    let origin = url.origin();
    let no_token = Credentials {
        token: None,
        origin: &origin,
    };
    let mut answer = transport.send(
        Method::PostForm(body.as_bytes()),
        &url,
        no_token,
        &headers,
        &AbortToken::none(),
    )?;
    let status = answer.response.status().as_u16();
    let bytes = crate::http::read_small_body(&mut answer, 1024 * 1024, &AbortToken::none())?;
    if status == 200 || status == 201 {
        return parse_token_response(&bytes);
    }
    let code = serde_json::from_slice::<Value>(crate::models::without_bom(&bytes))
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string));
    let kind = match (status, code.as_deref()) {
        (400 | 401, Some("invalid_grant" | "invalid_client" | "unauthorized_client"))
        | (401 | 403, _) => ErrorKind::Unauthorized,
        _ => ErrorKind::Http,
    };
    let mut message = format!("token request to {} answered HTTP {status}", describe(&url));
    if let Some(explained) = error_body_message(&bytes) {
        message.push_str(": ");
        message.push_str(&explained);
    }
    Err(Error::new(kind, message).with_status(status))
}

/// Where a sign-in stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignInStatus {
    /// Waiting for the browser.
    Pending,
    /// Tokens received and stored on the client.
    SignedIn,
    /// The user denied (`error=access_denied`).
    Denied,
    /// No redirect before the expiry.
    Expired,
    /// Aborted by the host.
    Aborted,
}

/// One running sign-in. `abort` may be called from another thread while `poll` blocks.
pub struct SignInSession {
    client: Client,
    auth: AuthInfo,
    oauth: OAuthClient,
    listener: Mutex<CallbackListener>,
    abort: Box<dyn Fn() + Send + Sync>,
    url: String,
    redirect_uri: String,
    verifier: String,
    deadline: Instant,
    finished: Mutex<Option<Result<SignInStatus>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SignInSession {
    /// Starts a sign-in: binds the loopback listener, builds the authorization URL (PKCE,
    /// random `state`) and hands it to `open_url` on this thread.
    pub fn start(
        client: &Client,
        expires_in: Duration,
        open_url: &mut dyn FnMut(&str) -> Result<()>,
    ) -> Result<SignInSession> {
        let (auth, oauth) = client.oauth_setup()?;
        if !auth.supported_flows.is_empty()
            && !auth
                .supported_flows
                .iter()
                .any(|f| f == "authorization_code_grant")
        {
            return Err(Error::new(
                ErrorKind::Protocol,
                "the server does not offer the authorization code grant",
            ));
        }
        let state = random_hex(16)?;
        let listener = CallbackListener::bind_for(
            0,
            CallbackKind::OAuth {
                state: state.clone(),
            },
        )?;
        let redirect_uri = listener.callback_url();
        let (verifier, challenge, method) = pkce(&auth)?;
        let mut url = parse_url(&auth.auth_url, "oauth2_auth_url")
            .map_err(|e| Error::new(ErrorKind::Protocol, e.message))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &oauth.client_id)
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("state", &state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", method);
        let url = url.to_string();
        open_url(&url)?;
        let abort = Box::new(listener.abort_handle());
        Ok(SignInSession {
            client: client.clone(),
            auth,
            oauth,
            listener: Mutex::new(listener),
            abort,
            url,
            redirect_uri,
            verifier,
            deadline: Instant::now() + expires_in,
            finished: Mutex::new(None),
        })
    }

    /// The authorization URL the browser opens.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The client this sign-in stores its tokens on.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Aborts from any thread: a blocked or later poll returns [`SignInStatus::Aborted`].
    pub fn abort(&self) {
        (self.abort)()
    }

    /// Waits up to `timeout` for the redirect; on a code, exchanges it for tokens, which the
    /// client then uses. A final status (or the exchange's error) is returned again later.
    pub fn poll(&self, timeout: Duration) -> Result<SignInStatus> {
        let mut finished = lock(&self.finished);
        if let Some(done) = finished.as_ref() {
            return done.clone();
        }
        let waited = lock(&self.listener).wait(timeout, self.deadline);
        let outcome = match waited {
            WaitResult::TimedOut => return Ok(SignInStatus::Pending),
            WaitResult::Aborted => Ok(SignInStatus::Aborted),
            WaitResult::Expired => Ok(SignInStatus::Expired),
            WaitResult::Failed(panic) => Err(Error::new(
                ErrorKind::Internal,
                format!("internal error in the sign-in listener (caught panic): {panic}"),
            )),
            WaitResult::Callback(CallbackOutcome::Denied(e)) if e == "access_denied" => {
                Ok(SignInStatus::Denied)
            }
            WaitResult::Callback(CallbackOutcome::Denied(e)) => Err(Error::new(
                ErrorKind::Unauthorized,
                format!(
                    "the authorization server refused the sign-in: error={}",
                    crate::models::clip(&e, 80)
                ),
            )),
            WaitResult::Callback(CallbackOutcome::Authorized(code)) => {
                self.exchange(&code).map(|_| SignInStatus::SignedIn)
            }
            WaitResult::Callback(_) => Err(Error::new(
                ErrorKind::Internal,
                "a selection callback reached a sign-in listener",
            )),
        };
        lock(&self.listener).stop();
        *finished = Some(outcome.clone());
        outcome
    }

    fn exchange(&self, code: &str) -> Result<()> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("code_verifier", self.verifier.as_str()),
        ];
        let tokens = token_request(
            &self.client.transport_for_auth(),
            &self.auth,
            &self.oauth,
            &form,
        )?;
        self.client.store_tokens(tokens);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_lifetimes_are_capped_not_overflowed() {
        for body in [
            r#"{"access_token":"a","expires_in":"9223372036854775807"}"#,
            r#"{"access_token":"a","expires_in":18446744073709551615}"#,
            r#"{"access_token":"a","expires_in":1e300}"#,
        ] {
            let t = parse_token_response(body.as_bytes()).unwrap();
            assert_eq!(t.expires_in, Some(MAX_TOKEN_LIFETIME_S), "{body}");
            assert!(t.expires_at_unix.unwrap() > unix_now(), "{body}");
        }
        let t = parse_token_response(br#"{"access_token":"a","expires_in":"3600"}"#).unwrap();
        assert_eq!(t.expires_in, Some(3600));
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, std, url) in [
            ("", "", ""),
            ("f", "Zg==", "Zg"),
            ("fo", "Zm8=", "Zm8"),
            ("foo", "Zm9v", "Zm9v"),
            ("foob", "Zm9vYg==", "Zm9vYg"),
            ("fooba", "Zm9vYmE=", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes(), false), std);
            assert_eq!(base64(input.as_bytes(), true), url);
        }
        assert_eq!(base64(&[0xfb, 0xff], true), "-_8");
    }

    #[test]
    fn pkce_s256_matches_the_rfc_7636_example() {
        // RFC 7636 appendix B.
        let digest = ring::digest::digest(
            &ring::digest::SHA256,
            b"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        );
        assert_eq!(
            base64(digest.as_ref(), true),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let auth = AuthInfo::default();
        let (verifier, challenge, method) = pkce(&auth).unwrap();
        assert_eq!(method, "S256");
        assert_eq!(verifier.len(), 43);
        assert_ne!(verifier, challenge);
        let plain = AuthInfo {
            code_challenge_method: Some("plain".into()),
            ..AuthInfo::default()
        };
        let (v, c, m) = pkce(&plain).unwrap();
        assert_eq!((v == c, m), (true, "plain"));
    }

    #[test]
    fn token_answers_in_every_shape() {
        let t = parse_token_response(
            br#"{"access_token":"a","expires_in":"3600","refresh_token":"r","x":1}"#,
        )
        .unwrap();
        assert_eq!(t.expires_in, Some(3600));
        assert_eq!(t.refresh_token.as_deref(), Some("r"));
        let t =
            parse_token_response(br#"{"access_token":"SECRET-ACCESS","expires_in":60}"#).unwrap();
        assert_eq!((t.expires_in, t.refresh_token.as_deref()), (Some(60), None));
        assert!(
            !format!("{t:?}").contains("SECRET"),
            "Debug prints the token"
        );
        assert_eq!(
            parse_token_response(br#"{"token_type":"Bearer"}"#)
                .unwrap_err()
                .kind,
            ErrorKind::Protocol
        );
    }
}
