#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::parse;
use crate::error::JwtErrorKind;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn b64(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(s)
}

#[test]
fn split_refuses_malformed_tokens() {
    for bad in [
        "", "a", "a.b", "a.b.c.d", "a..c", ".b.c", "a.b.", "a=.b.c", "a.b+.c", "a.b.c/",
    ] {
        assert_eq!(
            parse::split(bad).unwrap_err().kind(),
            JwtErrorKind::Malformed,
            "{bad}"
        );
    }
    let parts = parse::split("aa.bb.cc").unwrap();
    assert_eq!(parts.message, "aa.bb");
    assert_eq!(parts.signature, "cc");
}

#[test]
fn header_checks() {
    let h = |json: &str| parse::header(&b64(json), &[]);
    assert_eq!(
        h(r#"{"alg":"none"}"#).unwrap_err().kind(),
        JwtErrorKind::AlgorithmNotAllowed
    );
    assert_eq!(
        h(r#"{"alg":"ES512"}"#).unwrap_err().kind(),
        JwtErrorKind::AlgorithmNotAllowed
    );
    assert_eq!(
        h(r#"{"alg":"RS256","crit":["exp"]}"#).unwrap_err().kind(),
        JwtErrorKind::UnsupportedCritical
    );
    assert_eq!(
        h(r#"{"alg":"RS256","crit":[]}"#).unwrap_err().kind(),
        JwtErrorKind::UnsupportedCritical
    );
    assert_eq!(
        h(r#"{"alg":"RS256","crit":"b64"}"#).unwrap_err().kind(),
        JwtErrorKind::UnsupportedCritical
    );
    assert_eq!(
        h(r#"{"alg":"RS256","alg":"none"}"#).unwrap_err().kind(),
        JwtErrorKind::Malformed
    );
    assert_eq!(h("not json").unwrap_err().kind(), JwtErrorKind::Malformed);
    let ok = parse::header(
        &b64(r#"{"alg":"RS256","crit":["x-ok"],"x-ok":1}"#),
        &["x-ok".into()],
    )
    .unwrap();
    assert_eq!(ok.alg, jsonwebtoken::Algorithm::RS256);
    let with_jku = h(r#"{"alg":"ES256","kid":"k","jku":"https://evil.example/jwks"}"#).unwrap();
    assert_eq!(with_jku.kid.as_deref(), Some("k"));
}

#[test]
fn claims_are_strict() {
    let header = parse::header(&b64(r#"{"alg":"RS256"}"#), &[]).unwrap();
    let c = |json: &str| parse::claims(json.as_bytes(), &header);
    assert!(c(r#"{"iss":"a","exp":1}"#).is_ok());
    for (json, kind) in [
        (r#"{"iss":"a"}"#, JwtErrorKind::MissingClaim),
        (r#"{"exp":1}"#, JwtErrorKind::MissingClaim),
        (
            r#"{"iss":"a","exp":"9999999999"}"#,
            JwtErrorKind::InvalidClaim,
        ),
        (
            r#"{"iss":"a","exp":9999999999.5}"#,
            JwtErrorKind::InvalidClaim,
        ),
        (r#"{"iss":"a","exp":-1}"#, JwtErrorKind::InvalidClaim),
        (
            r#"{"iss":"a","exp":1,"nbf":"0"}"#,
            JwtErrorKind::InvalidClaim,
        ),
        (
            r#"{"iss":"a","exp":1,"nbf":1.5}"#,
            JwtErrorKind::InvalidClaim,
        ),
        (r#"{"iss":"a","exp":1,"aud":5}"#, JwtErrorKind::InvalidClaim),
        (r#"{"iss":"a","exp":1,"exp":2}"#, JwtErrorKind::Malformed),
        (r#"{"iss":["a"],"exp":1}"#, JwtErrorKind::InvalidClaim),
    ] {
        assert_eq!(c(json).unwrap_err().kind(), kind, "{json}");
    }
    let ok = c(r#"{"iss":"a","exp":1,"aud":["x","y"],"scope":"read write","scp":["admin"],"roles":"r1 r2"}"#).unwrap();
    assert_eq!(ok.audience.len(), 2);
    assert_eq!(ok.scopes.len(), 3);
    assert_eq!(ok.roles.len(), 2);
}

#[test]
fn builder_limits() {
    use crate::{JwksCache, Validator};
    use std::time::Duration;
    let jwks = JwksCache::builder()
        .add_issuer("https://a.example")
        .build()
        .unwrap();
    let setting = |b: crate::ValidatorBuilder| b.build().unwrap_err().setting().to_owned();
    assert_eq!(setting(Validator::builder(jwks.clone())), "jwt.audience");
    let b = || Validator::builder(jwks.clone()).with_audience("api");
    assert_eq!(
        setting(b().with_revocation_limits(10, Duration::MAX)),
        "jwt.revocation_ttl"
    );
    assert_eq!(
        setting(b().with_leeway(Duration::from_secs(100_000))),
        "jwt.leeway"
    );
    assert_eq!(setting(b().with_algorithms([])), "jwt.algorithms");
    assert_eq!(setting(b().with_max_token_bytes(10)), "jwt.max_token_bytes");
    assert!(b().insecure_skip_audience().build().is_ok());
    assert!(
        Validator::builder(jwks.clone())
            .insecure_skip_audience()
            .build()
            .is_ok()
    );
    assert!(b().build().is_ok());
}
