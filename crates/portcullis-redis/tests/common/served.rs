//! `Served`: a `RedisStore` together with the `redis-server` it talks to, for the store
//! conformance suite (standalone and cluster). Kept apart from `mod.rs`, which the root
//! package's tests also include and which must not need `portcullis-session`.
#![allow(dead_code, unreachable_pub)]

use portcullis_redis::RedisStore;
use portcullis_session::store::{SessionRecord, SessionStore, StoreFuture};
use portcullis_session::{SessionIdHash, Timestamp};

use crate::common::RedisServer;

/// A store together with the server it talks to (the server dies with the test).
#[derive(Debug)]
pub struct Served {
    pub store: RedisStore,
    pub _server: RedisServer,
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
