//! [`RedisStoreBuilder`]: where the store connects and its limits.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use portcullis_core::ConfigError;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, ConnectionInfo, IntoConnectionInfo};

use crate::conn::Conn;
use crate::scripts::Scripts;
use crate::store::{Inner, RedisStore};

/// Default key prefix: `portcullis:`.
pub const DEFAULT_KEY_PREFIX: &str = "portcullis:";
/// Default deadline of every store operation: 2 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default deadline of one connection attempt: 1 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default shortest wait before reconnecting: 50 ms.
pub const DEFAULT_RECONNECT_MIN_DELAY: Duration = Duration::from_millis(50);
/// Default longest wait between reconnection attempts: 2 s.
pub const DEFAULT_RECONNECT_MAX_DELAY: Duration = Duration::from_secs(2);

#[derive(Clone)]
enum Target {
    Single(ConnectionInfo),
    #[cfg(feature = "cluster")]
    Cluster(Vec<ConnectionInfo>),
}

/// Builds a [`RedisStore`]. Start with [`RedisStore::builder`].
///
/// Building does not connect: the store connects on first use and reconnects by itself, so
/// an application starts (and answers 503) while Redis is still down and recovers when it
/// comes up.
#[must_use]
#[derive(Clone)]
pub struct RedisStoreBuilder {
    target: Result<Target, String>,
    prefix: String,
    timeout: Duration,
    connect_timeout: Duration,
    reconnect_min_delay: Duration,
    reconnect_max_delay: Duration,
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("target", &self.target.as_ref().map(describe))
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("reconnect_min_delay", &self.reconnect_min_delay)
            .field("reconnect_max_delay", &self.reconnect_max_delay)
            .finish()
    }
}

/// Server addresses only: never the password that a URL may carry.
fn describe(target: &Target) -> String {
    match target {
        Target::Single(info) => info.addr().to_string(),
        #[cfg(feature = "cluster")]
        Target::Cluster(nodes) => {
            let addrs: Vec<String> = nodes.iter().map(|n| n.addr().to_string()).collect();
            format!("cluster[{}]", addrs.join(", "))
        }
    }
}

fn parse(url: &str) -> Result<ConnectionInfo, String> {
    url.into_connection_info()
        .map_err(|e| format!("not a Redis URL ({})", e.kind_str()))
}

trait KindStr {
    fn kind_str(&self) -> String;
}

impl KindStr for redis::RedisError {
    fn kind_str(&self) -> String {
        // The error text may echo the URL (and so a password); report the kind only.
        format!("{:?}", self.kind())
    }
}

impl RedisStoreBuilder {
    pub(crate) fn single(url: &str) -> Self {
        Self::with_target(parse(url).map(Target::Single))
    }

    /// A store on a Redis/Valkey cluster, given some of its nodes (`redis://host:port` URLs).
    /// Each session key and each subject index carries a hash tag, so every script touches
    /// one slot.
    #[cfg(feature = "cluster")]
    pub fn cluster<I, S>(nodes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let nodes: Result<Vec<_>, _> = nodes.into_iter().map(|n| parse(n.as_ref())).collect();
        let target = match nodes {
            Ok(nodes) if nodes.is_empty() => Err("no cluster node given".to_owned()),
            Ok(nodes) => Ok(Target::Cluster(nodes)),
            Err(e) => Err(e),
        };
        Self::with_target(target)
    }

    fn with_target(target: Result<Target, String>) -> Self {
        Self {
            target,
            prefix: DEFAULT_KEY_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            reconnect_min_delay: DEFAULT_RECONNECT_MIN_DELAY,
            reconnect_max_delay: DEFAULT_RECONNECT_MAX_DELAY,
        }
    }

    /// The prefix of every key and of the revocation channel (default `portcullis:`). Use a
    /// different prefix per application sharing one Redis. Must not contain `{` or `}`.
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The deadline of every store operation, all round trips included (default 2 s). When it
    /// passes the operation fails with `StoreErrorKind::Timeout` (the request gets a 503).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The deadline of one connection attempt (default 1 s).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The exponential backoff between reconnection attempts (default 50 ms to 2 s).
    pub fn with_reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_min_delay = min;
        self.reconnect_max_delay = max;
        self
    }

    /// Checks the settings and creates the store (without connecting yet). Must be called
    /// inside a Tokio runtime (the connection's background tasks run on it).
    pub fn build(self) -> Result<RedisStore, ConfigError> {
        let target = self
            .target
            .map_err(|message| ConfigError::new("redis.url", message))?;
        validate_prefix(&self.prefix)?;
        if self.timeout.is_zero() {
            return Err(ConfigError::new("redis.timeout", "must be more than zero"));
        }
        if self.connect_timeout.is_zero() {
            return Err(ConfigError::new(
                "redis.connect_timeout",
                "must be more than zero",
            ));
        }
        if self.reconnect_min_delay.is_zero() || self.reconnect_max_delay < self.reconnect_min_delay
        {
            return Err(ConfigError::new(
                "redis.reconnect_backoff",
                "min must be more than zero and at most max",
            ));
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Err(ConfigError::new(
                "redis.runtime",
                "build the Redis store inside a Tokio runtime",
            ));
        };
        let described = describe(&target);
        let (conn, client) = match target {
            Target::Single(info) => {
                let client =
                    Client::open(info).map_err(|e| ConfigError::new("redis.url", e.kind_str()))?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.connect_timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_min_delay(self.reconnect_min_delay)
                    .set_max_delay(self.reconnect_max_delay)
                    .set_number_of_retries(2);
                let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)
                    .map_err(|e| ConfigError::new("redis.connection", e.kind_str()))?;
                (Conn::Single(manager), client)
            }
            #[cfg(feature = "cluster")]
            Target::Cluster(nodes) => {
                let first = nodes
                    .first()
                    .cloned()
                    .ok_or_else(|| ConfigError::new("redis.url", "no cluster node given"))?;
                let cluster = redis::cluster::ClusterClient::builder(nodes)
                    .connection_timeout(self.connect_timeout)
                    .response_timeout(self.timeout)
                    .retries(2)
                    .min_retry_wait(duration_millis(self.reconnect_min_delay))
                    .max_retry_wait(duration_millis(self.reconnect_max_delay))
                    .build()
                    .map_err(|e| ConfigError::new("redis.url", e.kind_str()))?;
                let conn = cluster.get_pending_async_connection_with_config(
                    redis::cluster::ClusterConfig::new()
                        .set_connection_timeout(self.connect_timeout)
                        .set_response_timeout(self.timeout),
                );
                // Pub/sub: in a cluster, PUBLISH reaches subscribers on every node, so the
                // revocation subscriber talks to one node.
                let client =
                    Client::open(first).map_err(|e| ConfigError::new("redis.url", e.kind_str()))?;
                (Conn::Cluster(conn), client)
            }
        };
        Ok(RedisStore::from_inner(Inner {
            conn,
            client,
            described,
            prefix: Arc::from(self.prefix.as_str()),
            timeout: self.timeout,
            connect_timeout: self.connect_timeout,
            reconnect_min_delay: self.reconnect_min_delay,
            reconnect_max_delay: self.reconnect_max_delay,
            scripts: Scripts::new(),
            runtime,
        }))
    }
}

#[cfg(feature = "cluster")]
fn duration_millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn validate_prefix(prefix: &str) -> Result<(), ConfigError> {
    if prefix.contains(['{', '}']) {
        return Err(ConfigError::new(
            "redis.key_prefix",
            "must not contain `{` or `}` (they would change the cluster hash slot)",
        ));
    }
    if prefix.len() > 256 {
        return Err(ConfigError::new("redis.key_prefix", "at most 256 bytes"));
    }
    Ok(())
}
