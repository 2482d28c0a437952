//! A `cargo lambdakit serve` of `tests/functions` for a test, and a raw HTTP client for it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub(crate) fn lambdakit() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cargo-lambdakit"));
    command.arg("lambdakit");
    command
}

/// A running `serve`, stopped when dropped.
pub(crate) struct Serve {
    child: Child,
    pub(crate) address: SocketAddr,
    output: Arc<Mutex<Vec<String>>>,
    errors: Arc<Mutex<Vec<String>>>,
    scratch: Option<PathBuf>,
}

impl Serve {
    /// Serves the functions of `package` on a free port.
    pub(crate) fn start(package: &str) -> Self {
        Self::start_with(package, &[])
    }

    /// [`Serve::start`] with more options.
    pub(crate) fn start_with(package: &str, options: &[&str]) -> Self {
        let mut command = lambdakit();
        command
            .arg("serve")
            .arg("--manifest-path")
            .arg(workspace().join("Cargo.toml"))
            .args(["-p", package, "--locked", "--port", "0"])
            .args(options);
        Self::spawn(command)
    }

    /// Runs `command` (a `serve` or `watch` on port 0) and waits until it serves.
    pub(crate) fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let errors = Arc::new(Mutex::new(Vec::new()));
        let error_lines = BufReader::new(child.stderr.take().unwrap());
        let collected_errors = Arc::clone(&errors);
        // Passed on to the test's stderr as it comes (cargo's progress, warnings), and kept.
        std::thread::spawn(move || {
            for line in error_lines.lines().map_while(Result::ok) {
                eprintln!("{line}");
                collected_errors.lock().unwrap().push(line);
            }
        });
        let output = Arc::new(Mutex::new(Vec::new()));
        let (address_tx, address_rx) = mpsc::channel();
        let lines = BufReader::new(child.stdout.take().unwrap());
        let collected = Arc::clone(&output);
        // Reads the output for as long as `serve` runs, so its pipe never fills.
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("lambdakit: serving ") {
                    let address = rest
                        .rsplit_once("http://")
                        .map(|(_, address)| address.to_owned());
                    let _ = address_tx.send(address);
                }
                collected.lock().unwrap().push(line);
            }
        });
        // The first run builds the functions.
        let address = address_rx
            .recv_timeout(Duration::from_secs(300))
            .unwrap()
            .unwrap();
        Self {
            child,
            address: address.parse().unwrap(),
            output,
            errors,
            scratch: None,
        }
    }

    /// Serves one function, `name`, whose bootstrap is the shell `script` (written to a
    /// scratch directory, removed when the serve is dropped).
    pub(crate) fn script(name: &str, script: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("lambdakit-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bootstrap = executable_script(&dir.join("bootstrap"), script);
        let mut command = lambdakit();
        command
            .args(["serve", "--port", "0", "--bootstrap"])
            .arg(format!("{name}={}", bootstrap.display()));
        let mut serve = Self::spawn(command);
        serve.scratch = Some(dir);
        serve
    }

    /// What `serve` printed so far.
    pub(crate) fn output(&self) -> Vec<String> {
        self.output.lock().unwrap().clone()
    }

    /// Kills `serve` now (as a crash would end it) and waits for it to exit.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// What `serve` wrote to stderr so far.
    pub(crate) fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }

    /// What `serve` wrote to stderr, once every one of `texts` is in it: stderr comes through
    /// a pipe of its own, which may lag behind the stdout line `serve` was seen to start by.
    pub(crate) fn errors_with(&self, texts: &[&str]) -> Vec<String> {
        lines_with(&self.errors, "stderr", texts)
    }

    /// What `serve` printed, once every one of `texts` is in it (a function's lines may come
    /// after the invocation's answer).
    pub(crate) fn output_with(&self, texts: &[&str]) -> Vec<String> {
        lines_with(&self.output, "output", texts)
    }

    /// The process id of `serve` itself.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `--endpoint` for `invoke`.
    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }
}

/// `lines`, once every one of `texts` is in them; fails after a minute naming `what` lacked one.
/// How long a test waits for what serve's event sources do (builds and moto are slow on a busy
/// machine; nothing is timed).
pub(crate) const PATIENCE: Duration = Duration::from_secs(180);

/// Waits until `done` says yes, failing after [`PATIENCE`] with `what`.
pub(crate) fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < PATIENCE, "waited in vain for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn lines_with(lines: &Mutex<Vec<String>>, what: &str, texts: &[&str]) -> Vec<String> {
    let started = std::time::Instant::now();
    loop {
        let lines = lines.lock().unwrap().clone();
        let all = lines.join("\n");
        if texts.iter().all(|text| all.contains(text)) {
            return lines;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "serve's {what} lacks one of {texts:?}: {all}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        // SIGTERM first, as Ctrl-C would: serve then stops its instances, which run in process
        // groups of their own and would outlive a SIGKILL of serve.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        if let Some(dir) = &self.scratch {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Writes the shell `script` to `path` as an executable, and returns the path.
pub(crate) fn executable_script(path: &std::path::Path, script: &str) -> PathBuf {
    std::fs::write(path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path.to_owned()
}

/// A response as a raw HTTP client reads it.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// `POST /2015-03-31/functions/{name}/invocations`, as an AWS SDK sends it.
pub(crate) fn invoke(
    address: SocketAddr,
    name: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut request = format!(
        "POST /2015-03-31/functions/{name}/invocations HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (header, value) in headers {
        request.push_str(&format!("{header}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    read_answer(stream)
}

/// `GET path`.
pub(crate) fn get(address: SocketAddr, path: &str) -> Answer {
    request(address, &format!("GET {path} HTTP/1.1"), b"")
}

/// A request whose `head` is its request line and any headers of its own, with `body`.
pub(crate) fn request(address: SocketAddr, head: &str, body: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "{head}\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    read_answer(stream)
}

pub(crate) fn read_answer(mut stream: TcpStream) -> Answer {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    parse_answer(&raw)
}

/// A whole HTTP/1.1 response (its connection closed after it), read.
pub(crate) fn parse_answer(raw: &[u8]) -> Answer {
    let head_end = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap();
    let head = String::from_utf8(raw[..head_end].to_vec()).unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: raw[head_end + 4..].to_vec(),
    }
}

/// Whether a tool a test needs is here (`found`). Under CI it must be, since the test command
/// installs it; elsewhere the test skips, saying what to install.
pub(crate) fn tool(found: bool, what: &str, install: &str) -> bool {
    #[allow(clippy::disallowed_methods)] // The test's own environment.
    let in_ci = std::env::var("CI").is_ok_and(|value| value == "true");
    assert!(found || !in_ci, "{what} is missing: {install}");
    if !found {
        eprintln!("skipping: {what} is missing ({install})");
    }
    found
}

/// Whether `program ARGS` runs and succeeds.
pub(crate) fn works(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|output| output.status.success())
}

/// Whether rustup has the Rust target `triple`.
pub(crate) fn rust_target_installed(triple: &str) -> bool {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|output| {
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .any(|line| line == triple)
        })
}
