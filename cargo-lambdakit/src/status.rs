//! What a long step (cargo's build, an upload, waiting for Lambda) is doing, on stderr: on a
//! terminal, one live line redrawn in place with the time so far (`⠹ uploading `orders`
//! (4.1 MB) 1.3 s`), as cargo and other modern tools do; elsewhere (a pipe, a CI log) plain
//! lines, one when the step starts and one when it ends (also with `--quiet` and `--output
//! json`, whose readers are logs and programs). Lines printed
//! while a step runs (cargo's warnings, notes) go above the live line, never through it.

use std::io::{IsTerminal as _, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the live line is redrawn.
const TICK: Duration = Duration::from_millis(100);

/// The spinner's frames.
const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// How steps are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    /// A live line, redrawn in place (stderr is a terminal).
    Live,
    /// A line when a step starts and one when it ends.
    #[default]
    Plain,
}

impl Style {
    /// Live on a terminal, else (and with `plain`: `--quiet`, `--output json`) plain lines.
    pub fn for_stderr(plain: bool) -> Self {
        if !plain && std::io::stderr().is_terminal() {
            Self::Live
        } else {
            Self::Plain
        }
    }

    /// Starts a step described by `what` (`uploading `orders` (4.1 MB)`).
    pub fn start(self, what: impl Into<String>) -> Step {
        let shared = Arc::new(Shared {
            what: what.into(),
            started: Instant::now(),
            detail: Mutex::new(String::new()),
            stop: AtomicBool::new(false),
        });
        let ticker = match self {
            Self::Live => {
                let shared = Arc::clone(&shared);
                Some(std::thread::spawn(move || {
                    let mut frame = 0;
                    while !shared.stop.load(Ordering::Acquire) {
                        shared.draw(FRAMES[frame % FRAMES.len()]);
                        frame += 1;
                        std::thread::park_timeout(TICK);
                    }
                }))
            }
            Self::Plain => {
                eprintln!("{} ...", shared.what);
                None
            }
        };
        Step {
            style: self,
            shared,
            ticker,
        }
    }
}

/// What the step's line shows, shared with the thread that redraws it.
#[derive(Debug)]
struct Shared {
    what: String,
    started: Instant,
    /// What it is at now (`Compiling serde v1.0.229`); the lock is also the terminal's, so
    /// that a line printed above never meets a redraw half-way.
    detail: Mutex<String>,
    stop: AtomicBool,
}

impl Shared {
    fn draw(&self, frame: char) {
        let detail = self
            .detail
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let elapsed = self.started.elapsed().as_secs_f64();
        let mut line = format!("{frame} {}", self.what);
        if !detail.is_empty() {
            line.push_str(" · ");
            line.push_str(&detail);
        }
        let mut stderr = std::io::stderr().lock();
        // Back to the line's start, clear it, redraw; no newline, so the next draw replaces it.
        let _ = write!(stderr, "\r\x1b[2K{line} {elapsed:.1} s");
        let _ = stderr.flush();
    }
}

/// A step under way; ended by [`Step::finish`], or when dropped (an error on the way), which
/// clears its live line.
#[derive(Debug)]
pub struct Step {
    style: Style,
    shared: Arc<Shared>,
    /// The thread that redraws the live line; stopped and joined when the step ends.
    ticker: Option<JoinHandle<()>>,
}

impl Step {
    /// Shows what the step is at now (the live line only).
    pub fn detail(&self, text: &str) {
        if self.style == Style::Live {
            let mut detail = self
                .shared
                .detail
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            text.clone_into(&mut detail);
        }
    }

    /// Prints `text` as a line of its own, above the live line.
    pub fn line(&self, text: &str) {
        match self.style {
            Style::Live => {
                let _held = self
                    .shared
                    .detail
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let mut stderr = std::io::stderr().lock();
                let _ = writeln!(stderr, "\r\x1b[2K{text}");
            }
            Style::Plain => eprintln!("{text}"),
        }
    }

    /// Ends the step with one line: `{what}: {outcome} in 1.3 s`.
    pub fn finish(mut self, outcome: &str) {
        self.stop();
        eprintln!(
            "{}: {outcome} in {:.1} s",
            self.shared.what,
            self.shared.started.elapsed().as_secs_f64()
        );
    }

    /// Stops the live line's thread and clears the line.
    fn stop(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            self.shared.stop.store(true, Ordering::Release);
            ticker.thread().unpark();
            let _ = ticker.join();
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "\r\x1b[2K");
            let _ = stderr.flush();
        }
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        self.stop();
    }
}
