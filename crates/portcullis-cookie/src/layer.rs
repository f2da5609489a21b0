use std::sync::Arc;

use tower_layer::Layer;

use crate::config::{CookieKeys, CookieSecurity};
use crate::jar::Shared;
use crate::service::CookieManager;

/// Default limit on the `Cookie` header bytes parsed per request (16 KiB).
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;
/// Default limit on the cookies parsed per request.
pub const DEFAULT_MAX_COOKIES: usize = 128;

/// Puts a [`Cookies`](crate::Cookies) jar into every request's extensions and writes the
/// changes back as `Set-Cookie` headers.
///
/// ```
/// use portcullis_cookie::{CookieLayer, CookieKeys, CookieSecurity, Key, SameSite};
///
/// let layer = CookieLayer::new()
///     .with_security(CookieSecurity::new().with_same_site(SameSite::Strict))
///     .with_keys(CookieKeys::new(Key::generate()))
///     .with_max_header_bytes(8 * 1024);
/// # let _ = layer;
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct CookieLayer {
    shared: Arc<Shared>,
}

impl Default for CookieLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl CookieLayer {
    /// A layer with the secure defaults, no key (plain cookies only), and the default parse
    /// limits.
    pub fn new() -> Self {
        Self {
            shared: Arc::new(Shared {
                security: CookieSecurity::default(),
                keys: None,
                max_bytes: DEFAULT_MAX_HEADER_BYTES,
                max_cookies: DEFAULT_MAX_COOKIES,
            }),
        }
    }

    fn update(mut self, f: impl FnOnce(&mut Shared)) -> Self {
        match Arc::get_mut(&mut self.shared) {
            Some(shared) => f(shared),
            None => {
                let mut shared = Shared {
                    security: self.shared.security.clone(),
                    keys: self.shared.keys.clone(),
                    max_bytes: self.shared.max_bytes,
                    max_cookies: self.shared.max_cookies,
                };
                f(&mut shared);
                self.shared = Arc::new(shared);
            }
        }
        self
    }

    /// The attributes given to cookies that do not set them (default: [`CookieSecurity::new`]).
    pub fn with_security(self, security: CookieSecurity) -> Self {
        self.update(|s| s.security = security)
    }

    /// The keys for signed and private cookies (current + previous for rotation).
    pub fn with_keys(self, keys: CookieKeys) -> Self {
        self.update(|s| s.keys = Some(keys))
    }

    /// At most this many bytes of `Cookie` headers are parsed per request (default 16 KiB);
    /// the rest is ignored.
    pub fn with_max_header_bytes(self, max: usize) -> Self {
        self.update(|s| s.max_bytes = max)
    }

    /// At most this many cookies are parsed per request (default 128); the rest are ignored.
    pub fn with_max_cookies(self, max: usize) -> Self {
        self.update(|s| s.max_cookies = max)
    }

    /// The defaults given to cookies the app adds.
    pub fn security(&self) -> &CookieSecurity {
        &self.shared.security
    }
}

impl<S> Layer<S> for CookieLayer {
    type Service = CookieManager<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CookieManager::new(inner, self.shared.clone())
    }
}
