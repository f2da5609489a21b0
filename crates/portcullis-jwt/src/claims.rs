//! The claims of a validated token: [`StandardClaims`] and typed [`Claims<T>`].

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use jsonwebtoken::Algorithm;

/// The registered and common claims of a validated token. Cheap to clone (shared).
///
/// `JwtLayer` puts one into the request extensions next to [`Claims<T>`].
#[derive(Clone, Debug)]
pub struct StandardClaims(pub(crate) Arc<StandardInner>);

#[derive(Debug)]
pub(crate) struct StandardInner {
    pub(crate) issuer: Box<str>,
    pub(crate) subject: Option<Box<str>>,
    pub(crate) audience: Box<[Box<str>]>,
    pub(crate) expires_at: u64,
    pub(crate) not_before: Option<u64>,
    pub(crate) issued_at: Option<u64>,
    pub(crate) jwt_id: Option<Box<str>>,
    pub(crate) session_id: Option<Box<str>>,
    pub(crate) client_id: Option<Box<str>>,
    pub(crate) scopes: Box<[Box<str>]>,
    pub(crate) roles: Box<[Box<str>]>,
    pub(crate) key_id: Option<Box<str>>,
    pub(crate) algorithm: Algorithm,
}

impl StandardClaims {
    /// `iss`.
    pub fn issuer(&self) -> &str {
        &self.0.issuer
    }
    /// `sub`.
    pub fn subject(&self) -> Option<&str> {
        self.0.subject.as_deref()
    }
    /// `aud` (a single string is a one-element list).
    pub fn audience(&self) -> impl Iterator<Item = &str> {
        self.0.audience.iter().map(|a| &**a)
    }
    /// `exp`, seconds since the Unix epoch.
    pub fn expires_at(&self) -> u64 {
        self.0.expires_at
    }
    /// `nbf`.
    pub fn not_before(&self) -> Option<u64> {
        self.0.not_before
    }
    /// `iat`.
    pub fn issued_at(&self) -> Option<u64> {
        self.0.issued_at
    }
    /// `jti`.
    pub fn jwt_id(&self) -> Option<&str> {
        self.0.jwt_id.as_deref()
    }
    /// `sid` (OIDC session id).
    pub fn session_id(&self) -> Option<&str> {
        self.0.session_id.as_deref()
    }
    /// `client_id` (RFC 9068), else `azp`.
    pub fn client_id(&self) -> Option<&str> {
        self.0.client_id.as_deref()
    }
    /// The scopes: `scope` (space-separated, RFC 8693/9068) and `scp` (string or array).
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.0.scopes.iter().map(|s| &**s)
    }
    /// Whether `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.0.scopes.iter().any(|s| &**s == scope)
    }
    /// The roles: `roles` (array or space-separated string).
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.0.roles.iter().map(|s| &**s)
    }
    /// Whether `role` was granted.
    pub fn has_role(&self, role: &str) -> bool {
        self.0.roles.iter().any(|s| &**s == role)
    }
    /// The header's `kid`.
    pub fn key_id(&self) -> Option<&str> {
        self.0.key_id.as_deref()
    }
    /// The header's `alg`.
    pub fn algorithm(&self) -> Algorithm {
        self.0.algorithm
    }
}

/// The claims of a validated token, deserialized as `T`, with the [`StandardClaims`].
///
/// Dereferences to `T`. Cheap to clone (shared).
pub struct Claims<T> {
    pub(crate) custom: Arc<T>,
    pub(crate) standard: StandardClaims,
}

impl<T> Claims<T> {
    /// The standard claims.
    pub fn standard(&self) -> &StandardClaims {
        &self.standard
    }

    /// The typed claims, shared.
    pub fn as_arc(&self) -> &Arc<T> {
        &self.custom
    }
}

impl<T> Clone for Claims<T> {
    fn clone(&self) -> Self {
        Self {
            custom: self.custom.clone(),
            standard: self.standard.clone(),
        }
    }
}

impl<T> Deref for Claims<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.custom
    }
}

impl<T: fmt::Debug> fmt::Debug for Claims<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims")
            .field("custom", &self.custom)
            .field("standard", &self.standard)
            .finish()
    }
}
