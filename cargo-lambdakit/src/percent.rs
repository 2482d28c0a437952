//! Percent-decoding and -encoding (RFC 3986 `%XX`), the one copy: SDKs percent-encode path
//! labels (the `:` of an ARN is `%3A`), IAM returns policy documents encoded, HTTP query
//! strings come encoded, and SigV4 and REST paths with ARNs in them are encoded.

use std::fmt::Write as _;

/// SigV4's URI encoding (RFC 3986's): every byte but the unreserved ones
/// (`A-Z a-z 0-9 - _ . ~`) as `%XX`.
pub fn encode(bytes: &[u8]) -> String {
    let mut encoded = String::with_capacity(bytes.len());
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// `text` with its `%XX` escapes decoded; a malformed escape (`%zz`, a `%` at the end) stays
/// as it is, and bytes that decode to invalid UTF-8 become U+FFFD.
pub fn decode(text: &str) -> String {
    String::from_utf8_lossy(&decode_bytes(text)).into_owned()
}

/// `text` with its `%XX` escapes decoded, as bytes (SigV4 encodes them again, whatever they
/// are); a malformed escape stays as it is.
pub fn decode_bytes(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[index], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                index += 3;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_decoded_and_malformed_ones_kept() {
        assert_eq!(
            decode("%7B%22Version%22%3A%222012-10-17%22%7D"),
            r#"{"Version":"2012-10-17"}"#
        );
        assert_eq!(decode("a%20b%2Cc"), "a b,c");
        assert_eq!(
            decode("arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Aorders"),
            "arn:aws:lambda:us-east-1:1:function:orders"
        );
        assert_eq!(decode("plain"), "plain");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(decode("bad%zz%4"), "bad%zz%4");
    }
}
