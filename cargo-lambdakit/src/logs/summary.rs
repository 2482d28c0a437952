//! The figures at the end of `logs`: how many events and invocations were read, how many
//! started cold, and the durations' median, 99th percentile and maximum, all from the REPORT
//! lines read (the nearest-rank percentile: the smallest duration at least that share of the
//! invocations took no longer than).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::Event;
use super::line::{Line, millis};

/// What the events read so far add up to.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    events: usize,
    streams: BTreeSet<String>,
    durations: Vec<f64>,
    inits: Vec<f64>,
    max_memory_used_mb: Option<f64>,
    memory_size_mb: Option<f64>,
    billed_ms: f64,
}

/// The median, 99th percentile and maximum of some durations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// The median.
    pub p50: f64,
    /// The 99th percentile.
    pub p99: f64,
    /// The longest.
    pub max: f64,
}

impl Summary {
    /// Counts `event` in.
    pub fn add(&mut self, event: &Event) {
        self.events += 1;
        if !self.streams.contains(&event.stream) {
            self.streams.insert(event.stream.clone());
        }
        if let Line::Report(report) = &event.line {
            self.durations.push(report.duration_ms);
            self.inits.extend(report.init_ms);
            self.billed_ms += report.billed_ms;
            self.max_memory_used_mb = Some(
                self.max_memory_used_mb
                    .map_or(report.max_memory_used_mb, |max| {
                        max.max(report.max_memory_used_mb)
                    }),
            );
            self.memory_size_mb = Some(report.memory_size_mb);
        }
    }

    /// How many invocations reported (REPORT lines read).
    pub fn invocations(&self) -> usize {
        self.durations.len()
    }

    /// How many of them started a new instance.
    pub fn cold_starts(&self) -> usize {
        self.inits.len()
    }

    /// The spread of the invocations' durations; `None` before any REPORT line.
    pub fn durations(&self) -> Option<Spread> {
        spread(&self.durations)
    }

    /// One line for people.
    pub fn render(&self) -> String {
        let mut line = format!(
            "{} {} from {} {}",
            self.events,
            plural(self.events, "event", "events"),
            self.streams.len(),
            plural(self.streams.len(), "stream", "streams"),
        );
        let invocations = self.invocations();
        if invocations == 0 {
            line.push_str("; no REPORT line, so no invocation figures");
            return line;
        }
        line.push_str(&format!(
            "; {invocations} {}, {} cold {}",
            plural(invocations, "invocation", "invocations"),
            self.cold_starts(),
            plural(self.cold_starts(), "start", "starts"),
        ));
        if let Some(inits) = spread(&self.inits) {
            line.push_str(&format!(" (init max {} ms)", millis(inits.max)));
        }
        if let Some(durations) = self.durations() {
            line.push_str(&format!(
                "; duration p50 {} ms, p99 {} ms, max {} ms",
                millis(durations.p50),
                millis(durations.p99),
                millis(durations.max)
            ));
        }
        line.push_str(&format!("; billed {} ms", self.billed_ms));
        if let (Some(used), Some(size)) = (self.max_memory_used_mb, self.memory_size_mb) {
            line.push_str(&format!("; memory used up to {used}/{size} MB"));
        }
        line
    }

    /// The figures for `--output json`.
    pub fn to_json(&self) -> Value {
        let spread_json = |spread: Option<Spread>| {
            spread.map(|spread| json!({"p50": spread.p50, "p99": spread.p99, "max": spread.max}))
        };
        json!({
            "events": self.events,
            "streams": self.streams.len(),
            "invocations": self.invocations(),
            "cold_starts": self.cold_starts(),
            "duration_ms": spread_json(self.durations()),
            "init_duration_ms": spread_json(spread(&self.inits)),
            "billed_duration_ms": self.billed_ms,
            "max_memory_used_mb": self.max_memory_used_mb,
            "memory_size_mb": self.memory_size_mb,
        })
    }
}

/// The nearest-rank median, 99th percentile and maximum of `values`.
fn spread(values: &[f64]) -> Option<Spread> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = |percent: usize| {
        // The smallest rank covering `percent`% of the values: ceil(p * n / 100), from 1.
        let rank = (percent * sorted.len()).div_ceil(100).max(1);
        sorted[rank - 1]
    };
    Some(Spread {
        p50: rank(50),
        p99: rank(99),
        max: sorted[sorted.len() - 1],
    })
}

fn plural<'a>(count: usize, one: &'a str, many: &'a str) -> &'a str {
    if count == 1 { one } else { many }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        assert_eq!(spread(&[]), None);
        assert_eq!(
            spread(&[7.0]),
            Some(Spread {
                p50: 7.0,
                p99: 7.0,
                max: 7.0
            })
        );
        let four = spread(&[40.0, 10.0, 30.0, 20.0]).unwrap();
        assert_eq!((four.p50, four.p99, four.max), (20.0, 40.0, 40.0));
        let hundred: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let spread = spread(&hundred).unwrap();
        assert_eq!((spread.p50, spread.p99, spread.max), (50.0, 99.0, 100.0));
    }

    #[test]
    fn the_summary_counts_reports_and_cold_starts() {
        let event = |stream: &str, message: &str| Event::new("1", 0, stream, message);
        let mut summary = Summary::default();
        summary.add(&event("a", "START RequestId: 1 Version: $LATEST"));
        summary.add(&event("a", "REPORT RequestId: 1\tDuration: 10.00 ms\tBilled Duration: 11 ms\tMemory Size: 128 MB\tMax Memory Used: 60 MB\tInit Duration: 100.00 ms\t"));
        summary.add(&event("b", "REPORT RequestId: 2\tDuration: 30.50 ms\tBilled Duration: 31 ms\tMemory Size: 128 MB\tMax Memory Used: 64 MB\t"));
        assert_eq!(
            summary.render(),
            "3 events from 2 streams; 2 invocations, 1 cold start (init max 100.00 ms); duration p50 10.00 ms, p99 30.50 ms, max 30.50 ms; billed 42 ms; memory used up to 64/128 MB"
        );
        assert_eq!(summary.to_json()["duration_ms"]["p99"], 30.5);
        assert_eq!(
            Summary::default().render(),
            "0 events from 0 streams; no REPORT line, so no invocation figures"
        );
    }
}
