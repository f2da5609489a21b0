//! The store conformance suite: the same tests for every [`SessionStore`].
//!
//! Each function takes a store and panics (it is a test) when the store breaks the contract.
//! Tests use fresh random IDs and subjects, so they can share one store (for example one Redis
//! database) and run concurrently. Generate the tests with
//! [`store_conformance_tests!`](crate::store_conformance_tests):
//!
//! ```ignore
//! portcullis_session::store_conformance_tests!(memory, async {
//!     portcullis_session::store::MemoryStore::new()
//! });
//! ```
//!
//! The consumer needs `tokio` with the `macros` and `rt-multi-thread` features.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::BTreeSet;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use crate::id::{SessionId, SessionIdHash};
use crate::store::{
    SealedTokens, SessionRecord, SessionStore, StoreErrorKind, StoredClient, StoredTokens,
};
use crate::time::Timestamp;
use crate::tokens::TokenSet;

/// The names of every conformance test, in the order the macro generates them.
pub const TESTS: &[&str] = &[
    "create_then_load",
    "create_existing_fails",
    "load_unknown_is_none",
    "update_is_compare_and_swap",
    "update_missing_is_not_found",
    "concurrent_updates_one_wins",
    "touch_moves_last_seen_not_version",
    "delete_removes",
    "subject_index",
    "idle_expiry",
    "touch_extends_idle_expiry",
    "absolute_deadline_bounds_touch",
];

fn unique_subject(tag: &str) -> String {
    let id = SessionId::generate().unwrap();
    format!("conformance-{tag}-{}", id.as_str().get(..12).unwrap())
}

/// A record for `subject` with a fresh ID, an hour of idle time and a day of lifetime.
pub fn sample_record(subject: &str) -> SessionRecord {
    record_with(
        subject,
        Duration::from_secs(3600),
        Duration::from_secs(86_400),
    )
}

fn record_with(subject: &str, idle: Duration, absolute: Duration) -> SessionRecord {
    let id = SessionId::generate().unwrap();
    let tokens = TokenSet::new("access-token-value")
        .with_refresh_token("refresh-token-value")
        .with_id_token("id-token-value")
        .with_access_expires_at(Timestamp::now().saturating_add(Duration::from_secs(300)));
    let mut record = SessionRecord::new(
        id.hash(),
        subject,
        StoredTokens::Plain(tokens),
        Timestamp::now(),
        idle,
        absolute,
    );
    record.client = Some(StoredClient {
        ip: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))),
        user_agent: Some("conformance/1.0".into()),
    });
    record
        .data
        .insert("theme".into(), serde_json::json!({"dark": true}));
    record
}

pub async fn create_then_load(store: &dyn SessionStore) {
    let record = sample_record(&unique_subject("create"));
    assert_eq!(store.create(&record).await.unwrap(), 1);
    let loaded = store.load(&record.id_hash).await.unwrap().expect("stored");
    let mut expected = record.clone();
    expected.version = 1;
    assert_eq!(loaded, expected);

    // Sealed tokens round-trip unchanged too.
    let mut sealed = sample_record(&unique_subject("sealed"));
    sealed.tokens = StoredTokens::Sealed(SealedTokens {
        key_id: "k1".into(),
        nonce: "bm9uY2U".into(),
        ciphertext: "Y2lwaGVydGV4dA".into(),
    });
    store.create(&sealed).await.unwrap();
    let loaded = store.load(&sealed.id_hash).await.unwrap().unwrap();
    assert_eq!(loaded.tokens, sealed.tokens);
}

/// `load_now`, where a store answers it, agrees with `load` after every kind of write: a
/// shortcut must never serve a replaced, logged-out or foreign record.
pub async fn load_now_agrees_with_load(store: &dyn SessionStore) {
    async fn agree(store: &dyn SessionStore, id: &SessionIdHash) {
        let Some(now) = store.load_now(id) else {
            return; // the store does not answer at once: nothing to compare
        };
        let now = now.unwrap().map(|record| SessionRecord::clone(&record));
        assert_eq!(now, store.load(id).await.unwrap());
    }
    let record = sample_record(&unique_subject("now"));
    let other = sample_record(&unique_subject("now-other"));
    let id = record.id_hash;
    agree(store, &id).await; // unknown
    store.create(&record).await.unwrap();
    store.create(&other).await.unwrap();
    for _ in 0..2 {
        agree(store, &id).await; // created (twice: a repeated read is served the same)
        agree(store, &other.id_hash).await;
    }
    let mut changed = store.load(&id).await.unwrap().unwrap();
    changed.data.insert("k".into(), serde_json::json!(1));
    store.update(&changed).await.unwrap();
    agree(store, &id).await; // updated
    let later = Timestamp::now().saturating_add(Duration::from_secs(5));
    store.touch(&id, later, changed.expires_at()).await.unwrap();
    agree(store, &id).await; // touched
    assert!(store.delete(&id).await.unwrap());
    agree(store, &id).await; // deleted
    agree(store, &other.id_hash).await; // the neighbour is untouched
    store.delete_all_of_subject(&other.subject).await.unwrap();
    agree(store, &other.id_hash).await; // logged out everywhere
}

pub async fn create_existing_fails(store: &dyn SessionStore) {
    let record = sample_record(&unique_subject("dup"));
    store.create(&record).await.unwrap();
    let err = store.create(&record).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::AlreadyExists);
}

pub async fn load_unknown_is_none(store: &dyn SessionStore) {
    let id = SessionId::generate().unwrap().hash();
    assert!(store.load(&id).await.unwrap().is_none());
    assert!(!store.delete(&id).await.unwrap());
    assert!(
        !store
            .touch(&id, Timestamp::now(), Timestamp::now())
            .await
            .unwrap()
    );
}

pub async fn update_is_compare_and_swap(store: &dyn SessionStore) {
    let mut record = sample_record(&unique_subject("cas"));
    record.version = store.create(&record).await.unwrap();
    let stale = record.clone();

    record.data.insert("step".into(), serde_json::json!(1));
    assert_eq!(store.update(&record).await.unwrap(), 2);

    let mut conflicting = stale.clone();
    conflicting
        .data
        .insert("step".into(), serde_json::json!(99));
    let err = store.update(&conflicting).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Conflict);

    let loaded = store.load(&record.id_hash).await.unwrap().unwrap();
    assert_eq!(loaded.version, 2);
    assert_eq!(loaded.data["step"], serde_json::json!(1));

    // Continuing from the reloaded version works, and a refresh lease is kept and cleared.
    let mut next = loaded;
    next.data.remove("step");
    let lease = next.last_seen.saturating_add(Duration::from_secs(30));
    next.refresh_lease_until = Some(lease);
    assert_eq!(store.update(&next).await.unwrap(), 3);
    let mut loaded = store.load(&record.id_hash).await.unwrap().unwrap();
    assert_eq!(loaded.refresh_lease_until, Some(lease));
    loaded.refresh_lease_until = None;
    assert_eq!(store.update(&loaded).await.unwrap(), 4);
    let loaded = store.load(&record.id_hash).await.unwrap().unwrap();
    assert_eq!(loaded.refresh_lease_until, None);
}

pub async fn update_missing_is_not_found(store: &dyn SessionStore) {
    let mut record = sample_record(&unique_subject("missing"));
    record.version = 1;
    let err = store.update(&record).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::NotFound);
}

pub async fn concurrent_updates_one_wins(store: &dyn SessionStore) {
    let mut record = sample_record(&unique_subject("race"));
    record.version = store.create(&record).await.unwrap();
    let attempts = (0..8).map(|i| {
        let mut mine = record.clone();
        mine.data.insert("writer".into(), serde_json::json!(i));
        async move { store.update(&mine).await.map(|_| i) }
    });
    let results = futures_join_all(attempts).await;
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one concurrent update may win");
    for r in &results {
        if let Err(e) = r {
            assert_eq!(e.kind(), StoreErrorKind::Conflict);
        }
    }
    let loaded = store.load(&record.id_hash).await.unwrap().unwrap();
    assert_eq!(loaded.data["writer"], serde_json::json!(*winners[0]));
    assert_eq!(loaded.version, 2);
}

pub async fn touch_moves_last_seen_not_version(store: &dyn SessionStore) {
    let record = sample_record(&unique_subject("touch"));
    store.create(&record).await.unwrap();
    let later = record.last_seen.saturating_add(Duration::from_secs(5));
    let expires = later.saturating_add(record.idle_timeout);
    assert!(store.touch(&record.id_hash, later, expires).await.unwrap());
    let loaded = store.load(&record.id_hash).await.unwrap().unwrap();
    assert_eq!(loaded.last_seen, later);
    assert_eq!(loaded.version, 1);

    // Never backwards.
    assert!(
        store
            .touch(&record.id_hash, record.last_seen, record.expires_at())
            .await
            .unwrap()
    );
    let loaded = store.load(&record.id_hash).await.unwrap().unwrap();
    assert_eq!(loaded.last_seen, later);

    // An update from version 1 still succeeds after a touch.
    let mut updated = loaded;
    updated
        .data
        .insert("after_touch".into(), serde_json::json!(true));
    assert_eq!(store.update(&updated).await.unwrap(), 2);
}

pub async fn delete_removes(store: &dyn SessionStore) {
    let mut record = sample_record(&unique_subject("delete"));
    record.version = store.create(&record).await.unwrap();
    assert!(store.delete(&record.id_hash).await.unwrap());
    assert!(store.load(&record.id_hash).await.unwrap().is_none());
    assert!(!store.delete(&record.id_hash).await.unwrap());
    let err = store.update(&record).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::NotFound);
    assert!(store.sessions_of(&record.subject).await.unwrap().is_empty());
}

pub async fn subject_index(store: &dyn SessionStore) {
    let alice = unique_subject("alice");
    let bob = unique_subject("bob");
    let mut alice_ids = BTreeSet::new();
    for _ in 0..3 {
        let record = sample_record(&alice);
        store.create(&record).await.unwrap();
        alice_ids.insert(record.id_hash);
    }
    let bobs = sample_record(&bob);
    store.create(&bobs).await.unwrap();

    let listed: BTreeSet<SessionIdHash> = store
        .sessions_of(&alice)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id_hash)
        .collect();
    assert_eq!(listed, alice_ids);

    // One ended session drops out of the listing.
    let first = *alice_ids.iter().next().unwrap();
    assert!(store.delete(&first).await.unwrap());
    alice_ids.remove(&first);
    assert_eq!(store.sessions_of(&alice).await.unwrap().len(), 2);

    let deleted: BTreeSet<SessionIdHash> = store
        .delete_all_of_subject(&alice)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(deleted, alice_ids);
    for id in &alice_ids {
        assert!(store.load(id).await.unwrap().is_none());
    }
    assert!(store.sessions_of(&alice).await.unwrap().is_empty());
    assert!(
        store
            .delete_all_of_subject(&alice)
            .await
            .unwrap()
            .is_empty()
    );

    // Bob is untouched.
    assert!(store.load(&bobs.id_hash).await.unwrap().is_some());
    assert_eq!(store.sessions_of(&bob).await.unwrap().len(), 1);
}

pub async fn idle_expiry(store: &dyn SessionStore) {
    let record = record_with(
        &unique_subject("idle"),
        Duration::from_millis(800),
        Duration::from_secs(3600),
    );
    store.create(&record).await.unwrap();
    assert!(store.load(&record.id_hash).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(store.load(&record.id_hash).await.unwrap().is_none());
    assert!(store.sessions_of(&record.subject).await.unwrap().is_empty());
}

pub async fn touch_extends_idle_expiry(store: &dyn SessionStore) {
    let record = record_with(
        &unique_subject("extend"),
        Duration::from_millis(1200),
        Duration::from_secs(3600),
    );
    store.create(&record).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let now = Timestamp::now();
    let expires = now.saturating_add(record.idle_timeout);
    assert!(store.touch(&record.id_hash, now, expires).await.unwrap());
    tokio::time::sleep(Duration::from_millis(800)).await;
    // 1.5 s after creation, 0.8 s after the touch: alive.
    assert!(store.load(&record.id_hash).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(store.load(&record.id_hash).await.unwrap().is_none());
}

pub async fn absolute_deadline_bounds_touch(store: &dyn SessionStore) {
    let record = record_with(
        &unique_subject("absolute"),
        Duration::from_secs(3600),
        Duration::from_millis(1000),
    );
    store.create(&record).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let now = Timestamp::now();
    let mut touched = record.clone();
    touched.last_seen = now;
    assert!(
        store
            .touch(&record.id_hash, now, touched.expires_at())
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(store.load(&record.id_hash).await.unwrap().is_none());
}

/// Runs futures concurrently on the current task (no extra dependency on `futures`).
async fn futures_join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut outputs: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (fut, out) in set.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *out = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

/// Keeps the store alive across the generated tests when it is shared.
pub type SharedStore = Arc<dyn SessionStore>;

/// Generates one `#[tokio::test]` per conformance test in a module named `$name`, each with a
/// store from `$make` (an expression evaluating to a future of a store).
#[macro_export]
macro_rules! store_conformance_tests {
    ($name:ident, $make:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::store_conformance_tests!(@tests $make;
                create_then_load,
                load_now_agrees_with_load,
                create_existing_fails,
                load_unknown_is_none,
                update_is_compare_and_swap,
                update_missing_is_not_found,
                concurrent_updates_one_wins,
                touch_moves_last_seen_not_version,
                delete_removes,
                subject_index,
                idle_expiry,
                touch_extends_idle_expiry,
                absolute_deadline_bounds_touch
            );
        }
    };
    (@tests $make:expr; $($test:ident),*) => {$(
        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            let store = $make.await;
            $crate::conformance::$test(&store).await;
        }
    )*};
}
