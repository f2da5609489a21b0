//! Calls to the identity provider: the token endpoint (refresh) and revocation/logout.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{Method, Request, Uri, header};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use portcullis_jwt::http::HttpClient;
use serde::Deserialize;

use crate::error::{SessionError, SessionErrorKind};
use crate::time::Timestamp;
use crate::tokens::TokenSet;

/// Default [`IdpConfig::with_timeout`].
pub const DEFAULT_IDP_TIMEOUT: Duration = Duration::from_secs(10);

/// `application/x-www-form-urlencoded` value encoding (unreserved characters kept).
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How the client authenticates at the token and revocation endpoints.
#[derive(Clone)]
enum ClientAuth {
    /// A public client: `client_id` in the form.
    None,
    /// `client_secret_basic`: HTTP Basic with the form-encoded ID and secret.
    Basic(Arc<str>),
    /// `client_secret_post`: ID and secret in the form.
    Post(Arc<str>),
}

/// What `logout` calls at the IdP.
#[derive(Clone, Debug)]
enum LogoutCall {
    /// RFC 7009 token revocation of the refresh token (or the access token without one).
    Revocation(Uri),
    /// A logout endpoint, `POST`ed with `Authorization: Bearer <access token>`.
    Endpoint(Uri),
}

/// The identity provider's endpoints and this app's client credentials, for refreshing access
/// tokens and revoking them at logout.
///
/// ```
/// use portcullis_session::IdpConfig;
/// use portcullis_jwt::http::DefaultHttpClient;
/// use std::sync::Arc;
///
/// let idp = IdpConfig::new("my-app", Arc::new(DefaultHttpClient::new()))
///     .with_client_secret_basic("s3cret")
///     .with_token_endpoint("https://idp.example/token".parse().unwrap())
///     .with_revocation_endpoint("https://idp.example/revoke".parse().unwrap());
/// assert!(!format!("{idp:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
#[must_use]
pub struct IdpConfig {
    http: Arc<dyn HttpClient>,
    client_id: Arc<str>,
    auth: ClientAuth,
    token_endpoint: Option<Uri>,
    logout: Option<LogoutCall>,
    timeout: Duration,
}

impl fmt::Debug for IdpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match self.auth {
            ClientAuth::None => "none",
            ClientAuth::Basic(_) => "client_secret_basic",
            ClientAuth::Post(_) => "client_secret_post",
        };
        f.debug_struct("IdpConfig")
            .field("client_id", &self.client_id)
            .field("auth", &auth)
            .field("token_endpoint", &self.token_endpoint)
            .field("logout", &self.logout)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A refresh that did not work.
#[derive(Debug)]
pub(crate) enum RefreshError {
    /// The IdP refused (invalid_grant, revoked, reuse detected): the session is over.
    Rejected,
    /// The IdP is down or slow: try later.
    Unavailable(SessionError),
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
}

impl IdpConfig {
    /// A public client `client_id` calling the IdP through `http`.
    pub fn new(client_id: impl AsRef<str>, http: Arc<dyn HttpClient>) -> Self {
        Self {
            http,
            client_id: Arc::from(client_id.as_ref()),
            auth: ClientAuth::None,
            token_endpoint: None,
            logout: None,
            timeout: DEFAULT_IDP_TIMEOUT,
        }
    }

    /// Authenticates with `client_secret_basic`.
    pub fn with_client_secret_basic(mut self, secret: impl AsRef<str>) -> Self {
        self.auth = ClientAuth::Basic(Arc::from(secret.as_ref()));
        self
    }

    /// Authenticates with `client_secret_post`.
    pub fn with_client_secret_post(mut self, secret: impl AsRef<str>) -> Self {
        self.auth = ClientAuth::Post(Arc::from(secret.as_ref()));
        self
    }

    /// The token endpoint, needed by the `Refresh` expiry policy.
    pub fn with_token_endpoint(mut self, uri: Uri) -> Self {
        self.token_endpoint = Some(uri);
        self
    }

    /// At logout, revoke the refresh token (else the access token) at this RFC 7009
    /// revocation endpoint.
    pub fn with_revocation_endpoint(mut self, uri: Uri) -> Self {
        self.logout = Some(LogoutCall::Revocation(uri));
        self
    }

    /// At logout, `POST` to this endpoint with the access token as bearer credential (for
    /// IdPs without RFC 7009).
    pub fn with_logout_endpoint(mut self, uri: Uri) -> Self {
        self.logout = Some(LogoutCall::Endpoint(uri));
        self
    }

    /// The longest an IdP call may take (default 10 s), on top of the HTTP client's own limit.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub(crate) fn has_token_endpoint(&self) -> bool {
        self.token_endpoint.is_some()
    }

    fn form_request<'a>(
        &'a self,
        uri: &Uri,
        mut params: Vec<(&'a str, &'a str)>,
    ) -> Request<Bytes> {
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(uri.clone())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json");
        match &self.auth {
            ClientAuth::None => params.push(("client_id", &self.client_id)),
            ClientAuth::Post(secret) => {
                params.push(("client_id", &self.client_id));
                params.push(("client_secret", secret));
            }
            ClientAuth::Basic(secret) => {
                // RFC 6749 §2.3.1: form-encode both parts before Basic.
                let user = utf8_percent_encode(&self.client_id, FORM).to_string();
                let pass = utf8_percent_encode(secret, FORM).to_string();
                let credentials = STANDARD.encode(format!("{user}:{pass}"));
                builder = builder.header(header::AUTHORIZATION, format!("Basic {credentials}"));
            }
        }
        let body = params
            .iter()
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, FORM)))
            .collect::<Vec<_>>()
            .join("&");
        builder
            .body(Bytes::from(body))
            .unwrap_or_else(|_| Request::new(Bytes::new()))
    }

    /// Exchanges `refresh_token` for a new token set. The rotated refresh token, if the IdP
    /// sent one, replaces the old one; otherwise the old one is kept.
    pub(crate) async fn refresh(
        &self,
        current: &TokenSet,
        refresh_token: &str,
        now: Timestamp,
    ) -> Result<TokenSet, RefreshError> {
        let Some(uri) = &self.token_endpoint else {
            return Err(RefreshError::Rejected);
        };
        let request = self.form_request(
            uri,
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        );
        let response = tokio::time::timeout(self.timeout, self.http.execute(request))
            .await
            .map_err(|_| {
                RefreshError::Unavailable(SessionError::with_source(
                    SessionErrorKind::IdpUnavailable,
                    "token endpoint timed out",
                ))
            })?
            .map_err(|e| {
                RefreshError::Unavailable(SessionError::with_source(
                    SessionErrorKind::IdpUnavailable,
                    e,
                ))
            })?;
        let status = response.status();
        if status.is_client_error() {
            // RFC 6749 §5.2: invalid_grant & co. The session cannot continue.
            return Err(RefreshError::Rejected);
        }
        if !status.is_success() {
            return Err(RefreshError::Unavailable(SessionError::with_source(
                SessionErrorKind::IdpUnavailable,
                format!("token endpoint answered {status}"),
            )));
        }
        let parsed: TokenResponse = serde_json::from_slice(response.body()).map_err(|e| {
            RefreshError::Unavailable(SessionError::with_source(
                SessionErrorKind::IdpUnavailable,
                e,
            ))
        })?;
        let mut tokens = TokenSet::new(parsed.access_token);
        if let Some(id_token) = parsed
            .id_token
            .or_else(|| current.id_token().map(str::to_owned))
        {
            tokens = tokens.with_id_token(id_token);
        }
        if let Some(refresh) = parsed
            .refresh_token
            .or_else(|| current.refresh_token().map(str::to_owned))
        {
            tokens = tokens.with_refresh_token(refresh);
        }
        if let Some(secs) = parsed.expires_in {
            tokens = tokens.with_expires_in(now, Duration::from_secs(secs));
        }
        Ok(tokens)
    }

    /// Revokes the session's tokens at the IdP (logout). Without a configured endpoint, does
    /// nothing.
    pub(crate) async fn revoke(&self, tokens: &TokenSet) -> Result<(), SessionError> {
        let request = match &self.logout {
            None => return Ok(()),
            Some(LogoutCall::Revocation(uri)) => match tokens.refresh_token() {
                Some(refresh) => self.form_request(
                    uri,
                    vec![("token", refresh), ("token_type_hint", "refresh_token")],
                ),
                None => self.form_request(
                    uri,
                    vec![
                        ("token", tokens.access_token()),
                        ("token_type_hint", "access_token"),
                    ],
                ),
            },
            Some(LogoutCall::Endpoint(uri)) => Request::builder()
                .method(Method::POST)
                .uri(uri.clone())
                .header(
                    header::AUTHORIZATION,
                    format!("Bearer {}", tokens.access_token()),
                )
                .body(Bytes::new())
                .map_err(|e| SessionError::with_source(SessionErrorKind::IdpUnavailable, e))?,
        };
        let response = tokio::time::timeout(self.timeout, self.http.execute(request))
            .await
            .map_err(|_| {
                SessionError::with_source(
                    SessionErrorKind::IdpUnavailable,
                    "revocation endpoint timed out",
                )
            })?
            .map_err(|e| SessionError::with_source(SessionErrorKind::IdpUnavailable, e))?;
        // RFC 7009 §2.2: 200 whether or not the token was valid.
        if response.status().is_success() {
            Ok(())
        } else if response.status().is_client_error() {
            Err(SessionError::with_source(
                SessionErrorKind::IdpRejected,
                format!("revocation answered {}", response.status()),
            ))
        } else {
            Err(SessionError::with_source(
                SessionErrorKind::IdpUnavailable,
                format!("revocation answered {}", response.status()),
            ))
        }
    }
}
