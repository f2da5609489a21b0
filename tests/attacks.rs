//! The attack suite: the composed stack (`Portcullis::builder()`) served on 127.0.0.1 with
//! two local issuers (discovery + JWKS from the same server), attacked through a real hyper
//! client and raw sockets. Every response the suite receives is checked: never a 5xx, and
//! `Cache-Control: no-store` on each (see `hardening::check`).
//!
//! RFC 8725 attacks, ECDSA r = s = 0, `kid` injection, `jku`/`x5u`/`jwk` key injection,
//! another issuer's key under the same `kid`, nested JWTs, duplicate JSON members, odd
//! NumericDates, huge headers and cookies, cookie separators and control characters, cookie
//! attribute injection through values the app sets, session fixation, stolen session cookies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod hardening;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Extension, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hardening::{Http, Issuer, b64, now, raw, set_cookie_pair};
use http::Method;
use http::header::{AUTHORIZATION, COOKIE, SET_COOKIE, USER_AGENT, VARY, WWW_AUTHENTICATE};
use portcullis::Portcullis;
use portcullis::cookie::{Cookie, Cookies};
use portcullis::core::client::ClientIpResolver;
use portcullis::policy::PolicyLayer;
use portcullis::session::{Session, Timestamp, TokenSet};
use serde_json::{Value, json};
use tokio::net::TcpListener;

const AUD: &str = "api";
const COOKIE_NAME: &str = portcullis::INSECURE_HTTP_COOKIE_NAME;
const UA: &str = "attack-suite-browser/1.0";

#[derive(Clone)]
struct App {
    a: Arc<Issuer>,
    b: Arc<Issuer>,
    /// Requests to the attacker's JWKS (must stay 0: `jku`/`x5u` are never followed).
    evil_hits: Arc<AtomicUsize>,
    /// Requests to issuer A's JWKS.
    jwks_hits: Arc<AtomicUsize>,
}

struct Server {
    addr: SocketAddr,
    app: App,
    http: Http,
}

/// Starts the stack. `trust_local_proxy`: the peer 127.0.0.1 is a trusted proxy whose
/// `X-Forwarded-For` gives the client IP (the stolen-cookie tests play both proxy and client).
async fn start(trust_local_proxy: bool) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Two trusted issuers whose keys share a kid.
    let app = App {
        a: Arc::new(Issuer::new(format!("http://{addr}/a"), "shared")),
        b: Arc::new(Issuer::new(format!("http://{addr}/b"), "shared")),
        evil_hits: Arc::default(),
        jwks_hits: Arc::default(),
    };
    let mut builder = Portcullis::builder()
        .issuer(&app.a.url)
        .issuer(&app.b.url)
        .audience(AUD)
        .allow_anonymous()
        .insecure_allow_http();
    if trust_local_proxy {
        builder = builder.client_ip(
            ClientIpResolver::new()
                .with_trusted_proxies(["127.0.0.1"])
                .unwrap(),
        );
    }
    let portcullis = builder.build().unwrap();
    let rejection = portcullis.rejection_response();
    let protected = Router::new().route("/me", get(me)).route_layer(
        PolicyLayer::require(
            "authenticated",
            |_: &portcullis::jwt::StandardClaims, _: &http::Extensions| true,
        )
        .with_rejection(rejection),
    );
    let router = Router::new()
        .route("/public", get(|| async { "public" }))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/set-cookie", get(set_cookie))
        .route("/{issuer}/.well-known/openid-configuration", get(discovery))
        .route("/{issuer}/.well-known/jwks.json", get(jwks))
        .route("/evil/jwks.json", get(evil))
        .merge(protected)
        .layer(portcullis.clone())
        .with_state(app.clone());
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    assert!(
        portcullis.validator().jwks().refresh_now().await,
        "both issuers' keys load"
    );
    Server {
        addr,
        app,
        http: Http::new(addr),
    }
}

fn issuer<'a>(app: &'a App, name: &str) -> Option<&'a Issuer> {
    match name {
        "a" => Some(&app.a),
        "b" => Some(&app.b),
        _ => None,
    }
}

async fn discovery(
    State(app): State<App>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    match issuer(&app, &name) {
        Some(i) => Json(i.discovery()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn jwks(
    State(app): State<App>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    if name == "a" {
        app.jwks_hits.fetch_add(1, Ordering::SeqCst);
    }
    match issuer(&app, &name) {
        Some(i) => Json(i.jwks()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn evil(State(app): State<App>) -> Json<Value> {
    app.evil_hits.fetch_add(1, Ordering::SeqCst);
    Json(json!({"keys": []}))
}

/// Test login: a session for `sub` holding an access token from issuer A.
async fn login(
    State(app): State<App>,
    Extension(session): Extension<Session>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let sub = q.get("sub").cloned().unwrap_or_else(|| "alice".to_owned());
    let tokens = TokenSet::new(app.a.token(&sub, AUD))
        .with_expires_in(Timestamp::now(), std::time::Duration::from_secs(600));
    match session.login(&sub, tokens).await {
        Ok(()) => (StatusCode::OK, "logged in").into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

async fn logout(Extension(session): Extension<Session>) -> StatusCode {
    match session.logout().await {
        Ok(()) => StatusCode::OK,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

async fn me(Extension(claims): Extension<portcullis::jwt::StandardClaims>) -> String {
    claims.subject().unwrap_or_default().to_owned()
}

/// The app stores an attacker-chosen value in a cookie: refused when it could inject.
async fn set_cookie(
    Extension(cookies): Extension<Cookies>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let value = q.get("v").cloned().unwrap_or_default();
    match cookies.add(Cookie::new("pref", value)) {
        Ok(()) => (StatusCode::OK, "set").into_response(),
        Err(_) => (StatusCode::BAD_REQUEST, "refused").into_response(),
    }
}

/// Asserts a 401 with an RFC 6750 `invalid_token` challenge.
fn assert_invalid_token(res: &http::Response<bytes::Bytes>, what: &str) {
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "{what}: {:?}",
        res.body()
    );
    let challenge = res.headers()[WWW_AUTHENTICATE].to_str().unwrap();
    assert!(challenge.starts_with("Bearer"), "{what}: {challenge}");
    assert!(
        challenge.contains("error=\"invalid_token\""),
        "{what}: {challenge}"
    );
}

async fn refused(s: &Server, token: &str, what: &str) {
    let res = s.http.bearer("/me", token).await;
    assert_invalid_token(&res, what);
}

fn header_and_payload(token: &str) -> (String, String) {
    let mut it = token.split('.');
    (it.next().unwrap().to_owned(), it.next().unwrap().to_owned())
}

#[tokio::test]
async fn a_good_token_works_and_the_suite_counts_as_a_baseline() {
    let s = start(false).await;
    let res = s.http.bearer("/me", &s.app.a.token("alice", AUD)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.body(), "alice");
    assert!(
        res.headers()[VARY]
            .to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("authorization")
    );
    let res = s.http.get("/me").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn alg_none_weak_and_unsupported_algorithms_are_refused() {
    let s = start(false).await;
    let a = &s.app.a;
    let claims = a.claims("mallory", AUD).to_string();
    let good = a.token("mallory", AUD);
    let good_sig = good.rsplit('.').next().unwrap();
    for alg in ["none", "None", "NONE", "nOnE", ""] {
        let h = b64(json!({"alg": alg, "kid": a.kid}).to_string().as_bytes());
        let p = b64(claims.as_bytes());
        refused(&s, &format!("{h}.{p}."), alg).await;
        refused(&s, &format!("{h}.{p}.{good_sig}"), alg).await;
    }
    // Algorithms that are weak, unknown, or do not fit the key type (EC P-256 key).
    for alg in [
        "ES384", "ES512", "RS256", "PS256", "EdDSA", "ES256K", "RS1", "HS1", "XYZ", "A256GCM",
        "dir",
    ] {
        let token = a.sign_raw(&json!({"alg": alg, "kid": a.kid}).to_string(), &claims);
        refused(&s, &token, alg).await;
    }
    // Header `alg` of a non-string type.
    for alg in [
        json!(null),
        json!(256),
        json!(["ES256"]),
        json!({"alg": "ES256"}),
    ] {
        let token = a.sign_raw(&json!({"alg": alg, "kid": a.kid}).to_string(), &claims);
        refused(&s, &token, "alg type").await;
    }
}

#[tokio::test]
async fn alg_confusion_hs256_with_the_public_key_is_refused() {
    use aws_lc_rs::hmac;
    let s = start(false).await;
    let a = &s.app.a;
    let claims = a.claims("mallory", AUD).to_string();
    // Every form an attacker could take the public key in: raw point, JWK JSON, JWKS JSON,
    // x coordinate, base64url point.
    let secrets: Vec<Vec<u8>> = vec![
        a.public_point().to_vec(),
        a.jwk().to_string().into_bytes(),
        a.jwks().to_string().into_bytes(),
        a.public_point()[1..33].to_vec(),
        b64(a.public_point()).into_bytes(),
    ];
    for (alg, hmac_alg) in [
        ("HS256", hmac::HMAC_SHA256),
        ("HS384", hmac::HMAC_SHA384),
        ("HS512", hmac::HMAC_SHA512),
    ] {
        for secret in &secrets {
            let header = json!({"alg": alg, "kid": a.kid, "typ": "at+jwt"}).to_string();
            let msg = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
            let tag = hmac::sign(&hmac::Key::new(hmac_alg, secret), msg.as_bytes());
            refused(&s, &format!("{msg}.{}", b64(tag.as_ref())), alg).await;
        }
    }
}

#[tokio::test]
async fn ecdsa_signature_r_equals_s_equals_zero_is_refused() {
    let s = start(false).await;
    let good = s.app.a.token("mallory", AUD);
    let (h, p) = header_and_payload(&good);
    for sig in [vec![0u8; 64], vec![0u8; 0], vec![0u8; 1], vec![0xff; 64], {
        // DER-encoded r = 0, s = 0 (a different encoding of the same forgery).
        vec![0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]
    }] {
        refused(&s, &format!("{h}.{p}.{}", b64(&sig)), "zero signature").await;
    }
    // The good signature on a modified payload.
    let sig = good.rsplit('.').next().unwrap();
    let other = b64(s.app.a.claims("admin", AUD).to_string().as_bytes());
    refused(&s, &format!("{h}.{other}.{sig}"), "signature reuse").await;
}

#[tokio::test]
async fn substitution_wrong_audience_issuer_and_cross_issuer_same_kid() {
    let s = start(false).await;
    let (a, b) = (&s.app.a, &s.app.b);
    // Both trusted issuers work with their own keys.
    for (i, who) in [(a, "a"), (b, "b")] {
        let res = s.http.bearer("/me", &i.token(who, AUD)).await;
        assert_eq!(res.status(), StatusCode::OK, "{who}");
    }
    // A token minted for another service (aud), with no aud, with aud of the wrong type.
    refused(&s, &a.token("alice", "other-api"), "wrong aud").await;
    let mut c = a.claims("alice", AUD);
    c.as_object_mut().unwrap().remove("aud");
    refused(&s, &a.sign(&c), "no aud").await;
    c["aud"] = json!(["other", 1]);
    refused(&s, &a.sign(&c), "aud with a number").await;
    c["aud"] = json!({"api": true});
    refused(&s, &a.sign(&c), "aud object").await;
    // iss of B, signed by A, with the same kid: B's key is looked up, the signature fails.
    let mut c = a.claims("alice", AUD);
    c["iss"] = json!(b.url);
    refused(&s, &a.sign(&c), "iss B signed by A (same kid)").await;
    let mut c = b.claims("alice", AUD);
    c["iss"] = json!(a.url);
    refused(&s, &b.sign(&c), "iss A signed by B (same kid)").await;
    // An issuer nobody trusts, with the same kid; an issuer URL that differs by a slash or
    // case; iss missing or not a string.
    let evil = Issuer::new(a.url.clone(), "shared");
    refused(
        &s,
        &evil.token("alice", AUD),
        "attacker key under A's issuer and kid",
    )
    .await;
    for iss in [
        json!(format!("{}/", a.url)),
        json!(a.url.to_uppercase()),
        json!("http://evil.example"),
        json!(null),
        json!(7),
        json!([a.url]),
    ] {
        let mut c = a.claims("alice", AUD);
        c["iss"] = iss.clone();
        refused(&s, &a.sign(&c), &format!("iss {iss}")).await;
    }
}

#[tokio::test]
async fn kid_injection_is_only_a_lookup_key_and_never_storms_the_jwks() {
    let s = start(false).await;
    let attacker = Issuer::new(s.app.a.url.clone(), "x");
    let claims = s.app.a.claims("mallory", AUD).to_string();
    let before = s.app.jwks_hits.load(Ordering::SeqCst);
    let huge = "k".repeat(64 * 1024);
    let kids = [
        json!("../../../../etc/passwd"),
        json!("/dev/null"),
        json!("' OR '1'='1"),
        json!("shared' --"),
        json!("shared\u{0000}"),
        json!("shared\n"),
        json!("%2e%2e%2fkeys"),
        json!("http://evil.example/jwks.json"),
        json!(""),
        json!(null),
        json!(1),
        json!(["shared"]),
        json!(huge),
    ];
    for kid in &kids {
        for signer in [&attacker, &*s.app.a] {
            let token = signer.sign_raw(&json!({"alg": "ES256", "kid": kid}).to_string(), &claims);
            let res = s
                .http
                .try_send(
                    s.http
                        .req(Method::GET, "/me")
                        .header(AUTHORIZATION, format!("Bearer {token}")),
                )
                .await;
            let Ok(res) = res else { continue };
            // A's signature verifies under A's exact kid, or with no kid (`null` is absent:
            // the issuer's keys are tried); any other kid is 401, and an attacker's
            // signature is 401 whatever the kid.
            if std::ptr::eq(signer, &*s.app.a) && (kid == &json!("shared") || kid.is_null()) {
                assert_eq!(res.status(), StatusCode::OK, "{kid}");
                continue;
            }
            assert!(
                res.status() == StatusCode::UNAUTHORIZED
                    || res.status() == StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "{kid}: {}",
                res.status()
            );
        }
    }
    // 50 distinct unknown kids: the JWKS is re-fetched at most a handful of times
    // (cool-down + single-flight), not once per token.
    for i in 0..50 {
        let token = attacker.sign_raw(
            &json!({"alg": "ES256", "kid": format!("unknown-{i}")}).to_string(),
            &claims,
        );
        refused(&s, &token, "unknown kid").await;
    }
    let fetches = s.app.jwks_hits.load(Ordering::SeqCst) - before;
    assert!(fetches <= 3, "unknown kids caused {fetches} JWKS fetches");
}

#[tokio::test]
async fn jku_x5u_jwk_and_x5c_header_keys_are_never_used_or_followed() {
    let s = start(false).await;
    let attacker = Issuer::new(s.app.a.url.clone(), "evil");
    let claims = s.app.a.claims("mallory", AUD).to_string();
    let evil_url = format!("http://{}/evil/jwks.json", s.addr);
    let headers = [
        json!({"alg": "ES256", "kid": "evil", "jku": evil_url}),
        json!({"alg": "ES256", "kid": "shared", "jku": evil_url}),
        json!({"alg": "ES256", "x5u": evil_url}),
        json!({"alg": "ES256", "kid": "evil", "jwk": attacker.jwk()}),
        json!({"alg": "ES256", "jwk": attacker.jwk()}),
        json!({"alg": "ES256", "kid": "shared", "jwk": attacker.jwk()}),
        json!({"alg": "ES256", "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]}),
    ];
    for h in &headers {
        refused(
            &s,
            &attacker.sign_raw(&h.to_string(), &claims),
            &h.to_string(),
        )
        .await;
    }
    assert_eq!(
        s.app.evil_hits.load(Ordering::SeqCst),
        0,
        "a jku/x5u URL was fetched"
    );
}

#[tokio::test]
async fn nested_jwts_are_not_unwrapped() {
    let s = start(false).await;
    let a = &s.app.a;
    // The outer token is genuinely signed by A; its payload is another JWT (an alg-none one
    // carrying admin claims, or an attacker-signed one). It must not be taken as claims.
    let inner_none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none"}"#),
        b64(a.claims("admin", AUD).to_string().as_bytes())
    );
    let inner_evil = Issuer::new(a.url.clone(), "shared").token("admin", AUD);
    for inner in [inner_none, inner_evil, a.token("admin", AUD)] {
        for cty in [json!("JWT"), json!("jwt"), json!(null)] {
            let header = json!({"alg": "ES256", "kid": a.kid, "cty": cty}).to_string();
            refused(&s, &a.sign_raw(&header, &inner), "nested").await;
            let quoted = serde_json::to_string(&inner).unwrap();
            refused(&s, &a.sign_raw(&header, &quoted), "nested as a JSON string").await;
        }
    }
}

#[tokio::test]
async fn duplicate_json_members_in_header_and_claims_are_refused() {
    let s = start(false).await;
    let a = &s.app.a;
    let url = &a.url;
    let exp = now() + 600;
    let good_claims = a.claims("alice", AUD).to_string();
    // Header: a second alg (none, HS256), a second kid.
    for header in [
        r#"{"alg":"ES256","alg":"none","kid":"shared"}"#.to_owned(),
        r#"{"alg":"none","alg":"ES256","kid":"shared"}"#.to_owned(),
        r#"{"alg":"ES256","kid":"shared","alg":"HS256"}"#.to_owned(),
        r#"{"alg":"ES256","kid":"nope","kid":"shared"}"#.to_owned(),
    ] {
        refused(&s, &a.sign_raw(&header, &good_claims), &header).await;
    }
    let header = json!({"alg": "ES256", "kid": a.kid}).to_string();
    for payload in [
        format!(r#"{{"iss":"{url}","sub":"alice","aud":"other","aud":"{AUD}","exp":{exp}}}"#),
        format!(r#"{{"iss":"{url}","sub":"alice","aud":"{AUD}","exp":1,"exp":{exp}}}"#),
        format!(r#"{{"iss":"http://evil","iss":"{url}","sub":"alice","aud":"{AUD}","exp":{exp}}}"#),
        format!(r#"{{"iss":"{url}","sub":"alice","sub":"admin","aud":"{AUD}","exp":{exp}}}"#),
        format!(
            r#"{{"iss":"{url}","sub":"alice","aud":"{AUD}","exp":{exp},"scope":"read","scope":"admin"}}"#
        ),
    ] {
        refused(&s, &a.sign_raw(&header, &payload), &payload).await;
    }
}

#[tokio::test]
async fn exp_and_nbf_as_strings_floats_huge_and_negative_numbers() {
    let s = start(false).await;
    let a = &s.app.a;
    let now = now();
    let future = now + 600;
    let mut cases: Vec<(&str, Value)> = vec![
        ("exp", json!(future.to_string())),
        ("exp", json!(format!("{future}.0"))),
        ("exp", json!(future as f64 + 0.5)),
        ("exp", json!(1.5)),
        ("exp", json!(-1)),
        ("exp", json!(i64::MIN)),
        ("exp", json!(0)),
        ("exp", json!(null)),
        ("exp", json!(true)),
        ("exp", json!([future])),
        ("exp", json!(1e300)),
        ("nbf", json!((now + 3600).to_string())),
        ("nbf", json!(u64::MAX)),
        ("nbf", json!(now as f64 + 3600.5)),
        ("nbf", json!(1e300)),
        ("nbf", json!(-1)),
        ("iat", json!(u64::MAX)),
        ("iat", json!("now")),
    ];
    // A huge exp that is a valid integer beyond any date: either refused, or accepted as the
    // issuer's choice; never a 5xx. 18446744073709551615 + leeway must not wrap around.
    let mut c = a.claims("alice", AUD);
    c["exp"] = json!(u64::MAX);
    let res = s.http.bearer("/me", &a.sign(&c)).await;
    assert!(res.status() == StatusCode::OK || res.status() == StatusCode::UNAUTHORIZED);
    // An expired token must not come back to life through an overflowing leeway either.
    c["exp"] = json!(now - 3600);
    cases.push(("exp", json!(now - 3600)));
    for (claim, value) in cases {
        let mut c = a.claims("alice", AUD);
        c[claim] = value.clone();
        let res = s.http.bearer("/me", &a.sign(&c)).await;
        assert_invalid_token(&res, &format!("{claim} = {value}"));
    }
    // A number beyond u64 written literally (serde_json reads it as a float).
    let header = json!({"alg": "ES256", "kid": a.kid}).to_string();
    let payload = format!(
        r#"{{"iss":"{}","aud":"{AUD}","sub":"x","exp":184467440737095516150000}}"#,
        a.url
    );
    refused(&s, &a.sign_raw(&header, &payload), "exp beyond u64").await;
}

#[tokio::test]
async fn malformed_tokens_and_huge_headers_get_a_clean_4xx() {
    let s = start(false).await;
    for token in [
        "",
        ".",
        "..",
        "a.b.c",
        "a.b",
        "a.b.c.d",
        "e30.e30.",
        "e30.e30.e30",
        "!!!.@@@.###",
        &"A".repeat(40_000),
        &format!(
            "{}.{}.{}",
            "A".repeat(9000),
            "B".repeat(9000),
            "C".repeat(9000)
        ),
    ] {
        let res = s
            .http
            .try_send(
                s.http
                    .req(Method::GET, "/me")
                    .header(AUTHORIZATION, format!("Bearer {token}")),
            )
            .await;
        if let Ok(res) = res {
            assert!(res.status().is_client_error(), "{}", res.status());
        }
    }
    // One header of 1 MiB: hyper refuses it (431) or closes; never a 5xx or a hang.
    let big = "x".repeat(1 << 20);
    let res = s
        .http
        .try_send(s.http.req(Method::GET, "/me").header("x-big", big.clone()))
        .await;
    if let Ok(res) = &res {
        assert_eq!(res.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
    // A 1 MiB cookie.
    let res = s
        .http
        .try_send(
            s.http
                .req(Method::GET, "/public")
                .header(COOKIE, format!("a={big}")),
        )
        .await;
    if let Ok(res) = &res {
        assert!(res.status().is_client_error(), "{}", res.status());
    }
    // 500 headers: over hyper's header-count limit.
    let mut req = s.http.req(Method::GET, "/public");
    for i in 0..500 {
        req = req.header(format!("x-h{i}"), "v");
    }
    if let Ok(res) = s.http.try_send(req).await {
        assert!(res.status().is_client_error(), "{}", res.status());
    }
    // A 60 KiB Cookie header (under hyper's limits, over portcullis's 16 KiB parse limit)
    // and 5000 cookies: parsed up to the limits, the public route still answers.
    let cookie = format!("a={}", "v".repeat(60 * 1024));
    let res = s
        .http
        .send(s.http.req(Method::GET, "/public").header(COOKIE, cookie))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let many: String = (0..5000).map(|i| format!("c{i}={i}; ")).collect();
    let res = s
        .http
        .send(
            s.http
                .req(Method::GET, "/public")
                .header(COOKIE, many.clone()),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // A session cookie hidden after 5000 others is beyond the parse limit: not found, so the
    // request is anonymous (401 on a protected route), never slow or a 5xx.
    let res = s
        .http
        .send(
            s.http
                .req(Method::GET, "/me")
                .header(COOKIE, format!("{many}{COOKIE_NAME}=x")),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Many Cookie header lines.
    let mut req = s.http.req(Method::GET, "/public");
    for i in 0..90 {
        req = req.header(COOKIE, format!("k{i}=v{i}"));
    }
    assert_eq!(s.http.send(req).await.status(), StatusCode::OK);
    // Still serving after all that.
    assert_eq!(s.http.get("/public").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn cookie_values_with_separators_and_control_characters() {
    let s = start(false).await;
    let login = s
        .http
        .send(
            s.http
                .req(Method::POST, "/login?sub=alice")
                .header(USER_AGENT, UA),
        )
        .await;
    let pair = set_cookie_pair(&login, COOKIE_NAME).unwrap();
    let id = pair.split_once('=').unwrap().1.to_owned();
    // The real cookie works.
    let ok = s
        .http
        .send(
            s.http
                .req(Method::GET, "/me")
                .header(USER_AGENT, UA)
                .header(COOKIE, pair.clone()),
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    // Variants with separators, quotes, whitespace: never a different session, never a 5xx.
    for value in [
        format!("{COOKIE_NAME}={id},x=1"),
        format!("{COOKIE_NAME}=\"{id}\""),
        format!("{COOKIE_NAME}={id} x"),
        format!("{COOKIE_NAME}={id};{COOKIE_NAME}=forged"),
        format!("{COOKIE_NAME}=forged;{COOKIE_NAME}={id}"),
        format!("{COOKIE_NAME}=,{id}"),
        format!("{COOKIE_NAME}={id}\t"),
        format!("{COOKIE_NAME}=%41{id}"),
    ] {
        let res = s
            .http
            .send(
                s.http
                    .req(Method::GET, "/me")
                    .header(USER_AGENT, UA)
                    .header(COOKIE, value.clone()),
            )
            .await;
        // Only the exact ID (first occurrence of the name) may open the session.
        // RFC 6265 allows the value in double quotes: the same ID, the same client.
        let exact_first = value.starts_with(&format!("{COOKIE_NAME}={id};"))
            || value == format!("{COOKIE_NAME}={id}\t")
            || value == format!("{COOKIE_NAME}=\"{id}\"");
        if !exact_first {
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{value:?}");
        }
    }
    // Raw requests with control characters in the Cookie header: hyper refuses them (400) or
    // portcullis skips the pair (401 on /me); never a 5xx, never the session.
    for ctl in [0x00u8, 0x01, 0x08, 0x0b, 0x0c, 0x1f, 0x7f] {
        let mut req = format!("GET /me HTTP/1.1\r\nHost: x\r\nUser-Agent: {UA}\r\nConnection: close\r\nCookie: {COOKIE_NAME}=").into_bytes();
        req.extend_from_slice(id.as_bytes());
        req.push(ctl);
        req.extend_from_slice(b"\r\n\r\n");
        let code = raw(s.addr, &req).await;
        assert!(
            matches!(code, None | Some(400) | Some(401)),
            "ctl {ctl:#x}: {code:?}"
        );
    }
    // Bare CR and obsolete line folding inside the header value (smuggling attempts):
    // refused by hyper, or the pair is skipped; the session is never opened.
    for evil in [&b"\rSet-Cookie: x=y"[..], b"\r\n Folded", b"\r\n\tFolded"] {
        let mut req = format!("GET /me HTTP/1.1\r\nHost: x\r\nUser-Agent: {UA}\r\nConnection: close\r\nCookie: {COOKIE_NAME}={id}").into_bytes();
        req.extend_from_slice(evil);
        req.extend_from_slice(b"\r\n\r\n");
        let code = raw(s.addr, &req).await;
        assert!(
            matches!(code, None | Some(400) | Some(401)),
            "{evil:?}: {code:?}"
        );
    }
    // A bare LF ends the header line (httparse accepts it): the next line is a header of its
    // own, not part of the cookie. With a forged ID before it, no session.
    let req = format!(
        "GET /me HTTP/1.1\r\nHost: x\r\nUser-Agent: {UA}\r\nConnection: close\r\nCookie: {COOKIE_NAME}=forged\nX-Injected: {id}\r\n\r\n"
    );
    let code = raw(s.addr, req.as_bytes()).await;
    assert!(matches!(code, None | Some(400) | Some(401)), "{code:?}");
}

#[tokio::test]
async fn cookie_attribute_injection_through_values_the_app_sets_is_refused() {
    let s = start(false).await;
    let encode = |v: &str| -> String { v.bytes().map(|b| format!("%{b:02X}")).collect() };
    for value in [
        "x; Domain=evil.example",
        "x; Path=/admin",
        "x; Max-Age=999999999",
        "x;HttpOnly=false",
        "x, other=1",
        "x\r\nSet-Cookie: admin=1",
        "x\nLocation: http://evil",
        "\"quoted\"",
        "back\\slash",
        "space inside",
        "tab\tinside",
        "nul\0byte",
        "del\u{7f}",
        "é-non-ascii",
    ] {
        let res = s
            .http
            .get(&format!("/set-cookie?v={}", encode(value)))
            .await;
        assert_eq!(
            res.status(),
            StatusCode::BAD_REQUEST,
            "{value:?} was accepted"
        );
        assert_eq!(res.body(), "refused");
        assert!(res.headers().get(SET_COOKIE).is_none(), "{value:?}");
        assert_eq!(res.headers()[http::header::CACHE_CONTROL], "no-store");
    }
    // A plain value is set with the secure defaults.
    let res = s.http.get("/set-cookie?v=dark-mode_1").await;
    assert_eq!(res.status(), StatusCode::OK);
    let set = res.headers()[SET_COOKIE].to_str().unwrap();
    assert!(
        set.starts_with("pref=dark-mode_1;")
            && set.contains("HttpOnly")
            && set.contains("SameSite=Lax")
            && set.contains("Path=/"),
        "{set}"
    );
    assert!(!set.contains("Domain"), "{set}");
}

#[tokio::test]
async fn session_fixation_a_planted_session_id_is_never_adopted() {
    let s = start(false).await;
    // 1. An ID the server never issued: refused, and never echoed back as the session.
    let planted = format!("{COOKIE_NAME}=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let res = s
        .http
        .send(
            s.http
                .req(Method::POST, "/login?sub=alice")
                .header(USER_AGENT, UA)
                .header(COOKIE, planted.clone()),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    if let Some(pair) = set_cookie_pair(&res, COOKIE_NAME) {
        assert_ne!(pair, planted, "the planted ID was set back");
    }
    // 2. The attacker's own, valid session ID planted in the victim's browser: the victim's
    //    login issues a fresh ID; the planted one never becomes the victim's session.
    let attacker = s
        .http
        .send(
            s.http
                .req(Method::POST, "/login?sub=mallory")
                .header(USER_AGENT, UA),
        )
        .await;
    let attacker_pair = set_cookie_pair(&attacker, COOKIE_NAME).unwrap();
    let victim = s
        .http
        .send(
            s.http
                .req(Method::POST, "/login?sub=alice")
                .header(USER_AGENT, UA)
                .header(COOKIE, attacker_pair.clone()),
        )
        .await;
    assert_eq!(victim.status(), StatusCode::OK);
    let victim_pair = set_cookie_pair(&victim, COOKIE_NAME).expect("a new session cookie at login");
    assert_ne!(victim_pair, attacker_pair, "the planted ID was adopted");
    let res = s
        .http
        .send(
            s.http
                .req(Method::GET, "/me")
                .header(USER_AGENT, UA)
                .header(COOKIE, attacker_pair),
        )
        .await;
    assert_ne!(
        res.body(),
        "alice",
        "the planted ID opens the victim's session"
    );
    let res = s
        .http
        .send(
            s.http
                .req(Method::GET, "/me")
                .header(USER_AGENT, UA)
                .header(COOKIE, victim_pair),
        )
        .await;
    assert_eq!(res.body(), "alice");
    // 3. An anonymous visit never sets a session ID an attacker could read and plant later.
    let res = s
        .http
        .send(s.http.req(Method::GET, "/public").header(USER_AGENT, UA))
        .await;
    assert!(set_cookie_pair(&res, COOKIE_NAME).is_none());
}

async fn login_from(s: &Server, ua: &str, xff: &str) -> String {
    let res = s
        .http
        .send(
            s.http
                .req(Method::POST, "/login?sub=alice")
                .header(USER_AGENT, ua)
                .header("x-forwarded-for", xff),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    set_cookie_pair(&res, COOKIE_NAME).unwrap()
}

async fn me_from(s: &Server, cookie: &str, ua: &str, xff: &str) -> StatusCode {
    s.http
        .send(
            s.http
                .req(Method::GET, "/me")
                .header(USER_AGENT, ua)
                .header("x-forwarded-for", xff)
                .header(COOKIE, cookie),
        )
        .await
        .status()
}

#[tokio::test]
async fn a_stolen_session_cookie_from_another_client_is_refused() {
    // Behind a trusted proxy (127.0.0.1): the client IP is X-Forwarded-For's.
    let s = start(true).await;
    let cookie = login_from(&s, UA, "203.0.113.10").await;
    assert_eq!(
        me_from(&s, &cookie, UA, "203.0.113.10").await,
        StatusCode::OK
    );
    // Same /24 (a NAT pool, a DHCP renewal): still the client.
    assert_eq!(
        me_from(&s, &cookie, UA, "203.0.113.99").await,
        StatusCode::OK
    );
    // Another network: refused, and the session is destroyed (the thief's use logs the
    // victim out too, so the theft is noticed and cannot be retried).
    assert_eq!(
        me_from(&s, &cookie, UA, "198.51.100.7").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        me_from(&s, &cookie, UA, "203.0.113.10").await,
        StatusCode::UNAUTHORIZED
    );

    // Another browser (User-Agent), same IP: refused.
    let cookie = login_from(&s, UA, "203.0.113.10").await;
    assert_eq!(
        me_from(&s, &cookie, "curl/8.5.0", "203.0.113.10").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        me_from(&s, &cookie, UA, "203.0.113.10").await,
        StatusCode::UNAUTHORIZED
    );
    // No User-Agent at all: refused.
    let cookie = login_from(&s, UA, "203.0.113.10").await;
    let res = s
        .http
        .send(
            s.http
                .req(Method::GET, "/me")
                .header("x-forwarded-for", "203.0.113.10")
                .header(COOKIE, cookie.clone()),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // The thief prepends the victim's IP to X-Forwarded-For: the proxy appends the real
    // one, which is what counts.
    let cookie = login_from(&s, UA, "203.0.113.10").await;
    assert_eq!(
        me_from(&s, &cookie, UA, "203.0.113.10, 198.51.100.7").await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
    // No trusted proxy: X-Forwarded-For is the client's own claim and is ignored, so a thief
    // cannot claim the victim's IP, and the victim is not locked out by one.
    let s = start(false).await;
    let cookie = login_from(&s, UA, "203.0.113.10").await;
    assert_eq!(
        me_from(&s, &cookie, UA, "198.51.100.7").await,
        StatusCode::OK
    );
    let res = s
        .http
        .send(
            s.http
                .req(Method::GET, "/me")
                .header(USER_AGENT, UA)
                .header("forwarded", "for=198.51.100.7")
                .header(COOKIE, cookie.clone()),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn logout_and_rejections_are_never_cacheable() {
    let s = start(false).await;
    let pair = login_from(&s, UA, "1.2.3.4").await;
    // Every response below goes through `check` (no-store); also Vary and the cleared cookie.
    let res = s
        .http
        .send(
            s.http
                .req(Method::GET, "/me")
                .header(USER_AGENT, UA)
                .header(COOKIE, pair.clone()),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let vary = res.headers()[VARY].to_str().unwrap().to_ascii_lowercase();
    assert!(
        vary.contains("cookie") && vary.contains("authorization"),
        "{vary}"
    );
    assert_eq!(res.headers()[http::header::PRAGMA], "no-cache");
    let res = s
        .http
        .send(
            s.http
                .req(Method::POST, "/logout")
                .header(USER_AGENT, UA)
                .header(COOKIE, pair.clone()),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let cleared = res.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let res = s
        .http
        .send(
            s.http
                .req(Method::GET, "/me")
                .header(USER_AGENT, UA)
                .header(COOKIE, pair),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // The public route and a 404 too.
    assert_eq!(s.http.get("/public").await.status(), StatusCode::OK);
    assert_eq!(s.http.get("/nope").await.status(), StatusCode::NOT_FOUND);
}
