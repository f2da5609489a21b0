//! The [`BindingLayer`]: a session is usable only from the client it was created for.
//!
//! On every request the layer resolves the client — its IP with a
//! [`ClientIpResolver`](portcullis_core::ClientIpResolver) (the connection's peer address;
//! forwarding headers only from trusted proxies) and its `User-Agent` — puts the
//! [`ClientIp`](portcullis_core::ClientIp) into the request extensions, and hands the client to
//! the [`Session`](crate::Session) so that a login during this request captures it. When the
//! session was bound at login and the [`BindingPolicy`](portcullis_core::BindingPolicy) finds
//! a mismatch, the policy's action decides:
//!
//! * [`Reject`](portcullis_core::MismatchAction::Reject) (the default): the session is
//!   destroyed (the session layer then clears the cookie) and the request is refused with
//!   [`Rejection::binding_mismatch`](portcullis_core::Rejection::binding_mismatch) — HTTP 401
//!   `invalid_token`, or gRPC `UNAUTHENTICATED` — after a `WARN` event naming the reason
//!   (`ip`, `user_agent`), never the cookie or a token;
//! * [`ReportOnly`](portcullis_core::MismatchAction::ReportOnly): the same event, and the
//!   request goes on.
//!
//! Requests without a session (bearer-token API calls, anonymous requests) pass unchanged,
//! apart from the `ClientIp` extension.
//!
//! Place it inside the token lookup layer, which puts the `Session` into the extensions:
//! `CookieLayer → TokenLookupLayer → BindingLayer → JwtLayer → app`.

mod future;
mod layer;
mod service;

#[cfg(test)]
mod tests;

pub use future::ResponseFuture;
pub use layer::BindingLayer;
pub use service::Binding;
