//! Streams a report through a function URL in `RESPONSE_STREAM` mode: the status and headers
//! reach the browser at once, then one line per region as each is computed, instead of the
//! whole report after the slowest region.
#![deny(warnings)]

use std::time::Duration;

use lambda_kit::http::HttpEvent;
use lambda_kit::streaming::StreamResponse;
use lambda_kit::{Context, Diagnostic};

const REGIONS: [&str; 3] = ["eu-west-1", "us-east-1", "ap-southeast-2"];

/// Stands for a slow query: the sales of one region.
async fn sales(region: &str) -> Result<u64, Diagnostic> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    if region == "nowhere" {
        return Err(Diagnostic::new(
            "UnknownRegion",
            "there is no region `nowhere`",
        ));
    }
    Ok(region.len() as u64 * 1000)
}

#[lambda_kit::handler]
async fn report(event: HttpEvent, _ctx: Context) -> Result<StreamResponse, Diagnostic> {
    // `?also=REGION` adds a region, to show what a failure mid-stream looks like.
    let also = event
        .request()
        .uri()
        .query()
        .and_then(|query| query.strip_prefix("also="))
        .map(str::to_owned);
    tracing::info!(also = also.as_deref(), "reporting");
    let body = StreamResponse::from_writer(move |mut body| async move {
        body.write("region,sales\n").await;
        let regions = REGIONS.iter().copied().chain(also.as_deref());
        for region in regions {
            let sales = sales(region).await?;
            body.write(format!("{region},{sales}\n")).await;
        }
        Ok::<_, Diagnostic>(())
    });
    let response = http::Response::builder()
        .header("content-type", "text/csv")
        .header("set-cookie", "report=seen")
        .body(body)
        .map_err(|error| Diagnostic::from_error(&error))?;
    Ok(StreamResponse::from(response))
}
