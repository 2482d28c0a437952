//! The soak test (issue #17): `serve` on loopback under a few thousand mixed invocations from
//! concurrent callers (synchronous ones that answer, fail, crash, time out or answer 1 MiB,
//! callers that hang up mid-invocation, bodies over Lambda's limits, `Event` invocations that
//! run or fail), each carrying an id of its own that the function records as it runs. At the
//! end: every synchronous call got the answer its kind calls for, every invocation ran as many
//! times as it should (once; an `Event` one that fails three times, then reported dropped by
//! its request id), none ran twice or went missing, and serve's memory is about what it was
//! after a warm-up round. `RELIABILITY.md` has the figures of a run and how to run it bigger
//! (`LAMBDAKIT_SOAK_INVOCATIONS`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::task::JoinSet;

use crate::support::{Answer, Serve, executable_script, lambdakit, parse_answer};

/// The function, on the Runtime API's wire format (see the file).
const RUNTIME: &str = include_str!("python/soak_runtime.py");
/// The function's synchronous invocations, and its `Event` ones (a pool each).
const SYNC: &str = "soak";
const EVENTS: &str = "soak-events";
/// Lambda's payload limits (AWS "Lambda quotas"): 6 MiB synchronous, 1 MiB `Event`.
const MAX_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;
const MAX_EVENT_PAYLOAD: usize = 1024 * 1024;
/// What `large` answers with (the function's `LARGE`).
const LARGE: usize = 1024 * 1024;
/// Callers sending at once.
const CALLERS: usize = 6;
/// How many invocations by default (`LAMBDAKIT_SOAK_INVOCATIONS` over it), and in the
/// warm-up round.
const DEFAULT_INVOCATIONS: usize = 2_000;
const WARM_UP: usize = 200;
/// How much serve's resident memory may grow from after the warm-up to the end. Generous:
/// allocators keep freed pages, and what this catches is a leak per invocation (a few KiB of
/// each of thousands, or a body kept).
const RSS_GROWTH_LIMIT_KIB: u64 = 64 * 1024;

/// What an invocation does, and how it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// Synchronous, answers.
    Ok,
    /// Synchronous, reports an error.
    Error,
    /// Synchronous, the function exits.
    Crash,
    /// Synchronous, the function sleeps past its timeout (2 s: 1 s would time out answers
    /// that a loaded machine delays).
    Timeout,
    /// Synchronous, a 1 MiB answer.
    Large,
    /// Synchronous, and the caller hangs up once it runs.
    HangUp,
    /// Synchronous, a body one byte over the limit.
    Oversized,
    /// `Event`, a body one byte over its limit.
    OversizedEvent,
    /// `Event`, answers.
    Event,
    /// `Event`, reports an error (each of its three attempts).
    FailingEvent,
}

impl Kind {
    /// Each kind's share of a hundred invocations.
    const MIX: [(Self, usize); 10] = [
        (Self::Ok, 46),
        (Self::Error, 6),
        (Self::Crash, 3),
        (Self::Timeout, 1),
        (Self::Large, 4),
        (Self::HangUp, 4),
        (Self::Oversized, 2),
        (Self::OversizedEvent, 2),
        (Self::Event, 28),
        (Self::FailingEvent, 4),
    ];

    /// The function's action.
    fn action(self) -> &'static str {
        match self {
            Self::Ok | Self::Event | Self::Oversized | Self::OversizedEvent => "ok",
            Self::Error | Self::FailingEvent => "error",
            Self::Crash => "crash",
            Self::Timeout => "sleep",
            Self::Large => "large",
            Self::HangUp => "slow",
        }
    }

    fn is_event(self) -> bool {
        matches!(
            self,
            Self::Event | Self::FailingEvent | Self::OversizedEvent
        )
    }

    /// How many times the function runs it.
    fn runs(self) -> usize {
        match self {
            Self::Oversized | Self::OversizedEvent => 0,
            // Lambda's two retries.
            Self::FailingEvent => 3,
            _ => 1,
        }
    }
}

/// One invocation to send.
#[derive(Debug, Clone)]
struct Job {
    id: String,
    kind: Kind,
}

/// What a caller saw of it.
#[derive(Debug)]
struct Seen {
    job: Job,
    /// The answer (none for a caller that hung up).
    answer: Option<Answer>,
    /// How many times it was throttled (`429`) and sent again.
    throttled: usize,
}

/// `count` invocations of the mix, ids prefixed `round`, in an order shuffled the same way
/// every run.
fn jobs(round: &str, count: usize) -> Vec<Job> {
    let mut jobs: Vec<Job> = (0..count)
        .map(|n| {
            let slot = n % 100;
            let mut upto = 0;
            let kind = Kind::MIX
                .iter()
                .find(|(_, share)| {
                    upto += share;
                    slot < upto
                })
                .map_or(Kind::Ok, |(kind, _)| *kind);
            Job {
                id: format!("{round}-{n}"),
                kind,
            }
        })
        .collect();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for at in (1..jobs.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        jobs.swap(at, (state % (at as u64 + 1)) as usize);
    }
    jobs
}

/// The body of `job`: its event, padded one byte past its limit when it is to be refused.
fn body(job: &Job) -> Vec<u8> {
    let event = serde_json::json!({"id": job.id, "do": job.kind.action()}).to_string();
    let limit = match job.kind {
        Kind::Oversized => MAX_SYNC_PAYLOAD,
        Kind::OversizedEvent => MAX_EVENT_PAYLOAD,
        _ => return event.into_bytes(),
    };
    let mut padded = serde_json::json!({"id": job.id, "do": "ok", "pad": ""})
        .to_string()
        .into_bytes();
    let pad = limit + 1 - padded.len();
    padded.splice(
        padded.len() - 2..padded.len() - 2,
        std::iter::repeat_n(b'x', pad),
    );
    assert_eq!(padded.len(), limit + 1);
    padded
}

/// Sends `job` to serve at `address`, again while it is throttled; hangs up on a `HangUp` once
/// the function has begun it (`dir` holds its mark).
async fn call(address: SocketAddr, dir: &Path, job: Job) -> Seen {
    let body = body(&job);
    let (function, invocation_type) = if job.kind.is_event() {
        (EVENTS, "Event")
    } else {
        (SYNC, "RequestResponse")
    };
    let head = format!(
        "POST /2015-03-31/functions/{function}/invocations HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nX-Amz-Invocation-Type: {invocation_type}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut throttled = 0;
    loop {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        // serve may answer a body over the limit before it is all written.
        let _ = stream.write_all(&body).await;
        if job.kind == Kind::HangUp {
            let started = dir.join(format!("started-{}", job.id));
            let waiting = Instant::now();
            while !started.exists() {
                // An invocation throttled is answered at once: send it again.
                let mut peek = [0; 16];
                if let Ok(Ok(read)) =
                    tokio::time::timeout(Duration::from_millis(5), stream.peek(&mut peek)).await
                    && peek[..read].starts_with(b"HTTP/1.1 429")
                {
                    break;
                }
                assert!(
                    waiting.elapsed() < Duration::from_secs(60),
                    "{} never began",
                    job.id
                );
            }
            if started.exists() {
                // The caller goes away mid-invocation.
                drop(stream);
                return Seen {
                    job,
                    answer: None,
                    throttled,
                };
            }
        }
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw).await;
        let answer = parse_answer(&raw);
        if answer.status == 429 {
            throttled += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        return Seen {
            job,
            answer: Some(answer),
            throttled,
        };
    }
}

/// Sends `jobs` from [`CALLERS`] callers at once; what each saw.
async fn send_all(address: SocketAddr, dir: &Path, jobs: Vec<Job>) -> Vec<Seen> {
    let queue = Arc::new(Mutex::new(jobs));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut callers = JoinSet::new();
    for _ in 0..CALLERS {
        let (queue, seen, dir) = (Arc::clone(&queue), Arc::clone(&seen), dir.to_owned());
        callers.spawn(async move {
            loop {
                let Some(job) = queue.lock().unwrap().pop() else {
                    return;
                };
                let answer = call(address, &dir, job).await;
                seen.lock().unwrap().push(answer);
            }
        });
    }
    while let Some(ended) = callers.join_next().await {
        ended.unwrap();
    }
    std::mem::take(&mut *seen.lock().unwrap())
}

/// What the function recorded: for each id, the request ids of its runs, and how many times it
/// reached its `end`.
#[derive(Debug, Default)]
struct Runs {
    ran: BTreeMap<String, Vec<String>>,
    ended: BTreeMap<String, usize>,
}

fn runs(record: &Path) -> Runs {
    let mut runs = Runs::default();
    for line in std::fs::read_to_string(record).unwrap_or_default().lines() {
        match line.split(' ').collect::<Vec<_>>()[..] {
            ["ran", id, request_id] => runs
                .ran
                .entry(id.to_owned())
                .or_default()
                .push(request_id.to_owned()),
            ["end", id] => *runs.ended.entry(id.to_owned()).or_default() += 1,
            _ => panic!("the record has a line of no shape: {line:?}"),
        }
    }
    runs
}

/// serve's resident memory, in KiB (`VmRSS` of `/proc/PID/status`).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Checks what the callers saw of `seen` and what the function recorded, once every `Event`
/// invocation has run (or been dropped); returns counts by kind.
fn check(round: &str, seen: &[Seen], record: &Path, serve: &Serve) -> BTreeMap<Kind, usize> {
    // Every `Event` invocation accepted, by its request id.
    let accepted: BTreeMap<&str, &Seen> = seen
        .iter()
        .filter(|seen| matches!(seen.job.kind, Kind::Event | Kind::FailingEvent))
        .map(|seen| {
            let answer = seen.answer.as_ref().unwrap();
            assert_eq!(answer.status, 202, "{}: {answer:?}", seen.job.id);
            (answer.header("x-amzn-requestid").unwrap(), seen)
        })
        .collect();
    // Wait for the queue to drain: each runs its attempts, a failing one is then dropped with
    // a line naming its request id. A bound, not a measure: it fails only if one never comes.
    let failing: Vec<&str> = accepted
        .iter()
        .filter(|(_, seen)| seen.job.kind == Kind::FailingEvent)
        .map(|(request_id, _)| *request_id)
        .collect();
    let drained = Instant::now();
    let runs = loop {
        let runs = runs(record);
        let all_ran = accepted
            .values()
            .all(|seen| runs.ran.get(&seen.job.id).map_or(0, Vec::len) >= seen.job.kind.runs());
        let errors = serve.errors().join("\n");
        let all_reported = failing.iter().all(|request_id| {
            errors.contains(&format!("dropped asynchronous invocation {request_id} "))
        });
        if all_ran && all_reported {
            break runs;
        }
        assert!(
            drained.elapsed() < Duration::from_secs(120),
            "Event invocations neither ran nor were reported: {}",
            accepted
                .values()
                .filter(|seen| runs.ran.get(&seen.job.id).map_or(0, Vec::len)
                    < seen.job.kind.runs())
                .map(|seen| seen.job.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        std::thread::sleep(Duration::from_millis(100));
    };

    let mut counts = BTreeMap::new();
    for seen in seen {
        let Job { id, kind } = &seen.job;
        *counts.entry(*kind).or_default() += 1;
        let ran = runs.ran.get(id).cloned().unwrap_or_default();
        // Not lost, not duplicated: each ran exactly as often as its kind runs.
        assert_eq!(ran.len(), kind.runs(), "{id} ({kind:?}) ran {ran:?}");
        let Some(answer) = &seen.answer else {
            // It ran to its end after its caller went away.
            assert_eq!(runs.ended.get(id), Some(&1), "{id} hung up");
            continue;
        };
        let text = || String::from_utf8_lossy(&answer.body).into_owned();
        let error_type = || answer.json()["errorType"].as_str().map(str::to_owned);
        match kind {
            Kind::Oversized | Kind::OversizedEvent => {
                assert_eq!(answer.status, 413, "{id}: {}", text());
                continue;
            }
            Kind::Event | Kind::FailingEvent => {
                let request_id = answer.header("x-amzn-requestid").unwrap();
                // Every attempt is of the request id its caller was given.
                assert!(ran.iter().all(|ran| ran == request_id), "{id}: {ran:?}");
                continue;
            }
            _ => {}
        }
        assert_eq!(answer.status, 200, "{id} ({kind:?}): {}", text());
        assert_eq!(
            answer.header("x-amzn-requestid"),
            Some(ran[0].as_str()),
            "{id} answered for another invocation"
        );
        let failed = answer.header("x-amz-function-error");
        match kind {
            Kind::Ok | Kind::Large => {
                assert_eq!(failed, None, "{id}: {}", text());
                let answered = answer.json();
                assert_eq!(answered["id"], id.as_str(), "{id} got another's answer");
                if *kind == Kind::Large {
                    assert_eq!(answered["fill"].as_str().map(str::len), Some(LARGE));
                }
            }
            Kind::Error | Kind::Crash | Kind::Timeout => {
                assert_eq!(failed, Some("Unhandled"), "{id}: {}", text());
                let expected = match kind {
                    Kind::Error => "Soak",
                    Kind::Crash => "Runtime.ExitError",
                    _ => "Sandbox.Timedout",
                };
                assert_eq!(error_type().as_deref(), Some(expected), "{id}: {}", text());
            }
            _ => unreachable!("{kind:?} is answered above"),
        }
    }
    // Nothing of the round ran that was not sent.
    let sent: std::collections::BTreeSet<&str> =
        seen.iter().map(|seen| seen.job.id.as_str()).collect();
    let strangers: Vec<&String> = runs
        .ran
        .keys()
        .filter(|id| id.starts_with(&format!("{round}-")) && !sent.contains(id.as_str()))
        .collect();
    assert!(strangers.is_empty(), "ran but never sent: {strangers:?}");
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_mixed_invocations_lose_nothing_and_leak_nothing() {
    #[allow(clippy::disallowed_methods)] // The test's own setting.
    let invocations = std::env::var("LAMBDAKIT_SOAK_INVOCATIONS")
        .ok()
        .and_then(|count| count.parse().ok())
        .unwrap_or(DEFAULT_INVOCATIONS);
    let dir = std::env::temp_dir().join(format!("lambdakit-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let scratch = Scratch(dir.clone());
    std::fs::write(dir.join("runtime.py"), RUNTIME).unwrap();
    let record = dir.join("record");
    let bootstrap = executable_script(
        &dir.join("bootstrap"),
        &format!(
            "export SOAK_RECORD={record:?} SOAK_DIR={dir:?}\nexec python3 {:?}",
            dir.join("runtime.py")
        ),
    );
    let mut command = lambdakit();
    command
        .args([
            "serve",
            "--port",
            "0",
            "--timeout",
            "2",
            "--concurrency",
            "6",
        ])
        .arg("--bootstrap")
        .arg(format!("{SYNC}={}", bootstrap.display()))
        .arg("--bootstrap")
        .arg(format!("{EVENTS}={}", bootstrap.display()))
        // Retries come 50 ms, then 100 ms, after a failure, not Lambda's minutes.
        .env("LAMBDAKIT_ASYNC_RETRY_DELAY_MS", "50");
    let serve = Serve::spawn(command);
    let address = serve.address;

    let started = Instant::now();
    let warm_up = send_all(address, &scratch.0, jobs("warm", WARM_UP)).await;
    check("warm", &warm_up, &record, &serve);
    let before = rss_kib(serve.pid());

    let seen = send_all(address, &scratch.0, jobs("soak", invocations)).await;
    let counts = check("soak", &seen, &record, &serve);
    let after = rss_kib(serve.pid());
    let throttled: usize = seen.iter().map(|seen| seen.throttled).sum();
    eprintln!(
        "soak: {} invocations after {WARM_UP} to warm up, {CALLERS} callers, in {:.1} s: {counts:?}; {throttled} throttled (429) and sent again; lost 0, duplicated 0; serve's RSS {} KiB after the warm-up, {} KiB at the end",
        seen.len(),
        started.elapsed().as_secs_f64(),
        before,
        after
    );
    assert!(
        after <= before + RSS_GROWTH_LIMIT_KIB,
        "serve's memory grew from {before} KiB to {after} KiB over {} invocations",
        seen.len()
    );
}

/// The soak's directory, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
