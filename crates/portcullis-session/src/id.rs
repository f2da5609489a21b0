//! Session identifiers: the random ID the cookie carries and the hash the store keys on.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Bytes of randomness in a [`SessionId`] (256 bits).
pub const SESSION_ID_BYTES: usize = 32;

/// Length of the base64url (unpadded) text form of a [`SessionId`].
pub const SESSION_ID_LEN: usize = 43;

/// The random session ID that the session cookie carries.
///
/// 256 bits from the operating system's CSPRNG (`getrandom`), written as unpadded base64url.
/// It is a bearer secret: `Debug` never prints it, it is never stored (the store keys on its
/// [`SessionIdHash`]) and it is compared only through its hash.
///
/// ```
/// use portcullis_session::SessionId;
///
/// let id = SessionId::generate().unwrap();
/// assert_eq!(id.as_str().len(), 43);
/// assert!(!format!("{id:?}").contains(id.as_str()));
/// let parsed = SessionId::parse(id.as_str()).unwrap();
/// assert_eq!(parsed.hash(), id.hash());
/// assert!(SessionId::parse("not-an-id").is_none());
/// ```
#[derive(Clone)]
pub struct SessionId {
    text: String,
}

impl SessionId {
    /// A fresh ID from the OS CSPRNG. Fails only if the OS has no randomness to give.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; SESSION_ID_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(Self {
            text: URL_SAFE_NO_PAD.encode(bytes),
        })
    }

    /// Parses the text form of an ID (as found in a cookie). Anything that is not exactly 43
    /// base64url characters decoding to 32 bytes is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::is_well_formed(text).then(|| Self {
            text: text.to_owned(),
        })
    }

    /// The store key of the ID whose text form is `text`, if `text` is one (what
    /// [`parse`](Self::parse) accepts), without keeping a copy of it: the request path.
    pub(crate) fn hash_of(text: &str) -> Option<SessionIdHash> {
        Self::is_well_formed(text).then(|| hash_text(text))
    }

    fn is_well_formed(text: &str) -> bool {
        let mut bytes = [0u8; SESSION_ID_BYTES];
        text.len() == SESSION_ID_LEN
            && matches!(
                URL_SAFE_NO_PAD.decode_slice(text, &mut bytes),
                Ok(SESSION_ID_BYTES)
            )
    }

    /// The text form, for the cookie value. Never log it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The store key of this ID: SHA-256 of its text form.
    pub fn hash(&self) -> SessionIdHash {
        hash_text(&self.text)
    }
}

fn hash_text(text: &str) -> SessionIdHash {
    SessionIdHash(Sha256::digest(text.as_bytes()).into())
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId([REDACTED])")
    }
}

/// The key a session is stored under: SHA-256 of the [`SessionId`].
///
/// A copy of the store yields hashes, not live cookies. The hash is not secret in the same way
/// (it cannot be turned back into a cookie), so it may appear in logs and revocation events.
/// Its text form ([`SessionIdHash::to_hex`]) is 64 lower-case hex digits, which is also its
/// serde form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionIdHash([u8; 32]);

impl SessionIdHash {
    /// Wraps raw hash bytes (for stores that keep them in binary form).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw hash bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(64);
        for b in self.0 {
            // Writing to a String cannot fail.
            let _ = write!(out, "{b:02x}");
        }
        out
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(text: &str) -> Option<Self> {
        fn nibble(c: u8) -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                b'A'..=b'F' => Some(c - b'A' + 10),
                _ => None,
            }
        }
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let [hi, lo] = pair else { return None };
            *slot = (nibble(*hi)? << 4) | nibble(*lo)?;
        }
        Some(Self(out))
    }
}

impl fmt::Debug for SessionIdHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A prefix is enough to correlate log lines.
        let hex = self.to_hex();
        write!(f, "SessionIdHash({}…)", hex.get(..12).unwrap_or(&hex))
    }
}

impl fmt::Display for SessionIdHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for SessionIdHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for SessionIdHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::from_hex(&text)
            .ok_or_else(|| serde::de::Error::custom("a session id hash is 64 hex digits"))
    }
}
