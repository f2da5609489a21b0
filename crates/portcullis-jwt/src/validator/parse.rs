//! Strict parsing of the compact JWS parts, before and after signature verification.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::Value;

use crate::claims::StandardInner;
use crate::error::{JwtError, JwtErrorKind};
use crate::jwks::algorithm_from_name;

const MALFORMED: JwtError = JwtError::new(JwtErrorKind::Malformed, "the token is malformed");

/// The three parts of a compact JWS.
#[derive(Debug)]
pub(crate) struct Parts<'a> {
    pub(crate) header: &'a str,
    pub(crate) payload: &'a str,
    pub(crate) signature: &'a str,
    /// `header.payload`, the signing input.
    pub(crate) message: &'a str,
}

fn is_b64url(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub(crate) fn split(token: &str) -> Result<Parts<'_>, JwtError> {
    let mut it = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return Err(MALFORMED);
    };
    if !is_b64url(header) || !is_b64url(payload) || !is_b64url(signature) {
        return Err(MALFORMED);
    }
    let message = token
        .get(..header.len() + 1 + payload.len())
        .ok_or(MALFORMED)?;
    Ok(Parts {
        header,
        payload,
        signature,
        message,
    })
}

pub(crate) fn b64_decode(part: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD.decode(part).map_err(|_| MALFORMED)
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
    crit: Option<Value>,
    // `jku`, `x5u`, `jwk`, `x5c` are deliberately not read: they are never followed.
}

/// The header fields this crate acts on.
#[derive(Debug)]
pub(crate) struct Header {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
    pub(crate) typ: Option<String>,
}

pub(crate) fn header(part: &str, understood_crit: &[String]) -> Result<Header, JwtError> {
    let raw: RawHeader = serde_json::from_slice(&b64_decode(part)?).map_err(|_| MALFORMED)?;
    let alg = algorithm_from_name(&raw.alg).ok_or(JwtError::new(
        JwtErrorKind::AlgorithmNotAllowed,
        "the token's algorithm is not allowed",
    ))?;
    if let Some(crit) = raw.crit {
        const BAD_CRIT: JwtError = JwtError::new(
            JwtErrorKind::UnsupportedCritical,
            "the token names a critical header extension that is not supported",
        );
        let Value::Array(names) = crit else {
            return Err(BAD_CRIT);
        };
        if names.is_empty() {
            return Err(BAD_CRIT);
        }
        for name in names {
            let Value::String(name) = name else {
                return Err(BAD_CRIT);
            };
            if !understood_crit.contains(&name) {
                return Err(BAD_CRIT);
            }
        }
    }
    Ok(Header {
        alg,
        kid: raw.kid,
        typ: raw.typ,
    })
}

#[derive(Deserialize)]
struct IssOnly {
    iss: Option<Value>,
}

/// The unverified `iss`, only to choose the issuer's keys.
pub(crate) fn unverified_issuer(payload: &[u8]) -> Result<String, JwtError> {
    let raw: IssOnly = serde_json::from_slice(payload).map_err(|_| MALFORMED)?;
    match raw.iss {
        Some(Value::String(iss)) => Ok(iss),
        Some(_) => Err(JwtError::new(
            JwtErrorKind::InvalidClaim,
            "the iss claim is not a string",
        )),
        None => Err(JwtError::new(
            JwtErrorKind::MissingClaim,
            "the token has no iss claim",
        )),
    }
}

#[derive(Deserialize)]
struct RawClaims {
    iss: Option<Value>,
    sub: Option<Value>,
    aud: Option<Value>,
    exp: Option<Value>,
    nbf: Option<Value>,
    iat: Option<Value>,
    jti: Option<Value>,
    sid: Option<Value>,
    client_id: Option<Value>,
    azp: Option<Value>,
    scope: Option<Value>,
    scp: Option<Value>,
    roles: Option<Value>,
}

fn invalid(description: &'static str) -> JwtError {
    JwtError::new(JwtErrorKind::InvalidClaim, description)
}

fn string(value: Option<Value>, what: &'static str) -> Result<Option<Box<str>>, JwtError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.into_boxed_str())),
        Some(_) => Err(invalid(what)),
    }
}

/// A NumericDate: a non-negative JSON integer. Strings and fractions are refused.
fn numeric_date(value: Option<Value>, what: &'static str) -> Result<Option<u64>, JwtError> {
    match value {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| invalid(what)),
        Some(_) => Err(invalid(what)),
    }
}

/// A list given as an array of strings or as one space-separated string.
fn list(value: Option<Value>, what: &'static str) -> Result<Vec<Box<str>>, JwtError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s.split_ascii_whitespace().map(Box::from).collect()),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.into_boxed_str()),
                _ => Err(invalid(what)),
            })
            .collect(),
        Some(_) => Err(invalid(what)),
    }
}

fn audience(value: Option<Value>) -> Result<Vec<Box<str>>, JwtError> {
    const BAD: &str = "the aud claim is not a string or an array of strings";
    match value {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.into_boxed_str()]),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.into_boxed_str()),
                _ => Err(invalid(BAD)),
            })
            .collect(),
        Some(_) => Err(invalid(BAD)),
    }
}

/// Parses the verified payload strictly. Duplicate members of the claims read here are
/// refused (by serde), so no two parsers can disagree on them.
pub(crate) fn claims(payload: &[u8], header: &Header) -> Result<StandardInner, JwtError> {
    let raw: RawClaims = serde_json::from_slice(payload).map_err(|_| MALFORMED)?;
    let issuer = string(raw.iss, "the iss claim is not a string")?.ok_or(JwtError::new(
        JwtErrorKind::MissingClaim,
        "the token has no iss claim",
    ))?;
    let expires_at = numeric_date(raw.exp, "the exp claim is not an integer NumericDate")?.ok_or(
        JwtError::new(JwtErrorKind::MissingClaim, "the token has no exp claim"),
    )?;
    let mut scopes = list(raw.scope, "the scope claim is not a string")?;
    scopes.extend(list(raw.scp, "the scp claim is not a list of strings")?);
    Ok(StandardInner {
        issuer,
        subject: string(raw.sub, "the sub claim is not a string")?,
        audience: audience(raw.aud)?.into_boxed_slice(),
        expires_at,
        not_before: numeric_date(raw.nbf, "the nbf claim is not an integer NumericDate")?,
        issued_at: numeric_date(raw.iat, "the iat claim is not an integer NumericDate")?,
        jwt_id: string(raw.jti, "the jti claim is not a string")?,
        session_id: string(raw.sid, "the sid claim is not a string")?,
        client_id: match string(raw.client_id, "the client_id claim is not a string")? {
            Some(c) => Some(c),
            None => string(raw.azp, "the azp claim is not a string")?,
        },
        scopes: scopes.into_boxed_slice(),
        roles: list(raw.roles, "the roles claim is not a list of strings")?.into_boxed_slice(),
        key_id: header.kid.as_deref().map(Box::from),
        algorithm: header.alg,
    })
}
