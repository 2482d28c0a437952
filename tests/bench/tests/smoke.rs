//! The harness in its quick mode, so that it cannot rot: every subject built with the dev
//! profile, a few invocations each (every answer checked by the fake API), a few under
//! callgrind, and the report. No figure is asserted: timing belongs in BENCHMARKS.md.

use std::process::Command;

/// valgrind is needed for the instruction counts; CI must have it, elsewhere the run without
/// it says why it skipped that part.
fn valgrind_available() -> bool {
    let found = Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    #[allow(clippy::disallowed_methods)] // The test's own environment, not a Lambda's.
    let in_ci = std::env::var("CI").is_ok_and(|value| value == "true");
    assert!(
        found || !in_ci,
        "valgrind is missing; install it with `apt-get install valgrind`"
    );
    if !found {
        eprintln!(
            "skipping instruction counts: valgrind is missing (install it with `apt-get install valgrind`)"
        );
    }
    found
}

#[test]
fn the_harness_measures_every_subject_and_writes_its_report() {
    let callgrind = if valgrind_available() { "3" } else { "0" };
    let output = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args([
            "--dev",
            "--no-cargo-lambda",
            "--invocations",
            "30",
            "--callgrind",
            callgrind,
        ])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        report.contains("| | lambda-kit | lambda_runtime 1.5 | raw client (ceiling) |"),
        "{report}"
    );
    for row in [
        "throughput (inv/s)",
        "latency p99 (µs)",
        "peak RSS (KiB)",
        "zip, deflate -9 (bytes)",
    ] {
        let line = report
            .lines()
            .find(|line| line.starts_with(&format!("| {row} |")))
            .unwrap_or_else(|| panic!("no `{row}` row in\n{report}"));
        let cells: Vec<&str> = line
            .split('|')
            .map(str::trim)
            .filter(|cell| !cell.is_empty())
            .collect();
        assert_eq!(cells.len(), 4, "{line}");
        for cell in &cells[1..] {
            assert!(
                cell.parse::<f64>().is_ok_and(|value| value > 0.0),
                "`{row}` has `{cell}`: {line}"
            );
        }
    }
    if callgrind != "0" {
        let line = report
            .lines()
            .find(|line| line.starts_with("| instructions / invocation |"))
            .unwrap();
        assert!(!line.contains('–'), "{line}");
    }
}
