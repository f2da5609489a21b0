use std::fmt;
use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use crate::credential::is_grpc;
use crate::rejection::Rejection;

/// What a [`ResponseForRejection`] may look at: the refused request's method, URI and headers.
#[derive(Clone, Copy, Debug)]
pub struct RejectionContext<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request URI.
    pub uri: &'a Uri,
    /// The request headers.
    pub headers: &'a HeaderMap,
}

impl<'a> RejectionContext<'a> {
    /// The context of `request`.
    pub fn from_request<B>(request: &'a Request<B>) -> Self {
        Self {
            method: request.method(),
            uri: request.uri(),
            headers: request.headers(),
        }
    }
}

/// Turns a [`Rejection`] into the response the client gets.
///
/// Every portcullis layer takes one (default: [`DefaultRejectionResponse`]); replace it to
/// render your own error pages or JSON bodies. The layer adds the `Rejection` to the
/// response's extensions after calling this, so implementations need not.
pub trait ResponseForRejection<B>: Clone + Send + Sync + 'static {
    /// The response for `rejection` of the request described by `cx`.
    fn response(&self, cx: &RejectionContext<'_>, rejection: Rejection) -> Response<B>;
}

impl<B, F> ResponseForRejection<B> for F
where
    F: Fn(&RejectionContext<'_>, Rejection) -> Response<B> + Clone + Send + Sync + 'static,
{
    fn response(&self, cx: &RejectionContext<'_>, rejection: Rejection) -> Response<B> {
        self(cx, rejection)
    }
}

/// The default rejection responses.
///
/// * HTTP: the rejection's status; for 401 a `WWW-Authenticate: Bearer` challenge following
///   RFC 6750 (a bare challenge with only the realm when no credential was sent, otherwise
///   `error` and `error_description`), for 403 `error="insufficient_scope"` with the required
///   `scope`, for 400 `error="invalid_request"`, for 503 a `Retry-After`. Empty body.
/// * gRPC (`content-type: application/grpc*`): HTTP 200 with `grpc-status` (16
///   UNAUTHENTICATED, 7 PERMISSION_DENIED, 14 UNAVAILABLE, ...) and a percent-encoded
///   `grpc-message`, as a trailers-only response.
/// * Browser page requests (`GET`/`HEAD` accepting `text/html`, without an `Authorization`
///   header), when a login URL is configured: a `303 See Other` to the login URL instead of
///   a 401, optionally with the original path and query in a `return_to` parameter.
#[derive(Clone, Default)]
pub struct DefaultRejectionResponse {
    realm: Option<Arc<str>>,
    login_url: Option<Arc<str>>,
    return_to_param: Option<Arc<str>>,
}

impl fmt::Debug for DefaultRejectionResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DefaultRejectionResponse")
            .field("realm", &self.realm)
            .field("login_url", &self.login_url)
            .field("return_to_param", &self.return_to_param)
            .finish()
    }
}

/// Characters kept out of quoted strings in `WWW-Authenticate` (RFC 6750 §3: `"` and `\`
/// and anything outside printable ASCII).
fn sanitize_quoted(value: &str, allow_space: bool) -> String {
    value
        .chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            ' ' if allow_space => ' ',
            c if c.is_ascii_graphic() => c,
            _ => ' ',
        })
        .collect()
}

/// gRPC `grpc-message` encoding: percent-encode outside 0x20..=0x7E and `%` itself.
const GRPC_MESSAGE: &AsciiSet = &CONTROLS.add(b'%');

/// Query-component encoding for the `return_to` parameter.
const QUERY_COMPONENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'<')
    .add(b'=')
    .add(b'>')
    .add(b'?');

impl DefaultRejectionResponse {
    /// The defaults: no realm, no login redirect.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `realm="..."` to every `WWW-Authenticate` challenge.
    #[must_use]
    pub fn with_realm(mut self, realm: impl AsRef<str>) -> Self {
        self.realm = Some(Arc::from(sanitize_quoted(realm.as_ref(), true)));
        self
    }

    /// Sends browser page requests that are not authenticated to `login_url` (303) instead of
    /// answering 401. API and gRPC requests still get 401.
    #[must_use]
    pub fn with_login_redirect(mut self, login_url: impl AsRef<str>) -> Self {
        self.login_url = Some(Arc::from(login_url.as_ref()));
        self
    }

    /// With a login redirect, appends the refused request's path and query to the login URL as
    /// this query parameter (e.g. `return_to`), so the login flow can come back to it.
    #[must_use]
    pub fn with_return_to_param(mut self, name: impl AsRef<str>) -> Self {
        self.return_to_param = Some(Arc::from(name.as_ref()));
        self
    }

    fn is_browser_page(cx: &RejectionContext<'_>) -> bool {
        if !(cx.method == Method::GET || cx.method == Method::HEAD) {
            return false;
        }
        if cx.headers.contains_key(header::AUTHORIZATION) {
            return false;
        }
        cx.headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains("text/html"))
    }

    fn challenge(&self, rejection: &Rejection) -> Option<HeaderValue> {
        let mut params: Vec<String> = Vec::with_capacity(4);
        if let Some(realm) = &self.realm {
            params.push(format!("realm=\"{realm}\""));
        }
        match rejection.kind().bearer_error() {
            None if rejection.status() != StatusCode::UNAUTHORIZED => return None,
            None => {}
            Some(error) => {
                params.push(format!("error=\"{error}\""));
                let description = sanitize_quoted(rejection.description(), true);
                if !description.is_empty() {
                    params.push(format!("error_description=\"{description}\""));
                }
                if let Some(scope) = rejection.required_scope() {
                    params.push(format!("scope=\"{}\"", sanitize_quoted(scope, true)));
                }
            }
        }
        let value = if params.is_empty() {
            "Bearer".to_owned()
        } else {
            format!("Bearer {}", params.join(", "))
        };
        HeaderValue::from_str(&value).ok()
    }

    fn grpc<B: Default>(rejection: &Rejection) -> Response<B> {
        let mut response = Response::new(B::default());
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        headers.insert(
            "grpc-status",
            HeaderValue::from(u16::from(rejection.kind().grpc_status())),
        );
        let message = utf8_percent_encode(rejection.description(), GRPC_MESSAGE).to_string();
        if let Ok(message) = HeaderValue::from_str(&message) {
            headers.insert("grpc-message", message);
        }
        response
    }

    fn redirect<B: Default>(
        &self,
        login_url: &str,
        cx: &RejectionContext<'_>,
    ) -> Option<Response<B>> {
        let mut location = login_url.to_owned();
        if let Some(param) = &self.return_to_param {
            let path = cx.uri.path_and_query().map_or("/", |pq| pq.as_str());
            location.push(if location.contains('?') { '&' } else { '?' });
            location.push_str(param);
            location.push('=');
            location.push_str(&utf8_percent_encode(path, QUERY_COMPONENT).to_string());
        }
        let location = HeaderValue::from_str(&location).ok()?;
        let mut response = Response::new(B::default());
        *response.status_mut() = StatusCode::SEE_OTHER;
        response.headers_mut().insert(header::LOCATION, location);
        Some(response)
    }
}

impl<B: Default> ResponseForRejection<B> for DefaultRejectionResponse {
    fn response(&self, cx: &RejectionContext<'_>, rejection: Rejection) -> Response<B> {
        if is_grpc(cx.headers) {
            return Self::grpc(&rejection);
        }
        if rejection.kind().is_unauthenticated()
            && let Some(login_url) = &self.login_url
            && Self::is_browser_page(cx)
            && let Some(response) = self.redirect(login_url, cx)
        {
            return response;
        }
        let mut response = Response::new(B::default());
        *response.status_mut() = rejection.status();
        if let Some(challenge) = self.challenge(&rejection) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        if let Some(retry_after) = rejection.retry_after() {
            let secs = retry_after.as_secs().max(1);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests;
