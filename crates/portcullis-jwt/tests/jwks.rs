//! JwksCache behaviour against a local IdP: single-flight, cool-down, rotation, outages.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::{Idp, Mode, TestKey, claims};
use jsonwebtoken::Algorithm;
use portcullis_jwt::http::HttpErrorKind;
use portcullis_jwt::{JwksCache, JwtErrorKind, Validator};

fn validator(cache: JwksCache) -> Validator {
    Validator::builder(cache)
        .with_audience("api")
        .build()
        .unwrap()
}

#[tokio::test]
async fn discovery_then_validation() {
    let key = TestKey::ec("k1", Algorithm::ES256);
    let idp = Idp::start(&[&key]).await;
    let v = validator(idp.cache_builder().build().unwrap());
    let token = key.sign(&claims(&idp.issuer()));
    let standard = v.validate(&token).await.unwrap();
    assert_eq!(standard.subject(), Some("alice"));
    assert_eq!(standard.issuer(), idp.issuer());
    assert!(standard.has_scope("write"));
    assert_eq!(idp.jwks_hits(), 1);
    assert_eq!(
        idp.discovery_hits.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    // Cached: no more fetches, same answer.
    assert_eq!(
        v.validate(&token).await.unwrap().jwt_id(),
        standard.jwt_id()
    );
    assert_eq!(v.cached_tokens(), 1);
}

#[tokio::test]
async fn discovery_naming_another_issuer_is_refused() {
    let key = TestKey::ec("k1", Algorithm::ES256);
    let idp = Idp::start(&[&key]).await;
    idp.state.lock().unwrap().discovery_issuer = Some("https://evil.example".into());
    let cache = idp.cache_builder().build().unwrap();
    assert!(!cache.refresh_now().await);
    let stats = cache.stats(&idp.issuer()).unwrap();
    assert_eq!(stats.last_error, Some(HttpErrorKind::InvalidResponse));
    assert_eq!(idp.jwks_hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_unknown_kid_make_one_fetch() {
    let key = TestKey::ec("k1", Algorithm::ES256);
    let idp = Idp::start(&[&key]).await;
    // A long cool-down: the assertion is "exactly one", however slow the machine.
    let cache = idp
        .cache_builder()
        .with_unknown_kid_cooldown(Duration::from_secs(60))
        .build()
        .unwrap();
    assert!(cache.refresh_now().await);
    assert_eq!(idp.jwks_hits(), 1);
    let v = validator(cache);
    let forged = TestKey::ec("never-seen", Algorithm::ES256);
    let tokens: Vec<String> = (0..1000)
        .map(|_| forged.sign(&claims(&idp.issuer())))
        .collect();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(1000));
    let mut tasks = Vec::new();
    for token in tokens {
        let v = v.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            v.validate(&token).await
        }));
    }
    for task in tasks {
        assert_eq!(
            task.await.unwrap().unwrap_err().kind(),
            JwtErrorKind::UnknownKey
        );
    }
    assert_eq!(
        idp.jwks_hits(),
        2,
        "exactly one re-fetch for 1,000 concurrent requests"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_rotated_kid_make_one_fetch_and_succeed() {
    let old = TestKey::ec("old", Algorithm::ES256);
    let new = TestKey::rsa(0, "new", Algorithm::RS256);
    let idp = Idp::start(&[&old]).await;
    let cache = idp
        .cache_builder()
        .with_unknown_kid_cooldown(Duration::from_secs(60))
        .build()
        .unwrap();
    assert!(cache.refresh_now().await);
    idp.set_keys(&[&old, &new]);
    let v = validator(cache);
    let tokens: Vec<String> = (0..1000)
        .map(|_| new.sign(&claims(&idp.issuer())))
        .collect();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(1000));
    let mut tasks = Vec::new();
    for token in tokens {
        let v = v.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            v.validate(&token).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(idp.jwks_hits(), 2);
}

#[tokio::test]
async fn unknown_kid_flood_is_bounded_by_the_cooldown() {
    let key = TestKey::ed25519("k1");
    let idp = Idp::start(&[&key]).await;
    let cache = idp
        .cache_builder()
        .with_unknown_kid_cooldown(Duration::from_secs(1))
        .build()
        .unwrap();
    assert!(cache.refresh_now().await);
    let v = validator(cache);
    let forged = TestKey::ed25519("x");
    let tokens: Vec<String> = (0..300)
        .map(|i| {
            forged
                .with_kid(&format!("forged-{i}"))
                .sign(&claims(&idp.issuer()))
        })
        .collect();
    for token in &tokens[..200] {
        assert_eq!(
            v.validate(token).await.unwrap_err().kind(),
            JwtErrorKind::UnknownKey
        );
    }
    assert_eq!(idp.jwks_hits(), 2, "one re-fetch in the cool-down");
    // The same forged kid again: refused from the negative cache, no fetch.
    assert_eq!(
        v.validate(&tokens[0]).await.unwrap_err().kind(),
        JwtErrorKind::UnknownKey
    );
    assert_eq!(idp.jwks_hits(), 2);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for token in &tokens[200..] {
        assert!(v.validate(token).await.is_err());
    }
    assert_eq!(idp.jwks_hits(), 3, "one more re-fetch after the cool-down");
    // The real key still works throughout.
    v.validate(&key.sign(&claims(&idp.issuer()))).await.unwrap();
}

#[tokio::test]
async fn rotation_is_picked_up_and_removed_keys_stop_working() {
    let k1 = TestKey::ec("k1", Algorithm::ES384);
    let k2 = TestKey::ec("k2", Algorithm::ES384);
    let idp = Idp::start(&[&k1]).await;
    let v = validator(idp.cache_builder().build().unwrap());
    let old_token = k1.sign(&claims(&idp.issuer()));
    v.validate(&old_token).await.unwrap();
    idp.set_keys(&[&k2]);
    v.validate(&k2.sign(&claims(&idp.issuer()))).await.unwrap();
    // k1 was dropped by the IdP: even the cached validation of a k1 token goes.
    assert_eq!(
        v.validate(&old_token).await.unwrap_err().kind(),
        JwtErrorKind::UnknownKey
    );
    assert_eq!(idp.jwks_hits(), 2);
}

#[tokio::test]
async fn outage_known_keys_work_within_the_stale_window_then_stop() {
    let key = TestKey::ec("k1", Algorithm::ES256);
    let idp = Idp::start(&[&key]).await;
    let d = Duration::from_millis(300);
    let cache = idp
        .cache_builder()
        .with_refresh_bounds(d, d, d)
        .with_stale_window(Duration::from_millis(700))
        .build()
        .unwrap();
    let v = validator(cache.clone());
    v.validate(&key.sign(&claims(&idp.issuer()))).await.unwrap();
    idp.set_mode(Mode::Fail);
    tokio::time::sleep(Duration::from_millis(550)).await;
    // Past the refresh time, refreshes failing: fresh tokens still validate.
    v.validate(&key.sign(&claims(&idp.issuer()))).await.unwrap();
    let stats = cache.stats(&idp.issuer()).unwrap();
    assert!(stats.stale && stats.usable, "{stats:?}");
    assert!(stats.failures >= 1, "{stats:?}");
    assert_eq!(stats.last_error, Some(HttpErrorKind::Status));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let err = v
        .validate(&key.sign(&claims(&idp.issuer())))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), JwtErrorKind::KeysUnavailable);
    assert!(err.retry_after().unwrap() >= Duration::from_secs(1));
    // The IdP comes back: the background retry restores service.
    idp.set_mode(Mode::Ok);
    tokio::time::sleep(Duration::from_millis(600)).await;
    v.validate(&key.sign(&claims(&idp.issuer()))).await.unwrap();
}

#[tokio::test]
async fn garbage_stall_and_huge_responses_keep_known_keys() {
    let key = TestKey::ec("k1", Algorithm::ES256);
    let idp = Idp::start(&[&key]).await;
    let cache = idp.cache_builder().build().unwrap();
    assert!(cache.refresh_now().await);
    let v = validator(cache.clone());
    for (mode, kind) in [
        (Mode::Garbage, HttpErrorKind::InvalidResponse),
        (Mode::Huge, HttpErrorKind::TooLarge),
        (Mode::Stall, HttpErrorKind::Timeout),
    ] {
        idp.set_mode(mode);
        assert!(cache.refresh_now().await, "known keys stay usable");
        let stats = cache.stats(&idp.issuer()).unwrap();
        assert_eq!(stats.last_error, Some(kind), "{mode:?}");
        v.validate(&key.sign(&claims(&idp.issuer()))).await.unwrap();
    }
}

#[tokio::test]
async fn max_age_is_bounded() {
    let key = TestKey::ec("k1", Algorithm::ES256);
    let idp = Idp::start(&[&key]).await;
    idp.set_cache_control(Some("max-age=0"));
    let min = Duration::from_millis(200);
    let cache = idp
        .cache_builder()
        .with_refresh_bounds(min, Duration::from_secs(10), Duration::from_secs(5))
        .build()
        .unwrap();
    assert!(cache.refresh_now().await);
    // max-age=0 is raised to the 200 ms minimum: refreshed early (at 3/4) in the background.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let hits = idp.jwks_hits();
    assert!((3..=6).contains(&hits), "{hits}");

    let idp2 = Idp::start(&[&key]).await;
    idp2.set_cache_control(Some("public, max-age=86400"));
    let cache2 = idp2
        .cache_builder()
        .with_refresh_bounds(
            Duration::from_millis(50),
            Duration::from_millis(200),
            Duration::from_secs(5),
        )
        .build()
        .unwrap();
    assert!(cache2.refresh_now().await);
    // A day is cut down to the 200 ms maximum.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(idp2.jwks_hits() >= 3, "{}", idp2.jwks_hits());
}

#[tokio::test]
async fn idp_down_at_start_then_recovers_in_the_background() {
    let key = TestKey::ec("k1", Algorithm::ES256);
    let idp = Idp::start(&[&key]).await;
    idp.set_mode(Mode::Fail);
    let cache = idp.cache_builder().build().unwrap();
    let v = validator(cache.clone());
    let err = v
        .validate(&key.sign(&claims(&idp.issuer())))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), JwtErrorKind::KeysUnavailable);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let attempts = cache.stats(&idp.issuer()).unwrap().fetches;
    assert!(attempts >= 2, "retries in the background: {attempts}");
    idp.set_mode(Mode::Ok);
    tokio::time::sleep(Duration::from_millis(600)).await;
    v.validate(&key.sign(&claims(&idp.issuer()))).await.unwrap();
}

#[tokio::test]
async fn several_issuers_each_with_their_own_keys() {
    let ka = TestKey::ec("shared-kid", Algorithm::ES256);
    let kb = TestKey::ec("shared-kid", Algorithm::ES256);
    let a = Idp::start(&[&ka]).await;
    let b = Idp::start(&[&kb]).await;
    let cache = a
        .cache_builder()
        .add_issuer_with_jwks_uri(b.issuer(), b.jwks_uri())
        .build()
        .unwrap();
    let v = validator(cache);
    v.validate(&ka.sign(&claims(&a.issuer()))).await.unwrap();
    v.validate(&kb.sign(&claims(&b.issuer()))).await.unwrap();
    // Signed by B's key, claiming to be from A: A's key does not verify it.
    let cross = kb.sign(&claims(&a.issuer()));
    assert_eq!(
        v.validate(&cross).await.unwrap_err().kind(),
        JwtErrorKind::InvalidSignature
    );
    // An issuer nobody configured.
    let other = ka.sign(&claims("https://other.example"));
    assert_eq!(
        v.validate(&other).await.unwrap_err().kind(),
        JwtErrorKind::UnknownIssuer
    );
}
