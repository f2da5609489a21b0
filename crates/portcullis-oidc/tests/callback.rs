//! The callback's failure paths against a local fake provider (discovery, JWKS, token endpoint
//! that signs whatever ID token a test asks for): tampered `state`, replayed callback, wrong
//! `nonce`, ID token for another audience, several audiences without `azp`, provider errors,
//! open-redirect `return_to`, logout. The app is a plain tower stack with `OidcLayer`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{HeaderMap, Request, Response, StatusCode, header};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use portcullis_cookie::{CookieKeys, CookieLayer, Key};
use portcullis_jwt::http::DefaultHttpClient;
use portcullis_jwt::{JwksCache, Validator};
use portcullis_oidc::{Oidc, OidcConfig, OidcError, OidcErrorKind, OidcLayer};
use portcullis_session::store::MemoryStore;
use portcullis_session::{Session, SessionConfig, TokenLookupLayer};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower::util::BoxCloneService;
use tower::{ServiceBuilder, ServiceExt, service_fn};

const CLIENT: &str = "my-app";
const SECRET: &str = "client-secret-0123456789";
const APP: &str = "https://app.example";

/// What the fake token endpoint puts in the next ID token, and what it saw.
#[derive(Default)]
struct Knobs {
    nonce: Option<String>,
    aud: Option<Value>,
    azp: Option<String>,
    challenge: Option<String>,
    exchanges: u32,
}

#[derive(Clone)]
struct Fake {
    issuer: String,
    key: Arc<EncodingKey>,
    knobs: Arc<Mutex<Knobs>>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl Fake {
    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("k1".into());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }
}

async fn token(State(fake): State<Fake>, headers: HeaderMap, body: String) -> Response<String> {
    let form: Vec<(String, String)> = body
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| {
            let v = percent_encoding::percent_decode_str(v)
                .decode_utf8()
                .unwrap();
            (k.to_owned(), v.into_owned())
        })
        .collect();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let basic = format!("Basic {}", STANDARD.encode(format!("{CLIENT}:{SECRET}")));
    let mut knobs = fake.knobs.lock().unwrap();
    knobs.exchanges += 1;
    let verifier_ok = get("code_verifier").is_some_and(|v| {
        Some(URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes()))) == knobs.challenge
    });
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(&basic)
        || get("grant_type").as_deref() != Some("authorization_code")
        || get("code").as_deref() != Some("good-code")
        || get("redirect_uri").as_deref() != Some(&format!("{APP}/callback"))
        || !verifier_ok
    {
        let mut res = Response::new(r#"{"error":"invalid_grant"}"#.to_owned());
        *res.status_mut() = StatusCode::BAD_REQUEST;
        return res;
    }
    let access = fake.sign(&json!({
        "iss": fake.issuer, "sub": "alice", "aud": "api", "exp": now() + 300, "iat": now(),
    }));
    let mut id = json!({
        "iss": fake.issuer, "sub": "alice", "exp": now() + 300, "iat": now(),
        "aud": knobs.aud.clone().unwrap_or(json!(CLIENT)),
        "nonce": knobs.nonce.clone().unwrap(),
    });
    if let Some(azp) = &knobs.azp {
        id["azp"] = json!(azp);
    }
    let id = fake.sign(&id);
    Response::new(
        json!({"access_token": access, "token_type": "Bearer", "expires_in": 300,
               "refresh_token": "r1", "id_token": id})
        .to_string(),
    )
}

async fn start_fake() -> Fake {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let point = pair.public_key().as_ref().to_vec();
    let jwk = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "alg": "ES256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])}]});
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let fake = Fake {
        issuer: issuer.clone(),
        key: Arc::new(EncodingKey::from_ec_der(pkcs8.as_ref())),
        knobs: Arc::default(),
    };
    let discovery = json!({
        "issuer": issuer, "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"), "jwks_uri": format!("{issuer}/jwks"),
        "end_session_endpoint": format!("{issuer}/session/end"),
        "code_challenge_methods_supported": ["S256"],
    })
    .to_string();
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { discovery }),
        )
        .route("/jwks", get(move || async move { jwk.to_string() }))
        .route("/token", post(token))
        .with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    fake
}

type App = BoxCloneService<Request<String>, Response<String>, Infallible>;

fn config(fake: &Fake) -> OidcConfig {
    let http = Arc::new(
        DefaultHttpClient::builder()
            .insecure_allow_http_loopback()
            .build(),
    );
    OidcConfig::new(fake.issuer.clone(), CLIENT, format!("{APP}/callback"))
        .with_client_secret_basic(SECRET)
        .with_post_logout_redirect_uri(format!("{APP}/bye"))
        .with_http_client(http)
        .insecure_allow_http_loopback()
}

fn app(fake: &Fake, oidc: Oidc) -> App {
    let sessions = SessionConfig::new(Arc::new(MemoryStore::new()))
        .build()
        .unwrap();
    let _ = fake;
    BoxCloneService::new(
        ServiceBuilder::new()
            .layer(CookieLayer::new().with_keys(CookieKeys::new(Key::generate())))
            .layer(TokenLookupLayer::new(sessions))
            .layer(OidcLayer::new(oidc))
            .service(service_fn(|req: Request<String>| async move {
                let session = req.extensions().get::<Session>().unwrap();
                Ok::<_, Infallible>(Response::new(session.subject().unwrap_or_default()))
            })),
    )
}

async fn standard_app(fake: &Fake) -> App {
    let jwks = JwksCache::builder()
        .add_issuer(fake.issuer.clone())
        .insecure_allow_http_loopback()
        .build()
        .unwrap();
    let access = Validator::builder(jwks.clone())
        .with_audience("api")
        .build()
        .unwrap();
    let oidc = config(fake)
        .with_jwks(jwks)
        .with_access_token_validator(access)
        .build()
        .unwrap();
    app(fake, oidc)
}

fn set_cookies(res: &Response<String>) -> Vec<String> {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

async fn call(app: &App, method: &str, uri: &str, cookie: Option<&str>) -> Response<String> {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    app.clone()
        .oneshot(req.body(String::new()).unwrap())
        .await
        .unwrap()
}

/// Starts a login; returns the flow cookie, `state`, and records the PKCE challenge and the
/// nonce (as the fake provider would).
async fn start_login(app: &App, fake: &Fake) -> (String, String) {
    let res = call(app, "GET", "/login?return_to=/me%3Fx%3D1", None).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.body());
    let location = res.headers()[header::LOCATION].to_str().unwrap().to_owned();
    assert!(location.starts_with(&format!("{}/authorize?", fake.issuer)));
    let query = location.split_once('?').unwrap().1;
    let get = |k: &str| {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(&format!("{k}=")))
            .unwrap()
            .to_owned()
    };
    assert_eq!(get("code_challenge_method"), "S256");
    assert_eq!(get("scope"), "openid");
    let mut knobs = fake.knobs.lock().unwrap();
    knobs.challenge = Some(get("code_challenge"));
    knobs.nonce = Some(get("nonce"));
    let flow = set_cookies(&res)
        .into_iter()
        .find(|c| c.starts_with("__Host-oidc-flow="))
        .expect("flow cookie");
    assert!(flow.contains("HttpOnly") && flow.contains("Secure") && flow.contains("Max-Age=600"));
    (cookie_pair(&flow), get("state"))
}

fn error_kind(res: &Response<String>) -> OidcErrorKind {
    res.extensions()
        .get::<OidcError>()
        .unwrap_or_else(|| panic!("no OidcError: {} {}", res.status(), res.body()))
        .kind()
}

fn assert_no_session(res: &Response<String>) {
    assert!(
        !set_cookies(res)
            .iter()
            .any(|c| c.starts_with("__Host-session=") && !c.contains("Max-Age=0")),
        "a session cookie was set: {:?}",
        set_cookies(res)
    );
}

#[tokio::test]
async fn login_callback_creates_a_session_and_redirects_to_return_to() {
    let fake = start_fake().await;
    let app = standard_app(&fake).await;
    let (flow, state) = start_login(&app, &fake).await;
    let res = call(
        &app,
        "GET",
        &format!("/callback?code=good-code&state={state}"),
        Some(&flow),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.body());
    assert_eq!(res.headers()[header::LOCATION], "/me?x=1");
    let cookies = set_cookies(&res);
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("__Host-oidc-flow=") && c.contains("Max-Age=0"))
    );
    let session = cookies
        .iter()
        .find(|c| c.starts_with("__Host-session="))
        .unwrap();
    assert!(!session.contains("good-code"));
    let res = call(&app, "GET", "/me", Some(&cookie_pair(session))).await;
    assert_eq!(res.body(), "alice");

    // Replayed callback (same flow cookie, same URL): refused, no second session.
    let res = call(
        &app,
        "GET",
        &format!("/callback?code=good-code&state={state}"),
        Some(&flow),
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_kind(&res), OidcErrorKind::Replayed);
    assert_no_session(&res);
    assert_eq!(
        fake.knobs.lock().unwrap().exchanges,
        1,
        "a replay must not reach the provider"
    );
}

#[tokio::test]
async fn tampered_or_missing_state_is_refused() {
    let fake = start_fake().await;
    let app = standard_app(&fake).await;
    let (flow, state) = start_login(&app, &fake).await;
    let mut tampered = state.clone().into_bytes();
    tampered[0] = if tampered[0] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for uri in [
        format!("/callback?code=good-code&state={tampered}"),
        "/callback?code=good-code".to_owned(),
        format!("/callback?code=good-code&state={state}&state={state}"),
    ] {
        let res = call(&app, "GET", &uri, Some(&flow)).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{uri}");
        assert_no_session(&res);
        assert!(!res.body().contains("good-code") && !res.body().contains(&state));
    }
    // Without the flow cookie (another browser), even the right state is refused.
    let res = call(
        &app,
        "GET",
        &format!("/callback?code=good-code&state={state}"),
        None,
    )
    .await;
    assert_eq!(error_kind(&res), OidcErrorKind::MissingFlow);
    // A forged flow cookie does not decrypt.
    let res = call(
        &app,
        "GET",
        &format!("/callback?code=good-code&state={state}"),
        Some("__Host-oidc-flow=eyJzIjoiYSJ9"),
    )
    .await;
    assert_eq!(error_kind(&res), OidcErrorKind::MissingFlow);
    assert_eq!(fake.knobs.lock().unwrap().exchanges, 0);
}

#[tokio::test]
async fn wrong_nonce_another_audience_or_missing_azp_is_refused() {
    let fake = start_fake().await;
    let app = standard_app(&fake).await;
    type Tweak = fn(&mut Knobs);
    let cases: [(&str, Tweak); 4] = [
        ("wrong nonce", |k| k.nonce = Some("attacker-nonce".into())),
        ("other audience", |k| k.aud = Some(json!("another-app"))),
        ("several audiences, no azp", |k| {
            k.aud = Some(json!([CLIENT, "another-app"]))
        }),
        ("azp of another client", |k| {
            k.azp = Some("another-app".into())
        }),
    ];
    for (name, tweak) in cases {
        let (flow, state) = start_login(&app, &fake).await;
        {
            let mut knobs = fake.knobs.lock().unwrap();
            *knobs = Knobs {
                challenge: knobs.challenge.take(),
                nonce: knobs.nonce.take(),
                ..Knobs::default()
            };
            tweak(&mut knobs);
        }
        let res = call(
            &app,
            "GET",
            &format!("/callback?code=good-code&state={state}"),
            Some(&flow),
        )
        .await;
        assert_eq!(
            res.status(),
            StatusCode::BAD_GATEWAY,
            "{name}: {}",
            res.body()
        );
        assert_eq!(error_kind(&res), OidcErrorKind::InvalidIdToken, "{name}");
        assert_no_session(&res);
    }
    // Several audiences with azp = this client: accepted.
    let (flow, state) = start_login(&app, &fake).await;
    {
        let mut knobs = fake.knobs.lock().unwrap();
        knobs.aud = Some(json!([CLIENT, "another-app"]));
        knobs.azp = Some(CLIENT.into());
    }
    let res = call(
        &app,
        "GET",
        &format!("/callback?code=good-code&state={state}"),
        Some(&flow),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.body());
}

#[tokio::test]
async fn provider_errors_and_bad_codes_end_in_an_error_page() {
    let fake = start_fake().await;
    let app = standard_app(&fake).await;
    let (flow, state) = start_login(&app, &fake).await;
    let res = call(
        &app,
        "GET",
        &format!("/callback?error=access_denied&error_description=%3Cscript%3E&state={state}"),
        Some(&flow),
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_kind(&res), OidcErrorKind::ProviderError);
    assert!(res.body().contains("access_denied") && !res.body().contains("script"));
    assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
    assert_no_session(&res);

    let (flow, state) = start_login(&app, &fake).await;
    let res = call(
        &app,
        "GET",
        &format!("/callback?code=stolen&state={state}"),
        Some(&flow),
    )
    .await;
    assert_eq!(error_kind(&res), OidcErrorKind::TokenRejected);
    assert!(!res.body().contains("stolen"));
    assert_no_session(&res);

    let res = call(&app, "POST", "/callback", None).await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers()[header::ALLOW], "GET");
}

#[tokio::test]
async fn open_redirect_return_to_is_refused() {
    let fake = start_fake().await;
    let app = standard_app(&fake).await;
    for bad in [
        "//evil.example",
        "/%5Cevil.example",
        "%2F%2Fevil.example",
        "/%252F%252Fevil.example",
        "https://evil.example/",
        "https:evil.example",
        "javascript:alert(1)",
        "/..//evil.example",
        "%5C%5Cevil.example",
        "/%09/evil.example",
    ] {
        let res = call(&app, "GET", &format!("/login?return_to={bad}"), None).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(error_kind(&res), OidcErrorKind::InvalidReturnTo, "{bad}");
        assert!(res.headers().get(header::LOCATION).is_none());
        assert!(set_cookies(&res).is_empty(), "{bad}: no flow may start");
    }
    let res = call(&app, "GET", "/login", None).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn logout_ends_the_session_and_goes_to_end_session() {
    let fake = start_fake().await;
    let app = standard_app(&fake).await;
    let (flow, state) = start_login(&app, &fake).await;
    let res = call(
        &app,
        "GET",
        &format!("/callback?code=good-code&state={state}"),
        Some(&flow),
    )
    .await;
    let session = cookie_pair(
        set_cookies(&res)
            .iter()
            .find(|c| c.starts_with("__Host-session="))
            .unwrap(),
    );

    // Another site's form cannot log the user out.
    let req = Request::post("/logout")
        .header(header::COOKIE, &session)
        .header(header::ORIGIN, "https://evil.example")
        .body(String::new())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        call(&app, "GET", "/me", Some(&session)).await.body(),
        "alice"
    );

    let req = Request::post("/logout")
        .header(header::COOKIE, &session)
        .header(header::ORIGIN, APP)
        .body(String::new())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let location = res.headers()[header::LOCATION].to_str().unwrap();
    assert!(location.starts_with(&format!(
        "{}/session/end?client_id={CLIENT}&id_token_hint=ey",
        fake.issuer
    )));
    assert!(location.ends_with("&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye"));
    assert!(
        set_cookies(&res)
            .iter()
            .any(|c| c.starts_with("__Host-session=") && c.contains("Max-Age=0"))
    );
    let res = call(&app, "GET", "/me", Some(&session)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn configuration_errors_are_reported_at_build() {
    let fake = start_fake().await;
    let cases: Vec<(OidcConfig, &str)> = vec![
        (config(&fake), "oidc.access_token"),
        (
            config(&fake)
                .insecure_skip_access_token_validation()
                .with_login_path("login"),
            "oidc.login_path",
        ),
        (
            config(&fake)
                .insecure_skip_access_token_validation()
                .with_logout_path("/callback"),
            "oidc.logout_path",
        ),
        (
            config(&fake)
                .insecure_skip_access_token_validation()
                .with_flow_lifetime(Duration::ZERO),
            "oidc.flow_lifetime",
        ),
        (
            config(&fake)
                .insecure_skip_access_token_validation()
                .with_flow_cookie_name("a;b"),
            "oidc.flow_cookie_name",
        ),
        (
            config(&fake)
                .insecure_skip_access_token_validation()
                .with_default_return_to("//evil"),
            "oidc.default_return_to",
        ),
        (
            config(&fake)
                .insecure_skip_access_token_validation()
                .with_client_secret_post(""),
            "oidc.client_secret",
        ),
        (
            OidcConfig::new("http://idp.example", CLIENT, "https://app.example/cb")
                .insecure_skip_access_token_validation(),
            "oidc.issuer",
        ),
    ];
    for (config, setting) in cases {
        assert_eq!(config.build().unwrap_err().setting(), setting);
    }
    let ok = config(&fake)
        .insecure_skip_access_token_validation()
        .build()
        .unwrap();
    let meta = ok.discover().await.unwrap();
    assert_eq!(meta.issuer, fake.issuer);
    assert!(!format!("{ok:?}").contains(SECRET));
}
