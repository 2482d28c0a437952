//! A Lambda extension: subscribes to its function's log lines and platform events, and writes
//! each batch's log lines and invocation reports to S3 (`TELEMETRY_BUCKET`), one object per
//! batch. Shipped as a layer (`extensions/telemetry-shipper`), it runs beside any function.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use lambda_kit::extension::telemetry::{Event, Stream};
use lambda_kit::extension::{Extension, Subscription};
use lambda_kit::{Config, Diagnostic};

/// Where the batches go, and how many have gone.
struct Shipper {
    s3: aws_sdk_s3::Client,
    bucket: String,
    function: String,
    shipped: Cell<u64>,
}

impl Shipper {
    /// Writes the kept part of `batch` as one object; a failure is logged and the batch lost,
    /// so that a missing bucket does not hold the function up.
    async fn ship(&self, batch: Vec<Event>) {
        let (Some(lines), Some(time)) = (
            telemetry_shipper::lines(&batch),
            telemetry_shipper::first_time(&batch),
        ) else {
            return;
        };
        let sequence = self.shipped.get() + 1;
        let key = telemetry_shipper::key(&self.function, time, sequence);
        let put = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/x-ndjson")
            .body(lines.into_bytes().into())
            .send()
            .await;
        match put {
            Ok(_) => self.shipped.set(sequence),
            Err(error) => eprintln!(
                "telemetry-shipper: could not write s3://{}/{key}: {}",
                self.bucket,
                aws_sdk_s3::error::DisplayErrorContext(&error)
            ),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_kit::Error> {
    let config = Config::from_env()?;
    #[allow(clippy::disallowed_methods)] // The extension's one setting, read once here.
    let bucket = std::env::var("TELEMETRY_BUCKET").unwrap_or_default();
    let sdk = lambda_kit::aws::config().await;
    // With a custom endpoint (`AWS_ENDPOINT_URL`, as for a local S3 such as moto), bucket names
    // cannot be host names (`telemetry.127.0.0.1`): address buckets in the path.
    let s3 = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    let shipper = Rc::new(Shipper {
        s3: aws_sdk_s3::Client::from_conf(s3),
        bucket,
        function: config.function_name().to_owned(),
        shipped: Cell::new(0),
    });
    let on_batch = Rc::clone(&shipper);
    let on_shutdown = Rc::clone(&shipper);
    let configured = !shipper.bucket.is_empty();
    Extension::new("telemetry-shipper")
        .on_init(move |_registered| async move {
            if configured {
                Ok(())
            } else {
                Err(Diagnostic::new(
                    "Extension.ConfigError",
                    "TELEMETRY_BUCKET is not set: name the bucket the telemetry goes to \
                         in the function's environment",
                ))
            }
        })
        .telemetry(
            Subscription::new([Stream::Platform, Stream::Function])
                .timeout(Duration::from_millis(100)),
            move |batch| {
                let shipper = Rc::clone(&on_batch);
                async move { shipper.ship(batch).await }
            },
        )
        .on_shutdown(move |shutdown| async move {
            eprintln!(
                "telemetry-shipper: shipped {} batches; shutting down ({:?})",
                on_shutdown.shipped.get(),
                shutdown.reason()
            );
        })
        .serve(config)
        .await
}
