//! Encryption of the token set at rest (XChaCha20-Poly1305).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::id::SessionIdHash;
use crate::store::{SealedTokens, StoredTokens};
use crate::tokens::TokenSet;

/// A 256-bit key that encrypts session token sets at rest.
///
/// With a key, a copy of the store alone yields no usable token: each token set is sealed with
/// XChaCha20-Poly1305 under a random 192-bit nonce, with the session's ID hash as associated
/// data (a sealed set cannot be moved to another session). `Debug` prints only the key's
/// fingerprint.
#[derive(Clone)]
pub struct EncryptionKey {
    cipher: XChaCha20Poly1305,
    id: String,
}

impl EncryptionKey {
    /// A key from 32 secret bytes (for example from a secrets manager; generate them with a
    /// CSPRNG).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let digest = Sha256::new_with_prefix(b"portcullis-session key id\0")
            .chain_update(bytes)
            .finalize();
        let id = URL_SAFE_NO_PAD.encode(digest.get(..9).unwrap_or_default());
        Self {
            cipher: XChaCha20Poly1305::new(&bytes.into()),
            id,
        }
    }

    /// A fresh random key (for tests and single-process deployments: sessions do not survive
    /// a restart with a new key).
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(Self::from_bytes(bytes))
    }

    /// The key's public fingerprint, stored next to each sealed token set.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Why a stored token set could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// Sealed with a key this instance does not have.
    UnknownKey,
    /// Sealed, but no key configured.
    NoKey,
    /// Tampered, truncated, moved to another session, or not valid JSON.
    Invalid,
}

impl OpenError {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::UnknownKey => "sealed with an unknown key",
            Self::NoKey => "sealed but no encryption key is configured",
            Self::Invalid => "sealed token set does not open",
        }
    }
}

/// The current key (seals) and previous keys (still open), or none (plain storage).
#[derive(Clone, Debug, Default)]
pub(crate) struct TokenCipher {
    current: Option<EncryptionKey>,
    previous: Vec<EncryptionKey>,
}

impl TokenCipher {
    pub(crate) fn new(current: Option<EncryptionKey>, previous: Vec<EncryptionKey>) -> Self {
        Self { current, previous }
    }

    pub(crate) fn is_enabled(&self) -> bool {
        self.current.is_some()
    }

    pub(crate) fn seal(
        &self,
        tokens: &TokenSet,
        id: &SessionIdHash,
    ) -> Result<StoredTokens, getrandom::Error> {
        let Some(key) = &self.current else {
            return Ok(StoredTokens::Plain(tokens.clone()));
        };
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce)?;
        // Serializing a struct of strings cannot fail.
        let plaintext = serde_json::to_vec(tokens).unwrap_or_default();
        let ciphertext = key
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &plaintext,
                    aad: id.as_bytes(),
                },
            )
            .unwrap_or_default();
        Ok(StoredTokens::Sealed(SealedTokens {
            key_id: key.id.clone(),
            nonce: URL_SAFE_NO_PAD.encode(nonce),
            ciphertext: URL_SAFE_NO_PAD.encode(ciphertext),
        }))
    }

    pub(crate) fn open(
        &self,
        stored: &StoredTokens,
        id: &SessionIdHash,
    ) -> Result<TokenSet, OpenError> {
        let sealed = match stored {
            StoredTokens::Plain(tokens) => return Ok(tokens.clone()),
            StoredTokens::Sealed(sealed) => sealed,
        };
        if self.current.is_none() {
            return Err(OpenError::NoKey);
        }
        let key = self
            .current
            .iter()
            .chain(self.previous.iter())
            .find(|k| k.id == sealed.key_id)
            .ok_or(OpenError::UnknownKey)?;
        let nonce = URL_SAFE_NO_PAD
            .decode(&sealed.nonce)
            .map_err(|_| OpenError::Invalid)?;
        if nonce.len() != 24 {
            return Err(OpenError::Invalid);
        }
        let ciphertext = URL_SAFE_NO_PAD
            .decode(&sealed.ciphertext)
            .map_err(|_| OpenError::Invalid)?;
        let plaintext = key
            .cipher
            .decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: id.as_bytes(),
                },
            )
            .map_err(|_| OpenError::Invalid)?;
        serde_json::from_slice(&plaintext).map_err(|_| OpenError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
    use super::*;
    use crate::id::SessionId;

    #[test]
    fn seal_open_roundtrip_and_tamper() {
        let key = EncryptionKey::from_bytes([7; 32]);
        let cipher = TokenCipher::new(Some(key.clone()), vec![]);
        let id = SessionId::generate().unwrap().hash();
        let tokens = TokenSet::new("secret-access").with_refresh_token("secret-refresh");
        let sealed = cipher.seal(&tokens, &id).unwrap();
        let json = serde_json::to_string(&sealed).unwrap();
        assert!(!json.contains("secret-access") && !json.contains("secret-refresh"));
        assert_eq!(cipher.open(&sealed, &id).unwrap(), tokens);

        // Another session's ID as associated data does not open it.
        let other = SessionId::generate().unwrap().hash();
        assert_eq!(cipher.open(&sealed, &other), Err(OpenError::Invalid));

        // Flipped ciphertext.
        let StoredTokens::Sealed(mut s) = sealed.clone() else {
            panic!()
        };
        let mut raw = URL_SAFE_NO_PAD.decode(&s.ciphertext).unwrap();
        raw[0] ^= 1;
        s.ciphertext = URL_SAFE_NO_PAD.encode(raw);
        assert_eq!(
            cipher.open(&StoredTokens::Sealed(s), &id),
            Err(OpenError::Invalid)
        );

        // Rotation: the old key still opens, an unknown key does not, no key at all neither.
        let rotated = TokenCipher::new(Some(EncryptionKey::from_bytes([8; 32])), vec![key]);
        assert_eq!(rotated.open(&sealed, &id).unwrap(), tokens);
        let stranger = TokenCipher::new(Some(EncryptionKey::from_bytes([9; 32])), vec![]);
        assert_eq!(stranger.open(&sealed, &id), Err(OpenError::UnknownKey));
        assert_eq!(
            TokenCipher::default().open(&sealed, &id),
            Err(OpenError::NoKey)
        );
        assert!(!format!("{:?}", EncryptionKey::from_bytes([7; 32])).contains("7, 7"));
    }
}
