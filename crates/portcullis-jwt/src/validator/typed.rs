//! Typed claims of a cached validation.

use std::any::{Any, TypeId};
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::cache::Entry;
use crate::claims::Claims;
use crate::error::{JwtError, JwtErrorKind};

/// The payload of `entry` as `T`, deserialized once per entry for the first type asked.
pub(crate) fn typed<T>(entry: &Entry) -> Result<Claims<T>, JwtError>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    let id = TypeId::of::<T>();
    let (stored_id, any) = match entry.typed.get() {
        Some(stored) => stored,
        None => {
            let value: Arc<dyn Any + Send + Sync> = Arc::new(deserialize::<T>(&entry.payload)?);
            entry.typed.get_or_init(|| (id, value))
        }
    };
    let custom = if *stored_id == id {
        any.clone().downcast::<T>().ok()
    } else {
        None
    };
    let custom = match custom {
        Some(custom) => custom,
        None => Arc::new(deserialize::<T>(&entry.payload)?),
    };
    Ok(Claims {
        custom,
        standard: entry.claims.clone(),
    })
}

fn deserialize<T: DeserializeOwned>(payload: &[u8]) -> Result<T, JwtError> {
    serde_json::from_slice(payload).map_err(|_| {
        JwtError::new(
            JwtErrorKind::InvalidClaim,
            "the token's claims do not have the expected shape",
        )
    })
}
