//! `cargo lambdakit build`: release builds for Lambda's architectures, checked against the
//! runtime's glibc, and an arm64 build answering invocations under qemu.

use std::process::Output;

use crate::support::{Serve, invoke, lambdakit, rust_target_installed, tool, works, workspace};

fn build(args: &[&str]) -> Output {
    lambdakit()
        .args([
            "build",
            "--locked",
            "-p",
            "test-functions",
            "--bin",
            "behave",
            "--manifest-path",
        ])
        .arg(workspace().join("Cargo.toml"))
        .args(args)
        .output()
        .unwrap()
}

/// `build ARGS --output json`, which must succeed: what it lists as built.
fn built(args: &[&str]) -> Vec<serde_json::Value> {
    let output = build(&[args, &["--output", "json"]].concat());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    listed["builds"].as_array().unwrap().clone()
}

/// Whether the arm64 cross tools and qemu are here; under CI they must be.
fn arm64_tools() -> bool {
    let found = rust_target_installed("aarch64-unknown-linux-gnu")
        && works("aarch64-linux-gnu-gcc", &["--version"])
        && works("qemu-aarch64", &["--version"]);
    tool(
        found,
        "the arm64 tools",
        "`rustup target add aarch64-unknown-linux-gnu` and `apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user`",
    )
}

#[test]
fn a_host_build_is_static_checked_laid_out_and_zipped() {
    // `provided.al2023`'s default: a static musl binary.
    let builds = built(&[]);
    let built = &builds[0];
    assert_eq!(built["architecture"], "x86_64");
    assert_eq!(built["runtime"], "provided.al2023");
    assert_eq!(built["max_glibc"], serde_json::Value::Null, "{built}");
    // behave is on lambda-kit: talc is its allocator.
    assert_eq!(built["allocator"], "talc", "{built}");
    let bootstrap = workspace().join("target/lambda/behave/bootstrap");
    assert_eq!(
        built["bootstrap"].as_str().map(std::path::PathBuf::from),
        Some(bootstrap.canonicalize().unwrap())
    );
    let facts = cargo_lambdakit::build::elf::inspect(&bootstrap).unwrap();
    assert_eq!(facts.architecture, "x86_64");
    assert_eq!(facts.interpreter, None, "{facts:?}");
    let zip = std::fs::read(built["zip"].as_str().unwrap()).unwrap();
    assert_eq!(built["zip_size"], zip.len());

    // `trust = "amazon-roots"` (behave's): Amazon's root CAs beside `bootstrap`, the very
    // bytes of lambda-kit's PEM; and the zip is the same when built again.
    let entries = cargo_lambdakit::package::zip::read(&zip).unwrap();
    let names: Vec<&str> = entries.iter().map(|entry| entry.name.as_str()).collect();
    assert_eq!(names, ["amazon-root-cas.pem", "bootstrap"]);
    assert_eq!(
        entries[0].data,
        std::fs::read(workspace().join("lambda-kit/src/aws/amazon-root-cas.pem")).unwrap()
    );
    let again = self::built(&[]);
    assert_eq!(again[0]["code_sha256"], built["code_sha256"]);

    // musl's own allocator is a flag away, and makes another binary.
    let system = self::built(&["--allocator", "system"]);
    assert_eq!(system[0]["allocator"], "system");
    assert_ne!(system[0]["code_sha256"], built["code_sha256"]);

    // glibc is a flag away, and links the runtime's glibc.
    let builds = self::built(&["--libc", "glibc"]);
    let facts = cargo_lambdakit::build::elf::inspect(std::path::Path::new(
        builds[0]["bootstrap"].as_str().unwrap(),
    ))
    .unwrap();
    assert!(
        facts.max_glibc.is_some_and(|glibc| glibc <= (2, 34)),
        "{facts:?}"
    );
}

#[test]
fn a_binary_needing_a_newer_glibc_than_the_runtime_is_refused() {
    // The build machine's glibc is newer than 2.26: `provided.al2` cannot run what gcc links
    // here.
    let output = build(&["--runtime", "provided.al2", "--linker", "gcc"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error: `behave` would not run on Lambda: it needs GLIBC_2."),
        "{stderr}"
    );
    assert!(
        stderr.contains("newer than the glibc 2.26 of `provided.al2`"),
        "{stderr}"
    );
    assert!(stderr.contains("\nhint: "), "{stderr}");

    // clap refuses it, naming the architectures Lambda runs, as `deploy --arch` does.
    let output = build(&["--arch", "sparc"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid value 'sparc' for '--arch <ARCH>'")
            && stderr.contains("[possible values: x86_64, arm64]"),
        "{stderr}"
    );
}

#[test]
fn an_arm64_build_answers_invocations_under_qemu() {
    if !arm64_tools() {
        return;
    }
    let output = build(&["--arch", "arm64", "--output", "json"]);
    assert!(output.status.success(), "{output:?}");
    let bootstrap = workspace().join("target/lambda/arm64/behave/bootstrap");
    assert_eq!(
        cargo_lambdakit::build::elf::inspect(&bootstrap)
            .unwrap()
            .architecture,
        "arm64"
    );

    // `serve --arch arm64` builds the same binary and runs it under qemu (no binfmt here:
    // qemu-aarch64 is called with the arm64 sysroot as its prefix).
    let serve = Serve::start_with("test-functions", &["--bin", "behave", "--arch", "arm64"]);
    let answer = invoke(serve.address, "behave", &[], br#"{"print":"from arm64"}"#);
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header("X-Amz-Function-Error"),
        None,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.json()["arch"], "aarch64");
    assert_eq!(answer.json()["greeting"], "hello from the config");
    let failed = invoke(serve.address, "behave", &[], br#"{"fail":"on arm64"}"#);
    assert_eq!(failed.json()["errorType"], "AskedToFail");
    assert!(
        serve
            .output()
            .iter()
            .any(|line| line.contains("\tfrom arm64")),
        "{:?}",
        serve.output()
    );

    // The zip `build` made, created through the Lambda API, runs under qemu too.
    let zip = std::fs::read(workspace().join("target/lambda/arm64/behave/bootstrap.zip")).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let payload = runtime.block_on(async {
        use aws_sdk_lambda::primitives::Blob;
        use aws_sdk_lambda::types::{Architecture, FunctionCode, Runtime};
        let lambda = crate::sdk::client(&serve.endpoint());
        let created = lambda
            .create_function()
            .function_name("zipped-for-arm64")
            .runtime(Runtime::Providedal2023)
            .architectures(Architecture::Arm64)
            .code(FunctionCode::builder().zip_file(Blob::new(zip)).build())
            .send()
            .await
            .unwrap();
        assert_eq!(created.architectures(), &[Architecture::Arm64]);
        let answer = lambda
            .invoke()
            .function_name("zipped-for-arm64")
            .payload(Blob::new(b"{}".to_vec()))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.function_error(), None, "{answer:?}");
        serde_json::from_slice::<serde_json::Value>(answer.payload().unwrap().as_ref()).unwrap()
    });
    assert_eq!(payload["arch"], "aarch64", "{payload}");
    assert_eq!(
        payload["arn"], "arn:aws:lambda:us-east-1:123456789012:function:zipped-for-arm64",
        "{payload}"
    );
}

/// Whether zig (PyPI `ziglang`) is here; under CI it must be.
fn zig() -> bool {
    tool(
        works("python3", &["-m", "ziglang", "version"]),
        "zig",
        "`pip install ziglang`",
    )
}

#[test]
fn builds_for_provided_al2_are_linked_by_zig_against_its_glibc_and_run() {
    if !zig() || !arm64_tools() {
        return;
    }
    let builds = built(&[
        "--runtime",
        "provided.al2",
        "--arch",
        "x86_64",
        "--arch",
        "arm64",
    ]);
    for built in &builds {
        let facts = cargo_lambdakit::build::elf::inspect(std::path::Path::new(
            built["bootstrap"].as_str().unwrap(),
        ))
        .unwrap();
        assert!(
            facts.max_glibc.is_some_and(|glibc| glibc <= (2, 26)),
            "{built}: {facts:?}"
        );
        assert_eq!(facts.architecture, built["architecture"].as_str().unwrap());
    }
    // The glibc-2.26 build still runs here, where the glibc is newer.
    let bootstrap = workspace().join("target/lambda/behave/bootstrap");
    let serve = Serve::script("behave-al2", &format!("exec {bootstrap:?}"));
    let answer = invoke(serve.address, "behave-al2", &[], b"{}");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["handler"], "behave-al2");
}

#[test]
fn musl_builds_are_static_and_run_on_any_runtime() {
    let installed = rust_target_installed("x86_64-unknown-linux-musl");
    if !tool(
        installed,
        "the musl target",
        "`rustup target add x86_64-unknown-linux-musl`",
    ) {
        return;
    }
    let builds = built(&["--musl", "--runtime", "provided.al2"]);
    let bootstrap = std::path::PathBuf::from(builds[0]["bootstrap"].as_str().unwrap());
    let facts = cargo_lambdakit::build::elf::inspect(&bootstrap).unwrap();
    assert_eq!(
        (facts.interpreter, facts.max_glibc),
        (None, None),
        "static: no loader, no glibc"
    );
    let serve = Serve::script("behave-musl", &format!("exec {bootstrap:?}"));
    let answer = invoke(serve.address, "behave-musl", &[], b"{}");
    assert_eq!(answer.json()["handler"], "behave-musl");
}

#[test]
fn arm64_musl_builds_are_static_and_run_under_qemu() {
    let found = rust_target_installed("aarch64-unknown-linux-musl")
        && works("aarch64-linux-gnu-gcc", &["--version"])
        && works("qemu-aarch64", &["--version"]);
    if !tool(
        found,
        "the arm64 musl tools",
        "`rustup target add aarch64-unknown-linux-musl` and `apt-get install gcc-aarch64-linux-gnu qemu-user`",
    ) {
        return;
    }
    let builds = built(&["--musl", "--arch", "arm64"]);
    let bootstrap = std::path::PathBuf::from(builds[0]["bootstrap"].as_str().unwrap());
    assert!(
        bootstrap.ends_with("lambda/arm64/behave/bootstrap"),
        "{bootstrap:?}"
    );
    let facts = cargo_lambdakit::build::elf::inspect(&bootstrap).unwrap();
    assert_eq!(
        (
            facts.architecture.as_str(),
            facts.interpreter,
            facts.max_glibc
        ),
        ("arm64", None, None),
        "static arm64: no loader, no glibc"
    );
    // Static: qemu needs no sysroot.
    let serve = Serve::script(
        "behave-arm64-musl",
        &format!("exec qemu-aarch64 {bootstrap:?}"),
    );
    let answer = invoke(serve.address, "behave-arm64-musl", &[], b"{}");
    assert_eq!(answer.json()["arch"], "aarch64", "{:?}", answer);
}

#[test]
fn projects_without_a_release_profile_get_lambdas_and_keep_their_own_choices() {
    let dir = std::env::temp_dir().join(format!("lambdakit-profile-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("src/main.rs"),
        "fn main() {\n    println!(\"plain\");\n}\n",
    )
    .unwrap();
    let build = |profile: &str| {
        std::fs::write(
            dir.join("Cargo.toml"),
            format!("[package]\nname = \"plain\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n\n{profile}"),
        )
        .unwrap();
        let output = lambdakit()
            .args(["build", "--manifest-path"])
            .arg(dir.join("Cargo.toml"))
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let bootstrap = std::fs::read(dir.join("target/lambda/plain/bootstrap")).unwrap();
        let symbols = bootstrap.windows(7).any(|window| window == b".symtab");
        (
            String::from_utf8_lossy(&output.stderr).into_owned(),
            symbols,
        )
    };
    let (said, symbols) = build("");
    assert!(
        said.contains("note: building with Lambda's release profile for what `[profile.release]` leaves unset: lto, codegen-units, strip"),
        "{said}"
    );
    assert!(!symbols, "the bootstrap keeps its symbol table");
    let (said, symbols) = build("[profile.release]\nstrip = false\npanic = \"abort\"\n");
    assert!(
        said.contains("leaves unset: lto, codegen-units\n"),
        "{said}"
    );
    assert!(
        said.contains("warning: `[profile.release]` has `panic = \"abort\"`"),
        "{said}"
    );
    assert!(symbols, "the project's `strip = false` was overridden");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A project whose function depends on a `-sys` crate that links OpenSSL from the system, by
/// name, as `openssl-sys` does once pkg-config has found it.
fn project_linking_openssl() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lambdakit-openssl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let write = |path: &str, text: &str| {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "Cargo.toml",
        "[workspace]\nmembers = [\"function\", \"fake-openssl-sys\"]\nresolver = \"3\"\n",
    );
    write(
        "fake-openssl-sys/Cargo.toml",
        "[package]\nname = \"fake-openssl-sys\"\nversion = \"0.1.0\"\nedition = \"2024\"\nlinks = \"openssl\"\n",
    );
    write(
        "fake-openssl-sys/build.rs",
        "fn main() {\n    println!(\"cargo:rustc-link-lib=ssl\");\n    println!(\"cargo:rustc-link-lib=crypto\");\n}\n",
    );
    write(
        "fake-openssl-sys/src/lib.rs",
        "unsafe extern \"C\" {\n    pub fn OpenSSL_version_num() -> core::ffi::c_ulong;\n}\n",
    );
    write(
        "function/Cargo.toml",
        "[package]\nname = \"function\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\nfake-openssl-sys = { path = \"../fake-openssl-sys\" }\n",
    );
    write(
        "function/src/main.rs",
        "fn main() {\n    println!(\"{}\", unsafe { fake_openssl_sys::OpenSSL_version_num() });\n}\n",
    );
    dir
}

/// `cargo lambdakit build ARGS` of the project in `dir`, into `target`.
fn build_project(
    dir: &std::path::Path,
    target: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    lambdakit()
        .args(["build", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .args(args)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .unwrap()
}

#[test]
fn a_static_build_names_the_crate_that_links_c_from_the_system_and_the_fix() {
    let found = std::path::Path::new("/usr/lib/x86_64-linux-gnu/libssl.so").exists()
        && rust_target_installed("x86_64-unknown-linux-musl");
    if !tool(
        found,
        "OpenSSL's development files and the musl target",
        "`apt-get install libssl-dev` and `rustup target add x86_64-unknown-linux-musl`",
    ) {
        return;
    }
    let dir = project_linking_openssl();
    let build = |args: &[&str]| build_project(&dir, &dir.join("target"), args);
    let output = build(&[]);
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "error: a static build for `x86_64-unknown-linux-musl` cannot link C from the \
             system: `fake-openssl-sys` links the system libraries `ssl`, `crypto`"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: ") && stderr.contains("`--libc glibc`"),
        "{stderr}"
    );
    // The linker's page of undefined symbols is in the log the hint names, not on the screen.
    assert!(!stderr.contains("undefined reference"), "{stderr}");
    let log = dir.join("target/lambdakit/build-x86_64-unknown-linux-musl.log");
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("undefined reference"),
        "{}",
        log.display()
    );

    // The fix the hint names: glibc, which links OpenSSL's shared libraries.
    let output = build(&["--libc", "glibc"]);
    assert!(output.status.success(), "{output:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_static_build_of_a_crate_with_its_own_allocator_names_the_flag_that_keeps_it() {
    if !tool(
        rust_target_installed("x86_64-unknown-linux-musl"),
        "the musl target",
        "`rustup target add x86_64-unknown-linux-musl`",
    ) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lambdakit-allocator-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"own-allocator\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
             [dependencies]\nlambda-kit = {{ path = {:?} }}\nserde_json = \"1\"\n\n[workspace]\n",
            workspace().join("lambda-kit")
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("src/main.rs"),
        "#[global_allocator]\nstatic ALLOCATOR: std::alloc::System = std::alloc::System;\n\n\
         async fn echo(event: serde_json::Value, _: lambda_kit::Context) -> Result<serde_json::Value, lambda_kit::Error> {\n    Ok(event)\n}\n\n\
         fn main() -> Result<(), lambda_kit::Error> {\n    lambda_kit::run(echo)\n}\n",
    )
    .unwrap();
    // The workspace's lock and target: the same versions of the same crates, built once.
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let build = |args: &[&str]| build_project(&dir, &workspace().join("target"), args);
    let output = build(&[]);
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("sets a `#[global_allocator]` of its own")
            && stderr.contains("hint: build with `--allocator system`"),
        "{stderr}"
    );
    let output = build(&["--allocator", "system", "--output", "json"]);
    assert!(output.status.success(), "{output:?}");
    let listed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(listed["builds"][0]["allocator"], "system", "{listed}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn long_steps_show_a_live_line_on_a_terminal_and_plain_lines_elsewhere() {
    let musl = rust_target_installed("x86_64-unknown-linux-musl");
    if !tool(
        musl,
        "the musl target",
        "rustup target add x86_64-unknown-linux-musl",
    ) || !tool(
        works("script", &["--version"]),
        "script (util-linux)",
        "apt-get install bsdutils",
    ) {
        return;
    }
    let fixture = crate::deploy_triggers::Fixture::new("status", "");
    let manifest = fixture.dir.join("Cargo.toml");
    let step = "building for x86_64-unknown-linux-musl";

    // Not a terminal: a line when the step starts, one when it ends, no escape codes.
    let plain = lambdakit()
        .args(["build", "--manifest-path"])
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(plain.status.success(), "{plain:?}");
    let stderr = String::from_utf8_lossy(&plain.stderr);
    assert!(stderr.contains(&format!("{step} ...\n")), "{stderr}");
    assert!(stderr.contains(&format!("{step}: built in ")), "{stderr}");
    assert!(!stderr.contains('\x1b'), "{stderr}");

    // A terminal (`script` gives the command one): the line is drawn in place, then replaced
    // by the step's outcome. `touch` makes cargo build again.
    std::fs::write(fixture.dir.join("src/bin/intake.rs"), "fn main() { }\n").unwrap();
    let quoted = |text: &str| format!("'{}'", text.replace('\'', r"'\''"));
    let command = format!(
        "{} lambdakit build --manifest-path {}",
        quoted(env!("CARGO_BIN_EXE_cargo-lambdakit")),
        quoted(&manifest.display().to_string())
    );
    let live = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .unwrap();
    assert!(live.status.success(), "{live:?}");
    let shown = String::from_utf8_lossy(&live.stdout);
    assert!(
        shown.contains(&format!("\r\x1b[2K⠋ {step}")),
        "no live line: {shown:?}"
    );
    assert!(shown.contains(&format!("{step}: built in ")), "{shown:?}");
    assert!(!shown.contains(&format!("{step} ...")), "{shown:?}");
}
