#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::issuer::parse_max_age;
use super::key::parse_jwks;
use super::*;

#[test]
fn max_age_parsing() {
    assert_eq!(parse_max_age("max-age=300"), Some(Duration::from_secs(300)));
    assert_eq!(
        parse_max_age("public, MAX-AGE=\"60\", must-revalidate"),
        Some(Duration::from_secs(60))
    );
    assert_eq!(parse_max_age("no-store"), Some(Duration::ZERO));
    assert_eq!(parse_max_age("public"), None);
    assert_eq!(parse_max_age("max-age=abc"), None);
}

#[test]
fn jwks_parsing_skips_unusable_keys() {
    let x = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"; // 32 zero bytes
    let doc = serde_json::json!({"keys": [
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": x, "use": "sig", "alg": "EdDSA"},
        {"kty": "OKP", "crv": "Ed25519", "kid": "enc", "x": x, "use": "enc"},
        {"kty": "OKP", "crv": "Ed25519", "kid": "wrongalg", "x": x, "alg": "RS256"},
        {"kty": "OKP", "crv": "X25519", "kid": "x", "x": x},
        {"kty": "RSA", "kid": "short", "n": "AQAB", "e": "AQAB"},
        {"kty": "EC", "crv": "P-256", "kid": "badlen", "x": x, "y": "AAAA"},
        {"kty": "OKP", "crv": "Ed25519", "kid": "private", "x": x, "d": x},
        "garbage"
    ]});
    let parsed = parse_jwks(&serde_json::to_vec(&doc).unwrap(), 2048).unwrap();
    assert_eq!(parsed.len(), 1);
    assert_eq!(parsed.skipped, 8);
    assert!(parsed.by_kid.contains_key("ed"));
    assert!(parse_jwks(b"{\"nokeys\": []}", 2048).is_err());
    assert!(parse_jwks(b"<html>", 2048).is_err());
}

#[test]
fn a_jwk_with_a_member_given_twice_is_skipped_not_guessed() {
    let x = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    // Written by hand: a JSON library would not emit the duplicate `kty`.
    let doc = format!(
        r#"{{"keys": [
            {{"kty": "oct", "kty": "OKP", "crv": "Ed25519", "kid": "dup", "x": "{x}"}},
            {{"kty": "OKP", "crv": "Ed25519", "kid": "ok", "x": "{x}", "extra": {{"deep": [1, 2, {{"a": null}}]}}}},
            [1, 2, 3],
            {{"kty": "OKP", "crv": "Ed25519", "kid": "ok2", "x": "{x}", "x": "{x}"}}
        ]}}"#
    );
    let parsed = parse_jwks(doc.as_bytes(), 2048).unwrap();
    assert_eq!(parsed.len(), 1, "only the well-formed key is kept");
    assert!(parsed.by_kid.contains_key("ok"));
    assert_eq!(parsed.skipped, 3);
    // One malformed key never fails the document; malformed JSON anywhere does.
    assert!(parse_jwks(br#"{"keys": [{"kty": "OKP",]}"#, 2048).is_err());
    assert!(parse_jwks(br#"{"keys": {"kty": "OKP"}}"#, 2048).is_err());
}

#[test]
fn key_type_fits_algorithm() {
    use jsonwebtoken::Algorithm::*;
    assert!(KeyType::Rsa.fits(PS256));
    assert!(!KeyType::Rsa.fits(HS256));
    assert!(!KeyType::Rsa.fits(ES256));
    assert!(KeyType::EcP256.fits(ES256));
    assert!(!KeyType::EcP256.fits(ES384));
    assert!(!KeyType::Ed25519.fits(HS256));
}

#[test]
fn builder_rejects_bad_config() {
    assert!(JwksCache::builder().build().is_err());
    let huge = JwksCache::builder()
        .add_issuer("https://a.example")
        .with_stale_window(Duration::MAX)
        .build()
        .unwrap_err();
    assert_eq!(huge.setting(), "jwks.stale_window");
    let bounds = JwksCache::builder()
        .add_issuer("https://a.example")
        .with_refresh_bounds(
            Duration::from_secs(10),
            Duration::from_secs(1),
            Duration::from_secs(5),
        )
        .build()
        .unwrap_err();
    assert_eq!(bounds.setting(), "jwks.refresh_bounds");
    let err = JwksCache::builder()
        .add_issuer("http://idp.example")
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "jwks.issuer");
    let err = JwksCache::builder()
        .add_issuer("http://127.0.0.1:1")
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "jwks.issuer");
    assert!(
        JwksCache::builder()
            .add_issuer("http://127.0.0.1:1")
            .insecure_allow_http_loopback()
            .build()
            .is_ok()
    );
    assert!(
        JwksCache::builder()
            .add_issuer_with_jwks_uri("https://a.example", "http://a.example/jwks")
            .build()
            .is_err()
    );
    assert!(
        JwksCache::builder()
            .add_issuer("https://a.example")
            .add_issuer("https://a.example")
            .build()
            .is_err()
    );
    assert!(
        JwksCache::builder()
            .add_issuer("https://a.example")
            .with_min_rsa_bits(1024)
            .build()
            .is_err()
    );
}
