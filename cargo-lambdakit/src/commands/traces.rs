//! `cargo lambdakit traces`: the traces a running `serve` keeps (the last 1000 of its sampled
//! invocations, with what the functions sent its X-Ray daemon and OTLP receiver), listed
//! newest first, or one of them printed as a waterfall; `--output json` for scripts.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Args;

use super::prelude::{Output, TOKEN_ENV};
use crate::error::CliError;
use crate::spans::{self, Color, Fetched};

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
    /// `text` (a table, or the waterfall) or `json` (one document: `{"traces": [..]}`, or the
    /// trace with its spans).
    #[arg(long = "output", value_name = "FORMAT", default_value = "text")]
    pub output: Output,
}

pub(crate) fn run(args: TracesArgs) -> Result<ExitCode, CliError> {
    let fetched = spans::fetch(&args.url, args.id.as_deref(), args.token.as_deref())?;
    let text = match (&fetched, args.output) {
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
