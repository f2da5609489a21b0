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
use std::time::{Duration, Instant, SystemTime};

use common::RedisServer;
use portcullis_redis::{RedisRevocation, RedisStore, RevocationSettings, SubscriberState};
use portcullis_session::conformance::sample_record;
use portcullis_session::revocation::{Revocation, RevocationEvent, RevocationListener};
use portcullis_session::store::SessionStore;

/// One "app instance": its store, its revocation fan-out and what its listener saw (every
/// event, and apart the ones replayed from the log with their time).
struct Instance {
    store: RedisStore,
    revocation: RedisRevocation,
    seen: Arc<Mutex<Vec<RevocationEvent>>>,
    replayed: Arc<Mutex<Vec<(RevocationEvent, SystemTime)>>>,
}

#[derive(Debug, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<RevocationEvent>>>,
    replayed: Arc<Mutex<Vec<(RevocationEvent, SystemTime)>>>,
}

impl RevocationListener for Recorder {
    fn on_revocation(&self, event: &RevocationEvent) {
        self.seen.lock().unwrap().push(event.clone());
    }

    fn on_replayed_revocation(&self, event: &RevocationEvent, revoked_at: SystemTime) {
        self.seen.lock().unwrap().push(event.clone());
        self.replayed
            .lock()
            .unwrap()
            .push((event.clone(), revoked_at));
    }
}

impl Instance {
    async fn start(url: &str) -> Self {
        Self::start_with(url, Duration::from_millis(50), RevocationSettings::new()).await
    }

    /// An instance whose subscriber waits at least `reconnect` before re-subscribing.
    async fn start_with(url: &str, reconnect: Duration, settings: RevocationSettings) -> Self {
        let store = RedisStore::builder(url)
            .with_timeout(Duration::from_millis(500))
            .with_connect_timeout(Duration::from_millis(300))
            .with_reconnect_backoff(reconnect, reconnect.max(Duration::from_millis(500)))
            .build()
            .unwrap();
        let revocation =
            store.revocation_with(settings.with_health_check(Duration::from_millis(200)));
        let recorder = Recorder::default();
        let seen = Arc::clone(&recorder.seen);
        let replayed = Arc::clone(&recorder.replayed);
        revocation.subscribe(Arc::new(recorder));
        assert!(
            revocation.wait_subscribed(Duration::from_secs(5)).await,
            "subscriber did not subscribe"
        );
        Self {
            store,
            revocation,
            seen,
            replayed,
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

    // B has seen an event: after a restart without persistence the log no longer reaches
    // back to it, so events may have been missed (a gap).
    let before = RevocationEvent::Jti("before-restart".into());
    a.revocation.publish(before.clone()).await.unwrap();
    b.wait_for(&before).await;

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
    assert_eq!(b.revocation.resubscriptions(), 1);
    assert_eq!(b.revocation.gaps(), 1, "the log was lost with the restart");
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

/// B's subscription is cut (`CLIENT KILL TYPE pubsub`); what A publishes before B is back
/// reaches B from the log, once, with the time it was published; no gap is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnected_instance_catches_up_from_the_log() {
    let server = RedisServer::start();
    let a = Instance::start(&server.url()).await;
    let b = Instance::start_with(
        &server.url(),
        Duration::from_millis(700),
        RevocationSettings::new(),
    )
    .await;
    let gaps = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&gaps);
    b.revocation.on_gap(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let live = RevocationEvent::Jti("live".into());
    a.revocation.publish(live.clone()).await.unwrap();
    b.wait_for(&live).await;

    server.raw(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    let deadline = Instant::now() + Duration::from_secs(3);
    while b.revocation.state() == SubscriberState::Subscribed {
        assert!(Instant::now() < deadline, "B did not notice");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let published = SystemTime::now();
    let missed = RevocationEvent::Subject("alice".into());
    a.revocation.publish(missed.clone()).await.unwrap();
    assert_eq!(b.count(&missed), 0, "B is not subscribed yet");

    b.wait_for(&missed).await;
    assert_eq!(b.count(&missed), 1);
    let replayed = b.replayed.lock().unwrap().clone();
    assert_eq!(replayed.len(), 1, "{replayed:?}");
    let (event, at) = &replayed[0];
    assert_eq!(event, &missed);
    let skew = at
        .duration_since(published)
        .unwrap_or_else(|e| e.duration());
    assert!(
        skew < Duration::from_secs(1),
        "replayed with its own time: {skew:?}"
    );
    assert_eq!(b.revocation.replayed(), 1);
    assert_eq!(b.revocation.gaps(), 0);
    assert_eq!(gaps.load(Ordering::SeqCst), 0);

    // Live delivery goes on, without repeating what was replayed.
    let after = RevocationEvent::Jti("after".into());
    a.revocation.publish(after.clone()).await.unwrap();
    b.wait_for(&after).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(*b.seen.lock().unwrap(), vec![live, missed, after]);
}

/// An instance that starts after a revocation learns it from the log, with its original
/// time; the publisher does not get its own events back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_started_later_replays_recent_revocations() {
    let server = RedisServer::start();
    let a = Instance::start(&server.url()).await;
    let published = SystemTime::now();
    let events = [
        RevocationEvent::Subject("bob".into()),
        RevocationEvent::Sid("idp-7".into()),
    ];
    for event in &events {
        a.revocation.publish(event.clone()).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let c = Instance::start(&server.url()).await;
    let replayed = c.replayed.lock().unwrap().clone();
    assert_eq!(
        replayed.iter().map(|(e, _)| e.clone()).collect::<Vec<_>>(),
        events.to_vec()
    );
    for (_, at) in &replayed {
        let age = SystemTime::now().duration_since(*at).unwrap();
        assert!(age >= Duration::from_millis(1000), "{age:?}");
        assert!(
            at.duration_since(published)
                .unwrap_or_else(|e| e.duration())
                < Duration::from_secs(1)
        );
    }
    assert_eq!(c.revocation.gaps(), 0);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        a.seen.lock().unwrap().len(),
        2,
        "own events only from publish"
    );
    assert!(a.replayed.lock().unwrap().is_empty());
}

/// When more was published during a disconnection than the log keeps, the instance replays
/// what is left and reports a gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_trimmed_past_what_an_instance_saw_is_a_gap() {
    let server = RedisServer::start();
    let settings = RevocationSettings::new().with_log_max_entries(10);
    let a = Instance::start_with(&server.url(), Duration::from_millis(50), settings.clone()).await;
    let b = Instance::start_with(&server.url(), Duration::from_millis(1500), settings).await;
    let first = RevocationEvent::Jti("first".into());
    a.revocation.publish(first.clone()).await.unwrap();
    b.wait_for(&first).await;

    server.raw(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    let deadline = Instant::now() + Duration::from_secs(3);
    while b.revocation.state() == SubscriberState::Subscribed {
        assert!(Instant::now() < deadline, "B did not notice");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Redis trims whole stream nodes (100 entries): 400 events leave far fewer than 400.
    for i in 0..400 {
        a.revocation
            .publish(RevocationEvent::Jti(format!("burst-{i}")))
            .await
            .unwrap();
    }
    let last = RevocationEvent::Jti("burst-399".into());
    b.wait_for(&last).await;
    assert_eq!(
        b.revocation.gaps(),
        1,
        "the log no longer reaches back to `first`"
    );
    let replayed = b.revocation.replayed();
    assert!((1..400).contains(&replayed), "replayed {replayed}");
}

/// A log key Redis cannot append to (here taken by a plain string) does not stop events: they
/// go out over pub/sub alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_go_out_even_when_the_log_cannot_be_written() {
    let server = RedisServer::start();
    let a = Instance::start(&server.url()).await;
    let b = Instance::start(&server.url()).await;
    server.raw(&["SET", a.revocation.log_key(), "not a stream"]);
    let event = RevocationEvent::Subject("eve".into());
    a.revocation.publish(event.clone()).await.unwrap();
    b.wait_for(&event).await;
    assert_eq!(b.count(&event), 1);
}
