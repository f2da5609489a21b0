#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::convert::Infallible;

use cookie::time::Duration;
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderValue, Request, Response};
use tower::{Service, ServiceExt, service_fn};

use crate::{
    Cookie, CookieErrorKind, CookieKeys, CookieLayer, CookieSecurity, Cookies, Key, SameSite,
};
use tower_layer::Layer;

type Handler = fn(&Cookies) -> String;

/// Runs one request with the given `Cookie` headers through a `CookieLayer` and a handler.
async fn run(layer: &CookieLayer, cookie_headers: &[&[u8]], handler: Handler) -> Response<String> {
    let svc = layer.layer(service_fn(move |req: Request<()>| async move {
        let cookies = req.extensions().get::<Cookies>().unwrap();
        Ok::<_, Infallible>(Response::new(handler(cookies)))
    }));
    let mut req = Request::new(());
    for h in cookie_headers {
        req.headers_mut()
            .append(COOKIE, HeaderValue::from_bytes(h).unwrap());
    }
    svc.oneshot(req).await.unwrap()
}

fn set_cookies(res: &Response<String>) -> Vec<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn value(c: &Cookies, name: &str) -> String {
    c.get(name)
        .map_or_else(|| "<none>".to_owned(), |c| c.value().to_owned())
}

#[tokio::test]
async fn several_cookie_headers_are_all_read() {
    let res = run(&CookieLayer::new(), &[b"a=1", b"b=2; c=3"], |c| {
        format!("{} {} {}", value(c, "a"), value(c, "b"), value(c, "c"))
    })
    .await;
    assert_eq!(res.body(), "1 2 3");
    assert!(
        set_cookies(&res).is_empty(),
        "nothing changed, nothing written"
    );
}

#[tokio::test]
async fn quoted_empty_duplicate_and_malformed_pairs() {
    let res = run(
        &CookieLayer::new(),
        &[b"q=\"quoted\"; empty=; dup=first; dup=second; novalue; =anon; bad name=x; ;; ok=yes"],
        |c| {
            let names: Vec<String> = c
                .request_cookies()
                .iter()
                .map(|c| c.name().to_owned())
                .collect();
            format!(
                "{}|{}|{}|{}|{}",
                value(c, "q"),
                value(c, "empty"),
                value(c, "dup"),
                value(c, "ok"),
                names.join(",")
            )
        },
    )
    .await;
    assert_eq!(res.body(), "quoted||first|yes|q,empty,dup,ok");
}

#[tokio::test]
async fn non_utf8_and_control_characters_are_skipped() {
    let res = run(
        &CookieLayer::new(),
        &[b"a=\xff\xfe; b=ok; c=x\ty", b"\xc3\x28=1; d=\xe2\x82\xac"],
        |c| {
            format!(
                "{} {} {} {}",
                value(c, "a"),
                value(c, "b"),
                value(c, "c"),
                value(c, "d")
            )
        },
    )
    .await;
    // `d` holds valid UTF-8 (the euro sign) and is kept; the others are skipped.
    assert_eq!(res.body(), "<none> ok <none> \u{20ac}");
}

#[tokio::test]
async fn size_and_count_limits_bound_parsing() {
    let layer = CookieLayer::new().with_max_header_bytes(16);
    // "a=1; b=2; c=333333333" is cut at 16 bytes: the cut-off pair is dropped, not truncated.
    let res = run(&layer, &[b"a=1; b=2; c=333333333"], |c| {
        format!("{} {} {}", value(c, "a"), value(c, "b"), value(c, "c"))
    })
    .await;
    assert_eq!(res.body(), "1 2 <none>");
    let res = run(
        &layer,
        &[b"a=1; b=2", b"c=3; dddddddddddddddd=4", b"e=5"],
        |c| {
            format!(
                "{} {} {} {}",
                value(c, "a"),
                value(c, "b"),
                value(c, "c"),
                value(c, "e")
            )
        },
    )
    .await;
    assert_eq!(res.body(), "1 2 3 <none>");

    let layer = CookieLayer::new().with_max_cookies(2);
    let res = run(&layer, &[b"a=1; b=2; c=3"], |c| {
        format!("{}", c.request_cookies().len())
    })
    .await;
    assert_eq!(res.body(), "2");

    let huge = format!("big={}", "x".repeat(1 << 20));
    let res = run(&CookieLayer::new(), &[b"small=1", huge.as_bytes()], |c| {
        format!("{} {}", value(c, "small"), c.get("big").is_some())
    })
    .await;
    assert_eq!(res.body(), "1 false");
}

#[tokio::test]
async fn added_cookies_get_exact_secure_defaults() {
    let res = run(&CookieLayer::new(), &[], |c| {
        c.add(Cookie::new("__Host-session", "abc")).unwrap();
        String::new()
    })
    .await;
    assert_eq!(
        set_cookies(&res),
        ["__Host-session=abc; HttpOnly; SameSite=Lax; Secure; Path=/"]
    );

    let strict =
        CookieLayer::new().with_security(CookieSecurity::new().with_same_site(SameSite::Strict));
    let res = run(&strict, &[], |c| {
        c.add(
            Cookie::build(("pref", "1"))
                .max_age(Duration::days(30))
                .http_only(false),
        )
        .unwrap();
        String::new()
    })
    .await;
    assert_eq!(
        set_cookies(&res),
        ["pref=1; SameSite=Strict; Secure; Path=/; Max-Age=2592000"]
    );

    let dev = CookieLayer::new().with_security(CookieSecurity::new().insecure_allow_http());
    let res = run(&dev, &[], |c| {
        c.add(Cookie::new("plain", "1")).unwrap();
        c.add(Cookie::new("__Host-s", "1")).unwrap();
        String::new()
    })
    .await;
    assert_eq!(
        set_cookies(&res),
        [
            "plain=1; HttpOnly; SameSite=Lax; Path=/",
            "__Host-s=1; HttpOnly; SameSite=Lax; Secure; Path=/"
        ]
    );
}

#[tokio::test]
async fn unsafe_cookies_are_refused() {
    let res = run(&CookieLayer::new(), &[], |c| {
        let errs = [
            c.add(Cookie::new("a", "x; Domain=evil.example")),
            c.add(Cookie::new("a", "x,y")),
            c.add(Cookie::new("a", "x\r\nSet-Cookie: b=1")),
            c.add(Cookie::new("a", "two words")),
            c.add(Cookie::new("bad name", "x")),
            c.add(Cookie::build(("a", "x")).path("/; Domain=evil")),
            c.add(Cookie::build(("__Host-a", "x")).domain("example.com")),
            c.add(Cookie::build(("__Host-a", "x")).path("/app")),
            c.add(Cookie::build(("__Secure-a", "x")).secure(false)),
        ];
        errs.iter()
            .filter(|r| {
                r.as_ref()
                    .is_err_and(|e| e.kind() == CookieErrorKind::Invalid)
            })
            .count()
            .to_string()
    })
    .await;
    assert_eq!(res.body(), "9");
    assert!(set_cookies(&res).is_empty());
}

#[tokio::test]
async fn removal_sends_expired_cookie_with_same_name_path_and_domain() {
    let res = run(
        &CookieLayer::new(),
        &[b"__Host-session=abc; other=1"],
        |c| {
            c.remove(Cookie::from("__Host-session"));
            c.remove(Cookie::build("scoped").path("/app").domain("example.com"));
            format!("{}", c.get("__Host-session").is_none())
        },
    )
    .await;
    assert_eq!(res.body(), "true");
    let sc = set_cookies(&res);
    assert_eq!(sc.len(), 2);
    assert!(
        sc[0].starts_with("__Host-session=; HttpOnly; Secure; Path=/; Max-Age=0; Expires="),
        "{}",
        sc[0]
    );
    assert!(
        sc[1].starts_with(
            "scoped=; HttpOnly; Secure; Path=/app; Domain=example.com; Max-Age=0; Expires="
        ),
        "{}",
        sc[1]
    );
}

#[tokio::test]
async fn last_change_wins_and_is_visible_to_later_reads() {
    let res = run(&CookieLayer::new(), &[b"a=old"], |c| {
        c.add(Cookie::new("a", "1")).unwrap();
        c.add(Cookie::new("a", "2")).unwrap();
        value(c, "a")
    })
    .await;
    assert_eq!(res.body(), "2");
    assert_eq!(
        set_cookies(&res),
        ["a=2; HttpOnly; SameSite=Lax; Secure; Path=/"]
    );
}

fn keys(current: &Key, previous: &[&Key]) -> CookieLayer {
    let mut keys = CookieKeys::new(current.clone());
    for k in previous {
        keys = keys.with_previous((*k).clone());
    }
    CookieLayer::new().with_keys(keys)
}

/// Issues a cookie through `layer` with `add` and returns the `name=value` pair to send back.
async fn issue(layer: &CookieLayer, private: bool) -> String {
    let handler: Handler = if private {
        |c| {
            c.private()
                .unwrap()
                .add(Cookie::new("p", "secret value; with spaces"))
                .unwrap();
            String::new()
        }
    } else {
        |c| {
            c.signed()
                .unwrap()
                .add(Cookie::new("s", "user-42"))
                .unwrap();
            String::new()
        }
    };
    let res = run(layer, &[], handler).await;
    set_cookies(&res)[0].split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn signed_and_private_roundtrip_and_tampering_is_rejected() {
    let key = Key::generate();
    let layer = keys(&key, &[]);
    let signed = issue(&layer, false).await;
    let private = issue(&layer, true).await;
    assert!(signed.contains("user-42"), "signed values stay readable");
    assert!(!private.contains("secret"), "private values are encrypted");

    let read: Handler = |c| {
        format!(
            "{}|{}",
            c.signed()
                .unwrap()
                .get("s")
                .map_or("<none>".into(), |c| c.value().to_owned()),
            c.private()
                .unwrap()
                .get("p")
                .map_or("<none>".into(), |c| c.value().to_owned())
        )
    };
    let header = format!("{signed}; {private}");
    let res = run(&layer, &[header.as_bytes()], read).await;
    assert_eq!(res.body(), "user-42|secret value; with spaces");
    assert!(set_cookies(&res).is_empty());

    // Tampered: value changed, signature kept; one ciphertext byte changed; renamed cookie.
    let tampered_signed = signed.replace("user-42", "user-43");
    let mut bytes = private.clone().into_bytes();
    let last = bytes.len() - 2;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    let tampered_private = String::from_utf8(bytes).unwrap();
    let header = format!("{tampered_signed}; {tampered_private}");
    let res = run(&layer, &[header.as_bytes()], read).await;
    assert_eq!(res.body(), "<none>|<none>");
    let renamed = format!(
        "{}; {}",
        signed.replacen("s=", "p=", 1),
        private.replacen("p=", "s=", 1)
    );
    let res = run(&layer, &[renamed.as_bytes()], read).await;
    assert_eq!(res.body(), "<none>|<none>");

    // Signed with another key entirely.
    let other = keys(&Key::generate(), &[]);
    let res = run(&other, &[format!("{signed}; {private}").as_bytes()], read).await;
    assert_eq!(res.body(), "<none>|<none>");

    // No key configured: a clear error, not a panic.
    let res = run(&CookieLayer::new(), &[], |c| {
        format!("{:?}", c.signed().unwrap_err().kind())
    })
    .await;
    assert_eq!(res.body(), "NoKey");
}

#[tokio::test]
async fn key_rotation_reads_old_cookies_and_reissues_them() {
    let old = Key::generate();
    let new = Key::generate();
    let signed = issue(&keys(&old, &[]), false).await;
    let private = issue(&keys(&old, &[]), true).await;

    let rotated = keys(&new, &[&old]);
    let read: Handler = |c| {
        format!(
            "{}|{}",
            c.signed()
                .unwrap()
                .get("s")
                .map_or("<none>".into(), |c| c.value().to_owned()),
            c.private()
                .unwrap()
                .get("p")
                .map_or("<none>".into(), |c| c.value().to_owned())
        )
    };
    let res = run(&rotated, &[format!("{signed}; {private}").as_bytes()], read).await;
    assert_eq!(res.body(), "user-42|secret value; with spaces");
    let reissued = set_cookies(&res);
    assert_eq!(
        reissued.len(),
        2,
        "both cookies re-issued under the new key"
    );

    // The re-issued cookies verify with the new key alone.
    let new_only = keys(&new, &[]);
    let pairs: Vec<&str> = reissued
        .iter()
        .map(|c| c.split(';').next().unwrap())
        .collect();
    let res = run(&new_only, &[pairs.join("; ").as_bytes()], read).await;
    assert_eq!(res.body(), "user-42|secret value; with spaces");
    assert!(
        set_cookies(&res).is_empty(),
        "current-key cookies are not re-issued"
    );

    // Once the old key is retired, old cookies are refused.
    let res = run(
        &new_only,
        &[format!("{signed}; {private}").as_bytes()],
        read,
    )
    .await;
    assert_eq!(res.body(), "<none>|<none>");
}

#[tokio::test]
async fn readiness_and_errors_pass_through() {
    let mut svc = CookieLayer::new().layer(service_fn(|_req: Request<()>| async {
        Err::<Response<()>, _>("inner failed")
    }));
    svc.ready().await.unwrap();
    assert_eq!(
        svc.call(Request::new(())).await.unwrap_err(),
        "inner failed"
    );
}

#[test]
fn debug_never_prints_values_or_keys() {
    let layer = CookieLayer::new().with_keys(CookieKeys::new(Key::from(&[7u8; 64])));
    let debug = format!("{layer:?}");
    assert!(debug.contains("REDACTED"), "{debug}");
    assert!(!debug.contains("7, 7"), "{debug}");
}

#[tokio::test]
async fn value_with_reads_without_copying_and_sees_changes() {
    let res = run(&CookieLayer::new(), &[b"a=\"quoted\"; b=2"], |c| {
        let before = c.value_with("a", str::to_owned);
        let missing = c.value_with("zz", str::len);
        c.add(Cookie::new("b", "3")).unwrap();
        c.remove(Cookie::from("a"));
        format!(
            "{before:?} {missing:?} {:?} {:?}",
            c.value_with("b", str::to_owned),
            c.value_with("a", str::len)
        )
    })
    .await;
    assert_eq!(res.body(), "Some(\"quoted\") None Some(\"3\") None");
}
