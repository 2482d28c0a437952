//! Extensions in the CLI: a small project of its own (a function `shop` and an extension
//! `telemetry-shipper`, neither run), built and zipped as a layer, deployed to moto (the layer
//! published once, attached, republished only when it changes) and destroyed; bad settings
//! refused with the key and the fix before anything is built.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::deploy::{actions, json, stderr};
use crate::moto::{ACCOUNT, Moto, REGION};
use crate::support::{lambdakit, rust_target_installed, tool, works};

/// A project in a scratch directory, removed when dropped.
struct Shop {
    dir: PathBuf,
}

const SETTINGS: &str = r#"
[package.metadata.lambdakit.extensions.telemetry-shipper]
description = "Ships the function's logs"

[package.metadata.lambdakit.functions.shop]
extensions = ["telemetry-shipper"]
"#;

impl Shop {
    /// The project with `settings` for `[package.metadata.lambdakit]`.
    fn new(test: &str, settings: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("lambdakit-ext-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src/bin")).unwrap();
        std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
        let shop = Self { dir };
        shop.extension_says("v1");
        shop.settings(settings);
        shop
    }

    fn settings(&self, settings: &str) {
        std::fs::write(
            self.dir.join("Cargo.toml"),
            format!(
                "[package]\nname = \"shop\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n{settings}"
            ),
        )
        .unwrap();
    }

    /// Rewrites the extension so that its binary (and so its layer) changes.
    fn extension_says(&self, what: &str) {
        std::fs::write(
            self.dir.join("src/bin/telemetry-shipper.rs"),
            format!("fn main() {{\n    println!(\"{what}\");\n}}\n"),
        )
        .unwrap();
    }

    /// `cargo lambdakit ARGS --manifest-path` this project.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = lambdakit();
        command
            .args(args)
            .arg("--manifest-path")
            .arg(self.dir.join("Cargo.toml"));
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// `ARGS` against `moto`.
    fn on(&self, moto: &Moto, args: &[&str]) -> Output {
        moto.environment(&mut self.command(args)).output().unwrap()
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Each entry of a zip as Python's zipfile reads it: name and Unix mode.
fn entries(zip: &Path) -> Vec<(String, u32)> {
    let script = "import json, sys, zipfile\n\
                  z = zipfile.ZipFile(sys.argv[1])\n\
                  assert z.testzip() is None\n\
                  print(json.dumps([[i.filename, i.external_attr >> 16] for i in z.infolist()]))";
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(zip)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The build of `name` in a `build --output json` report.
fn build_of<'a>(report: &'a Value, key: &str, name: &str) -> &'a Value {
    report["builds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|build| build[key] == name)
        .unwrap_or_else(|| panic!("no {key} `{name}` in {report}"))
}

#[test]
fn extensions_are_built_and_zipped_as_layers() {
    let shop = Shop::new("build", SETTINGS);
    let report = json(&shop.run(&["build", "--output", "json"]));
    let function = build_of(&report, "function", "shop");
    assert_eq!(function["kind"], "function");
    assert!(
        function["zip"]
            .as_str()
            .unwrap()
            .ends_with("target/lambda/shop/bootstrap.zip")
    );
    let extension = build_of(&report, "extension", "telemetry-shipper");
    assert_eq!(extension["kind"], "extension");
    let binary = PathBuf::from(extension["bootstrap"].as_str().unwrap());
    assert!(
        binary.ends_with("target/lambda/telemetry-shipper/extensions/telemetry-shipper"),
        "{binary:?}"
    );
    let zip = PathBuf::from(extension["zip"].as_str().unwrap());
    assert!(
        zip.ends_with("target/lambda/telemetry-shipper/layer.zip"),
        "{zip:?}"
    );
    assert_eq!(
        entries(&zip),
        [("extensions/telemetry-shipper".to_owned(), 0o100_755)]
    );
    assert_eq!(
        cargo_lambdakit::build::elf::inspect(&binary)
            .unwrap()
            .architecture,
        "x86_64"
    );

    // `zip --bin` of the extension: the layer, not a bootstrap.
    let out = shop.dir.join("zips");
    let zipped = json(&shop.run(&[
        "zip",
        "--bin",
        "telemetry-shipper",
        "--output",
        "json",
        "--output-dir",
        out.to_str().unwrap(),
    ]));
    assert_eq!(zipped["zips"][0]["extension"], "telemetry-shipper");
    let layer = out.join("telemetry-shipper/layer.zip");
    assert_eq!(
        zipped["zips"][0]["zip"].as_str().map(PathBuf::from),
        Some(layer.clone())
    );
    assert_eq!(
        entries(&layer),
        [("extensions/telemetry-shipper".to_owned(), 0o100_755)]
    );
    // An extension built elsewhere, zipped with `--binary --extension`.
    let elsewhere = json(&shop.run(&[
        "zip",
        "--binary",
        binary.to_str().unwrap(),
        "--name",
        "shipper",
        "--extension",
        "--output",
        "json",
        "--output-dir",
        out.to_str().unwrap(),
    ]));
    assert_eq!(elsewhere["zips"][0]["kind"], "extension");
    assert_eq!(
        entries(&out.join("shipper/layer.zip")),
        [("extensions/shipper".to_owned(), 0o100_755)]
    );
}

#[test]
fn an_arm64_extension_is_laid_out_beside_the_x86_64_one() {
    let found = rust_target_installed("aarch64-unknown-linux-gnu")
        && works("aarch64-linux-gnu-gcc", &["--version"]);
    if !tool(
        found,
        "the arm64 tools",
        "`rustup target add aarch64-unknown-linux-gnu` and `apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross`",
    ) {
        return;
    }
    let shop = Shop::new("arm64", SETTINGS);
    let report = json(&shop.run(&[
        "build",
        "--bin",
        "telemetry-shipper",
        "--arch",
        "arm64",
        "--output",
        "json",
    ]));
    let extension = build_of(&report, "extension", "telemetry-shipper");
    assert_eq!(extension["architecture"], "arm64");
    let binary = PathBuf::from(extension["bootstrap"].as_str().unwrap());
    assert!(
        binary.ends_with("target/lambda/arm64/telemetry-shipper/extensions/telemetry-shipper"),
        "{binary:?}"
    );
    assert_eq!(
        cargo_lambdakit::build::elf::inspect(&binary)
            .unwrap()
            .architecture,
        "arm64"
    );
    assert_eq!(
        entries(Path::new(extension["zip"].as_str().unwrap())),
        [("extensions/telemetry-shipper".to_owned(), 0o100_755)]
    );
}

/// The layer ARNs of the function `name`, as Lambda reports them.
async fn layers_of(lambda: &aws_sdk_lambda::Client, name: &str) -> Vec<String> {
    lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
        .unwrap()
        .layers()
        .iter()
        .filter_map(|layer| layer.arn().map(str::to_owned))
        .collect()
}

/// The versions of the layer `name` on moto, newest first.
async fn versions_of(lambda: &aws_sdk_lambda::Client, name: &str) -> Vec<i64> {
    let mut versions: Vec<i64> = lambda
        .list_layer_versions()
        .layer_name(name)
        .send()
        .await
        .unwrap()
        .layer_versions()
        .iter()
        .map(|version| version.version())
        .collect();
    versions.sort_unstable_by(|one, other| other.cmp(one));
    versions
}

#[tokio::test]
async fn deploy_publishes_an_extension_once_attaches_it_and_destroy_removes_it() {
    let Some(moto) = Moto::start() else { return };
    moto.create_trigger_sources();
    let shop = Shop::new(
        "deploy",
        &format!("{SETTINGS}layers = [\"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:tools:1\"]\n"),
    );
    let layer = |version: u32| {
        format!("arn:aws:lambda:{REGION}:{ACCOUNT}:layer:telemetry-shipper:{version}")
    };
    let tools = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:layer:tools:1");
    let lambda = aws_sdk_lambda::Client::new(&moto.config().await);

    let first = json(&shop.on(&moto, &["deploy", "--output", "json"]));
    assert_eq!(first["layers"][0]["changes"][0]["kind"], "layer");
    assert_eq!(
        first["layers"][0]["changes"][0]["name"],
        "telemetry-shipper"
    );
    assert_eq!(first["layers"][0]["changes"][0]["action"], "create");
    assert_eq!(first["layers"][0]["version"], "1");
    assert!(
        actions(&first).contains(&"shop function shop create".to_owned()),
        "{first}"
    );
    assert_eq!(layers_of(&lambda, "shop").await, [tools.clone(), layer(1)]);
    let published = lambda
        .get_layer_version()
        .layer_name("telemetry-shipper")
        .version_number(1)
        .send()
        .await
        .unwrap();
    assert_eq!(
        published.description(),
        Some(
            "Ships the function's logs [lambdakit:package=shop lambdakit:extension=telemetry-shipper]"
        )
    );
    let runtimes: Vec<&str> = published
        .compatible_runtimes()
        .iter()
        .map(|runtime| runtime.as_str())
        .collect();
    // A static (musl) build, `provided.al2023`'s default, needs no glibc: both runtimes take it.
    assert_eq!(
        runtimes,
        ["provided.al2023", "provided.al2"],
        "static binaries"
    );
    let architectures: Vec<&str> = published
        .compatible_architectures()
        .iter()
        .map(|architecture| architecture.as_str())
        .collect();
    assert_eq!(architectures, ["x86_64"]);
    let built = json(&shop.run(&["build", "--bin", "telemetry-shipper", "--output", "json"]));
    assert_eq!(
        published
            .content()
            .and_then(|content| content.code_sha256()),
        built["builds"][0]["code_sha256"].as_str(),
        "the layer is the zip `build` makes"
    );

    // Unchanged: no new version, nothing else changed.
    let again = json(&shop.on(&moto, &["deploy", "--output", "json"]));
    assert_eq!(again["layers"][0]["changes"][0]["action"], "unchanged");
    assert_eq!(again["layers"][0]["version"], Value::Null);
    let changed: Vec<String> = actions(&again)
        .into_iter()
        .filter(|line| !line.ends_with(" unchanged"))
        .collect();
    assert!(changed.is_empty(), "a second deploy changed {changed:#?}");
    assert_eq!(versions_of(&lambda, "telemetry-shipper").await, [1]);

    // The extension changed: version 2, attached in place of 1; the function's code is as it was.
    shop.extension_says("v2");
    let updated = json(&shop.on(&moto, &["deploy", "--output", "json"]));
    assert_eq!(updated["layers"][0]["changes"][0]["action"], "update");
    assert!(
        updated["layers"][0]["changes"][0]["details"][0]
            .as_str()
            .is_some_and(|detail| detail.starts_with("CodeSha256 ")),
        "{updated}"
    );
    assert_eq!(updated["layers"][0]["version"], "2");
    let lines = actions(&updated);
    assert!(
        lines.contains(&"shop function shop update".to_owned()),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&"shop code shop unchanged".to_owned()),
        "{lines:#?}"
    );
    assert_eq!(layers_of(&lambda, "shop").await, [tools.clone(), layer(2)]);
    assert_eq!(versions_of(&lambda, "telemetry-shipper").await, [2, 1]);

    // Destroy: the function and lambdakit's layer versions, not the `tools` layer.
    let plan = shop.on(&moto, &["destroy", "--dry-run"]);
    let plan = String::from_utf8_lossy(&plan.stdout).into_owned();
    assert!(
        plan.contains("  - layer     telemetry-shipper:1\n  - layer     telemetry-shipper:2\n"),
        "{plan}"
    );
    assert_eq!(versions_of(&lambda, "telemetry-shipper").await, [2, 1]);
    let destroyed = json(&shop.on(&moto, &["destroy", "--output", "json"]));
    assert_eq!(destroyed["layers"][0]["name"], "telemetry-shipper");
    assert!(versions_of(&lambda, "telemetry-shipper").await.is_empty());
    assert_eq!(versions_of(&lambda, "tools").await, [1], "not lambdakit's");
    assert!(
        lambda
            .list_functions()
            .send()
            .await
            .unwrap()
            .functions()
            .is_empty()
    );
}

#[tokio::test]
async fn a_layer_lambdakit_did_not_publish_is_refused_with_a_way_out() {
    let Some(moto) = Moto::start() else { return };
    moto.create_trigger_sources();
    let shop = Shop::new(
        "theirs",
        "[package.metadata.lambdakit.extensions.telemetry-shipper]\nlayer_name = \"tools\"\n\n[package.metadata.lambdakit.functions.shop]\nextensions = [\"telemetry-shipper\"]\n",
    );
    let refused = shop.on(&moto, &["deploy"]);
    assert_eq!(refused.status.code(), Some(4), "{refused:?}");
    assert_eq!(
        stderr(&refused).lines().rev().take(2).collect::<Vec<_>>(),
        [
            "hint: pass `--adopt` to publish over it, or give yours another `layer_name` in `[package.metadata.lambdakit.extensions.telemetry-shipper]`",
            "error: the layer `tools` exists on AWS, and lambdakit did not publish it",
        ]
    );
    let lambda = aws_sdk_lambda::Client::new(&moto.config().await);
    assert_eq!(versions_of(&lambda, "tools").await, [1]);
}

#[test]
fn bad_extension_settings_name_the_key_and_the_fix_before_any_build() {
    let cases = [
        (
            "[package.metadata.lambdakit.extensions.telemetry-shipper]\n\n[package.metadata.lambdakit.functions.shop]\nextensions = [\"telemetry-shiper\"]\n",
            "error: `package.metadata.lambdakit.functions.shop.extensions` names `telemetry-shiper`, which is not an extension of the project; did you mean `telemetry-shipper`? (the extensions are `telemetry-shipper`)",
        ),
        (
            "[package.metadata.lambdakit.functions.shop]\nextensions = [\"telemetry-shipper\"]\n",
            "error: `package.metadata.lambdakit.functions.shop.extensions` names `telemetry-shipper`, but the project declares no extension: declare it with `[package.metadata.lambdakit.extensions.telemetry-shipper]`",
        ),
        (
            "[package.metadata.lambdakit.extensions.telemetry-shiper]\n",
            "error: `package.metadata.lambdakit.extensions.telemetry-shiper` names no binary target of `shop`: an extension is a binary target (`src/bin/telemetry-shiper.rs`, or a `[[bin]]`); did you mean `telemetry-shipper`? (the binary targets are `shop`, `telemetry-shipper`)",
        ),
        (
            "[package.metadata.lambdakit.extensions.telemetry-shipper]\n\n[package.metadata.lambdakit.functions.telemetry-shipper]\nmemory = 256\n",
            "error: `package.metadata.lambdakit.functions.telemetry-shipper` configures `telemetry-shipper`, which `[package.metadata.lambdakit.extensions.telemetry-shipper]` declares an extension, not a function",
        ),
        (
            "[package.metadata.lambdakit.extensions.telemetry-shipper]\nlayer_nam = \"x\"\n",
            "error: `package.metadata.lambdakit.extensions.telemetry-shipper.layer_nam` is not a setting of an extension; did you mean `layer_name`?; the settings are `layer_name`, `description`, `compatible_architectures`",
        ),
        (
            "[package.metadata.lambdakit.extensions.telemetry-shipper]\ncompatible_architectures = [\"x86\"]\n",
            "error: `package.metadata.lambdakit.extensions.telemetry-shipper.compatible_architectures` must be a list of one or both of `x86_64` and `arm64`",
        ),
        (
            "[package.metadata.lambdakit.extensions.telemetry-shipper]\ncompatible_architectures = [\"x86_64\"]\n\n[package.metadata.lambdakit.functions.shop]\narchitecture = \"arm64\"\nextensions = [\"telemetry-shipper\"]\n",
            "error: `package.metadata.lambdakit.extensions.telemetry-shipper.compatible_architectures` are x86_64, but `shop` runs on arm64 and uses `telemetry-shipper`: add arm64 to them, or give the function another architecture",
        ),
        (
            "[package.metadata.lambdakit]\nextensions = [\"telemetry-shipper\"]\n",
            "error: `package.metadata.lambdakit.extensions` must be a table of extensions",
        ),
    ];
    let shop = Shop::new("bad", "");
    for (settings, expected) in cases {
        shop.settings(settings);
        let output = shop
            .command(&["deploy"])
            // Nothing may reach AWS: there is none here.
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_REGION", REGION)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{settings}: {output:?}");
        let said = stderr(&output);
        assert!(said.starts_with(expected), "{settings}: {said}");
        assert!(
            said.contains("hint: fix it in `[package.metadata.lambdakit]`"),
            "{said}"
        );
        assert!(!said.contains("Compiling"), "{settings}: it built: {said}");
    }
}
