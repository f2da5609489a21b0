//! [`RedisRevocation`]: revocation events to every instance over Redis pub/sub.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
/// Default time a revocation stays in the log, for instances that start or reconnect later:
/// 24 h (the validator's default revocation memory).
pub const DEFAULT_LOG_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// Default most revocations kept in the log: 100,000 (the validator's default deny-list
/// capacity).
pub const DEFAULT_LOG_MAX_ENTRIES: u64 = 100_000;
/// Log entries read per request while catching up.
const REPLAY_PAGE: usize = 1000;

/// Settings of a [`RedisRevocation`] ([`RedisStore::revocation_with`]).
///
/// ```
/// use std::time::Duration;
/// use portcullis_redis::RevocationSettings;
///
/// let settings = RevocationSettings::new()
///     .with_health_check(Duration::from_secs(2))
///     .with_log_retention(Duration::from_secs(3600))
///     .with_log_max_entries(10_000);
/// # let _ = settings;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct RevocationSettings {
    health_check: Duration,
    log_retention: Duration,
    log_max_entries: u64,
}

impl Default for RevocationSettings {
    fn default() -> Self {
        Self {
            health_check: DEFAULT_HEALTH_CHECK_INTERVAL,
            log_retention: DEFAULT_LOG_RETENTION,
            log_max_entries: DEFAULT_LOG_MAX_ENTRIES,
        }
    }
}

impl RevocationSettings {
    /// The defaults: `PING` every 5 s, revocations logged for 24 h, at most 100,000.
    pub fn new() -> Self {
        Self::default()
    }

    /// How often the subscriber checks a quiet connection with `PING` (default 5 s; at
    /// least 10 ms): the longest a silently dead connection goes unnoticed.
    pub fn with_health_check(mut self, interval: Duration) -> Self {
        self.health_check = interval.max(Duration::from_millis(10));
        self
    }

    /// How long each revocation stays in the log that instances replay when they start or
    /// after a lost subscription (default 24 h; make it at least the validator's revocation
    /// TTL). Zero turns the log off: plain pub/sub, and every lost subscription is a gap.
    pub fn with_log_retention(mut self, retention: Duration) -> Self {
        self.log_retention = retention;
        self
    }

    /// The most revocations the log keeps (default 100,000; the oldest go first).
    pub fn with_log_max_entries(mut self, max: u64) -> Self {
        self.log_max_entries = max.max(1);
        self
    }

    fn logged(&self) -> bool {
        !self.log_retention.is_zero()
    }
}

/// A position in the revocation log: a stream entry ID, `<milliseconds>-<sequence>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct LogId {
    ms: u64,
    seq: u64,
}

impl LogId {
    fn parse(text: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(text).ok()?;
        let (ms, seq) = text.split_once('-')?;
        Some(Self {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }

    /// When the entry was written (Redis's clock).
    fn time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.ms)
    }
}

impl fmt::Display for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

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
/// Pub/sub alone delivers at most once, so every event is also appended to a log (a Redis
/// stream, `<prefix>revocation-log`, kept for [`DEFAULT_LOG_RETENTION`]) in the same atomic
/// step that publishes it. When an instance starts, and whenever it re-subscribes after a
/// lost connection, it replays the log entries it has not seen to its listeners with their
/// original time ([`RevocationListener::on_replayed_revocation`]): a user logged out
/// everywhere stays logged out on an instance that was disconnected at the time, or started
/// later, while tokens issued after the revocation stay valid. Only when the log no longer
/// reaches back to the last event the instance saw (trimmed, or lost with a Redis restart
/// without persistence), or cannot be read, does the subscriber call the hooks registered
/// with [`on_gap`](Self::on_gap): events may have been missed.
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
/// // Called only if events may have been lost for good (the log did not cover the gap).
/// revocation.on_gap(|| tracing::warn!("revocations may have been missed"));
/// revocation.publish(RevocationEvent::Subject("alice".into())).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisRevocation {
    inner: Arc<RevInner>,
}

struct RevInner {
    conn: Conn,
    publish_logged: redis::Script,
    channel: String,
    log_key: String,
    settings: RevocationSettings,
    origin: String,
    timeout: Duration,
    hooks: Arc<Hooks>,
    state: watch::Receiver<SubscriberState>,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

/// What the subscriber counts.
#[derive(Debug, Default)]
struct Counters {
    resubscriptions: AtomicU64,
    replayed: AtomicU64,
    gaps: AtomicU64,
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
    /// The store's connection, for reading the log.
    conn: Conn,
    channel: String,
    log_key: String,
    settings: RevocationSettings,
    origin: String,
    timeout: Duration,
    connect_timeout: Duration,
    min_delay: Duration,
    max_delay: Duration,
}

impl RedisStore {
    /// Starts this instance's revocation fan-out on the store's Redis, with the default
    /// [`RevocationSettings`]: publishing (and logging) over the store's connection and
    /// subscribing (in a background task) on a connection of its own. Call once per
    /// instance; the subscriber runs on the runtime the store was built on. The channel is
    /// `<key prefix>revocation`, the log `<key prefix>revocation-log`.
    pub fn revocation(&self) -> RedisRevocation {
        self.revocation_with(RevocationSettings::default())
    }

    /// [`revocation`](Self::revocation) with another interval for the subscriber's `PING`
    /// health check (the longest a silently dead connection goes unnoticed).
    pub fn revocation_with_health_check(&self, interval: Duration) -> RedisRevocation {
        self.revocation_with(RevocationSettings::default().with_health_check(interval))
    }

    /// [`revocation`](Self::revocation) with these settings.
    pub fn revocation_with(&self, settings: RevocationSettings) -> RedisRevocation {
        let inner = self.inner();
        let channel = format!("{}revocation", inner.prefix);
        let log_key = format!("{}revocation-log", inner.prefix);
        let origin = random_origin();
        let hooks = Arc::new(Hooks::default());
        let (state_tx, state) = watch::channel(SubscriberState::Connecting);
        let counters = Arc::new(Counters::default());
        let config = SubscriberConfig {
            client: inner.client.clone(),
            conn: inner.conn.clone(),
            channel: channel.clone(),
            log_key: log_key.clone(),
            settings: settings.clone(),
            origin: origin.clone(),
            timeout: inner.timeout,
            connect_timeout: inner.connect_timeout,
            min_delay: inner.reconnect_min_delay,
            max_delay: inner.reconnect_max_delay,
        };
        let task = inner.runtime.spawn(subscriber(
            config,
            Arc::clone(&hooks),
            state_tx,
            Arc::clone(&counters),
        ));
        RedisRevocation {
            inner: Arc::new(RevInner {
                conn: inner.conn.clone(),
                publish_logged: redis::Script::new(crate::scripts::PUBLISH_LOGGED),
                channel,
                log_key,
                settings,
                origin,
                timeout: inner.timeout,
                hooks,
                state,
                counters,
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

    /// The log's key.
    pub fn log_key(&self) -> &str {
        &self.inner.log_key
    }

    /// How many times the subscription was re-established after being lost.
    pub fn resubscriptions(&self) -> u64 {
        self.inner.counters.resubscriptions.load(Ordering::Relaxed)
    }

    /// How many events from other instances this instance replayed from the log (at start
    /// and after lost subscriptions) rather than received live.
    pub fn replayed(&self) -> u64 {
        self.inner.counters.replayed.load(Ordering::Relaxed)
    }

    /// How many times events may have been missed for good: the log did not reach back to
    /// the last event this instance saw, could not be read, or is turned off.
    pub fn gaps(&self) -> u64 {
        self.inner.counters.gaps.load(Ordering::Relaxed)
    }

    /// Registers `hook`, called (on the subscriber task) each time events may have been
    /// missed for good (see [`gaps`](Self::gaps)): raise an alert there, or drop local state
    /// that only revocations would correct.
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
        if !self.inner.settings.logged() {
            let _receivers: i64 = timed(self.inner.timeout, conn.publish(channel, message)).await?;
            return Ok(());
        }
        let retention = u64::try_from(self.inner.settings.log_retention.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut invocation = self.inner.publish_logged.key(&self.inner.log_key);
        invocation
            .arg(&message)
            .arg(channel)
            .arg(retention)
            .arg(self.inner.settings.log_max_entries);
        match timed::<String>(self.inner.timeout, invocation.invoke_async(&mut conn)).await {
            Ok(_id) => Ok(()),
            // Redis refused the script itself (streams need Redis 6.2+ or Valkey; the key may
            // be taken by something else): the event still goes out, without the log.
            Err(err) if !err.kind().is_transient() => {
                tracing::warn!(key = %self.inner.log_key, error = %err,
                    "cannot append to the revocation log; publishing without it");
                let _receivers: i64 =
                    timed(self.inner.timeout, conn.publish(channel, message)).await?;
                Ok(())
            }
            Err(err) => Err(err),
        }
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
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
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
    counters: Arc<Counters>,
) {
    let mut delay = config.min_delay;
    let mut first = true;
    // The last log entry this instance saw (live or replayed).
    let mut last: Option<LogId> = None;
    loop {
        match connect(&config).await {
            Ok(pubsub) => {
                delay = config.min_delay;
                if !first {
                    counters.resubscriptions.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(channel = %config.channel, "revocation subscription restored");
                }
                // Subscribed first, then the log: nothing published in between is missed
                // (what arrives twice is recognised by its entry ID).
                let covered = match catch_up(&config, &hooks, &counters, &mut last, first).await {
                    Ok(covered) => covered,
                    Err(err) => {
                        tracing::warn!(key = %config.log_key, error = %err,
                            "cannot read the revocation log");
                        false
                    }
                };
                if !covered {
                    counters.gaps.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(channel = %config.channel,
                        "revocations may have been missed while unsubscribed");
                    hooks.fire_gap();
                }
                state.send_replace(SubscriberState::Subscribed);
                listen(pubsub, &config, &hooks, &mut last).await;
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

/// Replays the log entries after `last` (all of them at start) to the listeners, with
/// their original time. Returns whether that covers everything published since `last`:
/// at start always; later, when `last` is still in the log (entries only leave from the
/// front), or when nothing had been seen and the log was never trimmed by size.
async fn catch_up(
    config: &SubscriberConfig,
    hooks: &Hooks,
    counters: &Counters,
    last: &mut Option<LogId>,
    first: bool,
) -> Result<bool, StoreError> {
    if !config.settings.logged() {
        // Plain pub/sub: a lost subscription is always a gap.
        return Ok(first);
    }
    let mut conn = config.conn.clone();
    let covered = match *last {
        _ if first => true,
        Some(seen) => {
            let still_there =
                read_log(config, &mut conn, &seen.to_string(), &seen.to_string(), 1).await?;
            !still_there.is_empty()
        }
        None => {
            let len: u64 = timed(
                config.timeout,
                redis::cmd("XLEN")
                    .arg(&config.log_key)
                    .query_async(&mut conn),
            )
            .await?;
            len < config.settings.log_max_entries
        }
    };
    loop {
        let from = last.map_or_else(|| "-".to_owned(), |id| format!("({id}"));
        let page = read_log(config, &mut conn, &from, "+", REPLAY_PAGE).await?;
        let full = page.len() == REPLAY_PAGE;
        for (id, message) in page {
            *last = Some(id);
            if let Some(event) = decode(&message, &config.origin) {
                counters.replayed.fetch_add(1, Ordering::Relaxed);
                hooks.listeners.dispatch_replayed(&event, id.time());
            }
        }
        if !full {
            return Ok(covered);
        }
    }
}

/// `XRANGE log from to COUNT count`: each entry's ID and its message.
async fn read_log(
    config: &SubscriberConfig,
    conn: &mut Conn,
    from: &str,
    to: &str,
    count: usize,
) -> Result<Vec<(LogId, Vec<u8>)>, StoreError> {
    let reply: redis::Value = timed(
        config.timeout,
        redis::cmd("XRANGE")
            .arg(&config.log_key)
            .arg(from)
            .arg(to)
            .arg("COUNT")
            .arg(count)
            .query_async(conn),
    )
    .await?;
    Ok(log_entries(reply))
}

/// The entries of an `XRANGE` reply; malformed ones are skipped.
fn log_entries(reply: redis::Value) -> Vec<(LogId, Vec<u8>)> {
    use redis::Value;
    let Value::Array(entries) = reply else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter_map(|entry| {
            let Value::Array(mut parts) = entry else {
                return None;
            };
            let fields = parts.pop()?;
            let Value::BulkString(id) = parts.pop()? else {
                return None;
            };
            let id = LogId::parse(&id)?;
            let Value::Array(fields) = fields else {
                return None;
            };
            let mut fields = fields.into_iter();
            while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
                if let (Value::BulkString(name), Value::BulkString(value)) = (name, value)
                    && name == b"m"
                {
                    return Some((id, value));
                }
            }
            None
        })
        .collect()
}

/// Applies messages until the connection ends or fails its health check.
async fn listen(
    pubsub: PubSub,
    config: &SubscriberConfig,
    hooks: &Hooks,
    last: &mut Option<LogId>,
) {
    let (mut sink, mut stream) = pubsub.split();
    let mut health = tokio::time::interval(config.settings.health_check);
    health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    health.tick().await;
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(message) = message else { return };
                apply(message.get_payload_bytes(), &config.origin, hooks, last);
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

/// One message from the channel: `<log entry ID> <envelope>`, or a bare envelope (an
/// instance with the log turned off). An entry at or before `last` was replayed already.
fn apply(payload: &[u8], origin: &str, hooks: &Hooks, last: &mut Option<LogId>) {
    if payload.len() > MAX_MESSAGE_BYTES {
        tracing::warn!(
            len = payload.len(),
            "ignoring an oversized revocation message"
        );
        return;
    }
    let mut message = payload;
    if let Some(space) = payload.iter().position(|b| *b == b' ')
        && let Some(id) = payload.get(..space).and_then(LogId::parse)
    {
        if last.is_some_and(|seen| id <= seen) {
            return;
        }
        *last = Some(id);
        message = payload.get(space + 1..).unwrap_or_default();
    }
    if let Some(event) = decode(message, origin) {
        hooks.listeners.dispatch(&event);
    }
}

/// The event of an envelope from another instance; `None` for this instance's own events
/// (its listeners ran when it published) and for malformed envelopes.
fn decode(message: &[u8], origin: &str) -> Option<RevocationEvent> {
    if message.len() > MAX_MESSAGE_BYTES {
        tracing::warn!(
            len = message.len(),
            "ignoring an oversized revocation message"
        );
        return None;
    }
    match serde_json::from_slice::<Envelope<String, RevocationEvent>>(message) {
        Ok(envelope) if envelope.origin == origin => None,
        Ok(envelope) => Some(envelope.event),
        Err(err) => {
            tracing::warn!(error = %err, "ignoring a malformed revocation message");
            None
        }
    }
}
