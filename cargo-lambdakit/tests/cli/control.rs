//! The local Lambda's control plane, driven by `aws-sdk-lambda` as a user would: functions
//! created from zips, invoked, described, listed and deleted, and the errors AWS gives.

use std::path::PathBuf;

use aws_sdk_lambda::error::ProvideErrorMetadata as _;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Architecture, Environment, FunctionCode, Runtime, State};
use cargo_lambdakit::package::zip::{self, Entry};
use serde_json::Value;

use crate::sdk::{client, queues_and_dry_runs};
use crate::support::Serve;

/// `behave` as `serve` built it for this machine: beside this crate's binary, in the same
/// target directory.
fn behave_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cargo-lambdakit")).with_file_name("behave")
}

/// A `serve` of `behave` whose created functions' code goes in a directory of the test's,
/// removed with it (the test stops `serve` with a kill, which leaves it no time to clean up).
struct Served {
    serve: Serve,
    state: PathBuf,
}

impl Served {
    fn start(test: &str) -> Self {
        let state =
            std::env::temp_dir().join(format!("lambdakit-control-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&state);
        let serve = Self::serve(&state);
        Self { serve, state }
    }

    fn serve(state: &std::path::Path) -> Serve {
        Serve::start_with(
            "test-functions",
            &["--bin", "behave", "--state", state.to_str().unwrap()],
        )
    }

    /// Kills `serve` (no time to tidy up, as in a crash) and starts another on the same state.
    fn restart(&mut self) {
        self.serve.kill();
        self.serve = Self::serve(&self.state);
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// A zip of `entries` as CreateFunction takes it.
fn zipped(entries: Vec<Entry>) -> Vec<u8> {
    zip::write(entries).unwrap().bytes
}

fn create(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    zip: Vec<u8>,
    architecture: Architecture,
) -> aws_sdk_lambda::operation::create_function::builders::CreateFunctionFluentBuilder {
    lambda
        .create_function()
        .function_name(name)
        .runtime(Runtime::Providedal2023)
        .role("arn:aws:iam::123456789012:role/lambda")
        .handler("bootstrap")
        .architectures(architecture)
        .code(FunctionCode::builder().zip_file(Blob::new(zip)).build())
}

#[tokio::test]
async fn functions_created_from_zips_run_and_are_described_then_deleted() {
    let served = Served::start("described");
    let serve = &served.serve;
    let lambda = client(&serve.endpoint());
    let archive = zip::write(zip::entries(&behave_binary(), &[]).unwrap()).unwrap();

    let created = create(&lambda, "made", archive.bytes.clone(), Architecture::X8664)
        .memory_size(256)
        .timeout(10)
        .environment(
            Environment::builder()
                .variables("GREETING", "hello from the zip")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.function_name(), Some("made"));
    assert_eq!(
        created.function_arn(),
        Some("arn:aws:lambda:us-east-1:123456789012:function:made")
    );
    assert_eq!(created.code_sha256(), Some(archive.code_sha256().as_str()));
    assert_eq!(created.code_size(), archive.bytes.len() as i64);
    assert_eq!(created.memory_size(), Some(256));
    assert_eq!(created.timeout(), Some(10));
    assert_eq!(created.state(), Some(&State::Active));
    assert_eq!(created.version(), Some("$LATEST"));
    assert_eq!(created.architectures(), &[Architecture::X8664]);
    assert!(
        created
            .last_modified()
            .is_some_and(|at| at.len() == 28 && at.ends_with("+0000")),
        "{created:?}"
    );

    // Unpacked under `--state`, one directory per code upload, beside the function's record.
    let unpacked = || {
        std::fs::read_dir(served.state.join("made"))
            .into_iter()
            .flatten()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.is_dir())
            .collect::<Vec<_>>()
    };
    assert_eq!(unpacked().len(), 1);
    assert!(served.state.join("made/function.json").is_file());
    assert_eq!(
        std::fs::read(unpacked()[0].join("code/bootstrap")).unwrap(),
        std::fs::read(behave_binary()).unwrap()
    );

    let answer = lambda
        .invoke()
        .function_name("made")
        .payload(Blob::new(b"{}".to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.function_error(), None);
    let payload: Value = serde_json::from_slice(answer.payload().unwrap().as_ref()).unwrap();
    assert_eq!(payload["greeting"], "hello from the zip", "{payload}");
    assert_eq!(payload["memory"], 256, "{payload}");
    assert_eq!(
        payload["arn"], "arn:aws:lambda:us-east-1:123456789012:function:made",
        "{payload}"
    );
    queues_and_dry_runs(&lambda, "made").await;

    let got = lambda
        .get_function()
        .function_name("made")
        .send()
        .await
        .unwrap();
    let configuration = got.configuration().unwrap();
    assert_eq!(configuration.runtime(), Some(&Runtime::Providedal2023));
    assert_eq!(configuration.handler(), Some("bootstrap"));
    assert_eq!(
        configuration.role(),
        Some("arn:aws:iam::123456789012:role/lambda")
    );
    assert_eq!(
        configuration
            .environment()
            .and_then(|environment| environment.variables())
            .and_then(|variables| variables.get("GREETING"))
            .map(String::as_str),
        Some("hello from the zip")
    );
    let location = got.code().and_then(|code| code.location()).unwrap();
    assert_eq!(
        got.code().and_then(|code| code.repository_type()),
        Some("S3")
    );
    let path = location
        .strip_prefix(&format!("http://{}", serve.address))
        .unwrap();
    let downloaded = crate::support::get(serve.address, path);
    assert_eq!(downloaded.status, 200);
    assert_eq!(downloaded.body, archive.bytes);

    let configuration = lambda
        .get_function_configuration()
        .function_name("arn:aws:lambda:us-east-1:123456789012:function:made")
        .send()
        .await
        .unwrap();
    assert_eq!(configuration.memory_size(), Some(256));
    assert_eq!(
        configuration.code_sha256(),
        Some(archive.code_sha256().as_str())
    );

    // The project's own function is there too, with its settings, and stays.
    let listed = lambda.list_functions().send().await.unwrap();
    let names: Vec<_> = listed
        .functions()
        .iter()
        .filter_map(|function| function.function_name())
        .collect();
    assert_eq!(names, ["behave", "made"]);
    let project = lambda
        .get_function_configuration()
        .function_name("behave")
        .send()
        .await
        .unwrap();
    assert_eq!(
        project
            .environment()
            .and_then(|environment| environment.variables())
            .and_then(|variables| variables.get("GREETING"))
            .map(String::as_str),
        Some("hello from the config")
    );
    let kept = lambda
        .delete_function()
        .function_name("behave")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(kept.is_resource_conflict_exception(), "{kept:?}");
    for taken in ["behave", "made"] {
        let clash = create(&lambda, taken, archive.bytes.clone(), Architecture::X8664)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(clash.is_resource_conflict_exception(), "{clash:?}");
    }

    lambda
        .delete_function()
        .function_name("made")
        .send()
        .await
        .unwrap();
    assert!(!served.state.join("made").exists());
    let gone = lambda
        .get_function()
        .function_name("made")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(gone.is_resource_not_found_exception(), "{gone:?}");
    assert_eq!(
        gone.message(),
        Some("Function not found: arn:aws:lambda:us-east-1:123456789012:function:made")
    );
    let not_invoked = lambda
        .invoke()
        .function_name("made")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        not_invoked.is_resource_not_found_exception(),
        "{not_invoked:?}"
    );
    let not_deleted = lambda
        .delete_function()
        .function_name("made")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        not_deleted.is_resource_not_found_exception(),
        "{not_deleted:?}"
    );
    let names: Vec<_> = lambda
        .list_functions()
        .send()
        .await
        .unwrap()
        .functions()
        .iter()
        .filter_map(|function| function.function_name().map(str::to_owned))
        .collect();
    assert_eq!(names, ["behave"]);
}

#[tokio::test]
async fn zips_lambda_could_not_run_are_refused() {
    let served = Served::start("refused");
    let lambda = client(&served.serve.endpoint());
    let binary = std::fs::read(behave_binary()).unwrap();
    let entry = |name: &str, executable: bool| Entry {
        name: name.into(),
        data: binary.clone(),
        executable,
    };

    let refusals = [
        (
            zipped(vec![entry("main", true)]),
            Architecture::X8664,
            "no `bootstrap`",
        ),
        (
            zipped(vec![entry("bootstrap", false)]),
            Architecture::X8664,
            "not executable",
        ),
        (
            zipped(vec![entry("bootstrap", true)]),
            Architecture::Arm64,
            "built for x86_64, but Architectures is `arm64`",
        ),
        (b"not a zip".to_vec(), Architecture::X8664, "not a zip"),
    ];
    for (zip, architecture, problem) in refusals {
        let refused = create(&lambda, "refused", zip, architecture)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(
            refused.is_invalid_parameter_value_exception(),
            "{refused:?}"
        );
        assert!(
            refused
                .message()
                .is_some_and(|message| message.contains(problem)),
            "{problem}: {refused:?}"
        );
    }
    let missing = lambda
        .get_function()
        .function_name("refused")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(missing.is_resource_not_found_exception(), "{missing:?}");
}

/// What `behave` answers with, invoked with `{}` as `qualifier` of `name` (unqualified: none).
async fn invoked(lambda: &aws_sdk_lambda::Client, name: &str, qualifier: Option<&str>) -> Value {
    let answer = lambda
        .invoke()
        .function_name(name)
        .set_qualifier(qualifier.map(str::to_owned))
        .payload(Blob::new(b"{}".to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.function_error(), None, "{answer:?}");
    serde_json::from_slice(answer.payload().unwrap().as_ref()).unwrap()
}

fn names(listed: &aws_sdk_lambda::operation::list_functions::ListFunctionsOutput) -> Vec<String> {
    listed
        .functions()
        .iter()
        .filter_map(|function| function.function_name().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn created_functions_outlive_a_restart_and_a_broken_entry_spoils_only_itself() {
    let mut served = Served::start("restart");
    let archive = zip::write(zip::entries(&behave_binary(), &[]).unwrap()).unwrap();
    let lambda = client(&served.serve.endpoint());
    for (name, greeting) in [("kept", "kept"), ("spoiled", "spoiled")] {
        create(&lambda, name, archive.bytes.clone(), Architecture::X8664)
            .description(format!("the {name} one"))
            .environment(
                Environment::builder()
                    .variables("GREETING", greeting)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    let before = lambda
        .get_function_configuration()
        .function_name("kept")
        .send()
        .await
        .unwrap();

    served.restart();
    let lambda = client(&served.serve.endpoint());
    assert_eq!(
        names(&lambda.list_functions().send().await.unwrap()),
        ["behave", "kept", "spoiled"]
    );
    let after = lambda
        .get_function_configuration()
        .function_name("kept")
        .send()
        .await
        .unwrap();
    assert_eq!(after, before);
    assert_eq!(after.description(), Some("the kept one"));
    assert_eq!(invoked(&lambda, "kept", None).await["greeting"], "kept");
    assert_eq!(
        invoked(&lambda, "spoiled", None).await["greeting"],
        "spoiled"
    );
    assert!(
        served
            .serve
            .errors()
            .iter()
            .all(|line| !line.starts_with("warning:"))
    );

    // A record garbled (by hand, or by a disk gone bad), and a function whose CreateFunction
    // stopped before its record was written: each is skipped and left as it is.
    let record = served.state.join("spoiled").join("function.json");
    std::fs::write(&record, "{\"format\": 1, \"name\": \"spo").unwrap();
    let half = served.state.join("half").join("0123");
    std::fs::create_dir_all(half.join("code")).unwrap();
    served.restart();
    let lambda = client(&served.serve.endpoint());
    let errors = served
        .serve
        .errors_with(&["created function `spoiled`", "created function `half`"])
        .join("\n");
    assert!(
        errors.contains(&format!(
            "warning: created function `spoiled` is not served: `{}` is not a function record: ",
            record.display()
        )),
        "{errors}"
    );
    assert!(
        errors.contains(&format!(
            "warning: created function `half` is not served: `{}` is missing",
            served.state.join("half").join("function.json").display()
        )),
        "{errors}"
    );
    assert!(
        errors.contains(&format!(
            "hint: fix it, or move `{}` out of the state directory",
            served.state.join("spoiled").display()
        )),
        "{errors}"
    );
    assert_eq!(
        names(&lambda.list_functions().send().await.unwrap()),
        ["behave", "kept"]
    );
    assert_eq!(invoked(&lambda, "kept", None).await["greeting"], "kept");
    let missing = lambda
        .get_function()
        .function_name("spoiled")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(missing.is_resource_not_found_exception(), "{missing:?}");
    // Its name is not free: a CreateFunction would overwrite what the user may yet mend.
    let clash = create(
        &lambda,
        "spoiled",
        archive.bytes.clone(),
        Architecture::X8664,
    )
    .send()
    .await
    .unwrap_err()
    .into_service_error();
    assert!(clash.is_resource_conflict_exception(), "{clash:?}");
    assert!(
        clash
            .message()
            .is_some_and(|message| message.contains("spoiled/function.json")),
        "{clash:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&record).unwrap(),
        "{\"format\": 1, \"name\": \"spo"
    );
    assert!(half.join("code").is_dir());
}

#[tokio::test]
async fn code_and_configuration_updates_reach_the_next_invocation() {
    let mut served = Served::start("updated");
    let behave = zip::write(zip::entries(&behave_binary(), &[]).unwrap()).unwrap();
    let lambda = client(&served.serve.endpoint());
    let created = create(
        &lambda,
        "changing",
        behave.bytes.clone(),
        Architecture::X8664,
    )
    .environment(Environment::builder().variables("GREETING", "one").build())
    .send()
    .await
    .unwrap();
    let first = invoked(&lambda, "changing", None).await;
    assert_eq!(first["greeting"], "one");
    assert!(first["remainingMs"].as_u64().unwrap() <= 3_000, "{first}");

    let configured = lambda
        .update_function_configuration()
        .function_name("changing")
        .environment(Environment::builder().variables("GREETING", "two").build())
        .timeout(20)
        .memory_size(512)
        .description("the second")
        .send()
        .await
        .unwrap();
    assert_eq!(configured.timeout(), Some(20));
    assert_eq!(configured.memory_size(), Some(512));
    assert_eq!(configured.description(), Some("the second"));
    assert_eq!(configured.state(), Some(&State::Active));
    assert_eq!(
        configured.last_update_status(),
        Some(&aws_sdk_lambda::types::LastUpdateStatus::Successful)
    );
    assert_eq!(configured.code_sha256(), created.code_sha256());
    assert_ne!(configured.revision_id(), created.revision_id());
    assert!(configured.revision_id().is_some());
    let second = invoked(&lambda, "changing", None).await;
    assert_eq!(second["greeting"], "two");
    assert_eq!(second["memory"], 512);
    assert!(second["remainingMs"].as_u64().unwrap() > 3_000, "{second}");
    assert_ne!(second["pid"], first["pid"], "the old instance was reused");

    // Code that cannot start: the next invocation runs it, and fails as Lambda's would.
    let broken = zipped(vec![Entry {
        name: "bootstrap".into(),
        data: b"#!/bin/sh\nexit 3\n".to_vec(),
        executable: true,
    }]);
    let updated = lambda
        .update_function_code()
        .function_name("changing")
        .zip_file(Blob::new(broken.clone()))
        .send()
        .await
        .unwrap();
    assert_ne!(updated.code_sha256(), created.code_sha256());
    assert_eq!(updated.code_size(), broken.len() as i64);
    assert_ne!(updated.revision_id(), configured.revision_id());
    assert_eq!(updated.timeout(), Some(20), "the configuration stays");
    let failed = lambda
        .invoke()
        .function_name("changing")
        .send()
        .await
        .unwrap();
    assert_eq!(failed.function_error(), Some("Unhandled"), "{failed:?}");
    let got = lambda
        .get_function()
        .function_name("changing")
        .send()
        .await
        .unwrap();
    let location = got.code().and_then(|code| code.location()).unwrap();
    let path = location
        .strip_prefix(&format!("http://{}", served.serve.address))
        .unwrap();
    assert_eq!(crate::support::get(served.serve.address, path).body, broken);

    // A stale RevisionId, a zip Lambda could not run: refused, and nothing changes.
    let stale = lambda
        .update_function_code()
        .function_name("changing")
        .zip_file(Blob::new(behave.bytes.clone()))
        .revision_id(configured.revision_id().unwrap())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(stale.is_precondition_failed_exception(), "{stale:?}");
    let no_bootstrap = lambda
        .update_function_code()
        .function_name("changing")
        .zip_file(Blob::new(zipped(vec![Entry {
            name: "main".into(),
            data: b"#!/bin/sh\n".to_vec(),
            executable: true,
        }])))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        no_bootstrap.is_invalid_parameter_value_exception(),
        "{no_bootstrap:?}"
    );
    let too_little = lambda
        .update_function_configuration()
        .function_name("changing")
        .memory_size(64)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        too_little.is_invalid_parameter_value_exception(),
        "{too_little:?}"
    );

    let back = lambda
        .update_function_code()
        .function_name("changing")
        .zip_file(Blob::new(behave.bytes.clone()))
        .revision_id(updated.revision_id().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(back.code_sha256(), Some(behave.code_sha256().as_str()));
    assert_eq!(invoked(&lambda, "changing", None).await["greeting"], "two");
    // One code directory: the replaced ones are gone.
    let code_dirs = std::fs::read_dir(served.state.join("changing"))
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().path().is_dir())
        .count();
    assert_eq!(code_dirs, 1);

    for (name, conflict) in [("nope", false), ("behave", true)] {
        let refused = lambda
            .update_function_configuration()
            .function_name(name)
            .timeout(5)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert_eq!(
            refused.is_resource_conflict_exception(),
            conflict,
            "{refused:?}"
        );
        assert_eq!(
            refused.is_resource_not_found_exception(),
            !conflict,
            "{refused:?}"
        );
        let refused = lambda
            .update_function_code()
            .function_name(name)
            .zip_file(Blob::new(behave.bytes.clone()))
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert_eq!(
            refused.is_resource_conflict_exception(),
            conflict,
            "{refused:?}"
        );
    }

    served.restart();
    let lambda = client(&served.serve.endpoint());
    let kept = lambda
        .get_function_configuration()
        .function_name("changing")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.revision_id(), back.revision_id());
    assert_eq!(kept.description(), Some("the second"));
    let third = invoked(&lambda, "changing", None).await;
    assert_eq!(third["greeting"], "two");
    assert_eq!(third["memory"], 512);
}

#[tokio::test]
async fn versions_and_aliases_pin_what_is_invoked() {
    let mut served = Served::start("versions");
    let behave = zip::write(zip::entries(&behave_binary(), &[]).unwrap()).unwrap();
    let lambda = client(&served.serve.endpoint());
    let arn = "arn:aws:lambda:us-east-1:123456789012:function:versioned";
    create(
        &lambda,
        "versioned",
        behave.bytes.clone(),
        Architecture::X8664,
    )
    .environment(Environment::builder().variables("GREETING", "one").build())
    .send()
    .await
    .unwrap();
    let first = lambda
        .publish_version()
        .function_name("versioned")
        .send()
        .await
        .unwrap();
    assert_eq!(first.version(), Some("1"));
    assert_eq!(first.function_arn(), Some(format!("{arn}:1").as_str()));
    // Nothing changed since: no new version.
    let again = lambda
        .publish_version()
        .function_name("versioned")
        .send()
        .await
        .unwrap();
    assert_eq!(again.version(), Some("1"));
    lambda
        .update_function_configuration()
        .function_name("versioned")
        .environment(Environment::builder().variables("GREETING", "two").build())
        .send()
        .await
        .unwrap();
    let wrong_code = lambda
        .publish_version()
        .function_name("versioned")
        .code_sha256("not-the-code")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        wrong_code.is_invalid_parameter_value_exception(),
        "{wrong_code:?}"
    );
    let second = lambda
        .publish_version()
        .function_name("versioned")
        .description("the second")
        .code_sha256(behave.code_sha256())
        .send()
        .await
        .unwrap();
    assert_eq!(second.version(), Some("2"));
    assert_eq!(second.description(), Some("the second"));
    let listed: Vec<_> = lambda
        .list_versions_by_function()
        .function_name("versioned")
        .send()
        .await
        .unwrap()
        .versions()
        .iter()
        .filter_map(|version| version.version().map(str::to_owned))
        .collect();
    assert_eq!(listed, ["$LATEST", "1", "2"]);

    for (qualifier, greeting, invoked_arn) in [
        ("1", "one", format!("{arn}:1")),
        ("2", "two", format!("{arn}:2")),
        ("$LATEST", "two", format!("{arn}:$LATEST")),
    ] {
        let answer = lambda
            .invoke()
            .function_name("versioned")
            .qualifier(qualifier)
            .payload(Blob::new(b"{}".to_vec()))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.executed_version(), Some(qualifier));
        let payload: Value = serde_json::from_slice(answer.payload().unwrap().as_ref()).unwrap();
        assert_eq!(payload["greeting"], greeting, "{qualifier}: {payload}");
        assert_eq!(payload["arn"], invoked_arn.as_str(), "{payload}");
    }

    let live = lambda
        .create_alias()
        .function_name("versioned")
        .name("live")
        .function_version("1")
        .description("what users see")
        .send()
        .await
        .unwrap();
    assert_eq!(live.alias_arn(), Some(format!("{arn}:live").as_str()));
    assert_eq!(live.function_version(), Some("1"));
    let twice = lambda
        .create_alias()
        .function_name("versioned")
        .name("live")
        .function_version("2")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(twice.is_resource_conflict_exception(), "{twice:?}");
    let unpublished = lambda
        .create_alias()
        .function_name("versioned")
        .name("later")
        .function_version("9")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        unpublished.is_resource_not_found_exception(),
        "{unpublished:?}"
    );
    // By alias: as a qualified name, as a qualified ARN.
    let by_name = invoked(&lambda, "versioned:live", None).await;
    assert_eq!(by_name["greeting"], "one");
    assert_eq!(by_name["arn"], format!("{arn}:live"));
    let by_arn = invoked(&lambda, &format!("{arn}:live"), None).await;
    assert_eq!(by_arn["greeting"], "one");
    let described = lambda
        .get_function_configuration()
        .function_name("versioned")
        .qualifier("live")
        .send()
        .await
        .unwrap();
    assert_eq!(described.version(), Some("1"));
    assert_eq!(
        described
            .environment()
            .and_then(|environment| environment.variables())
            .and_then(|variables| variables.get("GREETING"))
            .map(String::as_str),
        Some("one")
    );

    let moved = lambda
        .update_alias()
        .function_name("versioned")
        .name("live")
        .function_version("2")
        .revision_id(live.revision_id().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(moved.function_version(), Some("2"));
    assert_eq!(moved.description(), Some("what users see"));
    assert_eq!(
        invoked(&lambda, "versioned", Some("live")).await["greeting"],
        "two"
    );
    let got = lambda
        .get_alias()
        .function_name("versioned")
        .name("live")
        .send()
        .await
        .unwrap();
    assert_eq!(got.function_version(), Some("2"));
    let aliases = |version: Option<&str>| {
        let lambda = lambda.clone();
        let version = version.map(str::to_owned);
        async move {
            lambda
                .list_aliases()
                .function_name("versioned")
                .set_function_version(version)
                .send()
                .await
                .unwrap()
                .aliases()
                .iter()
                .filter_map(|alias| alias.name().map(str::to_owned))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(aliases(None).await, ["live"]);
    assert_eq!(aliases(Some("2")).await, ["live"]);
    assert_eq!(aliases(Some("1")).await, Vec::<String>::new());

    let unknown_alias = lambda
        .get_alias()
        .function_name("versioned")
        .name("nope")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        unknown_alias.is_resource_not_found_exception(),
        "{unknown_alias:?}"
    );
    for qualifier in ["7", "nope"] {
        let missing = lambda
            .invoke()
            .function_name("versioned")
            .qualifier(qualifier)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(missing.is_resource_not_found_exception(), "{missing:?}");
        assert_eq!(
            missing.message(),
            Some(format!("Function not found: {arn}:{qualifier}").as_str())
        );
    }
    let named = lambda
        .delete_function()
        .function_name("versioned")
        .qualifier("2")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(named.is_resource_conflict_exception(), "{named:?}");
    lambda
        .delete_alias()
        .function_name("versioned")
        .name("live")
        .send()
        .await
        .unwrap();
    lambda
        .delete_function()
        .function_name("versioned")
        .qualifier("2")
        .send()
        .await
        .unwrap();
    let deleted = lambda
        .invoke()
        .function_name("versioned")
        .qualifier("2")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(deleted.is_resource_not_found_exception(), "{deleted:?}");
    lambda
        .create_alias()
        .function_name("versioned")
        .name("stable")
        .function_version("1")
        .send()
        .await
        .unwrap();

    served.restart();
    let lambda = client(&served.serve.endpoint());
    assert_eq!(
        invoked(&lambda, "versioned", Some("stable")).await["greeting"],
        "one"
    );
    assert_eq!(invoked(&lambda, "versioned", None).await["greeting"], "two");
    let listed: Vec<_> = lambda
        .list_versions_by_function()
        .function_name("versioned")
        .send()
        .await
        .unwrap()
        .versions()
        .iter()
        .filter_map(|version| version.version().map(str::to_owned))
        .collect();
    assert_eq!(listed, ["$LATEST", "1"]);
    // `Publish` on CreateFunction and UpdateFunctionCode publishes in the same call.
    let created = create(
        &lambda,
        "published",
        behave.bytes.clone(),
        Architecture::X8664,
    )
    .publish(true)
    .send()
    .await
    .unwrap();
    assert_eq!(created.version(), Some("1"));
    let mut noted = zip::entries(&behave_binary(), &[]).unwrap();
    noted.push(Entry {
        name: "note.txt".into(),
        data: b"the second upload".to_vec(),
        executable: false,
    });
    let updated = lambda
        .update_function_code()
        .function_name("published")
        .zip_file(Blob::new(zipped(noted)))
        .publish(true)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.version(), Some("2"));
    assert_eq!(
        updated.function_arn(),
        Some("arn:aws:lambda:us-east-1:123456789012:function:published:2")
    );
    assert_ne!(updated.code_sha256(), created.code_sha256());

    // The project's functions have `$LATEST` only, and no aliases to make.
    let project = lambda
        .create_alias()
        .function_name("behave")
        .name("live")
        .function_version("$LATEST")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(project.is_resource_conflict_exception(), "{project:?}");
    let project = lambda
        .invoke()
        .function_name("behave")
        .qualifier("1")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(project.is_resource_not_found_exception(), "{project:?}");
}

#[tokio::test]
async fn permissions_and_function_urls_are_kept_and_urls_served() {
    use aws_sdk_lambda::types::FunctionUrlAuthType;

    let mut served = Served::start("access");
    let behave = zip::write(zip::entries(&behave_binary(), &[]).unwrap()).unwrap();
    let lambda = client(&served.serve.endpoint());
    let arn = "arn:aws:lambda:us-east-1:123456789012:function:guarded";
    create(
        &lambda,
        "guarded",
        behave.bytes.clone(),
        Architecture::X8664,
    )
    .tags("team", "orders")
    .send()
    .await
    .unwrap();
    let tags = |lambda: aws_sdk_lambda::Client| async move {
        let listed = lambda.list_tags().resource(arn).send().await.unwrap();
        let mut tags: Vec<_> = listed
            .tags()
            .unwrap()
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        tags.sort();
        tags
    };
    assert_eq!(tags(lambda.clone()).await, ["team=orders"]);
    lambda
        .tag_resource()
        .resource(arn)
        .tags("stage", "dev")
        .tags("team", "billing")
        .send()
        .await
        .unwrap();
    lambda
        .untag_resource()
        .resource(arn)
        .tag_keys("stage")
        .send()
        .await
        .unwrap();
    lambda
        .tag_resource()
        .resource(arn)
        .tags("owner", "me")
        .send()
        .await
        .unwrap();
    let got = lambda
        .get_function()
        .function_name("guarded")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.tags()
            .and_then(|tags| tags.get("team"))
            .map(String::as_str),
        Some("billing")
    );

    let none = lambda
        .get_policy()
        .function_name("guarded")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(none.is_resource_not_found_exception(), "{none:?}");
    let added = lambda
        .add_permission()
        .function_name("guarded")
        .statement_id("from-s3")
        .action("lambda:InvokeFunction")
        .principal("s3.amazonaws.com")
        .source_arn("arn:aws:s3:::uploads")
        .source_account("123456789012")
        .send()
        .await
        .unwrap();
    let statement: Value = serde_json::from_str(added.statement().unwrap()).unwrap();
    assert_eq!(
        statement,
        serde_json::json!({
            "Sid": "from-s3",
            "Effect": "Allow",
            "Principal": { "Service": "s3.amazonaws.com" },
            "Action": "lambda:InvokeFunction",
            "Resource": arn,
            "Condition": {
                "ArnLike": { "AWS:SourceArn": "arn:aws:s3:::uploads" },
                "StringEquals": { "AWS:SourceAccount": "123456789012" },
            },
        })
    );
    let twice = lambda
        .add_permission()
        .function_name("guarded")
        .statement_id("from-s3")
        .action("lambda:InvokeFunction")
        .principal("s3.amazonaws.com")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(twice.is_resource_conflict_exception(), "{twice:?}");
    lambda
        .add_permission()
        .function_name("guarded")
        .statement_id("public-url")
        .action("lambda:InvokeFunctionUrl")
        .principal("*")
        .function_url_auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap();
    let sids = |policy: &str| -> Vec<String> {
        let policy: Value = serde_json::from_str(policy).unwrap();
        assert_eq!(policy["Version"], "2012-10-17");
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|statement| statement["Sid"].as_str().unwrap().to_owned())
            .collect()
    };
    let policy = lambda
        .get_policy()
        .function_name("guarded")
        .send()
        .await
        .unwrap();
    assert_eq!(sids(policy.policy().unwrap()), ["from-s3", "public-url"]);
    lambda
        .remove_permission()
        .function_name("guarded")
        .statement_id("from-s3")
        .send()
        .await
        .unwrap();
    let gone = lambda
        .remove_permission()
        .function_name("guarded")
        .statement_id("from-s3")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(gone.is_resource_not_found_exception(), "{gone:?}");

    // No URL until one is configured.
    let address = served.serve.address;
    assert_eq!(
        crate::support::get(address, "/lambda-url/guarded/").status,
        404
    );
    let no_url = lambda
        .get_function_url_config()
        .function_name("guarded")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(no_url.is_resource_not_found_exception(), "{no_url:?}");
    let url = lambda
        .create_function_url_config()
        .function_name("guarded")
        .auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap();
    assert_eq!(
        url.function_url(),
        format!("http://{address}/lambda-url/guarded/")
    );
    assert_eq!(url.function_arn(), arn);
    let twice = lambda
        .create_function_url_config()
        .function_name("guarded")
        .auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(twice.is_resource_conflict_exception(), "{twice:?}");
    let answer = crate::support::get(address, "/lambda-url/guarded/orders?id=1");
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.json()["arn"], arn);
    let updated = lambda
        .update_function_url_config()
        .function_name("guarded")
        .auth_type(FunctionUrlAuthType::AwsIam)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.auth_type(), &FunctionUrlAuthType::AwsIam);

    // An alias's URL runs the alias's version.
    lambda
        .publish_version()
        .function_name("guarded")
        .send()
        .await
        .unwrap();
    lambda
        .create_alias()
        .function_name("guarded")
        .name("live")
        .function_version("1")
        .send()
        .await
        .unwrap();
    let live = lambda
        .create_function_url_config()
        .function_name("guarded")
        .qualifier("live")
        .auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap();
    assert_eq!(
        live.function_url(),
        format!("http://{address}/lambda-url/guarded:live/")
    );
    assert_eq!(live.function_arn(), format!("{arn}:live"));
    lambda
        .delete_function_url_config()
        .function_name("guarded")
        .send()
        .await
        .unwrap();
    assert_eq!(
        crate::support::get(address, "/lambda-url/guarded/").status,
        404
    );

    served.restart();
    let lambda = client(&served.serve.endpoint());
    let address = served.serve.address;
    let answer = crate::support::get(address, "/lambda-url/guarded:live/");
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.json()["arn"], format!("{arn}:live"));
    let policy = lambda
        .get_policy()
        .function_name("guarded")
        .send()
        .await
        .unwrap();
    assert_eq!(sids(policy.policy().unwrap()), ["public-url"]);
    assert_eq!(tags(lambda.clone()).await, ["owner=me", "team=billing"]);
    // The project's functions always have their URL.
    let project = lambda
        .get_function_url_config()
        .function_name("behave")
        .send()
        .await
        .unwrap();
    assert_eq!(
        project.function_url(),
        format!("http://{address}/lambda-url/behave/")
    );
    // An alias deleted takes its URL with it.
    lambda
        .delete_alias()
        .function_name("guarded")
        .name("live")
        .send()
        .await
        .unwrap();
    assert_eq!(
        crate::support::get(address, "/lambda-url/guarded:live/").status,
        404
    );
    lambda
        .create_alias()
        .function_name("guarded")
        .name("live")
        .function_version("1")
        .send()
        .await
        .unwrap();
    let bare = lambda
        .get_function_url_config()
        .function_name("guarded")
        .qualifier("live")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(bare.is_resource_not_found_exception(), "{bare:?}");
    let unknown = lambda
        .add_permission()
        .function_name("nope")
        .statement_id("x")
        .action("lambda:InvokeFunction")
        .principal("s3.amazonaws.com")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(unknown.is_resource_not_found_exception(), "{unknown:?}");
}

#[tokio::test]
async fn reserved_concurrency_caps_a_function_and_functions_list_a_page_at_a_time() {
    let served = Served::start("concurrency");
    let behave = zip::write(zip::entries(&behave_binary(), &[]).unwrap()).unwrap();
    let lambda = client(&served.serve.endpoint());
    for name in ["capped", "paged-a", "paged-b"] {
        create(&lambda, name, behave.bytes.clone(), Architecture::X8664)
            .timeout(10)
            .send()
            .await
            .unwrap();
    }

    let page = lambda.list_functions().max_items(2).send().await.unwrap();
    assert_eq!(names(&page), ["behave", "capped"]);
    let marker = page.next_marker().unwrap();
    let next = lambda
        .list_functions()
        .max_items(2)
        .marker(marker)
        .send()
        .await
        .unwrap();
    assert_eq!(names(&next), ["paged-a", "paged-b"]);
    assert_eq!(next.next_marker(), None);
    let mut all = Vec::new();
    let mut pages = lambda
        .list_functions()
        .max_items(1)
        .into_paginator()
        .items()
        .send();
    while let Some(function) = pages.next().await {
        all.push(function.unwrap().function_name().unwrap().to_owned());
    }
    assert_eq!(all, ["behave", "capped", "paged-a", "paged-b"]);

    let none = lambda
        .get_function_concurrency()
        .function_name("capped")
        .send()
        .await
        .unwrap();
    assert_eq!(none.reserved_concurrent_executions(), None);
    let throttle = |reserved: i32| {
        lambda
            .put_function_concurrency()
            .function_name("capped")
            .reserved_concurrent_executions(reserved)
            .send()
    };
    assert_eq!(
        throttle(0).await.unwrap().reserved_concurrent_executions(),
        Some(0)
    );
    let throttled = lambda
        .invoke()
        .function_name("capped")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(throttled.is_too_many_requests_exception(), "{throttled:?}");
    let got = lambda
        .get_function()
        .function_name("capped")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.concurrency()
            .and_then(|concurrency| concurrency.reserved_concurrent_executions()),
        Some(0)
    );

    // One at a time: a second invocation while the first sleeps is throttled.
    throttle(1).await.unwrap();
    let slow = lambda
        .invoke()
        .function_name("capped")
        .payload(Blob::new(br#"{"sleep_ms": 3000}"#.to_vec()))
        .send();
    let second = async {
        tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
        lambda
            .invoke()
            .function_name("capped")
            .payload(Blob::new(b"{}".to_vec()))
            .send()
            .await
    };
    let (slow, second) = tokio::join!(slow, second);
    assert_eq!(slow.unwrap().function_error(), None);
    let second = second.unwrap_err().into_service_error();
    assert!(second.is_too_many_requests_exception(), "{second:?}");

    lambda
        .delete_function_concurrency()
        .function_name("capped")
        .send()
        .await
        .unwrap();
    let none = lambda
        .get_function_concurrency()
        .function_name("capped")
        .send()
        .await
        .unwrap();
    assert_eq!(none.reserved_concurrent_executions(), None);
    invoked(&lambda, "capped", None).await;
    let project = lambda
        .put_function_concurrency()
        .function_name("behave")
        .reserved_concurrent_executions(2)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(project.is_resource_conflict_exception(), "{project:?}");

    // The AWS CLI, unmodified but for its endpoint, reads the same control plane.
    let Some(mut aws) = crate::serve::aws_cli() else {
        return;
    };
    let output = aws
        .args(["lambda", "list-functions", "--endpoint-url"])
        .arg(served.serve.endpoint())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let listed: Value = serde_json::from_slice(&output.stdout).unwrap();
    let listed: Vec<_> = listed["Functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|function| function["FunctionName"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["behave", "capped", "paged-a", "paged-b"]);
    let output = crate::serve::aws_cli()
        .unwrap()
        .args([
            "lambda",
            "get-function-configuration",
            "--function-name",
            "nope",
            "--endpoint-url",
        ])
        .arg(served.serve.endpoint())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("(ResourceNotFoundException)")
            && stderr.contains(
                "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope"
            ),
        "{stderr}"
    );
}
