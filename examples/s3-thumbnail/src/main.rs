//! Makes a thumbnail of every image uploaded to a bucket.
//!
//! An S3 `ObjectCreated` notification invokes the function with the new object's bucket, key
//! and size. For each object it
//!
//! 1. downloads it and decodes it as a PNG or JPEG image,
//! 2. scales it down to fit within 128×128 pixels, keeping its aspect ratio, and writes that
//!    as a PNG to the thumbnail bucket, under the same key with `.thumbnail.png` appended,
//! 3. stores the sizes, dimensions and keys as an item of a DynamoDB table, keyed by the
//!    uploaded object's key, and
//! 4. publishes what it did to an SNS topic.
//!
//! Objects that can never become a thumbnail (larger than `MAX_IMAGE_BYTES`, or not an image
//! of a format it decodes) are *rejected*: the table gets an item with `status = "rejected"`
//! and the reason, the topic a `rejected` message, and the invocation succeeds. Retrying them
//! would fail the same way each time, and failing the invocation would only delay the report.
//! Everything else that goes wrong (S3, DynamoDB or SNS unavailable or refusing) fails the
//! invocation with an `errorType` naming the step, so that Lambda retries the asynchronous
//! invocation and, after its retries, hands the event to the function's on-failure
//! destination: no upload is lost either way.

use std::io::Cursor;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::primitives::ByteStream;
use image::{DynamicImage, ImageError, ImageFormat, ImageReader, Limits};
use lambda_kit::aws::SdkConfig;
use lambda_kit::events::s3::{S3Event, S3EventRecord};
use lambda_kit::{Config, Context, Diagnostic};
use serde::Serialize;

/// Thumbnails fit within a square of this many pixels a side.
const THUMBNAIL_SIZE: u32 = 128;

/// Images wider or taller than this are rejected before they are decoded: a small compressed
/// file can hold a huge image, which would not fit in the function's memory.
const MAX_DIMENSION: u32 = 10_000;

/// The most memory decoding may take, well within the function's 512 MB: a 10 000 × 10 000
/// RGBA image alone would take 400 MB.
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;

/// Where the pipeline writes, from the function's environment (see `Cargo.toml`).
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    thumbnail_bucket: String,
    table: String,
    topic_arn: String,
    max_image_bytes: u64,
}

impl Settings {
    /// Reads the settings with `lookup`, which gives an environment variable's value.
    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Diagnostic> {
        let required = |name: &str| {
            lookup(name)
                .filter(|value| !value.is_empty())
                .ok_or_else(|| {
                    Diagnostic::new("MissingSetting", format!("set the variable `{name}`"))
                })
        };
        let max_image_bytes = required("MAX_IMAGE_BYTES")?;
        let max_image_bytes = max_image_bytes.parse().map_err(|_| {
            Diagnostic::new(
                "InvalidSetting",
                format!("`MAX_IMAGE_BYTES` must be a number of bytes, not `{max_image_bytes}`"),
            )
        })?;
        Ok(Self {
            thumbnail_bucket: required("THUMBNAIL_BUCKET")?,
            table: required("IMAGES_TABLE")?,
            topic_arn: required("TOPIC_ARN")?,
            max_image_bytes,
        })
    }
}

/// The clients and settings, built once per cold start.
#[derive(Debug)]
struct Pipeline {
    s3: aws_sdk_s3::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    sns: aws_sdk_sns::Client,
    settings: Settings,
}

impl Pipeline {
    fn new(config: &SdkConfig, settings: Settings) -> Self {
        // With a custom endpoint (`AWS_ENDPOINT_URL`, as for a local S3 such as moto), bucket
        // names cannot be host names (`uploads.127.0.0.1`): address buckets in the path.
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Self {
            s3: aws_sdk_s3::Client::from_conf(s3),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            settings,
        }
    }
}

async fn setup(_config: Config) -> Result<Pipeline, Diagnostic> {
    #[allow(clippy::disallowed_methods)] // The pipeline's own settings, read once here.
    let settings = Settings::from_lookup(|name| std::env::var(name).ok())?;
    // Region, the execution role's credentials and endpoints from Lambda's environment, and an
    // HTTPS client trusting Amazon's root CAs: a tenth of the usual set-up's cold start.
    let config = lambda_kit::aws::config().await;
    Ok(Pipeline::new(&config, settings))
}

/// What became of one uploaded object: the function's answer, one per record, and the SNS
/// message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum Outcome {
    /// The thumbnail was written.
    Ready {
        bucket: String,
        key: String,
        size: u64,
        width: u32,
        height: u32,
        thumbnail_bucket: String,
        thumbnail_key: String,
        thumbnail_width: u32,
        thumbnail_height: u32,
    },
    /// The object cannot become a thumbnail.
    Rejected {
        bucket: String,
        key: String,
        size: u64,
        reason: Rejection,
        message: String,
    },
}

/// Why an object cannot become a thumbnail, whatever the number of tries.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
enum Rejection {
    /// More bytes than `MAX_IMAGE_BYTES`, more pixels than [`MAX_DIMENSION`] a side, or
    /// more memory to decode than [`MAX_DECODE_BYTES`].
    TooLarge,
    /// Not a PNG or JPEG image, or a damaged one.
    NotAnImage,
}

/// An uploaded object, as its notification names it.
#[derive(Debug, Clone, PartialEq)]
struct Upload {
    bucket: String,
    key: String,
    size: u64,
}

impl Upload {
    fn from_record(record: &S3EventRecord) -> Result<Self, Diagnostic> {
        let object = &record.s3.object;
        let (Some(bucket), Some(key)) = (&record.s3.bucket.name, &object.key) else {
            return Err(Diagnostic::new(
                "MalformedEvent",
                "an S3 record without a bucket name or object key",
            ));
        };
        Ok(Self {
            bucket: bucket.clone(),
            key: decode_key(key)?,
            size: object
                .size
                .and_then(|size| u64::try_from(size).ok())
                .unwrap_or(0),
        })
    }

    fn reject(self, reason: Rejection, message: String) -> Outcome {
        Outcome::Rejected {
            bucket: self.bucket,
            key: self.key,
            size: self.size,
            reason,
            message,
        }
    }
}

/// S3 notifications carry the key URL-encoded as in a form: `+` for a space, `%XX` for other
/// bytes (`images/my cat.png` arrives as `images/my+cat.png`).
fn decode_key(encoded: &str) -> Result<String, Diagnostic> {
    let malformed = || {
        Diagnostic::new(
            "MalformedEvent",
            format!("the object key `{encoded}` is not URL-encoded UTF-8"),
        )
    };
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut rest = encoded.bytes();
    while let Some(byte) = rest.next() {
        bytes.push(match byte {
            b'+' => b' ',
            b'%' => {
                let high = rest.next().and_then(|digit| char::from(digit).to_digit(16));
                let low = rest.next().and_then(|digit| char::from(digit).to_digit(16));
                let (Some(high), Some(low)) = (high, low) else {
                    return Err(malformed());
                };
                u8::try_from(high * 16 + low).map_err(|_| malformed())?
            }
            other => other,
        });
    }
    String::from_utf8(bytes).map_err(|_| malformed())
}

/// A thumbnail, encoded, with the dimensions of its source.
#[derive(Debug)]
struct Thumbnail {
    png: Vec<u8>,
    width: u32,
    height: u32,
    source_width: u32,
    source_height: u32,
}

/// Decodes `bytes` as a PNG or JPEG image and scales it down to fit within
/// [`THUMBNAIL_SIZE`]² (smaller images keep their size).
fn make_thumbnail(bytes: &[u8]) -> Result<Result<Thumbnail, (Rejection, String)>, Diagnostic> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|error| Diagnostic::new("DecodeFailed", error.to_string()))?;
    match reader.format() {
        Some(ImageFormat::Png | ImageFormat::Jpeg) => {}
        Some(other) => {
            return Ok(Err((
                Rejection::NotAnImage,
                format!("{other:?} images are not supported, only PNG and JPEG"),
            )));
        }
        None => {
            return Ok(Err((
                Rejection::NotAnImage,
                "not a PNG or JPEG image".to_owned(),
            )));
        }
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    let mut reader = reader;
    reader.limits(limits);
    let image = match reader.decode() {
        Ok(image) => image,
        Err(ImageError::Limits(error)) => {
            return Ok(Err((
                Rejection::TooLarge,
                format!("too large to decode: {error}"),
            )));
        }
        Err(error) => return Ok(Err((Rejection::NotAnImage, error.to_string()))),
    };
    let (source_width, source_height) = (image.width(), image.height());
    let thumbnail = if source_width <= THUMBNAIL_SIZE && source_height <= THUMBNAIL_SIZE {
        image
    } else {
        image.thumbnail(THUMBNAIL_SIZE, THUMBNAIL_SIZE)
    };
    // PNG has no 16-bit-float or CMYK colour types: 8 bits a channel encode everywhere.
    let thumbnail = DynamicImage::ImageRgba8(thumbnail.to_rgba8());
    let mut png = Vec::new();
    thumbnail
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .map_err(|error| Diagnostic::new("EncodeFailed", error.to_string()))?;
    Ok(Ok(Thumbnail {
        png,
        width: thumbnail.width(),
        height: thumbnail.height(),
        source_width,
        source_height,
    }))
}

/// Where the thumbnail of `key` is written.
fn thumbnail_key(key: &str) -> String {
    format!("{key}.thumbnail.png")
}

/// An AWS SDK error with its causes, as the `errorMessage` of a failed step.
fn failed(error_type: &'static str, step: &str, error: &dyn std::error::Error) -> Diagnostic {
    let mut message = format!("{step}: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    Diagnostic::new(error_type, message)
}

impl Pipeline {
    /// Makes the thumbnail of one uploaded object, or rejects it; either way it is recorded
    /// and announced.
    async fn handle(&self, upload: Upload) -> Result<Outcome, Diagnostic> {
        let settings = &self.settings;
        let outcome = if upload.size > settings.max_image_bytes {
            let message = format!(
                "{} bytes, more than the limit of {}",
                upload.size, settings.max_image_bytes
            );
            upload.reject(Rejection::TooLarge, message)
        } else {
            self.thumbnail(upload).await?
        };
        self.record(&outcome).await?;
        self.announce(&outcome).await?;
        Ok(outcome)
    }

    async fn thumbnail(&self, upload: Upload) -> Result<Outcome, Diagnostic> {
        let settings = &self.settings;
        let object = self
            .s3
            .get_object()
            .bucket(&upload.bucket)
            .key(&upload.key)
            .send()
            .await
            .map_err(|error| {
                let step = format!("downloading s3://{}/{}", upload.bucket, upload.key);
                failed("DownloadFailed", &step, &error)
            })?;
        // The object may have been replaced by a larger one since the notification was sent.
        let size = object
            .content_length()
            .and_then(|size| u64::try_from(size).ok())
            .unwrap_or(upload.size);
        if size > settings.max_image_bytes {
            let message = format!(
                "{size} bytes, more than the limit of {}",
                settings.max_image_bytes
            );
            return Ok(Upload { size, ..upload }.reject(Rejection::TooLarge, message));
        }
        let bytes = object.body.collect().await.map_err(|error| {
            let step = format!("downloading s3://{}/{}", upload.bucket, upload.key);
            failed("DownloadFailed", &step, &error)
        })?;
        let thumbnail = match make_thumbnail(&bytes.into_bytes())? {
            Ok(thumbnail) => thumbnail,
            Err((reason, message)) => return Ok(upload.reject(reason, message)),
        };
        let key = thumbnail_key(&upload.key);
        self.s3
            .put_object()
            .bucket(&settings.thumbnail_bucket)
            .key(&key)
            .content_type("image/png")
            .body(ByteStream::from(thumbnail.png))
            .send()
            .await
            .map_err(|error| {
                let step = format!("writing s3://{}/{key}", settings.thumbnail_bucket);
                failed("UploadFailed", &step, &error)
            })?;
        tracing::info!(key = %upload.key, thumbnail = %key, "thumbnail written");
        Ok(Outcome::Ready {
            bucket: upload.bucket,
            key: upload.key,
            size,
            width: thumbnail.source_width,
            height: thumbnail.source_height,
            thumbnail_bucket: settings.thumbnail_bucket.clone(),
            thumbnail_key: key,
            thumbnail_width: thumbnail.width,
            thumbnail_height: thumbnail.height,
        })
    }

    /// Stores `outcome` as the item of its object's key, replacing an earlier one: the
    /// newest upload of a key wins.
    async fn record(&self, outcome: &Outcome) -> Result<(), Diagnostic> {
        let item = item(outcome);
        self.dynamodb
            .put_item()
            .table_name(&self.settings.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|error| {
                let step = format!("writing to the table `{}`", self.settings.table);
                failed("MetadataWriteFailed", &step, &error)
            })?;
        Ok(())
    }

    /// Publishes `outcome` as JSON, with its status as a message attribute so that
    /// subscribers can filter on it.
    async fn announce(&self, outcome: &Outcome) -> Result<(), Diagnostic> {
        let status = match outcome {
            Outcome::Ready { .. } => "ready",
            Outcome::Rejected { .. } => "rejected",
        };
        let message = serde_json::to_string(outcome)
            .map_err(|error| Diagnostic::new("NotifyFailed", error.to_string()))?;
        let attribute = aws_sdk_sns::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(status)
            .build()
            .map_err(|error| Diagnostic::new("NotifyFailed", error.to_string()))?;
        self.sns
            .publish()
            .topic_arn(&self.settings.topic_arn)
            // Not the key: a subject must be short ASCII, and keys need not be.
            .subject(format!("Thumbnail {status}"))
            .message(message)
            .message_attributes("status", attribute)
            .send()
            .await
            .map_err(|error| {
                let step = format!("publishing to `{}`", self.settings.topic_arn);
                failed("NotifyFailed", &step, &error)
            })?;
        Ok(())
    }
}

/// The DynamoDB item of an outcome: the table's partition key is the string `key`.
fn item(outcome: &Outcome) -> std::collections::HashMap<String, AttributeValue> {
    let text = |value: &str| AttributeValue::S(value.to_owned());
    let number = |value: u64| AttributeValue::N(value.to_string());
    let mut item = std::collections::HashMap::new();
    match outcome {
        Outcome::Ready {
            bucket,
            key,
            size,
            width,
            height,
            thumbnail_bucket,
            thumbnail_key,
            thumbnail_width,
            thumbnail_height,
        } => {
            item.insert("key".to_owned(), text(key));
            item.insert("status".to_owned(), text("ready"));
            item.insert("bucket".to_owned(), text(bucket));
            item.insert("size".to_owned(), number(*size));
            item.insert("width".to_owned(), number((*width).into()));
            item.insert("height".to_owned(), number((*height).into()));
            item.insert("thumbnail_bucket".to_owned(), text(thumbnail_bucket));
            item.insert("thumbnail_key".to_owned(), text(thumbnail_key));
            item.insert(
                "thumbnail_width".to_owned(),
                number((*thumbnail_width).into()),
            );
            item.insert(
                "thumbnail_height".to_owned(),
                number((*thumbnail_height).into()),
            );
        }
        Outcome::Rejected {
            bucket,
            key,
            size,
            reason,
            message,
        } => {
            item.insert("key".to_owned(), text(key));
            item.insert("status".to_owned(), text("rejected"));
            item.insert("bucket".to_owned(), text(bucket));
            item.insert("size".to_owned(), number(*size));
            item.insert("reason".to_owned(), text(&format!("{reason:?}")));
            item.insert("message".to_owned(), text(message));
        }
    }
    item
}

/// S3 sends one record per notification, but the event format allows several: each is
/// handled in turn, and the first transient failure fails the invocation (the retry redoes
/// the records before it, which rewrites the same thumbnail and item).
#[lambda_kit::handler(setup = setup)]
async fn thumbnails(
    event: S3Event,
    _ctx: Context,
    pipeline: &Pipeline,
) -> Result<Vec<Outcome>, Diagnostic> {
    let mut outcomes = Vec::with_capacity(event.records.len());
    for record in &event.records {
        let upload = Upload::from_record(record)?;
        outcomes.push(pipeline.handle(upload).await?);
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::config::retry::RetryConfig;
    use lambda_kit::testing::{FakeRuntimeApi, Invocation};
    use serde_json::json;

    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
        }));
        let mut png = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        png
    }

    #[test]
    fn keys_are_decoded_as_s3_encodes_them() {
        assert_eq!(
            decode_key("images/my+cat%2B%C3%A9.png").unwrap(),
            "images/my cat+é.png"
        );
        assert_eq!(
            decode_key("images/%ZZ").unwrap_err().error_type(),
            "MalformedEvent"
        );
        assert_eq!(
            decode_key("images/%FF").unwrap_err().error_type(),
            "MalformedEvent"
        );
    }

    #[test]
    fn thumbnails_keep_the_aspect_ratio() {
        let thumbnail = make_thumbnail(&png(640, 480)).unwrap().unwrap();
        assert_eq!(
            (thumbnail.source_width, thumbnail.source_height),
            (640, 480)
        );
        assert_eq!((thumbnail.width, thumbnail.height), (128, 96));
        let decoded =
            image::load_from_memory_with_format(&thumbnail.png, ImageFormat::Png).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (128, 96));

        let tall = make_thumbnail(&png(100, 400)).unwrap().unwrap();
        assert_eq!((tall.width, tall.height), (32, 128));
        let small = make_thumbnail(&png(20, 10)).unwrap().unwrap();
        assert_eq!((small.width, small.height), (20, 10));
    }

    #[test]
    fn what_is_not_an_image_is_rejected() {
        let (reason, message) = make_thumbnail(b"hello, world").unwrap().unwrap_err();
        assert_eq!(reason, Rejection::NotAnImage);
        assert_eq!(message, "not a PNG or JPEG image");
        // A PNG signature with nothing behind it.
        let mut damaged = png(64, 64);
        damaged.truncate(40);
        let (reason, _) = make_thumbnail(&damaged).unwrap().unwrap_err();
        assert_eq!(reason, Rejection::NotAnImage);
        let (reason, message) = make_thumbnail(&png(MAX_DIMENSION + 1, 1))
            .unwrap()
            .unwrap_err();
        assert_eq!(reason, Rejection::TooLarge, "{message}");
        // 9 000 × 9 000 RGBA: within the dimensions, but 324 MB decoded.
        let (reason, message) = make_thumbnail(&png_header_only(9_000, 9_000))
            .unwrap()
            .unwrap_err();
        assert_eq!(reason, Rejection::TooLarge, "{message}");
    }

    /// A PNG that claims `width`×`height` RGBA pixels, with no pixel data: enough for the
    /// decoder to check its limits before it reads any pixel.
    fn png_header_only(width: u32, height: u32) -> Vec<u8> {
        fn crc32(bytes: &[u8]) -> u32 {
            let mut crc = !0u32;
            for &byte in bytes {
                crc ^= u32::from(byte);
                for _ in 0..8 {
                    crc = if crc & 1 == 1 {
                        (crc >> 1) ^ 0xEDB8_8320
                    } else {
                        crc >> 1
                    };
                }
            }
            !crc
        }
        fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
            png.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
            let start = png.len();
            png.extend_from_slice(kind);
            png.extend_from_slice(data);
            let crc = crc32(&png[start..]);
            png.extend_from_slice(&crc.to_be_bytes());
        }
        let mut header = Vec::new();
        header.extend_from_slice(&width.to_be_bytes());
        header.extend_from_slice(&height.to_be_bytes());
        // 8 bits a channel, colour type 6 (RGBA).
        header.extend_from_slice(&[8, 6, 0, 0, 0]);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        chunk(&mut png, b"IHDR", &header);
        chunk(&mut png, b"IDAT", &[]);
        chunk(&mut png, b"IEND", &[]);
        png
    }

    #[test]
    fn settings_come_from_the_environment() {
        let vars = [
            ("THUMBNAIL_BUCKET", "thumbs"),
            ("IMAGES_TABLE", "images"),
            ("TOPIC_ARN", "arn:aws:sns:eu-west-1:123456789012:t"),
            ("MAX_IMAGE_BYTES", "1000"),
        ];
        let lookup = |name: &str| {
            vars.iter()
                .find(|(var, _)| *var == name)
                .map(|(_, value)| (*value).to_owned())
        };
        let settings = Settings::from_lookup(lookup).unwrap();
        assert_eq!(settings.max_image_bytes, 1000);
        assert_eq!(settings.thumbnail_bucket, "thumbs");
        let error =
            Settings::from_lookup(|name| (name != "IMAGES_TABLE").then(|| lookup(name)).flatten())
                .unwrap_err();
        assert_eq!(error.error_type(), "MissingSetting");
        assert!(error.error_message().contains("IMAGES_TABLE"));
        let error = Settings::from_lookup(|name| match name {
            "MAX_IMAGE_BYTES" => Some("10MB".to_owned()),
            _ => lookup(name),
        })
        .unwrap_err();
        assert_eq!(error.error_type(), "InvalidSetting");
    }

    #[test]
    fn outcomes_are_items_and_messages() {
        let rejected = Upload {
            bucket: "uploads".into(),
            key: "images/a.txt".into(),
            size: 5,
        }
        .reject(Rejection::NotAnImage, "not a PNG or JPEG image".into());
        assert_eq!(
            serde_json::to_value(&rejected).unwrap(),
            json!({"status": "rejected", "bucket": "uploads", "key": "images/a.txt", "size": 5,
                   "reason": "NotAnImage", "message": "not a PNG or JPEG image"})
        );
        let item = item(&rejected);
        assert_eq!(item["key"], AttributeValue::S("images/a.txt".into()));
        assert_eq!(item["reason"], AttributeValue::S("NotAnImage".into()));
        assert_eq!(item["size"], AttributeValue::N("5".into()));
    }

    /// The pipeline with AWS out of reach: nothing listens on port 1.
    async fn unreachable(_config: Config) -> Result<Pipeline, Diagnostic> {
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
        let settings = Settings {
            thumbnail_bucket: "thumbnails".into(),
            table: "images".into(),
            topic_arn: "arn:aws:sns:eu-west-1:123456789012:thumbnails".into(),
            max_image_bytes: 1000,
        };
        Ok(Pipeline::new(&config, settings))
    }

    fn put_event(key: &str, size: u64) -> serde_json::Value {
        json!({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1",
            "eventTime": "2026-11-23T15:00:00.000Z", "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810"},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "thumbnails",
                   "bucket": {"name": "uploads", "arn": "arn:aws:s3:::uploads"},
                   "object": {"key": key, "size": size, "sequencer": "0A1B2C3D4E5F678901"}}
        }]})
    }

    #[tokio::test]
    async fn failures_of_aws_fail_the_invocation_so_that_lambda_retries() {
        let mut without_key = put_event("images/cat.png", 500);
        without_key["Records"][0]["s3"]["object"]
            .as_object_mut()
            .unwrap()
            .remove("key");
        let api = FakeRuntimeApi::start().await.unwrap();
        let ids = [
            // Small enough to download: the download fails.
            api.push(Invocation::new(put_event("images/cat.png", 500))),
            // Too large to download: rejected, but the rejection cannot be recorded.
            api.push(Invocation::new(put_event("images/huge.png", 5000))),
            api.push(Invocation::new(without_key)),
        ];
        let runtime = lambda_kit::Runtime::new(api.config()).logging(false);
        let outcomes = api
            .outcomes_while(&ids, runtime.serve_with_state(unreachable, thumbnails))
            .await
            .unwrap();
        let download = outcomes[0].error();
        assert_eq!(download.error_type(), "DownloadFailed");
        assert!(
            download
                .error_message()
                .starts_with("downloading s3://uploads/images/cat.png: "),
            "{}",
            download.error_message()
        );
        assert_eq!(outcomes[1].error().error_type(), "MetadataWriteFailed");
        assert_eq!(outcomes[2].error().error_type(), "MalformedEvent");
    }
}
