use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::id::SessionIdHash;
use crate::time::Timestamp;
use crate::tokens::TokenSet;

/// One stored session, as a [`SessionStore`](super::SessionStore) keeps it.
///
/// Serializable with serde (stores pick their encoding; the Redis store uses JSON). The raw
/// session ID is not in it, only its [`SessionIdHash`]. When the session manager has an
/// encryption key, the tokens are [`StoredTokens::Sealed`].
///
/// Stores must keep a record at least until [`expires_at`](Self::expires_at) and may forget it
/// from then on (the session layer checks the deadlines itself, with its own clock).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionRecord {
    /// The store key: SHA-256 of the session ID.
    pub id_hash: SessionIdHash,
    /// The authenticated subject (the token's `sub`), the key of the per-subject index.
    pub subject: String,
    /// The user's tokens, sealed or in the clear.
    pub tokens: StoredTokens,
    /// When the session was created (login).
    pub created_at: Timestamp,
    /// When the session was last used (throttled: updated by `touch` at most once per
    /// touch interval).
    pub last_seen: Timestamp,
    /// The sliding idle timeout.
    #[serde(with = "millis")]
    pub idle_timeout: Duration,
    /// The absolute deadline (created_at + absolute lifetime); never extended.
    pub absolute_deadline: Timestamp,
    /// The client the session was created for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<StoredClient>,
    /// Application data: JSON values by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, serde_json::Value>,
    /// While one instance refreshes the tokens at the IdP: until when it may take. Other
    /// instances wait for the new tokens instead of refreshing too (a second use of a
    /// rotated refresh token trips the IdP's reuse detection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_lease_until: Option<Timestamp>,
    /// Optimistic-concurrency version, maintained by the store: `create` stores 1, each
    /// successful `update` increments it. `touch` does not change it.
    pub version: u64,
}

impl SessionRecord {
    /// A new record (version 0 until the store assigns 1 on `create`).
    pub fn new(
        id_hash: SessionIdHash,
        subject: impl Into<String>,
        tokens: StoredTokens,
        now: Timestamp,
        idle_timeout: Duration,
        absolute_lifetime: Duration,
    ) -> Self {
        Self {
            id_hash,
            subject: subject.into(),
            tokens,
            created_at: now,
            last_seen: now,
            idle_timeout,
            absolute_deadline: now.saturating_add(absolute_lifetime),
            client: None,
            data: BTreeMap::new(),
            refresh_lease_until: None,
            version: 0,
        }
    }

    /// When the session ends if not used again: the earlier of `last_seen + idle_timeout` and
    /// the absolute deadline. Stores expire the record at this time.
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at_if_seen(self.last_seen)
    }

    /// When the session would end if it were last used at `last_seen` (what a touch moves the
    /// expiry to).
    pub(crate) fn expires_at_if_seen(&self, last_seen: Timestamp) -> Timestamp {
        last_seen
            .saturating_add(self.idle_timeout)
            .min(self.absolute_deadline)
    }

    /// Whether the session has ended at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.expires_at()
    }
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("id_hash", &self.id_hash)
            .field("subject", &self.subject)
            .field("tokens", &self.tokens)
            .field("created_at", &self.created_at)
            .field("last_seen", &self.last_seen)
            .field("idle_timeout", &self.idle_timeout)
            .field("absolute_deadline", &self.absolute_deadline)
            .field("client", &self.client)
            .field("data_keys", &self.data.keys().collect::<Vec<_>>())
            .field("version", &self.version)
            .finish()
    }
}

/// The token set as stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "form", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StoredTokens {
    /// In the clear (no encryption key configured).
    Plain(TokenSet),
    /// Encrypted with an AEAD key; the associated data is the session ID hash, so a sealed
    /// token set cannot be moved to another record.
    Sealed(SealedTokens),
}

impl fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Plain(tokens) => f.debug_tuple("Plain").field(tokens).finish(),
            Self::Sealed(sealed) => f.debug_tuple("Sealed").field(sealed).finish(),
        }
    }
}

/// An encrypted token set (XChaCha20-Poly1305).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedTokens {
    /// Identifies the key (a fingerprint, not the key), for key rotation.
    pub key_id: String,
    /// The 24-byte nonce, base64url.
    pub nonce: String,
    /// Ciphertext and tag, base64url.
    pub ciphertext: String,
}

impl fmt::Debug for SealedTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedTokens")
            .field("key_id", &self.key_id)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

/// The client binding captured at login: the client's IP address and User-Agent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredClient {
    /// The client's IP address, as resolved by the binding layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// The client's `User-Agent` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
