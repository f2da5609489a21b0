use std::sync::Arc;

use tower_layer::Layer;

use crate::directive::CacheDirective;
use crate::policy::Sensitive;
use crate::service::CacheControl;

#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) directive: CacheDirective,
    pub(crate) sensitive: Sensitive,
    pub(crate) pragma: bool,
    pub(crate) vary: bool,
    pub(crate) override_existing: bool,
}

/// Adds `Cache-Control`, `Pragma` and `Vary` to sensitive responses; see the
/// [crate docs](crate).
#[derive(Clone, Debug)]
#[must_use]
pub struct CacheControlLayer {
    config: Arc<Config>,
}

impl Default for CacheControlLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl CacheControlLayer {
    /// `no-store` + `Pragma: no-cache` + `Vary: Cookie, Authorization` on every response;
    /// a `Cache-Control` set by the handler is kept (unless it would let a `Set-Cookie` into a
    /// shared cache).
    pub fn new() -> Self {
        Self {
            config: Arc::new(Config {
                directive: CacheDirective::no_store(),
                sensitive: Sensitive::all(),
                pragma: true,
                vary: true,
                override_existing: false,
            }),
        }
    }

    fn update(mut self, f: impl FnOnce(&mut Config)) -> Self {
        let config = Arc::make_mut(&mut self.config);
        f(config);
        self
    }

    /// The `Cache-Control` value for sensitive responses (default `no-store`).
    pub fn with_directive(self, directive: CacheDirective) -> Self {
        self.update(|c| c.directive = directive)
    }

    /// Which responses are sensitive (default: all). `Set-Cookie` responses always are.
    pub fn with_sensitive(self, sensitive: Sensitive) -> Self {
        self.update(|c| c.sensitive = sensitive)
    }

    /// Replace a `Cache-Control` the handler set on a sensitive response (default: keep it).
    pub fn with_override(self, override_existing: bool) -> Self {
        self.update(|c| c.override_existing = override_existing)
    }

    /// Add `Pragma: no-cache` for HTTP/1.0 caches (default: yes).
    pub fn with_pragma(self, pragma: bool) -> Self {
        self.update(|c| c.pragma = pragma)
    }

    /// Merge `Cookie, Authorization` into `Vary` (default: yes).
    pub fn with_vary(self, vary: bool) -> Self {
        self.update(|c| c.vary = vary)
    }
}

impl<S> Layer<S> for CacheControlLayer {
    type Service = CacheControl<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CacheControl::new(inner, self.config.clone())
    }
}
