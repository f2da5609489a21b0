#![allow(clippy::unwrap_used)]
use super::*;
use crate::{Rejection, RejectionKind};
use std::time::Duration;

fn respond(
    mapping: &DefaultRejectionResponse,
    req: &Request<()>,
    r: Rejection,
) -> Response<String> {
    mapping.response(&RejectionContext::from_request(req), r)
}

fn get(accept: Option<&str>) -> Request<()> {
    let mut b = Request::get("/account?tab=1");
    if let Some(a) = accept {
        b = b.header(header::ACCEPT, a);
    }
    b.body(()).unwrap()
}

#[test]
fn missing_credentials_is_a_bare_challenge() {
    let m = DefaultRejectionResponse::new();
    let res = respond(&m, &get(None), Rejection::missing_credentials());
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()[header::WWW_AUTHENTICATE], "Bearer");
    let m = m.with_realm("example");
    let res = respond(&m, &get(None), Rejection::missing_credentials());
    assert_eq!(
        res.headers()[header::WWW_AUTHENTICATE],
        r#"Bearer realm="example""#
    );
}

#[test]
fn invalid_token_challenge_never_breaks_the_quoted_string() {
    let m = DefaultRejectionResponse::new();
    let res = respond(&m, &get(None), Rejection::invalid_token("bad \"sig\"\n\\x"));
    assert_eq!(
        res.headers()[header::WWW_AUTHENTICATE],
        r#"Bearer error="invalid_token", error_description="bad 'sig' 'x""#
    );
}

#[test]
fn insufficient_scope_is_403_with_scope() {
    let m = DefaultRejectionResponse::new().with_realm("api");
    let res = respond(&m, &get(None), Rejection::insufficient_scope("read write"));
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        res.headers()[header::WWW_AUTHENTICATE],
        r#"Bearer realm="api", error="insufficient_scope", error_description="the access token does not grant the required scope", scope="read write""#
    );
}

#[test]
fn invalid_request_is_400() {
    let m = DefaultRejectionResponse::new();
    let res = respond(
        &m,
        &get(None),
        Rejection::invalid_request("more than one Authorization header"),
    );
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        res.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("invalid_request")
    );
}

#[test]
fn unavailable_is_503_with_retry_after_and_no_challenge() {
    let m = DefaultRejectionResponse::new();
    let res = respond(
        &m,
        &get(None),
        Rejection::unavailable("keys unavailable", Duration::from_millis(300)),
    );
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()[header::RETRY_AFTER], "1");
    assert!(!res.headers().contains_key(header::WWW_AUTHENTICATE));
}

#[test]
fn grpc_requests_get_trailers_only_status() {
    let m = DefaultRejectionResponse::new().with_login_redirect("/login");
    let req = Request::post("/pkg.Svc/Call")
        .header(header::CONTENT_TYPE, "application/grpc")
        .body(())
        .unwrap();
    let res = respond(&m, &req, Rejection::missing_credentials());
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["grpc-status"], "16");
    assert_eq!(res.headers()["grpc-message"], "no credentials");
    let res = respond(&m, &req, Rejection::insufficient_scope("admin"));
    assert_eq!(res.headers()["grpc-status"], "7");
    let res = respond(&m, &req, Rejection::invalid_token("100% bad\u{e9}"));
    assert_eq!(res.headers()["grpc-message"], "100%25 bad%C3%A9");
}

#[test]
fn browser_pages_are_redirected_to_login_when_configured() {
    let plain = DefaultRejectionResponse::new();
    let res = respond(
        &plain,
        &get(Some("text/html")),
        Rejection::session_invalid("expired"),
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let m = DefaultRejectionResponse::new()
        .with_login_redirect("/login")
        .with_return_to_param("return_to");
    let res = respond(
        &m,
        &get(Some("text/html,application/xhtml+xml")),
        Rejection::session_invalid("expired"),
    );
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()[header::LOCATION],
        "/login?return_to=/account%3Ftab%3D1"
    );
    // API clients and forbidden requests are not redirected.
    let res = respond(
        &m,
        &get(Some("application/json")),
        Rejection::session_invalid("expired"),
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = respond(
        &m,
        &get(Some("text/html")),
        Rejection::insufficient_scope("x"),
    );
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let post = Request::post("/x")
        .header(header::ACCEPT, "text/html")
        .body(())
        .unwrap();
    assert_eq!(
        respond(&m, &post, Rejection::missing_credentials()).status(),
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn closures_are_mappings() {
    let custom = |_: &RejectionContext<'_>, r: Rejection| {
        let mut res = Response::new(format!("{{\"error\":\"{}\"}}", r.kind()));
        *res.status_mut() = r.status();
        res
    };
    let req = get(None);
    let res: Response<String> = custom.response(
        &RejectionContext::from_request(&req),
        Rejection::token_expired(),
    );
    assert_eq!(res.body(), "{\"error\":\"token_expired\"}");
    assert_eq!(
        Rejection::token_expired().kind(),
        RejectionKind::TokenExpired
    );
}
