//! What Lambda is told when an invocation fails: an error type and a message.
//!
//! Lambda shows `errorType` to callers (`X-Amz-Function-Error`, the Invoke response body, Step
//! Functions `Catch` rules), so it must be a name the user chose, never a Rust type path.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

use serde::Serialize;

/// An invocation's failure as Lambda reports it: `{"errorType", "errorMessage", "stackTrace"}`.
///
/// A handler's error type becomes a `Diagnostic` through `From`. Implement it for your own error
/// to choose the `errorType` callers see:
///
/// ```
/// use lambda_kit::Diagnostic;
///
/// #[derive(Debug)]
/// enum OrderError {
///     OutOfStock(String),
/// }
///
/// impl From<OrderError> for Diagnostic {
///     fn from(error: OrderError) -> Self {
///         match error {
///             OrderError::OutOfStock(sku) => {
///                 Diagnostic::new("OutOfStock", format!("{sku} is out of stock"))
///             }
///         }
///     }
/// }
///
/// let diagnostic = Diagnostic::from(OrderError::OutOfStock("sku-1".into()));
/// assert_eq!(diagnostic.error_type(), "OutOfStock");
/// ```
///
/// Boxed errors (`Box<dyn Error + Send + Sync>`) convert too. Their concrete type is gone by
/// then, so the `errorType` is the leading name of their `Debug` output, which for derived
/// `Debug` is the type or enum variant (`ParseIntError`, `OutOfStock`), and `Error` when there
/// is none (a boxed string). Use [`Diagnostic::from_error`] to name the type exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Diagnostic {
    error_type: Cow<'static, str>,
    error_message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stack_trace: Vec<String>,
}

impl Diagnostic {
    /// A diagnostic with the given `errorType` and `errorMessage`.
    ///
    /// # Examples
    ///
    /// ```
    /// let diagnostic = lambda_kit::Diagnostic::new("ValidationError", "`amount` must be positive");
    /// assert_eq!(diagnostic.error_message(), "`amount` must be positive");
    /// ```
    pub fn new(error_type: impl Into<Cow<'static, str>>, error_message: impl Into<String>) -> Self {
        Self {
            error_type: error_type.into(),
            error_message: error_message.into(),
            stack_trace: Vec::new(),
        }
    }

    /// A diagnostic for `error`, typed by the last segment of its type's name (`ParseIntError`
    /// for `std::num::ParseIntError`), with its `source()` chain as the stack trace.
    ///
    /// # Examples
    ///
    /// ```
    /// let error = "x".parse::<u32>().unwrap_err();
    /// let diagnostic = lambda_kit::Diagnostic::from_error(&error);
    /// assert_eq!(diagnostic.error_type(), "ParseIntError");
    /// ```
    pub fn from_error<E: StdError>(error: &E) -> Self {
        Self::new(short_type_name::<E>(), error.to_string()).with_causes(error.source())
    }

    /// Replaces the stack trace: the lines Lambda shows under the message.
    #[must_use]
    pub fn with_stack_trace(mut self, lines: Vec<String>) -> Self {
        self.stack_trace = lines;
        self
    }

    /// The `errorType` Lambda reports.
    pub fn error_type(&self) -> &str {
        &self.error_type
    }

    /// The `errorMessage` Lambda reports.
    pub fn error_message(&self) -> &str {
        &self.error_message
    }

    /// The `stackTrace` lines Lambda reports (the error's causes, outermost first).
    pub fn stack_trace(&self) -> &[String] {
        &self.stack_trace
    }

    /// The JSON body the Runtime API expects.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        // Serialising strings and a Vec of strings into a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub(crate) fn with_causes(mut self, mut cause: Option<&dyn StdError>) -> Self {
        while let Some(error) = cause {
            self.stack_trace.push(format!("caused by: {error}"));
            cause = error.source();
        }
        self
    }

    fn from_dyn(error: &(dyn StdError + 'static)) -> Self {
        let error_type = if error.is::<std::io::Error>() {
            Cow::Borrowed("IoError")
        } else {
            debug_name(error).map_or(Cow::Borrowed("Error"), Cow::Owned)
        };
        Self::new(error_type, error.to_string()).with_causes(error.source())
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.error_message)
    }
}

/// `alloc::vec::Vec<my_crate::Item>` → `Vec<Item>`: every path segment dropped, generics kept.
pub(crate) fn short_type_name<T: ?Sized>() -> String {
    let full = std::any::type_name::<T>();
    let mut short = String::with_capacity(full.len());
    let mut segment_start = 0;
    for (index, char) in full.char_indices() {
        match char {
            ':' => segment_start = index + 1,
            '<' | '>' | ',' | ' ' | '(' | ')' | '[' | ']' | '&' | ';' => {
                short.push_str(&full[segment_start..index]);
                short.push(char);
                segment_start = index + 1;
            }
            _ => {}
        }
    }
    short.push_str(&full[segment_start..]);
    short
}

/// The identifier a derived `Debug` starts with (`OutOfStock { .. }` → `OutOfStock`).
fn debug_name(error: &dyn StdError) -> Option<String> {
    let mut debug = format!("{error:?}");
    let end = debug
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(debug.len());
    debug.truncate(end);
    debug
        .starts_with(|c: char| c.is_ascii_uppercase())
        .then_some(debug)
}

impl From<Box<dyn StdError + Send + Sync>> for Diagnostic {
    fn from(error: Box<dyn StdError + Send + Sync>) -> Self {
        Self::from_dyn(&*error)
    }
}

impl From<Box<dyn StdError>> for Diagnostic {
    fn from(error: Box<dyn StdError>) -> Self {
        Self::from_dyn(&*error)
    }
}

impl From<std::io::Error> for Diagnostic {
    fn from(error: std::io::Error) -> Self {
        Self::from_dyn(&error)
    }
}

impl From<serde_json::Error> for Diagnostic {
    fn from(error: serde_json::Error) -> Self {
        Self::new("JsonError", error.to_string())
    }
}

impl From<crate::Error> for Diagnostic {
    fn from(error: crate::Error) -> Self {
        Self::new("Runtime.Error", error.to_string()).with_causes(error.source())
    }
}

impl From<String> for Diagnostic {
    fn from(message: String) -> Self {
        Self::new("Error", message)
    }
}

impl From<&str> for Diagnostic {
    fn from(message: &str) -> Self {
        Self::new("Error", message)
    }
}

impl From<std::convert::Infallible> for Diagnostic {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    enum OrderError {
        OutOfStock { sku: String },
    }

    impl fmt::Display for OrderError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Self::OutOfStock { sku } => write!(f, "{sku} is out of stock"),
            }
        }
    }

    impl StdError for OrderError {}

    #[derive(Debug)]
    struct Wrapped(std::io::Error);

    impl fmt::Display for Wrapped {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("could not load the order")
        }
    }

    impl StdError for Wrapped {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn short_type_names_drop_paths_but_keep_generics() {
        assert_eq!(
            short_type_name::<std::num::ParseIntError>(),
            "ParseIntError"
        );
        assert_eq!(short_type_name::<Vec<std::string::String>>(), "Vec<String>");
        assert_eq!(
            short_type_name::<std::collections::HashMap<u8, Box<dyn StdError>>>(),
            "HashMap<u8, Box<dyn Error>>"
        );
    }

    #[test]
    fn boxed_errors_are_typed_by_their_debug_name() {
        let boxed: Box<dyn StdError + Send + Sync> =
            Box::new(OrderError::OutOfStock { sku: "a1".into() });
        let diagnostic = Diagnostic::from(boxed);
        assert_eq!(diagnostic.error_type(), "OutOfStock");
        assert_eq!(diagnostic.error_message(), "a1 is out of stock");

        let boxed: Box<dyn StdError + Send + Sync> = "plain words".into();
        assert_eq!(Diagnostic::from(boxed).error_type(), "Error");

        let io = std::io::Error::other("disk on fire");
        assert_eq!(Diagnostic::from(io).error_type(), "IoError");
    }

    #[test]
    fn the_source_chain_becomes_the_stack_trace() {
        let error = Wrapped(std::io::Error::other("timed out"));
        let diagnostic = Diagnostic::from_error(&error);
        assert_eq!(diagnostic.error_type(), "Wrapped");
        assert_eq!(diagnostic.stack_trace(), ["caused by: timed out"]);
        let json: serde_json::Value = serde_json::from_slice(&diagnostic.to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "errorType": "Wrapped",
                "errorMessage": "could not load the order",
                "stackTrace": ["caused by: timed out"],
            })
        );
    }

    #[test]
    fn an_empty_stack_trace_is_left_out() {
        let json = String::from_utf8(Diagnostic::new("Oops", "bad").to_json()).unwrap();
        assert_eq!(json, r#"{"errorType":"Oops","errorMessage":"bad"}"#);
    }
}
