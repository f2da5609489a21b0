//! Server-side sessions for portcullis.
//!
//! * [`SessionConfig`] → [`SessionManager`]: the configured sessions (store, cookie name,
//!   idle and absolute lifetimes, access-token expiry policy, IdP, encryption at rest,
//!   revocation);
//! * [`TokenLookupLayer`]: per request, the session cookie or bearer header → [`Session`] and
//!   [`AccessToken`](portcullis_core::AccessToken) in the extensions;
//! * [`Session`]: the handle with the lifecycle — `login`, `logout`, `destroy`,
//!   `logout_everywhere`, `sessions_of` — and typed app data;
//! * [`store`]: the [`SessionStore`](store::SessionStore) contract and the embedded
//!   [`MemoryStore`](store::MemoryStore); [`revocation`]: revocation events across instances;
//! * [`SessionId`] / [`SessionIdHash`]: the random cookie value and the store key derived
//!   from it; [`TokenSet`]: the user's tokens, kept server-side only.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod binding;
mod config;
mod crypto;
mod error;
mod id;
mod idp;
pub mod lookup;
mod manager;
pub mod revocation;
mod session;
pub mod store;
mod time;
mod tokens;

#[cfg(feature = "test-suite")]
pub mod conformance;

pub use binding::{Binding, BindingLayer};
pub use config::{
    AccessTokenExpiry, CredentialOrder, DEFAULT_ABSOLUTE_LIFETIME, DEFAULT_CLEAR_SITE_DATA,
    DEFAULT_COOKIE_NAME, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_SESSIONS_PER_SUBJECT,
    DEFAULT_REFRESH_LEASE, DEFAULT_RETRY_AFTER, DEFAULT_STORE_TIMEOUT, DEFAULT_TOUCH_INTERVAL,
    SessionConfig,
};
pub use crypto::EncryptionKey;
pub use error::{SessionError, SessionErrorKind};
pub use id::{SESSION_ID_BYTES, SESSION_ID_LEN, SessionId, SessionIdHash};
pub use idp::{DEFAULT_IDP_TIMEOUT, IdpConfig};
pub use lookup::TokenLookupLayer;
pub use manager::SessionManager;
pub use session::{Session, SessionInfo};
pub use time::{Clock, SystemClock, Timestamp, TokioClock};
pub use tokens::TokenSet;
