use std::fmt;

use cookie::{Cookie, Key, SameSite};

use crate::jar::CookieError;

/// The attributes given to cookies the app adds without setting them itself.
///
/// Defaults: `HttpOnly`, `Secure`, `SameSite=Lax`, `Path=/`, and no `Max-Age`/`Expires`
/// (the browser drops the cookie when it closes). An attribute the app set explicitly on a
/// cookie is kept as it is.
///
/// ```
/// use portcullis_cookie::{CookieSecurity, SameSite};
///
/// let strict = CookieSecurity::new().with_same_site(SameSite::Strict);
/// assert_eq!(strict.same_site(), SameSite::Strict);
/// assert!(strict.secure());
///
/// // Plain-HTTP development only: cookies without `Secure`.
/// let dev = CookieSecurity::new().insecure_allow_http();
/// assert!(!dev.secure());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieSecurity {
    http_only: bool,
    secure: bool,
    same_site: SameSite,
    path: String,
}

impl Default for CookieSecurity {
    fn default() -> Self {
        Self {
            http_only: true,
            secure: true,
            same_site: SameSite::Lax,
            path: "/".to_owned(),
        }
    }
}

impl CookieSecurity {
    /// The secure defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// `SameSite` for cookies that do not set it: `Lax` (default), `Strict`, or `None`
    /// (`None` needs `Secure`; browsers refuse `SameSite=None` without it).
    #[must_use]
    pub fn with_same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// Default `Path` for cookies that do not set one (`/`).
    #[must_use]
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Lets JavaScript read cookies that do not say otherwise (drops the `HttpOnly` default).
    /// Only for cookies that carry nothing secret.
    #[must_use]
    pub fn insecure_readable_by_javascript(mut self) -> Self {
        self.http_only = false;
        self
    }

    /// Drops the `Secure` default so cookies travel over plain HTTP: for local development on
    /// `http://127.0.0.1` only. A cookie sent over plain HTTP can be read and changed by anyone
    /// on the path. Cookies whose name has the `__Host-` or `__Secure-` prefix stay `Secure`
    /// (browsers refuse them otherwise).
    #[must_use]
    pub fn insecure_allow_http(mut self) -> Self {
        self.secure = false;
        self
    }

    /// Whether cookies are `HttpOnly` by default.
    pub fn http_only(&self) -> bool {
        self.http_only
    }

    /// Whether cookies are `Secure` by default.
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// The default `SameSite`.
    pub fn same_site(&self) -> SameSite {
        self.same_site
    }

    /// The default `Path`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Fills the attributes `cookie` leaves unset and checks the cookie can be sent safely.
    pub(crate) fn apply(&self, cookie: &mut Cookie<'static>) -> Result<(), CookieError> {
        check_name(cookie.name())?;
        check_value(cookie.value())?;
        if cookie.http_only().is_none() {
            cookie.set_http_only(self.http_only);
        }
        if cookie.same_site().is_none() {
            cookie.set_same_site(self.same_site);
        }
        if cookie.path().is_none() {
            cookie.set_path(self.path.clone());
        }
        let name = cookie.name();
        let prefixed_host = name.starts_with("__Host-");
        let prefixed_secure = prefixed_host || name.starts_with("__Secure-");
        if cookie.secure().is_none() {
            cookie.set_secure(
                self.secure || prefixed_secure || cookie.same_site() == Some(SameSite::None),
            );
        }
        if prefixed_secure && cookie.secure() != Some(true) {
            return Err(CookieError::invalid(
                "a `__Host-`/`__Secure-` cookie must be `Secure`",
            ));
        }
        if prefixed_host && (cookie.domain().is_some() || cookie.path() != Some("/")) {
            return Err(CookieError::invalid(
                "a `__Host-` cookie must have `Path=/` and no `Domain`",
            ));
        }
        for attr in [cookie.path(), cookie.domain()].into_iter().flatten() {
            if attr.bytes().any(|b| b == b';' || b.is_ascii_control()) {
                return Err(CookieError::invalid(
                    "cookie attribute contains `;` or a control character",
                ));
            }
        }
        Ok(())
    }
}

/// RFC 6265 cookie-name: an HTTP token.
pub(crate) fn is_token(name: &str) -> bool {
    is_token_bytes(name.as_bytes())
}

/// [`is_token`] on bytes (a token is ASCII, so valid bytes are valid UTF-8).
pub(crate) fn is_token_bytes(name: &[u8]) -> bool {
    !name.is_empty()
        && name
            .iter()
            .all(|b| TOKEN.get(usize::from(*b)) == Some(&true))
}

/// Which bytes may appear in an HTTP token (`tchar`): visible ASCII but the separators.
#[allow(clippy::indexing_slicing)] // const evaluation: an out-of-range index fails the build
static TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0x21;
    while b < 0x7f {
        table[b] = !matches!(
            b as u8, // b < 0x7f
            b'(' | b')'
                | b'<'
                | b'>'
                | b'@'
                | b','
                | b';'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'='
                | b'{'
                | b'}'
        );
        b += 1;
    }
    table
};

fn check_name(name: &str) -> Result<(), CookieError> {
    if is_token(name) {
        Ok(())
    } else {
        Err(CookieError::invalid("cookie name is not an HTTP token"))
    }
}

/// RFC 6265 cookie-octet: no whitespace, `"`, `,`, `;`, `\` or control characters, so a value
/// can never add attributes or another cookie.
fn check_value(value: &str) -> Result<(), CookieError> {
    let ok = value
        .bytes()
        .all(|b| matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E));
    if ok {
        Ok(())
    } else {
        Err(CookieError::invalid(
            "cookie value contains a character outside RFC 6265 cookie-octets (space, `\"`, `,`, `;`, `\\` or a control character); encode it first",
        ))
    }
}

/// The keys for signed and private cookies: one current key that signs and encrypts, and
/// previous keys that still verify and decrypt during a rotation.
///
/// `Debug` never prints key material.
///
/// ```
/// use portcullis_cookie::{CookieKeys, Key};
///
/// let old = Key::generate();
/// let keys = CookieKeys::new(Key::generate()).with_previous(old);
/// assert_eq!(keys.previous().len(), 1);
/// ```
#[derive(Clone)]
pub struct CookieKeys {
    current: Key,
    previous: Vec<Key>,
}

impl CookieKeys {
    /// Keys with `current` signing and encrypting.
    pub fn new(current: Key) -> Self {
        Self {
            current,
            previous: Vec::new(),
        }
    }

    /// Adds a previous key, still accepted for reading.
    #[must_use]
    pub fn with_previous(mut self, key: Key) -> Self {
        self.previous.push(key);
        self
    }

    /// The key that signs and encrypts.
    pub fn current(&self) -> &Key {
        &self.current
    }

    /// Keys still accepted for reading, newest first.
    pub fn previous(&self) -> &[Key] {
        &self.previous
    }
}

impl fmt::Debug for CookieKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieKeys")
            .field("current", &"[REDACTED]")
            .field(
                "previous",
                &format_args!("[{} REDACTED]", self.previous.len()),
            )
            .finish()
    }
}
