//! The Foundation API and the OAuth2 authorization server: discovery, authorization code + PKCE
//! over a loopback redirect, token refresh with rotation, client authentication modes, and the
//! issued access tokens on the CDE API.

mod common;

use std::time::Duration;

use cde_simulator::{
    basic_authorization, percent_decode, percent_encode, pkce_s256_challenge, BasicMode, SimConfig,
    Simulator,
};
use common::*;
use serde_json::{json, Value};

const CLIENT: &str = "ocde-test-client";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const REDIRECT: &str = "http://127.0.0.1:49152/oauth/callback";

fn start(config: SimConfig) -> Simulator {
    Simulator::start(config).expect("start")
}

/// `<cde>/oauth/authorize?…` with these parameters (values percent-encoded).
fn authorize_url_with(sim: &Simulator, params: &[(&str, &str)]) -> String {
    let q: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect();
    format!("{}/oauth/authorize?{}", sim.cde_origin(), q.join("&"))
}

/// A complete, valid authorization request for this redirect URI and verifier.
fn authorize_url(sim: &Simulator, redirect: &str, state: &str, verifier: &str) -> String {
    let challenge = pkce_s256_challenge(verifier);
    authorize_url_with(
        sim,
        &[
            ("response_type", "code"),
            ("client_id", CLIENT),
            ("redirect_uri", redirect),
            ("state", state),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("scope", "openid documents"),
        ],
    )
}

/// The decoded query parameters of a redirect `Location`.
fn redirect_params(location: &str) -> Vec<(String, String)> {
    let (_, params) = location_params(location);
    params
        .into_iter()
        .map(|(k, v)| (k, percent_decode(&v)))
        .collect()
}

fn param(params: &[(String, String)], name: &str) -> Option<String> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// `?auto=allow` on a valid request: the code from the 302.
fn auto_code(sim: &Simulator, redirect: &str, verifier: &str) -> String {
    let r = get(&format!(
        "{}&auto=allow",
        authorize_url(sim, redirect, "st", verifier)
    ));
    assert_eq!(r.status, 302, "{}", r.text());
    let location = r.header("Location").expect("Location");
    assert!(
        location.starts_with(&format!("{redirect}?code=")),
        "{location}"
    );
    let params = redirect_params(location);
    assert_eq!(param(&params, "state").as_deref(), Some("st"));
    param(&params, "code").expect("code")
}

/// POSTs a form to the token endpoint, with HTTP Basic when `basic` is `Some((id, secret))`.
fn token_post(sim: &Simulator, fields: &[(&str, &str)], basic: Option<(&str, &str)>) -> Resp {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect();
    let auth = basic.map(|(id, secret)| basic_authorization(id, secret));
    let mut extra = vec![("Content-Type", "application/x-www-form-urlencoded")];
    if let Some(a) = auth.as_deref() {
        extra.push(("Authorization", a));
    }
    request(
        "POST",
        &format!("{}/oauth/token", sim.cde_origin()),
        &extra,
        Some(body.join("&").as_bytes()),
    )
}

fn exchange_code(sim: &Simulator, code: &str, verifier: &str) -> Resp {
    token_post(
        sim,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", CLIENT),
            ("code_verifier", verifier),
        ],
        None,
    )
}

fn refresh(sim: &Simulator, refresh_token: &str) -> Resp {
    token_post(
        sim,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", CLIENT),
        ],
        None,
    )
}

/// Signs in with `?auto=allow` and exchanges the code: the token answer.
fn sign_in(sim: &Simulator) -> Value {
    let code = auto_code(sim, REDIRECT, VERIFIER);
    let r = exchange_code(sim, &code, VERIFIER);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn assert_oauth_error(r: &Resp, status: u16, error: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    let v = r.json();
    assert_eq!(v["error"], error, "{v}");
    assert!(v["error_description"].is_string(), "{v}");
}

fn current_user(sim: &Simulator, token: Option<&str>) -> Resp {
    let auth = token.map(|t| format!("Bearer {t}"));
    let extra: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    get_with(
        &format!("{}/foundation/1.0/current-user", sim.cde_origin()),
        &extra,
    )
}

#[test]
fn discovery_versions_and_auth() {
    let sim = start(SimConfig {
        required_token: Some("fixed-token".into()),
        ..SimConfig::default()
    });
    let cde = sim.cde_origin();
    // Public even when the API needs a token.
    let r = get(&format!("{cde}/foundation/versions"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(
        r.json(),
        json!({ "versions": [
            { "api_id": "foundation", "version_id": "1.0", "api_base_url": format!("{cde}/foundation/1.0") },
            { "api_id": "documents", "version_id": "1.0",
              "detailed_version": "https://github.com/buildingSMART/documents-API",
              "api_base_url": format!("{cde}/documents/1.0") }
        ] })
    );
    let r = get(&format!("{cde}/foundation/1.0/auth"));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({
            "oauth2_auth_url": format!("{cde}/oauth/authorize"),
            "oauth2_token_url": format!("{cde}/oauth/token"),
            "oauth2_dynamic_client_reg_url": null,
            "http_basic_supported": true,
            "supported_oauth2_flows": ["authorization_code_grant"],
            "pkce_required": true,
            "code_challenge_method": "S256"
        })
    );
    let r = request(
        "POST",
        &format!("{cde}/foundation/versions"),
        &[],
        Some(b""),
    );
    assert_eq!(r.status, 405);
    assert_eq!(get(&format!("{cde}/foundation/2.0/auth")).status, 404);
    assert_eq!(get(&format!("{cde}/foundation")).status, 404);
}

#[test]
fn discovery_variants() {
    let sim = start(SimConfig {
        omit_api_base_url: true,
        no_auth_endpoint: true,
        ..SimConfig::default()
    });
    let cde = sim.cde_origin();
    let v = get(&format!("{cde}/foundation/versions")).json();
    assert_eq!(
        v["versions"][0]["api_base_url"],
        format!("{cde}/foundation/1.0")
    );
    let docs = v["versions"][1].as_object().unwrap();
    assert_eq!(docs["api_id"], "documents");
    assert!(!docs.contains_key("api_base_url"), "{v}");
    let r = get(&format!("{cde}/foundation/1.0/auth"));
    assert_eq!(r.status, 404);
    assert!(r.json()["message"].is_string());

    let sim = start(SimConfig {
        oauth_basic: BasicMode::Refused,
        pkce_required: false,
        ..SimConfig::default()
    });
    let v = get(&format!("{}/foundation/1.0/auth", sim.cde_origin())).json();
    assert_eq!(v["http_basic_supported"], false);
    assert_eq!(v["pkce_required"], false);
    let sim = start(SimConfig {
        oauth_basic: BasicMode::Required,
        ..SimConfig::default()
    });
    let v = get(&format!("{}/foundation/1.0/auth", sim.cde_origin())).json();
    assert_eq!(v["http_basic_supported"], true);
}

#[test]
fn pkce_s256_code_exchange_and_current_user() {
    let sim = start(SimConfig::default());
    assert_eq!(current_user(&sim, None).status, 401);
    let tokens = sign_in(&sim);
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    assert!(!refresh_token.is_empty() && refresh_token != access);
    assert_eq!(
        tokens.as_object().unwrap().len(),
        4,
        "access_token, token_type, expires_in, refresh_token: {tokens}"
    );
    assert_eq!(sim.issued_access_tokens(), vec![access.clone()]);

    let r = current_user(&sim, Some(&access));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({ "id": "user-1", "name": "Ada Lovelace" }));
    let r = current_user(&sim, Some("not-issued"));
    assert_eq!(r.status, 401);
    assert!(r.header("WWW-Authenticate").unwrap().starts_with("Bearer"));
    let r = get_with(
        &format!("{}/foundation/1.0/current-user", sim.cde_origin()),
        &[("Authorization", "Basic Zm9vOmJhcg==")],
    );
    assert_eq!(r.status, 401);

    // The token request as recorded, verifier included.
    let reqs = sim.token_requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0]["grant_type"], "authorization_code");
    assert_eq!(reqs[0]["code_verifier"], VERIFIER);
    assert_eq!(reqs[0]["redirect_uri"], REDIRECT);
    assert_eq!(reqs[0]["basic_auth"], false);
}

#[test]
fn issued_tokens_open_the_cde_api_next_to_the_required_token() {
    let sim = start(SimConfig {
        required_token: Some("fixed-token".into()),
        ..SimConfig::default()
    });
    let version = format!("{}/documents/doc-1/versions/1", sim.documents_api_url());
    assert_eq!(get(&version).status, 401);
    let access = sign_in(&sim)["access_token"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {access}");
    let r = get_with(&version, &[("Authorization", &bearer)]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        get_with(&version, &[("Authorization", "Bearer fixed-token")]).status,
        200
    );
    assert_eq!(
        get_with(&version, &[("Authorization", "Bearer at-unknown")]).status,
        401
    );
    // current-user takes either too.
    assert_eq!(current_user(&sim, Some("fixed-token")).status, 200);
    assert_eq!(current_user(&sim, Some(&access)).status, 200);
    // select-documents works with the issued token.
    let body = json!({ "callback": { "url": "http://127.0.0.1:9/cb" } });
    assert_eq!(post_select(&sim, &body, Some(&access)).status, 200);
}

#[test]
fn access_tokens_expire() {
    let sim = start(SimConfig {
        required_token: Some("fixed-token".into()),
        access_token_lifetime: 1,
        ..SimConfig::default()
    });
    let tokens = sign_in(&sim);
    assert_eq!(tokens["expires_in"], 1);
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(current_user(&sim, Some(access)).status, 200);
    std::thread::sleep(Duration::from_millis(1100));
    let r = current_user(&sim, Some(access));
    assert_eq!(r.status, 401);
    assert_eq!(r.json(), json!({ "message": "token expired" }));
    let r = get_with(
        &format!("{}/documents/doc-1/versions", sim.documents_api_url()),
        &[("Authorization", &format!("Bearer {access}"))],
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["message"], "token expired");
    assert!(r
        .header("WWW-Authenticate")
        .unwrap()
        .contains("invalid_token"));
    // A refresh gives a working one again.
    let r = refresh(&sim, tokens["refresh_token"].as_str().unwrap());
    assert_eq!(r.status, 200, "{}", r.text());
    let fresh = r.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(current_user(&sim, Some(&fresh)).status, 200);
    assert_eq!(sim.issued_access_tokens().len(), 2);
}

#[test]
fn pkce_bad_or_missing_verifier() {
    let sim = start(SimConfig::default());
    let other = "x".repeat(43);
    let code = auto_code(&sim, REDIRECT, VERIFIER);
    assert_oauth_error(&exchange_code(&sim, &code, &other), 400, "invalid_grant");
    // The code was used up by the failed attempt.
    assert_oauth_error(&exchange_code(&sim, &code, VERIFIER), 400, "invalid_grant");

    let code = auto_code(&sim, REDIRECT, VERIFIER);
    let r = token_post(
        &sim,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", CLIENT),
        ],
        None,
    );
    assert_oauth_error(&r, 400, "invalid_request");

    // Malformed verifier (too short), and the challenge itself sent as the verifier.
    let code = auto_code(&sim, REDIRECT, VERIFIER);
    assert_oauth_error(&exchange_code(&sim, &code, "short"), 400, "invalid_grant");
    let code = auto_code(&sim, REDIRECT, VERIFIER);
    let challenge = pkce_s256_challenge(VERIFIER);
    assert_oauth_error(
        &exchange_code(&sim, &code, &challenge),
        400,
        "invalid_grant",
    );
    assert!(sim.issued_access_tokens().is_empty());
}

#[test]
fn pkce_plain_only_when_enabled() {
    let plain = "p".repeat(50);
    let params = |sim: &Simulator, method: Option<&str>| {
        let mut p = vec![
            ("response_type", "code"),
            ("client_id", CLIENT),
            ("redirect_uri", REDIRECT),
            ("state", "s"),
            ("code_challenge", plain.as_str()),
            ("auto", "allow"),
        ];
        if let Some(m) = method {
            p.push(("code_challenge_method", m));
        }
        get(&authorize_url_with(sim, &p))
    };
    let sim = start(SimConfig::default());
    for method in [Some("plain"), None, Some("S512")] {
        let r = params(&sim, method);
        assert_eq!(r.status, 400, "{method:?}");
        assert!(r.header("Location").is_none());
    }

    let sim = start(SimConfig {
        pkce_method_plain: true,
        ..SimConfig::default()
    });
    for method in [Some("plain"), None] {
        let r = params(&sim, method);
        assert_eq!(r.status, 302, "{method:?}: {}", r.text());
        let code = param(&redirect_params(r.header("Location").unwrap()), "code").unwrap();
        assert_oauth_error(
            &exchange_code(&sim, &code, &"q".repeat(50)),
            400,
            "invalid_grant",
        );
        let r = params(&sim, method);
        let code = param(&redirect_params(r.header("Location").unwrap()), "code").unwrap();
        assert_eq!(exchange_code(&sim, &code, &plain).status, 200);
    }
    // S256 still works.
    sign_in(&sim);
}

#[test]
fn pkce_optional_when_not_required() {
    let sim = start(SimConfig {
        pkce_required: false,
        ..SimConfig::default()
    });
    let r = get(&authorize_url_with(
        &sim,
        &[
            ("response_type", "code"),
            ("client_id", CLIENT),
            ("redirect_uri", REDIRECT),
            ("auto", "allow"),
        ],
    ));
    assert_eq!(r.status, 302, "{}", r.text());
    let location = r.header("Location").unwrap();
    // No state in the request: none in the redirect.
    let params = redirect_params(location);
    assert_eq!(param(&params, "state"), None);
    let code = param(&params, "code").unwrap();
    let r = token_post(
        &sim,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", CLIENT),
        ],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn codes_work_once_and_expire() {
    let sim = start(SimConfig {
        oauth_code_lifetime: 1,
        ..SimConfig::default()
    });
    let code = auto_code(&sim, REDIRECT, VERIFIER);
    assert_eq!(exchange_code(&sim, &code, VERIFIER).status, 200);
    let again = exchange_code(&sim, &code, VERIFIER);
    assert_oauth_error(&again, 400, "invalid_grant");

    let code = auto_code(&sim, REDIRECT, VERIFIER);
    std::thread::sleep(Duration::from_millis(1100));
    let r = exchange_code(&sim, &code, VERIFIER);
    assert_oauth_error(&r, 400, "invalid_grant");
    assert!(r.json()["error_description"]
        .as_str()
        .unwrap()
        .contains("expired"));

    assert_oauth_error(
        &exchange_code(&sim, "never-issued", VERIFIER),
        400,
        "invalid_grant",
    );
}

#[test]
fn code_redirect_uri_must_match() {
    let sim = start(SimConfig::default());
    let code = auto_code(&sim, REDIRECT, VERIFIER);
    let r = token_post(
        &sim,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:49152/oauth/callback/"),
            ("client_id", CLIENT),
            ("code_verifier", VERIFIER),
        ],
        None,
    );
    assert_oauth_error(&r, 400, "invalid_grant");
    let code = auto_code(&sim, REDIRECT, VERIFIER);
    let r = token_post(
        &sim,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", CLIENT),
            ("code_verifier", VERIFIER),
        ],
        None,
    );
    assert_oauth_error(&r, 400, "invalid_request");
}

#[test]
fn refresh_tokens_rotate_and_reuse_fails() {
    let sim = start(SimConfig::default());
    let first = sign_in(&sim);
    let rt1 = first["refresh_token"].as_str().unwrap();
    let r = refresh(&sim, rt1);
    assert_eq!(r.status, 200, "{}", r.text());
    let second = r.json();
    let rt2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(rt1, rt2);
    assert_ne!(first["access_token"], second["access_token"]);
    assert_eq!(second["token_type"], "Bearer");
    // Both access tokens stay valid until they expire.
    for t in sim.issued_access_tokens() {
        assert_eq!(current_user(&sim, Some(&t)).status, 200);
    }
    // The old refresh token is used up.
    assert_oauth_error(&refresh(&sim, rt1), 400, "invalid_grant");
    // The new one works once too.
    let r = refresh(&sim, rt2);
    assert_eq!(r.status, 200);
    let rt3 = r.json()["refresh_token"].as_str().unwrap().to_string();
    // Without client_id (public client) is fine as well.
    let r = token_post(
        &sim,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt3)],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let rt4 = r.json()["refresh_token"].as_str().unwrap().to_string();

    sim.revoke_refresh_tokens();
    assert_oauth_error(&refresh(&sim, &rt4), 400, "invalid_grant");
    assert_oauth_error(
        &token_post(&sim, &[("grant_type", "refresh_token")], None),
        400,
        "invalid_request",
    );
    assert_eq!(sim.issued_access_tokens().len(), 4);
}

/// An authorization code exchange with this client authentication.
fn exchange_with(
    sim: &Simulator,
    secret_in_body: Option<&str>,
    basic: Option<(&str, &str)>,
) -> Resp {
    let code = auto_code(sim, REDIRECT, VERIFIER);
    let mut fields = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    if basic.is_none() {
        fields.push(("client_id", CLIENT));
    }
    if let Some(s) = secret_in_body {
        fields.push(("client_secret", s));
    }
    token_post(sim, &fields, basic)
}

fn confidential(mode: BasicMode) -> Simulator {
    start(SimConfig {
        oauth_client_secret: Some("s3cret+/:x".into()),
        oauth_basic: mode,
        ..SimConfig::default()
    })
}

#[test]
fn client_secret_either_way() {
    let secret = "s3cret+/:x";
    let sim = confidential(BasicMode::Either);
    assert_eq!(
        exchange_with(&sim, None, Some((CLIENT, secret))).status,
        200
    );
    assert_eq!(exchange_with(&sim, Some(secret), None).status, 200);
    let r = exchange_with(&sim, None, None);
    assert_oauth_error(&r, 401, "invalid_client");
    assert!(r.header("WWW-Authenticate").unwrap().starts_with("Basic"));
    assert_oauth_error(
        &exchange_with(&sim, None, Some((CLIENT, "wrong"))),
        401,
        "invalid_client",
    );
    assert_oauth_error(
        &exchange_with(&sim, Some("wrong"), None),
        401,
        "invalid_client",
    );
    assert_oauth_error(
        &exchange_with(&sim, None, Some(("someone-else", secret))),
        401,
        "invalid_client",
    );
    assert_oauth_error(
        &exchange_with(&sim, Some(secret), Some((CLIENT, secret))),
        400,
        "invalid_request",
    );
    // A client that does not form-encode before base64 is accepted all the same.
    let raw = format!(
        "Basic {}",
        cde_simulator::base64url_encode(format!("{CLIENT}:{secret}").as_bytes())
            .replace('-', "+")
            .replace('_', "/")
    );
    let code = auto_code(&sim, REDIRECT, VERIFIER);
    let body = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={VERIFIER}",
        percent_encode(REDIRECT)
    );
    let r = request(
        "POST",
        &format!("{}/oauth/token", sim.cde_origin()),
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", &raw),
        ],
        Some(body.as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    // Refresh needs the client authentication too.
    let tokens = exchange_with(&sim, Some(secret), None).json();
    let rt = tokens["refresh_token"].as_str().unwrap();
    assert_oauth_error(&refresh(&sim, rt), 401, "invalid_client");
    let r = token_post(
        &sim,
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        Some((CLIENT, secret)),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    // What was recorded: secrets for the test to see, and the Basic flag.
    let reqs = sim.token_requests();
    assert_eq!(reqs[0]["basic_auth"], true);
    assert!(reqs[0].get("client_secret").is_none());
    assert_eq!(reqs[1]["basic_auth"], false);
    assert_eq!(reqs[1]["client_secret"], secret);
    assert_eq!(reqs.last().unwrap()["grant_type"], "refresh_token");
}

#[test]
fn client_secret_basic_required() {
    let secret = "s3cret+/:x";
    let sim = confidential(BasicMode::Required);
    assert_eq!(
        exchange_with(&sim, None, Some((CLIENT, secret))).status,
        200
    );
    assert_oauth_error(
        &exchange_with(&sim, Some(secret), None),
        401,
        "invalid_client",
    );
    assert_oauth_error(&exchange_with(&sim, None, None), 401, "invalid_client");
}

#[test]
fn client_secret_basic_refused() {
    let secret = "s3cret+/:x";
    let sim = confidential(BasicMode::Refused);
    let r = exchange_with(&sim, None, Some((CLIENT, secret)));
    assert_oauth_error(&r, 401, "invalid_client");
    assert!(r.header("WWW-Authenticate").is_none());
    assert_eq!(exchange_with(&sim, Some(secret), None).status, 200);
    assert_eq!(sim.token_requests()[0]["basic_auth"], true);

    // A public client: Basic is refused as well; body client_id alone works.
    let sim = start(SimConfig {
        oauth_basic: BasicMode::Refused,
        ..SimConfig::default()
    });
    assert_oauth_error(
        &exchange_with(&sim, None, Some((CLIENT, ""))),
        401,
        "invalid_client",
    );
    assert_eq!(exchange_with(&sim, None, None).status, 200);
}

#[test]
fn public_client_rules() {
    let sim = start(SimConfig::default());
    // Basic with an empty secret identifies a public client.
    assert_eq!(exchange_with(&sim, None, Some((CLIENT, ""))).status, 200);
    assert_oauth_error(
        &exchange_with(&sim, Some("anything"), None),
        401,
        "invalid_client",
    );
    assert_oauth_error(
        &exchange_with(&sim, None, Some((CLIENT, "anything"))),
        401,
        "invalid_client",
    );
    // Without any client id.
    let code = auto_code(&sim, REDIRECT, VERIFIER);
    let r = token_post(
        &sim,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
        None,
    );
    assert_oauth_error(&r, 400, "invalid_request");
    // A code stays usable after a client-authentication failure; the wrong client id fails first.
    let code = auto_code(&sim, REDIRECT, VERIFIER);
    let r = token_post(
        &sim,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", "other-client"),
            ("code_verifier", VERIFIER),
        ],
        None,
    );
    assert_oauth_error(&r, 401, "invalid_client");
    assert_eq!(exchange_code(&sim, &code, VERIFIER).status, 200);
}

#[test]
fn token_answer_variants() {
    let sim = start(SimConfig {
        token_status_201: true,
        expires_in_as_string: true,
        access_token_lifetime: 120,
        ..SimConfig::default()
    });
    let code = auto_code(&sim, REDIRECT, VERIFIER);
    let r = exchange_code(&sim, &code, VERIFIER);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    let v = r.json();
    assert_eq!(v["expires_in"], "120");
    let r = refresh(&sim, v["refresh_token"].as_str().unwrap());
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["expires_in"], "120");

    let sim = start(SimConfig {
        expires_in_as_string: true,
        ..SimConfig::default()
    });
    assert_eq!(sign_in(&sim)["expires_in"], "3600");
}

#[test]
fn token_endpoint_rejects_malformed_requests() {
    let sim = start(SimConfig::default());
    let url = format!("{}/oauth/token", sim.cde_origin());
    let r = get(&url);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("POST"));
    let json_body = br#"{"grant_type":"refresh_token","refresh_token":"x"}"#;
    let r = request(
        "POST",
        &url,
        &[("Content-Type", "application/json")],
        Some(json_body),
    );
    assert_oauth_error(&r, 400, "invalid_request");
    assert_oauth_error(
        &token_post(&sim, &[("grant_type", "password")], None),
        400,
        "unsupported_grant_type",
    );
    assert_oauth_error(
        &token_post(&sim, &[("client_id", CLIENT)], None),
        400,
        "invalid_request",
    );
    assert_oauth_error(
        &token_post(
            &sim,
            &[
                ("grant_type", "refresh_token"),
                ("grant_type", "refresh_token"),
            ],
            None,
        ),
        400,
        "invalid_request",
    );
    // Garbage never panics the server.
    let r = request(
        "POST",
        &url,
        &[
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=UTF-8",
            ),
            ("Authorization", "Basic %%%not-base64"),
        ],
        Some(b"grant_type=authorization_code&code=%ff%fe&\xff=\xfe&&="),
    );
    assert_oauth_error(&r, 401, "invalid_client");
    assert_eq!(sim.token_requests().len(), 5);
    assert_eq!(sim.token_requests()[4]["basic_auth"], true);
}

#[test]
fn authorize_validation_never_redirects() {
    let sim = start(SimConfig::default());
    let challenge = pkce_s256_challenge(VERIFIER);
    let good: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", CLIENT),
        ("redirect_uri", REDIRECT),
        ("state", "xyz"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    let with = |name: &'static str, value: Option<&'static str>| {
        let mut p: Vec<(&str, &str)> = good.iter().copied().filter(|(k, _)| *k != name).collect();
        if let Some(v) = value {
            p.push((name, v));
        }
        p
    };
    let mut cases: Vec<Vec<(&str, &str)>> = vec![
        with("client_id", None),
        with("client_id", Some("unknown-client")),
        with("redirect_uri", None),
        with("response_type", None),
        with("response_type", Some("token")),
        with("code_challenge", None),
        with("code_challenge", Some("too-short")),
        with("code_challenge_method", Some("plain")),
        with("code_challenge_method", None),
    ];
    for bad_uri in [
        "https://127.0.0.1:49152/cb",
        "http://localhost:49152/cb",
        "http://127.0.0.1/cb",
        "http://127.0.0.1:49152",
        "http://127.0.0.1:49152@evil.example/cb",
        "http://evil.example:49152/cb",
        "http://127.0.0.1:49152/cb#fragment",
        "http://127.0.0.1:49152/cb\r\nSet-Cookie: x=1",
        "//127.0.0.1:49152/cb",
        "/cb",
    ] {
        cases.push(with("redirect_uri", Some(bad_uri)));
    }
    let mut twice = good.clone();
    twice.push(("redirect_uri", "http://127.0.0.1:1/other"));
    cases.push(twice);
    let mut bad_auto = good.clone();
    bad_auto.push(("auto", "maybe"));
    cases.push(bad_auto);

    for case in cases {
        for auto in [None, Some("allow"), Some("deny")] {
            let mut p = case.clone();
            if let Some(a) = auto {
                p.push(("auto", a));
            }
            let r = get(&authorize_url_with(&sim, &p));
            assert_eq!(r.status, 400, "{p:?}: {}", r.text());
            assert!(r.header("Location").is_none(), "{p:?}");
            assert!(r.header("Content-Type").unwrap().starts_with("text/html"));
            assert!(r.text().contains("id=\"error\""), "{}", r.text());
        }
    }
    // The valid request passes: the page.
    let r = get(&authorize_url_with(&sim, &good));
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn sign_in_page_form_allow_and_deny() {
    let sim = start(SimConfig::default());
    let state = "a b&c=/é";
    let url = authorize_url(&sim, REDIRECT, state, VERIFIER);
    let page = get(&url);
    assert_eq!(page.status, 200);
    assert!(page
        .header("Content-Type")
        .unwrap()
        .starts_with("text/html"));
    let html = page.text();
    assert!(html.contains("<button type=\"submit\" name=\"decision\" value=\"allow\" id=\"sign-in\">Sign in</button>"), "{html}");
    assert!(html.contains("id=\"deny\">Deny</button>"), "{html}");
    assert!(html.contains("method=\"post\" action=\"/oauth/authorize\""));
    let request_id = html
        .split("name=\"request\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let post = |body: String| {
        request(
            "POST",
            &format!("{}/oauth/authorize", sim.cde_origin()),
            &[("Content-Type", "application/x-www-form-urlencoded")],
            Some(body.as_bytes()),
        )
    };
    let r = post(format!("request={request_id}&decision=allow"));
    assert_eq!(r.status, 302, "{}", r.text());
    let params = redirect_params(r.header("Location").unwrap());
    assert_eq!(param(&params, "state").as_deref(), Some(state));
    let code = param(&params, "code").unwrap();
    assert_eq!(exchange_code(&sim, &code, VERIFIER).status, 200);
    // The form works once.
    let r = post(format!("request={request_id}&decision=allow"));
    assert_eq!(r.status, 400);
    assert!(r.header("Location").is_none());

    let page = get(&url).text();
    let request_id = page
        .split("name=\"request\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    assert_eq!(
        post(format!("request={request_id}&decision=maybe")).status,
        400
    );
    let r = post(format!("request={request_id}&decision=deny"));
    assert_eq!(r.status, 302);
    let location = r.header("Location").unwrap();
    assert!(location.starts_with(&format!("{REDIRECT}?error=access_denied&state=")));
    assert_eq!(
        param(&redirect_params(location), "state").as_deref(),
        Some(state)
    );
    assert_eq!(post("request=unknown&decision=allow".into()).status, 400);
    let r = request(
        "PUT",
        &format!("{}/oauth/authorize", sim.cde_origin()),
        &[],
        Some(b""),
    );
    assert_eq!(r.status, 405);
    assert!(r.header("Location").is_none());

    // ?auto=deny.
    let r = get(&format!("{url}&auto=deny"));
    assert_eq!(r.status, 302);
    let params = redirect_params(r.header("Location").unwrap());
    assert_eq!(param(&params, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&params, "code"), None);
}

#[test]
fn redirect_uri_with_a_query_keeps_it() {
    let sim = start(SimConfig::default());
    let redirect = "http://127.0.0.1:49152/cb?session=7";
    let r = get(&format!(
        "{}&auto=allow",
        authorize_url(&sim, redirect, "s", VERIFIER)
    ));
    assert_eq!(r.status, 302);
    let location = r.header("Location").unwrap();
    assert!(
        location.starts_with("http://127.0.0.1:49152/cb?session=7&code="),
        "{location}"
    );
    let code = param(&redirect_params(location), "code").unwrap();
    let r = token_post(
        &sim,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("client_id", CLIENT),
            ("code_verifier", VERIFIER),
        ],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn browse_sign_in_allow_and_deny() {
    let sim = start(SimConfig::default());
    let l = callback_listener("/oauth/cb", 2);
    let url = authorize_url(&sim, &l.url, "st-1", VERIFIER);
    let out = sim.browse_sign_in(&url, true).unwrap();
    assert_eq!(out.status, 200);
    assert_eq!(out.body, "callback ok");
    let head = l
        .heads
        .recv_timeout(Duration::from_secs(10))
        .expect("the redirect reached the listener");
    let target = head.split(' ').nth(1).unwrap().to_string();
    assert!(target.starts_with("/oauth/cb?code="), "{target}");
    assert!(target.ends_with("&state=st-1"), "{target}");
    assert_eq!(head_header(&head, "Authorization"), None);
    let port = l.url.split(':').nth(2).unwrap().split('/').next().unwrap();
    assert_eq!(out.callback_url, format!("http://127.0.0.1:{port}{target}"));
    let code = param(&redirect_params(&target), "code").unwrap();
    let r = token_post(
        &sim,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &l.url),
            ("client_id", CLIENT),
            ("code_verifier", VERIFIER),
        ],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // The browser posted the form.
    assert!(sim
        .requests()
        .iter()
        .any(|r| r.method == "POST" && r.path() == "/oauth/authorize"));

    let url = authorize_url(&sim, &l.url, "st-2", VERIFIER);
    let out = sim.browse_sign_in(&url, false).unwrap();
    assert_eq!(out.status, 200);
    let head = l.heads.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(
        head.split(' ').nth(1).unwrap(),
        "/oauth/cb?error=access_denied&state=st-2"
    );
}

#[test]
fn browse_sign_in_reports_rejected_requests() {
    let sim = start(SimConfig::default());
    let url = authorize_url(&sim, "http://localhost:49152/cb", "s", VERIFIER);
    let err = sim.browse_sign_in(&url, true).unwrap_err();
    assert!(err.contains("400") && err.contains("redirect_uri"), "{err}");
    let err = sim.browse_sign_in("not a url", true).unwrap_err();
    assert!(err.contains("not a URL"), "{err}");
    // Only loopback is ever contacted.
    let err = sim
        .browse_sign_in("http://192.0.2.1:1/oauth/authorize", true)
        .unwrap_err();
    assert!(err.contains("non-loopback"), "{err}");
}
