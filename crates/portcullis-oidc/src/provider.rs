//! The provider's metadata (OpenID Connect Discovery) and its token endpoint.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{Method, Request, Uri, header};
use portcullis_jwt::http::{HttpClient, check_url};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::error::{OidcError, OidcErrorKind};
use crate::flow::enc;

/// The provider endpoints this crate uses, from discovery or configured by hand
/// ([`OidcConfig::with_metadata`](crate::OidcConfig::with_metadata)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderMetadata {
    /// The issuer identifier (must equal the configured issuer).
    pub issuer: String,
    /// Where the browser is sent to log in.
    pub authorization_endpoint: Uri,
    /// Where the code is exchanged.
    pub token_endpoint: Uri,
    /// RP-initiated logout, if the provider supports it.
    pub end_session_endpoint: Option<Uri>,
    /// Whether the provider sends `iss` with authorization responses (RFC 9207).
    pub authorization_response_iss_parameter_supported: bool,
}

impl ProviderMetadata {
    /// Endpoints configured by hand.
    pub fn new(
        issuer: impl Into<String>,
        authorization_endpoint: Uri,
        token_endpoint: Uri,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            authorization_endpoint,
            token_endpoint,
            end_session_endpoint: None,
            authorization_response_iss_parameter_supported: false,
        }
    }

    /// Adds the `end_session_endpoint`.
    #[must_use]
    pub fn with_end_session_endpoint(mut self, uri: Uri) -> Self {
        self.end_session_endpoint = Some(uri);
        self
    }

    pub(crate) fn check_urls(&self, allow_http_loopback: bool) -> Result<(), String> {
        let mut urls = vec![&self.authorization_endpoint, &self.token_endpoint];
        urls.extend(self.end_session_endpoint.as_ref());
        for uri in urls {
            check_url(uri, allow_http_loopback).map_err(|e| format!("{uri}: {e}"))?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct DiscoveryDocument {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    #[serde(default)]
    end_session_endpoint: Option<String>,
    #[serde(default)]
    code_challenge_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

/// Where the metadata comes from, and the cached copy.
pub(crate) struct Metadata {
    fixed: Option<Arc<ProviderMetadata>>,
    discovery: Uri,
    issuer: Arc<str>,
    ttl: Duration,
    allow_http_loopback: bool,
    cached: Mutex<Option<(Arc<ProviderMetadata>, Instant)>>,
}

impl Metadata {
    pub(crate) fn new(
        fixed: Option<ProviderMetadata>,
        discovery: Uri,
        issuer: Arc<str>,
        ttl: Duration,
        allow_http_loopback: bool,
    ) -> Self {
        Self {
            fixed: fixed.map(Arc::new),
            discovery,
            issuer,
            ttl,
            allow_http_loopback,
            cached: Mutex::new(None),
        }
    }

    /// The metadata: fixed, cached, or discovered now (one fetch at a time; a stale copy is
    /// served when a refresh fails).
    pub(crate) async fn get(
        &self,
        http: &dyn HttpClient,
        timeout: Duration,
    ) -> Result<Arc<ProviderMetadata>, OidcError> {
        if let Some(fixed) = &self.fixed {
            return Ok(fixed.clone());
        }
        let mut cached = self.cached.lock().await;
        if let Some((meta, at)) = cached.as_ref()
            && at.elapsed() < self.ttl
        {
            return Ok(meta.clone());
        }
        match self.discover(http, timeout).await {
            Ok(meta) => {
                let meta = Arc::new(meta);
                *cached = Some((meta.clone(), Instant::now()));
                Ok(meta)
            }
            Err(err) => {
                if let Some((meta, _)) = cached.as_ref() {
                    tracing::warn!(error = %err, "OIDC discovery refresh failed; using the previous metadata");
                    return Ok(meta.clone());
                }
                Err(err)
            }
        }
    }

    async fn discover(
        &self,
        http: &dyn HttpClient,
        timeout: Duration,
    ) -> Result<ProviderMetadata, OidcError> {
        let unavailable = |detail| OidcError::new(OidcErrorKind::ProviderUnavailable, detail);
        let request = Request::get(self.discovery.clone())
            .header(header::ACCEPT, "application/json")
            .body(Bytes::new())
            .map_err(|_| unavailable("bad discovery request"))?;
        let response = tokio::time::timeout(timeout, http.execute(request))
            .await
            .map_err(|_| unavailable("discovery timed out"))?
            .map_err(|e| {
                tracing::warn!(error = %e, "OIDC discovery failed");
                unavailable("discovery failed")
            })?;
        if !response.status().is_success() {
            tracing::warn!(status = %response.status(), "OIDC discovery answered an error");
            return Err(unavailable("discovery answered an error status"));
        }
        let doc: DiscoveryDocument = serde_json::from_slice(response.body())
            .map_err(|_| unavailable("discovery document is not valid JSON"))?;
        // OIDC Discovery §4.3: the issuer must be exactly the one we asked about.
        if doc.issuer != *self.issuer {
            tracing::error!(expected = %self.issuer, got = %doc.issuer, "OIDC discovery issuer mismatch");
            return Err(unavailable("discovery issuer mismatch"));
        }
        if let Some(methods) = &doc.code_challenge_methods_supported
            && !methods.iter().any(|m| m == "S256")
        {
            return Err(unavailable("the provider does not support PKCE S256"));
        }
        let parse = |s: &str| {
            s.parse::<Uri>()
                .map_err(|_| unavailable("bad endpoint URL"))
        };
        let meta = ProviderMetadata {
            issuer: doc.issuer.clone(),
            authorization_endpoint: parse(&doc.authorization_endpoint)?,
            token_endpoint: parse(&doc.token_endpoint)?,
            end_session_endpoint: doc.end_session_endpoint.as_deref().map(parse).transpose()?,
            authorization_response_iss_parameter_supported: doc
                .authorization_response_iss_parameter_supported,
        };
        meta.check_urls(self.allow_http_loopback).map_err(|e| {
            tracing::error!(error = %e, "OIDC discovery names an endpoint that is not allowed");
            unavailable("discovery names an insecure endpoint")
        })?;
        Ok(meta)
    }
}

/// How this client authenticates at the token endpoint.
#[derive(Clone)]
pub(crate) enum ClientAuth {
    /// Public client: `client_id` in the form (PKCE protects the code).
    None,
    /// `client_secret_basic`.
    Basic(Arc<str>),
    /// `client_secret_post`.
    Post(Arc<str>),
}

impl ClientAuth {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Basic(_) => "client_secret_basic",
            Self::Post(_) => "client_secret_post",
        }
    }
}

/// A successful token response.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub(crate) access_token: String,
    #[serde(default)]
    pub(crate) token_type: Option<String>,
    #[serde(default)]
    pub(crate) expires_in: Option<u64>,
    #[serde(default)]
    pub(crate) refresh_token: Option<String>,
    #[serde(default)]
    pub(crate) id_token: Option<String>,
}

/// Exchanges `code` at the token endpoint (RFC 6749 §4.1.3 with the PKCE verifier).
pub(crate) async fn exchange_code(
    http: &dyn HttpClient,
    timeout: Duration,
    token_endpoint: &Uri,
    client_id: &str,
    auth: &ClientAuth,
    params: &[(&str, &str)],
) -> Result<TokenResponse, OidcError> {
    let mut body: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect();
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri(token_endpoint.clone())
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json");
    match auth {
        ClientAuth::None => body.push(format!("client_id={}", enc(client_id))),
        ClientAuth::Post(secret) => {
            body.push(format!("client_id={}", enc(client_id)));
            body.push(format!("client_secret={}", enc(secret)));
        }
        ClientAuth::Basic(secret) => {
            // RFC 6749 §2.3.1: both parts form-encoded before Basic.
            let credentials = STANDARD.encode(format!("{}:{}", enc(client_id), enc(secret)));
            builder = builder.header(header::AUTHORIZATION, format!("Basic {credentials}"));
        }
    }
    let unavailable = |detail| OidcError::new(OidcErrorKind::ProviderUnavailable, detail);
    let request = builder
        .body(Bytes::from(body.join("&")))
        .map_err(|_| unavailable("bad token request"))?;
    let response = tokio::time::timeout(timeout, http.execute(request))
        .await
        .map_err(|_| unavailable("token endpoint timed out"))?
        .map_err(|e| {
            tracing::warn!(error = %e, "OIDC token endpoint call failed");
            unavailable("token endpoint failed")
        })?;
    let status = response.status();
    if status.is_client_error() {
        // RFC 6749 §5.2; the body's `error` code is logged, never shown.
        let code = serde_json::from_slice::<serde_json::Value>(response.body())
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_default();
        tracing::warn!(%status, error = %code.chars().take(64).collect::<String>(), "OIDC token endpoint refused the code");
        return Err(OidcError::new(
            OidcErrorKind::TokenRejected,
            "the token endpoint refused the code",
        ));
    }
    if !status.is_success() {
        tracing::warn!(%status, "OIDC token endpoint answered an error");
        return Err(unavailable("token endpoint answered an error status"));
    }
    let parsed: TokenResponse = serde_json::from_slice(response.body()).map_err(|_| {
        OidcError::new(
            OidcErrorKind::InvalidTokenResponse,
            "the token response is not valid JSON",
        )
    })?;
    if let Some(kind) = &parsed.token_type
        && !kind.eq_ignore_ascii_case("bearer")
    {
        return Err(OidcError::new(
            OidcErrorKind::InvalidTokenResponse,
            "the token type is not Bearer",
        ));
    }
    Ok(parsed)
}
