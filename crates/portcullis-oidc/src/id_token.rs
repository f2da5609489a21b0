//! ID token checks on top of the JWT validator: `nonce`, `azp`, `sub`, `at_hash`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_core::constant_time_eq;
use portcullis_jwt::{Algorithm, Claims, Validator};
use serde::Deserialize;
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::error::{OidcError, OidcErrorKind};

/// The ID token claims the JWT validator does not check.
#[derive(Deserialize)]
pub(crate) struct IdClaims {
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    at_hash: Option<String>,
    #[serde(default)]
    iat: Option<serde_json::Value>,
}

impl std::fmt::Debug for IdClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdClaims")
            .field("sub", &self.sub)
            .field("azp", &self.azp)
            .finish_non_exhaustive()
    }
}

fn invalid(detail: &'static str) -> OidcError {
    OidcError::new(OidcErrorKind::InvalidIdToken, detail)
}

/// Validates `id_token` (OIDC Core §3.1.3.7): signature, `alg`, `iss`, `aud` ∋ client ID and
/// `exp` by `validator` (whose audience is the client ID), then `sub`, `iat`, `nonce` (constant
/// time), `azp` (required and equal to the client ID when there are several audiences), and
/// `at_hash` against `access_token` when present. Returns the subject.
pub(crate) async fn validate(
    validator: &Validator,
    id_token: &str,
    client_id: &str,
    nonce: &str,
    access_token: &str,
) -> Result<String, OidcError> {
    let claims: Claims<IdClaims> = validator.validate_as(id_token).await.map_err(|e| {
        tracing::warn!(error = %e, "ID token refused");
        if e.kind() == portcullis_jwt::JwtErrorKind::KeysUnavailable {
            OidcError::new(
                OidcErrorKind::ProviderUnavailable,
                "the provider's keys are unavailable",
            )
        } else {
            invalid("the ID token did not validate")
        }
    })?;
    let sub = claims
        .sub
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("the ID token has no sub"))?;
    if claims.iat.is_none() {
        return Err(invalid("the ID token has no iat"));
    }
    let got = claims
        .nonce
        .as_deref()
        .ok_or_else(|| invalid("the ID token has no nonce"))?;
    if !constant_time_eq(got.as_bytes(), nonce.as_bytes()) {
        return Err(invalid("the ID token's nonce does not match"));
    }
    let audiences = claims.standard().audience().count();
    match claims.azp.as_deref() {
        Some(azp) if azp != client_id => {
            return Err(invalid("the ID token's azp is another client"));
        }
        None if audiences > 1 => {
            return Err(invalid("the ID token has several audiences and no azp"));
        }
        _ => {}
    }
    if let Some(at_hash) = claims.at_hash.as_deref() {
        let expected = token_hash(claims.standard().algorithm(), access_token)
            .ok_or_else(|| invalid("at_hash with an unsupported algorithm"))?;
        if !constant_time_eq(at_hash.as_bytes(), expected.as_bytes()) {
            return Err(invalid(
                "the ID token's at_hash does not match the access token",
            ));
        }
    }
    Ok(sub.to_owned())
}

/// The left half of the token's hash with the JWS algorithm's hash function, base64url
/// (OIDC Core §3.1.3.6 `at_hash`).
pub(crate) fn token_hash(alg: Algorithm, token: &str) -> Option<String> {
    let digest: Vec<u8> = match alg {
        Algorithm::RS256 | Algorithm::PS256 | Algorithm::ES256 | Algorithm::HS256 => {
            Sha256::digest(token.as_bytes()).to_vec()
        }
        Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 | Algorithm::HS384 => {
            Sha384::digest(token.as_bytes()).to_vec()
        }
        Algorithm::RS512 | Algorithm::PS512 | Algorithm::HS512 | Algorithm::EdDSA => {
            Sha512::digest(token.as_bytes()).to_vec()
        }
        _ => return None,
    };
    let half = digest.get(..digest.len() / 2)?;
    Some(URL_SAFE_NO_PAD.encode(half))
}
