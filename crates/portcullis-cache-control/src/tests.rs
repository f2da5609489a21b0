#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;

use http::header::{AUTHORIZATION, CACHE_CONTROL, COOKIE, PRAGMA, SET_COOKIE, VARY};
use http::{HeaderMap, Request, Response, StatusCode};
use tower::{ServiceExt, service_fn};
use tower_layer::Layer;

use crate::{CacheControlLayer, CacheDirective, Sensitive};

/// Runs a request with `req_headers` through `layer` to a handler that answers with
/// `res_headers`, and returns the response headers.
async fn run(
    layer: &CacheControlLayer,
    req_headers: &[(&str, &str)],
    res_headers: &[(&str, &str)],
) -> HeaderMap {
    let res_headers: Vec<(String, String)> = res_headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let svc = layer.layer(service_fn(move |_req: Request<()>| {
        let res_headers = res_headers.clone();
        async move {
            let mut res = Response::new(());
            for (k, v) in &res_headers {
                res.headers_mut().append(
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            Ok::<_, Infallible>(res)
        }
    }));
    let mut req = Request::get("/api/data").body(()).unwrap();
    for (k, v) in req_headers {
        req.headers_mut().append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    svc.oneshot(req).await.unwrap().headers().clone()
}

fn all(h: &HeaderMap, name: http::HeaderName) -> Vec<&str> {
    h.get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

#[tokio::test]
async fn default_marks_every_response() {
    let h = run(&CacheControlLayer::new(), &[], &[]).await;
    assert_eq!(all(&h, CACHE_CONTROL), ["no-store"]);
    assert_eq!(all(&h, PRAGMA), ["no-cache"]);
    assert_eq!(all(&h, VARY), ["Cookie, Authorization"]);
}

#[tokio::test]
async fn private_no_cache_set_cookie_and_custom_directives() {
    let layer =
        CacheControlLayer::new().with_directive(CacheDirective::private_no_cache_set_cookie());
    let h = run(&layer, &[], &[]).await;
    assert_eq!(
        all(&h, CACHE_CONTROL),
        [r#"private, no-cache="Set-Cookie, Set-Cookie2""#]
    );

    let layer = CacheControlLayer::new()
        .with_directive(CacheDirective::custom("no-cache, no-store, must-revalidate").unwrap())
        .with_pragma(false)
        .with_vary(false);
    let h = run(&layer, &[], &[]).await;
    assert_eq!(
        all(&h, CACHE_CONTROL),
        ["no-cache, no-store, must-revalidate"]
    );
    assert!(h.get(PRAGMA).is_none());
    assert!(h.get(VARY).is_none());
}

#[tokio::test]
async fn credentialed_policy() {
    let layer = CacheControlLayer::new().with_sensitive(Sensitive::credentialed());
    assert!(run(&layer, &[], &[]).await.get(CACHE_CONTROL).is_none());
    let h = run(&layer, &[("cookie", "a=1")], &[]).await;
    assert_eq!(all(&h, CACHE_CONTROL), ["no-store"]);
    let h = run(&layer, &[("authorization", "Bearer x")], &[]).await;
    assert_eq!(all(&h, CACHE_CONTROL), ["no-store"]);
    let _ = (COOKIE, AUTHORIZATION);
}

#[tokio::test]
async fn set_cookie_policy() {
    let layer = CacheControlLayer::new().with_sensitive(Sensitive::set_cookie());
    let h = run(&layer, &[("cookie", "a=1")], &[]).await;
    assert!(h.get(CACHE_CONTROL).is_none() && h.get(VARY).is_none());
    let h = run(&layer, &[], &[("set-cookie", "a=1")]).await;
    assert_eq!(all(&h, CACHE_CONTROL), ["no-store"]);
}

#[tokio::test]
async fn predicate_policy_sees_request_and_response() {
    let layer = CacheControlLayer::new().with_sensitive(Sensitive::when(|info| {
        info.uri.path().starts_with("/api/")
            && info.status == StatusCode::OK
            && !info.request_had_credentials
    }));
    assert_eq!(
        all(&run(&layer, &[], &[]).await, CACHE_CONTROL),
        ["no-store"]
    );
    assert!(
        run(&layer, &[("cookie", "a=1")], &[])
            .await
            .get(CACHE_CONTROL)
            .is_none()
    );
    // Set-Cookie overrides a predicate that says "not sensitive".
    let never = CacheControlLayer::new().with_sensitive(Sensitive::when(|_| false));
    assert!(run(&never, &[], &[]).await.get(CACHE_CONTROL).is_none());
    let h = run(&never, &[], &[("set-cookie", "s=1")]).await;
    assert_eq!(all(&h, CACHE_CONTROL), ["no-store"]);
}

#[tokio::test]
async fn existing_cache_control_is_kept_unless_overridden() {
    let h = run(
        &CacheControlLayer::new(),
        &[],
        &[("cache-control", "private, max-age=60")],
    )
    .await;
    assert_eq!(all(&h, CACHE_CONTROL), ["private, max-age=60"]);
    assert!(
        h.get(PRAGMA).is_none(),
        "the handler chose caching; no Pragma added"
    );
    assert_eq!(all(&h, VARY), ["Cookie, Authorization"]);

    let layer = CacheControlLayer::new().with_override(true);
    let h = run(&layer, &[], &[("cache-control", "public, max-age=600")]).await;
    assert_eq!(all(&h, CACHE_CONTROL), ["no-store"]);
    assert_eq!(all(&h, PRAGMA), ["no-cache"]);
}

#[tokio::test]
async fn set_cookie_never_leaves_with_a_shared_cacheable_directive() {
    let h = run(
        &CacheControlLayer::new(),
        &[],
        &[
            ("cache-control", "public, max-age=600"),
            ("set-cookie", "s=1"),
        ],
    )
    .await;
    assert_eq!(all(&h, CACHE_CONTROL), ["no-store"]);

    // Protective handler directives are kept.
    for kept in [
        "private",
        "no-store, max-age=0",
        r#"max-age=60, no-cache="set-cookie""#,
    ] {
        let h = run(
            &CacheControlLayer::new(),
            &[],
            &[("cache-control", kept), ("set-cookie", "s=1")],
        )
        .await;
        assert_eq!(all(&h, CACHE_CONTROL), [kept]);
    }
    // `private="x"` (qualified) and plain `no-cache` do not protect the cookie.
    for replaced in [
        r#"private="x-foo", max-age=60"#,
        "no-cache",
        r#"no-cache="x-other""#,
    ] {
        let h = run(
            &CacheControlLayer::new(),
            &[],
            &[("cache-control", replaced), ("set-cookie", "s=1")],
        )
        .await;
        assert_eq!(all(&h, CACHE_CONTROL), ["no-store"], "{replaced}");
    }
    // A custom directive that does not protect cookies falls back to no-store with Set-Cookie.
    let layer =
        CacheControlLayer::new().with_directive(CacheDirective::custom("max-age=0").unwrap());
    assert_eq!(
        all(&run(&layer, &[], &[]).await, CACHE_CONTROL),
        ["max-age=0"]
    );
    let h = run(&layer, &[], &[("set-cookie", "s=1")]).await;
    assert_eq!(all(&h, CACHE_CONTROL), ["no-store"]);
}

#[tokio::test]
async fn vary_is_merged_not_clobbered() {
    let layer = CacheControlLayer::new();
    let h = run(&layer, &[], &[("vary", "Accept-Encoding")]).await;
    assert_eq!(all(&h, VARY), ["Accept-Encoding, Cookie, Authorization"]);
    let h = run(
        &layer,
        &[],
        &[("vary", "origin, cookie"), ("vary", "Accept")],
    )
    .await;
    assert_eq!(all(&h, VARY), ["origin, cookie, Accept, Authorization"]);
    let h = run(&layer, &[], &[("vary", "Cookie, Authorization")]).await;
    assert_eq!(all(&h, VARY), ["Cookie, Authorization"]);
    let h = run(&layer, &[], &[("vary", "*")]).await;
    assert_eq!(all(&h, VARY), ["*"]);
}

#[tokio::test]
async fn existing_pragma_is_kept() {
    let h = run(&CacheControlLayer::new(), &[], &[("pragma", "x-custom")]).await;
    assert_eq!(all(&h, PRAGMA), ["x-custom"]);
    let _ = SET_COOKIE;
}
