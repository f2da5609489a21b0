//! Header smuggling through the gateway example: the client must never choose the identity
//! the gateway forwards to the upstream (`x-portcullis-subject`).

use std::time::Duration;

use axum::routing::any;
use http::{HeaderMap, Request};

use super::gateway_example::{Args, SUBJECT_HEADER, serve};
use super::*;

#[derive(Clone)]
struct Upstream {
    issuer: Arc<Issuer>,
    hits: Arc<AtomicUsize>,
}

/// An upstream that is also the issuer: serves discovery and JWKS, and echoes every other
/// request's headers (name → all values).
async fn start_upstream() -> (SocketAddr, Upstream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let up = Upstream {
        issuer: Arc::new(Issuer::new(format!("http://{addr}"), "gw")),
        hits: Arc::default(),
    };
    async fn echo(State(up): State<Upstream>, headers: HeaderMap) -> Json<Value> {
        up.hits.fetch_add(1, Ordering::SeqCst);
        let mut map = serde_json::Map::new();
        for name in headers.keys() {
            let values: Vec<Value> = headers
                .get_all(name)
                .iter()
                .map(|v| json!(String::from_utf8_lossy(v.as_bytes())))
                .collect();
            map.insert(name.as_str().to_owned(), json!(values));
        }
        Json(Value::Object(map))
    }
    let router = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(|State(up): State<Upstream>| async move { Json(up.issuer.discovery()) }),
        )
        .route(
            "/.well-known/jwks.json",
            get(|State(up): State<Upstream>| async move { Json(up.issuer.jwks()) }),
        )
        .route("/{*rest}", any(echo))
        .with_state(up.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (addr, up)
}

async fn start_gateway(upstream: SocketAddr, issuer: &str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let args = Args {
        listen: addr,
        upstream: format!("http://{upstream}").parse().unwrap(),
        issuer: issuer.to_owned(),
        audience: AUD.to_owned(),
        jwks_uri: None,
        policies: Vec::new(),
        redis: None,
        insecure_allow_http_loopback: true,
        upstream_timeout: Duration::from_secs(5),
    };
    tokio::spawn(async move { serve(args, listener).await.unwrap() });
    addr
}

/// The gateway's responses are the upstream's: no Cache-Control check here (the gateway
/// is not the session stack), only "never a 5xx".
async fn send(addr: SocketAddr, req: http::request::Builder) -> http::Response<bytes::Bytes> {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let req = req
        .uri(format!("http://{addr}/api/orders"))
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let res = tokio::time::timeout(Duration::from_secs(10), client.request(req))
        .await
        .unwrap()
        .unwrap();
    let (parts, body) = res.into_parts();
    let res = http::Response::from_parts(parts, body.collect().await.unwrap().to_bytes());
    assert!(!res.status().is_server_error(), "{res:?}");
    res
}

#[tokio::test]
async fn a_client_cannot_smuggle_the_forwarded_identity_header() {
    let (up_addr, up) = start_upstream().await;
    let gw = start_gateway(up_addr, &up.issuer.url).await;
    let token = up.issuer.token("alice", AUD);
    let auth = format!("Bearer {token}");
    let spellings = [
        "x-portcullis-subject",
        "X-Portcullis-Subject",
        "X-PORTCULLIS-SUBJECT",
        "x_portcullis_subject",
        "X_Portcullis-Subject",
        "x-portcullis_subject",
    ];
    for name in spellings {
        let req = Request::builder()
            .header(AUTHORIZATION, &auth)
            .header(name, "admin")
            .header(name, "root");
        let res = send(gw, req).await;
        assert_eq!(res.status(), StatusCode::OK, "{name}");
        let seen: Value = serde_json::from_slice(res.body()).unwrap();
        assert_eq!(seen[SUBJECT_HEADER], json!(["alice"]), "{name}: {seen}");
        for key in seen.as_object().unwrap().keys() {
            assert!(
                key == SUBJECT_HEADER || key.replace('_', "-") != SUBJECT_HEADER,
                "{name}: {key} reached the upstream"
            );
        }
    }
    // `Connection: x-portcullis-subject` (asking the gateway to drop a header as
    // hop-by-hop) must not remove the identity the gateway adds.
    let req = Request::builder()
        .header(AUTHORIZATION, &auth)
        .header(http::header::CONNECTION, "keep-alive, x-portcullis-subject");
    let seen: Value = serde_json::from_slice(send(gw, req).await.body()).unwrap();
    assert_eq!(seen[SUBJECT_HEADER], json!(["alice"]), "{seen}");

    // Without a token, the smuggled header gets nowhere: 401 and the upstream is not called.
    let before = up.hits.load(Ordering::SeqCst);
    let req = Request::builder().header(SUBJECT_HEADER, "admin");
    assert_eq!(send(gw, req).await.status(), StatusCode::UNAUTHORIZED);
    let req = Request::builder()
        .header(AUTHORIZATION, "Bearer not.a.token")
        .header(SUBJECT_HEADER, "admin");
    assert_eq!(send(gw, req).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(up.hits.load(Ordering::SeqCst), before);

    // A valid token without `sub`: the smuggled value is stripped and nothing replaces it.
    let mut c = up.issuer.claims("x", AUD);
    c.as_object_mut().unwrap().remove("sub");
    let req = Request::builder()
        .header(AUTHORIZATION, format!("Bearer {}", up.issuer.sign(&c)))
        .header(SUBJECT_HEADER, "admin");
    let res = send(gw, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    let seen: Value = serde_json::from_slice(res.body()).unwrap();
    assert!(seen.get(SUBJECT_HEADER).is_none(), "{seen}");

    // Raw spellings no client library sends: obsolete line folding, a space before the
    // colon. hyper refuses them (400) or the header is stripped; never "admin" upstream.
    for raw_header in [
        format!("{SUBJECT_HEADER}: alice\r\n admin"),
        format!("{SUBJECT_HEADER} : admin"),
        format!("{SUBJECT_HEADER}:admin\r\n{SUBJECT_HEADER}:root"),
    ] {
        let req = format!(
            "GET /api/orders HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: {auth}\r\n{raw_header}\r\n\r\n"
        );
        let answer = raw_response(gw, req.as_bytes()).await;
        let code = answer.split(' ').nth(1).unwrap_or("");
        assert!(
            matches!(code, "" | "200" | "400"),
            "{raw_header:?}: {answer}"
        );
        assert!(
            !answer.contains("admin") && !answer.contains("root"),
            "{raw_header:?}: {answer}"
        );
    }
}
