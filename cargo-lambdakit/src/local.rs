//! What a local Lambda (`cargo lambdakit serve`) and its clients (`invoke`, `deploy --local`,
//! `destroy --local`) agree on without asking each other: the account its ARNs name, the
//! region it runs in and the address it listens on by default. The example events
//! (`invoke --event`) name the same account, so that their ARNs look like serve's.

/// The account id in every ARN the local Lambda makes up, and in the example events: the
/// placeholder AWS's own documentation uses.
pub const ACCOUNT: &str = "123456789012";

/// The address `cargo lambdakit serve` listens on by default.
pub const DEFAULT_URL: &str = "http://127.0.0.1:9000";

/// The region serve's ARNs name: the shell's `AWS_REGION` (or `AWS_DEFAULT_REGION`), else
/// `us-east-1`. `deploy --local` reads the same, so that both agree when run from one shell.
pub fn region() -> String {
    #[allow(clippy::disallowed_methods)] // The CLI reads its user's shell, not a Lambda's.
    let region = std::env::var("AWS_REGION").or_else(|_| std::env::var("AWS_DEFAULT_REGION"));
    region.unwrap_or_else(|_| "us-east-1".to_owned())
}

/// The ARN of the execution role functions deployed locally without a `role` get: serve
/// takes any role, and runs no IAM.
pub fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}
