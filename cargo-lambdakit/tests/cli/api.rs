//! The project's HTTP API on serve's port (`tests/api`): routes to payload 2.0 events, CORS,
//! JWT and Lambda authorizers, and routes that cannot be served said and left out.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::{Answer, Serve, get, invoke, request, tool, works, workspace};

/// The event the `echo` function was sent, from its answer.
fn event(answer: &Answer) -> Value {
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    answer.json()
}

#[test]
fn routes_answer_with_payload_2_events_and_cors_while_the_lambda_api_keeps_its_paths() {
    let serve = Serve::start("test-api");
    // The routes are listed at the start.
    let listed = serve.output_with(&["GET /products/{sku} -> `echo`", "$default -> `echo`"]);
    assert!(
        listed
            .iter()
            .any(|line| line.contains(&format!("API `test-api` at http://{}/", serve.address))),
        "{listed:#?}"
    );
    assert!(
        listed
            .iter()
            .any(|line| line.contains("GET /private -> `echo`, authorizer `gate`")),
        "{listed:#?}"
    );

    // A path parameter, the query, the stage's variables, the route's key.
    let product = event(&get(serve.address, "/products/blue%20cheese?size=1&size=2"));
    assert_eq!(product["version"], "2.0");
    assert_eq!(product["routeKey"], "GET /products/{sku}");
    assert_eq!(product["requestContext"]["routeKey"], "GET /products/{sku}");
    assert_eq!(product["requestContext"]["stage"], "$default");
    assert_eq!(product["pathParameters"], json!({"sku": "blue cheese"}));
    assert_eq!(product["rawPath"], "/products/blue%20cheese");
    assert_eq!(product["queryStringParameters"], json!({"size": "1,2"}));
    assert_eq!(product["stageVariables"], json!({"table": "orders-test"}));
    assert_eq!(product["requestContext"]["http"]["method"], "GET");
    assert!(product["requestContext"].get("authorizer").is_none());

    // A greedy parameter takes the rest of the path, for any method.
    let file = event(&request(
        serve.address,
        "PUT /files/reports/2026/march.csv HTTP/1.1\r\nContent-Type: text/csv",
        b"a,b\n1,2\n",
    ));
    assert_eq!(file["routeKey"], "ANY /files/{path+}");
    assert_eq!(
        file["pathParameters"],
        json!({"path": "reports/2026/march.csv"})
    );
    assert_eq!(file["body"], "a,b\n1,2\n");

    // What no route answers goes to `$default`.
    for path in ["/", "/nowhere/at/all"] {
        let fallback = event(&get(serve.address, path));
        assert_eq!(fallback["routeKey"], "$default", "{path}");
        assert!(fallback.get("pathParameters").is_none(), "{path}");
    }

    // A failing function is API Gateway's 500; a body over Lambda's 6 MB its 413.
    let failed = get(serve.address, "/fail");
    assert_eq!(failed.status, 500);
    assert_eq!(failed.json(), json!({"message": "Internal Server Error"}));
    let huge = request(
        serve.address,
        "POST /files/huge HTTP/1.1\r\nContent-Type: application/octet-stream",
        &vec![0_u8; 7 * 1024 * 1024],
    );
    assert_eq!(huge.status, 413);
    assert_eq!(huge.json(), json!({"message": "Request Entity Too Large"}));

    // The Lambda API and function URLs keep their paths on the same port.
    let invoked = invoke(serve.address, "echo", &[], br#"{"direct": true}"#);
    assert_eq!(invoked.status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(invoked.json()["body"].as_str().unwrap()).unwrap(),
        json!({"direct": true})
    );

    // CORS: the API answers preflights itself, and its headers replace the function's.
    let preflight = request(
        serve.address,
        "OPTIONS /orders HTTP/1.1\r\nOrigin: https://shop.example\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: authorization",
        b"",
    );
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("https://shop.example")
    );
    assert_eq!(
        preflight.header("access-control-allow-methods"),
        Some("GET,POST")
    );
    assert_eq!(
        preflight.header("access-control-allow-headers"),
        Some("authorization,content-type")
    );
    assert_eq!(preflight.header("access-control-max-age"), Some("600"));
    let from_shop = request(
        serve.address,
        "GET /products/apple HTTP/1.1\r\nOrigin: https://shop.example",
        b"",
    );
    assert_eq!(from_shop.status, 200);
    assert_eq!(
        from_shop.header("access-control-allow-origin"),
        Some("https://shop.example")
    );
    assert_eq!(
        from_shop.header("access-control-expose-headers"),
        Some("x-echo")
    );
    assert_eq!(from_shop.header("x-echo"), Some("yes"));
    let elsewhere = request(
        serve.address,
        "GET /products/apple HTTP/1.1\r\nOrigin: https://evil.example",
        b"",
    );
    assert_eq!(elsewhere.status, 200);
    assert_eq!(elsewhere.header("access-control-allow-origin"), None);
    let refused_preflight = request(
        serve.address,
        "OPTIONS /orders HTTP/1.1\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: POST",
        b"",
    );
    assert_eq!(refused_preflight.status, 204);
    assert_eq!(
        refused_preflight.header("access-control-allow-origin"),
        None
    );
}

#[test]
fn routes_that_cannot_be_served_are_said_and_answer_500_and_the_rest_is_served() {
    let serve = Serve::start("test-api-bad");
    let at = "package.metadata.lambdakit.api.routes";
    let errors = serve.errors_with(&[
        &format!("error: `{at}.\"GET /products/{{variant}}\"` answers the same requests as the route `GET /products/{{sku}}`"),
        &format!("error: `{at}.\"GET /reports\"` names the function `reporter`, which the package does not have (its functions: `lonely`)"),
        &format!("error: `{at}.\"GET /admin\".authorizer` names the authorizer `admins`, which the API does not declare"),
    ]);
    assert!(
        errors
            .iter()
            .any(|line| line.contains("`GET /products/{sku}`")
                && line.ends_with("serve leaves it out")),
        "{errors:#?}"
    );
    for route in ["GET /reports", "GET /admin"] {
        assert!(
            errors.iter().any(|line| line.ends_with(&format!(
                "serve answers the route `{route}` with 500 and serves the rest"
            ))),
            "{route}: {errors:#?}"
        );
    }
    let listed = serve.output_with(&[
        "GET /products/{sku} -> `lonely`",
        "GET /reports -> `reporter` (not served: answers 500)",
    ]);
    assert!(
        !listed
            .iter()
            .any(|line| line.contains("GET /products/{variant}")),
        "{listed:#?}"
    );
    // The good route and `$default` answer.
    let route_key = |path: &str| {
        let answer = get(serve.address, path);
        assert_eq!(answer.status, 200, "{path}");
        answer.json()
    };
    assert_eq!(route_key("/products/apple"), "GET /products/{sku}");
    assert_eq!(route_key("/elsewhere"), "$default");
    // The routes that cannot be served answer 500, never another route's function (`/admin`
    // would otherwise reach `$default` without its authorizer), and serve's log says why.
    for (path, why) in [
        ("/reports", "names the function `reporter`"),
        ("/admin", "names the authorizer `admins`"),
    ] {
        let answer = get(serve.address, path);
        assert_eq!(answer.status, 500, "{path}");
        assert_eq!(answer.json(), json!({"message": "Internal Server Error"}));
        let log = serve.output_with(&[why]);
        assert!(
            log.iter().any(
                |line| line.contains(&format!("answered GET {path} with 500: "))
                    && line.contains(why)
            ),
            "{path}: {log:#?}"
        );
    }

    // deploy refuses the same settings before it builds or calls AWS.
    let output = crate::support::lambdakit()
        .args(["deploy", "--dry-run", "--manifest-path"])
        .arg(workspace().join("Cargo.toml"))
        .args(["-p", "test-api-bad", "--locked"])
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ACCESS_KEY_ID", "unused")
        .env("AWS_SECRET_ACCESS_KEY", "unused")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("error: `package.metadata.lambdakit.api.routes.\"GET /admin\".authorizer` names the authorizer `admins`"),
        "{stderr}"
    );
    assert!(!stderr.contains("Compiling"), "{stderr}");
}

#[test]
fn routes_needing_a_function_serve_does_not_run_answer_500() {
    let serve = Serve::start_with("test-api", &["--bin", "echo"]);
    let said = serve.errors_with(&[
        "note: the route `GET /private` needs the function `gate`, which this serve does not run (it serves echo); serve answers it with 500",
    ]);
    assert!(
        !said
            .iter()
            .any(|line| line.contains("`GET /products/{sku}`")),
        "{said:#?}"
    );
    let private = request(
        serve.address,
        "GET /private HTTP/1.1\r\nX-Api-Key: let-me-in",
        b"",
    );
    assert_eq!(private.status, 500);
    assert_eq!(
        event(&get(serve.address, "/products/apple"))["routeKey"],
        "GET /products/{sku}"
    );
}

#[test]
fn lambda_authorizers_decide_keep_their_answers_and_fail_closed() {
    let serve = Serve::start("test-api");
    let with_key = |path: &str, key: &str| {
        request(
            serve.address,
            &format!("GET {path} HTTP/1.1\r\nX-Api-Key: {key}"),
            b"",
        )
    };
    // No identity source: 401, and the authorizer is not asked.
    let missing = get(serve.address, "/private");
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json(), json!({"message": "Unauthorized"}));

    let allowed = event(&with_key("/private", "let-me-in"));
    let context = &allowed["requestContext"]["authorizer"]["lambda"];
    assert_eq!(context["type"], "REQUEST");
    assert_eq!(context["routeKey"], "GET /private");
    let arn = context["routeArn"].as_str().unwrap();
    assert!(
        arn.starts_with("arn:aws:execute-api:") && arn.ends_with("/$default/GET/private"),
        "{arn}"
    );
    let first = context["decided"].as_u64().unwrap();
    // Without `ttl`, each request is decided again.
    let again = event(&with_key("/private", "let-me-in"));
    assert!(
        again["requestContext"]["authorizer"]["lambda"]["decided"]
            .as_u64()
            .unwrap()
            > first
    );

    let refused = with_key("/private", "guess");
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json(), json!({"message": "Forbidden"}));

    // An IAM policy: what it allows goes through, the rest is refused.
    let open = event(&with_key("/policy/open-area", "let-me-in"));
    let context = &open["requestContext"]["authorizer"]["lambda"];
    assert!(
        context["routeArn"]
            .as_str()
            .unwrap()
            .ends_with("/$default/GET/policy/open-area"),
        "{context}"
    );
    assert_eq!(open["pathParameters"], json!({"area": "open-area"}));
    assert_eq!(with_key("/policy/closed", "let-me-in").status, 403);
    assert_eq!(with_key("/policy/open-area", "guess").status, 403);

    // With `ttl`, an identity's answer is kept: the authorizer is asked once.
    let cached = event(&with_key("/cached", "let-me-in"));
    let decided = cached["requestContext"]["authorizer"]["lambda"]["decided"].clone();
    for _ in 0..3 {
        let kept = event(&with_key("/cached", "let-me-in"));
        assert_eq!(
            kept["requestContext"]["authorizer"]["lambda"]["decided"],
            decided
        );
    }
    let other = with_key("/cached", "another");
    assert_eq!(other.status, 403);

    // A failing authorizer, or one that times out: 500, and serve's log names it.
    let broken = with_key("/private", "boom");
    assert_eq!(broken.status, 500);
    assert_eq!(broken.json(), json!({"message": "Internal Server Error"}));
    serve.output_with(&[
        "lambdakit: GET /private: API authorizer `gate` (function `gate`) failed: GateError: the gate broke",
    ]);
    let slow = with_key("/private", "slow");
    assert_eq!(slow.status, 500);
    let log = serve.output_with(&[
        "lambdakit: GET /private: API authorizer `gate` (function `gate`) failed: Sandbox.Timedout",
    ]);
    assert!(
        log.iter()
            .any(|line| line.contains("the request is answered 500")),
        "{log:#?}"
    );
    // The API goes on serving.
    assert_eq!(get(serve.address, "/products/apple").status, 200);
    assert_eq!(with_key("/private", "let-me-in").status, 200);
}

/// An RSA key made for this run: its PEM file, and its public half as a JWK.
struct Key {
    pem: PathBuf,
    jwk: Value,
}

fn base64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn rsa_key(dir: &Path, kid: &str) -> Key {
    let pem = dir.join(format!("{kid}.pem"));
    let made = Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&pem)
        .arg("2048")
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(made.success());
    let modulus = Command::new("openssl")
        .args(["rsa", "-noout", "-modulus", "-in"])
        .arg(&pem)
        .output()
        .unwrap();
    let modulus = String::from_utf8(modulus.stdout).unwrap();
    let hex = modulus.trim().strip_prefix("Modulus=").unwrap();
    let n: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).unwrap())
        .collect();
    Key {
        pem,
        // `genrsa`'s exponent is 65537.
        jwk: json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": base64url(&n), "e": "AQAB"}),
    }
}

/// A JWT of `claims`, signed (RS256) with `key` and naming the key `kid`.
fn token(key: &Key, kid: &str, claims: &Value) -> String {
    let header = base64url(
        json!({"alg": "RS256", "typ": "JWT", "kid": kid})
            .to_string()
            .as_bytes(),
    );
    let payload = base64url(claims.to_string().as_bytes());
    let signed = format!("{header}.{payload}");
    let mut openssl = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(&key.pem)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut openssl.stdin.take().unwrap(), signed.as_bytes()).unwrap();
    let signature = openssl.wait_with_output().unwrap();
    assert!(signature.status.success());
    format!("{signed}.{}", base64url(&signature.stdout))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn jwt_authorizers_check_signature_issuer_audience_time_and_scopes() {
    if !tool(
        works("openssl", &["version"]),
        "openssl",
        "install it with `apt-get install openssl` (scripts/test.sh does)",
    ) {
        return;
    }
    let scratch = std::env::temp_dir().join(format!("lambdakit-jwt-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let key = rsa_key(&scratch, "k1");
    let stranger = rsa_key(&scratch, "k2");
    // The key set the `users` authorizer reads (`jwks = "target/jwks.json"`): only `k1`.
    let jwks = workspace().join("tests/api/target/jwks.json");
    std::fs::create_dir_all(jwks.parent().unwrap()).unwrap();
    std::fs::write(&jwks, json!({"keys": [key.jwk]}).to_string()).unwrap();

    let serve = Serve::start("test-api");
    let claims = |change: Value| {
        let mut claims = json!({
            "iss": "https://issuer.test",
            "aud": "shop",
            "sub": "user-7",
            "exp": now() + 600,
            "iat": now(),
            "scope": "orders:write orders:read",
        });
        for (name, value) in change.as_object().unwrap() {
            claims[name] = value.clone();
        }
        claims
    };
    let call = |method: &str, path: &str, token: Option<&str>| {
        let authorization = token
            .map(|token| format!("\r\nAuthorization: Bearer {token}"))
            .unwrap_or_default();
        request(
            serve.address,
            &format!("{method} {path} HTTP/1.1{authorization}"),
            b"{}",
        )
    };

    let good = token(&key, "k1", &claims(json!({})));
    let order = event(&call("POST", "/orders", Some(&good)));
    let jwt = &order["requestContext"]["authorizer"]["jwt"];
    assert_eq!(jwt["claims"]["sub"], "user-7");
    assert_eq!(jwt["claims"]["iss"], "https://issuer.test");
    assert_eq!(jwt["scopes"], json!(["orders:write", "orders:read"]));
    assert_eq!(order["routeKey"], "POST /orders");

    let unauthorized = json!({"message": "Unauthorized"});
    assert_eq!(call("POST", "/orders", None).json(), unauthorized);
    assert_eq!(call("POST", "/orders", None).status, 401);
    for (bad, why) in [
        (
            token(&key, "k1", &claims(json!({"iss": "https://other.test"}))),
            "the token's issuer",
        ),
        (
            token(&key, "k1", &claims(json!({"aud": "another-app"}))),
            "the token's audience",
        ),
        (
            token(&key, "k1", &claims(json!({"exp": now() - 60}))),
            "expired",
        ),
        (
            token(&key, "k1", &claims(json!({"nbf": now() + 600}))),
            "not valid yet",
        ),
        (
            token(&stranger, "k1", &claims(json!({}))),
            "does not verify",
        ),
        (
            token(&stranger, "k2", &claims(json!({}))),
            "no key of the issuer's key set has the token's `kid` `k2`",
        ),
        ("not-a-token".to_owned(), "not a JWT"),
    ] {
        let answer = call("POST", "/orders", Some(&bad));
        assert_eq!(answer.status, 401, "{why}");
        assert_eq!(answer.json(), unauthorized, "{why}");
        let log = serve.output_with(&[why]);
        assert!(
            log.iter().any(|line| line
                .contains("lambdakit: POST /orders: API authorizer `users` refused a token: ")
                && line.contains(why)),
            "{why}: {log:#?}"
        );
    }

    // A good token without the route's scope: 403 there, 200 on a route that needs none.
    let reader = token(&key, "k1", &claims(json!({"scope": "orders:read"})));
    let forbidden = call("POST", "/orders", Some(&reader));
    assert_eq!(forbidden.status, 403);
    assert_eq!(forbidden.json(), json!({"message": "Forbidden"}));
    let read = event(&call("GET", "/orders/42", Some(&reader)));
    assert_eq!(read["pathParameters"], json!({"id": "42"}));
    assert_eq!(
        read["requestContext"]["authorizer"]["jwt"]["scopes"],
        json!(["orders:read"])
    );
    // `scp` as a list, and `client_id` for an access token without `aud`.
    let listed = token(
        &key,
        "k1",
        &claims(json!({"scope": null, "scp": ["orders:write"], "aud": null, "client_id": "shop"})),
    );
    assert_eq!(call("POST", "/orders", Some(&listed)).status, 200);

    // A key added to the set is found: an unknown `kid` has the set read again.
    std::fs::write(&jwks, json!({"keys": [key.jwk, stranger.jwk]}).to_string()).unwrap();
    let rotated = token(&stranger, "k2", &claims(json!({})));
    assert_eq!(call("POST", "/orders", Some(&rotated)).status, 200);
    let _ = std::fs::remove_dir_all(&scratch);
}
