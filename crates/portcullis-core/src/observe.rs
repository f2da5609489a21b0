//! Observability shared by every layer: one tracing event per rejection (with its reason,
//! never the credential) and counters/histograms through the [`metrics`] facade.
//!
//! Metrics are recorded only with the `metrics` feature, and go wherever the app's recorder
//! (Prometheus exporter, StatsD, ...) sends them; without a recorder they cost an atomic
//! load. Every name starts with `portcullis_`; see [`names`].
//!
//! [`metrics`]: https://docs.rs/metrics

use http::Response;

use crate::rejection::{Rejection, RejectionKind};
use crate::response::{RejectionContext, ResponseForRejection};

/// The metric names, all in one place.
pub mod names {
    /// Counter: requests refused, labels `layer` and `reason` (a [`RejectionKind`](crate::RejectionKind) label).
    pub const REQUESTS_REJECTED: &str = "portcullis_requests_rejected_total";
    /// Counter: requests let in with a validated credential, label `layer`.
    pub const REQUESTS_ALLOWED: &str = "portcullis_requests_allowed_total";
    /// Counter: access-token validations, label `result` (`cache_hit`, `verified`, `invalid`).
    pub const TOKEN_VALIDATIONS: &str = "portcullis_token_validations_total";
    /// Counter: JWKS and discovery fetches, label `result` (`ok`, `error`).
    pub const JWKS_FETCHES: &str = "portcullis_jwks_fetches_total";
    /// Histogram: JWKS and discovery fetch duration in seconds.
    pub const JWKS_FETCH_SECONDS: &str = "portcullis_jwks_fetch_duration_seconds";
    /// Counter: sessions created (logins).
    pub const SESSIONS_CREATED: &str = "portcullis_sessions_created_total";
    /// Counter: sessions that ended by idle timeout, absolute lifetime or token expiry.
    pub const SESSIONS_EXPIRED: &str = "portcullis_sessions_expired_total";
    /// Counter: sessions ended by logout, log-out-everywhere, binding mismatch or revocation.
    pub const SESSIONS_REVOKED: &str = "portcullis_sessions_revoked_total";
    /// Counter: session-store errors, label `kind` (`unavailable`, `timeout`, `conflict`, ...).
    pub const STORE_ERRORS: &str = "portcullis_store_errors_total";
}

// The metric names are written out as literals below (not the `names` constants) so that the
// `metrics` macros build their keys statically: no allocation per request on the hot path.
// A unit test checks that the literals and the constants agree.

macro_rules! counter {
    ($($arg:tt)*) => {{
        #[cfg(feature = "metrics")]
        metrics::counter!($($arg)*).increment(1);
    }};
}

/// A request let in by the JWT layer with a validated token.
#[inline]
pub fn allowed_jwt() {
    counter!("portcullis_requests_allowed_total", "layer" => "jwt");
}

/// A token validation answered from the validated-token cache.
#[inline]
pub fn token_cache_hit() {
    counter!("portcullis_token_validations_total", "result" => "cache_hit");
}

/// A token validated by a signature check (a cache miss).
#[inline]
pub fn token_verified() {
    counter!("portcullis_token_validations_total", "result" => "verified");
}

/// A token found invalid.
#[inline]
pub fn token_invalid() {
    counter!("portcullis_token_validations_total", "result" => "invalid");
}

/// A JWKS or discovery fetch, how it ended and how long it took.
pub fn jwks_fetch(ok: bool, seconds: f64) {
    let result = if ok { "ok" } else { "error" };
    #[cfg(feature = "metrics")]
    metrics::counter!("portcullis_jwks_fetches_total", "result" => result).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = result;
    #[cfg(feature = "metrics")]
    metrics::histogram!("portcullis_jwks_fetch_duration_seconds").record(seconds);
    #[cfg(not(feature = "metrics"))]
    let _ = seconds;
}

/// A session created (a login).
pub fn session_created() {
    counter!("portcullis_sessions_created_total");
}

/// A session ended by its idle timeout, absolute lifetime or access-token expiry.
pub fn session_expired() {
    counter!("portcullis_sessions_expired_total");
}

/// A session ended by logout, log-out-everywhere, binding mismatch or revocation.
pub fn session_revoked() {
    counter!("portcullis_sessions_revoked_total");
}

/// A session-store error of `kind` (`unavailable`, `timeout`, `conflict`, ...).
pub fn store_error(kind: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("portcullis_store_errors_total", "kind" => kind).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = kind;
}

/// Records a refused request: a tracing event with the layer and reason, and the
/// [`names::REQUESTS_REJECTED`] counter.
pub fn rejected(layer: &'static str, rejection: &Rejection) {
    let kind = rejection.kind();
    match kind {
        RejectionKind::MissingCredentials => {
            tracing::debug!(
                layer,
                reason = kind.as_str(),
                "portcullis: request rejected"
            );
        }
        RejectionKind::Unavailable | RejectionKind::Misconfigured => tracing::warn!(
            layer,
            reason = kind.as_str(),
            description = rejection.description(),
            "portcullis: request rejected"
        ),
        _ => tracing::info!(
            layer,
            reason = kind.as_str(),
            description = rejection.description(),
            "portcullis: request rejected"
        ),
    }
    #[cfg(feature = "metrics")]
    metrics::counter!("portcullis_requests_rejected_total", "layer" => layer, "reason" => kind.as_str())
        .increment(1);
}

/// The one way a layer refuses a request: records it ([`rejected`]), builds the response with
/// `mapping`, and puts the [`Rejection`] into the response's extensions.
pub fn reject<B, R: ResponseForRejection<B>>(
    layer: &'static str,
    mapping: &R,
    cx: &RejectionContext<'_>,
    rejection: Rejection,
) -> Response<B> {
    rejected(layer, &rejection);
    let mut response = mapping.response(cx, rejection.clone());
    response.extensions_mut().insert(rejection);
    response
}

#[cfg(test)]
mod tests {
    /// The literals in the recording functions must match the documented names.
    #[test]
    fn literal_names_match_the_constants() {
        let source = include_str!("observe.rs");
        for name in [
            super::names::REQUESTS_REJECTED,
            super::names::REQUESTS_ALLOWED,
            super::names::TOKEN_VALIDATIONS,
            super::names::JWKS_FETCHES,
            super::names::JWKS_FETCH_SECONDS,
            super::names::SESSIONS_CREATED,
            super::names::SESSIONS_EXPIRED,
            super::names::SESSIONS_REVOKED,
            super::names::STORE_ERRORS,
        ] {
            let uses = source.matches(&format!("\"{name}\"")).count();
            // Once in `names`, at least once where it is recorded.
            assert!(uses >= 2, "{name} is never recorded");
        }
    }
}
