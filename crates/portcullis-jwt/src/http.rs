//! The pluggable HTTP client used to fetch discovery documents and JWKS.
//!
//! [`HttpClient`] is a small object-safe trait: one buffered request in, one buffered
//! response out. [`DefaultHttpClient`] implements it on hyper with a request timeout, a
//! response-size limit, and HTTPS only (plain `http://` is refused unless the target is a
//! loopback address *and* [`DefaultHttpClientBuilder::insecure_allow_http_loopback`] was set).
//!
//! The session crate reuses the same trait for token-endpoint and revocation calls.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The future an [`HttpClient`] returns.
pub type HttpFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + 'a>>;

/// A minimal HTTP client: sends one request with a buffered body and returns the response
/// with its body buffered.
///
/// Implementations must bound the time and the response size themselves; the default
/// client does. Non-2xx statuses are returned as responses, not as errors: callers decide.
pub trait HttpClient: Send + Sync + 'static {
    /// Sends `request`.
    fn execute(
        &self,
        request: Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + '_>>;
}

impl<T: HttpClient + ?Sized> HttpClient for Arc<T> {
    fn execute(&self, request: Request<Bytes>) -> HttpFuture<'_> {
        (**self).execute(request)
    }
}

impl<T: HttpClient + ?Sized> HttpClient for Box<T> {
    fn execute(&self, request: Request<Bytes>) -> HttpFuture<'_> {
        (**self).execute(request)
    }
}

/// What went wrong with an HTTP exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HttpErrorKind {
    /// The request (connect, send, and reading the whole body) took longer than allowed.
    Timeout,
    /// The response body is larger than allowed.
    TooLarge,
    /// The connection could not be made or broke.
    Connect,
    /// The server answered with a status the caller did not accept.
    Status,
    /// The URL is not allowed (plain HTTP, no host, unsupported scheme).
    InsecureUrl,
    /// The response could not be parsed (e.g. invalid JSON).
    InvalidResponse,
    /// Anything else.
    Other,
}

impl HttpErrorKind {
    /// A stable lower-case label for logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::TooLarge => "too_large",
            Self::Connect => "connect",
            Self::Status => "status",
            Self::InsecureUrl => "insecure_url",
            Self::InvalidResponse => "invalid_response",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for HttpErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An HTTP client error. Opaque: inspect it with [`HttpError::kind`] and
/// [`HttpError::status`].
#[derive(Clone)]
pub struct HttpError {
    kind: HttpErrorKind,
    message: Arc<str>,
    status: Option<http::StatusCode>,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl HttpError {
    /// An error of `kind` with a message (which must not contain secrets).
    pub fn new(kind: HttpErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: Arc::from(message.into()),
            status: None,
            source: None,
        }
    }

    /// A `Status` error for an unexpected response status.
    pub fn status_error(status: http::StatusCode) -> Self {
        Self {
            status: Some(status),
            ..Self::new(HttpErrorKind::Status, format!("unexpected status {status}"))
        }
    }

    /// Attaches the underlying cause.
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> HttpErrorKind {
        self.kind
    }

    /// The response status, for [`HttpErrorKind::Status`].
    pub fn status(&self) -> Option<http::StatusCode> {
        self.status
    }

    /// Whether this is a timeout.
    pub fn is_timeout(&self) -> bool {
        self.kind == HttpErrorKind::Timeout
    }
}

impl fmt::Debug for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpError")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("status", &self.status)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http {}: {}", self.kind, self.message)
    }
}

impl std::error::Error for HttpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Default request timeout of [`DefaultHttpClient`]: 10 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default response-body limit of [`DefaultHttpClient`]: 1 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;

#[cfg(feature = "https")]
type Connector = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;
#[cfg(not(feature = "https"))]
type Connector = hyper_util::client::legacy::connect::HttpConnector;

/// The default [`HttpClient`]: hyper, HTTPS via rustls (feature `https`, on by default),
/// a whole-request timeout and a response-size limit.
///
/// Plain `http://` URLs are refused, except to a loopback address when
/// [`DefaultHttpClientBuilder::insecure_allow_http_loopback`] is set (tests, local
/// development). Without the `https` feature only that loopback case can work.
///
/// Needs a Tokio runtime when used.
///
/// ```
/// use std::time::Duration;
/// use portcullis_jwt::http::DefaultHttpClient;
///
/// let client = DefaultHttpClient::builder()
///     .with_timeout(Duration::from_secs(5))
///     .with_max_response_bytes(256 * 1024)
///     .build();
/// # drop(client);
/// ```
#[derive(Clone)]
pub struct DefaultHttpClient {
    client: Client<Connector, Full<Bytes>>,
    timeout: Duration,
    max_response_bytes: usize,
    allow_http_loopback: bool,
}

impl fmt::Debug for DefaultHttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DefaultHttpClient")
            .field("timeout", &self.timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("allow_http_loopback", &self.allow_http_loopback)
            .finish_non_exhaustive()
    }
}

/// Builds a [`DefaultHttpClient`].
#[derive(Clone, Debug)]
#[must_use]
pub struct DefaultHttpClientBuilder {
    timeout: Duration,
    connect_timeout: Duration,
    max_response_bytes: usize,
    allow_http_loopback: bool,
}

impl Default for DefaultHttpClientBuilder {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: Duration::from_secs(5),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            allow_http_loopback: false,
        }
    }
}

impl DefaultHttpClientBuilder {
    /// The whole-request timeout (connect, send, read the whole body). Default 10 s.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The TCP connect timeout. Default 5 s (the request timeout still applies).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The largest response body accepted. Default 1 MiB.
    pub fn with_max_response_bytes(mut self, max: usize) -> Self {
        self.max_response_bytes = max;
        self
    }

    /// Allows plain `http://` to loopback addresses given as IP literals
    /// (`127.0.0.0/8`, `[::1]`; not the name `localhost`, which goes through the resolver).
    /// Never allows plain HTTP to any other host. For tests and local development only.
    pub fn insecure_allow_http_loopback(mut self) -> Self {
        self.allow_http_loopback = true;
        self
    }

    /// Builds the client.
    pub fn build(self) -> DefaultHttpClient {
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.set_connect_timeout(Some(self.connect_timeout));
        http.set_nodelay(true);
        #[cfg(feature = "https")]
        let connector = {
            http.enforce_http(false);
            let builder = hyper_rustls::HttpsConnectorBuilder::new();
            #[cfg(feature = "native-roots")]
            let builder = match builder.with_native_roots() {
                Ok(b) => b,
                Err(error) => {
                    tracing::warn!(%error, "no native root certificates; using webpki roots");
                    hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots()
                }
            };
            #[cfg(not(feature = "native-roots"))]
            let builder = builder.with_webpki_roots();
            builder
                .https_or_http()
                .enable_http1()
                .enable_http2()
                .wrap_connector(http)
        };
        #[cfg(not(feature = "https"))]
        let connector = http;
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        DefaultHttpClient {
            client,
            timeout: self.timeout,
            max_response_bytes: self.max_response_bytes,
            allow_http_loopback: self.allow_http_loopback,
        }
    }
}

impl Default for DefaultHttpClient {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl DefaultHttpClient {
    /// A client with the defaults (10 s timeout, 1 MiB limit, HTTPS only).
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder with the defaults.
    pub fn builder() -> DefaultHttpClientBuilder {
        DefaultHttpClientBuilder::default()
    }

    /// The request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The response-body limit.
    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }

    async fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        check_url(request.uri(), self.allow_http_loopback)?;
        let (parts, body) = request.into_parts();
        let request = Request::from_parts(parts, Full::new(body));
        let response = self.client.request(request).await.map_err(|e| {
            let kind = if e.is_connect() {
                HttpErrorKind::Connect
            } else {
                HttpErrorKind::Other
            };
            HttpError::new(kind, "request failed").with_source(e)
        })?;
        let (parts, body) = response.into_parts();
        if let Some(len) = http_body::Body::size_hint(&body).exact()
            && usize::try_from(len).map_or(true, |len| len > self.max_response_bytes)
        {
            return Err(too_large(self.max_response_bytes));
        }
        let body = Limited::new(body, self.max_response_bytes)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    too_large(self.max_response_bytes)
                } else {
                    HttpError::new(HttpErrorKind::Connect, "reading the response body failed")
                }
            })?
            .to_bytes();
        Ok(Response::from_parts(parts, body))
    }
}

fn too_large(max: usize) -> HttpError {
    HttpError::new(
        HttpErrorKind::TooLarge,
        format!("response body larger than {max} bytes"),
    )
}

impl HttpClient for DefaultHttpClient {
    fn execute(&self, request: Request<Bytes>) -> HttpFuture<'_> {
        Box::pin(async move {
            match tokio::time::timeout(self.timeout, self.send(request)).await {
                Ok(result) => result,
                Err(_) => Err(HttpError::new(
                    HttpErrorKind::Timeout,
                    format!("no complete response within {:?}", self.timeout),
                )),
            }
        })
    }
}

/// Checks that `uri` may be fetched: `https://` with a host, or `http://` to a loopback
/// address when `allow_http_loopback` is set.
///
/// ```
/// use portcullis_jwt::http::check_url;
///
/// assert!(check_url(&"https://idp.example/jwks".parse().unwrap(), false).is_ok());
/// assert!(check_url(&"http://idp.example/jwks".parse().unwrap(), true).is_err());
/// assert!(check_url(&"http://127.0.0.1:8080/jwks".parse().unwrap(), false).is_err());
/// assert!(check_url(&"http://127.0.0.1:8080/jwks".parse().unwrap(), true).is_ok());
/// ```
pub fn check_url(uri: &Uri, allow_http_loopback: bool) -> Result<(), HttpError> {
    let Some(host) = uri.host().filter(|h| !h.is_empty()) else {
        return Err(HttpError::new(
            HttpErrorKind::InsecureUrl,
            "URL has no host",
        ));
    };
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("https") => Ok(()),
        Some(s) if s.eq_ignore_ascii_case("http") => {
            if allow_http_loopback && is_loopback_host(host) {
                Ok(())
            } else if is_loopback_host(host) {
                Err(HttpError::new(
                    HttpErrorKind::InsecureUrl,
                    "plain http to loopback needs insecure_allow_http_loopback()",
                ))
            } else {
                Err(HttpError::new(
                    HttpErrorKind::InsecureUrl,
                    "plain http is only allowed to loopback addresses",
                ))
            }
        }
        _ => Err(HttpError::new(
            HttpErrorKind::InsecureUrl,
            "only https URLs are allowed",
        )),
    }
}

fn is_loopback_host(host: &str) -> bool {
    let trimmed = host.trim_start_matches('[').trim_end_matches(']');
    // Only IP literals: a name such as `localhost` goes through the resolver, which this
    // check cannot vouch for.
    trimmed.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests;
