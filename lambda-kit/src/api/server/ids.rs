//! Identifiers the server side hands out: request ids and extension identifiers, version 4
//! UUIDs as Lambda makes them, from one random source.

use std::io::Read;
use std::time::{SystemTime, UNIX_EPOCH};

/// 16 random bytes from the kernel; a time-based fallback keeps ids unique if it is unreadable.
pub fn random_bytes() -> [u8; 16] {
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

/// A random version 4 UUID (RFC 4122 variant) in its 8-4-4-4-12 text.
pub fn uuid() -> String {
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

/// Whether `id` is a UUID's text: 8-4-4-4-12 hexadecimal digits.
pub fn is_uuid(id: &str) -> bool {
    id.len() == 36
        && id.char_indices().all(|(index, c)| match index {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_distinct_and_version_4() {
        let first = uuid();
        assert!(is_uuid(&first), "{first}");
        assert_eq!(&first[14..15], "4", "{first}");
        assert!(
            matches!(first.as_bytes()[19], b'8' | b'9' | b'a' | b'b'),
            "{first}"
        );
        assert_ne!(first, uuid());
        assert!(!is_uuid("not-a-uuid"));
        assert!(!is_uuid("0123456789abcdef0123456789abcdef0123"));
    }
}
