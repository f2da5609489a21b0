use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use cookie::{Cookie, CookieJar, Key};
use http::HeaderValue;

use crate::config::{CookieKeys, CookieSecurity};
use crate::parse::{Lookup, Pair, find_pair, parse_cookie_headers};

/// Configuration shared by every request of one `CookieLayer`.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) security: CookieSecurity,
    pub(crate) keys: Option<CookieKeys>,
    pub(crate) max_bytes: usize,
    pub(crate) max_cookies: usize,
}

/// Why a cookie could not be added or read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieError {
    kind: CookieErrorKind,
    message: Cow<'static, str>,
}

/// The kind of a [`CookieError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CookieErrorKind {
    /// The cookie cannot be sent safely (bad name or value, prefix rules broken, attribute
    /// injection).
    Invalid,
    /// Signed or private cookies were used but the `CookieLayer` has no key.
    NoKey,
}

impl CookieError {
    pub(crate) fn invalid(message: &'static str) -> Self {
        Self {
            kind: CookieErrorKind::Invalid,
            message: Cow::Borrowed(message),
        }
    }

    fn no_key() -> Self {
        Self {
            kind: CookieErrorKind::NoKey,
            message: Cow::Borrowed(
                "signed and private cookies need a key: configure CookieLayer::with_keys",
            ),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> CookieErrorKind {
        self.kind
    }
}

impl fmt::Display for CookieError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CookieError {}

/// The request's cookies and the changes to send back: put into the request extensions by
/// `CookieLayer`.
///
/// Cloning is cheap and every clone is the same jar. The request's `Cookie` headers are parsed
/// at the first read, not before. Changes made through any clone are written as `Set-Cookie`
/// headers on the response, one per changed cookie.
#[derive(Clone)]
pub struct Cookies {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    raw: RawHeaders,
    changed: AtomicBool,
    state: Mutex<State>,
}

/// The request's `Cookie` header lines, shared with the request (a reference count each).
/// One line, the usual case, is held inline: no list to allocate.
pub(crate) enum RawHeaders {
    One(HeaderValue),
    Many(Vec<HeaderValue>),
}

impl RawHeaders {
    /// The `Cookie` lines of `headers`.
    pub(crate) fn of(headers: &http::HeaderMap) -> Self {
        let mut lines = headers.get_all(http::header::COOKIE).iter();
        match (lines.next(), lines.next()) {
            (Some(one), None) => Self::One(one.clone()),
            (None, _) => Self::Many(Vec::new()),
            (Some(first), Some(second)) => {
                let mut all = vec![first.clone(), second.clone()];
                all.extend(lines.cloned());
                Self::Many(all)
            }
        }
    }
}

impl std::ops::Deref for RawHeaders {
    type Target = [HeaderValue];

    fn deref(&self) -> &[HeaderValue] {
        match self {
            Self::One(one) => std::slice::from_ref(one),
            Self::Many(all) => all,
        }
    }
}

#[derive(Default)]
struct State {
    parsed: Option<Vec<Pair>>,
    changes: Vec<Cookie<'static>>,
}

impl Cookies {
    pub(crate) fn new(shared: Arc<Shared>, raw: RawHeaders) -> Self {
        Self {
            inner: Arc::new(Inner {
                shared,
                raw,
                changed: AtomicBool::new(false),
                state: Mutex::new(State::default()),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // No code path panics while holding the lock; recover the data if one ever did.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The cookie named `name`: as changed during this request if it was, else as the request
    /// sent it (the first one of that name). A cookie removed during this request is `None`.
    pub fn get(&self, name: &str) -> Option<Cookie<'static>> {
        let mut state = self.state();
        if let Some(changed) = state.changes.iter().rev().find(|c| c.name() == name) {
            return (!is_removal(changed)).then(|| changed.clone());
        }
        let raw = &self.inner.raw;
        self.parsed(&mut state)
            .iter()
            .find(|p| p.name(raw) == name)
            .map(|p| p.to_cookie(raw))
    }

    /// Applies `f` to the value of the cookie named `name` (as [`get`](Self::get) would
    /// return it) without copying it: the cheap way to read one value per request, e.g. a
    /// session ID.
    pub fn value_with<T>(&self, name: &str, f: impl FnOnce(&str) -> T) -> Option<T> {
        let mut state = self.state();
        if let Some(changed) = state.changes.iter().rev().find(|c| c.name() == name) {
            return (!is_removal(changed)).then(|| f(changed.value()));
        }
        let raw = &self.inner.raw;
        if state.parsed.is_none() {
            // Nothing parsed yet: walk to the one pair wanted instead of listing them all.
            let shared = &self.inner.shared;
            match find_pair(raw, shared.max_bytes, shared.max_cookies, name.as_bytes()) {
                Lookup::Found(pair) => return Some(f(pair.value(raw))),
                Lookup::Absent => return None,
                Lookup::Unknown => {}
            }
        }
        self.parsed(&mut state)
            .iter()
            .find(|p| p.name_bytes(raw) == name.as_bytes())
            .map(|p| f(p.value(raw)))
    }

    /// Every cookie the request sent, as parsed (changes made during this request not
    /// included).
    pub fn request_cookies(&self) -> Vec<Cookie<'static>> {
        let mut state = self.state();
        let raw = &self.inner.raw;
        self.parsed(&mut state)
            .iter()
            .map(|p| p.to_cookie(raw))
            .collect()
    }

    fn parsed<'s>(&self, state: &'s mut State) -> &'s [Pair] {
        let inner = &self.inner;
        state.parsed.get_or_insert_with(|| {
            parse_cookie_headers(&inner.raw, inner.shared.max_bytes, inner.shared.max_cookies)
        })
    }

    /// Adds (or replaces) a cookie in the response. Attributes the cookie leaves unset get the
    /// layer's secure defaults ([`CookieSecurity`]).
    ///
    /// # Errors
    ///
    /// The cookie is refused, and nothing is sent, if its name is not an HTTP token, its value
    /// holds characters that could inject attributes or other cookies (`;`, `,`, `"`, `\`,
    /// whitespace, control characters), or it breaks the `__Host-`/`__Secure-` prefix rules.
    pub fn add(&self, cookie: impl Into<Cookie<'static>>) -> Result<(), CookieError> {
        let mut cookie = cookie.into();
        self.inner.shared.security.apply(&mut cookie)?;
        self.push_change(cookie);
        Ok(())
    }

    /// Removes a cookie: the response carries an expired cookie with the same name, path and
    /// domain (path defaults to the layer's default path), whether or not the request sent it.
    pub fn remove(&self, cookie: impl Into<Cookie<'static>>) {
        let cookie = cookie.into();
        let mut removal = Cookie::new(cookie.name().to_owned(), "");
        removal.set_path(cookie.path().map_or_else(
            || self.inner.shared.security.path().to_owned(),
            str::to_owned,
        ));
        if let Some(domain) = cookie.domain() {
            removal.set_domain(domain.to_owned());
        }
        if let Some(secure) = cookie.secure() {
            removal.set_secure(secure);
        } else {
            let name = removal.name();
            removal.set_secure(
                self.inner.shared.security.secure()
                    || name.starts_with("__Host-")
                    || name.starts_with("__Secure-"),
            );
        }
        removal.set_http_only(true);
        removal.make_removal();
        self.push_change(removal);
    }

    /// Signed cookies: readable by the client, but any change is detected.
    ///
    /// # Errors
    ///
    /// [`CookieErrorKind::NoKey`] when the layer has no key.
    pub fn signed(&self) -> Result<SignedCookies<'_>, CookieError> {
        let keys = self
            .inner
            .shared
            .keys
            .as_ref()
            .ok_or_else(CookieError::no_key)?;
        Ok(SignedCookies {
            cookies: self,
            keys,
        })
    }

    /// Private cookies: encrypted and authenticated (AES-256-GCM), unreadable by the client.
    ///
    /// # Errors
    ///
    /// [`CookieErrorKind::NoKey`] when the layer has no key.
    pub fn private(&self) -> Result<PrivateCookies<'_>, CookieError> {
        let keys = self
            .inner
            .shared
            .keys
            .as_ref()
            .ok_or_else(CookieError::no_key)?;
        Ok(PrivateCookies {
            cookies: self,
            keys,
        })
    }

    /// The layer's defaults for cookies the app adds.
    pub fn security(&self) -> &CookieSecurity {
        &self.inner.shared.security
    }

    fn push_change(&self, cookie: Cookie<'static>) {
        let mut state = self.state();
        state.changes.retain(|c| {
            !(c.name() == cookie.name()
                && c.path() == cookie.path()
                && c.domain() == cookie.domain())
        });
        state.changes.push(cookie);
        self.inner.changed.store(true, Ordering::Release);
    }

    /// The `Set-Cookie` values to send, once; empty when nothing changed.
    pub(crate) fn take_set_cookies(&self) -> Vec<HeaderValue> {
        if !self.inner.changed.swap(false, Ordering::AcqRel) {
            return Vec::new();
        }
        let changes = std::mem::take(&mut self.state().changes);
        changes
            .iter()
            .filter_map(|c| match HeaderValue::try_from(c.to_string()) {
                Ok(v) => Some(v),
                Err(_) => {
                    tracing::error!(
                        cookie = c.name(),
                        "dropping a cookie that is not a valid header value"
                    );
                    None
                }
            })
            .collect()
    }
}

fn is_removal(cookie: &Cookie<'_>) -> bool {
    cookie.max_age().is_some_and(|age| age.is_zero()) && cookie.value().is_empty()
}

impl fmt::Debug for Cookies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        let names: Vec<&str> = state
            .parsed
            .iter()
            .flatten()
            .map(|p| p.name(&self.inner.raw))
            .collect();
        let changed: Vec<&str> = state.changes.iter().map(Cookie::name).collect();
        f.debug_struct("Cookies")
            .field("request", &names)
            .field("changed", &changed)
            .field("values", &"[REDACTED]")
            .finish()
    }
}

/// How a protected cookie is opened (verified or decrypted) and sealed (signed or encrypted).
#[derive(Clone, Copy, Debug)]
enum Protection {
    Signed,
    Private,
}

impl Protection {
    fn open(self, key: &Key, raw: Cookie<'static>) -> Option<Cookie<'static>> {
        let jar = CookieJar::new();
        match self {
            Self::Signed => jar.signed(key).verify(raw),
            Self::Private => jar.private(key).decrypt(raw),
        }
    }

    fn seal(self, key: &Key, cookie: Cookie<'static>) -> Result<Cookie<'static>, CookieError> {
        let mut jar = CookieJar::new();
        match self {
            Self::Signed => jar.signed_mut(key).add(cookie),
            Self::Private => jar.private_mut(key).add(cookie),
        }
        jar.delta()
            .next()
            .cloned()
            .ok_or_else(|| CookieError::invalid("sealing produced no cookie"))
    }

    /// Opens the cookie `name` with the current key, else a previous one (then re-issues it
    /// under the current key).
    fn get(self, cookies: &Cookies, keys: &CookieKeys, name: &str) -> Option<Cookie<'static>> {
        let raw = cookies.get(name)?;
        if let Some(cookie) = self.open(keys.current(), raw.clone()) {
            return Some(cookie);
        }
        let cookie = keys
            .previous()
            .iter()
            .find_map(|key| self.open(key, raw.clone()))?;
        if let Err(err) = self.add(cookies, keys, cookie.clone()) {
            tracing::warn!(cookie = name, %err, "could not re-issue a cookie under the current key");
        }
        Some(cookie)
    }

    fn add(
        self,
        cookies: &Cookies,
        keys: &CookieKeys,
        cookie: Cookie<'static>,
    ) -> Result<(), CookieError> {
        cookies.add(self.seal(keys.current(), cookie)?)
    }
}

/// Signed cookies of one request; see [`Cookies::signed`].
#[derive(Debug)]
pub struct SignedCookies<'a> {
    cookies: &'a Cookies,
    keys: &'a CookieKeys,
}

impl SignedCookies<'_> {
    /// The verified cookie named `name`, or `None` if it is missing or its signature does not
    /// verify under the current or a previous key. A cookie verified with a previous key is
    /// re-issued under the current key.
    pub fn get(&self, name: &str) -> Option<Cookie<'static>> {
        Protection::Signed.get(self.cookies, self.keys, name)
    }

    /// Signs `cookie` with the current key and adds it (see [`Cookies::add`]).
    ///
    /// # Errors
    ///
    /// As [`Cookies::add`].
    pub fn add(&self, cookie: impl Into<Cookie<'static>>) -> Result<(), CookieError> {
        Protection::Signed.add(self.cookies, self.keys, cookie.into())
    }

    /// Removes the cookie (see [`Cookies::remove`]).
    pub fn remove(&self, cookie: impl Into<Cookie<'static>>) {
        self.cookies.remove(cookie);
    }
}

/// Private (encrypted) cookies of one request; see [`Cookies::private`].
#[derive(Debug)]
pub struct PrivateCookies<'a> {
    cookies: &'a Cookies,
    keys: &'a CookieKeys,
}

impl PrivateCookies<'_> {
    /// The decrypted cookie named `name`, or `None` if it is missing or does not decrypt and
    /// authenticate under the current or a previous key. A cookie decrypted with a previous key
    /// is re-issued under the current key.
    pub fn get(&self, name: &str) -> Option<Cookie<'static>> {
        Protection::Private.get(self.cookies, self.keys, name)
    }

    /// Encrypts `cookie` with the current key and adds it (see [`Cookies::add`]). The plaintext
    /// value may hold any characters.
    ///
    /// # Errors
    ///
    /// As [`Cookies::add`], for the name and attributes.
    pub fn add(&self, cookie: impl Into<Cookie<'static>>) -> Result<(), CookieError> {
        Protection::Private.add(self.cookies, self.keys, cookie.into())
    }

    /// Removes the cookie (see [`Cookies::remove`]).
    pub fn remove(&self, cookie: impl Into<Cookie<'static>>) {
        self.cookies.remove(cookie);
    }
}
