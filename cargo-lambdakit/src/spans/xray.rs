//! X-Ray segment documents as spans: the one reader of AWS X-Ray's "Segment documents", for
//! what functions send serve's local daemon and what X-Ray's `BatchGetTraces` answers with
//! alike. A document is a segment, a subsegment sent on its own (`"type": "subsegment"`, with
//! its `trace_id` and `parent_id`), or either with subsegments nested in it; one sent
//! `in_progress` is replaced by the one of the same id sent later.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Kind, Source, Span};

/// The spans of one segment document: the document and every subsegment nested in it.
///
/// # Errors
///
/// What is wrong with it, naming the field: a missing `trace_id`, `id`, `name` or
/// `start_time`, an id of the wrong shape, neither `end_time` nor `in_progress`, a subsegment
/// sent on its own without its `parent_id`, nesting past 64 levels.
pub fn document(document: &Value) -> Result<Vec<Span>, String> {
    let trace_id = text_field(document, "trace_id")?;
    let trace_id = super::normalize_trace_id(&trace_id)
        .ok_or_else(|| format!("`trace_id` is `{trace_id}`; expected `1-{{8 hex}}-{{24 hex}}`"))?;
    let parent = document["parent_id"].as_str().map(str::to_owned);
    let independent = document["type"] == "subsegment";
    if independent && parent.is_none() {
        return Err("a subsegment sent on its own needs its `parent_id`".into());
    }
    let mut spans = Vec::new();
    let kind = if independent {
        Kind::Internal
    } else {
        Kind::Server
    };
    collect(document, &trace_id, parent, kind, &mut spans, 0)?;
    Ok(spans)
}

/// Nesting deeper than this is refused: a document is not a stack to exhaust.
const MAX_DEPTH: usize = 64;

/// `document` as a span under `parent`, then its subsegments under it.
fn collect(
    document: &Value,
    trace_id: &str,
    parent: Option<String>,
    kind: Kind,
    spans: &mut Vec<Span>,
    depth: usize,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("its subsegments nest deeper than {MAX_DEPTH}"));
    }
    let id = text_field(document, "id")?;
    if id.len() != 16 || !id.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(format!("`id` is `{id}`; expected 16 hex digits"));
    }
    let id = id.to_ascii_lowercase();
    let name = text_field(document, "name")?;
    let start_time = document["start_time"]
        .as_f64()
        .ok_or_else(|| format!("`{name}` lacks `start_time` (seconds since the epoch)"))?;
    let end_time = document["end_time"].as_f64();
    if end_time.is_none() && document["in_progress"] != true {
        return Err(format!(
            "`{name}` has neither `end_time` nor `\"in_progress\": true`"
        ));
    }
    let aws = &document["aws"];
    let mut attributes = BTreeMap::new();
    if let Some(annotations) = document["annotations"].as_object() {
        for (key, value) in annotations {
            attributes.insert(format!("annotation.{key}"), value.clone());
        }
    }
    if let Some(fields) = aws.as_object() {
        for (key, value) in fields {
            if !value.is_object() && !value.is_array() {
                attributes.insert(format!("aws.{key}"), value.clone());
            }
        }
    }
    if let Some(status) = document["http"]["response"]["status"].as_u64() {
        attributes.insert("http.response.status_code".into(), status.into());
    }
    let kind = match document["namespace"].as_str() {
        Some("aws" | "remote") => Kind::Client,
        _ => kind,
    };
    spans.push(Span {
        trace_id: trace_id.to_owned(),
        span_id: id.clone(),
        parent_id: parent,
        name,
        source: Source::Xray,
        kind,
        start_time,
        end_time,
        request_id: aws["request_id"].as_str().map(str::to_owned),
        error: failure(document),
        origin: document["origin"].as_str().map(str::to_owned),
        attributes,
    });
    if let Some(subsegments) = document["subsegments"].as_array() {
        for subsegment in subsegments {
            collect(
                subsegment,
                trace_id,
                Some(id.clone()),
                Kind::Internal,
                spans,
                depth + 1,
            )?;
        }
    }
    Ok(())
}

/// What went wrong, when `error`, `fault` or `throttle` is set: the first exception's type
/// and message, else which flag.
fn failure(document: &Value) -> Option<String> {
    let flag = ["fault", "error", "throttle"]
        .into_iter()
        .find(|flag| document[*flag] == true)?;
    let exception = &document["cause"]["exceptions"][0];
    let described = match (exception["type"].as_str(), exception["message"].as_str()) {
        (Some(kind), Some(message)) => Some(format!("{kind}: {message}")),
        (Some(text), None) | (None, Some(text)) => Some(text.to_owned()),
        (None, None) => None,
    };
    Some(described.unwrap_or_else(|| flag.to_owned()))
}

fn text_field(document: &Value, field: &str) -> Result<String, String> {
    document[field]
        .as_str()
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| format!("the document lacks `{field}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_nested_subsegments_become_spans() {
        let document = serde_json::json!({
            "name": "orders", "id": "70de5b6f19ff9a0a", "trace_id": "1-581cf771-a006649127e371903a2de979",
            "start_time": 1.478293361271e9, "end_time": 1.478293361449e9, "origin": "AWS::Lambda::Function",
            "subsegments": [{
                "name": "DynamoDB", "id": "53995c3f42cd8ad8", "namespace": "aws",
                "start_time": 1.478293361272e9, "end_time": 1.478293361300e9,
                "aws": {"operation": "PutItem", "request_id": "3AIENM5J4ELQ3SPODHKBIRVIC3VV4KQNSO5AEMVJF66Q9ASUAAJG", "table_name": "orders"},
                "error": true, "cause": {"exceptions": [{"type": "ConditionalCheckFailedException", "message": "The conditional request failed"}]}
            }]
        });
        let spans = super::document(&document).unwrap();
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].trace_id, "581cf771a006649127e371903a2de979");
        assert_eq!(
            (spans[0].kind, spans[0].parent_id.as_deref()),
            (Kind::Server, None)
        );
        assert_eq!(spans[1].parent_id.as_deref(), Some("70de5b6f19ff9a0a"));
        assert_eq!(spans[1].kind, Kind::Client);
        assert_eq!(
            spans[1].request_id.as_deref(),
            Some("3AIENM5J4ELQ3SPODHKBIRVIC3VV4KQNSO5AEMVJF66Q9ASUAAJG")
        );
        assert_eq!(
            spans[1].error.as_deref(),
            Some("ConditionalCheckFailedException: The conditional request failed")
        );
        assert_eq!(spans[1].attributes["aws.operation"], "PutItem");
    }

    #[test]
    fn independent_subsegments_may_be_in_progress() {
        let document: Value = serde_json::from_str(r#"{"type": "subsegment", "id": "6b55dcc497934f1a", "trace_id": "1-5759e988-bd862e3fe1be46a994272793", "parent_id": "53995c3f42cd8ad8", "name": "checkout", "start_time": 1.0, "in_progress": true}"#).unwrap();
        let spans = super::document(&document).unwrap();
        assert_eq!(spans[0].end_time, None);
        assert_eq!(spans[0].parent_id.as_deref(), Some("53995c3f42cd8ad8"));
    }
}
