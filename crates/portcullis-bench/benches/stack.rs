//! The whole stack (`Portcullis::builder()` defaults: CacheControl → Cookies → TokenLookup →
//! Binding → Jwt) around a hello service, in-process, against the bare service:
//!
//! - `stack/pass_through/{cookie,bearer}`: the bare service given the same requests (the
//!   baselines);
//! - `stack/warm_cookie`: a valid session cookie whose access token was validated before;
//! - `stack/warm_bearer/RS256`: a bearer token validated before (cache hit);
//! - `stack/cold_bearer/{RS256,ES256,EdDSA}`: the validated-token cache off, so every request
//!   checks the signature (what the first sight of a token costs), over 256 distinct tokens.
//!
//! The JWKS comes from an in-memory `HttpClient`, so no socket is involved.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http::header;
use portcullis_bench::{hello, jwks, keys, logged_in, mint, request, run, runtime, stack};
use tower::{Layer, Service, service_fn};

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();
    let keys = keys();
    let jwks = jwks(&keys);

    // Warm: a logged-in session (its token validated once before), and a repeated bearer.
    let warm = stack(&rt, &jwks, false);
    let (cookie, bearer) = logged_in(&rt, &warm, &keys[0]);
    let mut group = c.benchmark_group("stack");
    // The baseline gets the same request (same headers, so the same copying) as the stack.
    let mut bare = service_fn(hello);
    for (name, header) in [
        (
            "pass_through/cookie",
            (header::COOKIE.as_str(), cookie.as_str()),
        ),
        (
            "pass_through/bearer",
            (header::AUTHORIZATION.as_str(), bearer.as_str()),
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let req = request(Some(header));
                run(&rt, std::future::poll_fn(|cx| bare.poll_ready(cx))).unwrap();
                run(&rt, bare.call(black_box(req))).unwrap()
            })
        });
    }
    let mut svc = warm.layer(service_fn(hello));
    for (name, header) in [
        ("warm_cookie", (header::COOKIE.as_str(), cookie.as_str())),
        (
            "warm_bearer/RS256",
            (header::AUTHORIZATION.as_str(), bearer.as_str()),
        ),
    ] {
        let res = run(&rt, svc.call(request(Some(header)))).unwrap();
        assert_eq!(res.status(), 200, "{name}: the stack refused the request");
        group.bench_function(name, |b| {
            b.iter(|| {
                let req = request(Some(header));
                run(&rt, std::future::poll_fn(|cx| svc.poll_ready(cx))).unwrap();
                let res = run(&rt, svc.call(black_box(req))).unwrap();
                debug_assert_eq!(res.status(), 200);
                res
            })
        });
    }

    // Cold: every request checks the signature, of one of 256 distinct tokens in turn (as
    // under load: ECDSA verification time depends on the signature, so one repeated token
    // would measure a single case).
    let cold = stack(&rt, &jwks, true);
    let mut svc = cold.layer(service_fn(hello));
    for key in &keys {
        let bearers: Vec<String> = (1..=256)
            .map(|n| format!("Bearer {}", mint(key, n)))
            .collect();
        for bearer in &bearers {
            let header = (header::AUTHORIZATION.as_str(), bearer.as_str());
            let res = run(&rt, svc.call(request(Some(header)))).unwrap();
            assert_eq!(
                res.status(),
                200,
                "cold {:?}: the stack refused the request",
                key.alg
            );
        }
        let mut next = bearers.iter().cycle();
        group.bench_function(format!("cold_bearer/{:?}", key.alg), |b| {
            b.iter(|| {
                let bearer = next.next().unwrap();
                let req = request(Some((header::AUTHORIZATION.as_str(), bearer.as_str())));
                run(&rt, std::future::poll_fn(|cx| svc.poll_ready(cx))).unwrap();
                run(&rt, svc.call(black_box(req))).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
