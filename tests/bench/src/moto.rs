//! moto in server mode, the AWS the `deploy` and `sdk` benchmarks run against.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lambda_kit_bench::Error;

/// moto in server mode on a free port of 127.0.0.1 (with AWS's managed IAM policies, as the
/// tests start it), stopped when dropped.
pub(crate) struct Moto {
    child: Child,
    /// Its `http://127.0.0.1:PORT`.
    pub(crate) endpoint: String,
}

impl Moto {
    pub(crate) fn start() -> Result<Self, Error> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| {
                format!(
                    "cannot start moto ({error}); install it with `pip install \"moto[server]\"`"
                )
            })?;
        let mut moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = moto.child.try_wait()? {
                return Err(format!(
                    "moto exited with {status}; install it with `pip install \"moto[server]\"`"
                )
                .into());
            }
            if started.elapsed() > Duration::from_secs(60) {
                return Err("moto did not listen within a minute".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
