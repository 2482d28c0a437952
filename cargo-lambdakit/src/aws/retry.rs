//! Waiting on AWS without fixed sleeps: calls retried on the specific errors that mean "not
//! yet" (a function still updating, a new role not yet visible to Lambda), with exponential
//! backoff and an overall limit.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// The first pause, doubled after each attempt up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// Backoff with a deadline.
#[derive(Debug)]
pub struct Backoff {
    pause: Duration,
    deadline: Instant,
}

impl Backoff {
    /// Backoff that gives up after `limit`.
    pub fn new(limit: Duration) -> Self {
        Self {
            pause: FIRST_PAUSE,
            deadline: Instant::now() + limit,
        }
    }

    /// Sleeps before the next attempt; `false` when the deadline has passed instead.
    pub async fn wait(&mut self) -> bool {
        if Instant::now() + self.pause > self.deadline {
            return false;
        }
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(MAX_PAUSE);
        true
    }
}

/// Runs `attempt` until it succeeds, fails with an error `again` does not accept, or `limit`
/// has passed (then the last error is returned).
///
/// # Errors
///
/// The last attempt's error.
pub async fn retry<T, E, F, Fut>(
    limit: Duration,
    mut attempt: F,
    again: impl Fn(&E) -> bool,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = Backoff::new(limit);
    loop {
        match attempt().await {
            Err(error) if again(&error) && backoff.wait().await => {}
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn retries_only_what_it_is_told_to_until_the_deadline() {
        let calls = Cell::new(0);
        let result: Result<u32, &str> = retry(
            Duration::from_secs(60),
            || {
                calls.set(calls.get() + 1);
                let call = calls.get();
                async move { if call < 4 { Err("conflict") } else { Ok(call) } }
            },
            |error| *error == "conflict",
        )
        .await;
        assert_eq!(result, Ok(4));

        calls.set(0);
        let result: Result<u32, &str> = retry(
            Duration::from_secs(60),
            || {
                calls.set(calls.get() + 1);
                async { Err("denied") }
            },
            |error| *error == "conflict",
        )
        .await;
        assert_eq!((result, calls.get()), (Err("denied"), 1));

        let started = tokio::time::Instant::now();
        let result: Result<u32, &str> = retry(
            Duration::from_secs(2),
            || async { Err("conflict") },
            |error| *error == "conflict",
        )
        .await;
        assert_eq!(result, Err("conflict"));
        assert!(started.elapsed() <= Duration::from_secs(2));
    }
}
