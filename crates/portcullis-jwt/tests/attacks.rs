//! Every supported algorithm, and the attacks of RFC 8725 and friends.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::{Idp, TestKey, alg_name, b64, claims, now};
use jsonwebtoken::{Algorithm, EncodingKey};
use portcullis_jwt::{JwtErrorKind, Validator};
use serde_json::json;

async fn setup(keys: &[&TestKey]) -> (Idp, Validator) {
    let idp = Idp::start(keys).await;
    let cache = idp.cache_builder().build().unwrap();
    assert!(cache.refresh_now().await);
    let v = Validator::builder(cache)
        .with_audience("api")
        .build()
        .unwrap();
    (idp, v)
}

fn kind(r: Result<portcullis_jwt::StandardClaims, portcullis_jwt::JwtError>) -> JwtErrorKind {
    r.unwrap_err().kind()
}

#[tokio::test]
async fn every_algorithm_accepted_with_its_key_and_rejected_with_another() {
    let keys = [
        TestKey::rsa(0, "rs256", Algorithm::RS256),
        TestKey::rsa(0, "rs384", Algorithm::RS384),
        TestKey::rsa(1, "rs512", Algorithm::RS512),
        TestKey::rsa(1, "ps256", Algorithm::PS256),
        TestKey::rsa(2, "ps384", Algorithm::PS384),
        TestKey::rsa(2, "ps512", Algorithm::PS512),
        TestKey::ec("es256", Algorithm::ES256),
        TestKey::ec("es384", Algorithm::ES384),
        TestKey::ed25519("eddsa"),
    ];
    let refs: Vec<&TestKey> = keys.iter().collect();
    let (idp, v) = setup(&refs).await;
    for key in &keys {
        let good = key.sign(&claims(&idp.issuer()));
        let validated = v
            .validate(&good)
            .await
            .unwrap_or_else(|e| panic!("{:?}: {e}", key.alg));
        assert_eq!(validated.algorithm(), key.alg);
        // Same kid and alg, signed by a different key of the same type.
        let wrong = match key.alg {
            Algorithm::ES256 | Algorithm::ES384 => TestKey::ec(&key.kid, key.alg),
            Algorithm::EdDSA => TestKey::ed25519(&key.kid),
            _ => {
                let other = if key.kid.starts_with("rs256") || key.kid.starts_with("rs384") {
                    1
                } else {
                    0
                };
                TestKey::rsa(other, &key.kid, key.alg)
            }
        };
        let forged = wrong.sign(&claims(&idp.issuer()));
        assert_eq!(
            kind(v.validate(&forged).await),
            JwtErrorKind::InvalidSignature,
            "{:?}",
            key.alg
        );
    }
    // A key whose JWK says RS256 cannot be used with RS512 (the JWK alg must fit).
    let mismatched = keys[0].sign_with_header(
        json!({"alg": "RS512", "kid": "rs256"}),
        &claims(&idp.issuer()),
    );
    assert_eq!(
        kind(v.validate(&mismatched).await),
        JwtErrorKind::UnknownKey
    );
    // An ES384 token naming the P-256 key.
    let es = TestKey::ec("es256", Algorithm::ES384);
    assert_eq!(
        kind(v.validate(&es.sign(&claims(&idp.issuer()))).await),
        JwtErrorKind::UnknownKey
    );
}

#[tokio::test]
async fn short_rsa_keys_are_not_used() {
    let signer = TestKey::rsa(0, "short", Algorithm::RS256);
    // The JWKS publishes a 1024-bit modulus under kid "short": it is skipped, so the
    // token finds no key (were the key used, the result would be a bad signature).
    let mut short = signer.clone();
    let n = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        signer.jwk["n"].as_str().unwrap(),
    )
    .unwrap();
    short.jwk["n"] = json!(b64(&n[..128]));
    let good = TestKey::ec("good", Algorithm::ES256);
    let (idp, v) = setup(&[&short, &good]).await;
    let token = signer.sign(&claims(&idp.issuer()));
    assert_eq!(kind(v.validate(&token).await), JwtErrorKind::UnknownKey);
}

#[tokio::test]
async fn alg_none_is_refused() {
    let key = TestKey::ec("k1", Algorithm::ES256);
    let (idp, v) = setup(&[&key]).await;
    for alg in ["none", "None", "NONE", ""] {
        let header = b64(json!({"alg": alg, "kid": "k1"}).to_string().as_bytes());
        let payload = b64(claims(&idp.issuer()).to_string().as_bytes());
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}.AAAA"),
        ] {
            let err = kind(v.validate(&token).await);
            assert!(
                matches!(
                    err,
                    JwtErrorKind::AlgorithmNotAllowed | JwtErrorKind::Malformed
                ),
                "{alg}: {err:?}"
            );
        }
    }
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key_is_refused() {
    let rsa = TestKey::rsa(0, "rsa", Algorithm::RS256);
    let (idp, v) = setup(&[&rsa]).await;
    let n = rsa.jwk["n"].as_str().unwrap().to_owned();
    for secret in [
        rsa.public_bytes.clone(),
        n.into_bytes(),
        rsa.jwk.to_string().into_bytes(),
    ] {
        let attacker = TestKey {
            encoding: EncodingKey::from_secret(&secret),
            alg: Algorithm::HS256,
            ..rsa.clone()
        };
        let token = attacker.sign(&claims(&idp.issuer()));
        assert_eq!(
            kind(v.validate(&token).await),
            JwtErrorKind::AlgorithmNotAllowed
        );
    }
    // Even adding HS256 to the asymmetric allow-list is a configuration error.
    let err = Validator::builder(v.jwks().clone())
        .with_audience("api")
        .with_algorithms([Algorithm::RS256, Algorithm::HS256])
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "jwt.algorithms");
}

#[tokio::test]
async fn hmac_only_with_an_explicit_secret_for_that_issuer() {
    let ec = TestKey::ec("k1", Algorithm::ES256);
    let idp = Idp::start(&[&ec]).await;
    let secret = [7u8; 32];
    let v = Validator::builder(idp.cache_builder().build().unwrap())
        .with_audience("api")
        .with_hmac_secret("https://internal.example", secret)
        .build()
        .unwrap();
    let hs = TestKey {
        encoding: EncodingKey::from_secret(&secret),
        alg: Algorithm::HS256,
        ..ec.clone()
    };
    v.validate(&hs.sign(&claims("https://internal.example")))
        .await
        .unwrap();
    // The same secret does not work for the JWKS issuer.
    assert_eq!(
        kind(v.validate(&hs.sign(&claims(&idp.issuer()))).await),
        JwtErrorKind::AlgorithmNotAllowed
    );
    let wrong = TestKey {
        encoding: EncodingKey::from_secret(&[8u8; 32]),
        ..hs.clone()
    };
    assert_eq!(
        kind(
            v.validate(&wrong.sign(&claims("https://internal.example")))
                .await
        ),
        JwtErrorKind::InvalidSignature
    );
    assert!(
        Validator::builder(v.jwks().clone())
            .with_audience("api")
            .with_hmac_secret("https://internal.example", b"short")
            .build()
            .is_err()
    );
}

#[tokio::test]
async fn ecdsa_signature_with_r_and_s_zero_is_refused() {
    let key = TestKey::ec("k1", Algorithm::ES256);
    let key384 = TestKey::ec("k2", Algorithm::ES384);
    let (idp, v) = setup(&[&key, &key384]).await;
    for (k, len) in [(&key, 64), (&key384, 96)] {
        let token = k.sign(&claims(&idp.issuer()));
        let message = token.rsplit_once('.').unwrap().0;
        let zero = format!("{message}.{}", b64(&vec![0u8; len]));
        assert_eq!(
            kind(v.validate(&zero).await),
            JwtErrorKind::InvalidSignature
        );
        // DER-encoded r = s = 0 too.
        let der = format!(
            "{message}.{}",
            b64(&[0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00])
        );
        assert_eq!(kind(v.validate(&der).await), JwtErrorKind::InvalidSignature);
    }
}

#[tokio::test]
async fn wrong_issuer_and_audience() {
    let key = TestKey::ec("k1", Algorithm::ES256);
    let (idp, v) = setup(&[&key]).await;
    let mut c = claims(&idp.issuer());
    c["aud"] = json!("other-api");
    assert_eq!(
        kind(v.validate(&key.sign(&c)).await),
        JwtErrorKind::InvalidAudience
    );
    c["aud"] = json!(["other", "api"]);
    v.validate(&key.sign(&c)).await.unwrap();
    c["aud"] = json!([]);
    assert_eq!(
        kind(v.validate(&key.sign(&c)).await),
        JwtErrorKind::InvalidAudience
    );
    let mut c = claims(&idp.issuer());
    c.as_object_mut().unwrap().remove("aud");
    assert_eq!(
        kind(v.validate(&key.sign(&c)).await),
        JwtErrorKind::InvalidAudience
    );
    let mut c = claims(&idp.issuer());
    c["iss"] = json!(format!("{}/", idp.issuer()));
    assert_eq!(
        kind(v.validate(&key.sign(&c)).await),
        JwtErrorKind::UnknownIssuer
    );
    c["iss"] = json!(idp.issuer().to_uppercase());
    assert_eq!(
        kind(v.validate(&key.sign(&c)).await),
        JwtErrorKind::UnknownIssuer
    );
    c.as_object_mut().unwrap().remove("iss");
    assert_eq!(
        kind(v.validate(&key.sign(&c)).await),
        JwtErrorKind::MissingClaim
    );
}

#[tokio::test]
async fn expiry_and_not_before_at_the_leeway_edges() {
    let key = TestKey::ec("k1", Algorithm::ES256);
    let (idp, v) = setup(&[&key]).await;
    let at = |field: &str, value: serde_json::Value| {
        let mut c = claims(&idp.issuer());
        c[field] = value;
        key.sign(&c)
    };
    let now = now();
    // Default leeway 60 s; keep a few seconds' margin from the edge for slow runs.
    v.validate(&at("exp", json!(now - 55))).await.unwrap();
    assert_eq!(
        kind(v.validate(&at("exp", json!(now - 65))).await),
        JwtErrorKind::Expired
    );
    v.validate(&at("nbf", json!(now + 55))).await.unwrap();
    assert_eq!(
        kind(v.validate(&at("nbf", json!(now + 65))).await),
        JwtErrorKind::NotYetValid
    );
    assert_eq!(
        kind(v.validate(&at("iat", json!(now + 120))).await),
        JwtErrorKind::IssuedInFuture
    );
    // String and fractional dates are refused, not ignored (CVE-2026-25537 class).
    for (field, value) in [
        ("exp", json!((now + 600).to_string())),
        ("exp", json!(now as f64 + 600.5)),
        ("nbf", json!((now + 3600).to_string())),
        ("nbf", json!(now as f64 + 3600.5)),
        ("exp", json!(null)),
    ] {
        let err = kind(v.validate(&at(field, value.clone())).await);
        assert!(
            matches!(err, JwtErrorKind::InvalidClaim | JwtErrorKind::MissingClaim),
            "{field}={value}: {err:?}"
        );
    }
    let mut c = claims(&idp.issuer());
    c.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        kind(v.validate(&key.sign(&c)).await),
        JwtErrorKind::MissingClaim
    );
    // A zero leeway moves the edge.
    let strict = Validator::builder(v.jwks().clone())
        .with_audience("api")
        .with_leeway(Duration::ZERO)
        .build()
        .unwrap();
    assert_eq!(
        kind(strict.validate(&at("exp", json!(now - 5))).await),
        JwtErrorKind::Expired
    );
    assert_eq!(
        kind(strict.validate(&at("nbf", json!(now + 5))).await),
        JwtErrorKind::NotYetValid
    );
}

#[tokio::test]
async fn kid_with_path_or_sql_characters_is_only_a_lookup_key() {
    let key = TestKey::ec("k1", Algorithm::ES256);
    let (idp, v) = setup(&[&key]).await;
    for kid in [
        "../../etc/passwd",
        "' OR '1'='1",
        "k1\0",
        "k1; DROP TABLE keys",
        "/dev/null",
        "k1%00",
        "\u{202e}k1",
    ] {
        let token = key.with_kid(kid).sign(&claims(&idp.issuer()));
        assert_eq!(
            kind(v.validate(&token).await),
            JwtErrorKind::UnknownKey,
            "{kid:?}"
        );
    }
    assert!(idp.jwks_hits() <= 2);
}

#[tokio::test]
async fn jku_x5u_and_jwk_headers_are_never_followed() {
    let key = TestKey::ec("k1", Algorithm::ES256);
    let (idp, v) = setup(&[&key]).await;
    let attacker = TestKey::ec("k1", Algorithm::ES256);
    let attacker_jwks = format!("http://{}/attacker/jwks", idp.addr);
    for extra in [
        json!({"jku": attacker_jwks}),
        json!({"x5u": format!("http://{}/attacker/cert.pem", idp.addr)}),
        json!({"jwk": attacker.jwk}),
        json!({"jku": attacker_jwks, "jwk": attacker.jwk, "x5u": attacker_jwks}),
    ] {
        let mut header = json!({"alg": "ES256", "kid": "k1"});
        header
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let mut kidless = header.clone();
        kidless.as_object_mut().unwrap().remove("kid");
        for h in [header.clone(), kidless] {
            let token = attacker.sign_with_header(h, &claims(&idp.issuer()));
            assert_eq!(
                kind(v.validate(&token).await),
                JwtErrorKind::InvalidSignature
            );
        }
        // Attacker key under a new kid, carried in the header: unknown key.
        header["kid"] = json!("attacker");
        let token = attacker.sign_with_header(header, &claims(&idp.issuer()));
        assert_eq!(kind(v.validate(&token).await), JwtErrorKind::UnknownKey);
    }
    assert_eq!(
        idp.attacker_hits.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    // The legitimate key still signs tokens that carry such headers: they are ignored.
    let token = key.sign_with_header(
        json!({"alg": "ES256", "kid": "k1", "jku": attacker_jwks}),
        &claims(&idp.issuer()),
    );
    v.validate(&token).await.unwrap();
}

#[tokio::test]
async fn unknown_crit_is_refused() {
    let key = TestKey::ec("k1", Algorithm::ES256);
    let (idp, v) = setup(&[&key]).await;
    for crit in [
        json!(["exp"]),
        json!(["b64"]),
        json!(["urn:x"]),
        json!([]),
        json!("b64"),
        json!([1]),
    ] {
        let token = key.sign_with_header(
            json!({"alg": "ES256", "kid": "k1", "crit": crit, "b64": true}),
            &claims(&idp.issuer()),
        );
        assert_eq!(
            kind(v.validate(&token).await),
            JwtErrorKind::UnsupportedCritical,
            "{crit}"
        );
    }
}

#[tokio::test]
async fn malformed_truncated_and_oversized_tokens() {
    let key = TestKey::rsa(0, "k1", Algorithm::RS256);
    let (idp, v) = setup(&[&key]).await;
    let token = key.sign(&claims(&idp.issuer()));
    let (h, rest) = token.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    let cases = [
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}.{s}"),
        format!("{h}.{p}.{}", &s[..s.len() - 10]),
        token[..token.len() / 2].to_owned(),
        format!("{h}=.{p}.{s}"),
        format!("{h}.{p}!.{s}"),
        format!("{}.{p}.{s}", b64(b"not json")),
        format!("{h}.{}.{s}", b64(b"[1,2,3]")),
        format!("{h}.{p}.{s}A"),
        "".to_owned(),
        "...".to_owned(),
        "\u{e9}.\u{e9}.\u{e9}".to_owned(),
    ];
    for case in &cases {
        let err = kind(v.validate(case).await);
        assert!(
            matches!(
                err,
                JwtErrorKind::Malformed
                    | JwtErrorKind::InvalidSignature
                    | JwtErrorKind::InvalidClaim
                    | JwtErrorKind::MissingClaim
            ),
            "{err:?}"
        );
    }
    let mut big = claims(&idp.issuer());
    big["padding"] = json!("x".repeat(10_000));
    assert_eq!(
        kind(v.validate(&key.sign(&big)).await),
        JwtErrorKind::TooLarge
    );
    let huge = "a".repeat(1_000_000);
    assert_eq!(kind(v.validate(&huge).await), JwtErrorKind::TooLarge);
    // Nothing invalid was cached; the valid token still validates.
    assert_eq!(v.cached_tokens(), 0);
    v.validate(&token).await.unwrap();
}

#[tokio::test]
async fn type_and_required_claims() {
    let key = TestKey::ec("k1", Algorithm::ES256);
    let idp = Idp::start(&[&key]).await;
    let v = Validator::builder(idp.cache_builder().build().unwrap())
        .with_audience("api")
        .with_required_type("at+jwt")
        .with_required_claims(["sub", "client_id"])
        .build()
        .unwrap();
    let mut c = claims(&idp.issuer());
    c["client_id"] = json!("app");
    v.validate(&key.sign(&c)).await.unwrap();
    let typ = |t: &str| key.sign_with_header(json!({"alg": "ES256", "kid": "k1", "typ": t}), &c);
    v.validate(&typ("application/at+jwt")).await.unwrap();
    v.validate(&typ("AT+JWT")).await.unwrap();
    assert_eq!(
        kind(v.validate(&typ("JWT")).await),
        JwtErrorKind::InvalidType
    );
    let id_token = key.sign_with_header(json!({"alg": "ES256", "kid": "k1"}), &c);
    assert_eq!(kind(v.validate(&id_token).await), JwtErrorKind::InvalidType);
    c.as_object_mut().unwrap().remove("client_id");
    assert_eq!(
        kind(v.validate(&key.sign(&c)).await),
        JwtErrorKind::MissingClaim
    );
}

#[tokio::test]
async fn a_flood_of_bad_tokens_leaves_the_cache_empty() {
    let key = TestKey::ec("k1", Algorithm::ES256);
    let (idp, v) = setup(&[&key]).await;
    let forged = TestKey::ec("k1", Algorithm::ES256);
    for _ in 0..500 {
        let _ = v.validate(&forged.sign(&claims(&idp.issuer()))).await;
    }
    assert_eq!(v.cached_tokens(), 0);
    let _ = alg_name(Algorithm::ES256);
}
