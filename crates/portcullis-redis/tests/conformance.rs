//! The session crate's store conformance suite against `RedisStore` on a real redis-server
//! (one server per test, started and killed by the test).
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

use common::RedisServer;
use portcullis_redis::RedisStore;
use served::Served;

async fn served() -> Served {
    let server = RedisServer::start();
    let store = RedisStore::builder(&server.url()).build().unwrap();
    Served {
        store,
        _server: server,
    }
}

portcullis_session::store_conformance_tests!(redis, super::served());
