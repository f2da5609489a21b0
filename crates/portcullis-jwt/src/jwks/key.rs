//! JWK parsing: only public signature keys of the supported types survive.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;

/// The type of a verification key (and, for EC/OKP, its curve).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyType {
    /// RSA (RS256/384/512, PS256/384/512).
    Rsa,
    /// EC P-256 (ES256).
    EcP256,
    /// EC P-384 (ES384).
    EcP384,
    /// OKP Ed25519 (EdDSA).
    Ed25519,
    /// A shared HMAC secret (HS256/384/512), only when configured explicitly.
    Hmac,
}

impl KeyType {
    /// Whether a token signed with `alg` can be verified with a key of this type.
    pub fn fits(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            Self::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            Self::EcP256 => alg == ES256,
            Self::EcP384 => alg == ES384,
            Self::Ed25519 => alg == EdDSA,
            Self::Hmac => matches!(alg, HS256 | HS384 | HS512),
        }
    }
}

/// A parsed public key ready for verification.
#[derive(Clone)]
pub(crate) struct VerifyKey {
    pub(crate) kid: Option<Arc<str>>,
    pub(crate) key_type: KeyType,
    /// The JWK's `alg`, when present: the only algorithm the key may be used with.
    pub(crate) alg: Option<Algorithm>,
    /// The key material, for aws-lc's parsed keys.
    material: Material,
    /// The key parsed for aws-lc once per algorithm, at first use (for RSA this keeps the
    /// modulus and its Montgomery context instead of rebuilding them for every signature).
    parsed: [OnceLock<Option<ParsedPublicKey>>; PARSED_SLOTS],
}

#[derive(Clone)]
enum Material {
    Rsa {
        n: Box<[u8]>,
        e: Box<[u8]>,
    },
    /// An uncompressed EC point or an Ed25519 public key.
    Raw(Box<[u8]>),
}

const PARSED_SLOTS: usize = 6;

/// aws-lc's verification algorithm for `alg` (the ones jsonwebtoken's aws-lc backend uses),
/// and the slot its parsed key lives in.
fn verification(alg: Algorithm) -> Option<(&'static dyn VerificationAlgorithm, usize)> {
    use Algorithm::*;
    Some(match alg {
        RS256 => (&signature::RSA_PKCS1_2048_8192_SHA256, 0),
        RS384 => (&signature::RSA_PKCS1_2048_8192_SHA384, 1),
        RS512 => (&signature::RSA_PKCS1_2048_8192_SHA512, 2),
        PS256 => (&signature::RSA_PSS_2048_8192_SHA256, 3),
        PS384 => (&signature::RSA_PSS_2048_8192_SHA384, 4),
        PS512 => (&signature::RSA_PSS_2048_8192_SHA512, 5),
        ES256 => (&signature::ECDSA_P256_SHA256_FIXED, 0),
        ES384 => (&signature::ECDSA_P384_SHA384_FIXED, 0),
        EdDSA => (&signature::ED25519, 0),
        _ => return None,
    })
}

fn rsa_parameters(alg: Algorithm) -> Option<&'static signature::RsaParameters> {
    use Algorithm::*;
    Some(match alg {
        RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

impl VerifyKey {
    /// Whether `signature` (decoded from the token's third part) is a valid `alg` signature of
    /// `message` under this key. The caller has checked that the key fits `alg`.
    pub(crate) fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        if !self.fits(alg) {
            return false;
        }
        let Some((algorithm, slot)) = verification(alg) else {
            return false;
        };
        let Some(parsed) = self.parsed.get(slot) else {
            return false;
        };
        let parsed = parsed.get_or_init(|| match &self.material {
            Material::Rsa { n, e } => rsa_parameters(alg).and_then(|params| {
                signature::RsaPublicKeyComponents { n: &**n, e: &**e }
                    .to_parsed_public_key(params)
                    .ok()
            }),
            Material::Raw(bytes) => ParsedPublicKey::new(algorithm, bytes).ok(),
        });
        parsed
            .as_ref()
            .is_some_and(|key| key.verify_sig(message, signature).is_ok())
    }
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("key_type", &self.key_type)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl VerifyKey {
    /// Whether this key may verify a token signed with `alg`.
    pub(crate) fn fits(&self, alg: Algorithm) -> bool {
        self.key_type.fits(alg) && self.alg.is_none_or(|a| a == alg)
    }
}

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    d: Option<String>,
}

/// The document's `keys`, each left as its raw JSON text: one malformed key is skipped
/// without failing the others, and no key is first built into a `serde_json::Value` tree
/// (a hostile document costs one pass over its bytes, not an allocation per member).
#[derive(Deserialize)]
struct RawJwks<'a> {
    #[serde(borrow)]
    keys: Vec<&'a serde_json::value::RawValue>,
}

/// The usable keys of a JWKS document, by `kid` (keys without `kid` in `anonymous`).
#[derive(Debug, Default)]
pub(crate) struct ParsedKeys {
    pub(crate) by_kid: HashMap<Arc<str>, Arc<VerifyKey>>,
    pub(crate) anonymous: Vec<Arc<VerifyKey>>,
    pub(crate) skipped: usize,
}

impl ParsedKeys {
    pub(crate) fn len(&self) -> usize {
        self.by_kid.len() + self.anonymous.len()
    }
}

/// Parses a JWKS document. Keys that are not usable public signature keys are skipped
/// (and counted); a document that is not a JWKS at all is an error.
pub(crate) fn parse_jwks(body: &[u8], min_rsa_bits: usize) -> Result<ParsedKeys, &'static str> {
    let raw: RawJwks<'_> = serde_json::from_slice(body).map_err(|_| "not a JWKS document")?;
    let mut out = ParsedKeys::default();
    for value in raw.keys {
        // A key with a member given twice is malformed (serde refuses the duplicate field)
        // rather than read as whichever copy a JSON parser happens to keep.
        match serde_json::from_str::<RawJwk>(value.get())
            .map_err(|_| "malformed JWK")
            .and_then(|jwk| parse_jwk(&jwk, min_rsa_bits))
        {
            Ok(key) => {
                let key = Arc::new(key);
                match &key.kid {
                    Some(kid) => {
                        if out.by_kid.insert(kid.clone(), key.clone()).is_some() {
                            tracing::warn!(kid = %kid, "JWKS has duplicate kid; keeping the last");
                        }
                    }
                    None => out.anonymous.push(key),
                }
            }
            Err(reason) => {
                tracing::debug!(reason, "skipping JWK");
                out.skipped += 1;
            }
        }
    }
    Ok(out)
}

fn b64(value: Option<&String>) -> Result<Vec<u8>, &'static str> {
    let value = value.ok_or("JWK lacks a required member")?;
    URL_SAFE_NO_PAD
        .decode(value.as_bytes())
        .map_err(|_| "JWK member is not base64url")
}

fn parse_alg(alg: &str) -> Option<Algorithm> {
    use Algorithm::*;
    Some(match alg {
        "RS256" => RS256,
        "RS384" => RS384,
        "RS512" => RS512,
        "PS256" => PS256,
        "PS384" => PS384,
        "PS512" => PS512,
        "ES256" => ES256,
        "ES384" => ES384,
        "EdDSA" => EdDSA,
        "HS256" => HS256,
        "HS384" => HS384,
        "HS512" => HS512,
        _ => return None,
    })
}

/// Parses a token header's `alg` (only the names this crate knows).
pub(crate) fn algorithm_from_name(alg: &str) -> Option<Algorithm> {
    parse_alg(alg)
}

fn parse_jwk(jwk: &RawJwk, min_rsa_bits: usize) -> Result<VerifyKey, &'static str> {
    if jwk.d.is_some() {
        // A private key in a public JWKS is a misconfiguration of the IdP; do not use it.
        return Err("JWK contains private material");
    }
    if let Some(use_) = &jwk.use_
        && use_ != "sig"
    {
        return Err("JWK is not for signatures");
    }
    if let Some(ops) = &jwk.key_ops
        && !ops.iter().any(|op| op == "verify")
    {
        return Err("JWK key_ops does not allow verify");
    }
    let alg = match &jwk.alg {
        Some(name) => Some(parse_alg(name).ok_or("JWK alg not supported")?),
        None => None,
    };
    let (key_type, material) = match jwk.kty.as_str() {
        "RSA" => {
            let n = b64(jwk.n.as_ref())?;
            let e = b64(jwk.e.as_ref())?;
            let n_bits = n
                .iter()
                .position(|b| *b != 0)
                .map_or(0, |first| (n.len() - first) * 8);
            if n_bits < min_rsa_bits {
                return Err("RSA key too short");
            }
            if e.is_empty() || e.len() > 8 {
                return Err("RSA exponent invalid");
            }
            let material = Material::Rsa {
                n: n.into_boxed_slice(),
                e: e.into_boxed_slice(),
            };
            (KeyType::Rsa, material)
        }
        "EC" => {
            let (key_type, len) = match jwk.crv.as_deref() {
                Some("P-256") => (KeyType::EcP256, 32),
                Some("P-384") => (KeyType::EcP384, 48),
                _ => return Err("EC curve not supported"),
            };
            let x = b64(jwk.x.as_ref())?;
            let y = b64(jwk.y.as_ref())?;
            if x.len() != len || y.len() != len {
                return Err("EC coordinates have the wrong length");
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (key_type, Material::Raw(point.into_boxed_slice()))
        }
        "OKP" => {
            if jwk.crv.as_deref() != Some("Ed25519") {
                return Err("OKP curve not supported");
            }
            let x = b64(jwk.x.as_ref())?;
            if x.len() != 32 {
                return Err("Ed25519 key has the wrong length");
            }
            (KeyType::Ed25519, Material::Raw(x.into_boxed_slice()))
        }
        // Symmetric keys never come from a JWKS: HMAC needs an explicitly configured secret.
        "oct" => return Err("symmetric JWK refused"),
        _ => return Err("JWK kty not supported"),
    };
    if let Some(alg) = alg
        && !key_type.fits(alg)
    {
        return Err("JWK alg does not fit its key type");
    }
    Ok(VerifyKey {
        kid: jwk.kid.as_deref().map(Arc::from),
        key_type,
        alg,
        material,
        parsed: Default::default(),
    })
}
