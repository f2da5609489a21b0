//! [`Oidc`]: the login, callback and logout handlers.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::request::Parts;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use portcullis_cookie::{Cookie, Cookies};
use portcullis_core::constant_time_eq;
use portcullis_jwt::Validator;
use portcullis_jwt::http::HttpClient;
use portcullis_session::{Session, SessionErrorKind, Timestamp, TokenSet};
use sha2::{Digest, Sha256};

use crate::config::OidcConfig;
use crate::error::{OidcError, OidcErrorKind};
use crate::flow::{
    FlowState, enc, is_safe_return_to, param, parse_query, pkce_challenge, random_token,
};
use crate::provider::{Metadata, ProviderMetadata, exchange_code};

pub(crate) struct Inner {
    pub(crate) config: OidcConfig,
    pub(crate) http: Arc<dyn HttpClient>,
    pub(crate) metadata: Metadata,
    pub(crate) id_validator: Validator,
    pub(crate) replay: moka::sync::Cache<[u8; 32], ()>,
    pub(crate) origin: String,
    pub(crate) callback_path: String,
}

/// Which of the three routes a request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Route {
    /// `GET /login?return_to=/path`: starts the flow.
    Login,
    /// `GET /callback?code=..&state=..`: completes it.
    Callback,
    /// `POST /logout`: ends the session (and the provider's, when it supports it).
    Logout,
}

/// The OpenID Connect login of one provider: serves the login, callback and logout routes.
///
/// Needs, outside it in the stack, a `CookieLayer` **with keys** (the flow state travels in a
/// private, encrypted cookie) and a `TokenLookupLayer` (for the [`Session`] handle); a
/// `BindingLayer` in between binds the new session to the client. Use it through
/// [`OidcLayer`](crate::OidcLayer) (any tower stack), `Oidc::router` (axum, feature `axum`),
/// or call [`handle`](Self::handle) yourself. Cloning is cheap (shared).
#[derive(Clone)]
pub struct Oidc {
    inner: Arc<Inner>,
}

impl fmt::Debug for Oidc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Oidc")
            .field("config", &self.inner.config)
            .field("callback_path", &self.inner.callback_path)
            .finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn redirect(location: &str) -> Result<Response<String>, OidcError> {
    let value = HeaderValue::try_from(location).map_err(|_| {
        OidcError::new(
            OidcErrorKind::Misconfigured,
            "the redirect is not a valid header",
        )
    })?;
    let mut response = Response::new(String::new());
    *response.status_mut() = StatusCode::SEE_OTHER;
    response.headers_mut().insert(header::LOCATION, value);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn misconfigured(detail: &'static str) -> OidcError {
    tracing::error!(detail, "OIDC routes misconfigured");
    OidcError::new(OidcErrorKind::Misconfigured, detail)
}

fn parts_cookies(parts: &Parts) -> Result<Cookies, OidcError> {
    let cookies = parts
        .extensions
        .get::<Cookies>()
        .cloned()
        .ok_or_else(|| misconfigured("no CookieLayer outside the OIDC routes"))?;
    cookies
        .private()
        .map_err(|_| misconfigured("the CookieLayer has no keys for private cookies"))?;
    Ok(cookies)
}

fn parts_session(parts: &Parts) -> Result<Session, OidcError> {
    parts
        .extensions
        .get::<Session>()
        .cloned()
        .ok_or_else(|| misconfigured("no TokenLookupLayer outside the OIDC routes"))
}

impl Oidc {
    pub(crate) fn from_inner(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &OidcConfig {
        &self.inner.config
    }

    /// The path of the login route.
    pub fn login_path(&self) -> &str {
        &self.inner.config.login_path
    }

    /// The path of the callback route (the redirect URI's path).
    pub fn callback_path(&self) -> &str {
        &self.inner.callback_path
    }

    /// The path of the logout route.
    pub fn logout_path(&self) -> &str {
        &self.inner.config.logout_path
    }

    /// Which route `path` is, if any.
    pub fn route(&self, path: &str) -> Option<Route> {
        if path == self.inner.config.login_path {
            Some(Route::Login)
        } else if path == self.inner.callback_path {
            Some(Route::Callback)
        } else if path == self.inner.config.logout_path {
            Some(Route::Logout)
        } else {
            None
        }
    }

    /// Fetches the provider's metadata now (discovery) and its ID-token keys, so that
    /// misconfiguration shows at start-up rather than at the first login.
    pub async fn discover(&self) -> Result<ProviderMetadata, OidcError> {
        let meta = self.metadata().await?;
        if !self.inner.id_validator.jwks().refresh_now().await {
            return Err(OidcError::new(
                OidcErrorKind::ProviderUnavailable,
                "the provider's keys could not be fetched",
            ));
        }
        Ok((*meta).clone())
    }

    async fn metadata(&self) -> Result<Arc<ProviderMetadata>, OidcError> {
        self.inner
            .metadata
            .get(&*self.inner.http, self.inner.config.timeout)
            .await
    }

    /// Serves one request of the login, callback or logout route (the body is not read);
    /// any other path gets 404. Errors become the error page of [`OidcError::to_response`].
    pub async fn handle<B>(&self, request: Request<B>) -> Response<String> {
        let (parts, _body) = request.into_parts();
        self.handle_parts(parts).await
    }

    pub(crate) async fn handle_parts(&self, parts: Parts) -> Response<String> {
        let Some(route) = self.route(parts.uri.path()) else {
            let mut response = Response::new(String::from("not found"));
            *response.status_mut() = StatusCode::NOT_FOUND;
            return response;
        };
        let (allowed, allow) = match route {
            Route::Login | Route::Callback => (Method::GET, "GET"),
            Route::Logout => (Method::POST, "POST"),
        };
        if parts.method != allowed {
            let mut response =
                OidcError::new(OidcErrorKind::MethodNotAllowed, "wrong method").to_response();
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
            return response;
        }
        let result = match route {
            Route::Login => self.login(&parts).await,
            Route::Callback => self.callback(&parts).await,
            Route::Logout => self.logout(&parts).await,
        };
        result.unwrap_or_else(|err| {
            tracing::info!(error = %err, "OIDC {route:?} failed");
            err.to_response()
        })
    }

    async fn login(&self, parts: &Parts) -> Result<Response<String>, OidcError> {
        let config = &self.inner.config;
        let cookies = parts_cookies(parts)?;
        let params = parse_query(parts.uri.query())
            .ok_or_else(|| OidcError::new(OidcErrorKind::InvalidReturnTo, "malformed query"))?;
        let return_to = param(&params, "return_to").unwrap_or(&config.default_return_to);
        if !is_safe_return_to(return_to, config.max_return_to_bytes) {
            return Err(OidcError::new(
                OidcErrorKind::InvalidReturnTo,
                "return_to is not a same-origin path",
            ));
        }
        let meta = self.metadata().await?;
        let random = || {
            random_token().map_err(|_| {
                OidcError::new(
                    OidcErrorKind::ProviderUnavailable,
                    "no randomness available",
                )
            })
        };
        let flow = FlowState {
            state: random()?,
            nonce: random()?,
            verifier: random()?,
            return_to: return_to.to_owned(),
            started: now_secs(),
        };
        let sealed = serde_json::to_string(&flow)
            .map_err(|_| misconfigured("could not encode the flow state"))?;
        let mut cookie = Cookie::new(config.flow_cookie.clone(), sealed);
        let secs = i64::try_from(config.flow_lifetime.as_secs()).unwrap_or(3600);
        cookie.set_max_age(cookie::time::Duration::seconds(secs));
        cookies
            .private()
            .and_then(|p| p.add(cookie))
            .map_err(|_| misconfigured("the flow cookie was refused (name vs. Secure?)"))?;

        let mut scope = String::from("openid");
        for s in config.scopes.iter().filter(|s| *s != "openid") {
            scope.push(' ');
            scope.push_str(s);
        }
        if config.offline_access && !config.scopes.iter().any(|s| s == "offline_access") {
            scope.push_str(" offline_access");
        }
        let endpoint = meta.authorization_endpoint.to_string();
        let mut url = endpoint.clone();
        url.push(if endpoint.contains('?') { '&' } else { '?' });
        url.push_str(&format!(
            "response_type=code&client_id={}&redirect_uri={}&scope={}&state={}&nonce={}\
             &code_challenge={}&code_challenge_method=S256",
            enc(&config.client_id),
            enc(&config.redirect_uri),
            enc(&scope),
            flow.state,
            flow.nonce,
            pkce_challenge(&flow.verifier),
        ));
        // OIDC Core §11: offline access is requested with `prompt=consent`.
        let prompt = config
            .prompt
            .as_deref()
            .or(config.offline_access.then_some("consent"));
        if let Some(prompt) = prompt {
            url.push_str(&format!("&prompt={}", enc(prompt)));
        }
        const OWN: &[&str] = &[
            "response_type",
            "client_id",
            "redirect_uri",
            "scope",
            "state",
            "nonce",
            "code_challenge",
            "code_challenge_method",
            "prompt",
        ];
        for (name, value) in config
            .extra_params
            .iter()
            .filter(|(n, _)| !OWN.contains(&n.as_str()))
        {
            url.push_str(&format!("&{}={}", enc(name), enc(value)));
        }
        redirect(&url)
    }

    async fn callback(&self, parts: &Parts) -> Result<Response<String>, OidcError> {
        let config = &self.inner.config;
        let cookies = parts_cookies(parts)?;
        let session = parts_session(parts)?;
        let params = parse_query(parts.uri.query()).ok_or_else(|| {
            OidcError::new(
                OidcErrorKind::InvalidCallback,
                "malformed or repeated parameters",
            )
        })?;
        let private = cookies
            .private()
            .map_err(|_| misconfigured("the CookieLayer has no keys"))?;
        let flow = private.get(&config.flow_cookie);
        // The flow cookie is single use, whatever happens next.
        private.remove(Cookie::new(config.flow_cookie.clone(), ""));
        let flow: FlowState = flow
            .and_then(|c| serde_json::from_str(c.value()).ok())
            .ok_or_else(|| OidcError::new(OidcErrorKind::MissingFlow, "no valid flow cookie"))?;
        let state = param(&params, "state")
            .ok_or_else(|| OidcError::new(OidcErrorKind::StateMismatch, "no state"))?;
        if !constant_time_eq(state.as_bytes(), flow.state.as_bytes()) {
            return Err(OidcError::new(
                OidcErrorKind::StateMismatch,
                "state mismatch",
            ));
        }
        if now_secs().saturating_sub(flow.started) > config.flow_lifetime.as_secs() {
            return Err(OidcError::new(OidcErrorKind::FlowExpired, "flow expired"));
        }
        let key: [u8; 32] = Sha256::digest(flow.state.as_bytes()).into();
        if !self.inner.replay.entry(key).or_insert(()).is_fresh() {
            tracing::warn!("replayed OIDC callback refused");
            return Err(OidcError::new(
                OidcErrorKind::Replayed,
                "state already used",
            ));
        }
        let meta = self.metadata().await?;
        match param(&params, "iss") {
            Some(iss) if iss != meta.issuer => {
                return Err(OidcError::new(
                    OidcErrorKind::InvalidCallback,
                    "iss mismatch",
                ));
            }
            None if meta.authorization_response_iss_parameter_supported => {
                return Err(OidcError::new(OidcErrorKind::InvalidCallback, "no iss"));
            }
            _ => {}
        }
        if let Some(error) = param(&params, "error") {
            return Err(OidcError::provider(error));
        }
        let code = param(&params, "code")
            .filter(|c| !c.is_empty())
            .ok_or_else(|| OidcError::new(OidcErrorKind::InvalidCallback, "no code"))?;
        let response = exchange_code(
            &*self.inner.http,
            config.timeout,
            &meta.token_endpoint,
            &config.client_id,
            &config.auth,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &config.redirect_uri),
                ("code_verifier", &flow.verifier),
            ],
        )
        .await?;
        let id_token = response
            .id_token
            .as_deref()
            .ok_or_else(|| OidcError::new(OidcErrorKind::InvalidTokenResponse, "no ID token"))?;
        let subject = crate::id_token::validate(
            &self.inner.id_validator,
            id_token,
            &config.client_id,
            &flow.nonce,
            &response.access_token,
        )
        .await?;
        if let Some(validator) = &config.access_validator {
            validator
                .validate(&response.access_token)
                .await
                .map_err(|e| {
                    tracing::warn!(error = %e, "access token refused at login");
                    if e.kind() == portcullis_jwt::JwtErrorKind::KeysUnavailable {
                        OidcError::new(OidcErrorKind::ProviderUnavailable, "keys unavailable")
                    } else {
                        OidcError::new(OidcErrorKind::InvalidAccessToken, "access token invalid")
                    }
                })?;
        }
        let mut tokens = TokenSet::new(response.access_token).with_id_token(id_token);
        if let Some(refresh) = response.refresh_token {
            tokens = tokens.with_refresh_token(refresh);
        }
        if let Some(secs) = response.expires_in {
            tokens = tokens.with_expires_in(Timestamp::now(), std::time::Duration::from_secs(secs));
        }
        session.login(&subject, tokens).await.map_err(|e| {
            tracing::error!(error = %e, "could not create the session after login");
            OidcError::new(OidcErrorKind::Session, "session not created")
        })?;
        redirect(&flow.return_to)
    }

    async fn logout(&self, parts: &Parts) -> Result<Response<String>, OidcError> {
        let config = &self.inner.config;
        if config.check_logout_origin
            && let Some(origin) = parts.headers.get(header::ORIGIN)
            && origin.as_bytes() != self.inner.origin.as_bytes()
        {
            return Err(OidcError::new(
                OidcErrorKind::CrossOrigin,
                "logout from another origin",
            ));
        }
        let session = parts_session(parts)?;
        let id_token = session
            .tokens()
            .and_then(|t| t.id_token().map(str::to_owned));
        if let Err(err) = session.logout().await {
            match err.kind() {
                SessionErrorKind::IdpRejected | SessionErrorKind::IdpUnavailable => {
                    tracing::warn!(error = %err, "token revocation at logout failed; the local session is ended");
                }
                _ => {
                    tracing::error!(error = %err, "logout failed");
                    return Err(OidcError::new(OidcErrorKind::Session, "logout failed"));
                }
            }
        }
        let end_session = match self.metadata().await {
            Ok(meta) => meta.end_session_endpoint.clone(),
            Err(err) => {
                tracing::warn!(error = %err, "no provider metadata at logout; local logout only");
                None
            }
        };
        let Some(endpoint) = end_session else {
            return redirect(&config.logged_out_path);
        };
        let endpoint = endpoint.to_string();
        let mut url = endpoint.clone();
        url.push(if endpoint.contains('?') { '&' } else { '?' });
        url.push_str(&format!("client_id={}", enc(&config.client_id)));
        if let Some(hint) = &id_token {
            url.push_str(&format!("&id_token_hint={}", enc(hint)));
        }
        if let Some(uri) = &config.post_logout_redirect_uri {
            url.push_str(&format!("&post_logout_redirect_uri={}", enc(uri)));
        }
        redirect(&url)
    }
}
