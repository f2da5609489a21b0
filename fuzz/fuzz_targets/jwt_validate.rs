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
#![no_main]

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use portcullis_fuzz::{AUDIENCE, ISSUER, KID, MemoryIdp, sign_raw, validator};
use portcullis_jwt::Validator;

struct Fixture {
    rt: tokio::runtime::Runtime,
    validator: Validator,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        let validator = {
            let _guard = rt.enter();
            validator(MemoryIdp::fixed(), true)
        };
        assert!(
            rt.block_on(validator.jwks().refresh_now()),
            "fixed JWKS loads"
        );
        let good = portcullis_fuzz::good_token();
        assert!(
            rt.block_on(validator.validate(&good)).is_ok(),
            "the good token validates"
        );
        Fixture { rt, validator }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
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
            let header = format!(r#"{{"alg":"ES256","kid":"{KID}"}}"#);
            (sign_raw(header.as_bytes(), rest), false)
        }
    };
    let result = f.rt.block_on(f.validator.validate(&token));
    if let Ok(claims) = result {
        assert!(!forged, "a token the fuzzer made up validated");
        assert_eq!(claims.issuer(), ISSUER);
        assert!(claims.audience().any(|a| a == AUDIENCE), "audience checked");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        assert!(claims.expires_at() + 120 > now, "expiry checked");
        // The same token validates again (cache hit path) with the same claims.
        let again = f.rt.block_on(f.validator.validate(&token)).expect("cached");
        assert_eq!(again.subject(), claims.subject());
    }
});
