//! Deployed functions' traces, read from AWS X-Ray for `cargo lambdakit traces --remote`: the
//! traces of a time window (`GetTraceSummaries`, then each trace's segments with
//! `BatchGetTraces`, so that the list shows what the local one shows), and one trace by id.
//! Each segment document is read by [`super::xray::document`], the reader serve's daemon uses,
//! so a deployed trace and a local one come out in the same shape.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_xray::error::SdkError;
use aws_sdk_xray::primitives::DateTime;

use super::{Span, Summary, Trace, normalize_trace_id, xray_id};
use crate::aws::{self, Aws};
use crate::error::CliError;

/// How many trace ids `BatchGetTraces` takes in one call (AWS X-Ray API Reference).
const BATCH: usize = 5;

/// Which traces [`list`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The earliest start.
    pub start: SystemTime,
    /// The latest end.
    pub end: SystemTime,
    /// At most this many, the newest.
    pub limit: usize,
}

/// The traces X-Ray has of `window`, newest first, each summarised from its segments as
/// the local list does.
///
/// # Errors
///
/// A [`CliError::Aws`] when X-Ray refuses (a window longer than it takes, say).
pub async fn list(aws: &Aws, window: Window) -> Result<Vec<Summary>, CliError> {
    let mut ids = Vec::new();
    let mut next_token = None;
    loop {
        let asked = aws
            .xray
            .get_trace_summaries()
            .start_time(seconds(window.start, false))
            .end_time(seconds(window.end, true))
            .sampling(false)
            .set_next_token(next_token.take())
            .send()
            .await;
        let (page, next) = match asked {
            Ok(page) => (
                page.trace_summaries()
                    .iter()
                    .filter_map(|summary| summary.id().map(str::to_owned))
                    .collect(),
                page.next_token().map(str::to_owned),
            ),
            // A success the SDK cannot read (moto writes a summary's `Users` as an object,
            // where X-Ray writes a list): only the ids are needed, and they are there.
            Err(SdkError::ServiceError(service)) if service.raw().status().is_success() => {
                let body = service.raw().body().bytes().unwrap_or_default();
                match summary_ids(body) {
                    Some(read) => read,
                    None => {
                        return Err(aws::failed(
                            "xray:GetTraceSummaries",
                            SdkError::ServiceError(service),
                        ));
                    }
                }
            }
            Err(error) => return Err(aws::failed("xray:GetTraceSummaries", error)),
        };
        ids.extend::<Vec<String>>(page);
        match next {
            Some(token) if !token.is_empty() => next_token = Some(token),
            _ => break,
        }
    }
    // An X-Ray id starts with its epoch seconds: the newest are the greatest.
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids.dedup();
    ids.truncate(window.limit);
    let mut summaries: Vec<Summary> = traces(aws, &ids)
        .await?
        .into_values()
        .map(|trace| trace.summary)
        .collect();
    summaries.sort_by(|a, b| b.start_time.total_cmp(&a.start_time));
    Ok(summaries)
}

/// The trace ids and the next page's token of a `GetTraceSummaries` answer read as JSON.
fn summary_ids(body: &[u8]) -> Option<(Vec<String>, Option<String>)> {
    let answer: serde_json::Value = serde_json::from_slice(body).ok()?;
    let ids = answer["TraceSummaries"]
        .as_array()?
        .iter()
        .filter_map(|summary| summary["Id"].as_str().map(str::to_owned))
        .collect();
    Some((ids, answer["NextToken"].as_str().map(str::to_owned)))
}

/// The trace `id` (X-Ray's form or 32 hex digits).
///
/// # Errors
///
/// [`CliError::Config`] for an id of the wrong shape, [`CliError::Absent`] when X-Ray has no
/// such trace, a [`CliError::Aws`] when X-Ray refuses.
pub async fn get(aws: &Aws, id: &str) -> Result<Trace, CliError> {
    let hex = normalize_trace_id(id).ok_or_else(|| CliError::Config {
        key: "ID".into(),
        problem: format!(
            "is `{id}`; a trace id is X-Ray's `1-{{8 hex}}-{{24 hex}}` or 32 hex digits"
        ),
    })?;
    let xray = xray_id(&hex);
    traces(aws, std::slice::from_ref(&xray))
        .await?
        .remove(&hex)
        .ok_or_else(|| CliError::Absent {
            problem: format!("X-Ray has no trace `{xray}` in `{}`", aws.region),
            hint: "`cargo lambdakit traces --remote` lists the recent ones (`--since` for more); \
                   X-Ray shows a trace a few seconds after it ends and keeps it 30 days; check \
                   the region (`--region`, `AWS_REGION`)"
                .into(),
        })
}

/// The traces `ids` (X-Ray's form) that X-Ray has, by their 32 hex digits.
async fn traces(aws: &Aws, ids: &[String]) -> Result<HashMap<String, Trace>, CliError> {
    let mut spans: HashMap<String, Vec<Span>> = HashMap::new();
    for batch in ids.chunks(BATCH) {
        let mut pages = aws
            .xray
            .batch_get_traces()
            .set_trace_ids(Some(batch.to_vec()))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| aws::failed("xray:BatchGetTraces", error))?;
            for trace in page.traces() {
                for segment in trace.segments() {
                    let Some(text) = segment.document() else {
                        continue;
                    };
                    // One unreadable document (from another tracer, say) leaves the rest shown.
                    match document(text) {
                        Ok(read) => read.into_iter().for_each(|span| {
                            keep(spans.entry(span.trace_id.clone()).or_default(), span);
                        }),
                        Err(problem) => eprintln!(
                            "warning: a segment document of trace `{}` is skipped: {problem}",
                            trace.id().unwrap_or("?")
                        ),
                    }
                }
            }
        }
    }
    Ok(spans
        .into_iter()
        .map(|(id, spans)| {
            let trace = Trace::of(&id, spans);
            (id, trace)
        })
        .collect())
}

/// The spans of one segment document as `BatchGetTraces` gives it (JSON text).
fn document(text: &str) -> Result<Vec<Span>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|error| format!("it is not JSON: {error}"))?;
    super::xray::document(&value)
}

/// Adds `span` to `spans`, or replaces the span of its id sent earlier in progress (X-Ray may
/// hold both documents a while).
fn keep(spans: &mut Vec<Span>, span: Span) {
    match spans.iter_mut().find(|kept| kept.span_id == span.span_id) {
        Some(kept) if kept.end_time.is_none() || span.end_time.is_some() => *kept = span,
        Some(_) => {}
        None => spans.push(span),
    }
}

/// `time` in whole seconds, as X-Ray's time range takes it, rounded `up` or down so that the
/// window holds all of `time`'s second.
fn seconds(time: SystemTime, up: bool) -> DateTime {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let whole = since.as_secs() + u64::from(up && since.subsec_nanos() > 0);
    DateTime::from_secs(i64::try_from(whole).unwrap_or(i64::MAX))
}

/// The window from `start` to now.
pub fn window(start_ms: i64, limit: usize) -> Window {
    let start = UNIX_EPOCH + Duration::from_millis(u64::try_from(start_ms).unwrap_or_default());
    Window {
        start,
        end: SystemTime::now(),
        limit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spans::{Kind, Source};

    fn span(id: &str, end: Option<f64>) -> Span {
        Span {
            trace_id: "5759e988bd862e3fe1be46a994272793".into(),
            span_id: id.into(),
            parent_id: None,
            name: id.into(),
            source: Source::Xray,
            kind: Kind::Server,
            start_time: 1.0,
            end_time: end,
            request_id: None,
            error: None,
            origin: None,
            attributes: Default::default(),
        }
    }

    #[test]
    fn a_complete_span_replaces_its_in_progress_one_and_not_the_other_way() {
        let mut spans = Vec::new();
        keep(&mut spans, span("a", None));
        keep(&mut spans, span("a", Some(2.0)));
        keep(&mut spans, span("a", None));
        keep(&mut spans, span("b", None));
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].end_time, Some(2.0));
    }

    #[test]
    fn summary_ids_are_read_from_an_answer_the_sdk_cannot_read() {
        let body = br#"{"TraceSummaries": [{"Id": "1-5759e988-bd862e3fe1be46a994272793", "Users": {}}], "NextToken": "n"}"#;
        assert_eq!(
            summary_ids(body),
            Some((
                vec!["1-5759e988-bd862e3fe1be46a994272793".to_owned()],
                Some("n".to_owned())
            ))
        );
        assert_eq!(summary_ids(b"{}"), None);
    }

    #[test]
    fn the_window_holds_its_edges_seconds() {
        let at = UNIX_EPOCH + Duration::from_millis(100_250);
        assert_eq!(seconds(at, false), DateTime::from_secs(100));
        assert_eq!(seconds(at, true), DateTime::from_secs(101));
        let whole = UNIX_EPOCH + Duration::from_secs(100);
        assert_eq!(seconds(whole, true), DateTime::from_secs(100));
    }

    #[test]
    fn unreadable_documents_say_why() {
        assert!(document("{").unwrap_err().contains("not JSON"));
        assert!(
            document("{\"id\": \"x\"}")
                .unwrap_err()
                .contains("lacks `trace_id`")
        );
    }
}
