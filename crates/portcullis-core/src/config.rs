use std::borrow::Cow;
use std::fmt;

/// A configuration that cannot work, reported when a layer or stack is built.
///
/// The message names the setting and says what to change, so that a mistake is found at
/// start-up and not at the first request.
///
/// ```
/// use portcullis_core::ConfigError;
///
/// let err = ConfigError::new("cookie.name", "the `__Host-` prefix requires `Secure`");
/// assert_eq!(err.setting(), "cookie.name");
/// assert_eq!(
///     err.to_string(),
///     "invalid portcullis configuration for `cookie.name`: the `__Host-` prefix requires `Secure`"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    setting: Cow<'static, str>,
    message: Cow<'static, str>,
}

impl ConfigError {
    /// A configuration error for `setting`, with a message that says what to fix.
    pub fn new(
        setting: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            setting: setting.into(),
            message: message.into(),
        }
    }

    /// The setting at fault, e.g. `jwt.audience`.
    pub fn setting(&self) -> &str {
        &self.setting
    }

    /// What is wrong and how to fix it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid portcullis configuration for `{}`: {}",
            self.setting, self.message
        )
    }
}

impl std::error::Error for ConfigError {}
