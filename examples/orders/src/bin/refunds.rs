//! A second function in the same package: its own binary, its own handler, its own Lambda
//! function. Refunds are worked out from the amount paid, with nothing loaded at start.
#![deny(warnings)]

use lambda_kit::Diagnostic;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
struct Refund {
    paid_cents: u64,
    percent: u8,
}

#[derive(Debug, PartialEq, Serialize)]
struct Refunded {
    cents: u64,
}

#[lambda_kit::handler]
async fn refund(request: Refund) -> Result<Refunded, Diagnostic> {
    if request.percent > 100 {
        return Err(Diagnostic::new(
            "InvalidRefund",
            format!("cannot refund {}% of a payment", request.percent),
        ));
    }
    Ok(Refunded {
        cents: request.paid_cents * u64::from(request.percent) / 100,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refunds_a_share_of_the_payment() {
        let refunded = refund(Refund {
            paid_cents: 1000,
            percent: 25,
        })
        .await
        .unwrap();
        assert_eq!(refunded, Refunded { cents: 250 });
        let error = refund(Refund {
            paid_cents: 1000,
            percent: 150,
        })
        .await
        .unwrap_err();
        assert_eq!(error.error_type(), "InvalidRefund");
    }
}
