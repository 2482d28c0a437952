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
    pub(crate) text: InvocationText,
    pub(crate) deadline_ms: u64,
    pub(crate) client_context: Option<Arc<ClientContext>>,
    pub(crate) identity: Option<Arc<CognitoIdentity>>,
    pub(crate) config: Arc<Config>,
    #[cfg(feature = "metrics")]
    pub(crate) metrics: crate::metrics::Metrics,
}

impl Context {
    /// The id Lambda gave this invocation (`Lambda-Runtime-Aws-Request-Id`).
    pub fn request_id(&self) -> &str {
        self.text.request_id()
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
        self.text.invoked_function_arn()
    }

    /// The X-Ray trace header (`Root=1-...;Parent=...;Sampled=...`), when tracing is active.
    pub fn xray_trace_id(&self) -> Option<&str> {
        self.text.xray_trace_id()
    }

    /// The tenant this invocation is for, on functions with tenant isolation.
    pub fn tenant_id(&self) -> Option<&str> {
        self.text.tenant_id()
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
    /// A copy of `value`; `None` when it has bytes that are not visible ASCII, spaces or tabs
    /// (what `http::HeaderValue::to_str` accepts). Outside tests, values are made by
    /// [`InvocationText`], which checks them so.
    #[cfg(test)]
    pub(crate) fn copy_from_str(value: &str) -> Option<Self> {
        is_visible_ascii(value.as_bytes()).then(|| Self(Bytes::copy_from_slice(value.as_bytes())))
    }

    pub(crate) fn as_str(&self) -> &str {
        // SAFETY: the bytes are UTF-8: they are a value of an `InvocationText`, whose `new`
        // checked that they are ASCII (or `copy_from_str` did, in tests); `Bytes` never
        // changes them afterwards.
        #[allow(unsafe_code)]
        unsafe {
            std::str::from_utf8_unchecked(&self.0)
        }
    }
}

/// An invocation's text headers (its request id, the invoked ARN, the X-Ray trace header and
/// the tenant id) as ranges of one buffer, the head of the `/next` answer they were read from,
/// each checked once, when the value is made, as [`HeaderStr`] is.
///
/// One buffer and four ranges rather than four `HeaderStr`s: a `Context` holds one reference
/// count on the buffer where it held four (taken and dropped on every invocation), and at 104
/// bytes rather than 160 it is moved (into the handler's future, and on with it) with a few
/// stores rather than a call to `memcpy`, which is dear on musl (BENCHMARKS.md, "Static or
/// glibc").
#[derive(Debug, Clone)]
pub(crate) struct InvocationText {
    buffer: Bytes,
    request_id: Span,
    invoked_function_arn: Span,
    xray_trace_id: Option<Span>,
    tenant_id: Option<Span>,
}

/// Where a value is in an [`InvocationText`]'s buffer.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
}

impl InvocationText {
    /// The values, each a slice of `buffer`, kept as ranges of it. `None` when the request id
    /// is not visible ASCII (what [`HeaderStr::new`] accepts); another value that is not is
    /// left out, as a header that cannot be read as text (the ARN is empty then).
    pub(crate) fn new(
        buffer: Bytes,
        request_id: &[u8],
        invoked_function_arn: Option<&[u8]>,
        xray_trace_id: Option<&[u8]>,
        tenant_id: Option<&[u8]>,
    ) -> Option<Self> {
        let span = |value: &[u8]| {
            // Where `value` starts in `buffer`; `None` for a slice of something else.
            let start = (value.as_ptr() as usize).checked_sub(buffer.as_ptr() as usize)?;
            let end = start.checked_add(value.len())?;
            if end > buffer.len() || !is_visible_ascii(value) {
                return None;
            }
            Some(Span {
                start: u32::try_from(start).ok()?,
                end: u32::try_from(end).ok()?,
            })
        };
        Some(Self {
            request_id: span(request_id)?,
            invoked_function_arn: invoked_function_arn
                .and_then(span)
                .unwrap_or(Span { start: 0, end: 0 }),
            xray_trace_id: xray_trace_id.and_then(span),
            tenant_id: tenant_id.and_then(span),
            buffer,
        })
    }

    /// [`new`](Self::new) of copies of the values in a buffer of their own; `Err` names the
    /// first value that is not visible ASCII.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn from_strs<'a>(
        request_id: &'a str,
        invoked_function_arn: &'a str,
        xray_trace_id: Option<&'a str>,
        tenant_id: Option<&'a str>,
    ) -> Result<Self, &'a str> {
        let values = [
            Some(request_id),
            Some(invoked_function_arn),
            xray_trace_id,
            tenant_id,
        ];
        if let Some(bad) = values
            .into_iter()
            .flatten()
            .find(|value| !is_visible_ascii(value.as_bytes()))
        {
            return Err(bad);
        }
        let buffer = Bytes::from(values.into_iter().flatten().collect::<String>());
        // The values' places in `buffer`, in the order they were joined.
        let mut at = 0;
        let [request_id, invoked_function_arn, xray_trace_id, tenant_id] = values.map(|value| {
            value.map(|value| {
                at += value.len();
                buffer.slice(at - value.len()..at)
            })
        });
        let text = Self::new(
            buffer.clone(),
            request_id.as_deref().unwrap_or_default(),
            invoked_function_arn.as_deref(),
            xray_trace_id.as_deref(),
            tenant_id.as_deref(),
        );
        // Every value was checked above and is a slice of `buffer`.
        Ok(text.expect("the values are visible ASCII slices of the buffer"))
    }

    fn get(&self, span: Span) -> &str {
        let bytes = &self.buffer[span.start as usize..span.end as usize];
        // SAFETY: the bytes are UTF-8: `new` checked that every span's bytes are ASCII, and
        // `Bytes` never changes them afterwards.
        #[allow(unsafe_code)]
        unsafe {
            std::str::from_utf8_unchecked(bytes)
        }
    }

    fn share(&self, span: Span) -> HeaderStr {
        HeaderStr(self.buffer.slice(span.start as usize..span.end as usize))
    }

    /// `Lambda-Runtime-Aws-Request-Id`.
    pub(crate) fn request_id(&self) -> &str {
        self.get(self.request_id)
    }

    /// [`request_id`](Self::request_id), sharing the buffer.
    pub(crate) fn share_request_id(&self) -> HeaderStr {
        self.share(self.request_id)
    }

    /// `Lambda-Runtime-Invoked-Function-Arn`; empty when it was not sent.
    pub(crate) fn invoked_function_arn(&self) -> &str {
        self.get(self.invoked_function_arn)
    }

    /// [`invoked_function_arn`](Self::invoked_function_arn), sharing the buffer.
    #[cfg(feature = "trace")]
    pub(crate) fn share_invoked_function_arn(&self) -> HeaderStr {
        self.share(self.invoked_function_arn)
    }

    /// `Lambda-Runtime-Trace-Id`.
    pub(crate) fn xray_trace_id(&self) -> Option<&str> {
        self.xray_trace_id.map(|span| self.get(span))
    }

    /// [`xray_trace_id`](Self::xray_trace_id), sharing the buffer.
    pub(crate) fn share_xray_trace_id(&self) -> Option<HeaderStr> {
        self.xray_trace_id.map(|span| self.share(span))
    }

    /// `Lambda-Runtime-Aws-Tenant-Id`.
    pub(crate) fn tenant_id(&self) -> Option<&str> {
        self.tenant_id.map(|span| self.get(span))
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
    fn invocation_text_reads_its_values_from_one_buffer() {
        let head = Bytes::from_static(b"id-1 arn:x Root=1-2;Sampled=1 t\xe9");
        let text = InvocationText::new(
            head.clone(),
            &head[..4],
            Some(&head[5..10]),
            Some(&head[11..29]),
            Some(&head[30..]),
        )
        .unwrap();
        assert_eq!(text.request_id(), "id-1");
        assert_eq!(text.share_request_id().as_str(), "id-1");
        assert_eq!(text.invoked_function_arn(), "arn:x");
        assert_eq!(text.xray_trace_id(), Some("Root=1-2;Sampled=1"));
        assert_eq!(
            text.share_xray_trace_id().as_ref().map(HeaderStr::as_str),
            Some("Root=1-2;Sampled=1")
        );
        // Not text: left out.
        assert_eq!(text.tenant_id(), None);
        // A request id that is not text, or not in the buffer, makes none.
        assert!(InvocationText::new(head.clone(), &head[30..], None, None, None).is_none());
        assert!(InvocationText::new(head.clone(), b"id-1", None, None, None).is_none());
        // Without an ARN, it reads as empty.
        let text = InvocationText::new(head.clone(), &head[..4], None, None, None).unwrap();
        assert_eq!(text.invoked_function_arn(), "");
        assert_eq!(text.xray_trace_id(), None);
    }

    #[test]
    fn invocation_text_from_strings_names_the_one_that_is_not_text() {
        let text = InvocationText::from_strs("id", "arn", None, Some("tenant")).unwrap();
        assert_eq!(
            (text.request_id(), text.invoked_function_arn()),
            ("id", "arn")
        );
        assert_eq!(
            (text.xray_trace_id(), text.tenant_id()),
            (None, Some("tenant"))
        );
        assert_eq!(
            InvocationText::from_strs("id", "arn", Some("a\nb"), None).err(),
            Some("a\nb")
        );
    }

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
