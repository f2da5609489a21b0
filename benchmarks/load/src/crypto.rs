//! `portcullis-load verify`: the signature check alone, per algorithm and library, on the
//! benchmark's own keys and 1,000 distinct tokens. It tells how much of a cold-path difference between
//! portcullis (aws-lc-rs, keys parsed once) and jwt-authorizer (ring, through jsonwebtoken 9)
//! is the crypto library's.

use std::path::Path;
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};

use crate::keys;

/// The public key of `jwk` as the libraries take it: RSA `(n, e)`, or the raw EC point /
/// Ed25519 key.
enum Public {
    Rsa(Vec<u8>, Vec<u8>),
    Raw(Vec<u8>),
}

fn b64(s: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD.decode(s).map_err(|e| e.to_string())
}

fn public(jwk: &Jwk) -> Result<Public, String> {
    Ok(match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => Public::Rsa(b64(&rsa.n)?, b64(&rsa.e)?),
        AlgorithmParameters::EllipticCurve(ec) => {
            let mut point = vec![4];
            point.extend(b64(&ec.x)?);
            point.extend(b64(&ec.y)?);
            Public::Raw(point)
        }
        AlgorithmParameters::OctetKeyPair(okp) => Public::Raw(b64(&okp.x)?),
        _ => return Err("unexpected key type".into()),
    })
}

/// Median over 7 batches of `n` calls, in µs per call. Each call gets the next of the
/// distinct tokens (signatures differ, as on the cold path under load).
fn time(n: u32, signed: &[(Vec<u8>, Vec<u8>)], mut f: impl FnMut(&[u8], &[u8]) -> bool) -> Result<f64, String> {
    let mut batches = Vec::new();
    let mut next = signed.iter().cycle();
    for _ in 0..7 {
        let start = Instant::now();
        for _ in 0..n {
            let (message, signature) = next.next().ok_or("no tokens")?;
            if !f(message, signature) {
                return Err("a signature did not verify".into());
            }
        }
        batches.push(start.elapsed().as_secs_f64() * 1e6 / f64::from(n));
    }
    batches.sort_by(f64::total_cmp);
    Ok(batches[3])
}

pub fn run(dir: &Path, n: u32) -> Result<(), String> {
    println!("| algorithm | ring 0.17 (per call) | aws-lc-rs, key parsed per call | aws-lc-rs, key parsed once |");
    println!("|---|---:|---:|---:|");
    for (name, _, _) in keys::ALGS {
        let key = keys::load(dir, name)?;
        let mut signed = Vec::new();
        for i in 0..1_000 {
            let token = keys::mint(&key, 1, i)?;
            let (message, signature) = token.rsplit_once('.').ok_or("token without a signature")?;
            signed.push((message.as_bytes().to_vec(), b64(signature)?));
        }
        let signed = &signed;
        let jwk = Jwk::from_encoding_key(&key.key, key.alg).map_err(|e| e.to_string())?;
        let public = public(&jwk)?;
        let (ring_us, unparsed_us, parsed_us) = match (&public, *name) {
            (Public::Rsa(n_, e), _) => {
                use aws_lc_rs::signature as lc;
                use ring::signature as rg;
                let parsed = lc::RsaPublicKeyComponents { n: n_, e }
                    .to_parsed_public_key(&lc::RSA_PKCS1_2048_8192_SHA256)
                    .map_err(|e| e.to_string())?;
                (
                    time(n, signed, |message, signature| {
                        rg::RsaPublicKeyComponents { n: n_, e }
                            .verify(&rg::RSA_PKCS1_2048_8192_SHA256, message, signature)
                            .is_ok()
                    })?,
                    time(n, signed, |message, signature| {
                        lc::RsaPublicKeyComponents { n: n_, e }
                            .verify(&lc::RSA_PKCS1_2048_8192_SHA256, message, signature)
                            .is_ok()
                    })?,
                    time(n, signed, |message, signature| parsed.verify_sig(message, signature).is_ok())?,
                )
            }
            (Public::Raw(bytes), name) => {
                use aws_lc_rs::signature as lc;
                use ring::signature as rg;
                let (ring_alg, lc_alg): (
                    &'static dyn rg::VerificationAlgorithm,
                    &'static dyn lc::VerificationAlgorithm,
                ) = if name == "es256" {
                    (&rg::ECDSA_P256_SHA256_FIXED, &lc::ECDSA_P256_SHA256_FIXED)
                } else {
                    (&rg::ED25519, &lc::ED25519)
                };
                let parsed = lc::ParsedPublicKey::new(lc_alg, bytes).map_err(|e| e.to_string())?;
                (
                    time(n, signed, |message, signature| {
                        rg::UnparsedPublicKey::new(ring_alg, bytes)
                            .verify(message, signature)
                            .is_ok()
                    })?,
                    time(n, signed, |message, signature| {
                        lc::UnparsedPublicKey::new(lc_alg, bytes)
                            .verify(message, signature)
                            .is_ok()
                    })?,
                    time(n, signed, |message, signature| parsed.verify_sig(message, signature).is_ok())?,
                )
            }
        };
        println!(
            "| {} | {ring_us:.1} µs | {unparsed_us:.1} µs | {parsed_us:.1} µs |",
            name.to_uppercase()
        );
    }
    Ok(())
}
