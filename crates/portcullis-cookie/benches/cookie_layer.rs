//! `CookieLayer` against a pass-through service.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http::header::COOKIE;
use http::{Request, Response};
use portcullis_cookie::{Cookie, CookieKeys, CookieLayer, Cookies, Key};
use tower::{Service, ServiceExt, service_fn};
use tower_layer::Layer;

const FIVE_COOKIES: &str = "__Host-session=4mJ3kq0bXw9yR2vT8uLp1A; theme=dark; lang=en-GB; _ga=GA1.2.1234567890.1700000000; consent=yes";

fn request() -> Request<()> {
    Request::get("/")
        .header(COOKIE, FIVE_COOKIES)
        .body(())
        .unwrap()
}

fn run<S>(rt: &tokio::runtime::Runtime, svc: &S)
where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible> + Clone,
{
    let res = rt.block_on(svc.clone().oneshot(request())).unwrap();
    black_box(res);
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("cookie_layer");

    let bare = service_fn(|req: Request<()>| async move {
        black_box(&req);
        Ok::<_, Infallible>(Response::new(()))
    });
    group.bench_function("pass_through", |b| b.iter(|| run(&rt, &bare)));

    let untouched = CookieLayer::new().layer(bare);
    group.bench_function("layer_cookies_not_read", |b| {
        b.iter(|| run(&rt, &untouched))
    });

    let read = CookieLayer::new().layer(service_fn(|req: Request<()>| async move {
        let cookies = req.extensions().get::<Cookies>().unwrap();
        black_box(cookies.get("__Host-session"));
        Ok::<_, Infallible>(Response::new(()))
    }));
    group.bench_function("layer_read_session_cookie", |b| b.iter(|| run(&rt, &read)));

    let write = CookieLayer::new().layer(service_fn(|req: Request<()>| async move {
        let cookies = req.extensions().get::<Cookies>().unwrap();
        cookies
            .add(Cookie::new("__Host-session", "R2vT8uLp1A4mJ3kq0bXw9y"))
            .unwrap();
        Ok::<_, Infallible>(Response::new(()))
    }));
    group.bench_function("layer_set_cookie", |b| b.iter(|| run(&rt, &write)));

    let keyed = CookieLayer::new().with_keys(CookieKeys::new(Key::generate()));
    let private = keyed
        .clone()
        .layer(service_fn(|req: Request<()>| async move {
            let cookies = req.extensions().get::<Cookies>().unwrap();
            black_box(cookies.private().unwrap().get("p"));
            Ok::<_, Infallible>(Response::new(()))
        }));
    group.bench_function("layer_read_private_cookie_miss", |b| {
        b.iter(|| run(&rt, &private))
    });
    group.finish();
}

criterion_group!(cookie_benches, benches);
criterion_main!(cookie_benches);
