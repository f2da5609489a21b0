//! Cold validation (signature check) per algorithm vs a warm cache hit, and the
//! `JwtLayer` overhead against a pass-through service.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use common::{Idp, TestKey, claims};
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use jsonwebtoken::Algorithm;
use portcullis_jwt::{JwtLayer, Validator};
use tower::{Layer, Service, service_fn};

/// Polls a future that is expected to complete at once (cache hits, ready services).
fn poll_once<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("expected an immediate result"),
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let keys = [
        TestKey::rsa(0, "rs256", Algorithm::RS256),
        TestKey::rsa(1, "ps256", Algorithm::PS256),
        TestKey::ec("es256", Algorithm::ES256),
        TestKey::ec("es384", Algorithm::ES384),
        TestKey::ed25519("eddsa"),
    ];
    let refs: Vec<&TestKey> = keys.iter().collect();
    let (idp, cold, warm) = rt.block_on(async {
        let idp = Idp::start(&refs).await;
        let cache = idp.cache_builder().build().unwrap();
        assert!(cache.refresh_now().await);
        let cold = Validator::builder(cache.clone())
            .with_audience("api")
            .with_cache_capacity(0)
            .build()
            .unwrap();
        let warm = Validator::builder(cache)
            .with_audience("api")
            .build()
            .unwrap();
        (idp, cold, warm)
    });

    let mut group = c.benchmark_group("cold_validation");
    for key in &keys {
        let token = key.sign(&claims(&idp.issuer()));
        rt.block_on(cold.validate(&token)).unwrap();
        group.bench_function(format!("{:?}", key.alg), |b| {
            b.iter(|| rt.block_on(cold.validate(black_box(&token))).unwrap())
        });
    }
    group.finish();

    let token = keys[0].sign(&claims(&idp.issuer()));
    rt.block_on(warm.validate(&token)).unwrap();
    c.bench_function("warm_cache_hit/RS256", |b| {
        b.iter(|| poll_once(warm.validate(black_box(&token))).unwrap())
    });

    let inner = service_fn(|_req: Request<String>| {
        std::future::ready(Ok::<_, Infallible>(Response::new(String::new())))
    });
    let request = || {
        Request::get("/api")
            .header("authorization", format!("Bearer {token}"))
            .body(String::new())
            .unwrap()
    };
    let mut group = c.benchmark_group("layer");
    let mut bare = inner;
    group.bench_function("pass_through", |b| {
        b.iter(|| {
            let req = request();
            poll_once(std::future::poll_fn(|cx| bare.poll_ready(cx))).unwrap();
            poll_once(bare.call(black_box(req))).unwrap()
        })
    });
    let mut layered = JwtLayer::new(warm.clone()).layer(inner);
    let _guard = rt.enter();
    group.bench_function("jwt_layer_warm", |b| {
        b.iter(|| {
            let req = request();
            poll_once(std::future::poll_fn(|cx| layered.poll_ready(cx))).unwrap();
            let response = poll_once(layered.call(black_box(req))).unwrap();
            assert_eq!(response.status(), 200);
            response
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
