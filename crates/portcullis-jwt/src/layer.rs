//! [`JwtLayer`]: validates the request's access token and adds its claims.

use std::fmt;
use std::marker::PhantomData;

use portcullis_core::DefaultRejectionResponse;
use tower_layer::Layer;

use crate::service::Jwt;
use crate::validator::Validator;

/// Validates the access token of every request and puts [`Claims<T>`](crate::Claims) and
/// [`StandardClaims`](crate::StandardClaims) into the request extensions.
///
/// The token is the [`AccessToken`](portcullis_core::AccessToken) an earlier layer put into
/// the extensions (for example the session lookup), else the `Authorization: Bearer`
/// header. No token: 401 with a bare `Bearer` challenge (unless
/// [`allow_anonymous`](Self::allow_anonymous)); invalid token: 401 `invalid_token`; keys
/// unavailable: 503 with `Retry-After`; gRPC requests get `grpc-status` instead. The
/// response mapping is replaceable with [`with_rejection`](Self::with_rejection), and the
/// [`Rejection`](portcullis_core::Rejection) is in the response's extensions.
///
/// A token validated before is found in the validator's cache: no signature check.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::convert::Infallible;
/// use http::{Request, Response, StatusCode};
/// use portcullis_jwt::{JwksCache, JwtLayer, StandardClaims, Validator};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// let jwks = JwksCache::builder()
///     .add_issuer_with_jwks_uri("https://idp.example", "https://idp.example/jwks")
///     .build()
///     .unwrap();
/// // For the example, an internal issuer with an explicit HMAC secret (no network needed).
/// let secret = [42u8; 32];
/// let validator = Validator::builder(jwks)
///     .with_audience("api")
///     .with_hmac_secret("https://internal.example", secret)
///     .build()
///     .unwrap();
/// let service = ServiceBuilder::new()
///     .layer(JwtLayer::new(validator))
///     .service(service_fn(|req: Request<String>| async move {
///         let sub = req.extensions().get::<StandardClaims>().and_then(|c| c.subject().map(str::to_owned));
///         Ok::<_, Infallible>(Response::new(sub.unwrap_or_default()))
///     }));
///
/// // A valid token: the handler sees its claims.
/// let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 300;
/// let claims = serde_json::json!({"iss": "https://internal.example", "aud": "api", "sub": "alice", "exp": exp});
/// let token = jsonwebtoken::encode(
///     &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
///     &claims,
///     &jsonwebtoken::EncodingKey::from_secret(&secret),
/// )
/// .unwrap();
/// let request = Request::get("/").header("authorization", format!("Bearer {token}")).body(String::new()).unwrap();
/// let response = service.clone().oneshot(request).await.unwrap();
/// assert_eq!(response.status(), StatusCode::OK);
/// assert_eq!(response.body(), "alice");
///
/// // No token: 401 with a bare Bearer challenge.
/// let response = service.clone().oneshot(Request::new(String::new())).await.unwrap();
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(response.headers()["www-authenticate"], "Bearer");
///
/// // A garbage token: 401 invalid_token, without echoing the token.
/// let request = Request::get("/").header("authorization", "Bearer not.a.jwt").body(String::new()).unwrap();
/// let response = service.oneshot(request).await.unwrap();
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// let challenge = response.headers()["www-authenticate"].to_str().unwrap();
/// assert!(challenge.contains(r#"error="invalid_token""#));
/// assert!(!challenge.contains("not.a.jwt"));
/// # }
/// ```
#[must_use]
pub struct JwtLayer<T = serde_json::Value, R = DefaultRejectionResponse> {
    pub(crate) validator: Validator,
    pub(crate) rejection: R,
    pub(crate) allow_anonymous: bool,
    pub(crate) _claims: PhantomData<fn() -> T>,
}

impl<T, R: Clone> Clone for JwtLayer<T, R> {
    fn clone(&self) -> Self {
        Self {
            validator: self.validator.clone(),
            rejection: self.rejection.clone(),
            allow_anonymous: self.allow_anonymous,
            _claims: PhantomData,
        }
    }
}

impl<T, R: fmt::Debug> fmt::Debug for JwtLayer<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtLayer")
            .field("validator", &self.validator)
            .field("rejection", &self.rejection)
            .field("allow_anonymous", &self.allow_anonymous)
            .field("claims", &std::any::type_name::<T>())
            .finish()
    }
}

impl JwtLayer {
    /// A layer validating with `validator`, claims as `serde_json::Value`.
    pub fn new(validator: Validator) -> Self {
        Self {
            validator,
            rejection: DefaultRejectionResponse::new(),
            allow_anonymous: false,
            _claims: PhantomData,
        }
    }
}

impl<T, R> JwtLayer<T, R> {
    /// Deserializes the claims as `U` (put into the extensions as `Claims<U>`).
    pub fn with_claims<U>(self) -> JwtLayer<U, R> {
        JwtLayer {
            validator: self.validator,
            rejection: self.rejection,
            allow_anonymous: self.allow_anonymous,
            _claims: PhantomData,
        }
    }

    /// Replaces the rejection-to-response mapping.
    pub fn with_rejection<R2>(self, rejection: R2) -> JwtLayer<T, R2> {
        JwtLayer {
            validator: self.validator,
            rejection,
            allow_anonymous: self.allow_anonymous,
            _claims: PhantomData,
        }
    }

    /// Lets requests *without* any token through, without claims (for routes that serve
    /// anonymous users too; per-route policies still refuse them). A token that is present
    /// but invalid is still refused.
    pub fn allow_anonymous(mut self) -> Self {
        self.allow_anonymous = true;
        self
    }
}

impl<S, T, R: Clone> Layer<S> for JwtLayer<T, R> {
    type Service = Jwt<S, T, R>;

    fn layer(&self, inner: S) -> Self::Service {
        Jwt {
            inner,
            validator: self.validator.clone(),
            rejection: self.rejection.clone(),
            allow_anonymous: self.allow_anonymous,
            _claims: PhantomData,
        }
    }
}
