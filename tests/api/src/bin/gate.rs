//! A Lambda authorizer (payload 2.0, simple responses): lets in the API key `let-me-in`,
//! refuses others, fails for `boom` and outlives its timeout for `slow`. Its context says how
//! many requests this instance has decided, so that a cached answer shows. On the
//! `/policy/{area}` route it answers an IAM policy instead, allowing `GET /policy/open*` to
//! `let-me-in`.

use std::sync::atomic::{AtomicU64, Ordering};

use lambda_kit::{Context, Diagnostic};
use serde_json::{Value, json};

static DECIDED: AtomicU64 = AtomicU64::new(0);

#[lambda_kit::handler]
async fn gate(request: Value, _ctx: Context) -> Result<Value, Diagnostic> {
    let key = request["identitySource"][0].as_str().unwrap_or_default();
    match key {
        "boom" => return Err(Diagnostic::new("GateError", "the gate broke")),
        "slow" => tokio::time::sleep(std::time::Duration::from_secs(5)).await,
        _ => {}
    }
    let decided = DECIDED.fetch_add(1, Ordering::SeqCst) + 1;
    if request["routeKey"] == "GET /policy/{area}" {
        let arn = request["routeArn"].as_str().unwrap_or_default();
        // `arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH`: the API's part.
        let api = arn.split('/').next().unwrap_or_default();
        let effect = if key == "let-me-in" { "Allow" } else { "Deny" };
        return Ok(json!({
            "principalId": "user-7",
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [{
                    "Action": "execute-api:Invoke",
                    "Effect": effect,
                    "Resource": format!("{api}/*/GET/policy/open*"),
                }],
            },
            "context": {"decided": decided, "routeArn": arn},
        }));
    }
    Ok(json!({
        "isAuthorized": key == "let-me-in",
        "context": {
            "decided": decided,
            "routeArn": request["routeArn"],
            "routeKey": request["routeKey"],
            "type": request["type"],
        },
    }))
}
