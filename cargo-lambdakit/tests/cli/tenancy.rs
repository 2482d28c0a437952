//! Tenant isolation: a per-tenant function's instances each serve one tenant, every invocation
//! names its tenant (refused without one, or with one past Lambda's rules), and the tenant
//! reaches the runtime as `Lambda-Runtime-Aws-Tenant-Id`; deploy creates the function with its
//! `TenancyConfig` and refuses to change it after; serve's own CreateFunction takes it too.

use serde_json::Value;

use crate::deploy::json;
use crate::deploy_triggers::Fixture;
use crate::moto::Moto;
use crate::support::{Serve, executable_script, invoke, lambdakit};

/// A runtime on the Runtime API's wire format and std alone (it builds in a moment): it
/// answers each invocation with its tenant and its process id.
const RUNTIME: &str = r##"
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

fn main() {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").unwrap();
    loop {
        let mut next = TcpStream::connect(&api).unwrap();
        write!(next, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: {api}\r\n\r\n").unwrap();
        let mut reader = BufReader::new(next);
        let (mut id, mut tenant, mut length) = (String::new(), String::from("none"), 0);
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(": ") {
                match name.to_ascii_lowercase().as_str() {
                    "lambda-runtime-aws-request-id" => id = value.to_owned(),
                    "lambda-runtime-aws-tenant-id" => tenant = value.to_owned(),
                    "content-length" => length = value.parse().unwrap(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let answer = format!(r#"{{"tenant": "{tenant}", "pid": {}}}"#, std::process::id());
        let mut post = TcpStream::connect(&api).unwrap();
        write!(
            post,
            "POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nHost: {api}\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        )
        .unwrap();
        let mut status = String::new();
        BufReader::new(post).read_line(&mut status).unwrap();
    }
}
"##;

/// The fixture package with the per-tenant runtime as `intake`, and `settings`.
fn fixture(label: &str, settings: &str) -> Fixture {
    let fixture = Fixture::new(label, settings);
    std::fs::write(fixture.dir.join("src/bin/intake.rs"), RUNTIME).unwrap();
    fixture
}

const PER_TENANT: &str =
    "[package.metadata.lambdakit.functions.intake]\ntenancy = \"per-tenant\"\nconcurrency = 2";

/// Invokes `intake` for `tenant`: the status and the answer.
fn for_tenant(serve: &Serve, tenant: Option<&str>) -> (u16, Value) {
    let headers: Vec<(&str, &str)> = tenant
        .map(|id| ("X-Amz-Tenant-Id", id))
        .into_iter()
        .collect();
    let answer = invoke(serve.address, "intake", &headers, b"{}");
    (answer.status, answer.json())
}

#[test]
fn each_tenant_runs_on_instances_of_its_own() {
    let fixture = fixture("tenancy", PER_TENANT);
    let mut command = lambdakit();
    command
        .args(["serve", "--port", "0", "--manifest-path"])
        .arg(fixture.dir.join("Cargo.toml"));
    let serve = Serve::spawn(command);

    let (status, refused) = for_tenant(&serve, None);
    assert_eq!(status, 400, "{refused}");
    assert!(refused.to_string().contains("X-Amz-Tenant-Id"), "{refused}");
    let (_, blue) = for_tenant(&serve, Some("blue"));
    assert_eq!(blue["tenant"], "blue");
    let (_, again) = for_tenant(&serve, Some("blue"));
    assert_eq!(
        again["pid"], blue["pid"],
        "blue's warm instance serves blue again"
    );
    let (_, green) = for_tenant(&serve, Some("green"));
    assert_eq!(green["tenant"], "green");
    assert_ne!(green["pid"], blue["pid"], "green got blue's instance");
    // Both places are taken by idle instances: red's invocation stops one of them.
    let (status, red) = for_tenant(&serve, Some("red"));
    assert_eq!(status, 200, "{red}");
    assert_eq!(red["tenant"], "red");
    assert!(
        red["pid"] != blue["pid"] && red["pid"] != green["pid"],
        "{red}"
    );

    let (status, refused) = for_tenant(&serve, Some(&"t".repeat(257)));
    assert_eq!(status, 400, "{refused}");
    assert!(refused.to_string().contains("1 to 256"), "{refused}");

    // `invoke --tenant`, and its check before anything is sent.
    let invoked = lambdakit()
        .args([
            "invoke",
            "intake",
            "--tenant",
            "blue",
            "--data",
            "{}",
            "--endpoint",
        ])
        .arg(serve.endpoint())
        .output()
        .unwrap();
    assert!(invoked.status.success(), "{invoked:?}");
    let answer: Value = serde_json::from_slice(&invoked.stdout).unwrap();
    assert_eq!(answer["tenant"], "blue");
    let bad = lambdakit()
        .args(["invoke", "intake", "--tenant", "blue!", "--endpoint"])
        .arg(serve.endpoint())
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("has `!`"),
        "{bad:?}"
    );
}

#[tokio::test]
async fn deploy_creates_a_per_tenant_function_and_will_not_change_a_functions_tenancy() {
    let Some(moto) = Moto::start() else { return };
    let fixture = fixture("tenancy-deploy", "");
    let created = fixture.run(&moto, &["deploy", "--output", "json"]);
    assert!(created.status.success(), "{created:?}");
    json(&created);

    // Created shared; the settings now ask for per-tenant: refused, nothing changed.
    fixture.settings(PER_TENANT);
    let refused = fixture.run(&moto, &["deploy"]);
    assert!(!refused.status.success(), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("has tenancy `shared` on AWS"), "{stderr}");
    assert!(stderr.contains("destroy"), "{stderr}");
}

/// `deploy --local` creates the per-tenant function through serve's CreateFunction with its
/// `TenancyConfig`, which serve reports and keeps: it refuses an invocation without a tenant.
#[tokio::test]
async fn serve_creates_a_per_tenant_function_from_its_tenancy_config() {
    let fixture = fixture("tenancy-local", PER_TENANT);
    let state = fixture.dir.join("serve-state");
    std::fs::create_dir_all(&state).unwrap();
    // serve of no project: the Lambda API alone (with a `--bootstrap` it needs to start).
    let idle = executable_script(&fixture.dir.join("idle"), "sleep 600");
    let mut command = lambdakit();
    command
        .args(["serve", "--port", "0", "--bootstrap"])
        .arg(format!("idle={}", idle.display()))
        .arg("--state")
        .arg(&state);
    let serve = Serve::spawn(command);
    let deployed = lambdakit()
        .args(["deploy", "--local", &serve.endpoint(), "--manifest-path"])
        .arg(fixture.dir.join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(deployed.status.success(), "{deployed:?}");

    let lambda = crate::sdk::client(&serve.endpoint());
    let found = lambda
        .get_function()
        .function_name("intake")
        .send()
        .await
        .unwrap();
    let tenancy = found
        .configuration()
        .and_then(|configuration| configuration.tenancy_config())
        .map(|tenancy| tenancy.tenant_isolation_mode().as_str().to_owned());
    assert_eq!(tenancy.as_deref(), Some("PER_TENANT"));

    let (status, refused) = for_tenant(&serve, None);
    assert_eq!(status, 400, "{refused}");
    let (status, blue) = for_tenant(&serve, Some("blue"));
    assert_eq!(status, 200, "{blue}");
    assert_eq!(blue["tenant"], "blue");

    // Deploying again finds the tenancy it asks for: nothing to change.
    let again = lambdakit()
        .args([
            "deploy",
            "--local",
            &serve.endpoint(),
            "--output",
            "json",
            "--manifest-path",
        ])
        .arg(fixture.dir.join("Cargo.toml"))
        .output()
        .unwrap();
    let again = json(&again);
    assert_eq!(
        again["functions"][0]["changes"][0]["action"], "unchanged",
        "{again}"
    );
}
