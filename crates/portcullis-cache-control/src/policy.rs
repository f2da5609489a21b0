use std::fmt;
use std::sync::Arc;

use http::{HeaderMap, Method, StatusCode, Uri};

/// What a [`Sensitive::when`] predicate sees of a request and its response.
#[derive(Debug)]
#[non_exhaustive]
pub struct ResponseInfo<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request URI.
    pub uri: &'a Uri,
    /// Whether the request carried a `Cookie` or an `Authorization` header.
    pub request_had_credentials: bool,
    /// The response status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: &'a HeaderMap,
}

type Predicate = dyn Fn(&ResponseInfo<'_>) -> bool + Send + Sync;

/// Which responses the layer treats as sensitive. Responses with `Set-Cookie` always are.
///
/// ```
/// use portcullis_cache_control::Sensitive;
///
/// let only_api = Sensitive::when(|info| info.uri.path().starts_with("/api/"));
/// # let _ = (Sensitive::all(), Sensitive::credentialed(), Sensitive::set_cookie(), only_api);
/// ```
#[derive(Clone)]
pub struct Sensitive(pub(crate) Kind);

#[derive(Clone)]
pub(crate) enum Kind {
    All,
    Credentialed,
    SetCookie,
    Predicate(Arc<Predicate>),
}

impl Sensitive {
    /// Every response (the default: the safe choice when the layer wraps authenticated routes).
    pub fn all() -> Self {
        Self(Kind::All)
    }

    /// Responses to requests that carried a `Cookie` or `Authorization` header.
    pub fn credentialed() -> Self {
        Self(Kind::Credentialed)
    }

    /// Only responses that carry `Set-Cookie`.
    pub fn set_cookie() -> Self {
        Self(Kind::SetCookie)
    }

    /// Responses for which `predicate` is true.
    pub fn when<F>(predicate: F) -> Self
    where
        F: Fn(&ResponseInfo<'_>) -> bool + Send + Sync + 'static,
    {
        Self(Kind::Predicate(Arc::new(predicate)))
    }
}

impl Default for Sensitive {
    fn default() -> Self {
        Self::all()
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Kind::All => "Sensitive::all",
            Kind::Credentialed => "Sensitive::credentialed",
            Kind::SetCookie => "Sensitive::set_cookie",
            Kind::Predicate(_) => "Sensitive::when(..)",
        })
    }
}
