//! RedisStore specifics on a real redis-server: key expiry (PTTL), the subject index, two
//! store instances racing, key prefixes, corrupt records and configuration errors.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::{RedisServer, int_reply};
use portcullis_redis::RedisStore;
use portcullis_session::conformance::sample_record;
use portcullis_session::store::{SessionRecord, SessionStore, StoreErrorKind};
use portcullis_session::{SessionId, Timestamp};

fn record(subject: &str, idle: Duration, absolute: Duration) -> SessionRecord {
    let mut r = sample_record(subject);
    r.idle_timeout = idle;
    r.absolute_deadline = r.created_at.saturating_add(absolute);
    r
}

fn pttl(server: &RedisServer, key: &str) -> i64 {
    int_reply(&server.raw(&["PTTL", key]))
}

#[tokio::test]
async fn keys_expire_with_the_session() {
    let server = RedisServer::start();
    let store = RedisStore::builder(&server.url()).build().unwrap();

    // Idle timeout first: the key expires 60 s after last use.
    let r = record(
        "pttl-user",
        Duration::from_secs(60),
        Duration::from_secs(3600),
    );
    store.create(&r).await.unwrap();
    let key = store.session_key(&r.id_hash);
    let ttl = pttl(&server, &key);
    assert!((58_000..=60_000).contains(&ttl), "session PTTL {ttl}");
    // The subject index lives as long as its longest absolute deadline.
    let index_ttl = pttl(&server, &store.subject_key("pttl-user"));
    assert!(
        (3_590_000..=3_600_000).contains(&index_ttl),
        "index PTTL {index_ttl}"
    );

    // A touch moves the expiry.
    let now = r.last_seen.saturating_add(Duration::from_secs(30));
    assert!(
        store
            .touch(&r.id_hash, now, now.saturating_add(r.idle_timeout))
            .await
            .unwrap()
    );
    let ttl = pttl(&server, &key);
    assert!((86_000..=90_000).contains(&ttl), "touched PTTL {ttl}");

    // The absolute deadline caps the expiry, even if a caller asks for more.
    let capped = record(
        "pttl-user",
        Duration::from_secs(3600),
        Duration::from_secs(5),
    );
    store.create(&capped).await.unwrap();
    let key = store.session_key(&capped.id_hash);
    assert!(pttl(&server, &key) <= 5_000);
    let later = capped.last_seen.saturating_add(Duration::from_secs(1));
    let too_far = later.saturating_add(Duration::from_secs(3600));
    assert!(store.touch(&capped.id_hash, later, too_far).await.unwrap());
    let ttl = pttl(&server, &key);
    assert!(
        ttl > 0 && ttl <= 5_000,
        "touch must not pass the absolute deadline: {ttl}"
    );

    // An update recomputes the expiry from last_seen + idle, bounded by the deadline.
    let mut loaded = store.load(&r.id_hash).await.unwrap().unwrap();
    loaded.idle_timeout = Duration::from_secs(10);
    store.update(&loaded).await.unwrap();
    let ttl = pttl(&server, &store.session_key(&r.id_hash));
    assert!(ttl <= 40_000, "update PTTL {ttl}");

    // Deleted: key gone (-2).
    store.delete(&r.id_hash).await.unwrap();
    assert_eq!(pttl(&server, &store.session_key(&r.id_hash)), -2);
}

#[tokio::test]
async fn the_stored_hash_has_no_session_id_and_the_index_no_subject() {
    let server = RedisServer::start();
    let store = RedisStore::builder(&server.url()).build().unwrap();
    let id = SessionId::generate().unwrap();
    let mut r = sample_record("carol@example.com");
    r.id_hash = id.hash();
    store.create(&r).await.unwrap();
    let keys = server.raw(&["KEYS", "*"]);
    assert!(!keys.contains(id.as_str()));
    assert!(!keys.contains("carol"), "subject in key names: {keys}");
    let dump = server.raw(&["HGETALL", &store.session_key(&r.id_hash)]);
    assert!(!dump.contains(id.as_str()));
}

#[tokio::test]
async fn two_store_instances_conflict_instead_of_overwriting() {
    let server = RedisServer::start();
    let a = RedisStore::builder(&server.url()).build().unwrap();
    let b = RedisStore::builder(&server.url()).build().unwrap();
    let r = sample_record("race-user");
    a.create(&r).await.unwrap();

    let mut on_a = a.load(&r.id_hash).await.unwrap().unwrap();
    let mut on_b = b.load(&r.id_hash).await.unwrap().unwrap();
    assert_eq!((on_a.version, on_b.version), (1, 1));

    on_a.data
        .insert("cart".into(), serde_json::json!(["apple"]));
    assert_eq!(a.update(&on_a).await.unwrap(), 2);

    on_b.data.insert("cart".into(), serde_json::json!(["pear"]));
    let err = b.update(&on_b).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Conflict);

    // B's write was refused, A's stands; B reloads and merges.
    let mut fresh = b.load(&r.id_hash).await.unwrap().unwrap();
    assert_eq!(fresh.version, 2);
    assert_eq!(fresh.data["cart"], serde_json::json!(["apple"]));
    fresh
        .data
        .insert("cart".into(), serde_json::json!(["apple", "pear"]));
    assert_eq!(b.update(&fresh).await.unwrap(), 3);
    assert_eq!(
        a.load(&r.id_hash).await.unwrap().unwrap().data["cart"],
        serde_json::json!(["apple", "pear"])
    );

    // A subject change is refused.
    let mut moved = a.load(&r.id_hash).await.unwrap().unwrap();
    moved.subject = "someone-else".into();
    assert_eq!(
        a.update(&moved).await.unwrap_err().kind(),
        StoreErrorKind::Other
    );
}

#[tokio::test]
async fn subject_index_is_pruned_of_dead_entries() {
    let server = RedisServer::start();
    let store = RedisStore::builder(&server.url()).build().unwrap();
    let index = store.subject_key("pruned");
    for _ in 0..3 {
        let short = record(
            "pruned",
            Duration::from_secs(60),
            Duration::from_millis(200),
        );
        store.create(&short).await.unwrap();
    }
    assert_eq!(int_reply(&server.raw(&["ZCARD", &index])), 3);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let live = record("pruned", Duration::from_secs(60), Duration::from_secs(60));
    store.create(&live).await.unwrap();
    assert_eq!(int_reply(&server.raw(&["ZCARD", &index])), 1);

    // Entries of sessions that ended early (idle) are dropped when listed.
    let idle = record(
        "pruned",
        Duration::from_millis(100),
        Duration::from_secs(60),
    );
    store.create(&idle).await.unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    let listed = store.sessions_of("pruned").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id_hash, live.id_hash);
    assert_eq!(int_reply(&server.raw(&["ZCARD", &index])), 1);

    // The index itself expires with its last entry.
    let ttl = pttl(&server, &index);
    assert!(ttl > 0 && ttl <= 60_000, "index PTTL {ttl}");
}

#[tokio::test]
async fn key_prefix_separates_applications() {
    let server = RedisServer::start();
    let one = RedisStore::builder(&server.url())
        .with_key_prefix("app1:")
        .build()
        .unwrap();
    let two = RedisStore::builder(&server.url())
        .with_key_prefix("app2:")
        .build()
        .unwrap();
    assert_eq!(one.key_prefix(), "app1:");
    let r = sample_record("shared-subject");
    one.create(&r).await.unwrap();
    assert!(one.session_key(&r.id_hash).starts_with("app1:s:{"));
    assert_eq!(
        int_reply(&server.raw(&["EXISTS", &one.session_key(&r.id_hash)])),
        1
    );
    assert!(two.load(&r.id_hash).await.unwrap().is_none());
    assert!(two.sessions_of("shared-subject").await.unwrap().is_empty());
    assert!(
        two.delete_all_of_subject("shared-subject")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(one.load(&r.id_hash).await.unwrap().is_some());

    let default = RedisStore::builder(&server.url()).build().unwrap();
    assert_eq!(default.key_prefix(), "portcullis:");
}

#[tokio::test]
async fn corrupt_records_are_reported_not_treated_as_absent() {
    let server = RedisServer::start();
    let store = RedisStore::builder(&server.url()).build().unwrap();
    let r = sample_record("corrupt-user");
    store.create(&r).await.unwrap();
    let key = store.session_key(&r.id_hash);
    server.raw(&["HSET", &key, "r", "{not json"]);
    assert_eq!(
        store.load(&r.id_hash).await.unwrap_err().kind(),
        StoreErrorKind::Corrupt
    );

    // A record copied under another session's key is refused.
    let other = sample_record("corrupt-user");
    store.create(&other).await.unwrap();
    let json = serde_json::to_string(&other).unwrap();
    server.raw(&["HSET", &key, "r", &json]);
    assert_eq!(
        store.load(&r.id_hash).await.unwrap_err().kind(),
        StoreErrorKind::Corrupt
    );

    // A key of the wrong type is an error, not "no session".
    let third = sample_record("corrupt-user");
    server.raw(&["SET", &store.session_key(&third.id_hash), "x"]);
    assert!(store.load(&third.id_hash).await.is_err());
}

#[tokio::test]
async fn configuration_errors_are_reported_at_build() {
    let err = RedisStore::builder("not a url").build().unwrap_err();
    assert_eq!(err.setting(), "redis.url");
    let err = RedisStore::builder("redis://127.0.0.1:1/")
        .with_key_prefix("a{b}:")
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "redis.key_prefix");
    let err = RedisStore::builder("redis://127.0.0.1:1/")
        .with_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "redis.timeout");
    let err = RedisStore::builder("redis://127.0.0.1:1/")
        .with_reconnect_backoff(Duration::from_secs(2), Duration::from_secs(1))
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "redis.reconnect_backoff");
}

#[test]
fn build_outside_a_runtime_is_an_error_not_a_panic() {
    let err = RedisStore::builder("redis://127.0.0.1:1/")
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "redis.runtime");
}

#[tokio::test]
async fn debug_never_shows_the_password() {
    let builder = RedisStore::builder("redis://user:s3cret-pw@127.0.0.1:6390/0");
    assert!(!format!("{builder:?}").contains("s3cret"));
    let store = builder.build().unwrap();
    let shown = format!("{store:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("127.0.0.1:6390"), "{shown}");
    let _ = Timestamp::now();
}
