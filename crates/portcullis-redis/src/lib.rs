//! Redis/Valkey session store and cross-instance revocation for portcullis.
//!
//! * [`RedisStore`]: a [`SessionStore`](portcullis_session::store::SessionStore) on Redis or
//!   Valkey (standalone; cluster with the `cluster` feature), for applications that run on
//!   several instances. Build it with [`RedisStore::builder`].
//! * [`RedisRevocation`]: a [`Revocation`](portcullis_session::revocation::Revocation) that
//!   carries revocation events to every instance over pub/sub, and keeps them in a log that
//!   instances replay when they start or reconnect ([`RedisStore::revocation`]).
//!
//! A store that is down or slow fails every operation within its deadline with
//! `StoreErrorKind::Unavailable` or `StoreErrorKind::Timeout` (the session layer answers
//! 503), and both the store and the subscriber reconnect by themselves when Redis is back.
#![forbid(unsafe_code)]

mod config;
mod conn;
mod revocation;
mod scripts;
mod store;

pub use config::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_KEY_PREFIX, DEFAULT_RECONNECT_MAX_DELAY,
    DEFAULT_RECONNECT_MIN_DELAY, DEFAULT_TIMEOUT, RedisStoreBuilder,
};
pub use revocation::{
    DEFAULT_HEALTH_CHECK_INTERVAL, DEFAULT_LOG_MAX_ENTRIES, DEFAULT_LOG_RETENTION,
    MAX_MESSAGE_BYTES, RedisRevocation, RevocationSettings, SubscriberState,
};
pub use store::RedisStore;
