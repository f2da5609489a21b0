//! Token attacks: RFC 8725, signatures, key selection, claim parsing.

use super::*;

#[tokio::test]
async fn a_good_token_works_and_the_suite_counts_as_a_baseline() {
    let s = start(false).await;
    let res = s.http.bearer("/me", &s.app.a.token("alice", AUD)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.body(), "alice");
    assert!(
        res.headers()[VARY]
            .to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("authorization")
    );
    let res = s.http.get("/me").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn alg_none_weak_and_unsupported_algorithms_are_refused() {
    let s = start(false).await;
    let a = &s.app.a;
    let claims = a.claims("mallory", AUD).to_string();
    let good = a.token("mallory", AUD);
    let good_sig = good.rsplit('.').next().unwrap();
    for alg in ["none", "None", "NONE", "nOnE", ""] {
        let h = b64(json!({"alg": alg, "kid": a.kid}).to_string().as_bytes());
        let p = b64(claims.as_bytes());
        refused(&s, &format!("{h}.{p}."), alg).await;
        refused(&s, &format!("{h}.{p}.{good_sig}"), alg).await;
    }
    // Algorithms that are weak, unknown, or do not fit the key type (EC P-256 key).
    for alg in [
        "ES384", "ES512", "RS256", "PS256", "EdDSA", "ES256K", "RS1", "HS1", "XYZ", "A256GCM",
        "dir",
    ] {
        let token = a.sign_raw(&json!({"alg": alg, "kid": a.kid}).to_string(), &claims);
        refused(&s, &token, alg).await;
    }
    // Header `alg` of a non-string type.
    for alg in [
        json!(null),
        json!(256),
        json!(["ES256"]),
        json!({"alg": "ES256"}),
    ] {
        let token = a.sign_raw(&json!({"alg": alg, "kid": a.kid}).to_string(), &claims);
        refused(&s, &token, "alg type").await;
    }
}

#[tokio::test]
async fn alg_confusion_hs256_with_the_public_key_is_refused() {
    use aws_lc_rs::hmac;
    let s = start(false).await;
    let a = &s.app.a;
    let claims = a.claims("mallory", AUD).to_string();
    // Every form an attacker could take the public key in: raw point, JWK JSON, JWKS JSON,
    // x coordinate, base64url point.
    let secrets: Vec<Vec<u8>> = vec![
        a.public_point().to_vec(),
        a.jwk().to_string().into_bytes(),
        a.jwks().to_string().into_bytes(),
        a.public_point()[1..33].to_vec(),
        b64(a.public_point()).into_bytes(),
    ];
    for (alg, hmac_alg) in [
        ("HS256", hmac::HMAC_SHA256),
        ("HS384", hmac::HMAC_SHA384),
        ("HS512", hmac::HMAC_SHA512),
    ] {
        for secret in &secrets {
            let header = json!({"alg": alg, "kid": a.kid, "typ": "at+jwt"}).to_string();
            let msg = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
            let tag = hmac::sign(&hmac::Key::new(hmac_alg, secret), msg.as_bytes());
            refused(&s, &format!("{msg}.{}", b64(tag.as_ref())), alg).await;
        }
    }
}

#[tokio::test]
async fn ecdsa_signature_r_equals_s_equals_zero_is_refused() {
    let s = start(false).await;
    let good = s.app.a.token("mallory", AUD);
    let (h, p) = header_and_payload(&good);
    for sig in [vec![0u8; 64], vec![0u8; 0], vec![0u8; 1], vec![0xff; 64], {
        // DER-encoded r = 0, s = 0 (a different encoding of the same forgery).
        vec![0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]
    }] {
        refused(&s, &format!("{h}.{p}.{}", b64(&sig)), "zero signature").await;
    }
    // The good signature on a modified payload.
    let sig = good.rsplit('.').next().unwrap();
    let other = b64(s.app.a.claims("admin", AUD).to_string().as_bytes());
    refused(&s, &format!("{h}.{other}.{sig}"), "signature reuse").await;
}

#[tokio::test]
async fn substitution_wrong_audience_issuer_and_cross_issuer_same_kid() {
    let s = start(false).await;
    let (a, b) = (&s.app.a, &s.app.b);
    // Both trusted issuers work with their own keys.
    for (i, who) in [(a, "a"), (b, "b")] {
        let res = s.http.bearer("/me", &i.token(who, AUD)).await;
        assert_eq!(res.status(), StatusCode::OK, "{who}");
    }
    // A token minted for another service (aud), with no aud, with aud of the wrong type.
    refused(&s, &a.token("alice", "other-api"), "wrong aud").await;
    let mut c = a.claims("alice", AUD);
    c.as_object_mut().unwrap().remove("aud");
    refused(&s, &a.sign(&c), "no aud").await;
    c["aud"] = json!(["other", 1]);
    refused(&s, &a.sign(&c), "aud with a number").await;
    c["aud"] = json!({"api": true});
    refused(&s, &a.sign(&c), "aud object").await;
    // iss of B, signed by A, with the same kid: B's key is looked up, the signature fails.
    let mut c = a.claims("alice", AUD);
    c["iss"] = json!(b.url);
    refused(&s, &a.sign(&c), "iss B signed by A (same kid)").await;
    let mut c = b.claims("alice", AUD);
    c["iss"] = json!(a.url);
    refused(&s, &b.sign(&c), "iss A signed by B (same kid)").await;
    // An issuer nobody trusts, with the same kid; an issuer URL that differs by a slash or
    // case; iss missing or not a string.
    let evil = Issuer::new(a.url.clone(), "shared");
    refused(
        &s,
        &evil.token("alice", AUD),
        "attacker key under A's issuer and kid",
    )
    .await;
    for iss in [
        json!(format!("{}/", a.url)),
        json!(a.url.to_uppercase()),
        json!("http://evil.example"),
        json!(null),
        json!(7),
        json!([a.url]),
    ] {
        let mut c = a.claims("alice", AUD);
        c["iss"] = iss.clone();
        refused(&s, &a.sign(&c), &format!("iss {iss}")).await;
    }
}

#[tokio::test]
async fn kid_injection_is_only_a_lookup_key_and_never_storms_the_jwks() {
    let s = start(false).await;
    let attacker = Issuer::new(s.app.a.url.clone(), "x");
    let claims = s.app.a.claims("mallory", AUD).to_string();
    let before = s.app.jwks_hits.load(Ordering::SeqCst);
    let huge = "k".repeat(64 * 1024);
    let kids = [
        json!("../../../../etc/passwd"),
        json!("/dev/null"),
        json!("' OR '1'='1"),
        json!("shared' --"),
        json!("shared\u{0000}"),
        json!("shared\n"),
        json!("%2e%2e%2fkeys"),
        json!("http://evil.example/jwks.json"),
        json!(""),
        json!(null),
        json!(1),
        json!(["shared"]),
        json!(huge),
    ];
    for kid in &kids {
        for signer in [&attacker, &*s.app.a] {
            let token = signer.sign_raw(&json!({"alg": "ES256", "kid": kid}).to_string(), &claims);
            let res = s
                .http
                .try_send(
                    s.http
                        .req(Method::GET, "/me")
                        .header(AUTHORIZATION, format!("Bearer {token}")),
                )
                .await;
            let Ok(res) = res else { continue };
            // A's signature verifies under A's exact kid, or with no kid (`null` is absent:
            // the issuer's keys are tried); any other kid is 401, and an attacker's
            // signature is 401 whatever the kid.
            if std::ptr::eq(signer, &*s.app.a) && (kid == &json!("shared") || kid.is_null()) {
                assert_eq!(res.status(), StatusCode::OK, "{kid}");
                continue;
            }
            assert!(
                res.status() == StatusCode::UNAUTHORIZED
                    || res.status() == StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "{kid}: {}",
                res.status()
            );
        }
    }
    // 50 distinct unknown kids: the JWKS is re-fetched at most a handful of times
    // (cool-down + single-flight), not once per token.
    for i in 0..50 {
        let token = attacker.sign_raw(
            &json!({"alg": "ES256", "kid": format!("unknown-{i}")}).to_string(),
            &claims,
        );
        refused(&s, &token, "unknown kid").await;
    }
    let fetches = s.app.jwks_hits.load(Ordering::SeqCst) - before;
    assert!(fetches <= 3, "unknown kids caused {fetches} JWKS fetches");
}

#[tokio::test]
async fn jku_x5u_jwk_and_x5c_header_keys_are_never_used_or_followed() {
    let s = start(false).await;
    let attacker = Issuer::new(s.app.a.url.clone(), "evil");
    let claims = s.app.a.claims("mallory", AUD).to_string();
    let evil_url = format!("http://{}/evil/jwks.json", s.addr);
    let headers = [
        json!({"alg": "ES256", "kid": "evil", "jku": evil_url}),
        json!({"alg": "ES256", "kid": "shared", "jku": evil_url}),
        json!({"alg": "ES256", "x5u": evil_url}),
        json!({"alg": "ES256", "kid": "evil", "jwk": attacker.jwk()}),
        json!({"alg": "ES256", "jwk": attacker.jwk()}),
        json!({"alg": "ES256", "kid": "shared", "jwk": attacker.jwk()}),
        json!({"alg": "ES256", "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]}),
    ];
    for h in &headers {
        refused(
            &s,
            &attacker.sign_raw(&h.to_string(), &claims),
            &h.to_string(),
        )
        .await;
    }
    assert_eq!(
        s.app.evil_hits.load(Ordering::SeqCst),
        0,
        "a jku/x5u URL was fetched"
    );
}

#[tokio::test]
async fn nested_jwts_are_not_unwrapped() {
    let s = start(false).await;
    let a = &s.app.a;
    // The outer token is genuinely signed by A; its payload is another JWT (an alg-none one
    // carrying admin claims, or an attacker-signed one). It must not be taken as claims.
    let inner_none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none"}"#),
        b64(a.claims("admin", AUD).to_string().as_bytes())
    );
    let inner_evil = Issuer::new(a.url.clone(), "shared").token("admin", AUD);
    for inner in [inner_none, inner_evil, a.token("admin", AUD)] {
        for cty in [json!("JWT"), json!("jwt"), json!(null)] {
            let header = json!({"alg": "ES256", "kid": a.kid, "cty": cty}).to_string();
            refused(&s, &a.sign_raw(&header, &inner), "nested").await;
            let quoted = serde_json::to_string(&inner).unwrap();
            refused(&s, &a.sign_raw(&header, &quoted), "nested as a JSON string").await;
        }
    }
}

#[tokio::test]
async fn duplicate_json_members_in_header_and_claims_are_refused() {
    let s = start(false).await;
    let a = &s.app.a;
    let url = &a.url;
    let exp = now() + 600;
    let good_claims = a.claims("alice", AUD).to_string();
    // Header: a second alg (none, HS256), a second kid.
    for header in [
        r#"{"alg":"ES256","alg":"none","kid":"shared"}"#.to_owned(),
        r#"{"alg":"none","alg":"ES256","kid":"shared"}"#.to_owned(),
        r#"{"alg":"ES256","kid":"shared","alg":"HS256"}"#.to_owned(),
        r#"{"alg":"ES256","kid":"nope","kid":"shared"}"#.to_owned(),
    ] {
        refused(&s, &a.sign_raw(&header, &good_claims), &header).await;
    }
    let header = json!({"alg": "ES256", "kid": a.kid}).to_string();
    for payload in [
        format!(r#"{{"iss":"{url}","sub":"alice","aud":"other","aud":"{AUD}","exp":{exp}}}"#),
        format!(r#"{{"iss":"{url}","sub":"alice","aud":"{AUD}","exp":1,"exp":{exp}}}"#),
        format!(r#"{{"iss":"http://evil","iss":"{url}","sub":"alice","aud":"{AUD}","exp":{exp}}}"#),
        format!(r#"{{"iss":"{url}","sub":"alice","sub":"admin","aud":"{AUD}","exp":{exp}}}"#),
        format!(
            r#"{{"iss":"{url}","sub":"alice","aud":"{AUD}","exp":{exp},"scope":"read","scope":"admin"}}"#
        ),
    ] {
        refused(&s, &a.sign_raw(&header, &payload), &payload).await;
    }
}

#[tokio::test]
async fn exp_and_nbf_as_strings_floats_huge_and_negative_numbers() {
    let s = start(false).await;
    let a = &s.app.a;
    let now = now();
    let future = now + 600;
    let mut cases: Vec<(&str, Value)> = vec![
        ("exp", json!(future.to_string())),
        ("exp", json!(format!("{future}.0"))),
        ("exp", json!(future as f64 + 0.5)),
        ("exp", json!(1.5)),
        ("exp", json!(-1)),
        ("exp", json!(i64::MIN)),
        ("exp", json!(0)),
        ("exp", json!(null)),
        ("exp", json!(true)),
        ("exp", json!([future])),
        ("exp", json!(1e300)),
        ("nbf", json!((now + 3600).to_string())),
        ("nbf", json!(u64::MAX)),
        ("nbf", json!(now as f64 + 3600.5)),
        ("nbf", json!(1e300)),
        ("nbf", json!(-1)),
        ("iat", json!(u64::MAX)),
        ("iat", json!("now")),
    ];
    // A huge exp that is a valid integer beyond any date: either refused, or accepted as the
    // issuer's choice; never a 5xx. 18446744073709551615 + leeway must not wrap around.
    let mut c = a.claims("alice", AUD);
    c["exp"] = json!(u64::MAX);
    let res = s.http.bearer("/me", &a.sign(&c)).await;
    assert!(res.status() == StatusCode::OK || res.status() == StatusCode::UNAUTHORIZED);
    // An expired token must not come back to life through an overflowing leeway either.
    c["exp"] = json!(now - 3600);
    cases.push(("exp", json!(now - 3600)));
    for (claim, value) in cases {
        let mut c = a.claims("alice", AUD);
        c[claim] = value.clone();
        let res = s.http.bearer("/me", &a.sign(&c)).await;
        assert_invalid_token(&res, &format!("{claim} = {value}"));
    }
    // A number beyond u64 written literally (serde_json reads it as a float).
    let header = json!({"alg": "ES256", "kid": a.kid}).to_string();
    let payload = format!(
        r#"{{"iss":"{}","aud":"{AUD}","sub":"x","exp":184467440737095516150000}}"#,
        a.url
    );
    refused(&s, &a.sign_raw(&header, &payload), "exp beyond u64").await;
}
