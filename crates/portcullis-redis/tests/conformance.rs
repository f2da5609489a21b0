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

use common::RedisServer;
use portcullis_redis::RedisStore;
use portcullis_session::store::{SessionRecord, SessionStore, StoreFuture};
use portcullis_session::{SessionIdHash, Timestamp};

/// A store together with the server it talks to (the server dies with the test).
#[derive(Debug)]
struct Served {
    store: RedisStore,
    _server: RedisServer,
}

impl SessionStore for Served {
    fn load<'a>(&'a self, id: &'a SessionIdHash) -> StoreFuture<'a, Option<SessionRecord>> {
        self.store.load(id)
    }
    fn create<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, u64> {
        self.store.create(record)
    }
    fn update<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, u64> {
        self.store.update(record)
    }
    fn touch<'a>(
        &'a self,
        id: &'a SessionIdHash,
        last_seen: Timestamp,
        expires_at: Timestamp,
    ) -> StoreFuture<'a, bool> {
        self.store.touch(id, last_seen, expires_at)
    }
    fn delete<'a>(&'a self, id: &'a SessionIdHash) -> StoreFuture<'a, bool> {
        self.store.delete(id)
    }
    fn delete_all_of_subject<'a>(
        &'a self,
        subject: &'a str,
    ) -> StoreFuture<'a, Vec<SessionIdHash>> {
        self.store.delete_all_of_subject(subject)
    }
    fn sessions_of<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Vec<SessionRecord>> {
        self.store.sessions_of(subject)
    }
}

async fn served() -> Served {
    let server = RedisServer::start();
    let store = RedisStore::builder(&server.url()).build().unwrap();
    Served {
        store,
        _server: server,
    }
}

portcullis_session::store_conformance_tests!(redis, super::served());
