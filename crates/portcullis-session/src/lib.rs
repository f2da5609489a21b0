//! Server-side sessions for portcullis.
//!
//! * [`store`]: the [`SessionStore`](store::SessionStore) contract every store implements,
//!   and the embedded [`MemoryStore`](store::MemoryStore);
//! * [`SessionId`] / [`SessionIdHash`]: the random cookie value and the store key derived
//!   from it;
//! * [`TokenSet`]: the user's tokens, kept server-side only.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod id;
pub mod store;
mod time;
mod tokens;

#[cfg(feature = "test-suite")]
pub mod conformance;

pub use id::{SESSION_ID_BYTES, SESSION_ID_LEN, SessionId, SessionIdHash};
pub use time::{Clock, SystemClock, Timestamp, TokioClock};
pub use tokens::TokenSet;
pub mod revocation;
