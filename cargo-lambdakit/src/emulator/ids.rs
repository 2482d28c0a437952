//! Request ids and X-Ray trace headers, made as Lambda makes them.

use std::time::{SystemTime, UNIX_EPOCH};

use lambda_kit::__server::ids::random_bytes;
pub(crate) use lambda_kit::__server::ids::uuid;
pub(crate) use lambda_kit::__server::ids::uuid as request_id;

/// The trace header an invocation runs under: the caller's trace continued when it sent one
/// (`X-Amzn-Trace-Id`), else a new one ([`trace_id`]).
///
/// Continuing keeps the caller's `Root`, `Sampled` and `Lineage`; `Parent` becomes a new id,
/// the function's own segment, as Lambda makes it (AWS X-Ray "Tracing header"). A header
/// without a `Root` starts a new trace.
///
/// The local Lambda samples every invocation but those whose caller decided against it
/// (`Sampled=0`): a caller's `Sampled=?` (decide for me) or none is `Sampled=1`, where
/// Lambda would apply its sampling rules (one a second, then 5%), so that every local
/// invocation's trace can be seen.
pub(crate) fn continued_trace(caller: Option<&str>) -> String {
    let Some(caller) = caller else {
        return trace_id();
    };
    let field = |name: &str| {
        caller.split(';').find_map(|field| {
            let (key, value) = field.trim().split_once('=')?;
            (key.eq_ignore_ascii_case(name) && !value.is_empty()).then_some(value)
        })
    };
    let Some(root) = field("Root") else {
        return trace_id();
    };
    let parent = segment_id();
    // `?` asks the callee to decide; locally, everything is sampled.
    let sampled = field("Sampled")
        .filter(|sampled| *sampled != "?")
        .unwrap_or("1");
    match field("Lineage") {
        Some(lineage) => format!("Root={root};Parent={parent};Sampled={sampled};Lineage={lineage}"),
        None => format!("Root={root};Parent={parent};Sampled={sampled}"),
    }
}

/// 64 random bits in hex: an X-Ray segment id.
fn segment_id() -> String {
    random_bytes()[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// `Root=1-{epoch seconds}-{96 random bits};Parent={64 random bits};Sampled=1` (see
/// [`continued_trace`] on sampling).
pub(crate) fn trace_id() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let bytes = random_bytes();
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    let parent = segment_id();
    format!(
        "Root=1-{seconds:08x}-{};Parent={parent};Sampled=1",
        &hex[..24]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_have_the_xray_shape() {
        let trace = trace_id();
        let (root, rest) = trace.split_once(';').unwrap();
        let root = root.strip_prefix("Root=1-").unwrap();
        let (time, random) = root.split_once('-').unwrap();
        assert_eq!((time.len(), random.len()), (8, 24), "{trace}");
        assert!(
            rest.starts_with("Parent=") && rest.ends_with(";Sampled=1"),
            "{trace}"
        );
    }

    #[test]
    fn a_callers_trace_is_continued_under_a_new_parent() {
        let caller = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let continued = continued_trace(Some(caller));
        let fields: Vec<&str> = continued.split(';').collect();
        assert_eq!(fields[0], "Root=1-5759e988-bd862e3fe1be46a994272793");
        assert!(fields[1].starts_with("Parent=") && fields[1] != "Parent=53995c3f42cd8ad8");
        assert_eq!(fields[1].len(), "Parent=".len() + 16);
        assert_eq!(fields[2], "Sampled=1");
        // The caller's decision stands; without one, or with `?`, the invocation is sampled.
        let unsampled =
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0";
        assert!(continued_trace(Some(unsampled)).ends_with(";Sampled=0"));
        for undecided in [
            "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?",
            "Root=1-5759e988-bd862e3fe1be46a994272793",
        ] {
            assert!(continued_trace(Some(undecided)).ends_with(";Sampled=1"));
        }
        assert_eq!(
            continued_trace(Some(
                "Root=1-5759e988-bd862e3fe1be46a994272793;Lineage=a87bd80c:1|68fd508a:5"
            ))
            .split(';')
            .nth(3),
            Some("Lineage=a87bd80c:1|68fd508a:5")
        );
    }

    #[test]
    fn a_header_without_a_root_starts_a_new_trace() {
        for caller in [None, Some("Parent=53995c3f42cd8ad8"), Some("")] {
            assert!(continued_trace(caller).starts_with("Root=1-"), "{caller:?}");
        }
        assert_ne!(continued_trace(None), continued_trace(None));
    }
}
