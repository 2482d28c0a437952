//! What a handler knows about the invocation it serves: who asked, by when, on which trace.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::Deserialize;

use crate::Config;

/// The invocation a handler is serving, and the function serving it.
///
/// Cloning is cheap: the strings share the buffers the Runtime API response was read into.
#[derive(Debug, Clone)]
pub struct Context {
    pub(crate) request_id: HeaderStr,
    pub(crate) deadline_ms: u64,
    pub(crate) invoked_function_arn: HeaderStr,
    pub(crate) xray_trace_id: Option<HeaderStr>,
    pub(crate) tenant_id: Option<HeaderStr>,
    pub(crate) client_context: Option<Arc<ClientContext>>,
    pub(crate) identity: Option<Arc<CognitoIdentity>>,
    pub(crate) config: Arc<Config>,
    #[cfg(feature = "metrics")]
    pub(crate) metrics: crate::metrics::Metrics,
}

impl Context {
    /// The id Lambda gave this invocation (`Lambda-Runtime-Aws-Request-Id`).
    pub fn request_id(&self) -> &str {
        self.request_id.as_str()
    }

    /// When Lambda stops this invocation, as Lambda's clock has it.
    pub fn deadline(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.deadline_ms)
    }

    /// The time left before the deadline; zero once it has passed.
    ///
    /// # Examples
    ///
    /// ```
    /// # let ctx = lambda_kit::testing::ContextBuilder::new().build();
    /// // Leave a margin for the response to be sent.
    /// if ctx.remaining_time() < std::time::Duration::from_millis(500) {
    ///     // hand the rest of the work to a queue instead
    /// }
    /// ```
    pub fn remaining_time(&self) -> Duration {
        self.deadline()
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    }

    /// The ARN the caller invoked, with the version or alias when it named one.
    pub fn invoked_function_arn(&self) -> &str {
        self.invoked_function_arn.as_str()
    }

    /// The X-Ray trace header (`Root=1-...;Parent=...;Sampled=...`), when tracing is active.
    pub fn xray_trace_id(&self) -> Option<&str> {
        self.xray_trace_id.as_ref().map(HeaderStr::as_str)
    }

    /// The tenant this invocation is for, on functions with tenant isolation.
    pub fn tenant_id(&self) -> Option<&str> {
        self.tenant_id.as_ref().map(HeaderStr::as_str)
    }

    /// The client context a mobile SDK sent with the invocation.
    pub fn client_context(&self) -> Option<&ClientContext> {
        self.client_context.as_deref()
    }

    /// The Amazon Cognito identity of the caller, when a mobile SDK sent one.
    pub fn identity(&self) -> Option<&CognitoIdentity> {
        self.identity.as_deref()
    }

    /// The function's configuration: name, version, memory, log group and so on.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// This invocation's custom metrics, written in CloudWatch's Embedded Metric Format when
    /// the invocation ends.
    ///
    /// # Examples
    ///
    /// ```
    /// use lambda_kit::metrics::Unit;
    /// # let ctx = lambda_kit::testing::ContextBuilder::new().build();
    /// ctx.metrics().add_metric("OrdersPlaced", 1.0, Unit::Count)?;
    /// # Ok::<(), lambda_kit::metrics::MetricsError>(())
    /// ```
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }
}

/// A header value known to be visible ASCII, so it reads as `&str` without copying.
///
/// The bytes are checked once, when the value is made, and then read as text without a second
/// look: an invocation's request id, ARN and trace header are read on every invocation (the
/// request path, log lines, `_X_AMZN_TRACE_ID`), and checking them again at each read cost
/// the poll loop about 1,000 instructions an invocation (BENCHMARKS.md).
#[derive(Debug, Clone)]
pub(crate) struct HeaderStr(Bytes);

impl HeaderStr {
    /// `None` when the value has bytes that are not visible ASCII, spaces or tabs (what
    /// `http::HeaderValue::to_str` accepts).
    pub(crate) fn new(value: Bytes) -> Option<Self> {
        is_visible_ascii(&value).then_some(Self(value))
    }

    /// [`new`](Self::new) of a copy of `value`.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn copy_from_str(value: &str) -> Option<Self> {
        Self::new(Bytes::copy_from_slice(value.as_bytes()))
    }

    /// A value written in the code: its bytes are text, which is all [`as_str`](Self::as_str)
    /// needs.
    pub(crate) fn from_static(value: &'static str) -> Self {
        Self(Bytes::from_static(value.as_bytes()))
    }

    pub(crate) fn as_str(&self) -> &str {
        // SAFETY: the bytes are UTF-8: `new` checked that they are ASCII, and `from_static`
        // took them from a `str`; `Bytes` never changes them afterwards.
        #[allow(unsafe_code)]
        unsafe {
            std::str::from_utf8_unchecked(&self.0)
        }
    }
}

/// Whether every byte is visible ASCII, a space or a tab. Folded without an early exit, so
/// the compiler checks a vector of bytes at a time.
fn is_visible_ascii(bytes: &[u8]) -> bool {
    bytes.iter().fold(true, |ok, &byte| {
        ok & ((byte == b'\t') | (byte.wrapping_sub(b' ') < 0x7f - b' '))
    })
}

/// The client context a mobile SDK sends (`Lambda-Runtime-Client-Context`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ClientContext {
    #[serde(default)]
    client: ClientApplication,
    #[serde(default)]
    custom: HashMap<String, String>,
    #[serde(default)]
    env: HashMap<String, String>,
}

impl ClientContext {
    /// The calling application.
    pub fn client(&self) -> &ClientApplication {
        &self.client
    }

    /// Custom values the application set.
    pub fn custom(&self) -> &HashMap<String, String> {
        &self.custom
    }

    /// Facts about the device (`platform`, `model`, `locale`, ...).
    pub fn env(&self) -> &HashMap<String, String> {
        &self.env
    }
}

/// The application that sent a client context.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ClientApplication {
    #[serde(default, alias = "installationId")]
    installation_id: String,
    #[serde(default, alias = "appTitle")]
    app_title: String,
    #[serde(default, alias = "appVersionName")]
    app_version_name: String,
    #[serde(default, alias = "appVersionCode")]
    app_version_code: String,
    #[serde(default, alias = "appPackageName")]
    app_package_name: String,
}

impl ClientApplication {
    /// The installation's id.
    pub fn installation_id(&self) -> &str {
        &self.installation_id
    }

    /// The application's title.
    pub fn app_title(&self) -> &str {
        &self.app_title
    }

    /// The application's version name.
    pub fn app_version_name(&self) -> &str {
        &self.app_version_name
    }

    /// The application's version code.
    pub fn app_version_code(&self) -> &str {
        &self.app_version_code
    }

    /// The application's package name.
    pub fn app_package_name(&self) -> &str {
        &self.app_package_name
    }
}

/// The Amazon Cognito identity of a caller (`Lambda-Runtime-Cognito-Identity`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct CognitoIdentity {
    #[serde(default, rename = "cognitoIdentityId")]
    identity_id: String,
    #[serde(default, rename = "cognitoIdentityPoolId")]
    identity_pool_id: String,
}

impl CognitoIdentity {
    /// The identity's id.
    pub fn identity_id(&self) -> &str {
        &self.identity_id
    }

    /// The identity pool's id.
    pub fn identity_pool_id(&self) -> &str {
        &self.identity_pool_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_strings_are_visible_ascii_spaces_and_tabs() {
        let value = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1 \t~!";
        assert_eq!(HeaderStr::copy_from_str(value).unwrap().as_str(), value);
        // Long enough that the check runs over whole vectors of bytes and a tail.
        let long = "a".repeat(100);
        assert_eq!(HeaderStr::copy_from_str(&long).unwrap().as_str(), long);
        assert_eq!(HeaderStr::copy_from_str("").unwrap().as_str(), "");
        for bad in ["\0", "a\nb", "x\r", "\u{7f}", "é", &format!("{long}\u{1f}")] {
            assert!(HeaderStr::copy_from_str(bad).is_none(), "{bad:?}");
        }
    }
}
