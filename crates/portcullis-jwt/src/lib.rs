//! JWT validation for portcullis: a cached JWKS, an RFC 8725 validator, `JwtLayer` and
//! per-route policies.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod http;
