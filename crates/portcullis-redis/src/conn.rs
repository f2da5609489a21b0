//! The connection behind a [`RedisStore`](crate::RedisStore): a multiplexed, auto-reconnecting
//! standalone connection or (feature `cluster`) a cluster connection; error mapping and
//! timeouts.

use std::future::Future;
use std::time::Duration;

use portcullis_session::store::{StoreError, StoreErrorKind};
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, ServerErrorKind, Value};

/// One shared connection, cheap to clone (every clone multiplexes over the same socket(s)).
#[derive(Clone)]
pub(crate) enum Conn {
    /// A standalone Redis/Valkey server (or a proxy in front of one).
    Single(ConnectionManager),
    /// A Redis/Valkey cluster.
    #[cfg(feature = "cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            #[cfg(feature = "cluster")]
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            #[cfg(feature = "cluster")]
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            #[cfg(feature = "cluster")]
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// Maps a Redis error to the store's error kinds. Connection trouble of any sort is
/// `Unavailable` (or `Timeout`), never "not found".
pub(crate) fn map_error(err: RedisError) -> StoreError {
    let kind = if err.is_timeout() {
        StoreErrorKind::Timeout
    } else if err.is_io_error()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_unrecoverable_error()
    {
        StoreErrorKind::Unavailable
    } else {
        match err.kind() {
            ErrorKind::Io | ErrorKind::ClusterConnectionNotFound => StoreErrorKind::Unavailable,
            ErrorKind::AuthenticationFailed | ErrorKind::InvalidClientConfig => {
                StoreErrorKind::Unavailable
            }
            ErrorKind::Server(
                ServerErrorKind::BusyLoading
                | ServerErrorKind::TryAgain
                | ServerErrorKind::ClusterDown
                | ServerErrorKind::MasterDown
                | ServerErrorKind::ReadOnly
                | ServerErrorKind::Moved
                | ServerErrorKind::Ask,
            ) => StoreErrorKind::Unavailable,
            ErrorKind::Parse | ErrorKind::UnexpectedReturnType => StoreErrorKind::Corrupt,
            _ if err.code() == Some("OOM") => StoreErrorKind::Capacity,
            _ if err.code() == Some("BUSY") => StoreErrorKind::Unavailable,
            _ => StoreErrorKind::Other,
        }
    };
    StoreError::with_source(kind, err)
}

/// Runs `op` with a deadline of `timeout`; an elapsed deadline is
/// [`StoreErrorKind::Timeout`] and a Redis error is mapped with [`map_error`].
pub(crate) async fn timed<T>(
    timeout: Duration,
    op: impl Future<Output = Result<T, RedisError>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(timeout, op).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(map_error(err)),
        Err(_elapsed) => Err(StoreError::with_source(
            StoreErrorKind::Timeout,
            format!("no answer from Redis within {timeout:?}"),
        )),
    }
}
