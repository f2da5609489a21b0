//! The JWKS endpoint fails in every way; known keys keep working, new keys get a clean
//! 503/401, and nothing waits longer than the HTTP client's timeout.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use portcullis::jwt::http::DefaultHttpClient;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::hardening::{Http, Issuer};
use super::*;

/// The JWKS client's timeout in this test (the knob that bounds every wait).
const TIMEOUT: Duration = Duration::from_millis(800);
/// The JWKS client's response-size limit in this test.
const MAX_BYTES: usize = 256 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Ok,
    Status500,
    Garbage,
    WrongShape,
    Enormous,
    Slow,
    Reset,
}

/// A JWKS endpoint on a raw socket, so it can misbehave below HTTP too.
struct FaultyIdp {
    addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    keys: Arc<Mutex<Vec<Value>>>,
    hits: Arc<AtomicUsize>,
}

impl FaultyIdp {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let idp = Self {
            addr: listener.local_addr().unwrap(),
            mode: Arc::new(Mutex::new(Mode::Ok)),
            keys: Arc::default(),
            hits: Arc::default(),
        };
        let (mode, keys, hits) = (idp.mode.clone(), idp.keys.clone(), idp.hits.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let mode = *mode.lock().unwrap();
                let body = json!({ "keys": *keys.lock().unwrap() }).to_string();
                hits.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(answer(stream, mode, body));
            }
        });
        idp
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn publish(&self, keys: Vec<Value>) {
        *self.keys.lock().unwrap() = keys;
    }

    fn jwks_uri(&self) -> String {
        format!("http://{}/jwks", self.addr)
    }
}

async fn answer(mut stream: tokio::net::TcpStream, mode: Mode, body: String) {
    // Read the request head.
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let respond = |status: &str, body: &[u8]| {
        let mut out = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    };
    let out = match mode {
        Mode::Ok => respond("200 OK", body.as_bytes()),
        Mode::Status500 => respond("500 Internal Server Error", b"{\"error\":\"down\"}"),
        Mode::Garbage => respond("200 OK", b"<html>\x00\xff\xfe not json {{{"),
        Mode::WrongShape => respond("200 OK", br#"{"keys":"nope","kty":[1,2,3]}"#),
        Mode::Enormous => {
            // No Content-Length: the body runs until the connection closes (16 MiB of a
            // JSON array that never ends).
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"keys\":[")
                .await;
            let chunk = vec![b' '; 64 * 1024];
            for _ in 0..256 {
                if stream.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            return;
        }
        Mode::Slow => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            respond("200 OK", body.as_bytes())
        }
        Mode::Reset => {
            // RST instead of FIN.
            let _ = stream.set_zero_linger();
            drop(stream);
            return;
        }
    };
    let _ = stream.write_all(&out).await;
}

/// The app (a real server on 127.0.0.1) trusting `issuer`, whose keys are at `idp`.
async fn start_app(issuer: &Arc<Issuer>, idp: &FaultyIdp) -> (Http, Portcullis) {
    let client = DefaultHttpClient::builder()
        .with_timeout(TIMEOUT)
        .with_connect_timeout(TIMEOUT)
        .with_max_response_bytes(MAX_BYTES)
        .insecure_allow_http_loopback()
        .build();
    let portcullis = Portcullis::builder()
        .issuer_with_jwks_uri(&issuer.url, idp.jwks_uri())
        .audience(AUD)
        .allow_anonymous()
        .insecure_allow_http()
        .configure_jwks(move |b| {
            b.with_http_client(client)
                .with_unknown_kid_cooldown(Duration::from_millis(100))
                .with_retry_backoff(Duration::from_millis(100), Duration::from_millis(400))
        })
        .build()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    serve(listener, router(portcullis.clone(), issuer.clone(), false));
    let mut http = Http::new(addr);
    http.allow_503 = true;
    (http, portcullis)
}

#[tokio::test]
async fn a_failing_jwks_endpoint_never_lets_anyone_in_nor_blocks_beyond_its_timeout() {
    let idp = FaultyIdp::start().await;
    // The issuer's URL is only a name here; its keys are at the faulty endpoint.
    let k1 = Arc::new(Issuer::new("http://issuer.test", "k1"));
    let k2 = Issuer::new("http://issuer.test", "k2");
    idp.publish(vec![k1.jwk()]);
    let (http, portcullis) = start_app(&k1, &idp).await;
    assert!(portcullis.validator().jwks().refresh_now().await);
    assert_eq!(
        http.bearer("/me", &k1.token("alice", AUD)).await.status(),
        StatusCode::OK
    );

    // Rotation on the IdP side: k2 is published from now on, but the endpoint fails.
    idp.publish(vec![k1.jwk(), k2.jwk()]);
    let mut figures = Vec::new();
    for mode in [
        Mode::Status500,
        Mode::Garbage,
        Mode::WrongShape,
        Mode::Enormous,
        Mode::Slow,
        Mode::Reset,
    ] {
        idp.set(mode);
        tokio::time::sleep(Duration::from_millis(150)).await; // past the unknown-kid cool-down

        // A forced refresh fails, within the timeout, and keeps the known keys.
        let jwks = portcullis.validator().jwks();
        let failures = jwks.stats(&k1.url).unwrap().failures;
        let t = Instant::now();
        let usable = jwks.refresh_now().await;
        let refresh = t.elapsed();
        let stats = jwks.stats(&k1.url).unwrap();
        assert!(
            usable && stats.usable && stats.keys == 1,
            "{mode:?}: {stats:?}"
        );
        assert!(
            stats.failures > failures,
            "{mode:?}: the fetch did not fail: {stats:?}"
        );
        assert!(
            refresh < TIMEOUT * 2 + Duration::from_millis(700),
            "{mode:?}: refresh took {refresh:?}"
        );

        // A token needing the new key: a clean 503 (keys unavailable) or 401 (no such key),
        // within the timeout. Never a 200, never another 5xx.
        let t = Instant::now();
        let res = http.bearer("/me", &k2.token("alice", AUD)).await;
        let new_key = t.elapsed();
        assert!(
            res.status() == StatusCode::SERVICE_UNAVAILABLE
                || res.status() == StatusCode::UNAUTHORIZED,
            "{mode:?}: {}",
            res.status()
        );
        if res.status() == StatusCode::SERVICE_UNAVAILABLE {
            assert!(
                res.headers().contains_key(http::header::RETRY_AFTER),
                "{mode:?}"
            );
        }
        assert!(
            new_key < TIMEOUT + Duration::from_millis(700),
            "{mode:?}: new-key request took {new_key:?}"
        );

        // Known keys keep working: fresh tokens (not in the validated-token cache) of k1,
        // also while a slow fetch is in flight.
        let inflight = {
            let p = portcullis.clone();
            tokio::spawn(async move { p.validator().jwks().refresh_now().await })
        };
        let t = Instant::now();
        for _ in 0..5 {
            let res = http.bearer("/me", &k1.token("alice", AUD)).await;
            assert_eq!(res.status(), StatusCode::OK, "{mode:?}");
        }
        let known = t.elapsed() / 5;
        assert!(
            known < Duration::from_millis(300),
            "{mode:?}: known-key request took {known:?}"
        );
        let _ = inflight.await;
        figures.push(format!(
            "{mode:?}: refresh {refresh:?} ({:?}), new-key request {new_key:?} -> {}, known-key request {known:?}",
            stats.last_error,
            res.status().as_u16()
        ));
    }
    for f in &figures {
        println!("jwks fault: {f}");
    }

    // The endpoint heals: the new key is fetched on the next unknown-kid request.
    idp.set(Mode::Ok);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let res = http.bearer("/me", &k2.token("bob", AUD)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.body(), "bob");
    // An attacker's key never becomes usable through any of this.
    let evil = Issuer::new("http://issuer.test", "k2");
    assert_eq!(
        http.bearer("/me", &evil.token("mallory", AUD))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_idp_down_at_start_gets_503_then_recovers_without_a_restart() {
    let idp = FaultyIdp::start().await;
    let k1 = Arc::new(Issuer::new("http://issuer.test", "k1"));
    idp.publish(vec![k1.jwk()]);
    for mode in [Mode::Reset, Mode::Slow, Mode::Status500, Mode::Enormous] {
        idp.set(mode);
        let (http, _portcullis) = start_app(&k1, &idp).await;
        let t = Instant::now();
        let res = http.bearer("/me", &k1.token("alice", AUD)).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{mode:?}");
        assert!(res.headers().contains_key(http::header::RETRY_AFTER));
        assert!(
            t.elapsed() < TIMEOUT + Duration::from_millis(700),
            "{mode:?}: {:?}",
            t.elapsed()
        );
        // Sessions-free anonymous requests are not held up by the outage.
        idp.set(Mode::Ok);
        // The background retry (backoff ≤ 400 ms) picks the keys up.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let res = http.bearer("/me", &k1.token("alice", AUD)).await;
            if res.status() == StatusCode::OK {
                break;
            }
            assert!(Instant::now() < deadline, "{mode:?}: no recovery");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
