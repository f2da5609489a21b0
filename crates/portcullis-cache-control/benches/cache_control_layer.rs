//! `CacheControlLayer` against a pass-through service.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http::header::{COOKIE, VARY};
use http::{Request, Response};
use portcullis_cache_control::{CacheControlLayer, Sensitive};
use tower::{Service, ServiceExt, service_fn};
use tower_layer::Layer;

fn run<S>(rt: &tokio::runtime::Runtime, svc: &S)
where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible> + Clone,
{
    let req = Request::get("/me")
        .header(COOKIE, "__Host-session=abc")
        .body(())
        .unwrap();
    black_box(rt.block_on(svc.clone().oneshot(req)).unwrap());
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("cache_control_layer");
    let bare = service_fn(|_req: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    group.bench_function("pass_through", |b| b.iter(|| run(&rt, &bare)));

    let default = CacheControlLayer::new().layer(bare);
    group.bench_function("layer_default", |b| b.iter(|| run(&rt, &default)));

    let credentialed = CacheControlLayer::new()
        .with_sensitive(Sensitive::credentialed())
        .layer(bare);
    group.bench_function("layer_credentialed", |b| b.iter(|| run(&rt, &credentialed)));

    let with_vary = CacheControlLayer::new().layer(service_fn(|_req: Request<()>| async {
        let mut res = Response::new(());
        res.headers_mut()
            .insert(VARY, "Accept-Encoding".parse().unwrap());
        Ok::<_, Infallible>(res)
    }));
    group.bench_function("layer_merging_existing_vary", |b| {
        b.iter(|| run(&rt, &with_vary))
    });
    group.finish();
}

criterion_group!(cache_control_benches, benches);
criterion_main!(cache_control_benches);
