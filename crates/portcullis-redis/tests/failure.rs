//! Failure behaviour on a real redis-server: Redis stopped, paused or not yet started →
//! every operation fails within its deadline with Unavailable/Timeout (never "not found"),
//! and the same store works again once Redis is back.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::RedisServer;
use portcullis_redis::RedisStore;
use portcullis_session::Timestamp;
use portcullis_session::conformance::sample_record;
use portcullis_session::store::{SessionStore, StoreError, StoreErrorKind};

const TIMEOUT: Duration = Duration::from_millis(500);
/// Scheduling slack on a busy machine.
const SLACK: Duration = Duration::from_millis(1000);

fn assert_down<T: std::fmt::Debug>(what: &str, result: Result<T, StoreError>, took: Duration) {
    let err = match result {
        Ok(value) => panic!("{what}: succeeded with Redis down: {value:?}"),
        Err(err) => err,
    };
    assert!(
        matches!(
            err.kind(),
            StoreErrorKind::Unavailable | StoreErrorKind::Timeout
        ),
        "{what}: {err:?}"
    );
    assert!(err.kind().is_transient());
    assert!(took <= TIMEOUT + SLACK, "{what} took {took:?}");
}

macro_rules! timed {
    ($e:expr) => {{
        let start = Instant::now();
        let result = $e.await;
        (result, start.elapsed())
    }};
}

/// Every store operation against a store whose Redis is unreachable.
async fn every_operation_fails_fast(
    store: &RedisStore,
    existing: &portcullis_session::store::SessionRecord,
) {
    let (r, t) = timed!(store.load(&existing.id_hash));
    assert_down("load", r, t);
    let (r, t) = timed!(store.create(&sample_record("down-user")));
    assert_down("create", r, t);
    let (r, t) = timed!(store.update(existing));
    assert_down("update", r, t);
    let now = Timestamp::now();
    let (r, t) = timed!(store.touch(&existing.id_hash, now, now));
    assert_down("touch", r, t);
    let (r, t) = timed!(store.sessions_of(&existing.subject));
    assert_down("sessions_of", r, t);
    let (r, t) = timed!(store.delete_all_of_subject(&existing.subject));
    assert_down("delete_all_of_subject", r, t);
    let (r, t) = timed!(store.delete(&existing.id_hash));
    assert_down("delete", r, t);
    let (r, t) = timed!(store.ping());
    assert_down("ping", r, t);
}

async fn eventually_loads(store: &RedisStore, record: &portcullis_session::store::SessionRecord) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store.load(&record.id_hash).await {
            Ok(Some(loaded)) => {
                assert_eq!(loaded.id_hash, record.id_hash);
                return;
            }
            Ok(None) => panic!("the session was lost across the restart"),
            Err(err) => {
                assert!(err.kind().is_transient(), "{err:?}");
                assert!(
                    Instant::now() < deadline,
                    "no recovery within 10 s: {err:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_then_restarted_on_the_same_port() {
    let mut server = RedisServer::start_persistent();
    let store = RedisStore::builder(&server.url())
        .with_timeout(TIMEOUT)
        .with_connect_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut record = sample_record("restart-user");
    record.version = store.create(&record).await.unwrap();
    store.ping().await.unwrap();

    server.stop();
    every_operation_fails_fast(&store, &record).await;
    // Still failing, still fast, on a second round (no hang while reconnecting).
    every_operation_fails_fast(&store, &record).await;

    server.start_here();
    eventually_loads(&store, &record).await;
    // Everything works again, with the same store.
    record.data.insert("after".into(), serde_json::json!(true));
    assert_eq!(store.update(&record).await.unwrap(), 2);
    let fresh = sample_record("restart-user");
    store.create(&fresh).await.unwrap();
    assert_eq!(store.sessions_of("restart-user").await.unwrap().len(), 2);
    assert_eq!(
        store
            .delete_all_of_subject("restart-user")
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_redis_times_out() {
    let server = RedisServer::start();
    let store = RedisStore::builder(&server.url())
        .with_timeout(TIMEOUT)
        .build()
        .unwrap();
    let record = sample_record("paused-user");
    store.create(&record).await.unwrap();

    // Redis accepts connections but answers nothing for 3 s.
    assert!(
        server
            .raw(&["CLIENT", "PAUSE", "3000", "ALL"])
            .starts_with("+OK")
    );
    let (result, took) = timed!(store.load(&record.id_hash));
    assert_down("load on a paused server", result, took);
    let (result, took) = timed!(store.touch(&record.id_hash, Timestamp::now(), Timestamp::now()));
    assert_down("touch on a paused server", result, took);

    server.raw(&["CLIENT", "UNPAUSE"]);
    eventually_loads(&store, &record).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_built_before_redis_starts_works_once_it_does() {
    let mut server = RedisServer::reserved();
    let store = RedisStore::builder(&server.url())
        .with_timeout(TIMEOUT)
        .with_connect_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let record = sample_record("late-user");
    every_operation_fails_fast(&store, &record).await;

    server.start_here();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store.create(&record).await {
            Ok(version) => {
                assert_eq!(version, 1);
                break;
            }
            Err(err) => {
                assert!(err.kind().is_transient(), "{err:?}");
                assert!(
                    Instant::now() < deadline,
                    "no recovery within 10 s: {err:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    eventually_loads(&store, &record).await;
}
