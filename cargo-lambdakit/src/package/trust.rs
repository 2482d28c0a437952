//! `trust = "amazon-roots"`: a function's TLS trusts only Amazon's root CAs, read from a PEM
//! shipped in its zip, for code that builds its AWS clients the usual way. rustls (through
//! `rustls-native-certs`) and OpenSSL read `SSL_CERT_FILE` in place of the system's bundle of
//! some 150 roots, whose loading is most of an SDK client's init (BENCHMARKS.md, "Static or
//! glibc"). Every AWS endpoint chains to one of these roots; any other HTTPS server the
//! function calls is refused, which is why it is a choice and not the default.
//!
//! The PEM is lambda-kit's own (`lambda_kit::aws` trusts the same roots), included from its
//! one home in the workspace.

use super::zip::Entry;

/// The PEM's name in the zip, beside `bootstrap`.
pub const FILE_NAME: &str = "amazon-root-cas.pem";

/// Amazon Trust Services' root CAs.
pub const PEM: &[u8] = include_bytes!("../../../lambda-kit/src/aws/amazon-root-cas.pem");

/// The variable that points TLS libraries at a PEM bundle.
pub const VARIABLE: &str = "SSL_CERT_FILE";

/// Where Lambda puts a function's zip (`LAMBDA_TASK_ROOT`; AWS Lambda Developer Guide,
/// "Defined runtime environment variables").
pub const TASK_ROOT: &str = "/var/task";

/// The PEM's path on Lambda: `/var/task/amazon-root-cas.pem`.
pub fn lambda_path() -> String {
    format!("{TASK_ROOT}/{FILE_NAME}")
}

/// The PEM as a zip entry.
pub fn entry() -> Entry {
    Entry {
        name: FILE_NAME.to_owned(),
        data: PEM.to_vec(),
        executable: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pem_holds_amazons_roots() {
        let text = std::str::from_utf8(PEM).unwrap();
        assert_eq!(text.matches("-----BEGIN CERTIFICATE-----").count(), 5);
        assert_eq!(lambda_path(), "/var/task/amazon-root-cas.pem");
    }
}
