//! A small API gateway built from the portcullis layers: a reverse proxy in front of one
//! upstream that validates bearer tokens, applies per-route scope policies, forwards the
//! validated subject to the upstream in `x-portcullis-subject`, and strips any such header the
//! client sent (including `_` spellings some servers fold into `-`).
//!
//! ```sh
//! cargo run --example gateway -- --listen 127.0.0.1:8080 --upstream http://127.0.0.1:9000 \
//!     --issuer https://login.example.com --audience api://orders \
//!     --policy 'GET /orders=scope:orders:read' --policy 'POST /orders=scope:orders:write'
//! ```
//!
//! Options: `--jwks-uri URL` (skip discovery), repeatable `--policy 'METHOD PATH_PREFIX=scope:NAME'`
//! (`*` for any method; the longest matching prefix wins; routes without a policy need a valid
//! token only), `--redis URL` (hear "log out everywhere" and token revocations from the apps),
//! `--insecure-allow-http-loopback` (a plain-HTTP issuer on 127.0.0.1, for tests and local
//! development only), `--upstream-timeout SECS` (default 30).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use portcullis::core::client::AddPeerAddrLayer;
use portcullis::core::{
    DefaultRejectionResponse, Rejection, RejectionContext, ResponseForRejection,
};
use portcullis::jwt::{JwksCache, JwtLayer, StandardClaims, Validator};
use portcullis::session::revocation::{FnListener, Revocation, RevocationEvent};

use tokio::net::TcpListener;
use tower::{Service, ServiceBuilder};

/// The header carrying the validated subject to the upstream.
pub const SUBJECT_HEADER: &str = "x-portcullis-subject";

type Body = BoxBody<Bytes, hyper::Error>;

/// The gateway's command line.
#[derive(Clone, Debug)]
pub struct Args {
    pub listen: SocketAddr,
    pub upstream: Uri,
    pub issuer: String,
    pub audience: String,
    pub jwks_uri: Option<String>,
    pub policies: Vec<RoutePolicy>,
    pub redis: Option<String>,
    pub insecure_allow_http_loopback: bool,
    pub upstream_timeout: Duration,
}

/// `METHOD PATH_PREFIX=scope:NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutePolicy {
    pub method: Option<Method>,
    pub prefix: String,
    pub scope: String,
}

impl RoutePolicy {
    pub fn parse(spec: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "--policy {spec:?}: expected 'METHOD PATH_PREFIX=scope:NAME', e.g. 'GET /orders=scope:orders:read'"
            )
        };
        let (route, requirement) = spec.split_once('=').ok_or_else(bad)?;
        let (method, prefix) = route.trim().split_once(' ').ok_or_else(bad)?;
        let scope = requirement.trim().strip_prefix("scope:").ok_or_else(bad)?;
        let prefix = prefix.trim();
        if !prefix.starts_with('/') || scope.is_empty() || scope.contains(char::is_whitespace) {
            return Err(bad());
        }
        let method = match method.trim() {
            "*" => None,
            m => Some(Method::from_bytes(m.as_bytes()).map_err(|_| bad())?),
        };
        Ok(Self {
            method,
            prefix: prefix.to_owned(),
            scope: scope.to_owned(),
        })
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        self.method.as_ref().is_none_or(|m| m == method)
            && path.starts_with(&self.prefix)
            && (path.len() == self.prefix.len()
                || self.prefix.ends_with('/')
                || path.as_bytes().get(self.prefix.len()) == Some(&b'/'))
    }
}

pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut it = args.into_iter();
    let (mut listen, mut upstream, mut issuer, mut audience) = (None, None, None, None);
    let mut parsed = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        upstream: Uri::from_static("http://127.0.0.1"),
        issuer: String::new(),
        audience: String::new(),
        jwks_uri: None,
        policies: Vec::new(),
        redis: None,
        insecure_allow_http_loopback: false,
        upstream_timeout: Duration::from_secs(30),
    };
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => {
                listen = Some(
                    value()?
                        .parse()
                        .map_err(|_| "--listen: expected IP:PORT".to_owned())?,
                )
            }
            "--upstream" => upstream = Some(value()?),
            "--issuer" => issuer = Some(value()?),
            "--audience" => audience = Some(value()?),
            "--jwks-uri" => parsed.jwks_uri = Some(value()?),
            "--policy" => parsed.policies.push(RoutePolicy::parse(&value()?)?),
            "--redis" => parsed.redis = Some(value()?),
            "--upstream-timeout" => {
                let secs: u64 = value()?
                    .parse()
                    .map_err(|_| "--upstream-timeout: seconds".to_owned())?;
                parsed.upstream_timeout = Duration::from_secs(secs.max(1));
            }
            "--insecure-allow-http-loopback" => parsed.insecure_allow_http_loopback = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    parsed.listen = listen.ok_or("--listen is required")?;
    let upstream = upstream.ok_or("--upstream is required")?;
    parsed.upstream = upstream
        .parse::<Uri>()
        .ok()
        .filter(|u| u.scheme_str() == Some("http") && u.authority().is_some())
        .ok_or_else(|| format!("--upstream {upstream:?}: expected http://HOST:PORT"))?;
    parsed.issuer = issuer.ok_or("--issuer is required")?;
    parsed.audience = audience.ok_or("--audience is required")?;
    Ok(parsed)
}

/// The proxy: policy check, header hygiene, forward, answer.
#[derive(Clone)]
struct Proxy {
    client: Client<HttpConnector, Incoming>,
    upstream: Uri,
    policies: Arc<[RoutePolicy]>,
    rejection: DefaultRejectionResponse,
    timeout: Duration,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) are never forwarded.
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Whether `name` is the subject header in any spelling an upstream might fold into it.
fn is_subject_header(name: &HeaderName) -> bool {
    let name = name.as_str();
    name.len() == SUBJECT_HEADER.len()
        && name
            .bytes()
            .zip(SUBJECT_HEADER.bytes())
            .all(|(a, b)| a.to_ascii_lowercase() == b || (a == b'_' && b == b'-'))
}

fn strip(headers: &mut http::HeaderMap) {
    let mut remove: Vec<HeaderName> = headers
        .keys()
        .filter(|n| is_subject_header(n))
        .cloned()
        .collect();
    // Headers named in `Connection` are hop-by-hop too.
    for value in headers.get_all(header::CONNECTION) {
        if let Ok(v) = value.to_str() {
            remove.extend(
                v.split(',')
                    .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok()),
            );
        }
    }
    remove.extend(HOP_BY_HOP);
    remove.push(HeaderName::from_static("keep-alive"));
    for name in remove {
        headers.remove(name);
    }
}

fn empty(status: StatusCode) -> Response<Body> {
    let mut res = Response::new(Body::default());
    *res.status_mut() = status;
    res
}

impl Service<Request<Incoming>> for Proxy {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Incoming>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            // JwtLayer ran before: these are validated claims.
            let Some(claims) = req.extensions().get::<StandardClaims>().cloned() else {
                let cx = RejectionContext::from_request(&req);
                return Ok(this
                    .rejection
                    .response(&cx, Rejection::missing_credentials()));
            };
            let path = req.uri().path();
            let policy = this
                .policies
                .iter()
                .filter(|p| p.matches(req.method(), path))
                .max_by_key(|p| p.prefix.len());
            if let Some(policy) = policy
                && !claims.has_scope(&policy.scope)
            {
                tracing::info!(scope = %policy.scope, path, "gateway: insufficient scope");
                let cx = RejectionContext::from_request(&req);
                let mut res = this
                    .rejection
                    .response(&cx, Rejection::insufficient_scope(&policy.scope));
                res.extensions_mut()
                    .insert(Rejection::insufficient_scope(&policy.scope));
                return Ok(res);
            }
            // Header hygiene: no client-supplied identity, no hop-by-hop headers.
            strip(req.headers_mut());
            if let Some(subject) = claims.subject().and_then(|s| HeaderValue::from_str(s).ok()) {
                req.headers_mut().insert(SUBJECT_HEADER, subject);
            }
            let mut parts = this.upstream.clone().into_parts();
            parts.path_and_query = req.uri().path_and_query().cloned();
            let Ok(uri) = Uri::from_parts(parts) else {
                return Ok(empty(StatusCode::BAD_REQUEST));
            };
            *req.uri_mut() = uri;
            req.headers_mut().remove(header::HOST);
            match tokio::time::timeout(this.timeout, this.client.request(req)).await {
                Ok(Ok(res)) => {
                    let (mut parts, body) = res.into_parts();
                    strip(&mut parts.headers);
                    Ok(Response::from_parts(parts, body.boxed()))
                }
                Ok(Err(err)) => {
                    tracing::warn!(%err, "gateway: upstream unreachable");
                    Ok(empty(StatusCode::BAD_GATEWAY))
                }
                Err(_) => Ok(empty(StatusCode::GATEWAY_TIMEOUT)),
            }
        })
    }
}

/// Builds the validator and serves the gateway on `listener` until the process ends.
pub async fn serve(
    args: Args,
    listener: TcpListener,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut jwks = JwksCache::builder();
    jwks = match &args.jwks_uri {
        Some(uri) => jwks.add_issuer_with_jwks_uri(&args.issuer, uri),
        None => jwks.add_issuer(&args.issuer),
    };
    if args.insecure_allow_http_loopback {
        jwks = jwks.insecure_allow_http_loopback();
    }
    let validator = Validator::builder(jwks.build()?)
        .with_audience(&args.audience)
        .build()?;

    // Revocations published by the apps (logout everywhere, revoked tokens) reach the
    // gateway's validated-token cache at once; the subscriber lives as long as `serve`.
    let _revocation = match &args.redis {
        Some(url) => {
            let store = portcullis_redis::RedisStore::builder(url).build()?;
            let revocation = store.revocation();
            let cache = validator.clone();
            revocation.subscribe(Arc::new(FnListener::new(
                move |event: &RevocationEvent| match event {
                    RevocationEvent::Subject(s) => cache.revoke_subject(s),
                    RevocationEvent::Jti(j) => cache.revoke_jti(j),
                    RevocationEvent::Sid(s) => cache.revoke_sid(s),
                    _ => {}
                },
            )));
            Some(revocation)
        }
        None => None,
    };

    let rejection = DefaultRejectionResponse::new().with_realm("gateway");
    let proxy = Proxy {
        client: Client::builder(TokioExecutor::new()).build_http(),
        upstream: args.upstream.clone(),
        policies: args.policies.clone().into(),
        rejection: rejection.clone(),
        timeout: args.upstream_timeout,
    };
    let jwt = JwtLayer::new(validator).with_rejection(rejection);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(err) => {
                tracing::warn!(%err, "gateway: accept failed");
                continue;
            }
        };
        let svc = ServiceBuilder::new()
            .layer(AddPeerAddrLayer::new(peer))
            .layer(jwt.clone())
            .service(proxy.clone());
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
            if let Err(err) = conn.await {
                tracing::debug!(%err, "gateway: connection closed with an error");
            }
        });
    }
}

#[tokio::main]
async fn main() {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(err) => {
            eprintln!(
                "gateway: {err}\n\nusage: gateway --listen ADDR --upstream URL --issuer URL --audience AUD [--jwks-uri URL] [--policy 'METHOD PATH_PREFIX=scope:NAME']... [--redis URL] [--insecure-allow-http-loopback] [--upstream-timeout SECS]"
            );
            std::process::exit(2);
        }
    };
    let listener = match TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(err) => {
            eprintln!("gateway: cannot listen on {}: {err}", args.listen);
            std::process::exit(1);
        }
    };
    println!("gateway on http://{} → {}", args.listen, args.upstream);
    if let Err(err) = serve(args, listener).await {
        eprintln!("gateway: {err}");
        std::process::exit(1);
    }
}
