use http::HeaderValue;
use portcullis_core::ConfigError;

/// The `Cache-Control` value put on sensitive responses.
///
/// ```
/// use portcullis_cache_control::CacheDirective;
///
/// assert_eq!(CacheDirective::no_store().value(), "no-store");
/// assert_eq!(
///     CacheDirective::private_no_cache_set_cookie().value(),
///     r#"private, no-cache="Set-Cookie, Set-Cookie2""#
/// );
/// let custom = CacheDirective::custom("private, max-age=60").unwrap();
/// assert!(custom.keeps_cookies_out_of_shared_caches());
/// assert!(CacheDirective::custom("bad\nvalue").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheDirective {
    value: HeaderValue,
    protects_cookies: bool,
}

impl CacheDirective {
    /// `no-store`: no cache keeps any part of the response (the default).
    pub fn no_store() -> Self {
        Self {
            value: HeaderValue::from_static("no-store"),
            protects_cookies: true,
        }
    }

    /// `private, no-cache="Set-Cookie, Set-Cookie2"`: the browser may cache the response,
    /// shared caches may not, and no cache reuses the cookie headers.
    pub fn private_no_cache_set_cookie() -> Self {
        Self {
            value: HeaderValue::from_static(r#"private, no-cache="Set-Cookie, Set-Cookie2""#),
            protects_cookies: true,
        }
    }

    /// Any other value, e.g. `no-cache, no-store, must-revalidate`.
    ///
    /// # Errors
    ///
    /// A value that is empty or not a valid header value.
    pub fn custom(value: impl AsRef<str>) -> Result<Self, ConfigError> {
        let value = value.as_ref().trim();
        if value.is_empty() {
            return Err(ConfigError::new(
                "cache_control.directive",
                "the Cache-Control value is empty; use CacheDirective::no_store()",
            ));
        }
        let header = HeaderValue::from_str(value).map_err(|_| {
            ConfigError::new(
                "cache_control.directive",
                "the Cache-Control value holds characters not allowed in a header",
            )
        })?;
        Ok(Self {
            protects_cookies: protects_set_cookie(&header),
            value: header,
        })
    }

    /// The header value.
    pub fn value(&self) -> &HeaderValue {
        &self.value
    }

    /// Whether this directive keeps a `Set-Cookie` out of shared caches (`no-store`,
    /// `private`, or `no-cache="Set-Cookie"`).
    pub fn keeps_cookies_out_of_shared_caches(&self) -> bool {
        self.protects_cookies
    }
}

impl Default for CacheDirective {
    fn default() -> Self {
        Self::no_store()
    }
}

/// Whether a `Cache-Control` value keeps `Set-Cookie` out of shared caches: it has `no-store`,
/// an unqualified `private`, or a `no-cache` qualified with `Set-Cookie`.
pub(crate) fn protects_set_cookie(value: &HeaderValue) -> bool {
    let Ok(value) = value.to_str() else {
        return false;
    };
    let lower = value.to_ascii_lowercase();
    let mut rest = lower.as_str();
    while !rest.is_empty() {
        // Split off one directive, honouring quoted strings (which may hold commas).
        let mut in_quotes = false;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                if c == '"' {
                    in_quotes = !in_quotes;
                }
                c == ',' && !in_quotes
            })
            .map_or(rest.len(), |(i, _)| i);
        let (directive, tail) = rest.split_at(end);
        rest = tail.strip_prefix(',').unwrap_or(tail);
        let directive = directive.trim();
        let (name, arg) = match directive.split_once('=') {
            Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
            None => (directive, None),
        };
        match (name, arg) {
            ("no-store", _) | ("private", None) => return true,
            ("no-cache", Some(fields)) if fields.split(',').any(|f| f.trim() == "set-cookie") => {
                return true;
            }
            _ => {}
        }
    }
    false
}
