//! What an invocation would cost on Lambda, from the price table in `prices.json` (data, so
//! that a price change is a data change): billed duration times memory times the
//! architecture's GB-second price, plus the per-request price.

use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Prices {
    region: String,
    per_request_usd: f64,
    per_gb_second_usd: PerArchitecture,
}

#[derive(Debug, Deserialize)]
struct PerArchitecture {
    x86_64: f64,
    arm64: f64,
}

/// The `COST` line printed after an invocation's `REPORT`.
pub(crate) fn line(
    request_id: &str,
    billed: Duration,
    memory_mb: u32,
    architecture: &str,
) -> String {
    match usd(billed, memory_mb, architecture) {
        Ok((usd, region)) => format!(
            "COST RequestId: {request_id}\tEstimated: ${usd:.10} per invocation, ${:.2} per million ({architecture}, {region} prices)",
            usd * 1e6
        ),
        Err(problem) => format!("COST RequestId: {request_id}\tnot estimated: {problem}"),
    }
}

fn usd(billed: Duration, memory_mb: u32, architecture: &str) -> Result<(f64, String), String> {
    let prices: Prices = serde_json::from_str(include_str!("prices.json"))
        .map_err(|error| format!("the price table is invalid: {error}"))?;
    let per_gb_second = match architecture {
        "x86_64" => prices.per_gb_second_usd.x86_64,
        "arm64" => prices.per_gb_second_usd.arm64,
        other => return Err(format!("no price for architecture `{other}`")),
    };
    let gb_seconds = billed.as_secs_f64() * f64::from(memory_mb) / 1024.0;
    Ok((
        gb_seconds * per_gb_second + prices.per_request_usd,
        prices.region,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_is_duration_times_memory_plus_the_request() {
        // 100 ms at 1024 MB on x86_64: 0.1 GB-s.
        let (x86, region) = usd(Duration::from_millis(100), 1024, "x86_64").unwrap();
        assert!(
            (x86 - (0.1 * 0.0000166667 + 0.0000002)).abs() < 1e-15,
            "{x86}"
        );
        assert_eq!(region, "us-east-1");
        let (arm, _) = usd(Duration::from_millis(100), 1024, "arm64").unwrap();
        assert!(arm < x86);
        assert!(line("id", Duration::from_millis(1), 128, "x86_64").starts_with("COST RequestId: id\tEstimated: $0.0000002021 per invocation, $0.20 per million (x86_64"));
        assert!(
            line("id", Duration::from_millis(1), 128, "sparc")
                .contains("not estimated: no price for architecture `sparc`")
        );
    }
}
