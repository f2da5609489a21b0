//! Overhead of `BindingLayer`: alone, inside the session stack, and its parts.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::convert::Infallible;
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, Request, Response, header};
use portcullis_cookie::CookieLayer;
use portcullis_core::{BindingPolicy, ClientBinding, ClientIpResolver, PeerAddr};
use portcullis_session::store::MemoryStore;
use portcullis_session::{BindingLayer, SessionConfig, Timestamp, TokenLookupLayer, TokenSet};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use tower_layer::Layer;

const SESSIONS: usize = 1_000;
const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";
const PEER: &str = "198.51.100.20:50123";

fn request(cookie: Option<&str>) -> Request<()> {
    let mut req = Request::get("/").body(()).unwrap();
    req.extensions_mut()
        .insert(PeerAddr(PEER.parse::<SocketAddr>().unwrap()));
    req.headers_mut()
        .insert(header::USER_AGENT, UA.parse().unwrap());
    if let Some(cookie) = cookie {
        req.headers_mut()
            .insert(header::COOKIE, cookie.parse().unwrap());
    }
    req
}

fn noop()
-> impl Service<Request<()>, Response = Response<()>, Error = Infallible, Future: Send> + Clone {
    service_fn(|req: Request<()>| async move {
        black_box(&req);
        Ok::<_, Infallible>(Response::new(()))
    })
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("binding");

    // The layer alone, on a request without a session (a bearer-token call).
    let bare = noop();
    group.bench_function("alone/pass_through", |b| {
        b.iter(|| rt.block_on(bare.clone().oneshot(request(None))).unwrap())
    });
    let layered = BindingLayer::new().layer(noop());
    group.bench_function("alone/binding_no_session", |b| {
        b.iter(|| rt.block_on(layered.clone().oneshot(request(None))).unwrap())
    });

    // Inside the session stack, on a logged-in session from the bound client.
    let store = Arc::new(MemoryStore::new());
    let manager = SessionConfig::new(store).build().unwrap();
    let bound = ClientBinding {
        ip: Some(PEER.parse::<SocketAddr>().unwrap().ip()),
        user_agent: Some(UA.to_owned()),
    };
    let cookies: Vec<String> = rt.block_on(async {
        let mut cookies = Vec::with_capacity(SESSIONS);
        for i in 0..SESSIONS {
            let tokens = TokenSet::new("a".repeat(900))
                .with_access_expires_at(Timestamp::now().saturating_add(Duration::from_secs(3600)));
            let (id, _) = manager
                .create_session(&format!("user-{i}"), &tokens, Some(&bound))
                .await
                .unwrap();
            cookies.push(format!("__Host-session={}", id.as_str()));
        }
        cookies
    });
    let without = ServiceBuilder::new()
        .layer(CookieLayer::new())
        .layer(TokenLookupLayer::new(manager.clone()))
        .service(noop());
    let with = ServiceBuilder::new()
        .layer(CookieLayer::new())
        .layer(TokenLookupLayer::new(manager))
        .layer(BindingLayer::new())
        .service(noop());
    let mut i = 0usize;
    group.bench_function("stack/without_binding", |b| {
        b.iter(|| {
            i = (i + 7) % SESSIONS;
            let res = rt
                .block_on(without.clone().oneshot(request(Some(&cookies[i]))))
                .unwrap();
            assert!(res.status().is_success());
        })
    });
    let mut i = 0usize;
    group.bench_function("stack/with_binding", |b| {
        b.iter(|| {
            i = (i + 7) % SESSIONS;
            let res = rt
                .block_on(with.clone().oneshot(request(Some(&cookies[i]))))
                .unwrap();
            assert!(res.status().is_success());
        })
    });

    // The parts: resolving through two trusted proxies, and the policy check.
    let resolver = ClientIpResolver::new()
        .with_trusted_proxies(["10.0.0.0/8", "fd00::/8"])
        .unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-forwarded-for",
        "6.6.6.6, 198.51.100.20, 10.1.0.1".parse().unwrap(),
    );
    let peer = Some("10.2.0.1".parse().unwrap());
    group.bench_function("parts/resolve_xff_two_proxies", |b| {
        b.iter(|| black_box(resolver.resolve(black_box(peer), black_box(&headers))))
    });
    let policy = BindingPolicy::new();
    let mut ua = HeaderMap::new();
    ua.insert(header::USER_AGENT, UA.parse().unwrap());
    group.bench_function("parts/capture_and_check", |b| {
        b.iter(|| {
            let current = ClientBinding::from_parts(bound.ip, black_box(&ua));
            black_box(policy.check(&bound, &current)).unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
