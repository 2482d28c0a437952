//! Custom metrics in CloudWatch's Embedded Metric Format (EMF), written to stdout per invocation.
//!
//! Lambda sends a function's stdout to CloudWatch Logs, and CloudWatch turns every log line in
//! EMF into metrics, with no API call and no waiting on the network during the invocation.
//! Each invocation has its own [`Metrics`], reached through
//! [`Context::metrics`](crate::Context::metrics); what it records is written when the
//! invocation ends (success, error or panic alike), before the runtime reports the result.
//!
//! The documents follow AWS's "Specification: Embedded metric format": a `_aws` member with the
//! `Timestamp` and one `CloudWatchMetrics` directive (`Namespace`, `Dimensions`, `Metrics`
//! with `Name` and `Unit`), and the dimension values, properties and metric values as
//! top-level members. EMF's limits are kept: a document names at most 100 metrics and a metric
//! holds at most 100 values, so larger sets are split over several documents; a dimension set
//! has at most 30 dimensions, and adding a 31st is an error.
//!
//! The namespace comes from `POWERTOOLS_METRICS_NAMESPACE` (the variable Powertools for AWS
//! Lambda reads, so existing configurations carry over) or [`Metrics::set_namespace`]; without
//! either, metrics go to the `aws-embedded-metrics` namespace, as AWS's EMF client libraries
//! do. On the first invocation of the process, when a namespace is set, a `ColdStart` metric
//! (`Count`, 1) is written as a document of its own with the `function_name` dimension, as
//! Powertools does; not in environments Lambda starts ahead of invocations
//! (`AWS_LAMBDA_INITIALIZATION_TYPE` other than `on-demand`).
//!
//! `POWERTOOLS_SERVICE_NAME`, when set, is a `service` dimension of every metric, the cold
//! start's included, as in Powertools; a `service` dimension the handler adds replaces it.
//!
//! ```no_run
//! use lambda_kit::metrics::Unit;
//! use lambda_kit::{Context, Diagnostic};
//!
//! #[lambda_kit::handler]
//! async fn handler(order: serde_json::Value, ctx: Context) -> Result<(), Diagnostic> {
//!     let metrics = ctx.metrics();
//!     metrics.add_dimension("service", "orders")?;
//!     metrics.add_metric("OrdersPlaced", 1.0, Unit::Count)?;
//!     metrics.add_property("orderId", &order["id"])?;
//!     Ok(())
//! }
//! ```

use std::fmt;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::{Config, Diagnostic, InitializationType};

/// The namespace AWS's EMF client libraries use when none is configured.
const DEFAULT_NAMESPACE: &str = "aws-embedded-metrics";
/// EMF: a directive's `Metrics` holds at most 100 metric definitions.
const MAX_METRICS_PER_DOCUMENT: usize = 100;
/// EMF: a metric's value array holds at most 100 values.
const MAX_VALUES_PER_METRIC: usize = 100;
/// The dimension `POWERTOOLS_SERVICE_NAME` gives every metric.
const SERVICE_DIMENSION: &str = "service";

/// EMF: a dimension set holds at most 30 dimension keys.
const MAX_DIMENSIONS_PER_SET: usize = 30;
/// CloudWatch: namespaces, metric names and dimension names are at most 255 characters.
const MAX_NAME_CHARS: usize = 255;
/// CloudWatch: dimension values are at most 1024 characters.
const MAX_DIMENSION_VALUE_CHARS: usize = 1024;

/// Whether the next invocation this process serves is its first.
static COLD_START: AtomicBool = AtomicBool::new(true);

/// The metrics of one invocation: namespace, dimensions, values and properties.
///
/// A cheap handle: clones share the same metrics, so a clone can go into a spawned task. The
/// runtime writes them when the invocation ends; [`flush`](Self::flush) writes them earlier.
///
/// # Examples
///
/// ```
/// use lambda_kit::metrics::{Metrics, Unit};
///
/// let metrics = Metrics::new("Shop");
/// metrics.add_dimension("service", "orders")?;
/// metrics.add_metric("Latency", 12.5, Unit::Milliseconds)?;
/// let documents = metrics.documents();
/// let document: serde_json::Value = serde_json::from_str(&documents[0])?;
/// assert_eq!(document["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Shop");
/// assert_eq!(document["Latency"], 12.5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<Mutex<Collector>>,
}

#[derive(Debug, Default)]
struct Collector {
    namespace: Option<String>,
    function_name: String,
    /// `POWERTOOLS_SERVICE_NAME`, for the cold start's dimensions.
    service: Option<String>,
    /// Whether the `service` dimension is still the configured one, which the handler's own
    /// replaces rather than conflicts with.
    default_service: bool,
    cold_start: bool,
    /// Every dimension's value, in the order added.
    dimension_values: Vec<(String, String)>,
    /// The default set (`add_dimension`) first, then the sets `add_dimension_set` added.
    dimension_sets: Vec<Vec<String>>,
    metrics: Vec<Metric>,
    properties: Map<String, Value>,
}

#[derive(Debug)]
struct Metric {
    name: String,
    unit: Unit,
    values: Vec<f64>,
}

impl Metrics {
    /// Metrics in `namespace`, for use outside an invocation (a unit test, a script).
    ///
    /// Inside a handler, use the invocation's own, [`Context::metrics`](crate::Context::metrics).
    ///
    /// # Examples
    ///
    /// ```
    /// let metrics = lambda_kit::metrics::Metrics::new("Shop");
    /// assert!(metrics.documents().is_empty());
    /// ```
    pub fn new(namespace: impl Into<String>) -> Self {
        let metrics = Self::empty();
        metrics.lock().namespace = Some(namespace.into());
        metrics
    }

    fn empty() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Collector {
                dimension_sets: vec![Vec::new()],
                ..Collector::default()
            })),
        }
    }

    /// The metrics of an invocation of the function `config` describes: the first one the
    /// process serves carries the cold start.
    pub(crate) fn for_invocation(config: &Config) -> Self {
        let metrics = Self::detached(config);
        let first = COLD_START.swap(false, Ordering::Relaxed);
        // Environments started ahead of any invocation (provisioned concurrency, SnapStart,
        // managed instances) make no caller wait for their start: no cold start, as in
        // Powertools.
        let on_demand = matches!(
            config.initialization_type(),
            InitializationType::OnDemand | InitializationType::Other(_)
        );
        metrics.lock().cold_start = first && on_demand;
        metrics
    }

    /// As [`for_invocation`](Self::for_invocation), never a cold start (for test contexts).
    pub(crate) fn detached(config: &Config) -> Self {
        let metrics = Self::empty();
        {
            let mut collector = metrics.lock();
            collector.namespace = config.metrics_namespace().map(str::to_owned);
            collector.function_name = config.function_name().to_owned();
            if let Some(service) = config.service_name() {
                collector.set_default_service(service);
            }
        }
        metrics
    }

    fn lock(&self) -> MutexGuard<'_, Collector> {
        // A panic while holding the lock leaves no half-made change behind (each method checks
        // before it writes), so the metrics are still good to read.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the CloudWatch namespace, replacing `POWERTOOLS_METRICS_NAMESPACE`.
    ///
    /// # Errors
    ///
    /// Fails when `namespace` is empty or longer than 255 characters.
    ///
    /// # Examples
    ///
    /// ```
    /// # let metrics = lambda_kit::metrics::Metrics::new("Shop");
    /// metrics.set_namespace("Shop/Checkout")?;
    /// # Ok::<(), lambda_kit::metrics::MetricsError>(())
    /// ```
    pub fn set_namespace(&self, namespace: &str) -> Result<(), MetricsError> {
        check_name("namespace", namespace)?;
        self.lock().namespace = Some(namespace.to_owned());
        Ok(())
    }

    /// Adds a dimension to the default dimension set, which every metric of the invocation is
    /// published under.
    ///
    /// # Errors
    ///
    /// Fails when the name or value is empty or too long, when the default set has 30
    /// dimensions already, or when the name is taken by a metric or by a dimension with
    /// another value.
    ///
    /// # Examples
    ///
    /// ```
    /// # let metrics = lambda_kit::metrics::Metrics::new("Shop");
    /// metrics.add_dimension("service", "orders")?;
    /// metrics.add_dimension("environment", "prod")?;
    /// # Ok::<(), lambda_kit::metrics::MetricsError>(())
    /// ```
    pub fn add_dimension(&self, name: &str, value: &str) -> Result<(), MetricsError> {
        let mut collector = self.lock();
        if collector.dimension_sets[0].iter().any(|key| key == name) {
            return collector.set_dimension_value(name, value);
        }
        if collector.dimension_sets[0].len() == MAX_DIMENSIONS_PER_SET {
            return Err(MetricsError::new(format!(
                "cannot add dimension `{name}`: a dimension set holds at most {MAX_DIMENSIONS_PER_SET} dimensions"
            )));
        }
        collector.set_dimension_value(name, value)?;
        collector.dimension_sets[0].push(name.to_owned());
        Ok(())
    }

    /// Adds another dimension set: every metric is also published under these dimensions.
    ///
    /// # Errors
    ///
    /// Fails when the set is empty or has more than 30 dimensions, when a name or value is
    /// empty or too long, or when a name is taken by a metric or by a dimension with another
    /// value.
    ///
    /// # Examples
    ///
    /// ```
    /// # let metrics = lambda_kit::metrics::Metrics::new("Shop");
    /// metrics.add_dimension("service", "orders")?;
    /// // Also published per region and tier, without the service.
    /// metrics.add_dimension_set([("region", "eu-west-1"), ("tier", "gold")])?;
    /// # Ok::<(), lambda_kit::metrics::MetricsError>(())
    /// ```
    pub fn add_dimension_set<'a>(
        &self,
        dimensions: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), MetricsError> {
        let dimensions: Vec<(&str, &str)> = dimensions.into_iter().collect();
        if dimensions.is_empty() {
            return Err(MetricsError::new(
                "a dimension set needs at least one dimension",
            ));
        }
        if dimensions.len() > MAX_DIMENSIONS_PER_SET {
            return Err(MetricsError::new(format!(
                "a dimension set holds at most {MAX_DIMENSIONS_PER_SET} dimensions, not {}",
                dimensions.len()
            )));
        }
        let mut collector = self.lock();
        // Check them all before changing anything.
        for (name, value) in &dimensions {
            collector.check_dimension(name, value)?;
        }
        for (name, value) in &dimensions {
            collector.set_dimension_value(name, value)?;
        }
        let keys = dimensions.iter().map(|(name, _)| (*name).to_owned());
        collector.dimension_sets.push(keys.collect());
        Ok(())
    }

    /// Records `value` for the metric `name`. Recording a name again adds a value, which
    /// CloudWatch aggregates (a metric holds up to 100 values per document; more are split).
    ///
    /// # Errors
    ///
    /// Fails when the name is empty, too long or taken by a dimension, when the value is not
    /// finite, or when the metric was recorded before with another unit.
    ///
    /// # Examples
    ///
    /// ```
    /// use lambda_kit::metrics::Unit;
    /// # let metrics = lambda_kit::metrics::Metrics::new("Shop");
    /// metrics.add_metric("ItemsSold", 3.0, Unit::Count)?;
    /// metrics.add_metric("PayloadSize", 2048.0, Unit::Bytes)?;
    /// # Ok::<(), lambda_kit::metrics::MetricsError>(())
    /// ```
    pub fn add_metric(&self, name: &str, value: f64, unit: Unit) -> Result<(), MetricsError> {
        check_name("metric name", name)?;
        if name == "_aws" {
            return Err(MetricsError::new("`_aws` is reserved by EMF"));
        }
        if !value.is_finite() {
            return Err(MetricsError::new(format!(
                "metric `{name}` cannot record {value}: CloudWatch takes finite numbers only"
            )));
        }
        let mut collector = self.lock();
        if collector
            .dimension_values
            .iter()
            .any(|(key, _)| key == name)
        {
            return Err(MetricsError::new(format!(
                "metric `{name}` has the name of a dimension"
            )));
        }
        match collector
            .metrics
            .iter_mut()
            .find(|metric| metric.name == name)
        {
            Some(metric) if metric.unit != unit => Err(MetricsError::new(format!(
                "metric `{name}` was recorded in {} and cannot also be recorded in {}",
                metric.unit.as_str(),
                unit.as_str()
            ))),
            Some(metric) => {
                metric.values.push(value);
                Ok(())
            }
            None => {
                collector.metrics.push(Metric {
                    name: name.to_owned(),
                    unit,
                    values: vec![value],
                });
                Ok(())
            }
        }
    }

    /// Adds a property: a top-level member of the documents that is not a metric, searchable in
    /// CloudWatch Logs Insights (a request id, an order id: high-cardinality values that must
    /// not be dimensions).
    ///
    /// # Errors
    ///
    /// Fails when `value` cannot be written as JSON, or `name` is `_aws`.
    ///
    /// # Examples
    ///
    /// ```
    /// # let metrics = lambda_kit::metrics::Metrics::new("Shop");
    /// metrics.add_property("orderId", "o-1")?;
    /// metrics.add_property("items", &["apple", "pear"])?;
    /// # Ok::<(), lambda_kit::metrics::MetricsError>(())
    /// ```
    pub fn add_property(&self, name: &str, value: impl Serialize) -> Result<(), MetricsError> {
        if name == "_aws" {
            return Err(MetricsError::new("`_aws` is reserved by EMF"));
        }
        let value = serde_json::to_value(value).map_err(|error| {
            MetricsError::new(format!(
                "property `{name}` cannot be written as JSON: {error}"
            ))
        })?;
        self.lock().properties.insert(name.to_owned(), value);
        Ok(())
    }

    /// The EMF documents for what is recorded so far, one JSON line each, without clearing it.
    ///
    /// # Examples
    ///
    /// ```
    /// use lambda_kit::metrics::{Metrics, Unit};
    ///
    /// let metrics = Metrics::new("Shop");
    /// for n in 0..150 {
    ///     metrics.add_metric(&format!("M{n}"), 1.0, Unit::Count)?;
    /// }
    /// // At most 100 metrics per document.
    /// assert_eq!(metrics.documents().len(), 2);
    /// # Ok::<(), lambda_kit::metrics::MetricsError>(())
    /// ```
    pub fn documents(&self) -> Vec<String> {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        self.lock().documents(timestamp)
    }

    /// Writes what is recorded so far to stdout and clears the metrics and properties
    /// (namespace and dimensions stay). The runtime calls it when the invocation ends.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use lambda_kit::metrics::Unit;
    /// # let ctx = lambda_kit::testing::ContextBuilder::new().build();
    /// // Before a long wait, so the metrics so far are not held back.
    /// ctx.metrics().add_metric("Started", 1.0, Unit::Count)?;
    /// ctx.metrics().flush();
    /// # Ok::<(), lambda_kit::metrics::MetricsError>(())
    /// ```
    pub fn flush(&self) {
        let documents = self.documents();
        {
            let mut collector = self.lock();
            collector.metrics.clear();
            collector.properties.clear();
            if collector.namespace.is_some() {
                collector.cold_start = false;
            }
        }
        if documents.is_empty() {
            return;
        }
        let mut out = String::new();
        for document in documents {
            out.push_str(&document);
            out.push('\n');
        }
        // One write, so that no log line lands inside a document. A line that cannot be
        // written has nowhere else to go, like a log line.
        let _ = std::io::stdout().lock().write_all(out.as_bytes());
    }
}

impl Collector {
    fn check_dimension(&self, name: &str, value: &str) -> Result<(), MetricsError> {
        check_name("dimension name", name)?;
        if name == "_aws" {
            return Err(MetricsError::new("`_aws` is reserved by EMF"));
        }
        if value.is_empty() || value.chars().count() > MAX_DIMENSION_VALUE_CHARS {
            return Err(MetricsError::new(format!(
                "dimension `{name}` needs a value of 1 to {MAX_DIMENSION_VALUE_CHARS} characters"
            )));
        }
        if self.metrics.iter().any(|metric| metric.name == name) {
            return Err(MetricsError::new(format!(
                "dimension `{name}` has the name of a metric"
            )));
        }
        let replaces_default = self.default_service && name == SERVICE_DIMENSION;
        match self.dimension_values.iter().find(|(key, _)| key == name) {
            Some((_, existing)) if existing != value && !replaces_default => {
                Err(MetricsError::new(format!(
                    "dimension `{name}` is `{existing}` already and cannot also be `{value}` in one document"
                )))
            }
            _ => Ok(()),
        }
    }

    /// Makes `service` the `service` dimension of every metric until the handler sets one.
    fn set_default_service(&mut self, service: &str) {
        self.service = Some(service.to_owned());
        // Unchecked: a value too long for CloudWatch is CloudWatch's to refuse, and the
        // environment is no place to report it from.
        self.dimension_values
            .push((SERVICE_DIMENSION.to_owned(), service.to_owned()));
        self.dimension_sets[0].push(SERVICE_DIMENSION.to_owned());
        self.default_service = true;
    }

    fn set_dimension_value(&mut self, name: &str, value: &str) -> Result<(), MetricsError> {
        self.check_dimension(name, value)?;
        if self.default_service && name == SERVICE_DIMENSION {
            self.default_service = false;
            self.dimension_values
                .retain(|(key, _)| key != SERVICE_DIMENSION);
        }
        if !self.dimension_values.iter().any(|(key, _)| key == name) {
            self.dimension_values
                .push((name.to_owned(), value.to_owned()));
        }
        Ok(())
    }

    fn documents(&self, timestamp: u64) -> Vec<String> {
        let mut documents = Vec::new();
        if self.cold_start
            && let Some(namespace) = &self.namespace
        {
            let mut root = Map::new();
            let mut dimensions = vec!["function_name".to_owned()];
            root.insert("function_name".to_owned(), json!(self.function_name));
            if let Some(service) = &self.service {
                dimensions.push(SERVICE_DIMENSION.to_owned());
                root.insert(SERVICE_DIMENSION.to_owned(), json!(service));
            }
            root.insert(
                "_aws".to_owned(),
                directive(
                    timestamp,
                    namespace,
                    &[dimensions],
                    &[("ColdStart", Unit::Count)],
                ),
            );
            root.insert("ColdStart".to_owned(), json!(1));
            documents.push(Value::Object(root).to_string());
        }
        let namespace = self.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
        let sets: Vec<Vec<String>> = {
            let non_empty: Vec<Vec<String>> = self
                .dimension_sets
                .iter()
                .filter(|set| !set.is_empty())
                .cloned()
                .collect();
            // No dimensions: one empty set, so the metrics are published without dimensions.
            if non_empty.is_empty() {
                vec![Vec::new()]
            } else {
                non_empty
            }
        };
        // Round `r` holds the `r`-th group of 100 values of every metric that has one; each
        // round is cut into documents of at most 100 metrics.
        let rounds = self
            .metrics
            .iter()
            .map(|metric| metric.values.len().div_ceil(MAX_VALUES_PER_METRIC))
            .max()
            .unwrap_or(0);
        for round in 0..rounds {
            let entries: Vec<(&Metric, &[f64])> = self
                .metrics
                .iter()
                .filter_map(|metric| {
                    metric
                        .values
                        .chunks(MAX_VALUES_PER_METRIC)
                        .nth(round)
                        .map(|values| (metric, values))
                })
                .collect();
            for batch in entries.chunks(MAX_METRICS_PER_DOCUMENT) {
                let definitions: Vec<(&str, Unit)> = batch
                    .iter()
                    .map(|(metric, _)| (metric.name.as_str(), metric.unit))
                    .collect();
                let mut root = self.properties.clone();
                root.insert(
                    "_aws".to_owned(),
                    directive(timestamp, namespace, &sets, &definitions),
                );
                for (name, value) in &self.dimension_values {
                    root.insert(name.clone(), json!(value));
                }
                for (metric, values) in batch {
                    let value = match values {
                        [one] => json!(one),
                        many => json!(many),
                    };
                    root.insert(metric.name.clone(), value);
                }
                documents.push(Value::Object(root).to_string());
            }
        }
        documents
    }
}

/// The `_aws` member: one metric directive.
fn directive(
    timestamp: u64,
    namespace: &str,
    sets: &[Vec<String>],
    metrics: &[(&str, Unit)],
) -> Value {
    let metrics: Vec<Value> = metrics
        .iter()
        .map(|(name, unit)| json!({"Name": name, "Unit": unit.as_str()}))
        .collect();
    json!({
        "Timestamp": timestamp,
        "CloudWatchMetrics": [{
            "Namespace": namespace,
            "Dimensions": sets,
            "Metrics": metrics,
        }],
    })
}

fn check_name(what: &str, name: &str) -> Result<(), MetricsError> {
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(MetricsError::new(format!(
            "a {what} has 1 to {MAX_NAME_CHARS} characters, `{name}` has {}",
            name.chars().count()
        )));
    }
    Ok(())
}

/// A metric's unit: the units CloudWatch knows (`MetricDatum.Unit`).
///
/// # Examples
///
/// ```
/// use lambda_kit::metrics::Unit;
///
/// assert_eq!(Unit::BytesPerSecond.as_str(), "Bytes/Second");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(missing_docs)] // Each is the unit its name says.
pub enum Unit {
    Seconds,
    Microseconds,
    Milliseconds,
    Bytes,
    Kilobytes,
    Megabytes,
    Gigabytes,
    Terabytes,
    Bits,
    Kilobits,
    Megabits,
    Gigabits,
    Terabits,
    Percent,
    Count,
    BytesPerSecond,
    KilobytesPerSecond,
    MegabytesPerSecond,
    GigabytesPerSecond,
    TerabytesPerSecond,
    BitsPerSecond,
    KilobitsPerSecond,
    MegabitsPerSecond,
    GigabitsPerSecond,
    TerabitsPerSecond,
    CountPerSecond,
    /// No unit.
    None,
}

impl Unit {
    /// The unit as CloudWatch spells it (`Count`, `Bytes/Second`, ...).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(lambda_kit::metrics::Unit::Milliseconds.as_str(), "Milliseconds");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Seconds => "Seconds",
            Self::Microseconds => "Microseconds",
            Self::Milliseconds => "Milliseconds",
            Self::Bytes => "Bytes",
            Self::Kilobytes => "Kilobytes",
            Self::Megabytes => "Megabytes",
            Self::Gigabytes => "Gigabytes",
            Self::Terabytes => "Terabytes",
            Self::Bits => "Bits",
            Self::Kilobits => "Kilobits",
            Self::Megabits => "Megabits",
            Self::Gigabits => "Gigabits",
            Self::Terabits => "Terabits",
            Self::Percent => "Percent",
            Self::Count => "Count",
            Self::BytesPerSecond => "Bytes/Second",
            Self::KilobytesPerSecond => "Kilobytes/Second",
            Self::MegabytesPerSecond => "Megabytes/Second",
            Self::GigabytesPerSecond => "Gigabytes/Second",
            Self::TerabytesPerSecond => "Terabytes/Second",
            Self::BitsPerSecond => "Bits/Second",
            Self::KilobitsPerSecond => "Kilobits/Second",
            Self::MegabitsPerSecond => "Megabits/Second",
            Self::GigabitsPerSecond => "Gigabits/Second",
            Self::TerabitsPerSecond => "Terabits/Second",
            Self::CountPerSecond => "Count/Second",
            Self::None => "None",
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A metric, dimension or property CloudWatch would not accept; nothing was recorded.
///
/// Converts into a [`Diagnostic`] (`errorType` `Metrics.InvalidMetric`), so `?` works in a
/// handler; ignore it (`let _ = ...`) where a metric must never fail the invocation.
///
/// # Examples
///
/// ```
/// use lambda_kit::metrics::{Metrics, Unit};
///
/// let error = Metrics::new("Shop").add_metric("Latency", f64::NAN, Unit::Milliseconds).unwrap_err();
/// assert_eq!(error.to_string(), "metric `Latency` cannot record NaN: CloudWatch takes finite numbers only");
/// ```
#[derive(Debug, Clone)]
pub struct MetricsError {
    message: String,
}

impl MetricsError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for MetricsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MetricsError {}

impl From<MetricsError> for Diagnostic {
    fn from(error: MetricsError) -> Self {
        Diagnostic::new("Metrics.InvalidMetric", error.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(documents: &[String]) -> Vec<Value> {
        documents
            .iter()
            .map(|document| serde_json::from_str(document).unwrap())
            .collect()
    }

    #[test]
    fn a_document_has_emfs_exact_shape() {
        let metrics = Metrics::new("Shop");
        metrics.add_dimension("service", "orders").unwrap();
        metrics.add_metric("Orders", 1.0, Unit::Count).unwrap();
        metrics
            .add_metric("Latency", 12.5, Unit::Milliseconds)
            .unwrap();
        metrics
            .add_metric("Latency", 7.0, Unit::Milliseconds)
            .unwrap();
        metrics.add_property("orderId", "o-1").unwrap();
        let documents = metrics.lock().documents(1_795_426_200_123);
        assert_eq!(
            parse(&documents),
            [json!({
                "_aws": {
                    "Timestamp": 1_795_426_200_123_u64,
                    "CloudWatchMetrics": [{
                        "Namespace": "Shop",
                        "Dimensions": [["service"]],
                        "Metrics": [
                            {"Name": "Orders", "Unit": "Count"},
                            {"Name": "Latency", "Unit": "Milliseconds"},
                        ],
                    }],
                },
                "service": "orders",
                "Orders": 1.0,
                "Latency": [12.5, 7.0],
                "orderId": "o-1",
            })]
        );
        // One line each.
        assert!(!documents[0].contains('\n'));
    }

    #[test]
    fn without_dimensions_the_set_is_empty_and_extra_sets_are_listed() {
        let metrics = Metrics::new("Shop");
        metrics.add_metric("Orders", 2.0, Unit::Count).unwrap();
        let document = &parse(&metrics.lock().documents(1))[0];
        assert_eq!(
            document["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );

        metrics.add_dimension("service", "orders").unwrap();
        metrics
            .add_dimension_set([("service", "orders"), ("region", "eu-west-1")])
            .unwrap();
        let document = &parse(&metrics.lock().documents(1))[0];
        assert_eq!(
            document["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["service"], ["service", "region"]])
        );
        assert_eq!(document["region"], "eu-west-1");
    }

    #[test]
    fn more_than_100_metrics_are_split_over_documents() {
        let metrics = Metrics::new("Shop");
        metrics.add_dimension("service", "orders").unwrap();
        metrics.add_property("requestId", "r-1").unwrap();
        for n in 0..250 {
            metrics
                .add_metric(&format!("M{n}"), f64::from(n), Unit::Count)
                .unwrap();
        }
        let documents = parse(&metrics.lock().documents(1));
        let counts: Vec<usize> = documents
            .iter()
            .map(|document| {
                document["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                    .as_array()
                    .unwrap()
                    .len()
            })
            .collect();
        assert_eq!(counts, [100, 100, 50]);
        let mut seen = Vec::new();
        for document in &documents {
            // Each document stands alone: dimensions and properties in every one.
            assert_eq!(document["service"], "orders");
            assert_eq!(document["requestId"], "r-1");
            for definition in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
            {
                let name = definition["Name"].as_str().unwrap();
                seen.push((name.to_owned(), document[name].as_f64().unwrap()));
            }
        }
        let expected: Vec<(String, f64)> =
            (0..250).map(|n| (format!("M{n}"), f64::from(n))).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn more_than_100_values_of_a_metric_are_split_over_documents() {
        let metrics = Metrics::new("Shop");
        for n in 0..230 {
            metrics
                .add_metric("Latency", f64::from(n), Unit::Milliseconds)
                .unwrap();
        }
        metrics.add_metric("Orders", 1.0, Unit::Count).unwrap();
        let documents = parse(&metrics.lock().documents(1));
        assert_eq!(documents.len(), 3);
        let lengths: Vec<usize> = documents
            .iter()
            .map(|document| document["Latency"].as_array().unwrap().len())
            .collect();
        assert_eq!(lengths, [100, 100, 30]);
        assert_eq!(documents[0]["Orders"], 1.0);
        assert!(documents[1].get("Orders").is_none());
        assert_eq!(documents[2]["Latency"][29], 229.0);
    }

    #[test]
    fn a_dimension_set_holds_at_most_30() {
        let metrics = Metrics::new("Shop");
        for n in 0..30 {
            metrics.add_dimension(&format!("d{n}"), "v").unwrap();
        }
        let error = metrics.add_dimension("d30", "v").unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot add dimension `d30`: a dimension set holds at most 30 dimensions"
        );
        // Setting an existing one again is not a new dimension.
        metrics.add_dimension("d0", "v").unwrap();

        let names: Vec<String> = (0..31).map(|n| format!("e{n}")).collect();
        let error = metrics
            .add_dimension_set(names.iter().map(|name| (name.as_str(), "v")))
            .unwrap_err();
        assert!(error.to_string().contains("at most 30"), "{error}");
        assert_eq!(metrics.lock().dimension_sets.len(), 1);
    }

    #[test]
    fn invalid_input_is_refused_and_records_nothing() {
        let metrics = Metrics::new("Shop");
        metrics
            .add_metric("Latency", 1.0, Unit::Milliseconds)
            .unwrap();
        let unit = metrics
            .add_metric("Latency", 1.0, Unit::Seconds)
            .unwrap_err();
        assert_eq!(
            unit.to_string(),
            "metric `Latency` was recorded in Milliseconds and cannot also be recorded in Seconds"
        );
        assert!(metrics.add_metric("", 1.0, Unit::Count).is_err());
        assert!(
            metrics
                .add_metric("Inf", f64::INFINITY, Unit::Count)
                .is_err()
        );
        assert!(metrics.add_dimension("Latency", "x").is_err());
        assert!(metrics.add_dimension("service", "").is_err());
        metrics.add_dimension("service", "orders").unwrap();
        assert!(metrics.add_dimension("service", "billing").is_err());
        assert!(metrics.add_metric("service", 1.0, Unit::Count).is_err());
        assert!(metrics.add_property("_aws", 1).is_err());
        assert!(metrics.set_namespace("").is_err());
        let documents = parse(&metrics.lock().documents(1));
        assert_eq!(documents.len(), 1);
        assert_eq!(documents[0]["Latency"], 1.0);
        assert_eq!(documents[0]["service"], "orders");

        let diagnostic = Diagnostic::from(unit);
        assert_eq!(diagnostic.error_type(), "Metrics.InvalidMetric");
    }

    #[test]
    fn the_cold_start_is_a_document_of_its_own_with_the_function_name() {
        let metrics = Metrics::new("Shop");
        {
            let mut collector = metrics.lock();
            collector.cold_start = true;
            collector.function_name = "orders-fn".to_owned();
        }
        metrics.add_dimension("service", "orders").unwrap();
        metrics.add_metric("Orders", 1.0, Unit::Count).unwrap();
        let documents = parse(&metrics.lock().documents(5));
        assert_eq!(documents.len(), 2);
        assert_eq!(
            documents[0],
            json!({
                "_aws": {
                    "Timestamp": 5,
                    "CloudWatchMetrics": [{
                        "Namespace": "Shop",
                        "Dimensions": [["function_name"]],
                        "Metrics": [{"Name": "ColdStart", "Unit": "Count"}],
                    }],
                },
                "function_name": "orders-fn",
                "ColdStart": 1,
            })
        );
        assert_eq!(documents[1]["Orders"], 1.0);

        // Without a namespace there is no cold start, and metrics use the EMF default.
        let metrics = Metrics::empty();
        metrics.lock().cold_start = true;
        assert!(metrics.documents().is_empty());
        metrics.add_metric("Orders", 1.0, Unit::Count).unwrap();
        let documents = parse(&metrics.documents());
        assert_eq!(documents.len(), 1);
        assert_eq!(
            documents[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "aws-embedded-metrics"
        );
    }

    #[test]
    fn the_configured_service_is_a_dimension_of_every_metric_until_the_handler_sets_one() {
        let config = Config::from_lookup(|name| {
            let value = match name {
                "AWS_LAMBDA_RUNTIME_API" => "127.0.0.1:9001",
                "AWS_LAMBDA_FUNCTION_NAME" => "orders-fn",
                "AWS_LAMBDA_FUNCTION_VERSION" => "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" => "128",
                "POWERTOOLS_METRICS_NAMESPACE" => "Shop",
                "POWERTOOLS_SERVICE_NAME" => "checkout",
                _ => return None,
            };
            Some(value.to_owned())
        })
        .unwrap();
        let metrics = Metrics::detached(&config);
        metrics.lock().cold_start = true;
        metrics.add_metric("Orders", 1.0, Unit::Count).unwrap();
        let documents = parse(&metrics.lock().documents(5));
        assert_eq!(
            documents[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["function_name", "service"]])
        );
        assert_eq!(documents[0]["service"], "checkout");
        assert_eq!(
            documents[1]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["service"]])
        );
        assert_eq!(documents[1]["service"], "checkout");

        // A refused value leaves the configured one; the handler's own replaces it, in place.
        assert!(metrics.add_dimension("service", "").is_err());
        assert_eq!(
            parse(&metrics.lock().documents(5))[1]["service"],
            "checkout"
        );
        metrics.add_dimension("region", "eu").unwrap();
        metrics.add_dimension("service", "refunds").unwrap();
        let documents = parse(&metrics.lock().documents(5));
        assert_eq!(
            documents[1]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["service", "region"]])
        );
        assert_eq!(documents[1]["service"], "refunds");
        // ... once: after that, a different value conflicts as any dimension's would.
        assert!(metrics.add_dimension("service", "other").is_err());
        // The cold start keeps the configured service.
        assert_eq!(documents[0]["service"], "checkout");
    }
}
