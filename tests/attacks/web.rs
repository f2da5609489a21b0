//! HTTP-level attacks: oversized input, cookies, fixation, stolen sessions, caching.

use super::*;

#[tokio::test]
async fn malformed_tokens_and_huge_headers_get_a_clean_4xx() {
    let s = start(false).await;
    for token in [
        "",
        ".",
        "..",
        "a.b.c",
        "a.b",
        "a.b.c.d",
        "e30.e30.",
        "e30.e30.e30",
        "!!!.@@@.###",
        &"A".repeat(40_000),
        &format!(
            "{}.{}.{}",
            "A".repeat(9000),
            "B".repeat(9000),
            "C".repeat(9000)
        ),
    ] {
        let res = s
            .http
            .try_send(
                s.http
                    .req(Method::GET, "/me")
                    .header(AUTHORIZATION, format!("Bearer {token}")),
            )
            .await;
        if let Ok(res) = res {
            assert!(res.status().is_client_error(), "{}", res.status());
        }
    }
    // One header of 1 MiB: hyper refuses it (431) or closes; never a 5xx or a hang.
    let big = "x".repeat(1 << 20);
    let res = s
        .http
        .try_send(s.http.req(Method::GET, "/me").header("x-big", big.clone()))
        .await;
    if let Ok(res) = &res {
        assert_eq!(res.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
    // A 1 MiB cookie.
    let res = s
        .http
        .try_send(
            s.http
                .req(Method::GET, "/public")
                .header(COOKIE, format!("a={big}")),
        )
        .await;
    if let Ok(res) = &res {
        assert!(res.status().is_client_error(), "{}", res.status());
    }
    // 500 headers: over hyper's header-count limit.
    let mut req = s.http.req(Method::GET, "/public");
    for i in 0..500 {
        req = req.header(format!("x-h{i}"), "v");
    }
    if let Ok(res) = s.http.try_send(req).await {
        assert!(res.status().is_client_error(), "{}", res.status());
    }
    // A 60 KiB Cookie header (under hyper's limits, over portcullis's 16 KiB parse limit)
    // and 5000 cookies: parsed up to the limits, the public route still answers.
    let cookie = format!("a={}", "v".repeat(60 * 1024));
    let res = s
        .http
        .send(s.http.req(Method::GET, "/public").header(COOKIE, cookie))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let many: String = (0..5000).map(|i| format!("c{i}={i}; ")).collect();
    let res = s
        .http
        .send(
            s.http
                .req(Method::GET, "/public")
                .header(COOKIE, many.clone()),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // A session cookie hidden after 5000 others is beyond the parse limit: not found, so the
    // request is anonymous (401 on a protected route), never slow or a 5xx.
    let res = s
        .http
        .send(
            s.http
                .req(Method::GET, "/me")
                .header(COOKIE, format!("{many}{COOKIE_NAME}=x")),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Many Cookie header lines.
    let mut req = s.http.req(Method::GET, "/public");
    for i in 0..90 {
        req = req.header(COOKIE, format!("k{i}=v{i}"));
    }
    assert_eq!(s.http.send(req).await.status(), StatusCode::OK);
    // Still serving after all that.
    assert_eq!(s.http.get("/public").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn cookie_values_with_separators_and_control_characters() {
    let s = start(false).await;
    let login = s
        .http
        .send(
            s.http
                .req(Method::POST, "/login?sub=alice")
                .header(USER_AGENT, UA),
        )
        .await;
    let pair = set_cookie_pair(&login, COOKIE_NAME).unwrap();
    let id = pair.split_once('=').unwrap().1.to_owned();
    // The real cookie works.
    let ok = s
        .http
        .send(
            s.http
                .req(Method::GET, "/me")
                .header(USER_AGENT, UA)
                .header(COOKIE, pair.clone()),
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    // Variants with separators, quotes, whitespace: never a different session, never a 5xx.
    for value in [
        format!("{COOKIE_NAME}={id},x=1"),
        format!("{COOKIE_NAME}=\"{id}\""),
        format!("{COOKIE_NAME}={id} x"),
        format!("{COOKIE_NAME}={id};{COOKIE_NAME}=forged"),
        format!("{COOKIE_NAME}=forged;{COOKIE_NAME}={id}"),
        format!("{COOKIE_NAME}=,{id}"),
        format!("{COOKIE_NAME}={id}\t"),
        format!("{COOKIE_NAME}=%41{id}"),
    ] {
        let res = s
            .http
            .send(
                s.http
                    .req(Method::GET, "/me")
                    .header(USER_AGENT, UA)
                    .header(COOKIE, value.clone()),
            )
            .await;
        // Only the exact ID (first occurrence of the name) may open the session.
        // RFC 6265 allows the value in double quotes: the same ID, the same client.
        let exact_first = value.starts_with(&format!("{COOKIE_NAME}={id};"))
            || value == format!("{COOKIE_NAME}={id}\t")
            || value == format!("{COOKIE_NAME}=\"{id}\"");
        if !exact_first {
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{value:?}");
        }
    }
    // Raw requests with control characters in the Cookie header: hyper refuses them (400) or
    // portcullis skips the pair (401 on /me); never a 5xx, never the session.
    for ctl in [0x00u8, 0x01, 0x08, 0x0b, 0x0c, 0x1f, 0x7f] {
        let mut req = format!("GET /me HTTP/1.1\r\nHost: x\r\nUser-Agent: {UA}\r\nConnection: close\r\nCookie: {COOKIE_NAME}=").into_bytes();
        req.extend_from_slice(id.as_bytes());
        req.push(ctl);
        req.extend_from_slice(b"\r\n\r\n");
        let code = raw(s.addr, &req).await;
        assert!(
            matches!(code, None | Some(400) | Some(401)),
            "ctl {ctl:#x}: {code:?}"
        );
    }
    // Bare CR and obsolete line folding inside the header value (smuggling attempts):
    // refused by hyper, or the pair is skipped; the session is never opened.
    for evil in [&b"\rSet-Cookie: x=y"[..], b"\r\n Folded", b"\r\n\tFolded"] {
        let mut req = format!("GET /me HTTP/1.1\r\nHost: x\r\nUser-Agent: {UA}\r\nConnection: close\r\nCookie: {COOKIE_NAME}={id}").into_bytes();
        req.extend_from_slice(evil);
        req.extend_from_slice(b"\r\n\r\n");
        let code = raw(s.addr, &req).await;
        assert!(
            matches!(code, None | Some(400) | Some(401)),
            "{evil:?}: {code:?}"
        );
    }
    // A bare LF ends the header line (httparse accepts it): the next line is a header of its
    // own, not part of the cookie. With a forged ID before it, no session.
    let req = format!(
        "GET /me HTTP/1.1\r\nHost: x\r\nUser-Agent: {UA}\r\nConnection: close\r\nCookie: {COOKIE_NAME}=forged\nX-Injected: {id}\r\n\r\n"
    );
    let code = raw(s.addr, req.as_bytes()).await;
    assert!(matches!(code, None | Some(400) | Some(401)), "{code:?}");
}

#[tokio::test]
async fn cookie_attribute_injection_through_values_the_app_sets_is_refused() {
    let s = start(false).await;
    let encode = |v: &str| -> String { v.bytes().map(|b| format!("%{b:02X}")).collect() };
    for value in [
        "x; Domain=evil.example",
        "x; Path=/admin",
        "x; Max-Age=999999999",
        "x;HttpOnly=false",
        "x, other=1",
        "x\r\nSet-Cookie: admin=1",
        "x\nLocation: http://evil",
        "\"quoted\"",
        "back\\slash",
        "space inside",
        "tab\tinside",
        "nul\0byte",
        "del\u{7f}",
        "é-non-ascii",
    ] {
        let res = s
            .http
            .get(&format!("/set-cookie?v={}", encode(value)))
            .await;
        assert_eq!(
            res.status(),
            StatusCode::BAD_REQUEST,
            "{value:?} was accepted"
        );
        assert_eq!(res.body(), "refused");
        assert!(res.headers().get(SET_COOKIE).is_none(), "{value:?}");
        assert_eq!(res.headers()[http::header::CACHE_CONTROL], "no-store");
    }
    // A plain value is set with the secure defaults.
    let res = s.http.get("/set-cookie?v=dark-mode_1").await;
    assert_eq!(res.status(), StatusCode::OK);
    let set = res.headers()[SET_COOKIE].to_str().unwrap();
    assert!(
        set.starts_with("pref=dark-mode_1;")
            && set.contains("HttpOnly")
            && set.contains("SameSite=Lax")
            && set.contains("Path=/"),
        "{set}"
    );
    assert!(!set.contains("Domain"), "{set}");
}

#[tokio::test]
async fn session_fixation_a_planted_session_id_is_never_adopted() {
    let s = start(false).await;
    // 1. An ID the server never issued: refused, and never echoed back as the session.
    let planted = format!("{COOKIE_NAME}=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let res = s
        .http
        .send(
            s.http
                .req(Method::POST, "/login?sub=alice")
                .header(USER_AGENT, UA)
                .header(COOKIE, planted.clone()),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    if let Some(pair) = set_cookie_pair(&res, COOKIE_NAME) {
        assert_ne!(pair, planted, "the planted ID was set back");
    }
    // 2. The attacker's own, valid session ID planted in the victim's browser: the victim's
    //    login issues a fresh ID; the planted one never becomes the victim's session.
    let attacker = s
        .http
        .send(
            s.http
                .req(Method::POST, "/login?sub=mallory")
                .header(USER_AGENT, UA),
        )
        .await;
    let attacker_pair = set_cookie_pair(&attacker, COOKIE_NAME).unwrap();
    let victim = s
        .http
        .send(
            s.http
                .req(Method::POST, "/login?sub=alice")
                .header(USER_AGENT, UA)
                .header(COOKIE, attacker_pair.clone()),
        )
        .await;
    assert_eq!(victim.status(), StatusCode::OK);
    let victim_pair = set_cookie_pair(&victim, COOKIE_NAME).expect("a new session cookie at login");
    assert_ne!(victim_pair, attacker_pair, "the planted ID was adopted");
    let res = s
        .http
        .send(
            s.http
                .req(Method::GET, "/me")
                .header(USER_AGENT, UA)
                .header(COOKIE, attacker_pair),
        )
        .await;
    assert_ne!(
        res.body(),
        "alice",
        "the planted ID opens the victim's session"
    );
    let res = s
        .http
        .send(
            s.http
                .req(Method::GET, "/me")
                .header(USER_AGENT, UA)
                .header(COOKIE, victim_pair),
        )
        .await;
    assert_eq!(res.body(), "alice");
    // 3. An anonymous visit never sets a session ID an attacker could read and plant later.
    let res = s
        .http
        .send(s.http.req(Method::GET, "/public").header(USER_AGENT, UA))
        .await;
    assert!(set_cookie_pair(&res, COOKIE_NAME).is_none());
}

async fn login_from(s: &Server, ua: &str, xff: &str) -> String {
    let res = s
        .http
        .send(
            s.http
                .req(Method::POST, "/login?sub=alice")
                .header(USER_AGENT, ua)
                .header("x-forwarded-for", xff),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    set_cookie_pair(&res, COOKIE_NAME).unwrap()
}

async fn me_from(s: &Server, cookie: &str, ua: &str, xff: &str) -> StatusCode {
    s.http
        .send(
            s.http
                .req(Method::GET, "/me")
                .header(USER_AGENT, ua)
                .header("x-forwarded-for", xff)
                .header(COOKIE, cookie),
        )
        .await
        .status()
}

#[tokio::test]
async fn a_stolen_session_cookie_from_another_client_is_refused() {
    // Behind a trusted proxy (127.0.0.1): the client IP is X-Forwarded-For's.
    let s = start(true).await;
    let cookie = login_from(&s, UA, "203.0.113.10").await;
    assert_eq!(
        me_from(&s, &cookie, UA, "203.0.113.10").await,
        StatusCode::OK
    );
    // Same /24 (a NAT pool, a DHCP renewal): still the client.
    assert_eq!(
        me_from(&s, &cookie, UA, "203.0.113.99").await,
        StatusCode::OK
    );
    // Another network: refused, and the session is destroyed (the thief's use logs the
    // victim out too, so the theft is noticed and cannot be retried).
    assert_eq!(
        me_from(&s, &cookie, UA, "198.51.100.7").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        me_from(&s, &cookie, UA, "203.0.113.10").await,
        StatusCode::UNAUTHORIZED
    );

    // Another browser (User-Agent), same IP: refused.
    let cookie = login_from(&s, UA, "203.0.113.10").await;
    assert_eq!(
        me_from(&s, &cookie, "curl/8.5.0", "203.0.113.10").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        me_from(&s, &cookie, UA, "203.0.113.10").await,
        StatusCode::UNAUTHORIZED
    );
    // No User-Agent at all: refused.
    let cookie = login_from(&s, UA, "203.0.113.10").await;
    let res = s
        .http
        .send(
            s.http
                .req(Method::GET, "/me")
                .header("x-forwarded-for", "203.0.113.10")
                .header(COOKIE, cookie.clone()),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // The thief prepends the victim's IP to X-Forwarded-For: the proxy appends the real
    // one, which is what counts.
    let cookie = login_from(&s, UA, "203.0.113.10").await;
    assert_eq!(
        me_from(&s, &cookie, UA, "203.0.113.10, 198.51.100.7").await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
    // No trusted proxy: X-Forwarded-For is the client's own claim and is ignored, so a thief
    // cannot claim the victim's IP, and the victim is not locked out by one.
    let s = start(false).await;
    let cookie = login_from(&s, UA, "203.0.113.10").await;
    assert_eq!(
        me_from(&s, &cookie, UA, "198.51.100.7").await,
        StatusCode::OK
    );
    let res = s
        .http
        .send(
            s.http
                .req(Method::GET, "/me")
                .header(USER_AGENT, UA)
                .header("forwarded", "for=198.51.100.7")
                .header(COOKIE, cookie.clone()),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn logout_and_rejections_are_never_cacheable() {
    let s = start(false).await;
    let pair = login_from(&s, UA, "1.2.3.4").await;
    // Every response below goes through `check` (no-store); also Vary and the cleared cookie.
    let res = s
        .http
        .send(
            s.http
                .req(Method::GET, "/me")
                .header(USER_AGENT, UA)
                .header(COOKIE, pair.clone()),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let vary = res.headers()[VARY].to_str().unwrap().to_ascii_lowercase();
    assert!(
        vary.contains("cookie") && vary.contains("authorization"),
        "{vary}"
    );
    assert_eq!(res.headers()[http::header::PRAGMA], "no-cache");
    let res = s
        .http
        .send(
            s.http
                .req(Method::POST, "/logout")
                .header(USER_AGENT, UA)
                .header(COOKIE, pair.clone()),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let cleared = res.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let res = s
        .http
        .send(
            s.http
                .req(Method::GET, "/me")
                .header(USER_AGENT, UA)
                .header(COOKIE, pair),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // The public route and a 404 too.
    assert_eq!(s.http.get("/public").await.status(), StatusCode::OK);
    assert_eq!(s.http.get("/nope").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn credentials_in_unexpected_places_are_not_accepted() {
    let s = start(false).await;
    let token = s.app.a.token("alice", AUD);
    let login = s
        .http
        .send(
            s.http
                .req(Method::POST, "/login?sub=alice")
                .header(USER_AGENT, UA),
        )
        .await;
    let pair = set_cookie_pair(&login, COOKIE_NAME).unwrap();
    let id = pair.split_once('=').unwrap().1.to_owned();
    // A token in the query string (RFC 6750 §2.3 is not supported: URLs end up in logs).
    let res = s.http.get(&format!("/me?access_token={token}")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // The session ID as a bearer token; the access token as the session cookie.
    refused(&s, &id, "session ID as a bearer token").await;
    let res = s
        .http
        .send(
            s.http
                .req(Method::GET, "/me")
                .header(USER_AGENT, UA)
                .header(COOKIE, format!("{COOKIE_NAME}={token}")),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Other schemes and malformed Authorization headers.
    for value in [
        format!("Basic {token}"),
        format!("Token {token}"),
        format!("Bearer{token}"),
        format!("Bearer  {token} extra"),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
    ] {
        let res = s
            .http
            .send(
                s.http
                    .req(Method::GET, "/me")
                    .header(AUTHORIZATION, value.clone()),
            )
            .await;
        assert!(
            res.status() == StatusCode::UNAUTHORIZED || res.status() == StatusCode::BAD_REQUEST,
            "{value}: {}",
            res.status()
        );
    }
}

/// `method path` from the browser `UA` with `cookie`.
async fn with_cookie(s: &Server, method: Method, path: &str, cookie: &str) -> hardening::Checked {
    s.http
        .send(
            s.http
                .req(method, path)
                .header(USER_AGENT, UA)
                .header(COOKIE, cookie),
        )
        .await
}

#[tokio::test]
async fn a_dead_session_cookie_is_refused_or_anonymous_when_asked() {
    let forged = format!("{COOKIE_NAME}=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let cleared = |res: &hardening::Checked| {
        res.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    };

    // The default: a dead cookie is refused (401) and cleared, even on a public route.
    let s = start(false).await;
    let res = with_cookie(&s, Method::GET, "/public", &forged).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(cleared(&res));

    // Opted in: the public route serves it, clears the cookie, and grants nothing.
    let s = start_with(false, PortcullisBuilder::dead_session_as_anonymous).await;
    let res = with_cookie(&s, Method::GET, "/public", &forged).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(cleared(&res));
    let res = with_cookie(&s, Method::GET, "/me", &forged).await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "a dead cookie on a protected route"
    );

    // A logged-out session's cookie: /me refused; logging in again works at once with a
    // new session ID (the old one is never adopted).
    let old = login_from(&s, UA, "1.2.3.4").await;
    let res = with_cookie(&s, Method::POST, "/logout", &old).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = with_cookie(&s, Method::GET, "/me", &old).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = with_cookie(&s, Method::POST, "/login?sub=alice", &old).await;
    assert_eq!(res.status(), StatusCode::OK);
    let fresh = set_cookie_pair(&res, COOKIE_NAME).expect("a new session cookie");
    assert_ne!(fresh, old);
    assert_eq!(me_from(&s, &fresh, UA, "1.2.3.4").await, StatusCode::OK);
}
