//! JWKS and discovery document parsing through `JwksCache` with an in-memory `HttpClient`.
//!
//! The first byte picks what the fuzzer controls:
//! * `0`: the discovery document (the JWKS it should point at is the fixed one);
//! * `1`: the JWKS, fetched from a direct `jwks_uri`;
//! * `2`: the JWKS, found through a valid discovery document;
//! * `3`: the JWKS, with an error status.
//!
//! A `Cache-Control` value may precede the document, separated by `\r\n\r\n`.
//!
//! Invariants: no panic, no hang; when the fuzzer wrote the JWKS (modes 1-3) a token signed
//! by the trusted key (generated at start, unknown to the fuzzer) never validates: no JWKS
//! content makes the validator accept a signature the JWKS does not hold the key for.
#![no_main]

use bytes::Bytes;
use http::StatusCode;
use libfuzzer_sys::fuzz_target;
use portcullis_fuzz::{MemoryIdp, good_token, runtime, validator};

fuzz_target!(init: portcullis_fuzz::check_fixture(), |data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (cache_control, doc) = match rest.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => (
            Some(String::from_utf8_lossy(&rest[..i]).into_owned()),
            &rest[i + 4..],
        ),
        None => (None, rest),
    };
    let mut idp = MemoryIdp::fixed();
    idp.cache_control = cache_control;
    let discovery = match mode % 4 {
        0 => {
            idp.discovery = Bytes::copy_from_slice(doc);
            true
        }
        1 => {
            idp.jwks = Bytes::copy_from_slice(doc);
            false
        }
        2 => {
            idp.jwks = Bytes::copy_from_slice(doc);
            true
        }
        _ => {
            idp.jwks = Bytes::copy_from_slice(doc);
            idp.status = StatusCode::INTERNAL_SERVER_ERROR;
            false
        }
    };
    let fuzzed_jwks = mode % 4 != 0;
    // A runtime per input: every background task of the cache ends with it.
    runtime().block_on(async move {
        let v = validator(idp, discovery);
        let _usable = v.jwks().refresh_now().await;
        let result = v.validate(good_token()).await;
        if fuzzed_jwks {
            assert!(
                result.is_err(),
                "validated against a key the JWKS does not hold"
            );
        }
        let _ = v.jwks().stats(portcullis_fuzz::ISSUER);
    });
});
