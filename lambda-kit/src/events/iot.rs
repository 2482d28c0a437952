//! AWS IoT Core: what a topic rule sends a function, and custom authorizers.
//!
//! A topic rule's Lambda action invokes the function asynchronously with the result of the
//! rule's SQL statement as the event: with `SELECT * FROM 'sensors/+/telemetry'`, the device's
//! JSON message itself. There is no envelope, so a handler takes its own `T` directly, or
//! [`TopicMessage<T>`] when the statement also selects the topic
//! (`SELECT *, topic() AS topic FROM ...`), the one thing the message does not say by itself
//! (AWS "AWS IoT SQL reference", `topic(number)`).
//!
//! The custom authorizer types, for functions that authorize device connections, come from
//! `aws_lambda_events`.

use serde::{Deserialize, Serialize};

#[doc(inline)]
pub use aws_lambda_events::iot::{
    IoTCoreConnectionMetadata, IoTCoreCustomAuthorizerRequest, IoTCoreCustomAuthorizerResponse,
    IoTCoreHttpContext, IoTCoreMqttContext, IoTCoreProtocolData, IoTCoreTlsContext,
};

/// A topic rule's message as your own `T`, with the MQTT topic it was published on when the
/// rule's SQL selects `topic() AS topic`.
///
/// The message's other fields are read as the `T` (a struct or a map: the message is a JSON
/// object); a `topic` field of the device's own goes to [`topic`](Self::topic), not to `T`.
///
/// # Examples
///
/// ```
/// use lambda_kit::events::iot::TopicMessage;
///
/// #[derive(serde::Deserialize, serde::Serialize)]
/// struct Reading {
///     device: String,
///     celsius: f64,
/// }
///
/// // SELECT *, topic() AS topic FROM 'sensors/+/telemetry'
/// let event: TopicMessage<Reading> = serde_json::from_str(
///     r#"{"device": "d-7", "celsius": 21.5, "topic": "sensors/d-7/telemetry"}"#,
/// )?;
/// assert_eq!(event.topic.as_deref(), Some("sensors/d-7/telemetry"));
/// assert_eq!(event.message.celsius, 21.5);
/// assert_eq!(event.topic_level(1), Some("d-7"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct TopicMessage<T> {
    /// The topic the message was published on, when the rule selected `topic() AS topic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// The message: the rule's other selected fields.
    #[serde(flatten)]
    pub message: T,
}

impl<T> TopicMessage<T> {
    /// A message, as a rule with `topic() AS topic` sends it (for tests).
    ///
    /// # Examples
    ///
    /// ```
    /// let event = lambda_kit::events::iot::TopicMessage::new("sensors/d-7/telemetry", serde_json::json!({"on": true}));
    /// assert_eq!(serde_json::to_value(&event).unwrap()["topic"], "sensors/d-7/telemetry");
    /// ```
    pub fn new(topic: impl Into<String>, message: T) -> Self {
        Self {
            topic: Some(topic.into()),
            message,
        }
    }

    /// The topic's level at `index` (from 0), as IoT SQL's `topic(index + 1)` gives it:
    /// `sensors/d-7/telemetry` has `d-7` at 1. `None` without a topic or past its last level.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = lambda_kit::events::iot::TopicMessage::new("sensors/d-7/telemetry", ());
    /// assert_eq!(event.topic_level(0), Some("sensors"));
    /// assert_eq!(event.topic_level(3), None);
    /// ```
    pub fn topic_level(&self, index: usize) -> Option<&str> {
        self.topic.as_deref()?.split('/').nth(index)
    }
}
