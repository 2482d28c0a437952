//! `cargo lambdakit logs FUNCTION`: a deployed function's CloudWatch Logs since a time,
//! filtered by a CloudWatch filter pattern, once or followed (`--tail`), each line with its
//! time and stream, REPORT lines summarised, and the invocations' figures at the end.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::SystemTime;

use clap::Args;
use serde_json::json;

use super::prelude::{AwsArgs, Output};
use crate::aws::Aws;
use crate::error::CliError;
use crate::island::{self, Threads};
use crate::logs::{self, Query, Since, Summary};

/// Options of `logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The function: its name, or its ARN (whose region is taken when `--region` is not given).
    #[arg(value_name = "FUNCTION")]
    pub function: String,
    /// Which account and region.
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Events from this long ago (`30s`, `10m`, `1h`, `2d`, `1w`, `1h30m`) or since this
    /// RFC 3339 time (`2026-01-31T12:00:00Z`).
    #[arg(long, value_name = "WHEN", default_value = "10m", value_parser = Since::parse)]
    pub since: Since,
    /// Only events matching this CloudWatch Logs filter pattern (`ERROR`, `"timed out"`,
    /// `{ $.level = "ERROR" }`).
    #[arg(long, value_name = "PATTERN")]
    pub filter: Option<String>,
    /// Keep going: print new events as they arrive, until Ctrl-C.
    #[arg(long)]
    pub tail: bool,
    /// `text` (default) or `json`: one JSON document with the events and the summary; with
    /// `--tail`, one JSON object a line, each event and, when stopped, the summary.
    #[arg(long = "output", value_name = "FORMAT", default_value = "text")]
    pub output: Output,
}

pub(crate) fn run(args: LogsArgs) -> Result<ExitCode, CliError> {
    let source = logs::source(args.aws.source(), &args.function)?;
    let query = Query {
        start_ms: args.since.start_ms(SystemTime::now()),
        filter: args.filter.clone(),
    };
    let output = args.output;
    island::runtime(Threads::One)?.block_on(async {
        let aws = Aws::connect(&source).await?;
        let target = logs::target(&aws, &args.function).await?;
        let mut stdout = std::io::stdout().lock();
        let mut summary = Summary::default();
        if args.tail {
            let print = |events: &[logs::Event]| {
                for event in events {
                    summary.add(event);
                    match output {
                        Output::Text => writeln!(stdout, "{}", event.render())?,
                        Output::Json => writeln!(stdout, "{}", event.to_json())?,
                    }
                }
                stdout.flush()
            };
            let started = || {
                eprintln!(
                    "following `{}` for new events; Ctrl-C stops",
                    target.log_group
                );
            };
            logs::follow(&aws, &target, &query, print, started).await?;
            let last = match output {
                Output::Text => writeln!(stdout, "summary: {}", summary.render()),
                Output::Json => writeln!(stdout, "{}", json!({"summary": summary.to_json()})),
            };
            return logs::written(last);
        }
        let events = logs::read(&aws, &target, &query).await?;
        events.iter().for_each(|event| summary.add(event));
        let written = match output {
            Output::Json => {
                let document = json!({
                    "function": target.function,
                    "log_group": target.log_group,
                    "start_ms": query.start_ms,
                    "filter": query.filter,
                    "events": events.iter().map(logs::Event::to_json).collect::<Vec<_>>(),
                    "summary": summary.to_json(),
                });
                writeln!(stdout, "{document}")
            }
            Output::Text if events.is_empty() => writeln!(
                stdout,
                "no events in `{}`{} since {}",
                target.log_group,
                query
                    .filter
                    .as_ref()
                    .map(|filter| format!(" matching `{filter}`"))
                    .unwrap_or_default(),
                logs::time(query.start_ms)
            ),
            Output::Text => events
                .iter()
                .try_for_each(|event| writeln!(stdout, "{}", event.render()))
                .and_then(|()| writeln!(stdout, "summary: {}", summary.render())),
        };
        logs::written(written)
    })?;
    Ok(ExitCode::SUCCESS)
}
