//! A bucket's event notifications to a function (AWS "Amazon S3 Event Notifications"), played
//! by watching the bucket: its keys under the trigger's prefix are listed (ListObjectsV2) when
//! serve starts and every [`POLL`] after, and each object created or changed since (a new key,
//! or a new ETag) is an `ObjectCreated:Put`, each key gone an `ObjectRemoved:Delete`, when
//! the trigger's `events` take it and its key has the trigger's suffix. S3 invokes a function
//! asynchronously, with one record an event, and so does this.
//!
//! What a listing cannot see is not played: an object written twice between two listings is
//! one event, a copy or multipart upload is a `Put` too, and objects there before serve
//! started fire nothing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error;

use super::{Outage, Setting};
use crate::aws::{self, Aws};
use crate::deploy::settings::S3Trigger;
use crate::emulator::{Emulator, Trigger};
use crate::error::CliError;
use crate::events::{S3Notice, s3_record};

/// How often the bucket is listed.
const POLL: Duration = Duration::from_secs(2);

/// Objects by key, each with its ETag (without quotes) and size.
type Objects = BTreeMap<String, (String, u64)>;

/// A bucket found, the objects seen in it, and what its trigger asks for.
#[derive(Debug)]
pub(super) struct Bucket {
    function: String,
    pub(super) name: String,
    prefix: String,
    suffix: String,
    events: Vec<String>,
    region: String,
    /// The notification's id, as deploy names it.
    configuration_id: String,
    at: Setting,
    /// Each key seen under the prefix, with its ETag and size.
    seen: Objects,
    /// The last event's sequencer.
    sequencer: AtomicU64,
}

impl Bucket {
    /// The bucket `trigger` of `at`'s function watches, with what it holds now.
    ///
    /// # Errors
    ///
    /// [`CliError::Conflict`] naming the setting when the bucket does not exist; S3's error
    /// when it cannot be listed.
    pub(super) async fn open(
        aws: &Aws,
        at: &Setting,
        index: usize,
        trigger: &S3Trigger,
    ) -> Result<Self, CliError> {
        let mut bucket = Self {
            function: at.function.clone(),
            name: trigger.bucket.clone(),
            prefix: trigger.prefix.clone().unwrap_or_default(),
            suffix: trigger.suffix.clone().unwrap_or_default(),
            events: trigger.events.clone(),
            region: aws.region.clone(),
            configuration_id: crate::deploy::notification_id(&at.function, index),
            at: at.clone(),
            seen: BTreeMap::new(),
            sequencer: AtomicU64::new(0),
        };
        bucket.seen = match bucket.list(&aws.s3).await {
            Ok(seen) => seen,
            Err(error) if aws::code(&error) == Some("NoSuchBucket") => {
                return Err(at.missing(
                    &format!("the S3 bucket `{}`", bucket.name),
                    Some(&format!("aws s3api create-bucket --bucket {}", bucket.name)),
                ));
            }
            Err(error) => return Err(aws::failed("s3:ListObjectsV2", error)),
        };
        Ok(bucket)
    }

    /// Lists the bucket every [`POLL`] and invokes the function with what changed, until
    /// stopped.
    pub(super) async fn watch(mut self, emulator: Arc<Emulator>, s3: aws_sdk_s3::Client) {
        let mut outage = Outage::default();
        let source = format!("the S3 bucket `{}`", self.name);
        loop {
            tokio::time::sleep(POLL).await;
            let now = match self.list(&s3).await {
                Ok(now) => {
                    outage.over(&source);
                    now
                }
                Err(error) => {
                    let error = aws_sdk_s3::error::DisplayErrorContext(&error);
                    outage.failed("list", &source, &self.at, &error);
                    continue;
                }
            };
            for change in changes(&self.seen, &now) {
                self.fire(&emulator, change);
            }
            self.seen = now;
        }
    }

    /// The bucket's objects under the prefix: each key with its ETag (without quotes) and
    /// size.
    async fn list(&self, s3: &aws_sdk_s3::Client) -> Result<Objects, SdkError<ListObjectsV2Error>> {
        let mut objects = BTreeMap::new();
        let mut token = None;
        loop {
            let page = s3
                .list_objects_v2()
                .bucket(&self.name)
                .prefix(&self.prefix)
                .set_continuation_token(token)
                .send()
                .await?;
            for object in page.contents() {
                let etag = object.e_tag().unwrap_or_default().trim_matches('"');
                let size = object.size().unwrap_or_default().max(0) as u64;
                objects.insert(
                    object.key().unwrap_or_default().to_owned(),
                    (etag.to_owned(), size),
                );
            }
            token = page.next_continuation_token().map(str::to_owned);
            if token.is_none() {
                return Ok(objects);
            }
        }
    }

    /// Invokes the function with the event of `change`, when the trigger takes it.
    fn fire(&self, emulator: &Arc<Emulator>, change: Change<'_>) {
        let Change {
            event_name,
            key,
            object,
        } = change;
        if !key.ends_with(&self.suffix) || !takes(&self.events, event_name) {
            return;
        }
        let sequencer = self.sequencer.fetch_add(1, Ordering::Relaxed) + 1;
        let event = serde_json::json!({"Records": [s3_record(&S3Notice {
            event_name,
            time: &crate::time::rfc3339(SystemTime::now()),
            region: &self.region,
            bucket: &self.name,
            key,
            object,
            sequencer: &format!("{sequencer:016X}"),
            configuration_id: &self.configuration_id,
        })]});
        let what = format!("s3://{}/{key} ({event_name})", self.name);
        super::fire(
            emulator,
            (&what, Trigger::S3),
            &self.function,
            &self.at,
            &event,
        );
    }
}

/// An event a listing shows.
#[derive(Debug, PartialEq)]
struct Change<'a> {
    /// `ObjectCreated:Put` or `ObjectRemoved:Delete`.
    event_name: &'static str,
    key: &'a str,
    /// A created object's size and ETag.
    object: Option<(u64, &'a str)>,
}

/// What happened between the listings `before` and `now`: each object created or changed
/// (`ObjectCreated:Put`), then each removed (`ObjectRemoved:Delete`).
fn changes<'a>(before: &'a Objects, now: &'a Objects) -> Vec<Change<'a>> {
    let created = now
        .iter()
        .filter(|(key, (etag, _))| before.get(*key).is_none_or(|(was, _)| was != etag))
        .map(|(key, (etag, size))| Change {
            event_name: "ObjectCreated:Put",
            key,
            object: Some((*size, etag)),
        });
    let removed = before
        .keys()
        .filter(|key| !now.contains_key(*key))
        .map(|key| Change {
            event_name: "ObjectRemoved:Delete",
            key,
            object: None,
        });
    created.chain(removed).collect()
}

/// Whether a notification of the S3 event types `events` (`s3:ObjectCreated:*`,
/// `s3:ObjectRemoved:Delete`, ..) takes the event `name` (`ObjectCreated:Put`).
fn takes(events: &[String], name: &str) -> bool {
    events.iter().any(|event| {
        let event = event.strip_prefix("s3:").unwrap_or(event);
        match event.strip_suffix('*') {
            Some(family) => name.starts_with(family),
            None => event == name,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_and_changed_objects_are_puts_and_gone_ones_deletes() {
        let objects = |list: &[(&str, &str)]| -> Objects {
            list.iter()
                .map(|(key, etag)| ((*key).to_owned(), ((*etag).to_owned(), 1)))
                .collect()
        };
        let before = objects(&[("a", "1"), ("b", "1"), ("c", "1")]);
        let now = objects(&[("a", "1"), ("b", "2"), ("d", "1")]);
        let happened: Vec<(&str, &str)> = changes(&before, &now)
            .into_iter()
            .map(|change| (change.event_name, change.key))
            .collect();
        assert_eq!(
            happened,
            [
                ("ObjectCreated:Put", "b"),
                ("ObjectCreated:Put", "d"),
                ("ObjectRemoved:Delete", "c"),
            ]
        );
    }

    #[test]
    fn event_types_take_their_events_and_wildcards_their_families() {
        let events = |events: &[&str]| -> Vec<String> {
            events.iter().map(|event| (*event).to_owned()).collect()
        };
        let created = events(&["s3:ObjectCreated:*"]);
        assert!(takes(&created, "ObjectCreated:Put"));
        assert!(!takes(&created, "ObjectRemoved:Delete"));
        let both = events(&["s3:ObjectCreated:Put", "s3:ObjectRemoved:Delete"]);
        assert!(takes(&both, "ObjectCreated:Put"));
        assert!(takes(&both, "ObjectRemoved:Delete"));
        assert!(!takes(
            &events(&["s3:ObjectCreated:Copy"]),
            "ObjectCreated:Put"
        ));
        assert!(takes(
            &events(&["s3:ObjectRemoved:*"]),
            "ObjectRemoved:Delete"
        ));
    }
}
