//! Revocation across two app instances (two RedisStores with their own RedisRevocation) that
//! share one real redis-server: log out everywhere, event delivery, reconnection after a
//! Redis restart, malformed messages.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::RedisServer;
use portcullis_redis::{RedisRevocation, RedisStore, SubscriberState};
use portcullis_session::conformance::sample_record;
use portcullis_session::revocation::{FnListener, Revocation, RevocationEvent};
use portcullis_session::store::SessionStore;

/// One "app instance": its store, its revocation fan-out and what its listener saw.
struct Instance {
    store: RedisStore,
    revocation: RedisRevocation,
    seen: Arc<Mutex<Vec<RevocationEvent>>>,
}

impl Instance {
    async fn start(url: &str) -> Self {
        let store = RedisStore::builder(url)
            .with_timeout(Duration::from_millis(500))
            .with_connect_timeout(Duration::from_millis(300))
            .with_reconnect_backoff(Duration::from_millis(50), Duration::from_millis(500))
            .build()
            .unwrap();
        let revocation = store.revocation_with_health_check(Duration::from_millis(200));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        revocation.subscribe(Arc::new(FnListener::new(move |event: &RevocationEvent| {
            sink.lock().unwrap().push(event.clone());
        })));
        assert!(
            revocation.wait_subscribed(Duration::from_secs(5)).await,
            "subscriber did not subscribe"
        );
        Self {
            store,
            revocation,
            seen,
        }
    }

    async fn wait_for(&self, event: &RevocationEvent) {
        let deadline = Instant::now() + Duration::from_secs(3);
        while !self.seen.lock().unwrap().contains(event) {
            assert!(
                Instant::now() < deadline,
                "{event:?} did not arrive; saw {:?}",
                self.seen.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn count(&self, event: &RevocationEvent) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|e| *e == event)
            .count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_out_everywhere_across_two_instances() {
    let server = RedisServer::start();
    let a = Instance::start(&server.url()).await;
    let b = Instance::start(&server.url()).await;

    // Alice logs in twice through A and once through B; Bob once through B.
    let mut alice = Vec::new();
    for store in [&a.store, &a.store, &b.store] {
        let record = sample_record("alice");
        store.create(&record).await.unwrap();
        alice.push(record.id_hash);
    }
    let bob = sample_record("bob");
    b.store.create(&bob).await.unwrap();
    assert_eq!(b.store.sessions_of("alice").await.unwrap().len(), 3);

    // "Log out everywhere" on A.
    let mut ended = a.store.delete_all_of_subject("alice").await.unwrap();
    ended.sort();
    alice.sort();
    assert_eq!(ended, alice);
    let event = RevocationEvent::Subject("alice".into());
    a.revocation.publish(event.clone()).await.unwrap();

    // A's listener ran before publish returned; B's runs when the message arrives.
    assert_eq!(a.count(&event), 1);
    b.wait_for(&event).await;
    for id in &alice {
        assert!(b.store.load(id).await.unwrap().is_none());
    }
    assert!(b.store.sessions_of("alice").await.unwrap().is_empty());
    assert!(b.store.load(&bob.id_hash).await.unwrap().is_some());

    // A does not get its own event a second time through Redis.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(a.count(&event), 1);
    assert_eq!(b.count(&event), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_event_reaches_the_other_instance() {
    let server = RedisServer::start();
    let a = Instance::start(&server.url()).await;
    let b = Instance::start(&server.url()).await;
    let session = sample_record("dave").id_hash;
    let events = [
        RevocationEvent::Session(session),
        RevocationEvent::Subject("dave".into()),
        RevocationEvent::Jti("token-123".into()),
        RevocationEvent::Sid("idp-session-9".into()),
    ];
    for event in &events {
        b.revocation.publish(event.clone()).await.unwrap();
    }
    for event in &events {
        a.wait_for(event).await;
    }
    // Order is kept.
    assert_eq!(*a.seen.lock().unwrap(), events.to_vec());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_different_prefix_is_a_different_channel() {
    let server = RedisServer::start();
    let a = Instance::start(&server.url()).await;
    let other = RedisStore::builder(&server.url())
        .with_key_prefix("other-app:")
        .build()
        .unwrap();
    let other_revocation = other.revocation();
    assert_eq!(other_revocation.channel(), "other-app:revocation");
    assert_eq!(a.revocation.channel(), "portcullis:revocation");
    assert!(
        other_revocation
            .wait_subscribed(Duration::from_secs(5))
            .await
    );
    other_revocation
        .publish(RevocationEvent::Jti("elsewhere".into()))
        .await
        .unwrap();
    let marker = RevocationEvent::Jti("here".into());
    let b = Instance::start(&server.url()).await;
    b.revocation.publish(marker.clone()).await.unwrap();
    a.wait_for(&marker).await;
    assert_eq!(
        a.seen.lock().unwrap().len(),
        1,
        "{:?}",
        a.seen.lock().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_are_ignored() {
    let server = RedisServer::start();
    let a = Instance::start(&server.url()).await;
    server.raw(&["PUBLISH", "portcullis:revocation", "{not json"]);
    server.raw(&[
        "PUBLISH",
        "portcullis:revocation",
        r#"{"origin":"x","event":{"type":"nuke"}}"#,
    ]);
    server.raw(&["PUBLISH", "portcullis:revocation", &"x".repeat(20_000)]);
    let b = Instance::start(&server.url()).await;
    let marker = RevocationEvent::Sid("after-garbage".into());
    b.revocation.publish(marker.clone()).await.unwrap();
    a.wait_for(&marker).await;
    assert_eq!(*a.seen.lock().unwrap(), vec![marker]);
    assert_eq!(a.revocation.state(), SubscriberState::Subscribed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscriber_reconnects_after_a_redis_restart() {
    let mut server = RedisServer::start();
    let a = Instance::start(&server.url()).await;
    let b = Instance::start(&server.url()).await;
    let gaps = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&gaps);
    b.revocation.on_gap(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });

    server.stop();
    // Publishing fails within the deadline (the local listeners still ran).
    let event = RevocationEvent::Jti("while-down".into());
    let start = Instant::now();
    let err = a.revocation.publish(event.clone()).await.unwrap_err();
    assert!(err.kind().is_transient(), "{err:?}");
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(a.count(&event), 1);
    // B notices the lost connection.
    let deadline = Instant::now() + Duration::from_secs(3);
    while b.revocation.state() == SubscriberState::Subscribed {
        assert!(
            Instant::now() < deadline,
            "subscriber did not notice Redis going away"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    server.start_here();
    assert!(b.revocation.wait_subscribed(Duration::from_secs(10)).await);
    assert!(a.revocation.wait_subscribed(Duration::from_secs(10)).await);
    assert_eq!(b.revocation.gaps(), 1);
    assert_eq!(
        gaps.load(Ordering::SeqCst),
        1,
        "the gap hook runs after resubscribing"
    );

    // Publishing works again through the same instances (the store reconnects too).
    let after = RevocationEvent::Session(sample_record("x").id_hash);
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Err(err) = a.revocation.publish(after.clone()).await {
        assert!(
            Instant::now() < deadline,
            "publish did not recover: {err:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.wait_for(&after).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_revocation_stops_its_subscriber() {
    let server = RedisServer::start();
    let a = Instance::start(&server.url()).await;
    let count = |server: &RedisServer| {
        let reply = server.raw(&["PUBSUB", "NUMSUB", "portcullis:revocation"]);
        reply
            .lines()
            .last()
            .unwrap()
            .trim_start_matches(':')
            .parse::<i64>()
            .unwrap()
    };
    assert_eq!(count(&server), 1);
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(3);
    while count(&server) != 0 {
        assert!(Instant::now() < deadline, "subscriber still connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
