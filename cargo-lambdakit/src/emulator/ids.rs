//! Request ids and X-Ray trace headers, made as Lambda makes them.

use std::io::Read;
use std::time::{SystemTime, UNIX_EPOCH};

/// 16 random bytes from the kernel; a time-based fallback keeps ids unique if it is unreadable.
fn random_bytes() -> [u8; 16] {
    let mut bytes = [0; 16];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut file| file.read_exact(&mut bytes));
    if read.is_err() {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        bytes = nanos.to_le_bytes();
    }
    bytes
}

/// A version 4 UUID, the shape of Lambda's request ids.
pub(crate) fn request_id() -> String {
    let mut bytes = random_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// `Root=1-{epoch seconds}-{96 random bits};Parent={64 random bits};Sampled=0`.
pub(crate) fn trace_id() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let bytes = random_bytes();
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    let parent: String = random_bytes()[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!(
        "Root=1-{seconds:08x}-{};Parent={parent};Sampled=0",
        &hex[..24]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_version_4_uuids() {
        let id = request_id();
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|part| part.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'), "{id}");
        assert!(
            matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'),
            "{id}"
        );
        assert_ne!(id, request_id());
    }

    #[test]
    fn trace_ids_have_the_xray_shape() {
        let trace = trace_id();
        let (root, rest) = trace.split_once(';').unwrap();
        let root = root.strip_prefix("Root=1-").unwrap();
        let (time, random) = root.split_once('-').unwrap();
        assert_eq!((time.len(), random.len()), (8, 24), "{trace}");
        assert!(
            rest.starts_with("Parent=") && rest.ends_with(";Sampled=0"),
            "{trace}"
        );
    }
}
