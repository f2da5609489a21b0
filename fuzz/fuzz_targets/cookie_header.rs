//! `Cookie` header parsing and signed/private cookie decoding through the public
//! `CookieLayer` / `Cookies` API.
//!
//! Input: one or more `Cookie` header values separated by `\n`. The service behind the layer
//! reads every cookie, tries each one as signed and as private, and round-trips a cookie built
//! from the input. Invariants:
//! * nothing panics, whatever the bytes;
//! * a signed or private cookie that the fuzzer made up never verifies (only ones the layer
//!   sealed itself do);
//! * a value `Cookies::add` accepts comes back unchanged when its `Set-Cookie` is sent back as
//!   a `Cookie` header; a private cookie round-trips any plaintext.
#![no_main]

use std::convert::Infallible;
use std::sync::OnceLock;

use http::{HeaderValue, Request, Response, header};
use libfuzzer_sys::fuzz_target;
use portcullis_cookie::{Cookie, CookieKeys, CookieLayer, Cookies, Key};
use tower::{Layer, Service, ServiceExt, service_fn};

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
    })
}

fn layer() -> CookieLayer {
    // Fixed keys: the current one and a previous one (rotation path).
    let current = Key::from(&[7u8; 64]);
    let previous = Key::from(&[9u8; 64]);
    CookieLayer::new()
        .with_keys(CookieKeys::new(current).with_previous(previous))
        .with_max_header_bytes(4096)
        .with_max_cookies(32)
}

/// Sends `headers` as `Cookie` headers through the layer; `f` runs inside the service.
fn with_cookies<T: Send + 'static>(
    headers: &[HeaderValue],
    f: impl FnOnce(&Cookies) -> T + Send + Clone + 'static,
) -> (T, Vec<HeaderValue>) {
    let out = std::sync::Arc::new(std::sync::Mutex::new(None));
    let slot = out.clone();
    let svc = layer().layer(service_fn(move |req: Request<()>| {
        let f = f.clone();
        let slot = slot.clone();
        async move {
            let cookies = req
                .extensions()
                .get::<Cookies>()
                .expect("CookieLayer installed");
            *slot.lock().expect("lock") = Some(f(cookies));
            Ok::<_, Infallible>(Response::new(()))
        }
    }));
    let mut req = Request::new(());
    for h in headers {
        req.headers_mut().append(header::COOKIE, h.clone());
    }
    let res = runtime()
        .block_on(async move {
            let mut svc = svc;
            svc.ready().await?;
            svc.call(req).await
        })
        .expect("infallible");
    let set: Vec<HeaderValue> = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    let value = out.lock().expect("lock").take().expect("the service ran");
    (value, set)
}

/// `name=value` of a `Set-Cookie`, as a browser would send it back.
fn echo(set_cookie: &HeaderValue) -> HeaderValue {
    let s = set_cookie.to_str().expect("Set-Cookie is ASCII");
    let pair = s.split(';').next().unwrap_or_default();
    HeaderValue::from_str(pair).expect("a valid header value")
}

fuzz_target!(|data: &[u8]| {
    let headers: Vec<HeaderValue> = data
        .split(|b| *b == b'\n')
        .filter_map(|line| HeaderValue::from_bytes(line).ok())
        .collect();

    // 1. Read everything the request sent; made-up signed/private values never verify.
    let (names, _) = with_cookies(&headers, |cookies| {
        let all = cookies.request_cookies();
        assert!(all.len() <= 32, "the cookie limit holds");
        let mut names = Vec::new();
        for c in &all {
            assert!(!c.name().is_empty());
            assert!(
                !c.name()
                    .bytes()
                    .any(|b| b.is_ascii_control() || b == b';' || b == b'=')
            );
            assert!(!c.value().bytes().any(|b| b.is_ascii_control() || b == b';'));
            let got = cookies.get(c.name()).expect("a listed cookie can be read");
            assert_eq!(got.name(), c.name());
            let signed = cookies.signed().expect("keys configured").get(c.name());
            assert!(
                signed.is_none(),
                "a forged signed cookie verified: {signed:?}"
            );
            let private = cookies.private().expect("keys configured").get(c.name());
            assert!(
                private.is_none(),
                "a forged private cookie decrypted: {private:?}"
            );
            names.push(c.name().to_owned());
        }
        names
    });

    // 1b. On a fresh jar (nothing parsed yet, so `value_with` walks to the one pair it wants
    // instead of listing them all), every name reads as the full parse lists it, and a name
    // the request did not send reads as absent.
    let (_, _) = with_cookies(&headers, move |cookies| {
        let mut probes: Vec<String> = names.iter().take(4).cloned().collect();
        probes.push("absent-name".to_owned());
        let walked: Vec<Option<String>> = probes
            .iter()
            .map(|name| cookies.value_with(name, str::to_owned))
            .collect();
        for (name, walked) in probes.iter().zip(walked) {
            assert_eq!(
                walked,
                cookies.get(name).map(|c| c.value().to_owned()),
                "value_with and get disagree on {name:?}"
            );
        }
    });

    // 2. Round-trip: the first input line as a cookie value, plain and private.
    let first = data.split(|b| *b == b'\n').next().unwrap_or_default();
    // Short enough that the three cookies fit the parse limit together.
    let value: String = String::from_utf8_lossy(first).chars().take(256).collect();
    let v = value.clone();
    let ((plain_ok, private_ok), set) = with_cookies(&[], move |cookies| {
        let plain_ok = cookies.add(Cookie::new("plain", v.clone())).is_ok();
        let private_ok = cookies
            .private()
            .expect("keys configured")
            .add(Cookie::new("sealed", v.clone()))
            .is_ok();
        let signed_ok = cookies
            .signed()
            .expect("keys configured")
            .add(Cookie::new("signed", v))
            .is_ok();
        let _ = signed_ok;
        (plain_ok, private_ok)
    });
    assert!(private_ok, "a private cookie takes any plaintext");
    let back: Vec<HeaderValue> = set.iter().map(echo).collect();
    let v = value.clone();
    let (read, _) = with_cookies(&back, move |cookies| {
        let plain = cookies.get("plain").map(|c| c.value().to_owned());
        let sealed = cookies
            .private()
            .expect("keys configured")
            .get("sealed")
            .map(|c| c.value().to_owned());
        let signed = cookies
            .signed()
            .expect("keys configured")
            .get("signed")
            .map(|c| c.value().to_owned());
        (plain, sealed, signed, v)
    });
    let (plain, sealed, signed, v) = read;
    if plain_ok {
        assert_eq!(
            plain.as_deref(),
            Some(v.as_str()),
            "an accepted value round-trips"
        );
        assert_eq!(
            signed.as_deref(),
            Some(v.as_str()),
            "a signed value round-trips"
        );
    }
    assert_eq!(
        sealed.as_deref(),
        Some(v.as_str()),
        "a private value round-trips"
    );
});
