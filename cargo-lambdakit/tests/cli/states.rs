//! The States Language interpreter against moto's (ported from LocalStack's): the same
//! definitions, with Pass, Choice, Map, Parallel, Fail, Retry and Catch (moto runs no
//! functions), run by both; the status, the output, and the error and cause of failures must
//! agree. Where moto differs from AWS's documentation, ours keeps the documented behaviour and
//! the case says why in `differs`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use cargo_lambdakit::states::{
    self, BoxFuture, Execution, History, Identity, InvokeError, Invoker, Options, Outcome, Stop,
};
use serde_json::{Value, json};

use crate::moto::{ACCOUNT, Moto, REGION};

/// A POST of `body` to moto: its status and JSON answer.
fn post(moto: &Moto, path: &str, target: Option<&str>, body: &Value) -> (u16, Value) {
    let address = moto.endpoint.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let body = body.to_string();
    let target = target.map_or_else(String::new, |target| {
        format!("X-Amz-Target: AWSStepFunctions.{target}\r\nContent-Type: application/x-amz-json-1.0\r\n")
    });
    // moto reads the region from the credential scope.
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/states/aws4_request, SignedHeaders=host, Signature=0"
    );
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nAuthorization: {authorization}\r\n{target}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // Werkzeug may keep the connection open after `Connection: close`: stop at the
    // `Content-Length` it announces.
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        let read = match stream.read(&mut buffer) {
            Ok(read) => read,
            Err(error) => panic!("moto did not answer {path} {target}{body} in 20 s: {error}"),
        };
        bytes.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&bytes);
        let complete = text.split_once("\r\n\r\n").is_some_and(|(head, body)| {
            head.lines()
                .find_map(|line| {
                    line.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|n| n.trim().to_owned())
                })
                .and_then(|length| length.parse::<usize>().ok())
                .is_some_and(|length| body.len() >= length)
        });
        if read == 0 || complete {
            break;
        }
    }
    let response = String::from_utf8(bytes).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    // A chunked answer is one chunk here: take the JSON between its braces.
    let json = body
        .find(['{', '['])
        .map(|start| &body[start..=body.rfind(['}', ']']).unwrap()])
        .unwrap_or("null");
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

fn call(moto: &Moto, target: &str, body: Value) -> Value {
    let (status, answer) = post(moto, "/", Some(target), &body);
    assert_eq!(status, 200, "{target} {body}: {answer}");
    answer
}

/// How moto ran `definition` on `input`: the outcome as ours reports it.
fn run_on_moto(moto: &Moto, name: &str, definition: &Value, input: &Value) -> Outcome {
    let machine = call(
        moto,
        "CreateStateMachine",
        json!({"name": name, "definition": definition.to_string(),
               "roleArn": format!("arn:aws:iam::{ACCOUNT}:role/states")}),
    );
    let execution = call(
        moto,
        "StartExecution",
        json!({"stateMachineArn": machine["stateMachineArn"], "name": "run", "input": input.to_string()}),
    );
    let started = Instant::now();
    loop {
        let described = call(
            moto,
            "DescribeExecution",
            json!({"executionArn": execution["executionArn"]}),
        );
        let text = |field: &str| described[field].as_str().unwrap_or_default().to_owned();
        match described["status"].as_str() {
            Some("RUNNING") => {
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "{name} still runs on moto"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            Some("SUCCEEDED") => {
                return Outcome::Succeeded {
                    output: serde_json::from_str(&text("output")).unwrap(),
                };
            }
            Some("FAILED") => {
                return Outcome::Failed {
                    error: text("error"),
                    cause: text("cause"),
                };
            }
            other => panic!("{name}: moto's execution ended {other:?}: {described}"),
        }
    }
}

/// No function runs in these definitions.
struct NoFunctions;

impl Invoker for NoFunctions {
    fn invoke<'a>(
        &'a self,
        function: &'a str,
        _: Value,
    ) -> BoxFuture<'a, Result<Value, InvokeError>> {
        Box::pin(async move {
            Err(InvokeError::Service {
                error: "Lambda.ResourceNotFoundException".into(),
                cause: format!("no function {function} here"),
            })
        })
    }
}

async fn run_here(name: &str, definition: &Value, input: &Value) -> Outcome {
    let machine =
        states::validate(definition).unwrap_or_else(|invalid| panic!("{name}: {invalid}"));
    let execution = Execution {
        identity: Identity {
            execution_arn: format!("arn:aws:states:{REGION}:{ACCOUNT}:execution:{name}:run"),
            name: "run".into(),
            state_machine_arn: format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"),
            state_machine_name: name.into(),
            role_arn: format!("arn:aws:iam::{ACCOUNT}:role/states"),
            start_time: SystemTime::now(),
        },
        invoker: Arc::new(NoFunctions),
        options: Options { wait_speed: 1.0 },
        history: History::new(),
        stop: Stop::new(),
    };
    states::run(Arc::new(machine), input.clone(), execution).await
}

fn pass(fields: Value) -> Value {
    let mut state = json!({"Type": "Pass"});
    state
        .as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    state
}

/// The cases: a name, a definition, an input.
fn cases() -> Vec<(&'static str, Value, Value)> {
    vec![
        (
            "paths",
            json!({"StartAt": "Shape", "States": {
                "Shape": pass(json!({"InputPath": "$.order", "Parameters": {"id.$": "$.id", "lines.$": "$.lines[*].sku", "fixed": [1, 2], "first.$": "$.lines[0]"},
                                     "ResultPath": "$.deep.shaped", "Next": "Drop"})),
                "Drop": pass(json!({"Result": {"ignored": true}, "ResultPath": null, "Next": "Keep"})),
                "Keep": pass(json!({"Result": {"r": 1}, "ResultPath": "$.deep.result", "OutputPath": "$.deep", "End": true}))
            }}),
            json!({"order": {"id": "o-1", "lines": [{"sku": "a", "n": 1}, {"sku": "b", "n": 2}]}, "other": 1}),
        ),
        (
            "choice",
            json!({"StartAt": "Pick", "States": {
                "Pick": {"Type": "Choice", "Choices": [
                    {"Variable": "$.n", "NumericGreaterThan": 100, "Next": "Big"},
                    {"And": [{"Variable": "$.s", "StringMatches": "ord*-?"}, {"Not": {"Variable": "$.b", "BooleanEquals": true}}], "Next": "Never"},
                    {"Or": [{"Variable": "$.ts", "TimestampLessThan": "2020-01-01T00:00:00Z"}, {"Variable": "$.n", "NumericEqualsPath": "$.m"}], "Next": "Match"}
                ], "Default": "Never"},
                "Big": pass(json!({"Result": "big", "End": true})),
                "Never": pass(json!({"Result": "never", "End": true})),
                "Match": pass(json!({"Parameters": {"present.$": "$.n", "s.$": "$.s"}, "End": true}))
            }}),
            json!({"n": 7, "m": 7, "s": "order-1", "b": true, "ts": "2026-01-01T00:00:00Z"}),
        ),
        (
            "type-tests",
            json!({"StartAt": "A", "States": {
                "A": {"Type": "Choice", "Choices": [{"And": [
                    {"Variable": "$.z", "IsNull": true}, {"Variable": "$.n", "IsNumeric": true},
                    {"Variable": "$.s", "IsString": true}, {"Variable": "$.b", "IsBoolean": true},
                    {"Variable": "$.t", "IsTimestamp": true}, {"Variable": "$.nope", "IsPresent": false},
                    {"Variable": "$.s", "StringGreaterThanEquals": "abc"}, {"Variable": "$.n", "NumericLessThanEquals": 2.5}
                ], "Next": "Yes"}], "Default": "No"},
                "Yes": {"Type": "Succeed"},
                "No": {"Type": "Fail", "Error": "No"}
            }}),
            json!({"z": null, "n": 2.5, "s": "abc", "b": false, "t": "2026-01-31T12:00:00Z"}),
        ),
        (
            "no-choice",
            json!({"StartAt": "Pick", "States": {
                "Pick": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "One"}]},
                "One": {"Type": "Succeed"}
            }}),
            json!({"n": 2}),
        ),
        (
            "map",
            json!({"StartAt": "Each", "States": {
                "Each": {"Type": "Map", "ItemsPath": "$.lines", "MaxConcurrency": 2,
                         "ItemSelector": {"index.$": "$$.Map.Item.Index", "sku.$": "$$.Map.Item.Value.sku", "order.$": "$.id"},
                         "ItemProcessor": {"StartAt": "Line", "States": {"Line": pass(json!({"End": true}))}},
                         "ResultPath": "$.lines", "End": true}
            }}),
            json!({"id": "o-1", "lines": [{"sku": "a"}, {"sku": "b"}, {"sku": "c"}]}),
        ),
        (
            "parallel",
            json!({"StartAt": "Both", "States": {
                "Both": {"Type": "Parallel", "ResultSelector": {"left.$": "$[0].v", "right.$": "$[1]"}, "ResultPath": "$.both", "End": true,
                         "Branches": [
                            {"StartAt": "L", "States": {"L": pass(json!({"Parameters": {"v.$": "$.x"}, "End": true}))}},
                            {"StartAt": "R", "States": {"R": pass(json!({"Result": ["r"], "End": true}))}}
                         ]}
            }}),
            json!({"x": 1}),
        ),
        (
            "intrinsics",
            json!({"StartAt": "Call", "States": {"Call": pass(json!({"Parameters": {
                "format.$": "States.Format('{} has {} lines', $.id, $.count)",
                "json.$": "States.StringToJson($.text)",
                "text.$": "States.JsonToString($.object)",
                "array.$": "States.Array($.id, 1, true)",
                "parts.$": "States.ArrayPartition($.list, 2)",
                "contains.$": "States.ArrayContains($.list, 3)",
                "range.$": "States.ArrayRange(1, 9, 3)",
                "item.$": "States.ArrayGetItem($.list, 1)",
                "length.$": "States.ArrayLength($.list)",
                "unique.$": "States.ArrayUnique($.dupes)",
                "encoded.$": "States.Base64Encode($.id)",
                "decoded.$": "States.Base64Decode('aGVsbG8=')",
                "md5.$": "States.Hash($.id, 'MD5')",
                "sha256.$": "States.Hash($.id, 'SHA-256')",
                "merged.$": "States.JsonMerge($.object, $.more, false)",
                "sum.$": "States.MathAdd($.count, -1)",
                "split.$": "States.StringSplit($.csv, ',')"
            }, "End": true}))}}),
            json!({"id": "o-1", "count": 3, "text": "{\"a\":[1,2]}", "object": {"a": 1, "b": {"c": 2}},
                   "more": {"b": 3}, "list": [1, 2, 3, 4, 5], "dupes": [1, 1, "x", "x", 2], "csv": "a,b,c"}),
        ),
        (
            "fail",
            json!({"StartAt": "Stop", "States": {"Stop": {"Type": "Fail", "Error": "Order.Rejected", "Cause": "out of stock"}}}),
            json!({}),
        ),
        (
            "fail-paths",
            json!({"StartAt": "Stop", "States": {"Stop": {"Type": "Fail", "ErrorPath": "$.error", "CausePath": "$.why"}}}),
            json!({"error": "Custom.Error", "why": "because"}),
        ),
        (
            "catch",
            json!({"StartAt": "Try", "States": {
                "Try": {"Type": "Parallel", "Next": "Fine",
                        "Catch": [{"ErrorEquals": ["Other"], "Next": "Fine"}, {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}],
                        "Branches": [{"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Boom.Failed", "Cause": "inside"}}}]},
                "Fine": {"Type": "Succeed"},
                "Caught": pass(json!({"End": true}))
            }}),
            json!({"keep": 1}),
        ),
        (
            "retry",
            json!({"StartAt": "Try", "States": {
                "Try": {"Type": "Map", "End": true,
                        "Retry": [{"ErrorEquals": ["Item.Failed"], "IntervalSeconds": 1, "MaxAttempts": 1}],
                        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                        "ItemProcessor": {"StartAt": "Bad", "States": {"Bad": {"Type": "Fail", "Error": "Item.Failed", "Cause": "item"}}}},
                "Caught": pass(json!({"End": true}))
            }}),
            json!([1, 2]),
        ),
        (
            "wait",
            json!({"StartAt": "W", "States": {
                "W": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "Done"},
                "Done": pass(json!({"Parameters": {"waited.$": "$.delay"}, "End": true}))
            }}),
            json!({"delay": 1}),
        ),
    ]
}

/// Where moto and the documentation part ways: the case, why, and the documented outcome ours
/// must give instead.
fn differs(name: &str) -> Option<(&'static str, Outcome)> {
    match name {
        "no-choice" => Some((
            "the States Language names this error States.NoChoiceMatched; moto reports States.Runtime",
            Outcome::Failed {
                error: "States.NoChoiceMatched".into(),
                cause: "No Matches! The input of state \"Pick\" matched none of its choices and it has no Default.".into(),
            },
        )),
        "parallel" => Some((
            "`$[0].v` is a definite path (one value, as Jayway's JSONPath, which AWS uses, reads it); moto wraps it in an array",
            Outcome::Succeeded {
                output: json!({"both": {"left": 1, "right": ["r"]}, "x": 1}),
            },
        )),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn definitions_run_as_on_motos_interpreter() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let mut disagreements = Vec::new();
    for (name, definition, input) in cases() {
        // moto cannot copy a state machine once an execution has run (its threads' locks end
        // up in the copy): each case starts from a reset moto.
        for (path, body) in [
            ("/moto-api/reset", json!({})),
            (
                "/moto-api/config",
                json!({"stepfunctions": {"execute_state_machine": true}}),
            ),
        ] {
            let (status, answer) = post(&moto, path, None, &body);
            assert!((200..300).contains(&status), "{path}: {status}: {answer}");
        }
        let theirs = run_on_moto(&moto, name, &definition, &input);
        let ours = run_here(name, &definition, &input).await;
        if let Some((reason, documented)) = differs(name) {
            println!("{name}: moto differs ({reason}): moto {theirs:?}");
            assert_eq!(ours, documented, "{name}");
            continue;
        }
        if theirs != ours {
            disagreements.push(format!("{name}:\n  moto: {theirs:?}\n  ours: {ours:?}"));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

#[test]
fn invoke_runs_a_state_machine_on_aws_with_remote() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let (status, answer) = post(
        &moto,
        "/moto-api/config",
        None,
        &json!({"stepfunctions": {"execute_state_machine": true}}),
    );
    assert!((200..300).contains(&status), "{status}: {answer}");
    let definition = json!({"StartAt": "Shape", "States": {
        "Shape": {"Type": "Pass", "Parameters": {"total.$": "$.amount"}, "Next": "Big"},
        "Big": {"Type": "Choice",
                "Choices": [{"Variable": "$.total", "NumericGreaterThan": 100, "Next": "Refuse"}],
                "Default": "Done"},
        "Refuse": {"Type": "Fail", "Error": "TooBig", "Cause": "over 100"},
        "Done": {"Type": "Succeed"},
    }});
    call(
        &moto,
        "CreateStateMachine",
        json!({"name": "amounts", "definition": definition.to_string(),
               "roleArn": format!("arn:aws:iam::{ACCOUNT}:role/states")}),
    );
    let invoke = |data: &str| {
        let mut command = crate::support::lambdakit();
        command.args([
            "invoke",
            "--state-machine",
            "amounts",
            "--remote",
            "--data",
            data,
        ]);
        moto.environment(&mut command);
        command.output().unwrap()
    };
    let small = invoke(r#"{"amount": 7}"#);
    assert!(small.status.success(), "{small:?}");
    let output: Value = serde_json::from_slice(&small.stdout).unwrap();
    assert_eq!(output, json!({"total": 7}));
    let path = String::from_utf8_lossy(&small.stderr);
    let states: Vec<&str> = path
        .lines()
        .filter_map(|line| line.split_whitespace().nth(2))
        .collect();
    assert_eq!(states[..3], ["Shape", "Big", "Done"], "{path}");
    assert!(path.contains("SUCCEEDED"), "{path}");
}
