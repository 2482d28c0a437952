//! `deploy` and `destroy` of a package's HTTP API (`tests/api`) on moto's API Gateway V2: the
//! plan, the API read back with the AWS CLI, a second deploy that changes nothing, a route
//! and an authorizer deploy no longer declares removed, and destroy.
//!
//! moto (5.x) lacks two calls of API Gateway V2: GetAuthorizers (the listing; GetAuthorizer
//! of one is there) and UpdateStage. Everything goes through [`Listing`], a proxy in front of
//! moto that passes every call on and answers GetAuthorizers from the authorizers it saw
//! created, updated and deleted through it; no test changes a stage's variables.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::examples::{QUICK_RELEASE, host_arch};
use crate::moto::{ACCOUNT, Moto, REGION};

/// Each API's authorizers as moto answered their creation and updates, by API id and
/// authorizer id.
type Seen = Arc<Mutex<BTreeMap<String, BTreeMap<String, Value>>>>;

/// The proxy in front of moto (see the module's comment), running until dropped (its
/// runtime, which owns its tasks, with it).
struct Listing {
    endpoint: String,
    _runtime: tokio::runtime::Runtime,
}

impl Listing {
    fn start(moto: &Moto) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let upstream = moto.endpoint.trim_start_matches("http://").to_owned();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let seen: Seen = Arc::default();
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (upstream, seen) = (upstream.clone(), Arc::clone(&seen));
                let service = hyper::service::service_fn(move |request| {
                    let (upstream, seen) = (upstream.clone(), Arc::clone(&seen));
                    async move {
                        Ok::<_, std::convert::Infallible>(pass(request, &upstream, &seen).await)
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
                );
            }
        });
        Self {
            endpoint,
            _runtime: runtime,
        }
    }
}

/// Answers GetAuthorizers, or passes `request` on to moto at `upstream`, noting what it does
/// to authorizers.
async fn pass(
    request: http::Request<hyper::body::Incoming>,
    upstream: &str,
    seen: &Seen,
) -> http::Response<http_body_util::Full<bytes::Bytes>> {
    use http_body_util::BodyExt as _;
    let (parts, body) = request.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let path = parts.uri.path().to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if let ["v2", "apis", api, "authorizers"] = segments.as_slice()
        && parts.method == http::Method::GET
    {
        let items: Vec<Value> = seen
            .lock()
            .unwrap()
            .get(*api)
            .map(|authorizers| authorizers.values().cloned().collect())
            .unwrap_or_default();
        return http::Response::new(json!({"items": items}).to_string().into());
    }
    let stream = tokio::net::TcpStream::connect(upstream).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    let driver = tokio::spawn(connection);
    let mut forwarded = http::Request::builder()
        .method(parts.method.clone())
        .uri(parts.uri.path_and_query().map_or("/", |path| path.as_str()));
    for (name, value) in &parts.headers {
        forwarded = forwarded.header(name, value);
    }
    let answer = sender
        .send_request(forwarded.body(http_body_util::Full::new(body)).unwrap())
        .await
        .unwrap();
    let (answer_parts, answer_body) = answer.into_parts();
    let answer_body = answer_body.collect().await.unwrap().to_bytes();
    driver.abort();
    if answer_parts.status.is_success() {
        let mut seen = seen.lock().unwrap();
        let answered: Value = serde_json::from_slice(&answer_body).unwrap_or(Value::Null);
        match (&parts.method, segments.as_slice()) {
            (&http::Method::POST, ["v2", "apis", api, "authorizers"])
            | (&http::Method::PATCH, ["v2", "apis", api, "authorizers", _]) => {
                let id = answered["authorizerId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                seen.entry((*api).to_owned())
                    .or_default()
                    .insert(id, answered);
            }
            (&http::Method::DELETE, ["v2", "apis", api, "authorizers", id]) => {
                if let Some(authorizers) = seen.get_mut(*api) {
                    authorizers.remove(*id);
                }
            }
            (&http::Method::DELETE, ["v2", "apis", api]) => {
                seen.remove(*api);
            }
            _ => {}
        }
    }
    let mut response = http::Response::new(http_body_util::Full::new(answer_body));
    *response.status_mut() = answer_parts.status;
    *response.headers_mut() = answer_parts.headers;
    response
}

/// `aws apigatewayv2 ARGS` through `listing`; its JSON.
fn apigateway(moto: &Moto, listing: &Listing, args: &[&str]) -> Value {
    let mut command = Command::new("aws");
    command.arg("apigatewayv2").args(args).args([
        "--output",
        "json",
        "--endpoint-url",
        &listing.endpoint,
    ]);
    let output = moto
        .environment(&mut command)
        .env("AWS_DEFAULT_REGION", REGION)
        .output()
        .unwrap();
    assert!(output.status.success(), "aws {args:?}: {output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

/// `cargo lambdakit ARGS --output json` on `tests/api`, through `listing`; its JSON.
fn lambdakit_json(moto: &Moto, listing: &Listing, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    let output = moto
        .command("test-api", &all)
        .env("AWS_ENDPOINT_URL", &listing.endpoint)
        .envs(QUICK_RELEASE)
        .output()
        .unwrap();
    assert!(output.status.success(), "{args:?}: {output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Each change of the API's outcome: `(kind, name, action)`.
fn changes(outcome: &Value) -> Vec<(String, String, String)> {
    outcome["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|change| {
            let text = |field: &str| change[field].as_str().unwrap().to_owned();
            (text("kind"), text("name"), text("action"))
        })
        .collect()
}

#[test]
fn an_http_api_is_planned_deployed_converged_and_destroyed() {
    let Some(moto) = Moto::start() else { return };
    let listing = Listing::start(&moto);
    let arch = host_arch();

    // The plan: everything created, nothing touched.
    let plan = lambdakit_json(&moto, &listing, &["deploy", "--dry-run", "--arch", arch]);
    let api = &plan["apis"][0];
    assert_eq!(api["name"], "test-api");
    let planned = changes(api);
    for expected in [
        ("http-api", "test-api"),
        ("integration", "echo"),
        ("authorizer", "users"),
        ("authorizer", "gate"),
        ("authorizer", "cached-gate"),
        ("route", "GET /products/{sku}"),
        ("route", "POST /orders"),
        ("route", "$default"),
        ("stage", "$default"),
        ("permission", "echo"),
        ("permission", "gate"),
    ] {
        assert!(
            planned.iter().any(
                |(kind, name, action)| (kind.as_str(), name.as_str()) == expected
                    && action == "create"
            ),
            "{expected:?} in {planned:#?}"
        );
    }
    assert_eq!(
        apigateway(&moto, &listing, &["get-apis"])["Items"],
        json!([])
    );
    // A stage's API is named after it, and invokes the stage's functions.
    let staged = lambdakit_json(
        &moto,
        &listing,
        &["deploy", "--dry-run", "--stage", "dev", "--arch", arch],
    );
    assert_eq!(staged["apis"][0]["name"], "test-api-dev");
    let staged = changes(&staged["apis"][0]);
    for expected in [("integration", "echo-dev"), ("permission", "gate-dev")] {
        assert!(
            staged
                .iter()
                .any(|(kind, name, _)| (kind.as_str(), name.as_str()) == expected),
            "{expected:?} in {staged:#?}"
        );
    }

    lambdakit_json(&moto, &listing, &["deploy", "--arch", arch]);
    let apis = apigateway(&moto, &listing, &["get-apis"]);
    let [found] = apis["Items"].as_array().unwrap().as_slice() else {
        panic!("one API: {apis:#}");
    };
    assert_eq!(found["Name"], "test-api");
    assert_eq!(found["ProtocolType"], "HTTP");
    assert_eq!(found["Tags"]["lambdakit:package"], "test-api");
    assert_eq!(
        found["CorsConfiguration"]["AllowOrigins"],
        json!(["https://shop.example"])
    );
    assert_eq!(found["CorsConfiguration"]["MaxAge"], 600);
    let id = found["ApiId"].as_str().unwrap().to_owned();

    let integrations = apigateway(&moto, &listing, &["get-integrations", "--api-id", &id]);
    let [integration] = integrations["Items"].as_array().unwrap().as_slice() else {
        panic!("one integration, for `echo`: {integrations:#}");
    };
    assert_eq!(integration["IntegrationType"], "AWS_PROXY");
    assert_eq!(integration["PayloadFormatVersion"], "2.0");
    let echo_arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:echo");
    assert_eq!(integration["IntegrationUri"], echo_arn.as_str());
    let target = format!(
        "integrations/{}",
        integration["IntegrationId"].as_str().unwrap()
    );

    let authorizers = apigateway(&moto, &listing, &["get-authorizers", "--api-id", &id]);
    let authorizer = |name: &str| {
        authorizers["Items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["Name"] == name)
            .unwrap_or_else(|| panic!("{name} in {authorizers:#}"))
            .clone()
    };
    let users = authorizer("users");
    assert_eq!(users["AuthorizerType"], "JWT");
    assert_eq!(
        users["JwtConfiguration"],
        json!({"Issuer": "https://issuer.test", "Audience": ["shop"]})
    );
    assert_eq!(
        users["IdentitySource"],
        json!(["$request.header.Authorization"])
    );
    assert_eq!(authorizer("policy-gate")["EnableSimpleResponses"], false);
    let cached = authorizer("cached-gate");
    assert_eq!(cached["AuthorizerType"], "REQUEST");
    assert_eq!(cached["AuthorizerPayloadFormatVersion"], "2.0");
    assert_eq!(cached["EnableSimpleResponses"], true);
    assert_eq!(cached["AuthorizerResultTtlInSeconds"], 300);
    assert_eq!(
        cached["IdentitySource"],
        json!(["$request.header.X-Api-Key"])
    );
    assert_eq!(
        cached["AuthorizerUri"],
        format!("arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/arn:aws:lambda:{REGION}:{ACCOUNT}:function:gate/invocations").as_str()
    );

    let routes = apigateway(&moto, &listing, &["get-routes", "--api-id", &id]);
    let route = |key: &str| {
        routes["Items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["RouteKey"] == key)
            .unwrap_or_else(|| panic!("{key} in {routes:#}"))
            .clone()
    };
    assert_eq!(routes["Items"].as_array().unwrap().len(), 8, "{routes:#}");
    let orders = route("POST /orders");
    assert_eq!(orders["Target"], target.as_str());
    assert_eq!(orders["AuthorizationType"], "JWT");
    assert_eq!(orders["AuthorizerId"], users["AuthorizerId"]);
    assert_eq!(orders["AuthorizationScopes"], json!(["orders:write"]));
    let private = route("GET /private");
    assert_eq!(private["AuthorizationType"], "CUSTOM");
    assert_eq!(private["AuthorizerId"], authorizer("gate")["AuthorizerId"]);
    assert_eq!(route("$default")["AuthorizationType"], "NONE");
    assert_eq!(route("ANY /files/{path+}")["Target"], target.as_str());

    let stages = apigateway(&moto, &listing, &["get-stages", "--api-id", &id]);
    let [stage] = stages["Items"].as_array().unwrap().as_slice() else {
        panic!("one stage: {stages:#}");
    };
    assert_eq!(stage["StageName"], "$default");
    assert_eq!(stage["AutoDeploy"], true);
    assert_eq!(stage["StageVariables"], json!({"table": "orders-test"}));

    // API Gateway may invoke both functions, from this API only.
    let source = format!("arn:aws:execute-api:{REGION}:{ACCOUNT}:{id}/*");
    for function in ["echo", "gate"] {
        let policy: Value = serde_json::from_str(
            moto.aws(&["lambda", "get-policy", "--function-name", function])
                .as_str(),
        )
        .unwrap();
        let policy: Value = serde_json::from_str(policy["Policy"].as_str().unwrap()).unwrap();
        let statement = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|statement| statement["Sid"] == format!("lambdakit-api-{id}").as_str())
            .unwrap_or_else(|| panic!("{function}: {policy:#}"))
            .clone();
        assert_eq!(
            statement["Principal"]["Service"],
            "apigateway.amazonaws.com"
        );
        assert_eq!(statement["Action"], "lambda:InvokeFunction");
        assert_eq!(
            statement["Condition"]["ArnLike"]["AWS:SourceArn"],
            source.as_str()
        );
    }

    // Deployed again, nothing changes.
    let again = lambdakit_json(&moto, &listing, &["deploy", "--arch", arch]);
    let unchanged = changes(&again["apis"][0]);
    assert!(
        unchanged.iter().all(|(_, _, action)| action == "unchanged"),
        "{unchanged:#?}"
    );
    assert_eq!(
        again["apis"][0]["url"],
        format!("{}/", found["ApiEndpoint"].as_str().unwrap()).as_str()
    );

    // What the settings no longer declare (as if removed since the last deploy) goes.
    apigateway(
        &moto,
        &listing,
        &[
            "create-route",
            "--api-id",
            &id,
            "--route-key",
            "GET /old",
            "--target",
            &target,
        ],
    );
    apigateway(
        &moto,
        &listing,
        &[
            "create-authorizer",
            "--api-id",
            &id,
            "--name",
            "retired",
            "--authorizer-type",
            "JWT",
            "--identity-source",
            "$request.header.Authorization",
            "--jwt-configuration",
            "Audience=old,Issuer=https://old.test",
        ],
    );
    let converged = lambdakit_json(&moto, &listing, &["deploy", "--arch", arch]);
    let removed = changes(&converged["apis"][0]);
    for expected in [("route", "GET /old"), ("authorizer", "retired")] {
        assert!(
            removed.iter().any(
                |(kind, name, action)| (kind.as_str(), name.as_str()) == expected
                    && action == "delete"
            ),
            "{expected:?} in {removed:#?}"
        );
    }
    let routes = apigateway(&moto, &listing, &["get-routes", "--api-id", &id]);
    assert!(
        !routes["Items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|item| item["RouteKey"] == "GET /old"),
        "{routes:#}"
    );
    let authorizers = apigateway(&moto, &listing, &["get-authorizers", "--api-id", &id]);
    assert_eq!(
        authorizers["Items"].as_array().unwrap().len(),
        4,
        "{authorizers:#}"
    );

    // destroy: planned, then done.
    let plan = lambdakit_json(&moto, &listing, &["destroy", "--dry-run"]);
    assert_eq!(
        changes(&plan["apis"][0]),
        [(
            "http-api".to_owned(),
            "test-api".to_owned(),
            "delete".to_owned()
        )]
    );
    assert_eq!(
        apigateway(&moto, &listing, &["get-apis"])["Items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    lambdakit_json(&moto, &listing, &["destroy"]);
    assert_eq!(
        apigateway(&moto, &listing, &["get-apis"])["Items"],
        json!([])
    );
}
