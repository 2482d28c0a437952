//! Idempotent handlers: an event delivered twice runs once, and the repeat gets the first
//! answer.
//!
//! Lambda and the services in front of it deliver events at least once: SQS, SNS, EventBridge
//! and asynchronous invocations retry, and clients retry API calls that timed out. A handler
//! that charges a card or ships an order must not do it twice. [`Idempotency`] keys each
//! event (a SHA-256 hash of the whole event, or of a part of it chosen with a JSON pointer or
//! a closure), and keeps a [`Record`] per key in a [`Store`]:
//!
//! 1. Before the handler runs, a record `INPROGRESS` is written, on the condition that no live
//!    record has the key. The write and the check are one step of the store (a conditional
//!    write in DynamoDB), so two invocations racing on one key cannot both win.
//! 2. When a live record exists, the handler does not run: a `COMPLETED` record's stored
//!    response is returned as if the handler had answered it, and an `INPROGRESS` one fails
//!    the invocation with [`IdempotencyError::AlreadyInProgress`] (`errorType`
//!    `IdempotencyAlreadyInProgress`), so that the caller retries later.
//! 3. When the handler succeeds, its response is stored and the record becomes `COMPLETED`
//!    until it expires ([`Idempotency::expires_after`], one hour by default). When it fails,
//!    the record is deleted, so that a retry runs it again.
//!
//! An `INPROGRESS` record also expires at the invocation's deadline
//! ([`Context::deadline`]): an invocation that timed out, crashed or panicked leaves its
//! record behind, and the record stops blocking the key once that invocation cannot be
//! running any more.
//!
//! The semantics, status names and DynamoDB table layout are those of Powertools for AWS
//! Lambda's idempotency utility (Python, TypeScript, Java), so one table, set up as its docs
//! say, serves functions written with either; their keys never meet, as they hash differently
//! (SHA-256 here, MD5 there).
//!
//! Two stores come with lambda-kit: [`MemoryStore`], for tests and for work that only needs to
//! be idempotent within one execution environment, and `DynamoDbStore` (feature
//! `idempotency-dynamodb`), for idempotency across every instance of a function. Others
//! implement [`Store`].
//!
//! ```no_run
//! use lambda_kit::idempotency::{Idempotency, MemoryStore};
//! use lambda_kit::{Config, Context, Diagnostic};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Payment {
//!     order_id: String,
//!     cents: u64,
//! }
//!
//! #[derive(Serialize, Deserialize)]
//! struct Receipt {
//!     payment_id: String,
//! }
//!
//! async fn setup(_config: Config) -> Result<Idempotency<MemoryStore>, Diagnostic> {
//!     // One payment per order, whatever else the event carries.
//!     Ok(Idempotency::new(MemoryStore::new()).key("/order_id"))
//! }
//!
//! #[lambda_kit::handler(setup = setup)]
//! async fn handler(
//!     payment: Payment,
//!     ctx: Context,
//!     idempotency: &Idempotency<MemoryStore>,
//! ) -> Result<Receipt, Diagnostic> {
//!     let receipt = idempotency
//!         .run(payment, &ctx, |payment| async move {
//!             tracing::info!(order = %payment.order_id, cents = payment.cents, "charging");
//!             Ok::<_, Diagnostic>(Receipt { payment_id: format!("pay-{}", payment.order_id) })
//!         })
//!         .await?;
//!     Ok(receipt)
//! }
//! ```

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Serialize, Serializer};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{Context, Diagnostic};

#[cfg(feature = "idempotency-dynamodb")]
mod dynamodb;
#[cfg(feature = "idempotency-dynamodb")]
#[cfg_attr(docsrs, doc(cfg(feature = "idempotency-dynamodb")))]
pub use dynamodb::DynamoDbStore;

/// How long a completed record answers repeats, unless [`Idempotency::expires_after`] says
/// otherwise (Powertools' default too).
const DEFAULT_EXPIRY: Duration = Duration::from_secs(60 * 60);

/// Makes handlers idempotent: runs each one once per key, with the records in a [`Store`].
///
/// Build it once, in the setup step, and call [`run`](Self::run) in the handler. See the
/// [module docs](self) for the flow.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lambda_kit::idempotency::{Idempotency, MemoryStore};
///
/// let idempotency = Idempotency::new(MemoryStore::new())
///     .key("/body/order_id")
///     .validate("/body/amount")
///     .expires_after(Duration::from_secs(24 * 60 * 60));
/// # let _ = idempotency;
/// ```
pub struct Idempotency<S> {
    store: S,
    key: Selector,
    validation: Option<Selector>,
    key_prefix: Option<String>,
    expires_after: Duration,
    require_key: bool,
    clock: Arc<dyn Fn() -> SystemTime + Send + Sync>,
}

impl<S: fmt::Debug> fmt::Debug for Idempotency<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Idempotency")
            .field("store", &self.store)
            .field("key", &self.key)
            .field("validation", &self.validation)
            .field("key_prefix", &self.key_prefix)
            .field("expires_after", &self.expires_after)
            .field("require_key", &self.require_key)
            .finish_non_exhaustive()
    }
}

/// The part of the event that is hashed.
#[derive(Clone)]
enum Selector {
    /// A JSON pointer (RFC 6901); `""` is the whole event.
    Pointer(String),
    /// A closure of the user's.
    With(Arc<SelectFn>),
}

/// What [`Idempotency::key_with`] takes.
type SelectFn = dyn Fn(&Value) -> Option<Value> + Send + Sync;

impl Selector {
    fn pointer(pointer: String) -> Self {
        assert!(
            pointer.is_empty() || pointer.starts_with('/'),
            "`{pointer}` is not a JSON pointer: it must be empty (the whole event) or start with `/`, as in `/{pointer}`"
        );
        Self::Pointer(pointer)
    }

    /// The selected value; `None` when it is missing or `null`.
    fn select(&self, event: &Value) -> Option<Value> {
        let selected = match self {
            Self::Pointer(pointer) => event.pointer(pointer).cloned(),
            Self::With(select) => select(event),
        };
        selected.filter(|value| !value.is_null())
    }
}

impl fmt::Debug for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pointer(pointer) => write!(f, "{pointer:?}"),
            Self::With(_) => f.write_str("<closure>"),
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pointer(pointer) if pointer.is_empty() => f.write_str("the whole event"),
            Self::Pointer(pointer) => write!(f, "`{pointer}`"),
            Self::With(_) => f.write_str("the key closure"),
        }
    }
}

impl<S: Store> Idempotency<S> {
    /// Keys on the whole event, keeps completed records for an hour, and stores them in
    /// `store`.
    ///
    /// # Examples
    ///
    /// ```
    /// use lambda_kit::idempotency::{Idempotency, MemoryStore};
    ///
    /// let idempotency = Idempotency::new(MemoryStore::new());
    /// # let _ = idempotency;
    /// ```
    pub fn new(store: S) -> Self {
        Self {
            store,
            key: Selector::Pointer(String::new()),
            validation: None,
            key_prefix: None,
            expires_after: DEFAULT_EXPIRY,
            require_key: false,
            clock: Arc::new(SystemTime::now),
        }
    }

    /// Keys on the part of the event at `pointer`, a JSON pointer (RFC 6901) such as
    /// `/order_id` or `/body/items/0/sku`; `""` is the whole event.
    ///
    /// An event without a value there (or with `null`) is handled without idempotency, with a
    /// warning in the log, unless [`require_key`](Self::require_key) makes it an error.
    ///
    /// # Panics
    ///
    /// Panics when `pointer` is neither empty nor starts with `/`.
    ///
    /// # Examples
    ///
    /// ```
    /// use lambda_kit::idempotency::{Idempotency, MemoryStore};
    ///
    /// let idempotency = Idempotency::new(MemoryStore::new()).key("/detail/order_id");
    /// # let _ = idempotency;
    /// ```
    #[must_use]
    pub fn key(mut self, pointer: impl Into<String>) -> Self {
        self.key = Selector::pointer(pointer.into());
        self
    }

    /// Keys on what `select` picks from the event (as JSON), for keys no single pointer
    /// reaches: several fields, or a normalised value. `None` means the event has no key, as
    /// for [`key`](Self::key).
    ///
    /// # Examples
    ///
    /// ```
    /// use lambda_kit::idempotency::{Idempotency, MemoryStore};
    ///
    /// // One charge per customer and order.
    /// let idempotency = Idempotency::new(MemoryStore::new()).key_with(|event| {
    ///     Some(serde_json::json!([event.get("customer")?, event.get("order")?]))
    /// });
    /// # let _ = idempotency;
    /// ```
    #[must_use]
    pub fn key_with<F>(mut self, select: F) -> Self
    where
        F: Fn(&Value) -> Option<Value> + Send + Sync + 'static,
    {
        self.key = Selector::With(Arc::new(select));
        self
    }

    /// Also hashes the part of the event at `pointer` (`""` for the whole event) into the
    /// record, and fails a repeat whose hash differs with
    /// [`IdempotencyError::PayloadMismatch`]: the same key with a different payload is more
    /// likely a bug of the caller than a retry.
    ///
    /// # Panics
    ///
    /// Panics when `pointer` is neither empty nor starts with `/`.
    ///
    /// # Examples
    ///
    /// ```
    /// use lambda_kit::idempotency::{Idempotency, MemoryStore};
    ///
    /// // A retry must not change the amount.
    /// let idempotency = Idempotency::new(MemoryStore::new()).key("/order_id").validate("/amount");
    /// # let _ = idempotency;
    /// ```
    #[must_use]
    pub fn validate(mut self, pointer: impl Into<String>) -> Self {
        self.validation = Some(Selector::pointer(pointer.into()));
        self
    }

    /// Fails an event without a key with [`IdempotencyError::MissingKey`] instead of handling
    /// it without idempotency.
    ///
    /// # Examples
    ///
    /// ```
    /// use lambda_kit::idempotency::{Idempotency, MemoryStore};
    ///
    /// let idempotency = Idempotency::new(MemoryStore::new()).key("/order_id").require_key();
    /// # let _ = idempotency;
    /// ```
    #[must_use]
    pub fn require_key(mut self) -> Self {
        self.require_key = true;
        self
    }

    /// Prefixes keys with `prefix` instead of the function's name (`AWS_LAMBDA_FUNCTION_NAME`).
    ///
    /// Give each idempotent operation of a function its own prefix when one function runs
    /// several, and give functions that must share records the same one.
    ///
    /// # Examples
    ///
    /// ```
    /// use lambda_kit::idempotency::{Idempotency, MemoryStore};
    ///
    /// let store = MemoryStore::new();
    /// let charge = Idempotency::new(store.clone()).key_prefix("orders.charge");
    /// let ship = Idempotency::new(store).key_prefix("orders.ship");
    /// # let _ = (charge, ship);
    /// ```
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = Some(prefix.into());
        self
    }

    /// How long a completed record answers repeats of its event (default: one hour). After
    /// that, the event runs the handler again.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use lambda_kit::idempotency::{Idempotency, MemoryStore};
    ///
    /// let idempotency =
    ///     Idempotency::new(MemoryStore::new()).expires_after(Duration::from_secs(5 * 60));
    /// # let _ = idempotency;
    /// ```
    #[must_use]
    pub fn expires_after(mut self, expiry: Duration) -> Self {
        self.expires_after = expiry;
        self
    }

    /// Reads the time from `now` instead of the system clock: for tests of expiry, which
    /// would otherwise wait for it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use lambda_kit::idempotency::{Idempotency, MemoryStore};
    ///
    /// // Two hours from now, when today's records have expired.
    /// let later = Idempotency::new(MemoryStore::new())
    ///     .clock(|| SystemTime::now() + Duration::from_secs(2 * 60 * 60));
    /// # let _ = later;
    /// ```
    #[must_use]
    pub fn clock<F>(mut self, now: F) -> Self
    where
        F: Fn() -> SystemTime + Send + Sync + 'static,
    {
        self.clock = Arc::new(now);
        self
    }

    /// The store the records are kept in.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The record key of `event` for the function `ctx` belongs to,
    /// `{prefix}#{sha256 hex}`, or `None` when the event has no key.
    ///
    /// The hash is over the selected JSON with object members in sorted order, so it does not
    /// depend on the order the event's fields came in.
    ///
    /// # Errors
    ///
    /// Fails when `event` cannot be written as JSON.
    ///
    /// # Examples
    ///
    /// ```
    /// use lambda_kit::idempotency::{Idempotency, MemoryStore};
    ///
    /// let ctx = lambda_kit::testing::ContextBuilder::new().build();
    /// let idempotency = Idempotency::new(MemoryStore::new()).key("/id");
    /// let key = idempotency.record_key(&serde_json::json!({"id": 7, "note": "a"}), &ctx)?;
    /// let same = idempotency.record_key(&serde_json::json!({"note": "b", "id": 7}), &ctx)?;
    /// assert_eq!(key, same);
    /// assert!(key.is_some_and(|key| key.starts_with("test-function#")));
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn record_key<E: Serialize>(
        &self,
        event: &E,
        ctx: &Context,
    ) -> Result<Option<String>, serde_json::Error> {
        let event = serde_json::to_value(event)?;
        Ok(self.key_of(&event, ctx))
    }

    fn key_of(&self, event: &Value, ctx: &Context) -> Option<String> {
        let selected = self.key.select(event)?;
        let prefix = self
            .key_prefix
            .as_deref()
            .unwrap_or_else(|| ctx.config().function_name());
        Some(format!("{prefix}#{}", hash(&selected)))
    }

    /// Runs `handler` on `event` unless a live record of its key says not to, and keeps its
    /// response for repeats.
    ///
    /// - No live record: the handler runs; its response is stored, or on error the record is
    ///   deleted so that a retry runs again.
    /// - A completed record: its stored response is returned, read back as `R`, and the
    ///   handler does not run.
    /// - A record in progress: [`IdempotencyError::AlreadyInProgress`].
    ///
    /// The handler's own error comes back as [`IdempotencyError::Handler`]. Every error
    /// converts into a [`Diagnostic`], so `?` works in a handler that returns one.
    ///
    /// # Errors
    ///
    /// The handler's error; [`IdempotencyError::AlreadyInProgress`] when another invocation
    /// of the same key is running; [`IdempotencyError::PayloadMismatch`] when the
    /// [validated](Self::validate) part differs from the stored record's;
    /// [`IdempotencyError::MissingKey`] when the event has no key and one is
    /// [required](Self::require_key); [`IdempotencyError::Store`] when the store fails (also
    /// after the handler succeeded, when its response cannot be saved: the caller's retry
    /// would then run it again, so the invocation must not report success);
    /// [`IdempotencyError::Json`] when the event or the response cannot be written as JSON,
    /// or a stored response is not an `R`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use lambda_kit::idempotency::{Idempotency, MemoryStore};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), lambda_kit::Diagnostic> {
    /// let ctx = lambda_kit::testing::ContextBuilder::new().build();
    /// let idempotency = Idempotency::new(MemoryStore::new()).key("/order");
    /// let runs = Cell::new(0);
    /// for _ in 0..2 {
    ///     let total = idempotency
    ///         .run(serde_json::json!({"order": "o-1", "n": 2}), &ctx, |event| {
    ///             runs.set(runs.get() + 1);
    ///             async move { Ok::<_, lambda_kit::Diagnostic>(event["n"].as_u64().unwrap_or(0) * 100) }
    ///         })
    ///         .await?;
    ///     assert_eq!(total, 200);
    /// }
    /// assert_eq!(runs.get(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn run<E, F, Fut, R, Err>(
        &self,
        event: E,
        ctx: &Context,
        handler: F,
    ) -> Result<R, IdempotencyError<Err>>
    where
        E: Serialize,
        F: FnOnce(E) -> Fut,
        Fut: Future<Output = Result<R, Err>>,
        R: Serialize + DeserializeOwned,
    {
        let value = serde_json::to_value(&event).map_err(IdempotencyError::Json)?;
        let Some(key) = self.key_of(&value, ctx) else {
            if self.require_key {
                return Err(IdempotencyError::MissingKey {
                    selector: self.key.to_string(),
                });
            }
            tracing::warn!(
                key = %self.key,
                "the event has no idempotency key: handled without idempotency"
            );
            return handler(event).await.map_err(IdempotencyError::Handler);
        };
        let validation = self
            .validation
            .as_ref()
            .map(|selector| hash(&selector.select(&value).unwrap_or(Value::Null)));
        drop(value);

        let now = (self.clock)();
        let expiration = now
            .checked_add(self.expires_after)
            .map_or(u64::MAX, epoch_seconds);
        let mut record = Record::new(key, Status::InProgress, expiration)
            .with_in_progress_expiration(epoch_millis(ctx.deadline()));
        record.validation = validation;
        match self
            .store
            .put_in_progress(&record, now)
            .await
            .map_err(IdempotencyError::Store)?
        {
            PutOutcome::Inserted => {}
            PutOutcome::Exists(existing) => return replay(&record, existing),
        }

        let outcome = handler(event).await;
        let response = match outcome {
            Ok(response) => response,
            Err(error) => {
                self.forget(&record.key).await;
                return Err(IdempotencyError::Handler(error));
            }
        };
        let data = match serde_json::to_string(&response) {
            Ok(data) => data,
            Err(error) => {
                self.forget(&record.key).await;
                return Err(IdempotencyError::Json(error));
            }
        };
        record.status = Status::Completed;
        record.response = Some(data);
        record.in_progress_expiration = None;
        self.store
            .complete(&record)
            .await
            .map_err(IdempotencyError::Store)?;
        Ok(response)
    }

    /// Deletes the record of a failed invocation. Failing to is logged rather than returned:
    /// the handler's error is what the caller needs to see, and the record stops blocking
    /// retries at the invocation's deadline anyway.
    async fn forget(&self, key: &str) {
        if let Err(error) = self.store.delete(key).await {
            tracing::error!(
                key,
                error = %DisplayChain(&error),
                "the idempotency record of a failed invocation cannot be deleted; retries wait for the invocation's deadline"
            );
        }
    }
}

/// What a repeat gets from the live record `existing` of its key.
fn replay<R: DeserializeOwned, Err>(
    attempt: &Record,
    existing: Record,
) -> Result<R, IdempotencyError<Err>> {
    if let Some(expected) = &attempt.validation
        && existing.validation.as_ref() != Some(expected)
    {
        return Err(IdempotencyError::PayloadMismatch { key: existing.key });
    }
    match existing.status {
        Status::InProgress => Err(IdempotencyError::AlreadyInProgress { key: existing.key }),
        Status::Completed => {
            tracing::info!(key = %existing.key, "repeated event: answered with the stored response");
            let data = existing.response.as_deref().unwrap_or("null");
            serde_json::from_str(data).map_err(IdempotencyError::Json)
        }
    }
}

/// SHA-256 (hex) of `value` as JSON with sorted object members.
fn hash(value: &Value) -> String {
    // Writing a `Value` into a `Vec` cannot fail: its keys are strings and numbers finite.
    let json = serde_json::to_vec(&Sorted(value)).unwrap_or_default();
    let digest = Sha256::digest(&json);
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest.iter() {
        use fmt::Write as _;
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// A JSON value written with its object members sorted by name, whatever order `serde_json`
/// keeps them in (`preserve_order` may be on in the user's build).
struct Sorted<'a>(&'a Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Object(members) => {
                let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
                sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
                let mut map = serializer.serialize_map(Some(sorted.len()))?;
                for (name, value) in sorted {
                    map.serialize_entry(name, &Sorted(value))?;
                }
                map.end()
            }
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Sorted(item))?;
                }
                seq.end()
            }
            other => other.serialize(serializer),
        }
    }
}

fn epoch_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn epoch_millis(time: SystemTime) -> u64 {
    let millis = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    u64::try_from(millis).unwrap_or(u64::MAX)
}

/// Whether an idempotency record's invocation is running or has answered.
///
/// The names are Powertools': `INPROGRESS` and `COMPLETED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// An invocation is running the handler.
    InProgress,
    /// The handler answered, and the record holds its response.
    Completed,
}

impl Status {
    /// The name stores keep: `INPROGRESS` or `COMPLETED`.
    ///
    /// # Examples
    ///
    /// ```
    /// use lambda_kit::idempotency::Status;
    ///
    /// assert_eq!(Status::InProgress.as_str(), "INPROGRESS");
    /// assert_eq!("COMPLETED".parse::<Status>()?, Status::Completed);
    /// # Ok::<(), lambda_kit::idempotency::StoreError>(())
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "INPROGRESS",
            Self::Completed => "COMPLETED",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = StoreError;

    fn from_str(name: &str) -> Result<Self, StoreError> {
        match name {
            "INPROGRESS" => Ok(Self::InProgress),
            "COMPLETED" => Ok(Self::Completed),
            other => Err(StoreError::new(format!(
                "`{other}` is not an idempotency status; expected `INPROGRESS` or `COMPLETED`"
            ))),
        }
    }
}

/// One key's idempotency record, as a [`Store`] keeps it.
///
/// # Examples
///
/// ```
/// use lambda_kit::idempotency::{Record, Status};
///
/// let record = Record::new("orders#3f2a", Status::Completed, 1_800_000_000)
///     .with_response(r#"{"payment_id":"pay-1"}"#);
/// assert_eq!(record.response(), Some(r#"{"payment_id":"pay-1"}"#));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    key: String,
    status: Status,
    expiration: u64,
    in_progress_expiration: Option<u64>,
    response: Option<String>,
    validation: Option<String>,
}

impl Record {
    /// A record of `key` in `status` that expires at `expiration` (seconds since the Unix
    /// epoch).
    ///
    /// # Examples
    ///
    /// ```
    /// use lambda_kit::idempotency::{Record, Status};
    ///
    /// let record = Record::new("orders#3f2a", Status::InProgress, 1_800_000_000);
    /// assert_eq!(record.expiration(), 1_800_000_000);
    /// ```
    pub fn new(key: impl Into<String>, status: Status, expiration: u64) -> Self {
        Self {
            key: key.into(),
            status,
            expiration,
            in_progress_expiration: None,
            response: None,
            validation: None,
        }
    }

    /// Sets when an `INPROGRESS` record stops blocking its key (milliseconds since the Unix
    /// epoch): the deadline of the invocation that wrote it.
    ///
    /// # Examples
    ///
    /// ```
    /// use lambda_kit::idempotency::{Record, Status};
    ///
    /// let record = Record::new("k", Status::InProgress, 1_800_000_000)
    ///     .with_in_progress_expiration(1_799_996_400_000);
    /// assert_eq!(record.in_progress_expiration(), Some(1_799_996_400_000));
    /// ```
    #[must_use]
    pub fn with_in_progress_expiration(mut self, epoch_millis: u64) -> Self {
        self.in_progress_expiration = Some(epoch_millis);
        self
    }

    /// Sets the stored response (JSON).
    ///
    /// # Examples
    ///
    /// ```
    /// use lambda_kit::idempotency::{Record, Status};
    ///
    /// let record = Record::new("k", Status::Completed, 1_800_000_000).with_response("42");
    /// assert_eq!(record.response(), Some("42"));
    /// ```
    #[must_use]
    pub fn with_response(mut self, json: impl Into<String>) -> Self {
        self.response = Some(json.into());
        self
    }

    /// Sets the hash of the validated part of the event.
    ///
    /// # Examples
    ///
    /// ```
    /// use lambda_kit::idempotency::{Record, Status};
    ///
    /// let record = Record::new("k", Status::Completed, 1_800_000_000).with_validation("9c1e");
    /// assert_eq!(record.validation(), Some("9c1e"));
    /// ```
    #[must_use]
    pub fn with_validation(mut self, hash: impl Into<String>) -> Self {
        self.validation = Some(hash.into());
        self
    }

    /// The record's key, `{prefix}#{sha256 hex}`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether the invocation is running or has answered.
    pub fn status(&self) -> Status {
        self.status
    }

    /// When the record expires, in seconds since the Unix epoch.
    pub fn expiration(&self) -> u64 {
        self.expiration
    }

    /// When an `INPROGRESS` record stops blocking its key, in milliseconds since the Unix
    /// epoch.
    pub fn in_progress_expiration(&self) -> Option<u64> {
        self.in_progress_expiration
    }

    /// The stored response (JSON) of a `COMPLETED` record.
    pub fn response(&self) -> Option<&str> {
        self.response.as_deref()
    }

    /// The hash of the validated part of the event, when validation is on.
    pub fn validation(&self) -> Option<&str> {
        self.validation.as_deref()
    }

    /// Whether a new invocation may replace this record at `now`: it has expired, or it is
    /// `INPROGRESS` past its invocation's deadline. The condition of
    /// [`Store::put_in_progress`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use lambda_kit::idempotency::{Record, Status};
    ///
    /// let record = Record::new("k", Status::Completed, 1_000);
    /// assert!(!record.is_replaceable(UNIX_EPOCH + Duration::from_secs(1_000)));
    /// assert!(record.is_replaceable(UNIX_EPOCH + Duration::from_secs(1_001)));
    /// ```
    pub fn is_replaceable(&self, now: SystemTime) -> bool {
        self.expiration < epoch_seconds(now)
            || (self.status == Status::InProgress
                && self
                    .in_progress_expiration
                    .is_some_and(|deadline| deadline < epoch_millis(now)))
    }
}

/// What [`Store::put_in_progress`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// The record was written: no live record had its key.
    Inserted,
    /// A live record has the key, and nothing was written.
    Exists(Record),
}

/// Where idempotency records are kept.
///
/// The records must be shared by every invocation that may see the same event: with
/// [`MemoryStore`] that is the invocations of one execution environment, with a database every
/// instance of the function. Implementations may write `async fn` for each method.
///
/// # Examples
///
/// A store wrapping another and counting its writes:
///
/// ```
/// use std::cell::Cell;
/// use std::time::SystemTime;
/// use lambda_kit::idempotency::{MemoryStore, PutOutcome, Record, Store, StoreError};
///
/// #[derive(Debug, Default)]
/// struct Counting {
///     inner: MemoryStore,
///     writes: Cell<u32>,
/// }
///
/// impl Store for Counting {
///     async fn put_in_progress(&self, record: &Record, now: SystemTime) -> Result<PutOutcome, StoreError> {
///         self.writes.set(self.writes.get() + 1);
///         self.inner.put_in_progress(record, now).await
///     }
///
///     async fn complete(&self, record: &Record) -> Result<(), StoreError> {
///         self.writes.set(self.writes.get() + 1);
///         self.inner.complete(record).await
///     }
///
///     async fn delete(&self, key: &str) -> Result<(), StoreError> {
///         self.inner.delete(key).await
///     }
/// }
/// ```
pub trait Store {
    /// Writes `record` (`INPROGRESS`) unless a record of its key exists that is not
    /// [replaceable](Record::is_replaceable) at `now`, and returns that record then. The check
    /// and the write must be one atomic step, or two invocations could both run the handler.
    ///
    /// # Errors
    ///
    /// When the store cannot be reached or answers with an error.
    fn put_in_progress(
        &self,
        record: &Record,
        now: SystemTime,
    ) -> impl Future<Output = Result<PutOutcome, StoreError>>;

    /// Writes `record` (`COMPLETED`, with its response) over the record of its key.
    ///
    /// # Errors
    ///
    /// When the store cannot be reached or answers with an error.
    fn complete(&self, record: &Record) -> impl Future<Output = Result<(), StoreError>>;

    /// Deletes the record of `key`, if there is one.
    ///
    /// # Errors
    ///
    /// When the store cannot be reached or answers with an error.
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), StoreError>>;
}

/// Records in the memory of the process.
///
/// Lambda runs a function in many execution environments, each with its own memory, and sends
/// a retry to any of them: this store makes a handler idempotent within one environment only.
/// It suits tests, and functions with one environment (reserved concurrency of 1). Clones
/// share the records.
///
/// # Examples
///
/// ```
/// use lambda_kit::idempotency::{Idempotency, MemoryStore};
///
/// let store = MemoryStore::new();
/// let idempotency = Idempotency::new(store.clone());
/// assert!(store.is_empty());
/// # let _ = idempotency;
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    records: Arc<Mutex<HashMap<String, Record>>>,
}

impl MemoryStore {
    /// An empty store.
    ///
    /// # Examples
    ///
    /// ```
    /// let store = lambda_kit::idempotency::MemoryStore::new();
    /// assert!(store.is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The record of `key`, expired or not.
    ///
    /// # Examples
    ///
    /// ```
    /// let store = lambda_kit::idempotency::MemoryStore::new();
    /// assert_eq!(store.get("test-function#00"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<Record> {
        self.lock().get(key).cloned()
    }

    /// Whether the store holds no record.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(lambda_kit::idempotency::MemoryStore::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        // A panic while the lock is held leaves whole records behind: every write is one
        // `insert` or `remove`.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store for MemoryStore {
    async fn put_in_progress(
        &self,
        record: &Record,
        now: SystemTime,
    ) -> Result<PutOutcome, StoreError> {
        let mut records = self.lock();
        if let Some(existing) = records.get(&record.key)
            && !existing.is_replaceable(now)
        {
            return Ok(PutOutcome::Exists(existing.clone()));
        }
        records.insert(record.key.clone(), record.clone());
        Ok(PutOutcome::Inserted)
    }

    async fn complete(&self, record: &Record) -> Result<(), StoreError> {
        self.lock().insert(record.key.clone(), record.clone());
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.lock().remove(key);
        Ok(())
    }
}

/// A [`Store`] failed: it could not be reached, or refused a read or write.
///
/// # Examples
///
/// ```
/// use lambda_kit::idempotency::StoreError;
///
/// let io = std::io::Error::other("connection reset");
/// let error = StoreError::with_source("cannot write the record", io);
/// assert_eq!(error.to_string(), "cannot write the record");
/// assert!(std::error::Error::source(&error).is_some());
/// ```
#[derive(Debug)]
pub struct StoreError {
    message: String,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl StoreError {
    /// An error saying `message`.
    ///
    /// # Examples
    ///
    /// ```
    /// let error = lambda_kit::idempotency::StoreError::new("the table is missing");
    /// assert_eq!(error.to_string(), "the table is missing");
    /// ```
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// An error saying `message`, caused by `source`.
    ///
    /// # Examples
    ///
    /// ```
    /// let io = std::io::Error::other("timed out");
    /// let error = lambda_kit::idempotency::StoreError::with_source("cannot read the record", io);
    /// assert_eq!(error.to_string(), "cannot read the record");
    /// ```
    pub fn with_source(
        message: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for StoreError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}

/// An error and its causes on one line, for logs.
struct DisplayChain<'a>(&'a dyn StdError);

impl fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

/// Why [`Idempotency::run`] did not return a response.
///
/// Converts into a [`Diagnostic`]: the handler's own error as the handler would have reported
/// it, the others with the `errorType` each variant names.
#[derive(Debug)]
#[non_exhaustive]
pub enum IdempotencyError<E> {
    /// The handler failed; its record was deleted, so a retry runs it again.
    Handler(E),
    /// Another invocation of the same key is running (`IdempotencyAlreadyInProgress`); retry
    /// later.
    AlreadyInProgress {
        /// The record's key.
        key: String,
    },
    /// The key has a record, but the [validated](Idempotency::validate) part of the event
    /// differs from the one it was written for (`IdempotencyPayloadMismatch`).
    PayloadMismatch {
        /// The record's key.
        key: String,
    },
    /// The event has no key, and one is [required](Idempotency::require_key)
    /// (`IdempotencyKeyMissing`).
    MissingKey {
        /// Where the key was looked for.
        selector: String,
    },
    /// The store failed (`IdempotencyStoreError`).
    Store(StoreError),
    /// The event or the response cannot be written as JSON, or a stored response is not of
    /// the handler's response type (`IdempotencyJsonError`).
    Json(serde_json::Error),
}

impl<E> IdempotencyError<E> {
    /// The `errorType` and message of every variant but `Handler`, whose are the handler's.
    fn describe(&self) -> Option<(&'static str, String)> {
        Some(match self {
            Self::Handler(_) => return None,
            Self::AlreadyInProgress { key } => (
                "IdempotencyAlreadyInProgress",
                format!(
                    "another invocation is handling the same event (idempotency key `{key}`); retry later"
                ),
            ),
            Self::PayloadMismatch { key } => (
                "IdempotencyPayloadMismatch",
                format!(
                    "the event has the idempotency key `{key}` of an earlier event, but its validated part differs"
                ),
            ),
            Self::MissingKey { selector } => (
                "IdempotencyKeyMissing",
                format!("the event has no idempotency key at {selector}"),
            ),
            Self::Store(_) => (
                "IdempotencyStoreError",
                "the idempotency store failed".to_owned(),
            ),
            Self::Json(_) => (
                "IdempotencyJsonError",
                "an idempotency record cannot be written or read".to_owned(),
            ),
        })
    }
}

impl<E: fmt::Display> fmt::Display for IdempotencyError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self, self.describe()) {
            (Self::Handler(error), _) => error.fmt(f),
            (_, Some((_, message))) => f.write_str(&message),
            (_, None) => Ok(()),
        }
    }
}

impl<E: StdError + 'static> StdError for IdempotencyError<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Handler(error) => error.source(),
            Self::Store(error) => Some(error),
            Self::Json(error) => Some(error),
            Self::AlreadyInProgress { .. }
            | Self::PayloadMismatch { .. }
            | Self::MissingKey { .. } => None,
        }
    }
}

impl<E: Into<Diagnostic>> From<IdempotencyError<E>> for Diagnostic {
    fn from(error: IdempotencyError<E>) -> Self {
        match error {
            IdempotencyError::Handler(error) => error.into(),
            other => {
                // `describe` is `Some` for every variant but `Handler`.
                let (error_type, message) = other.describe().unwrap_or_default();
                let source: Option<&dyn StdError> = match &other {
                    IdempotencyError::Store(store) => Some(store),
                    IdempotencyError::Json(json) => Some(json),
                    _ => None,
                };
                Diagnostic::new(error_type, message).with_causes(source)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn hashes_do_not_depend_on_member_order() {
        let a = json!({"b": 1, "a": {"y": [1, {"q": 2, "p": 3}], "x": null}});
        let b = json!({"a": {"x": null, "y": [1, {"p": 3, "q": 2}]}, "b": 1});
        assert_eq!(hash(&a), hash(&b));
        assert_ne!(hash(&a), hash(&json!({"b": 2, "a": {}})));
        // SHA-256 of the compact JSON, members sorted: `{"a":1,"b":[2,{"c":3,"d":4}]}`.
        assert_eq!(
            hash(&json!({"b": [2, {"d": 4, "c": 3}], "a": 1})),
            "88c3cdf568e74603bc9ea42ed03f42ad6dcf46dbfbb56089d8a163f6b84a0c52"
        );
    }

    #[test]
    fn records_are_replaceable_once_expired_or_past_their_deadline() {
        let at = |seconds: u64, millis: u64| {
            UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_millis(millis)
        };
        let completed =
            Record::new("k", Status::Completed, 100).with_in_progress_expiration(50_000);
        assert!(!completed.is_replaceable(at(100, 999)));
        assert!(completed.is_replaceable(at(101, 0)));

        let running = Record::new("k", Status::InProgress, 100).with_in_progress_expiration(50_000);
        assert!(!running.is_replaceable(at(50, 0)));
        assert!(running.is_replaceable(at(50, 1)));

        let no_deadline = Record::new("k", Status::InProgress, 100);
        assert!(!no_deadline.is_replaceable(at(99, 0)));
    }

    #[test]
    fn run_is_send_when_the_store_and_the_handler_are() {
        fn send<T: Send>(_: T) {}
        let ctx = crate::testing::ContextBuilder::new().build();
        let idempotency = Idempotency::new(MemoryStore::new()).expires_after(Duration::MAX);
        send(idempotency.run(
            json!(1),
            &ctx,
            |event| async move { Ok::<_, Diagnostic>(event) },
        ));
    }

    #[tokio::test]
    async fn expiries_too_far_away_for_the_clock_never_come() {
        let ctx = crate::testing::ContextBuilder::new().build();
        let store = MemoryStore::new();
        let idempotency = Idempotency::new(store.clone()).expires_after(Duration::MAX);
        let event = json!({"order": 1});
        idempotency
            .run(event.clone(), &ctx, |event| async move {
                Ok::<_, Diagnostic>(event)
            })
            .await
            .unwrap();
        let key = idempotency.record_key(&event, &ctx).unwrap().unwrap();
        assert_eq!(store.get(&key).unwrap().expiration(), u64::MAX);
    }

    #[test]
    fn pointers_must_start_with_a_slash() {
        let error =
            std::panic::catch_unwind(|| Idempotency::new(MemoryStore::new()).key("order_id"))
                .unwrap_err();
        let message = error.downcast_ref::<String>().unwrap();
        assert!(message.contains("as in `/order_id`"), "{message}");
    }

    #[test]
    fn errors_become_diagnostics_with_their_own_error_types() {
        let in_progress: IdempotencyError<Diagnostic> =
            IdempotencyError::AlreadyInProgress { key: "f#1".into() };
        let diagnostic = Diagnostic::from(in_progress);
        assert_eq!(diagnostic.error_type(), "IdempotencyAlreadyInProgress");
        assert_eq!(
            diagnostic.error_message(),
            "another invocation is handling the same event (idempotency key `f#1`); retry later"
        );

        let handler: IdempotencyError<Diagnostic> =
            IdempotencyError::Handler(Diagnostic::new("OutOfStock", "no apples"));
        assert_eq!(
            Diagnostic::from(handler),
            Diagnostic::new("OutOfStock", "no apples")
        );

        let store: IdempotencyError<Diagnostic> = IdempotencyError::Store(StoreError::with_source(
            "cannot write the record",
            std::io::Error::other("connection reset"),
        ));
        let diagnostic = Diagnostic::from(store);
        assert_eq!(diagnostic.error_type(), "IdempotencyStoreError");
        assert_eq!(
            diagnostic.stack_trace(),
            [
                "caused by: cannot write the record",
                "caused by: connection reset"
            ]
        );
    }
}
