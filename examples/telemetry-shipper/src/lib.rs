//! What the telemetry shipper keeps of a batch, and where it puts it: the function's log lines
//! and each invocation's report, as JSON lines, in one S3 object per batch under
//! `telemetry/FUNCTION/DAY/`.

use lambda_kit::extension::telemetry::{Event, Record};

/// The lines of one S3 object: each kept event as one line of JSON, in the order Lambda sent
/// them. Platform events other than reports (starts, runtime-done, ...) are not kept: the
/// report says all a reader wants of an invocation.
pub fn lines(batch: &[Event]) -> Option<String> {
    let mut out = String::new();
    for event in batch {
        let keep = matches!(event.record, Record::Function(_) | Record::Report(_));
        if !keep {
            continue;
        }
        // An `Event` is plain JSON data: writing it cannot fail.
        if let Ok(line) = serde_json::to_string(event) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The key of the object for a batch whose first kept event happened at `time` (RFC 3339),
/// the `sequence`-th batch this extension shipped: `telemetry/FUNCTION/2026-12-03/10:15:00.042Z-7.jsonl`.
/// Sorting the keys sorts the batches.
pub fn key(function: &str, time: &str, sequence: u64) -> String {
    let (day, clock) = time.split_once('T').unwrap_or(("unknown-day", time));
    format!("telemetry/{function}/{day}/{clock}-{sequence}.jsonl")
}

/// The time of the first event kept from `batch`.
pub fn first_time(batch: &[Event]) -> Option<&str> {
    batch
        .iter()
        .find(|event| matches!(event.record, Record::Function(_) | Record::Report(_)))
        .map(|event| event.time.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> Vec<Event> {
        serde_json::from_value(serde_json::json!([
            {"time": "2026-12-03T10:15:00.040Z", "type": "platform.start",
             "record": {"requestId": "r-1"}},
            {"time": "2026-12-03T10:15:00.042Z", "type": "function", "record": "hello\n"},
            {"time": "2026-12-03T10:15:00.050Z", "type": "platform.report",
             "record": {"requestId": "r-1", "status": "success",
                        "metrics": {"durationMs": 9.5, "billedDurationMs": 10,
                                    "memorySizeMB": 128, "maxMemoryUsedMB": 20}}}
        ]))
        .unwrap()
    }

    #[test]
    fn keeps_the_functions_lines_and_the_reports_as_json_lines() {
        let lines = lines(&batch()).unwrap();
        let kept: Vec<serde_json::Value> = lines
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0]["type"], "function");
        assert_eq!(kept[1]["type"], "platform.report");
        assert_eq!(kept[1]["record"]["requestId"], "r-1");
    }

    #[test]
    fn a_batch_of_nothing_kept_ships_nothing() {
        let starts = &batch()[..1];
        assert_eq!(lines(starts), None);
        assert_eq!(first_time(starts), None);
    }

    #[test]
    fn keys_sort_by_day_then_time() {
        let batch = batch();
        let time = first_time(&batch).unwrap();
        assert_eq!(
            key("greeter", time, 7),
            "telemetry/greeter/2026-12-03/10:15:00.042Z-7.jsonl"
        );
    }
}
