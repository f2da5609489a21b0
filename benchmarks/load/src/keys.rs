//! The benchmark's keys (PEM files made by `openssl genpkey` in `benchmarks/run.sh`), the JWKS
//! both portcullis and jwt-authorizer read, and access tokens signed with them.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

/// Issuer (`iss`) of every benchmark token: the JWKS server's URL.
pub fn issuer(jwks_port: u16) -> String {
    format!("http://127.0.0.1:{jwks_port}")
}
/// The JWKS URL on the JWKS server.
pub fn jwks_uri(jwks_port: u16) -> String {
    format!("{}/jwks.json", issuer(jwks_port))
}
/// Audience (`aud`) of every benchmark token.
pub const AUDIENCE: &str = "api://bench";

/// One signing key: its algorithm, `kid` and private key.
pub struct SigningKey {
    pub alg: Algorithm,
    pub kid: &'static str,
    pub key: EncodingKey,
}

/// The algorithms measured, with their file names and kids.
pub const ALGS: &[(&str, Algorithm, &str)] = &[
    ("rs256", Algorithm::RS256, "rsa.pem"),
    ("es256", Algorithm::ES256, "ec.pem"),
    ("eddsa", Algorithm::EdDSA, "ed.pem"),
];

/// Parses an algorithm name as used on the command line (`rs256`, `es256`, `eddsa`).
pub fn alg_by_name(name: &str) -> Result<(&'static str, Algorithm, &'static str), String> {
    ALGS.iter()
        .copied()
        .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
        .ok_or_else(|| format!("unknown algorithm {name:?} (rs256, es256, eddsa)"))
}

/// Loads one key from `dir`.
pub fn load(dir: &Path, name: &str) -> Result<SigningKey, String> {
    let (kid, alg, file) = alg_by_name(name)?;
    let pem = std::fs::read(dir.join(file)).map_err(|e| format!("{}: {e}", file))?;
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
        _ => EncodingKey::from_ed_pem(&pem),
    }
    .map_err(|e| format!("{file}: {e}"))?;
    Ok(SigningKey { alg, kid, key })
}

/// The public JWKS of every key in `dir`, with `kid` and `alg` set.
pub fn jwks(dir: &Path) -> Result<JwkSet, String> {
    let mut keys = Vec::new();
    for (name, alg, _) in ALGS {
        let signing = load(dir, name)?;
        let mut jwk = Jwk::from_encoding_key(&signing.key, *alg).map_err(|e| e.to_string())?;
        jwk.common.key_id = Some(signing.kid.to_owned());
        keys.push(jwk);
    }
    Ok(JwkSet { keys })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A realistic access token (about 1 KB with RS256): registered claims plus the usual
/// profile and authorization claims. `n` makes `jti` (and so the token) unique.
pub fn mint(key: &SigningKey, jwks_port: u16, n: u64) -> Result<String, String> {
    let now = now();
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.to_owned());
    header.typ = Some("at+jwt".to_owned());
    let claims = json!({
        "iss": issuer(jwks_port),
        "sub": "248289761001",
        "aud": AUDIENCE,
        "client_id": "bench-client",
        "scope": "openid profile email orders:read orders:write",
        "iat": now,
        "nbf": now,
        "exp": now + 24 * 3600,
        "jti": format!("bench-{n:016x}-{now:x}"),
        "sid": format!("sid-{n:08x}"),
        "auth_time": now,
        "name": "Jane Benchmark",
        "email": "jane.benchmark@example.com",
        "roles": ["customer", "beta-tester"],
        "tenant": "acme-eu-west-1",
    });
    jsonwebtoken::encode(&header, &claims, &key.key).map_err(|e| e.to_string())
}
