//! Stores the readings devices publish to AWS IoT Core in a DynamoDB table, once checked, and
//! counts them in CloudWatch metrics.
//!
//! Each device publishes its readings as JSON on the MQTT topic `devices/DEVICE_ID/telemetry`:
//!
//! ```json
//! {"temperature": 21.5, "humidity": 40.5, "timestamp": 1795426200000}
//! ```
//!
//! A topic rule, `SELECT *, topic() AS topic, timestamp() AS received_at FROM
//! 'devices/+/telemetry'`, invokes the function with the message, the topic it came on and
//! the time IoT Core received it. The function checks the reading (a device id AWS IoT would
//! take as a thing name, every field there and a number, the temperature and humidity within
//! what the sensors measure, a timestamp no further ahead of `received_at` than clocks drift)
//! and stores it under the device id and the time it was read.
//!
//! IoT Core invokes the function asynchronously, and Lambda retries an invocation that fails,
//! twice, with the same event. So a reading that fails its checks is *rejected*: it is counted
//! (`ReadingsRejected`, with the reason as a dimension) and logged, and the invocation
//! succeeds; failing it would only bring the same reading back to fail the same way. A
//! reading the table does not take fails the invocation (`ReadingNotStored`): DynamoDB may
//! take it on a retry, and a reading written twice is the same item written twice.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_kit::events::iot::TopicMessage;
use lambda_kit::metrics::{Metrics, MetricsError, Unit};
use lambda_kit::{Config, Context, Diagnostic};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the sensors measure, in degrees Celsius: a reading outside it is a broken sensor.
const TEMPERATURE_CELSIUS: RangeInclusive<f64> = -40.0..=85.0;
/// Relative humidity, in percent.
const HUMIDITY_PERCENT: RangeInclusive<f64> = 0.0..=100.0;
/// How far ahead of IoT Core's clock a device's clock may be.
const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);
/// The longest thing name AWS IoT takes.
const MAX_DEVICE_ID_CHARS: usize = 128;

/// A message as the topic rule sends it, besides its topic.
///
/// Every field may be missing or hold anything: a malformed reading is rejected by [`check`],
/// counted and logged. Refused by the decoder instead, it would fail the invocation
/// (`Runtime.UnmarshalError`), and Lambda would retry it. The device's other fields are
/// ignored.
#[derive(Debug, Default, Deserialize)]
struct Message {
    /// Degrees Celsius.
    #[serde(default)]
    temperature: Value,
    /// Relative humidity, in percent.
    #[serde(default)]
    humidity: Value,
    /// When the device took the reading, by its own clock: milliseconds since the Unix epoch.
    #[serde(default)]
    timestamp: Value,
    /// When IoT Core received the message (the rule's `timestamp()`), in milliseconds since
    /// the Unix epoch.
    #[serde(default)]
    received_at: Value,
}

/// A reading that passed its checks, as it is stored.
#[derive(Debug, Clone, PartialEq)]
struct Reading {
    device_id: String,
    /// When the device took it, in milliseconds since the Unix epoch.
    read_at: u64,
    temperature: f64,
    humidity: f64,
    /// When IoT Core received it, in milliseconds since the Unix epoch.
    received_at: u64,
}

/// Why a reading was rejected: the `reason` dimension of `ReadingsRejected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
enum Reason {
    /// The topic names no device, or one that is not a thing name.
    BadDeviceId,
    /// `temperature`, `humidity` or `timestamp` is not there.
    MissingField,
    /// A field is there but is not a number (or, for `timestamp`, not a whole one).
    NotANumber,
    /// The temperature is outside [`TEMPERATURE_CELSIUS`].
    TemperatureOutOfRange,
    /// The humidity is outside [`HUMIDITY_PERCENT`].
    HumidityOutOfRange,
    /// The timestamp is further ahead of IoT Core's clock than [`CLOCK_SKEW`].
    TimestampInFuture,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Self::BadDeviceId => "BadDeviceId",
            Self::MissingField => "MissingField",
            Self::NotANumber => "NotANumber",
            Self::TemperatureOutOfRange => "TemperatureOutOfRange",
            Self::HumidityOutOfRange => "HumidityOutOfRange",
            Self::TimestampInFuture => "TimestampInFuture",
        }
    }
}

/// A reading that failed its checks, and why.
#[derive(Debug, Clone, PartialEq)]
struct Rejection {
    reason: Reason,
    /// What is wrong, for a person.
    problem: String,
    /// The device, when the topic named one.
    device_id: Option<String>,
}

/// Checks the message of `event`; `now` (milliseconds since the Unix epoch) stands for
/// `received_at` when the rule does not select it.
///
/// The timestamp is checked against `received_at`, not the function's clock: a retried
/// invocation comes later, and must get the same verdict as the first.
fn check(event: TopicMessage<Message>, now: u64) -> Result<Reading, Rejection> {
    let Some(device_id) = event.topic_level(1) else {
        return Err(Rejection {
            reason: Reason::BadDeviceId,
            problem: match &event.topic {
                Some(topic) => format!("the topic `{topic}` names no device"),
                None => "no `topic`: the rule's SQL must select `topic() AS topic`".to_owned(),
            },
            device_id: None,
        });
    };
    let device_id = device_id.to_owned();
    let reject = |reason: Reason, problem: String| Rejection {
        reason,
        problem,
        device_id: Some(device_id.clone()),
    };
    if !is_thing_name(&device_id) {
        return Err(reject(
            Reason::BadDeviceId,
            format!(
                "`{device_id}` is not a device id: 1 to {MAX_DEVICE_ID_CHARS} letters, digits, `_`, `-` or `:`"
            ),
        ));
    }
    let message = event.message;
    let fields = [
        ("temperature", &message.temperature),
        ("humidity", &message.humidity),
        ("timestamp", &message.timestamp),
    ];
    let missing: Vec<String> = fields
        .iter()
        .filter(|(_, value)| value.is_null())
        .map(|(name, _)| format!("`{name}`"))
        .collect();
    if !missing.is_empty() {
        return Err(reject(
            Reason::MissingField,
            format!("no {}", missing.join(", ")),
        ));
    }
    let number = |name: &str, value: &Value| {
        value.as_f64().ok_or_else(|| {
            reject(
                Reason::NotANumber,
                format!("`{name}` is {value}, not a number"),
            )
        })
    };
    let temperature = number("temperature", &message.temperature)?;
    let humidity = number("humidity", &message.humidity)?;
    let Some(read_at) = message.timestamp.as_u64() else {
        return Err(reject(
            Reason::NotANumber,
            format!(
                "`timestamp` is {}, not milliseconds since the Unix epoch",
                message.timestamp
            ),
        ));
    };
    if !TEMPERATURE_CELSIUS.contains(&temperature) {
        return Err(reject(
            Reason::TemperatureOutOfRange,
            format!(
                "a temperature of {temperature} °C is outside what the sensors measure, {} to {} °C",
                TEMPERATURE_CELSIUS.start(),
                TEMPERATURE_CELSIUS.end()
            ),
        ));
    }
    if !HUMIDITY_PERCENT.contains(&humidity) {
        return Err(reject(
            Reason::HumidityOutOfRange,
            format!("a humidity of {humidity}% is not between 0 and 100%"),
        ));
    }
    let received_at = message.received_at.as_u64().unwrap_or(now);
    let skew = u64::try_from(CLOCK_SKEW.as_millis()).unwrap_or(u64::MAX);
    if read_at > received_at.saturating_add(skew) {
        return Err(reject(
            Reason::TimestampInFuture,
            format!(
                "read at {read_at}, {} ms after IoT Core received it at {received_at}; clocks may be {skew} ms apart",
                read_at - received_at
            ),
        ));
    }
    Ok(Reading {
        device_id,
        read_at,
        temperature,
        humidity,
        received_at,
    })
}

/// Whether `id` is a name AWS IoT takes for a thing: the name a device's policy can require
/// in its topic (`devices/${iot:Connection.Thing.ThingName}/telemetry`).
fn is_thing_name(id: &str) -> bool {
    (1..=MAX_DEVICE_ID_CHARS).contains(&id.chars().count())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':'))
}

/// What became of a reading: the function's answer, which IoT Core ignores, for `cargo
/// lambdakit invoke` and the tests.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum Verdict {
    Stored { device_id: String, read_at: u64 },
    Rejected { reason: Reason, problem: String },
}

/// Where readings are stored: the DynamoDB table on Lambda, memory in the unit tests.
trait Store {
    async fn put(&self, reading: &Reading) -> Result<(), Diagnostic>;
}

/// The `device-readings` table, and the client for it, made once per cold start.
#[derive(Debug)]
struct Table {
    dynamodb: aws_sdk_dynamodb::Client,
    name: String,
}

impl Store for Table {
    async fn put(&self, reading: &Reading) -> Result<(), Diagnostic> {
        self.dynamodb
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item(reading)))
            .send()
            .await
            .map_err(|error| {
                Diagnostic::new(
                    "ReadingNotStored",
                    format!(
                        "cannot store the reading of `{}` at {} in table `{}`: {}",
                        reading.device_id,
                        reading.read_at,
                        self.name,
                        DisplayErrorContext(&error)
                    ),
                )
            })?;
        Ok(())
    }
}

/// The reading's item: the table's partition key is the string `device_id`, its sort key the
/// number `read_at`.
fn item(reading: &Reading) -> HashMap<String, AttributeValue> {
    let number = |value: &dyn ToString| AttributeValue::N(value.to_string());
    HashMap::from([
        (
            "device_id".to_owned(),
            AttributeValue::S(reading.device_id.clone()),
        ),
        ("read_at".to_owned(), number(&reading.read_at)),
        ("temperature".to_owned(), number(&reading.temperature)),
        ("humidity".to_owned(), number(&reading.humidity)),
        ("received_at".to_owned(), number(&reading.received_at)),
    ])
}

/// Made once per cold start: the table's name from the function's environment, and a DynamoDB
/// client with the function's credentials and region.
async fn connect(_config: Config) -> Result<Table, Diagnostic> {
    // The function's own settings: `lambda_kit::Config` holds only Lambda's variables.
    #[allow(clippy::disallowed_methods)]
    let name = std::env::var("READINGS_TABLE")
        .ok()
        .filter(|name| !name.is_empty())
        .ok_or_else(|| {
            Diagnostic::new(
                "MissingSetting",
                "set `READINGS_TABLE` to the table that stores the readings",
            )
        })?;
    // Region, the execution role's credentials and endpoints from Lambda's environment, and an
    // HTTPS client trusting Amazon's root CAs: a tenth of the usual set-up's cold start.
    let aws = lambda_kit::aws::config().await;
    Ok(Table {
        dynamodb: aws_sdk_dynamodb::Client::new(&aws),
        name,
    })
}

#[lambda_kit::handler(setup = connect)]
async fn handler(
    event: TopicMessage<Message>,
    ctx: Context,
    table: &Table,
) -> Result<Verdict, Diagnostic> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    receive(event, &ctx, table, u64::try_from(now).unwrap_or(u64::MAX)).await
}

/// Checks the reading and stores it, or rejects it; counts and logs either.
///
/// # Errors
///
/// `ReadingNotStored` when the store does not take the reading, so that Lambda retries it.
async fn receive(
    event: TopicMessage<Message>,
    ctx: &Context,
    store: &impl Store,
    now: u64,
) -> Result<Verdict, Diagnostic> {
    let metrics = ctx.metrics();
    let reading = match check(event, now) {
        Ok(reading) => reading,
        Err(rejection) => {
            tracing::warn!(
                device = rejection.device_id.as_deref().unwrap_or("-"),
                reason = rejection.reason.as_str(),
                problem = %rejection.problem,
                "rejected"
            );
            log_failure(count_rejected(metrics, &rejection));
            return Ok(Verdict::Rejected {
                reason: rejection.reason,
                problem: rejection.problem,
            });
        }
    };
    store.put(&reading).await?;
    tracing::info!(
        device = %reading.device_id,
        read_at = reading.read_at,
        temperature = reading.temperature,
        humidity = reading.humidity,
        "stored"
    );
    log_failure(count_stored(metrics, &reading));
    Ok(Verdict::Stored {
        device_id: reading.device_id,
        read_at: reading.read_at,
    })
}

/// `ReadingsAccepted`, and the reading's values as the metrics `Temperature` and `Humidity`.
/// They carry no device dimension: with one, each device would be metrics of its own, billed
/// as such. The device id is a property instead, for CloudWatch Logs Insights.
fn count_stored(metrics: &Metrics, reading: &Reading) -> Result<(), MetricsError> {
    metrics.add_metric("ReadingsAccepted", 1.0, Unit::Count)?;
    // CloudWatch has no unit for degrees.
    metrics.add_metric("Temperature", reading.temperature, Unit::None)?;
    metrics.add_metric("Humidity", reading.humidity, Unit::Percent)?;
    metrics.add_property("device_id", &reading.device_id)
}

/// `ReadingsRejected`, with the reason as its dimension.
fn count_rejected(metrics: &Metrics, rejection: &Rejection) -> Result<(), MetricsError> {
    metrics.add_dimension("reason", rejection.reason.as_str())?;
    metrics.add_metric("ReadingsRejected", 1.0, Unit::Count)?;
    if let Some(device_id) = &rejection.device_id {
        metrics.add_property("device_id", device_id)?;
    }
    Ok(())
}

/// Metrics never fail an invocation: the reading is stored or rejected whatever they say.
/// (These names and the checked values are always CloudWatch's to take.)
fn log_failure(counted: Result<(), MetricsError>) {
    if let Err(error) = counted {
        tracing::warn!(%error, "a metric was not recorded");
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use aws_sdk_dynamodb::config::retry::RetryConfig;
    use lambda_kit::testing::{CapturedLogs, ContextBuilder, FakeRuntimeApi, Invocation, invoke};
    use lambda_kit::{LogFormat, LogLevel};
    use serde_json::json;

    use super::*;

    /// When the tests' IoT Core receives the readings: 2026-11-23T14:50:00Z.
    const NOW: u64 = 1_795_445_400_000;

    /// Readings in memory.
    #[derive(Default)]
    struct Memory {
        readings: RefCell<Vec<Reading>>,
    }

    impl Store for Memory {
        async fn put(&self, reading: &Reading) -> Result<(), Diagnostic> {
            self.readings.borrow_mut().push(reading.clone());
            Ok(())
        }
    }

    /// A good reading of `sensor-7` as the rule sends it, taken a second before IoT Core
    /// received it.
    fn good() -> Value {
        json!({
            "temperature": 21.5,
            "humidity": 40.5,
            "timestamp": NOW - 1000,
            "topic": "devices/sensor-7/telemetry",
            "received_at": NOW,
        })
    }

    /// A context whose metrics are in the function's namespace.
    fn context() -> Context {
        let config = Config::from_lookup(|name| {
            let value = match name {
                "AWS_LAMBDA_RUNTIME_API" => "127.0.0.1:9001",
                "AWS_LAMBDA_FUNCTION_NAME" => "device-telemetry",
                "AWS_LAMBDA_FUNCTION_VERSION" => "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" => "128",
                "POWERTOOLS_METRICS_NAMESPACE" => "DeviceTelemetry",
                _ => return None,
            };
            Some(value.to_owned())
        })
        .unwrap();
        ContextBuilder::new().config(config).build()
    }

    /// Receives `event` into `store`; the verdict, the one EMF document of its metrics, and
    /// the log lines.
    async fn receive_one(store: &Memory, event: Value) -> (Verdict, Value, Vec<Value>) {
        let logs = CapturedLogs::start(LogFormat::Json, LogLevel::Info);
        let ctx = context();
        let event = serde_json::from_value(event).unwrap();
        let verdict = receive(event, &ctx, store, NOW).await.unwrap();
        let documents = ctx.metrics().documents();
        let [document] = documents.as_slice() else {
            panic!("one EMF document: {documents:?}");
        };
        (
            verdict,
            serde_json::from_str(document).unwrap(),
            logs.json_lines(),
        )
    }

    #[tokio::test]
    async fn a_good_reading_is_stored_and_counted() {
        let store = Memory::default();
        let (verdict, metrics, logs) = receive_one(&store, good()).await;
        assert_eq!(
            verdict,
            Verdict::Stored {
                device_id: "sensor-7".into(),
                read_at: NOW - 1000
            }
        );
        assert_eq!(
            store.readings.take(),
            [Reading {
                device_id: "sensor-7".into(),
                read_at: NOW - 1000,
                temperature: 21.5,
                humidity: 40.5,
                received_at: NOW,
            }]
        );
        let directive = &metrics["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "DeviceTelemetry");
        assert_eq!(directive["Dimensions"], json!([[]]));
        assert_eq!(
            directive["Metrics"],
            json!([
                {"Name": "ReadingsAccepted", "Unit": "Count"},
                {"Name": "Temperature", "Unit": "None"},
                {"Name": "Humidity", "Unit": "Percent"},
            ])
        );
        assert_eq!(metrics["ReadingsAccepted"], 1.0);
        assert_eq!(metrics["Temperature"], 21.5);
        assert_eq!(metrics["Humidity"], 40.5);
        assert_eq!(metrics["device_id"], "sensor-7");
        let [line] = logs.as_slice() else {
            panic!("one log line: {logs:?}");
        };
        assert_eq!(line["level"], "INFO", "{line}");
        assert_eq!(line["message"], "stored", "{line}");
        assert_eq!(line["device"], "sensor-7", "{line}");
    }

    #[tokio::test]
    async fn bad_readings_are_rejected_with_their_reason_and_counted() {
        let with = |changes: Value| {
            let mut event = good();
            for (name, value) in changes.as_object().unwrap() {
                match value {
                    Value::Null => event.as_object_mut().unwrap().remove(name),
                    value => event
                        .as_object_mut()
                        .unwrap()
                        .insert(name.clone(), value.clone()),
                };
            }
            event
        };
        let cases = [
            (
                with(json!({"topic": "devices/sensor 7/telemetry"})),
                Reason::BadDeviceId,
                "`sensor 7` is not a device id: 1 to 128 letters, digits, `_`, `-` or `:`",
            ),
            (
                with(json!({"topic": "devices//telemetry"})),
                Reason::BadDeviceId,
                "`` is not a device id: 1 to 128 letters, digits, `_`, `-` or `:`",
            ),
            (
                with(json!({"topic": null})),
                Reason::BadDeviceId,
                "no `topic`: the rule's SQL must select `topic() AS topic`",
            ),
            (
                with(json!({"humidity": null, "timestamp": null})),
                Reason::MissingField,
                "no `humidity`, `timestamp`",
            ),
            (
                with(json!({"temperature": "hot"})),
                Reason::NotANumber,
                "`temperature` is \"hot\", not a number",
            ),
            (
                with(json!({"timestamp": "2026-11-23T14:50:00Z"})),
                Reason::NotANumber,
                "`timestamp` is \"2026-11-23T14:50:00Z\", not milliseconds since the Unix epoch",
            ),
            (
                with(json!({"temperature": 85.5})),
                Reason::TemperatureOutOfRange,
                "a temperature of 85.5 °C is outside what the sensors measure, -40 to 85 °C",
            ),
            (
                with(json!({"humidity": -1})),
                Reason::HumidityOutOfRange,
                "a humidity of -1% is not between 0 and 100%",
            ),
            (
                with(json!({"timestamp": NOW + 300_001})),
                Reason::TimestampInFuture,
                "read at 1795445700001, 300001 ms after IoT Core received it at 1795445400000; clocks may be 300000 ms apart",
            ),
        ];
        for (event, reason, problem) in cases {
            let store = Memory::default();
            let (verdict, metrics, logs) = receive_one(&store, event.clone()).await;
            assert_eq!(
                verdict,
                Verdict::Rejected {
                    reason,
                    problem: problem.into()
                },
                "{event}"
            );
            assert!(store.readings.borrow().is_empty(), "{event}");
            let directive = &metrics["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(directive["Dimensions"], json!([["reason"]]), "{event}");
            assert_eq!(
                directive["Metrics"],
                json!([{"Name": "ReadingsRejected", "Unit": "Count"}]),
                "{event}"
            );
            assert_eq!(metrics["reason"], reason.as_str(), "{event}");
            assert_eq!(metrics["ReadingsRejected"], 1.0, "{event}");
            let [line] = logs.as_slice() else {
                panic!("one log line: {logs:?}");
            };
            assert_eq!(line["level"], "WARN", "{line}");
            assert_eq!(line["message"], "rejected", "{line}");
            assert_eq!(line["reason"], reason.as_str(), "{line}");
            assert_eq!(line["problem"], problem, "{line}");
        }
    }

    #[tokio::test]
    async fn the_clocks_may_drift_up_to_the_skew() {
        let store = Memory::default();
        let mut event = good();
        event["timestamp"] = json!(NOW + 300_000);
        let (verdict, _, _) = receive_one(&store, event).await;
        assert!(matches!(verdict, Verdict::Stored { .. }), "{verdict:?}");
        // Without the rule's `received_at`, the function's clock stands in.
        let mut event = good();
        event.as_object_mut().unwrap().remove("received_at");
        let (verdict, _, _) = receive_one(&store, event).await;
        assert!(matches!(verdict, Verdict::Stored { .. }), "{verdict:?}");
        assert_eq!(store.readings.borrow()[1].received_at, NOW);
    }

    #[tokio::test]
    async fn a_malformed_reading_is_answered_not_refused_by_the_runtime() {
        let store = Memory::default();
        let handler = |event: TopicMessage<Message>, ctx: Context| {
            let store = &store;
            async move { receive(event, &ctx, store, NOW).await }
        };
        // Anything a device may send: the rule passes it on as it is.
        let outcome = invoke(
            handler,
            json!({"temperature": [1], "humidity": {"rh": 40}, "firmware": "1.2", "topic": "devices/sensor-7/telemetry"}),
        )
        .await;
        assert_eq!(
            outcome.json::<Value>(),
            json!({"status": "rejected", "reason": "MissingField", "problem": "no `timestamp`"})
        );
    }

    #[test]
    fn readings_are_stored_under_their_device_and_time() {
        let item = item(&Reading {
            device_id: "sensor-7".into(),
            read_at: NOW - 1000,
            temperature: -3.25,
            humidity: 40.0,
            received_at: NOW,
        });
        assert_eq!(
            item,
            HashMap::from([
                ("device_id".to_owned(), AttributeValue::S("sensor-7".into())),
                (
                    "read_at".to_owned(),
                    AttributeValue::N("1795445399000".into())
                ),
                ("temperature".to_owned(), AttributeValue::N("-3.25".into())),
                ("humidity".to_owned(), AttributeValue::N("40".into())),
                (
                    "received_at".to_owned(),
                    AttributeValue::N("1795445400000".into())
                ),
            ])
        );
    }

    /// The function with DynamoDB out of reach: nothing listens on port 1.
    async fn unreachable(_config: Config) -> Result<Table, Diagnostic> {
        let config = lambda_kit::aws::Builder::new()
            .environment([
                ("AWS_REGION", "eu-west-1"),
                ("AWS_ACCESS_KEY_ID", "test"),
                ("AWS_SECRET_ACCESS_KEY", "test"),
            ])
            .endpoint_url("http://127.0.0.1:1")
            .load()
            .await
            .into_builder()
            .retry_config(RetryConfig::disabled())
            .build();
        Ok(Table {
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            name: "device-readings".into(),
        })
    }

    #[tokio::test]
    async fn a_reading_the_table_does_not_take_fails_the_invocation_so_that_lambda_retries() {
        let mut bad = good();
        bad["temperature"] = json!(-41);
        let api = FakeRuntimeApi::start().await.unwrap();
        let ids = [
            api.push(Invocation::new(good())),
            // Rejected before the table is asked.
            api.push(Invocation::new(bad)),
        ];
        let runtime = lambda_kit::Runtime::new(api.config()).logging(false);
        let outcomes = api
            .outcomes_while(&ids, runtime.serve_with_state(unreachable, handler))
            .await
            .unwrap();
        let failed = outcomes[0].error();
        assert_eq!(failed.error_type(), "ReadingNotStored");
        assert!(
            failed.error_message().starts_with(&format!(
                "cannot store the reading of `sensor-7` at {} in table `device-readings`: ",
                NOW - 1000
            )),
            "{}",
            failed.error_message()
        );
        assert_eq!(
            outcomes[1].json::<Value>()["reason"],
            "TemperatureOutOfRange"
        );
    }
}
