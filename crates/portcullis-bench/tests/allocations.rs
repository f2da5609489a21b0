//! Heap allocations per request that the whole stack adds on its warm paths, counted by
//! dhat's global allocator against the bare handler given the same requests.
//!
//! What remains, and why each is there (a new allocation, or one fewer, fails this test):
//!
//! * the `Cookies` jar (`Arc`): shared by the request's extensions and the response future,
//!   which writes its `Set-Cookie` changes;
//! * the `Session` handle (`Arc`): shared by the handler and the response future (login,
//!   logout and `Clear-Site-Data` happen through it);
//! * one box per request extension, the public types the app extracts: `Cookies`,
//!   `Session`, `AccessToken`, `ClientIp`, `Claims<T>` and `StandardClaims` (six);
//! * one growth of the request's extension map (`http::Extensions`, a `HashMap` that starts
//!   at three entries) as those six arrive.
//!
//! Not among them: no copy of the session record, its tokens, the access token, the bearer
//! header or the User-Agent; no boxed future; no parsed-cookie list; no timer.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use http::header;
use portcullis_bench::{hello, jwks, keys, logged_in, request, run, runtime, stack};
use tower::{Layer, Service, service_fn};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Two `Arc`s, six extension boxes and one growth of the extension map.
const EXPECTED: u64 = 9;

/// Heap blocks allocated per call of `svc` with `header`, over 200 calls after a warm-up.
fn blocks_per_request<S>(
    rt: &tokio::runtime::Runtime,
    svc: &mut S,
    header: (&str, &str),
    status: u16,
) -> u64
where
    S: Service<http::Request<String>, Response = http::Response<String>>,
    S::Error: std::fmt::Debug,
{
    let call = |svc: &mut S| {
        let req = request(Some(header));
        run(rt, std::future::poll_fn(|cx| svc.poll_ready(cx))).unwrap();
        let res = run(rt, svc.call(req)).unwrap();
        assert_eq!(res.status(), status);
    };
    for _ in 0..20 {
        call(svc);
    }
    let before = dhat::HeapStats::get().total_blocks;
    for _ in 0..200 {
        call(svc);
    }
    (dhat::HeapStats::get().total_blocks - before) / 200
}

#[test]
fn warm_paths_allocate_only_what_is_listed() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let rt = runtime();
    let _guard = rt.enter();
    let keys = keys();
    let warm = stack(&rt, &jwks(&keys), false);
    let (cookie, bearer) = logged_in(&rt, &warm, &keys[0]);
    let mut stacked = warm.layer(service_fn(hello));
    let mut bare = service_fn(hello);
    for (name, header) in [
        ("session cookie", (header::COOKIE.as_str(), cookie.as_str())),
        (
            "bearer token",
            (header::AUTHORIZATION.as_str(), bearer.as_str()),
        ),
    ] {
        // The bare handler sees no validated token (401); the stack lets the request in.
        let base = blocks_per_request(&rt, &mut bare, header, 401);
        let with_stack = blocks_per_request(&rt, &mut stacked, header, 200);
        let added = with_stack - base;
        eprintln!("{name}: {base} blocks per request bare, {with_stack} with the stack (+{added})");
        // Exact: one more is a regression; one fewer means the list above is out of date.
        assert_eq!(
            added, EXPECTED,
            "{name}: the stack allocates {added} blocks per request, the list says {EXPECTED}"
        );
    }
}
