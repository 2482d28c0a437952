//! `bench traces`: what the `trace` feature costs the lambda-kit echo function, in instructions
//! under callgrind. One build of the echo function with the feature and one span of its own
//! (`bench-lambda-kit-echo-trace`), run with tracing off (no exporter configured), on with
//! every invocation unsampled (`Sampled=0`), and on with every invocation sampled, exporting to
//! an X-Ray daemon (a UDP socket of the harness) and to an OTLP/HTTP collector (an HTTP server
//! of the harness, protobuf); beside the plain echo function without the feature.
//!
//! Like `bench extensions`, these run against `lambda_kit::testing`'s Runtime API server. Each
//! export is counted: a sampled run whose spans did not all arrive fails, and so does an
//! unsampled one that sent anything.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lambda_kit::testing::{FakeRuntimeApi, Invocation, Outcome};
use lambda_kit_bench::{EVENT, Error, Subject};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The markers of the traces section in BENCHMARKS.md.
pub(crate) const START: &str = "<!-- traces:start -->";
pub(crate) const END: &str = "<!-- traces:end -->";

const PLAIN: Subject = Subject {
    label: "lambda-kit echo, no `trace` feature",
    package: "bench-lambda-kit-echo",
};
const TRACED: Subject = Subject {
    label: "with `trace`",
    package: "bench-lambda-kit-echo-trace",
};
const PEER: Subject = Subject {
    label: "lambda_runtime 1.5 with its OpenTelemetry layer",
    package: "bench-lambda-runtime-echo-otel",
};

/// How a column runs its subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// No exporter configured.
    Off,
    /// X-Ray configured, every invocation `Sampled=0`.
    Unsampled,
    /// X-Ray configured, every invocation `Sampled=1`.
    SampledXray,
    /// OTLP/HTTP (protobuf) configured, every invocation `Sampled=1`.
    SampledOtlp,
    /// The peer: every span recorded and written to its stdout, which the harness discards.
    Peer,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Self::Off => "tracing off",
            Self::Unsampled => "on, unsampled",
            Self::SampledXray => "on, sampled, to X-Ray",
            Self::SampledOtlp => "on, sampled, to OTLP",
            Self::Peer => "sampled, to stdout",
        }
    }

    fn sampled(self) -> bool {
        matches!(self, Self::SampledXray | Self::SampledOtlp | Self::Peer)
    }

    /// Exports the harness receives per invocation.
    fn exports(self) -> usize {
        usize::from(matches!(self, Self::SampledXray | Self::SampledOtlp))
    }
}

/// What `bench traces` was asked for.
pub(crate) struct Options {
    pub(crate) invocations: usize,
    pub(crate) dev: bool,
}

struct Column {
    label: String,
    per_invocation: u64,
    init: u64,
    exports: usize,
}

/// Builds and measures; returns the section for BENCHMARKS.md.
pub(crate) fn bench(options: &Options) -> Result<String, Error> {
    eprintln!("building {} ...", PLAIN.package);
    let plain = lambda_kit_bench::build(&PLAIN, !options.dev)?;
    eprintln!("building {} ...", TRACED.package);
    let traced = lambda_kit_bench::build(&TRACED, !options.dev)?;
    eprintln!("building {} ...", PEER.package);
    let peer = lambda_kit_bench::build(&PEER, !options.dev)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut columns = Vec::new();
    let runs = [
        (PLAIN.label.to_owned(), &plain, Mode::Off),
        (
            format!("{}, {}", TRACED.label, Mode::Off.label()),
            &traced,
            Mode::Off,
        ),
        (
            format!("{}, {}", TRACED.label, Mode::Unsampled.label()),
            &traced,
            Mode::Unsampled,
        ),
        (
            format!("{}, {}", TRACED.label, Mode::SampledXray.label()),
            &traced,
            Mode::SampledXray,
        ),
        (
            format!("{}, {}", TRACED.label, Mode::SampledOtlp.label()),
            &traced,
            Mode::SampledOtlp,
        ),
        (
            format!("{}, {}", PEER.label, Mode::Peer.label()),
            &peer,
            Mode::Peer,
        ),
    ];
    for (label, binary, mode) in runs {
        eprintln!("counting {label} ...");
        let init = runtime.block_on(count(binary, mode, 0))?;
        let all = runtime.block_on(count(binary, mode, options.invocations))?;
        let expected = options.invocations * mode.exports();
        if all.exports != expected {
            return Err(format!(
                "{label}: {} exports arrived for {} invocations, expected {expected}",
                all.exports, options.invocations
            )
            .into());
        }
        columns.push(Column {
            label,
            per_invocation: all.instructions.saturating_sub(init.instructions)
                / options.invocations.max(1) as u64,
            init: init.instructions,
            exports: all.exports,
        });
    }
    Ok(report(options, &columns))
}

struct Count {
    instructions: u64,
    exports: usize,
}

/// Runs `binary` under callgrind in `mode` for `invocations` invocations, each complete
/// before the next, and counts what reached the exporters' receivers.
async fn count(binary: &Path, mode: Mode, invocations: usize) -> Result<Count, Error> {
    let api = FakeRuntimeApi::start().await?;
    let daemon = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let daemon_address = daemon.local_addr()?.to_string();
    let collector = Collector::start().await?;
    let endpoint = format!("http://{}", collector.address);
    let vars: Vec<(&str, &str)> = match mode {
        Mode::Off | Mode::Peer => Vec::new(),
        Mode::Unsampled | Mode::SampledXray => vec![("AWS_XRAY_DAEMON_ADDRESS", &daemon_address)],
        Mode::SampledOtlp => vec![("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)],
    };
    let out_file = std::env::temp_dir().join(format!(
        "lambda-kit-bench-traces-{}.{invocations}.callgrind",
        std::process::id()
    ));
    let mut command = Command::new("valgrind");
    command
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(binary);
    let mut child =
        lambda_kit_bench::spawn_with(command, api.address(), &vars).map_err(|error| {
            format!("cannot start valgrind ({error}); install it with `apt-get install valgrind`")
        })?;
    let mut datagrams = 0;
    let limit = Duration::from_secs(120 + invocations as u64 / 10);
    let driven = tokio::time::timeout(limit, async {
        drive(&api, invocations, mode.sampled(), &daemon, &mut datagrams).await?;
        // The last export follows the last response: give it a moment to arrive.
        let expected = invocations * mode.exports();
        for _ in 0..100 {
            drain(&daemon, &mut datagrams);
            if datagrams + collector.requests.load(Ordering::Relaxed) >= expected {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok::<_, Error>(())
    })
    .await
    .unwrap_or_else(|_| {
        Err(format!(
            "{} did not finish within {} s",
            binary.display(),
            limit.as_secs()
        )
        .into())
    });
    let stopped = lambda_kit_bench::stop(&mut child);
    driven?;
    stopped?;
    drain(&daemon, &mut datagrams);
    let instructions = lambda_kit_bench::callgrind_total(&out_file)?;
    let _ = std::fs::remove_file(&out_file);
    Ok(Count {
        instructions,
        exports: datagrams + collector.requests.load(Ordering::Relaxed),
    })
}

/// Reads every datagram waiting, counting them.
fn drain(daemon: &tokio::net::UdpSocket, datagrams: &mut usize) {
    let mut buffer = vec![0; 65_536];
    while daemon.try_recv_from(&mut buffer).is_ok() {
        *datagrams += 1;
    }
}

/// Hands out `invocations` invocations of [`EVENT`] one at a time, each with a fresh trace
/// header, answered with the event and complete before the next.
async fn drive(
    api: &FakeRuntimeApi,
    invocations: usize,
    sampled: bool,
    daemon: &tokio::net::UdpSocket,
    datagrams: &mut usize,
) -> Result<(), Error> {
    api.started()
        .await
        .map_err(|report| format!("init failed: {report:?}"))?;
    let event: serde_json::Value = serde_json::from_str(EVENT)?;
    for index in 0..invocations {
        let request_id = api.push(Invocation::new(&event).trace_id(&format!(
            "Root=1-5759e988-{index:024x};Parent=53995c3f42cd8ad8;Sampled={}",
            u8::from(sampled)
        )));
        match api.outcome(&request_id).await {
            Outcome::Response(body)
                if serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .as_ref()
                    == Some(&event) => {}
            other => return Err(format!("invocation {index} was answered with {other:?}").into()),
        }
        if !api.completed(&request_id).await {
            return Err(format!("invocation {index} never completed").into());
        }
        // The socket's buffer is bounded: read as the datagrams come.
        drain(daemon, datagrams);
    }
    Ok(())
}

/// An OTLP/HTTP collector that takes every request and answers `200 OK`, counting requests.
struct Collector {
    address: SocketAddr,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Collector {
    async fn start() -> Result<Self, Error> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        // One connection at a time: the runtime keeps its one connection open.
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut read = Vec::new();
                let mut buffer = vec![0; 64 * 1024];
                loop {
                    let Some(head_end) = read.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                read.extend_from_slice(&buffer[..n]);
                                continue;
                            }
                        }
                    };
                    let head = String::from_utf8_lossy(&read[..head_end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|line| line.strip_prefix("content-length:"))
                        .and_then(|value| value.trim().parse().ok())
                        .unwrap_or(0);
                    let total = head_end + 4 + length;
                    while read.len() < total {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => read.extend_from_slice(&buffer[..n]),
                        }
                    }
                    read.drain(..total);
                    counter.fetch_add(1, Ordering::Relaxed);
                    if stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }
        });
        Ok(Self {
            address,
            requests,
            task,
        })
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn report(options: &Options, columns: &[Column]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{START}\n## Tracing\n");
    let _ = writeln!(
        out,
        "The lambda-kit echo function built with the `trace` feature and one span of its own \
         per invocation (`tracing::info_span!(\"echo\", fields = ..)`, entered), run with no \
         exporter configured, with the X-Ray daemon configured (`AWS_XRAY_DAEMON_ADDRESS`) and \
         every invocation's trace header `Sampled=0`, and with every invocation `Sampled=1`, \
         its spans (the invocation's and the handler's) exported after each response to a UDP \
         socket of the harness (X-Ray) or to an HTTP server of the harness (OTLP, protobuf, \
         `OTEL_EXPORTER_OTLP_ENDPOINT`); beside the plain echo function (without the feature, and without the span). \
         Under callgrind against `lambda_kit::testing`'s Runtime API server, {} invocations, \
         each complete before the next, less a run with none (init). Every export is counted: \
         the run fails unless each sampled invocation's spans arrived, and unless the others \
         sent nothing.\n",
        options.invocations
    );
    let _ = writeln!(
        out,
        "| | instructions / invocation | above tracing off | instructions, init | exports |\n|---|---|---|---|---|"
    );
    let off = columns
        .iter()
        .find(|column| column.label.ends_with(Mode::Off.label()))
        .map_or(1, |column| column.per_invocation.max(1));
    for column in columns {
        let above = column.per_invocation as f64 - off as f64;
        let _ = writeln!(
            out,
            "| {} | {} | {above:+.0} ({:+.1}%) | {} | {} |",
            column.label,
            column.per_invocation,
            100.0 * above / off as f64,
            column.init,
            column.exports
        );
    }
    let peer = columns
        .iter()
        .find(|column| column.label.starts_with(PEER.label));
    if let Some(peer) = peer {
        let _ = writeln!(out);
        for column in columns.iter().filter(|column| {
            column.label.starts_with(TRACED.label) && column.label.contains("sampled,")
        }) {
            let _ = writeln!(
                out,
                "- {} against {}: {:.2}x (the issue's target: below 1x)",
                column.label,
                peer.label,
                column.per_invocation as f64 / peer.per_invocation.max(1) as f64
            );
        }
    }
    let _ = writeln!(
        out,
        "\nThe issue's bound: an unsampled invocation at most 5% above tracing off (the same \
         binary, the same span). An unsampled invocation's trace header is scanned for \
         `Sampled=1` and nothing more; its span costs what it costs without the feature. A \
         sampled one records the invocation's span and the handler's, and sends them after the \
         response: one datagram to X-Ray, or one OTLP request on a kept-alive connection. \
         lambda_runtime with its OpenTelemetry layer is set up as its OpenTelemetry example \
         does (`tracing-opentelemetry` over the SDK's simple span processor and the stdout \
         exporter, flushed after each invocation, stdout discarded by the harness: it sends \
         nothing over the network), with the same span of its own; it records every \
         invocation.\n\n\
         Rerun: `cargo run --release --locked -p lambda-kit-bench -- traces --write` (needs \
         valgrind).\n{END}"
    );
    out
}
