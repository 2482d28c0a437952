//! `cargo lambdakit zip`: deterministic archives that Lambda (and any zip reader) takes.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{lambdakit, workspace};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lambdakit-zip-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn zip(args: &[&str], binary: &Path, out: &Path) -> serde_json::Value {
    let output = lambdakit()
        .args(["zip", "--output", "json", "--binary"])
        .arg(binary)
        .arg("--output-dir")
        .arg(out)
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

/// What Python's zipfile reads: each entry's name, Unix mode and size, and whether the CRCs hold.
fn read_with_python(zip: &Path) -> serde_json::Value {
    let script = "import json, sys, zipfile\n\
                  z = zipfile.ZipFile(sys.argv[1])\n\
                  print(json.dumps({'bad': z.testzip(), 'entries': [[i.filename, i.external_attr >> 16, i.file_size, i.date_time[0]] for i in z.infolist()]}))";
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(zip)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn the_same_binary_makes_the_same_zip_which_zip_readers_take() {
    let binary = workspace().join("target/debug/behave");
    assert!(
        binary.is_file(),
        "the workspace build makes the test functions"
    );
    let dir = scratch("same");
    std::fs::create_dir_all(dir.join("static/css")).unwrap();
    std::fs::write(dir.join("static/index.html"), "<h1>hi</h1>").unwrap();
    std::fs::write(dir.join("static/css/site.css"), "h1 {}").unwrap();
    let include = dir.join("static");
    let include = include.to_str().unwrap();

    let first = zip(&["--include", include], &binary, &dir.join("one"));
    let second = zip(&["--include", include], &binary, &dir.join("two"));
    let [first, second] = [&first["zips"][0], &second["zips"][0]];
    assert_eq!(first["function"], "behave");
    assert_eq!(first["code_sha256"], second["code_sha256"]);
    let one = std::fs::read(first["zip"].as_str().unwrap()).unwrap();
    let two = std::fs::read(second["zip"].as_str().unwrap()).unwrap();
    assert_eq!(one, two, "byte for byte");
    assert_eq!(first["size"], one.len());

    let read = read_with_python(Path::new(first["zip"].as_str().unwrap()));
    assert_eq!(read["bad"], serde_json::Value::Null, "CRCs hold");
    let binary_size = std::fs::metadata(&binary).unwrap().len();
    assert_eq!(
        read["entries"],
        serde_json::json!([
            ["bootstrap", 0o100_755, binary_size, 1980],
            ["static/css/site.css", 0o100_644, 5, 1980],
            ["static/index.html", 0o100_644, 11, 1980],
        ])
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn code_over_lambdas_unzipped_limit_is_refused_before_it_is_read() {
    let dir = scratch("large");
    let large = dir.join("model.bin");
    // Sparse: 251 MB by its size, nothing on disk.
    std::fs::File::create(&large)
        .unwrap()
        .set_len(251 * 1024 * 1024)
        .unwrap();
    let output = lambdakit()
        .args(["zip", "--binary"])
        .arg(workspace().join("target/debug/behave"))
        .arg("--include")
        .arg(&large)
        .arg("--output-dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unzipped, over Lambda's limit of 262144000 bytes"),
        "{stderr}"
    );
    assert!(!dir.join("behave").exists(), "nothing half-written");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn functions_of_a_package_are_built_and_zipped() {
    let dir = scratch("package");
    let output = lambdakit()
        .args([
            "zip",
            "--locked",
            "-p",
            "test-functions",
            "--bin",
            "behave",
            "--output",
            "json",
            "--manifest-path",
        ])
        .arg(workspace().join("Cargo.toml"))
        .arg("--output-dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let listed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let zip = Path::new(listed["zips"][0]["zip"].as_str().unwrap());
    assert_eq!(zip, dir.join("behave/bootstrap.zip"));
    let read = read_with_python(zip);
    let release = std::fs::metadata(workspace().join("target/release/behave"))
        .unwrap()
        .len();
    assert_eq!(
        read["entries"][0],
        serde_json::json!(["bootstrap", 0o100_755, release, 1980])
    );
    let _ = std::fs::remove_dir_all(&dir);
}
