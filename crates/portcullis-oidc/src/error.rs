//! What can go wrong in a login or logout, and the page the browser gets for it.

use std::fmt;

use http::{HeaderValue, Response, StatusCode, header};

/// Why a login (or logout) did not complete. Every kind ends with an error page and no new
/// session; none of them carries a token, code or secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OidcErrorKind {
    /// `return_to` is not a same-origin path (open-redirect attempt).
    InvalidReturnTo,
    /// The callback has no flow cookie, or it does not decrypt (expired, other browser,
    /// tampered).
    MissingFlow,
    /// The login took longer than the flow lifetime.
    FlowExpired,
    /// `state` is missing or does not match the flow.
    StateMismatch,
    /// This `state` was already used: a replayed callback.
    Replayed,
    /// The provider answered the authorization request with an `error`.
    ProviderError,
    /// The callback is malformed (no `code`, repeated parameters, wrong `iss`).
    InvalidCallback,
    /// The token endpoint refused the code (`invalid_grant` & co.).
    TokenRejected,
    /// The token response is unusable (no ID token, wrong token type, bad JSON).
    InvalidTokenResponse,
    /// The ID token is invalid: signature, `iss`, `aud`, `exp`, `nonce`, `azp`, `at_hash`.
    InvalidIdToken,
    /// The access token is invalid.
    InvalidAccessToken,
    /// The provider (discovery, JWKS, token endpoint) cannot be reached or is too slow.
    ProviderUnavailable,
    /// The session could not be created or ended (store down, cookie refused).
    Session,
    /// The stack is wired wrongly (no `CookieLayer` with a key, no `TokenLookupLayer`).
    Misconfigured,
    /// The method is not allowed on this route.
    MethodNotAllowed,
    /// A logout request from another origin.
    CrossOrigin,
}

impl OidcErrorKind {
    /// A stable label for logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidReturnTo => "invalid_return_to",
            Self::MissingFlow => "missing_flow",
            Self::FlowExpired => "flow_expired",
            Self::StateMismatch => "state_mismatch",
            Self::Replayed => "replayed",
            Self::ProviderError => "provider_error",
            Self::InvalidCallback => "invalid_callback",
            Self::TokenRejected => "token_rejected",
            Self::InvalidTokenResponse => "invalid_token_response",
            Self::InvalidIdToken => "invalid_id_token",
            Self::InvalidAccessToken => "invalid_access_token",
            Self::ProviderUnavailable => "provider_unavailable",
            Self::Session => "session",
            Self::Misconfigured => "misconfigured",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::CrossOrigin => "cross_origin",
        }
    }

    /// The HTTP status of the error page.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::InvalidReturnTo
            | Self::MissingFlow
            | Self::FlowExpired
            | Self::StateMismatch
            | Self::Replayed
            | Self::ProviderError
            | Self::InvalidCallback
            | Self::TokenRejected => StatusCode::BAD_REQUEST,
            Self::InvalidTokenResponse | Self::InvalidIdToken | Self::InvalidAccessToken => {
                StatusCode::BAD_GATEWAY
            }
            Self::ProviderUnavailable | Self::Session => StatusCode::SERVICE_UNAVAILABLE,
            Self::Misconfigured => StatusCode::INTERNAL_SERVER_ERROR,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::CrossOrigin => StatusCode::FORBIDDEN,
        }
    }

    /// What the user is told (fixed text: nothing from the request is echoed).
    pub const fn message(self) -> &'static str {
        match self {
            Self::InvalidReturnTo => "The page to return to after login is not on this site.",
            Self::MissingFlow | Self::FlowExpired => {
                "This login is no longer valid (it expired or was started in another browser). Please start again."
            }
            Self::StateMismatch | Self::Replayed | Self::InvalidCallback => {
                "This login response is not valid for this browser. Please start again."
            }
            Self::ProviderError => "The identity provider did not complete the login.",
            Self::TokenRejected => "The identity provider refused this login. Please start again.",
            Self::InvalidTokenResponse | Self::InvalidIdToken | Self::InvalidAccessToken => {
                "The identity provider's answer could not be verified."
            }
            Self::ProviderUnavailable => {
                "The identity provider cannot be reached right now. Please try again later."
            }
            Self::Session => "The session could not be saved. Please try again later.",
            Self::Misconfigured => "Login is not configured correctly on this server.",
            Self::MethodNotAllowed => "This method is not allowed here.",
            Self::CrossOrigin => "Requests from other sites are not allowed here.",
        }
    }
}

impl fmt::Display for OidcErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed login or logout step: the kind, and for [`OidcErrorKind::ProviderError`] the
/// provider's `error` code when it is one of the registered OAuth/OIDC codes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcError {
    kind: OidcErrorKind,
    provider_code: Option<&'static str>,
    detail: &'static str,
}

/// The registered error codes (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6): only these are shown.
const PROVIDER_CODES: &[&str] = &[
    "invalid_request",
    "unauthorized_client",
    "access_denied",
    "unsupported_response_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
    "interaction_required",
    "login_required",
    "account_selection_required",
    "consent_required",
    "invalid_request_uri",
    "invalid_request_object",
    "request_not_supported",
    "request_uri_not_supported",
    "registration_not_supported",
    "invalid_target",
];

impl OidcError {
    pub(crate) fn new(kind: OidcErrorKind, detail: &'static str) -> Self {
        Self {
            kind,
            provider_code: None,
            detail,
        }
    }

    pub(crate) fn provider(code: &str) -> Self {
        Self {
            kind: OidcErrorKind::ProviderError,
            provider_code: PROVIDER_CODES.iter().copied().find(|c| *c == code),
            detail: "the provider returned an error",
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> OidcErrorKind {
        self.kind
    }

    /// The provider's registered `error` code, for [`OidcErrorKind::ProviderError`].
    pub fn provider_code(&self) -> Option<&'static str> {
        self.provider_code
    }

    /// The error page: the kind's status, fixed HTML text, `Cache-Control: no-store`; the
    /// error itself in the response extensions.
    pub fn to_response<B: From<String>>(&self) -> Response<B> {
        let code = self
            .provider_code
            .map(|c| format!("<p>Provider error: <code>{c}</code></p>"))
            .unwrap_or_default();
        let body = format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Login failed</title></head>\
             <body><h1>Login failed</h1><p id=\"error\" data-kind=\"{}\">{}</p>{code}\
             <p><a href=\"/\">Back to the start page</a></p></body></html>",
            self.kind.as_str(),
            self.kind.message()
        );
        let mut response = Response::new(B::from(body));
        *response.status_mut() = self.kind.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.kind.status() == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response.extensions_mut().insert(self.clone());
        response
    }
}

impl fmt::Display for OidcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "oidc {}: {}", self.kind, self.detail)?;
        if let Some(code) = self.provider_code {
            write!(f, " ({code})")?;
        }
        Ok(())
    }
}

impl std::error::Error for OidcError {}
