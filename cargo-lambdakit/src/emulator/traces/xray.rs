//! The local X-Ray daemon: segment documents over UDP, as the X-Ray SDKs and lambda-kit send
//! them to `AWS_XRAY_DAEMON_ADDRESS` (AWS X-Ray "Sending segment documents to the X-Ray
//! daemon": a header `{"format": "json", "version": 1}`, a newline, then one segment or
//! subsegment document), each read by the one reader of segment documents,
//! [`crate::spans::xray`].

use std::sync::Arc;

use serde_json::Value;

use super::Traces;
use crate::spans::Span;

/// The largest datagram the daemon takes (UDP's own limit); X-Ray's is 64 KB per document.
const MAX_DATAGRAM: usize = 65_535;

/// Reads datagrams until the future is dropped, keeping the spans of each good one and
/// warning of each that is not.
pub(super) async fn daemon(socket: tokio::net::UdpSocket, traces: Arc<Traces>) {
    let mut buffer = vec![0; MAX_DATAGRAM];
    loop {
        let Ok((length, _)) = socket.recv_from(&mut buffer).await else {
            continue;
        };
        match datagram(&buffer[..length]) {
            Ok(spans) => traces.record(spans),
            Err(problem) => {
                eprintln!("warning: the local X-Ray daemon dropped a document: {problem}")
            }
        }
    }
}

/// The spans of one datagram: the document and every subsegment nested in it.
pub(super) fn datagram(bytes: &[u8]) -> Result<Vec<Span>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "it is not UTF-8".to_owned())?;
    let (header, body) = text
        .split_once('\n')
        .ok_or("it lacks the header line `{\"format\": \"json\", \"version\": 1}`")?;
    let header: Value =
        serde_json::from_str(header).map_err(|error| format!("its header is not JSON: {error}"))?;
    if header["format"] != "json" || header["version"] != 1 {
        return Err(format!(
            "its header is `{header}`; expected `{{\"format\": \"json\", \"version\": 1}}`"
        ));
    }
    let document: Value = serde_json::from_str(body.trim())
        .map_err(|error| format!("its segment document is not JSON: {error}"))?;
    crate::spans::xray::document(&document)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "{\"format\": \"json\", \"version\": 1}\n";

    #[test]
    fn bad_datagrams_are_refused_saying_why() {
        let cases: Vec<(String, &str)> = vec![
            ("{\"name\": \"x\"}".into(), "header line"),
            (
                "{\"format\": \"xml\", \"version\": 1}\n{}".into(),
                "expected `{\"format\"",
            ),
            (
                format!(
                    "{HEADER}{{\"id\": \"70de5b6f19ff9a0a\", \"name\": \"x\", \"start_time\": 1, \"end_time\": 2}}"
                ),
                "lacks `trace_id`",
            ),
            (
                format!(
                    "{HEADER}{{\"id\": \"70de\", \"trace_id\": \"1-581cf771-a006649127e371903a2de979\", \"name\": \"x\", \"start_time\": 1, \"end_time\": 2}}"
                ),
                "16 hex digits",
            ),
            (
                format!(
                    "{HEADER}{{\"id\": \"70de5b6f19ff9a0a\", \"trace_id\": \"1-581cf771-a006649127e371903a2de979\", \"name\": \"x\", \"start_time\": 1}}"
                ),
                "in_progress",
            ),
            (
                format!(
                    "{HEADER}{{\"type\": \"subsegment\", \"id\": \"70de5b6f19ff9a0a\", \"trace_id\": \"1-581cf771-a006649127e371903a2de979\", \"name\": \"x\", \"start_time\": 1, \"end_time\": 2}}"
                ),
                "parent_id",
            ),
        ];
        for (datagram_text, why) in cases {
            let problem = datagram(datagram_text.as_bytes()).unwrap_err();
            assert!(problem.contains(why), "{datagram_text}: {problem}");
        }
    }
}
