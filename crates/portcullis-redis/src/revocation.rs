//! [`RedisRevocation`]: revocation events to every instance over Redis pub/sub.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use futures_util::StreamExt;
use portcullis_session::revocation::{Listeners, Revocation, RevocationEvent, RevocationListener};
use portcullis_session::store::{StoreError, StoreErrorKind, StoreFuture};
use redis::aio::PubSub;
use redis::{AsyncCommands, Client};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::RedisStore;
use crate::conn::{Conn, timed};

/// Default interval of the subscriber's `PING` health check: 5 s.
pub const DEFAULT_HEALTH_CHECK_INTERVAL: Duration = Duration::from_secs(5);
/// Largest revocation message the subscriber accepts: 16 KiB.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// The state of an instance's revocation subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscriberState {
    /// Connecting (first time) or reconnecting after a lost connection.
    Connecting,
    /// Subscribed: revocations published anywhere reach this instance.
    Subscribed,
}

/// What goes over the channel.
#[derive(Serialize, Deserialize)]
struct Envelope<O, E> {
    /// The publishing instance, so that it does not apply its own events twice.
    origin: O,
    event: E,
}

type GapHook = Arc<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct Hooks {
    listeners: Listeners,
    gap: RwLock<Vec<GapHook>>,
}

impl Hooks {
    fn fire_gap(&self) {
        let hooks = self
            .gap
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for hook in hooks {
            hook();
        }
    }
}

/// Revocation across every instance that shares a Redis (implements
/// [`Revocation`]).
///
/// [`publish`](Revocation::publish) runs this instance's listeners, then `PUBLISH`es the
/// event on `<prefix>revocation`; a background task per instance, subscribed to that
/// channel, runs the listeners of every other instance as soon as the event arrives. The
/// subscriber reconnects with exponential backoff when Redis goes away, and checks a quiet
/// connection with `PING` (every [`DEFAULT_HEALTH_CHECK_INTERVAL`]).
///
/// Pub/sub delivers at most once: events published while an instance was disconnected never
/// reach it. After such a gap the subscriber calls the hooks registered with
/// [`on_gap`](Self::on_gap), which should clear the instance's local caches of sessions and
/// validated tokens (they are reloaded from the store, which is the source of truth).
///
/// The task stops when the last clone of the `RedisRevocation` is dropped.
///
/// ```no_run
/// use std::sync::Arc;
/// use portcullis_redis::RedisStore;
/// use portcullis_session::revocation::{FnListener, Revocation, RevocationEvent};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::builder("redis://127.0.0.1:6379/").build()?;
/// let revocation = store.revocation();
/// // Drop revoked sessions and tokens from this instance's caches.
/// revocation.subscribe(Arc::new(FnListener::new(|event: &RevocationEvent| {
///     tracing::info!(?event, "revoked");
/// })));
/// // Events may have been missed while Redis was unreachable: start from a clean cache.
/// revocation.on_gap(|| tracing::info!("clearing local caches"));
/// revocation.publish(RevocationEvent::Subject("alice".into())).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisRevocation {
    inner: Arc<RevInner>,
}

struct RevInner {
    conn: Conn,
    channel: String,
    origin: String,
    timeout: Duration,
    hooks: Arc<Hooks>,
    state: watch::Receiver<SubscriberState>,
    gaps: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Drop for RevInner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl fmt::Debug for RedisRevocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRevocation")
            .field("channel", &self.inner.channel)
            .field("state", &*self.inner.state.borrow())
            .field("listeners", &self.inner.hooks.listeners.len())
            .finish_non_exhaustive()
    }
}

struct SubscriberConfig {
    client: Client,
    channel: String,
    origin: String,
    connect_timeout: Duration,
    min_delay: Duration,
    max_delay: Duration,
    health_check: Duration,
}

impl RedisStore {
    /// Starts this instance's revocation fan-out on the store's Redis: publishing over the
    /// store's connection and subscribing (in a background task) on a connection of its own.
    /// Call once per instance; the subscriber runs on the runtime the store was built on.
    /// The channel is `<key prefix>revocation`.
    pub fn revocation(&self) -> RedisRevocation {
        self.revocation_with_health_check(DEFAULT_HEALTH_CHECK_INTERVAL)
    }

    /// [`revocation`](Self::revocation) with another interval for the subscriber's `PING`
    /// health check (the longest a silently dead connection goes unnoticed).
    pub fn revocation_with_health_check(&self, interval: Duration) -> RedisRevocation {
        let inner = self.inner();
        let channel = format!("{}revocation", inner.prefix);
        let origin = random_origin();
        let hooks = Arc::new(Hooks::default());
        let (state_tx, state) = watch::channel(SubscriberState::Connecting);
        let gaps = Arc::new(AtomicU64::new(0));
        let config = SubscriberConfig {
            client: inner.client.clone(),
            channel: channel.clone(),
            origin: origin.clone(),
            connect_timeout: inner.connect_timeout,
            min_delay: inner.reconnect_min_delay,
            max_delay: inner.reconnect_max_delay,
            health_check: interval.max(Duration::from_millis(10)),
        };
        let task = inner.runtime.spawn(subscriber(
            config,
            Arc::clone(&hooks),
            state_tx,
            Arc::clone(&gaps),
        ));
        RedisRevocation {
            inner: Arc::new(RevInner {
                conn: inner.conn.clone(),
                channel,
                origin,
                timeout: inner.timeout,
                hooks,
                state,
                gaps,
                task,
            }),
        }
    }
}

impl RedisRevocation {
    /// The pub/sub channel.
    pub fn channel(&self) -> &str {
        &self.inner.channel
    }

    /// The subscriber's current state.
    pub fn state(&self) -> SubscriberState {
        *self.inner.state.borrow()
    }

    /// Waits up to `timeout` until the subscriber is subscribed; returns whether it is.
    pub async fn wait_subscribed(&self, timeout: Duration) -> bool {
        let mut state = self.inner.state.clone();
        tokio::time::timeout(
            timeout,
            state.wait_for(|s| *s == SubscriberState::Subscribed),
        )
        .await
        .is_ok_and(|r| r.is_ok())
    }

    /// How many times the subscription was re-established after being lost (each one a gap
    /// in which events may have been missed).
    pub fn gaps(&self) -> u64 {
        self.inner.gaps.load(Ordering::Relaxed)
    }

    /// Registers `hook`, called (on the subscriber task) each time the subscription is
    /// re-established after a gap: clear local caches there.
    pub fn on_gap(&self, hook: impl Fn() + Send + Sync + 'static) {
        self.inner
            .hooks
            .gap
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::new(hook));
    }

    async fn publish_inner(&self, event: RevocationEvent) -> Result<(), StoreError> {
        self.inner.hooks.listeners.dispatch(&event);
        let message = serde_json::to_string(&Envelope {
            origin: self.inner.origin.as_str(),
            event: &event,
        })
        .map_err(|e| StoreError::with_source(StoreErrorKind::Other, e))?;
        if message.len() > MAX_MESSAGE_BYTES {
            return Err(StoreError::with_source(
                StoreErrorKind::Other,
                "revocation event too large",
            ));
        }
        let mut conn = self.inner.conn.clone();
        let channel = &self.inner.channel;
        let _receivers: i64 = timed(self.inner.timeout, conn.publish(channel, message)).await?;
        Ok(())
    }
}

impl Revocation for RedisRevocation {
    fn publish(&self, event: RevocationEvent) -> StoreFuture<'_, ()> {
        Box::pin(self.publish_inner(event))
    }

    fn subscribe(&self, listener: Arc<dyn RevocationListener>) {
        self.inner.hooks.listeners.add(listener);
    }
}

fn random_origin() -> String {
    let mut bytes = [0u8; 12];
    if getrandom::fill(&mut bytes).is_err() {
        // Only used to skip our own echoes; a clash would merely apply an event twice.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        return format!("{:x}-{nanos:x}", std::process::id());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn connect(config: &SubscriberConfig) -> Result<PubSub, String> {
    let attempt = async {
        let mut pubsub = config.client.get_async_pubsub().await?;
        pubsub.subscribe(&config.channel).await?;
        Ok::<_, redis::RedisError>(pubsub)
    };
    match tokio::time::timeout(config.connect_timeout, attempt).await {
        Ok(Ok(pubsub)) => Ok(pubsub),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!("no answer within {:?}", config.connect_timeout)),
    }
}

async fn subscriber(
    config: SubscriberConfig,
    hooks: Arc<Hooks>,
    state: watch::Sender<SubscriberState>,
    gaps: Arc<AtomicU64>,
) {
    let mut delay = config.min_delay;
    let mut first = true;
    loop {
        match connect(&config).await {
            Ok(pubsub) => {
                delay = config.min_delay;
                if !first {
                    gaps.fetch_add(1, Ordering::Relaxed);
                    hooks.fire_gap();
                    tracing::info!(channel = %config.channel, "revocation subscription restored");
                }
                state.send_replace(SubscriberState::Subscribed);
                listen(pubsub, &config, &hooks).await;
                state.send_replace(SubscriberState::Connecting);
                tracing::warn!(channel = %config.channel, "revocation subscription lost; reconnecting");
            }
            Err(err) => {
                tracing::warn!(channel = %config.channel, error = %err, retry_in = ?delay,
                    "cannot subscribe to revocations");
            }
        }
        first = false;
        tokio::time::sleep(delay).await;
        delay = delay.saturating_mul(2).min(config.max_delay);
    }
}

/// Applies messages until the connection ends or fails its health check.
async fn listen(pubsub: PubSub, config: &SubscriberConfig, hooks: &Hooks) {
    let (mut sink, mut stream) = pubsub.split();
    let mut health = tokio::time::interval(config.health_check);
    health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    health.tick().await;
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(message) = message else { return };
                apply(message.get_payload_bytes(), &config.origin, hooks);
            }
            _ = health.tick() => {
                let ping = tokio::time::timeout(config.connect_timeout, sink.ping::<redis::Value>());
                if !matches!(ping.await, Ok(Ok(_))) {
                    return;
                }
            }
        }
    }
}

fn apply(payload: &[u8], origin: &str, hooks: &Hooks) {
    if payload.len() > MAX_MESSAGE_BYTES {
        tracing::warn!(
            len = payload.len(),
            "ignoring an oversized revocation message"
        );
        return;
    }
    match serde_json::from_slice::<Envelope<String, RevocationEvent>>(payload) {
        Ok(envelope) if envelope.origin == origin => {}
        Ok(envelope) => hooks.listeners.dispatch(&envelope.event),
        Err(err) => tracing::warn!(error = %err, "ignoring a malformed revocation message"),
    }
}
