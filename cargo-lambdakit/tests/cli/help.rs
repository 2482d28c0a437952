//! What `--help` and mistakes on the command line print.

use crate::support::lambdakit;

#[test]
fn help_lists_the_subcommands() {
    let output = lambdakit().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for command in ["serve", "invoke", "deploy", "template"] {
        assert!(help.contains(command), "{help}");
    }
}

#[test]
fn an_unknown_package_is_named_with_the_ones_there_are() {
    let output = lambdakit()
        .args(["serve", "-p", "no-such-package", "--manifest-path"])
        .arg(crate::support::workspace().join("Cargo.toml"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr
            .starts_with("error: `--package` names `no-such-package`, which is not a package here"),
        "{stderr}"
    );
    assert!(stderr.contains("`test-functions`"), "{stderr}");
    assert!(stderr.contains("\nhint: "), "{stderr}");
}
