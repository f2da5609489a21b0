//! RedisStore on a Redis Cluster (a one-node cluster owning every slot, on a real
//! redis-server): the conformance suite and revocation.
#![cfg(feature = "cluster")]
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
#[path = "common/served.rs"]
mod served;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::RedisServer;
use portcullis_redis::RedisStoreBuilder;
use portcullis_session::revocation::{FnListener, Revocation, RevocationEvent};
use served::Served;

fn start_cluster() -> RedisServer {
    let server = RedisServer::start_with(
        false,
        &[
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
        ],
    );
    let reply = server.raw(&["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]);
    assert!(reply.starts_with("+OK"), "{reply}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server
        .raw(&["CLUSTER", "INFO"])
        .contains("cluster_state:ok")
    {
        assert!(Instant::now() < deadline, "cluster did not become ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

async fn served() -> Served {
    let server = start_cluster();
    let store = RedisStoreBuilder::cluster([server.url()]).build().unwrap();
    Served {
        store,
        _server: server,
    }
}

portcullis_session::store_conformance_tests!(cluster, super::served());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_over_a_cluster() {
    let server = start_cluster();
    let a = RedisStoreBuilder::cluster([server.url()]).build().unwrap();
    let b = RedisStoreBuilder::cluster([server.url()]).build().unwrap();
    let (ra, rb) = (a.revocation(), b.revocation());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    rb.subscribe(Arc::new(FnListener::new(move |e: &RevocationEvent| {
        sink.lock().unwrap().push(e.clone());
    })));
    assert!(ra.wait_subscribed(Duration::from_secs(5)).await);
    assert!(rb.wait_subscribed(Duration::from_secs(5)).await);
    let event = RevocationEvent::Subject("cluster-user".into());
    ra.publish(event.clone()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while !seen.lock().unwrap().contains(&event) {
        assert!(Instant::now() < deadline, "event did not arrive");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn an_empty_node_list_is_a_config_error() {
    let err = RedisStoreBuilder::cluster(Vec::<String>::new())
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "redis.url");
}
