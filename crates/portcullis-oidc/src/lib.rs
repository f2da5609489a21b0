//! OpenID Connect login for portcullis: the authorization-code flow with PKCE that ends in
//! [`Session::login`](portcullis_session::Session::login), and RP-initiated logout.
//!
//! * `GET /login?return_to=/path` → `303` to the provider's authorization endpoint (from
//!   discovery) with PKCE S256, `state` and `nonce`; those and the verifier travel in a
//!   short-lived private (encrypted, authenticated) cookie. `return_to` must be a same-origin
//!   path: `//host`, `/\host`, schemes, encoded and dot-segment tricks are refused.
//! * `GET /callback` (the redirect URI's path) → `state` checked in constant time and single
//!   use (a replay is refused), the provider's `error` turned into an error page, the code
//!   exchanged (`client_secret_basic`, `client_secret_post`, or a public client), the ID token
//!   validated (signature, `iss`, `aud`, `exp`, `nonce`, `azp`, `at_hash`) with the portcullis
//!   [`Validator`](portcullis_jwt::Validator), the access token validated, then
//!   `Session::login` (a new session ID) and `303` to `return_to`.
//! * `POST /logout` → `Session::logout()` (local session, cookie, token revocation), then `303`
//!   to the provider's `end_session_endpoint` with `id_token_hint`, `client_id` and
//!   `post_logout_redirect_uri`, or to a local page when the provider has none.
//!
//! Every failure ends in an error page with a fitting status ([`OidcErrorKind::status`]) and
//! no session; no token, code or secret is echoed or logged.
//!
//! Use [`OidcLayer`] in any tower stack, `Oidc::router()` with axum (feature `axum`), or
//! [`Oidc::handle`] directly. Stack order: `CookieLayer` (with keys) → `TokenLookupLayer` →
//! (`BindingLayer`) → OIDC routes → app.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod config;
mod error;
mod flow;
mod id_token;
mod layer;
mod oidc;
mod provider;
#[cfg(feature = "axum")]
mod router;

pub use config::{
    DEFAULT_DISCOVERY_TTL, DEFAULT_FLOW_COOKIE, DEFAULT_FLOW_LIFETIME, DEFAULT_MAX_RETURN_TO_BYTES,
    DEFAULT_PROVIDER_TIMEOUT, DEFAULT_REPLAY_CAPACITY, OidcConfig,
};
pub use error::{OidcError, OidcErrorKind};
pub use layer::{OidcLayer, OidcRoutes, ResponseFuture};
pub use oidc::{Oidc, Route};
pub use provider::ProviderMetadata;
