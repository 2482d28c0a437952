//! `cargo lambdakit traces`: the traces a running `serve` keeps (the last 1000 of its sampled
//! invocations, with what the functions sent its X-Ray daemon and OTLP receiver), listed
//! newest first, or one of them printed as a waterfall; with `--remote`, the deployed
//! functions' traces, read from AWS X-Ray, in the same shapes; `--output json` for scripts.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::SystemTime;

use clap::Args;

use super::prelude::{AwsArgs, Output, TOKEN_ENV};
use crate::aws::Aws;
use crate::error::CliError;
use crate::island::{self, Threads};
use crate::logs::Since;
use crate::spans::{self, Color, Fetched, remote};

/// Options of `traces`.
#[derive(Debug, Args)]
pub struct TracesArgs {
    /// A trace to print as a waterfall: its id as X-Ray writes it (`1-5759e988-bd86..`) or as
    /// 32 hex digits; without it, the list.
    #[arg(value_name = "ID")]
    pub id: Option<String>,
    /// Where the `cargo lambdakit serve` to ask listens.
    #[arg(long, value_name = "URL", default_value = crate::local::DEFAULT_URL)]
    pub url: String,
    /// The token of a serve that requires one (`serve --allow-remote` or `--token`).
    #[arg(long, value_name = "TOKEN", env = TOKEN_ENV, hide_env_values = true)]
    pub token: Option<String>,
    /// Read the deployed functions' traces from AWS X-Ray instead of a serve.
    #[arg(long, conflicts_with_all = ["url", "token"])]
    pub remote: bool,
    /// With `--remote`: which account and region.
    #[command(flatten)]
    pub aws: AwsArgs,
    /// With `--remote`, the list: traces from this long ago (`30s`, `10m`, `1h`, `1h30m`) or
    /// since this RFC 3339 time (`2026-01-31T12:00:00Z`).
    #[arg(long, value_name = "WHEN", default_value = "10m", value_parser = Since::parse, requires = "remote")]
    pub since: Since,
    /// With `--remote`, the list: at most this many traces, the newest.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=1000), requires = "remote")]
    pub limit: u16,
    /// `text` (a table, or the waterfall) or `json` (one document: `{"traces": [..]}`, or the
    /// trace with its spans).
    #[arg(long = "output", value_name = "FORMAT", default_value = "text")]
    pub output: Output,
}

pub(crate) fn run(args: TracesArgs) -> Result<ExitCode, CliError> {
    let fetched = if args.remote {
        read_remote(&args)?
    } else {
        if args.aws.region.is_some() || args.aws.profile.is_some() {
            return Err(CliError::Config {
                key: "--region/--profile".into(),
                problem: "name an AWS account and region, which only `--remote` reads; add `--remote`, or drop them to ask serve".into(),
            });
        }
        spans::fetch(&args.url, args.id.as_deref(), args.token.as_deref())?
    };
    let text = match (&fetched, args.output) {
        (Fetched::List(summaries), Output::Text) if summaries.is_empty() && args.remote => {
            "no traces in X-Ray in this window: invoke a function with tracing on, wait a few seconds, or widen `--since`\n".to_owned()
        }
        (Fetched::List(summaries), Output::Text) => spans::list(summaries),
        (Fetched::One(trace), Output::Text) => spans::waterfall(trace, Color::for_stdout()),
        (Fetched::List(summaries), Output::Json) => {
            format!("{}\n", serde_json::json!({ "traces": summaries }))
        }
        (Fetched::One(trace), Output::Json) => format!("{}\n", serde_json::json!(trace)),
    };
    // A closed pipe (`| head`) is not an error of ours.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(ExitCode::SUCCESS)
}

/// The list or the trace, from X-Ray.
fn read_remote(args: &TracesArgs) -> Result<Fetched, CliError> {
    let start_ms = args.since.start_ms(SystemTime::now());
    island::runtime(Threads::One)?.block_on(async {
        let aws = Aws::connect(&args.aws.source()).await?;
        Ok(match &args.id {
            Some(id) => Fetched::One(Box::new(remote::get(&aws, id).await?)),
            None => Fetched::List(
                remote::list(&aws, remote::window(start_ms, usize::from(args.limit))).await?,
            ),
        })
    })
}
