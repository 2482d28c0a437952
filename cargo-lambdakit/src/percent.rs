//! Percent-coding (RFC 3986 `%XX`), the one copy: SDKs percent-encode path labels (the `:` of
//! an ARN is `%3A`), IAM returns policy documents encoded, HTTP query strings come encoded,
//! SigV4 encodes paths and queries, and S3's event notifications encode object keys.

use std::fmt::Write as _;

/// `bytes` with every byte but RFC 3986's unreserved ones (`A-Z a-z 0-9 - _ . ~`) and those of
/// `kept` as `%XX` (upper-case hex, as SigV4 wants it).
pub fn encode(bytes: &[u8], kept: &[u8]) -> String {
    let mut encoded = String::with_capacity(bytes.len());
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) || kept.contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// An S3 object key as S3's event notifications spell it: URL-encoded as a form value (a space
/// is `+`), its `/`s kept (AWS "Event message structure": "The s3 key provided in the event
/// notification is URL encoded").
pub fn encode_s3_key(key: &str) -> String {
    encode(key.as_bytes(), b"/ ").replace(' ', "+")
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
    fn s3_keys_are_encoded_as_form_values_with_their_slashes() {
        assert_eq!(
            encode_s3_key("in/my photo (1).png"),
            "in/my+photo+%281%29.png"
        );
        assert_eq!(encode_s3_key("a+b:c"), "a%2Bb%3Ac");
        assert_eq!(decode(&encode(b"x y/z", b"")), "x y/z");
    }

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
