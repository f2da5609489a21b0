//! Token parsing and validation: `Validator::validate` against a fixed in-memory JWKS.
//!
//! The first byte picks the mode:
//! * `0`: the rest is the token itself. Nothing the fuzzer makes up may validate (it does
//!   not hold the key).
//! * `1`: the rest is `header JSON \0 claims JSON`, signed with the trusted key: the header
//!   and claims checks behind the signature are reached.
//! * `2`: the rest is the claims JSON under a valid header, signed with the trusted key.
//!
//! Invariants: no panic; whatever validates has the trusted issuer, the accepted audience
//! and an expiry in the future (within the leeway), and was signed by the trusted key.
//!
//! Every input gets its own runtime, JWKS cache and validator: what one input leaves in the
//! caches (validated tokens, unknown-kid cool-downs, moka's bookkeeping) cannot change the
//! paths the next one takes, so coverage depends on the input alone and a corpus replays.
#![no_main]

use std::time::{SystemTime, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use portcullis_fuzz::{AUDIENCE, ISSUER, KID, MemoryIdp, runtime, sign_raw, validator};

fuzz_target!(init: portcullis_fuzz::check_fixture(), |data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (token, forged) = match mode % 3 {
        0 => (String::from_utf8_lossy(rest).into_owned(), true),
        1 => {
            let (header, payload) = match rest.iter().position(|b| *b == 0) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &b"{}"[..]),
            };
            (sign_raw(header, payload), false)
        }
        _ => {
            let header = format!(r#"{{"alg":"EdDSA","kid":"{KID}"}}"#);
            (sign_raw(header.as_bytes(), rest), false)
        }
    };
    runtime().block_on(async move {
        let v = validator(MemoryIdp::fixed(), false);
        let Ok(claims) = v.validate(&token).await else {
            return;
        };
        assert!(!forged, "a token the fuzzer made up validated");
        assert_eq!(claims.issuer(), ISSUER);
        assert!(claims.audience().any(|a| a == AUDIENCE), "audience checked");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        assert!(claims.expires_at().saturating_add(120) > now, "expiry checked");
        // The same token validates again (cache hit path) with the same claims.
        let again = v.validate(&token).await.expect("cached");
        assert_eq!(again.subject(), claims.subject());
        assert_eq!(again.expires_at(), claims.expires_at());
    });
});
