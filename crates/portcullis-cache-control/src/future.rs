use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::header::{CACHE_CONTROL, PRAGMA, SET_COOKIE, VARY};
use http::{HeaderMap, HeaderValue, Method, Response, Uri};
use pin_project_lite::pin_project;

use crate::directive::protects_set_cookie;
use crate::layer::Config;
use crate::policy::{Kind, ResponseInfo};

#[derive(Debug)]
pub(crate) enum Captured {
    Nothing,
    Credentials(bool),
    Request {
        method: Method,
        uri: Uri,
        credentials: bool,
    },
}

pin_project! {
    /// Response future of [`CacheControl`](crate::CacheControl).
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        config: Arc<Config>,
        captured: Captured,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, config: Arc<Config>, captured: Captured) -> Self {
        Self {
            inner,
            config,
            captured,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        apply(this.config, this.captured, &mut response);
        Poll::Ready(Ok(response))
    }
}

fn apply<B>(config: &Config, captured: &Captured, response: &mut Response<B>) {
    let has_set_cookie = response.headers().contains_key(SET_COOKIE);
    let sensitive = has_set_cookie
        || match (&config.sensitive.0, captured) {
            (Kind::All, _) => true,
            (Kind::SetCookie, _) => false,
            (Kind::Credentialed, Captured::Credentials(c)) => *c,
            (
                Kind::Predicate(predicate),
                Captured::Request {
                    method,
                    uri,
                    credentials,
                },
            ) => predicate(&ResponseInfo {
                method,
                uri,
                request_had_credentials: *credentials,
                status: response.status(),
                headers: response.headers(),
            }),
            // A policy/capture mismatch cannot happen; err on the safe side if it did.
            _ => true,
        };
    if !sensitive {
        return;
    }
    let headers = response.headers_mut();
    let set_ours = match headers.get(CACHE_CONTROL) {
        None => true,
        Some(_) if config.override_existing => true,
        Some(existing) if has_set_cookie && !protects_set_cookie(existing) => {
            tracing::warn!(
                cache_control = ?existing,
                "replacing a Cache-Control that would let a shared cache store Set-Cookie"
            );
            true
        }
        Some(_) => false,
    };
    if set_ours {
        let value = if has_set_cookie && !config.directive.keeps_cookies_out_of_shared_caches() {
            HeaderValue::from_static("no-store")
        } else {
            config.directive.value().clone()
        };
        headers.insert(CACHE_CONTROL, value);
        if config.pragma && !headers.contains_key(PRAGMA) {
            headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
        }
    }
    if config.vary {
        merge_vary(headers);
    }
}

const VARY_FIELDS: [&str; 2] = ["Cookie", "Authorization"];

/// Adds `Cookie` and `Authorization` to `Vary`, keeping every field already named there.
fn merge_vary(headers: &mut HeaderMap) {
    if !headers.contains_key(VARY) {
        headers.insert(VARY, HeaderValue::from_static("Cookie, Authorization"));
        return;
    }
    let mut fields: Vec<String> = Vec::new();
    for value in headers.get_all(VARY) {
        let Ok(value) = value.to_str() else {
            // Not visible ASCII: leave the header exactly as it is and add ours beside it.
            continue;
        };
        for field in value.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            if field == "*" {
                // `Vary: *` already makes every response unique.
                return;
            }
            if !fields.iter().any(|f| f.eq_ignore_ascii_case(field)) {
                fields.push(field.to_owned());
            }
        }
    }
    let missing: Vec<&str> = VARY_FIELDS
        .iter()
        .copied()
        .filter(|ours| !fields.iter().any(|f| f.eq_ignore_ascii_case(ours)))
        .collect();
    if missing.is_empty() {
        return;
    }
    let opaque: Vec<HeaderValue> = headers
        .get_all(VARY)
        .iter()
        .filter(|v| v.to_str().is_err())
        .cloned()
        .collect();
    fields.extend(missing.iter().map(|s| (*s).to_owned()));
    if let Ok(merged) = HeaderValue::from_str(&fields.join(", ")) {
        headers.insert(VARY, merged);
        for value in opaque {
            headers.append(VARY, value);
        }
    }
}
