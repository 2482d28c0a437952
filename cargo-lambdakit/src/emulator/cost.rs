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

/// How Lambda bills a function's invocations.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Billing {
    /// By the request and the billed duration times memory (Lambda's own capacity).
    Duration(Duration),
    /// By the request; the capacity provider's instances are billed by EC2, with a
    /// management fee, whatever the invocations do (Lambda Managed Instances).
    ManagedInstances,
}

impl Billing {
    /// The duration billed, if any is.
    fn duration(self) -> Option<Duration> {
        match self {
            Self::Duration(billed) => Some(billed),
            Self::ManagedInstances => None,
        }
    }
}

/// The `COST` line printed after an invocation's `REPORT`.
pub(crate) fn line(
    request_id: &str,
    billing: Billing,
    memory_mb: u32,
    architecture: &str,
) -> String {
    match usd(billing.duration(), memory_mb, architecture) {
        Ok((usd, region)) => {
            let what = match billing {
                Billing::Duration(_) => format!("{architecture}, {region} prices"),
                Billing::ManagedInstances => format!(
                    "the request only, {region} prices: the capacity provider's EC2 instances are billed apart"
                ),
            };
            format!(
                "COST RequestId: {request_id}\tEstimated: ${usd:.10} per invocation, ${:.2} per million ({what})",
                usd * 1e6
            )
        }
        Err(problem) => format!("COST RequestId: {request_id}\tnot estimated: {problem}"),
    }
}

/// What an invocation billed so would cost, in US dollars; `None` without a price for
/// `architecture`.
pub(crate) fn estimate(billing: Billing, memory_mb: u32, architecture: &str) -> Option<f64> {
    usd(billing.duration(), memory_mb, architecture)
        .ok()
        .map(|(usd, _)| usd)
}

/// The request's price, plus `billed` duration's at `memory_mb` when there is one.
fn usd(
    billed: Option<Duration>,
    memory_mb: u32,
    architecture: &str,
) -> Result<(f64, String), String> {
    let prices: Prices = serde_json::from_str(include_str!("prices.json"))
        .map_err(|error| format!("the price table is invalid: {error}"))?;
    let per_gb_second = match architecture {
        "x86_64" => prices.per_gb_second_usd.x86_64,
        "arm64" => prices.per_gb_second_usd.arm64,
        other => return Err(format!("no price for architecture `{other}`")),
    };
    let gb_seconds =
        billed.map_or(0.0, |billed| billed.as_secs_f64()) * f64::from(memory_mb) / 1024.0;
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
        let (x86, region) = usd(Some(Duration::from_millis(100)), 1024, "x86_64").unwrap();
        assert!(
            (x86 - (0.1 * 0.0000166667 + 0.0000002)).abs() < 1e-15,
            "{x86}"
        );
        assert_eq!(region, "us-east-1");
        let (arm, _) = usd(Some(Duration::from_millis(100)), 1024, "arm64").unwrap();
        assert!(arm < x86);
        let billed = Billing::Duration(Duration::from_millis(1));
        assert!(line("id", billed, 128, "x86_64").starts_with(
            "COST RequestId: id\tEstimated: $0.0000002021 per invocation, $0.20 per million (x86_64"
        ));
        assert!(
            line("id", billed, 128, "sparc")
                .contains("not estimated: no price for architecture `sparc`")
        );
        // On Lambda Managed Instances, the request alone, whatever its duration and memory.
        assert!(
            line("id", Billing::ManagedInstances, 4096, "arm64").starts_with(
                "COST RequestId: id\tEstimated: $0.0000002000 per invocation, $0.20 per million (the request only"
            )
        );
    }
}
