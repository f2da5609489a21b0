//! Session lifecycle through the layer stack, on the memory store.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::{StatusCode, header};
use portcullis_jwt::http::DefaultHttpClient;
use portcullis_session::revocation::{FnListener, LocalRevocation, Revocation, RevocationEvent};
use portcullis_session::store::{MemoryStore, SessionStore, StoredTokens};
use portcullis_session::{AccessTokenExpiry, EncryptionKey, IdpConfig, SessionConfig, TokioClock};
use support::*;

fn memory() -> Arc<MemoryStore> {
    Arc::new(MemoryStore::new())
}

#[tokio::test]
async fn login_issues_a_new_id_and_the_old_one_is_dead() {
    let store = memory();
    let app = app(SessionConfig::new(store.clone()).build().unwrap());
    let first = login(&app, "alice", &[]).await;

    let res = send(&app, get("/whoami", Some(&first))).await;
    assert_eq!(res.body(), "alice|access-1");

    // Logging in again from the same browser: a new ID, the old session destroyed.
    let res = send(&app, get("/login?sub=alice", Some(&first))).await;
    let second = session_cookie(&res).unwrap();
    assert_ne!(first, second);
    assert!(store.load(&hash_of(&first)).await.unwrap().is_none());

    let res = send(&app, get("/whoami", Some(&first))).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(clears_cookie(&res));
    let rejection = res
        .extensions()
        .get::<portcullis_core::Rejection>()
        .unwrap();
    assert_eq!(
        rejection.kind(),
        portcullis_core::RejectionKind::SessionInvalid
    );

    assert_eq!(
        send(&app, get("/whoami", Some(&second))).await.body(),
        "alice|access-1"
    );

    // An anonymous request gets an anonymous session and no token.
    assert_eq!(send(&app, get("/whoami", None)).await.body(), "|");
    // A malformed cookie is refused and cleared.
    let res = send(&app, get("/whoami", Some("__Host-session=short"))).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(clears_cookie(&res));
}

#[tokio::test]
async fn cookie_never_contains_a_token_and_tokens_are_sealed_at_rest() {
    let store = memory();
    let manager = SessionConfig::new(store.clone())
        .with_encryption_key(EncryptionKey::from_bytes([42; 32]))
        .build()
        .unwrap();
    let app = app(manager);
    let res = send(&app, {
        let mut req = get("/login?sub=alice", None);
        req.headers_mut()
            .insert("x-access", "SECRET-ACCESS".parse().unwrap());
        req.headers_mut()
            .insert("x-refresh", "SECRET-REFRESH".parse().unwrap());
        req
    })
    .await;
    for value in res.headers().get_all(header::SET_COOKIE) {
        let value = value.to_str().unwrap();
        assert!(!value.contains("SECRET"), "{value}");
        assert!(value.contains("HttpOnly") && value.contains("Secure"));
    }
    let cookie = session_cookie(&res).unwrap();
    let record = store.load(&hash_of(&cookie)).await.unwrap().unwrap();
    assert!(matches!(record.tokens, StoredTokens::Sealed(_)));
    let json = serde_json::to_string(&record).unwrap();
    assert!(!json.contains("SECRET"));
    assert!(
        !json.contains(cookie.split_once('=').unwrap().1),
        "raw ID stored"
    );
    // The handle still sees the token.
    assert_eq!(
        send(&app, get("/", Some(&cookie))).await.body(),
        "alice|SECRET-ACCESS"
    );
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_slides_and_then_ends_the_session() {
    let store = memory();
    let manager = SessionConfig::new(store.clone())
        .with_clock(Arc::new(TokioClock::new()))
        .with_idle_timeout(Duration::from_secs(30 * 60))
        .with_touch_interval(Duration::from_secs(60))
        .build()
        .unwrap();
    let app = app(manager);
    let cookie = login(&app, "alice", &[]).await;
    let touches = store
        .load(&hash_of(&cookie))
        .await
        .unwrap()
        .unwrap()
        .last_seen;

    tokio::time::advance(Duration::from_secs(20 * 60)).await;
    assert_eq!(
        send(&app, get("/", Some(&cookie))).await.status(),
        StatusCode::OK
    );
    let seen = store
        .load(&hash_of(&cookie))
        .await
        .unwrap()
        .unwrap()
        .last_seen;
    assert!(seen > touches, "the idle deadline moved");

    // Within the touch interval: no write.
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(
        send(&app, get("/", Some(&cookie))).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        store
            .load(&hash_of(&cookie))
            .await
            .unwrap()
            .unwrap()
            .last_seen,
        seen
    );

    // 40 minutes after login but 20 after the last touch: alive.
    tokio::time::advance(Duration::from_secs(20 * 60)).await;
    assert_eq!(
        send(&app, get("/", Some(&cookie))).await.status(),
        StatusCode::OK
    );

    // Idle for 31 minutes: ended, deleted, cookie cleared.
    tokio::time::advance(Duration::from_secs(31 * 60)).await;
    let res = send(&app, get("/", Some(&cookie))).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(clears_cookie(&res));
    assert!(store.load(&hash_of(&cookie)).await.unwrap().is_none());
}

#[tokio::test(start_paused = true)]
async fn absolute_lifetime_ends_an_active_session() {
    let store = memory();
    let manager = SessionConfig::new(store.clone())
        .with_clock(Arc::new(TokioClock::new()))
        .with_idle_timeout(Duration::from_secs(45 * 60))
        .with_absolute_lifetime(Duration::from_secs(2 * 3600))
        .build()
        .unwrap();
    let app = app(manager);
    let cookie = login(&app, "alice", &[]).await;
    for _ in 0..3 {
        tokio::time::advance(Duration::from_secs(30 * 60)).await;
        assert_eq!(
            send(&app, get("/", Some(&cookie))).await.status(),
            StatusCode::OK
        );
    }
    tokio::time::advance(Duration::from_secs(31 * 60)).await;
    let res = send(&app, get("/", Some(&cookie))).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(clears_cookie(&res));
}

fn idp(addr: std::net::SocketAddr) -> IdpConfig {
    let http = DefaultHttpClient::builder()
        .insecure_allow_http_loopback()
        .build();
    IdpConfig::new("test-app", Arc::new(http))
        .with_client_secret_basic("app-secret")
        .with_token_endpoint(format!("http://{addr}/token").parse().unwrap())
        .with_revocation_endpoint(format!("http://{addr}/revoke").parse().unwrap())
}

#[tokio::test]
async fn logout_clears_cookie_session_and_revokes_the_refresh_token() {
    let (addr, log) = start_idp().await;
    let store = memory();
    let manager = SessionConfig::new(store.clone())
        .with_idp(idp(addr))
        .build()
        .unwrap();
    let app = app(manager);
    let cookie = login(&app, "alice", &[("x-refresh", "refresh-0")]).await;

    let res = send(&app, get("/logout", Some(&cookie))).await;
    assert_eq!(res.body(), "bye");
    assert!(clears_cookie(&res));
    assert_eq!(res.headers()["clear-site-data"], "\"cookies\", \"storage\"");
    assert!(store.load(&hash_of(&cookie)).await.unwrap().is_none());
    assert_eq!(log.revoke_calls.load(Ordering::SeqCst), 1);
    let bodies = log.bodies.lock().unwrap().clone();
    assert_eq!(
        bodies,
        vec!["/revoke token=refresh-0&token_type_hint=refresh_token".to_owned()]
    );

    // The cookie is dead afterwards.
    let res = send(&app, get("/", Some(&cookie))).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

/// Sessions on `store` that refresh expired access tokens at the local IdP `addr`.
fn refreshing(store: Arc<dyn SessionStore>, addr: std::net::SocketAddr) -> SessionConfig {
    SessionConfig::new(store)
        .with_idp(idp(addr))
        .with_access_token_expiry(AccessTokenExpiry::Refresh)
}

/// Logs alice in with an access token that has already expired and refresh token
/// `refresh-0`: her next request refreshes.
async fn login_needing_refresh(app: &App) -> String {
    login(
        app,
        "alice",
        &[("x-refresh", "refresh-0"), ("x-expires-at-offset", "-1")],
    )
    .await
}

#[tokio::test]
async fn concurrent_refreshes_call_the_token_endpoint_once() {
    let (addr, log) = start_idp().await;
    let store = memory();
    let manager = refreshing(store.clone(), addr)
        .with_encryption_key(EncryptionKey::generate().unwrap())
        .build()
        .unwrap();
    let app = app(manager);
    let cookie = login_needing_refresh(&app).await;

    let requests = (0..20).map(|_| {
        let app = app.clone();
        let cookie = cookie.clone();
        tokio::spawn(async move { send(&app, get("/", Some(&cookie))).await })
    });
    for handle in requests.collect::<Vec<_>>() {
        let res = handle.await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.body(), "alice|access-r1");
    }
    assert_eq!(log.token_calls.load(Ordering::SeqCst), 1);
    let bodies = log.bodies.lock().unwrap().clone();
    assert_eq!(
        bodies,
        vec!["/token grant_type=refresh_token&refresh_token=refresh-0".to_owned()]
    );

    // The rotated refresh token is what the session now holds (and revokes at logout).
    let res = send(&app, get("/logout", Some(&cookie))).await;
    assert_eq!(res.body(), "bye");
    let bodies = log.bodies.lock().unwrap().clone();
    assert_eq!(
        bodies[1],
        "/revoke token=refresh-r1&token_type_hint=refresh_token"
    );
}

/// Two app instances sharing one store (as with Redis behind a load balancer): concurrent
/// requests of one session with an expired access token, spread over both, still make one
/// refresh at the IdP. A second use of the rotated-away refresh token would trip the IdP's
/// reuse detection and revoke the whole token family.
#[tokio::test]
async fn concurrent_refreshes_on_two_instances_call_the_token_endpoint_once() {
    let (addr, log) = start_idp().await;
    let store = memory();
    let key = EncryptionKey::generate().unwrap();
    let instance = || {
        app(refreshing(store.clone(), addr)
            .with_encryption_key(key.clone())
            .build()
            .unwrap())
    };
    let (a, b) = (instance(), instance());
    let cookie = login_needing_refresh(&a).await;

    let requests = (0..20).map(|i| {
        let app = if i % 2 == 0 { a.clone() } else { b.clone() };
        let cookie = cookie.clone();
        tokio::spawn(async move { send(&app, get("/", Some(&cookie))).await })
    });
    for handle in requests.collect::<Vec<_>>() {
        let res = handle.await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{}", res.body());
        assert_eq!(res.body(), "alice|access-r1");
    }
    assert_eq!(
        log.bodies.lock().unwrap().clone(),
        vec!["/token grant_type=refresh_token&refresh_token=refresh-0".to_owned()]
    );
    assert_eq!(log.token_calls.load(Ordering::SeqCst), 1);
}

/// The record changes (app data written elsewhere) while a refresh is at the IdP: the new
/// tokens still land in the session, next to the new data, and the spent refresh token is
/// never sent again.
#[tokio::test]
async fn refreshed_tokens_survive_a_concurrent_write() {
    let (addr, log) = start_idp().await;
    let store = memory();
    let manager = refreshing(store.clone(), addr).build().unwrap();
    let app = app(manager);
    let cookie = login_needing_refresh(&app).await;
    let request = tokio::spawn({
        let (app, cookie) = (app.clone(), cookie.clone());
        async move { send(&app, get("/", Some(&cookie))).await }
    });
    // The IdP answers after 100 ms; meanwhile another writer changes the record.
    tokio::time::sleep(Duration::from_millis(40)).await;
    let mut record = store.load(&hash_of(&cookie)).await.unwrap().unwrap();
    assert!(
        record.refresh_lease_until.is_some(),
        "the refresh holds the lease"
    );
    record
        .data
        .insert("theme".into(), serde_json::json!("dark"));
    store.update(&record).await.unwrap();

    let res = request.await.unwrap();
    assert_eq!(res.body(), "alice|access-r1");
    let stored = store.load(&hash_of(&cookie)).await.unwrap().unwrap();
    assert_eq!(stored.data["theme"], "dark");
    assert!(stored.refresh_lease_until.is_none(), "lease released");
    let StoredTokens::Plain(tokens) = &stored.tokens else {
        panic!("tokens stored in the clear without a key");
    };
    assert_eq!(tokens.refresh_token(), Some("refresh-r1"));
    assert_eq!(log.token_calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        send(&app, get("/", Some(&cookie))).await.body(),
        "alice|access-r1"
    );
}

/// One subject logging in again and again keeps at most the per-subject limit of sessions:
/// each login beyond it ends that subject's oldest; other subjects are untouched.
#[tokio::test]
async fn logins_beyond_the_per_subject_limit_end_the_oldest_sessions() {
    let store = memory();
    let app = app(SessionConfig::new(store.clone())
        .with_max_sessions_per_subject(3)
        .build()
        .unwrap());
    let bob = login(&app, "bob", &[]).await;
    let mut alice = Vec::new();
    for _ in 0..5 {
        alice.push(login(&app, "alice", &[]).await);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(store.sessions_of("alice").await.unwrap().len(), 3);
    for (i, cookie) in alice.iter().enumerate() {
        let res = send(&app, get("/whoami", Some(cookie))).await;
        let expected = if i < 2 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        };
        assert_eq!(res.status(), expected, "login {i}");
    }
    assert_eq!(
        send(&app, get("/whoami", Some(&bob))).await.body(),
        "bob|access-1"
    );

    // The limit is a default (100), can be lifted, and cannot be zero.
    let unlimited = app_without_limit(store.clone());
    for _ in 0..4 {
        login(&unlimited, "carol", &[]).await;
    }
    assert_eq!(store.sessions_of("carol").await.unwrap().len(), 4);
    assert!(
        SessionConfig::new(store.clone())
            .with_max_sessions_per_subject(0)
            .build()
            .is_err()
    );
    assert!(
        format!("{:?}", SessionConfig::new(store)).contains("max_sessions_per_subject: Some(100)")
    );
}

fn app_without_limit(store: Arc<MemoryStore>) -> App {
    app(SessionConfig::new(store)
        .without_session_limit_per_subject()
        .build()
        .unwrap())
}

#[tokio::test]
async fn a_refused_refresh_ends_the_session() {
    let (addr, log) = start_idp().await;
    log.reject.store(true, Ordering::SeqCst);
    let store = memory();
    let manager = refreshing(store.clone(), addr).build().unwrap();
    let app = app(manager);
    let cookie = login_needing_refresh(&app).await;
    let res = send(&app, get("/", Some(&cookie))).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(clears_cookie(&res));
    assert!(store.load(&hash_of(&cookie)).await.unwrap().is_none());
}

#[tokio::test]
async fn an_unreachable_idp_is_503_not_logged_out() {
    // Port 9 on loopback: nothing listens.
    let store = memory();
    let manager = refreshing(store.clone(), "127.0.0.1:9".parse().unwrap())
        .build()
        .unwrap();
    let app = app(manager);
    let cookie = login_needing_refresh(&app).await;
    let res = send(&app, get("/", Some(&cookie))).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let record = store.load(&hash_of(&cookie)).await.unwrap().unwrap();
    assert!(
        record.refresh_lease_until.is_none(),
        "the failed refresh releases its lease, so the next request tries at once"
    );
}

/// An instance that took the refresh lease and died never writes new tokens: once the lease
/// runs out, a request on another instance takes it over and refreshes (once).
#[tokio::test]
async fn a_lease_left_by_a_dead_instance_is_taken_over_when_it_runs_out() {
    let (addr, log) = start_idp().await;
    let store = memory();
    let app = app(refreshing(store.clone(), addr)
        .with_refresh_lease(Duration::from_millis(300))
        .build()
        .unwrap());
    let cookie = login_needing_refresh(&app).await;
    let mut record = store.load(&hash_of(&cookie)).await.unwrap().unwrap();
    record.refresh_lease_until =
        Some(portcullis_session::Timestamp::now().saturating_add(Duration::from_millis(300)));
    store.update(&record).await.unwrap();

    let started = std::time::Instant::now();
    let res = send(&app, get("/", Some(&cookie))).await;
    assert_eq!(res.body(), "alice|access-r1");
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "waited for the lease: {:?}",
        started.elapsed()
    );
    assert_eq!(log.token_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn end_session_policy_ends_on_an_expired_access_token() {
    let store = memory();
    let app = app(SessionConfig::new(store.clone()).build().unwrap());
    let cookie = login(&app, "alice", &[("x-expires-at-offset", "-1")]).await;
    let res = send(&app, get("/", Some(&cookie))).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(store.load(&hash_of(&cookie)).await.unwrap().is_none());
}

#[tokio::test]
async fn store_failure_is_503_and_service_resumes() {
    let store = FlakyStore::new();
    let manager = SessionConfig::new(Arc::new(store.clone()))
        .with_store_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let app = app(manager);
    let cookie = login(&app, "alice", &[]).await;

    store.down.store(true, Ordering::SeqCst);
    let res = send(&app, get("/", Some(&cookie))).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()[header::RETRY_AFTER], "5");
    assert!(
        !clears_cookie(&res),
        "a store outage must not log the user out"
    );
    // Login fails too, rather than pretending.
    let res = send(&app, get("/login?sub=bob", None)).await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(session_cookie(&res).is_none());

    // A hanging store times out.
    store.down.store(false, Ordering::SeqCst);
    store.hang.store(true, Ordering::SeqCst);
    let res = send(&app, get("/", Some(&cookie))).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);

    store.hang.store(false, Ordering::SeqCst);
    let res = send(&app, get("/", Some(&cookie))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.body(), "alice|access-1");
}

/// `with_dead_session_as_anonymous`: a cookie naming no live session is cleared and the
/// request served as anonymous (no subject, no token), on the in-process path and the store
/// round trip alike; logging in from there works on the first request; a store outage is
/// still a 503 that keeps the cookie.
#[tokio::test(start_paused = true)]
async fn a_dead_session_can_continue_as_anonymous() {
    let memory_store = memory();
    let flaky = FlakyStore::new();
    let stores: [Arc<dyn SessionStore>; 2] = [memory_store, Arc::new(flaky.clone())];
    for store in stores {
        let manager = SessionConfig::new(store)
            .with_clock(Arc::new(TokioClock::new()))
            .with_idle_timeout(Duration::from_secs(30 * 60))
            .with_store_timeout(Duration::from_millis(100))
            .with_dead_session_as_anonymous()
            .build()
            .unwrap();
        let app = app(manager);
        let forged = "__Host-session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        for cookie in [forged, "__Host-session=short"] {
            let res = send(&app, get("/whoami", Some(cookie))).await;
            assert_eq!(res.status(), StatusCode::OK, "{cookie}");
            assert_eq!(res.body(), "|", "anonymous: no subject, no token");
            assert!(clears_cookie(&res), "{cookie}");
        }

        // A session that idled out: anonymous, cookie cleared, record gone.
        let cookie = login(&app, "alice", &[]).await;
        assert_eq!(
            send(&app, get("/whoami", Some(&cookie))).await.body(),
            "alice|access-1"
        );
        tokio::time::advance(Duration::from_secs(31 * 60)).await;
        let res = send(&app, get("/whoami", Some(&cookie))).await;
        assert_eq!((res.status(), res.body().as_str()), (StatusCode::OK, "|"));
        assert!(clears_cookie(&res));

        // Logging in with the dead cookie still present works at once, with a new ID.
        let res = send(&app, get("/login?sub=bob", Some(&cookie))).await;
        let fresh = session_cookie(&res).expect("a new session cookie");
        assert_ne!(fresh, cookie);
        assert_eq!(
            send(&app, get("/whoami", Some(&fresh))).await.body(),
            "bob|access-1"
        );
    }

    // The store failing is not a dead session: 503, and the cookie is kept.
    let manager = SessionConfig::new(Arc::new(flaky.clone()))
        .with_store_timeout(Duration::from_millis(100))
        .with_dead_session_as_anonymous()
        .build()
        .unwrap();
    let app = app(manager);
    let cookie = login(&app, "carol", &[]).await;
    flaky.down.store(true, Ordering::SeqCst);
    let res = send(&app, get("/whoami", Some(&cookie))).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(!clears_cookie(&res));
    flaky.down.store(false, Ordering::SeqCst);
    assert_eq!(
        send(&app, get("/whoami", Some(&cookie))).await.body(),
        "carol|access-1"
    );
}

#[tokio::test]
async fn logout_everywhere_and_devices() {
    let store = memory();
    let revocation = Arc::new(LocalRevocation::new());
    let subjects = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&subjects);
    revocation.subscribe(Arc::new(FnListener::new(move |event: &RevocationEvent| {
        if matches!(event, RevocationEvent::Subject(s) if s == "alice") {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    })));
    let manager = SessionConfig::new(store.clone())
        .with_revocation(revocation)
        .build()
        .unwrap();
    let app = app(manager.clone());
    let laptop = login(&app, "alice", &[("user-agent", "laptop")]).await;
    let phone = login(&app, "alice", &[("user-agent", "phone")]).await;
    let bob = login(&app, "bob", &[]).await;

    let devices = manager.sessions_of("alice").await.unwrap();
    assert_eq!(devices.len(), 2);
    let mut agents: Vec<_> = devices
        .iter()
        .map(|d| d.client.as_ref().unwrap().user_agent.clone().unwrap())
        .collect();
    agents.sort();
    assert_eq!(agents, ["laptop", "phone"]);

    let res = send(&app, get("/everywhere?sub=alice", Some(&phone))).await;
    assert_eq!(res.body(), "ended 2");
    assert!(clears_cookie(&res));
    assert_eq!(subjects.load(Ordering::SeqCst), 1);
    for cookie in [&laptop, &phone] {
        assert_eq!(
            send(&app, get("/", Some(cookie))).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        send(&app, get("/", Some(&bob))).await.body(),
        "bob|access-1"
    );
    assert!(manager.sessions_of("alice").await.unwrap().is_empty());
}

#[tokio::test]
async fn app_data_persists_across_requests() {
    let app = app(SessionConfig::new(memory()).build().unwrap());
    let cookie = login(&app, "alice", &[]).await;
    assert_eq!(
        send(&app, get("/set?theme=dark", Some(&cookie)))
            .await
            .body(),
        "set"
    );
    assert_eq!(
        send(&app, get("/get?theme", Some(&cookie))).await.body(),
        "dark"
    );
}

#[tokio::test]
async fn bearer_header_and_misconfiguration() {
    let app = app(SessionConfig::new(memory()).build().unwrap());
    let mut req = get("/", None);
    req.headers_mut()
        .insert(header::AUTHORIZATION, "Bearer abc.def.ghi".parse().unwrap());
    assert_eq!(send(&app, req).await.body(), "|abc.def.ghi");

    let mut req = get("/", None);
    req.headers_mut()
        .insert(header::AUTHORIZATION, "Bearer a b".parse().unwrap());
    assert_eq!(send(&app, req).await.status(), StatusCode::BAD_REQUEST);

    // Without CookieLayer the cookie-reading layer refuses to guess.
    use tower::{ServiceExt, service_fn};
    let bare =
        portcullis_session::TokenLookupLayer::new(SessionConfig::new(memory()).build().unwrap());
    let svc = tower::Layer::layer(
        &bare,
        service_fn(|_req: http::Request<String>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
        }),
    );
    let res = svc.oneshot(get("/", None)).await.unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
}
