//! `bench deploy`: how long `cargo lambdakit deploy` and `cargo lambda deploy` take against
//! the same local AWS (moto in server mode), fresh and again with nothing to change. Each round
//! starts a fresh moto; the figures are medians of the rounds. The functions are built before
//! the clock starts (`cargo lambda deploy` does not build; ours checks that its build is up to
//! date, and that check is timed).

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lambda_kit_bench::Error;

use crate::moto::Moto;

/// The markers of the deploy section in BENCHMARKS.md, which the runtime report keeps.
pub(crate) const START: &str = "<!-- deploy:start -->";
pub(crate) const END: &str = "<!-- deploy:end -->";

const REGION: &str = "eu-west-1";

impl Moto {
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command
    }
}

/// Runs `command`, returning its wall-clock time.
fn timed(mut command: Command, what: &str) -> Result<Duration, Error> {
    let started = Instant::now();
    let output = command.output()?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        return Err(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into());
    }
    Ok(elapsed)
}

fn run(program: &str, args: &[&str], dir: &Path) -> Result<(), Error> {
    let status = Command::new(program).args(args).current_dir(dir).status()?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed with {status}", args.join(" ")).into())
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Measures `rounds` rounds and returns the BENCHMARKS.md section.
pub(crate) fn bench(rounds: usize) -> Result<String, Error> {
    let root = lambda_kit_bench::workspace_root();
    let peer_dir = root.join("tests/bench/subjects/lambda-runtime-echo");
    eprintln!("building cargo-lambdakit and both functions ...");
    run(
        "cargo",
        &["build", "--release", "--locked", "-p", "cargo-lambdakit"],
        &root,
    )?;
    let ours = root.join("target/release/cargo-lambdakit");
    let ours_args = [
        "lambdakit",
        "deploy",
        "--locked",
        "--quiet",
        "-p",
        "bench-lambda-kit-echo",
    ];
    run(
        ours.to_str().unwrap_or("cargo-lambdakit"),
        &[
            "lambdakit",
            "build",
            "--locked",
            "-p",
            "bench-lambda-kit-echo",
        ],
        &root,
    )?;
    run("cargo", &["lambda", "build", "--release"], &peer_dir).map_err(|error| {
        format!("{error}; install cargo-lambda with `pip install cargo-lambda ziglang`")
    })?;
    let mut times: [Vec<Duration>; 4] = Default::default();
    for round in 0..rounds.max(1) {
        eprintln!("round {} of {rounds} ...", round + 1);
        let moto = Moto::start()?;
        let deploy_ours = || {
            let mut command = moto.command(&ours);
            command.args(ours_args).current_dir(&root);
            command
        };
        let deploy_peer = || {
            let mut command = moto.command("cargo");
            command
                .args([
                    "lambda",
                    "deploy",
                    "--endpoint-url",
                    &moto.endpoint,
                    "--region",
                    REGION,
                ])
                .arg("bench-lambda-runtime-echo")
                .current_dir(&peer_dir);
            command
        };
        times[0].push(timed(deploy_ours(), "cargo lambdakit deploy")?);
        times[1].push(timed(deploy_ours(), "cargo lambdakit deploy (again)")?);
        times[2].push(timed(deploy_peer(), "cargo lambda deploy")?);
        times[3].push(timed(deploy_peer(), "cargo lambda deploy (again)")?);
    }
    let [fresh, again, peer_fresh, peer_again] = times.map(median);
    let ms = |time: Duration| time.as_secs_f64() * 1000.0;
    let ratio = |ours: Duration, theirs: Duration| ms(ours) / ms(theirs);
    let version = Command::new("cargo")
        .args(["lambda", "--version"])
        .output()
        .ok()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_default();
    let mut out = String::new();
    let _ = writeln!(out, "{START}");
    let _ = writeln!(out, "## Deploying\n");
    let _ = writeln!(
        out,
        "`cargo lambdakit deploy` of the lambda-kit echo function and `cargo lambda deploy` \
         ({version}) of the lambda_runtime one, against the same moto server on 127.0.0.1, fresh \
         (the execution role and the function are created) and again (nothing changed). \
         Medians of {rounds} rounds, each on a fresh moto. Wall-clock times: they move with the \
         machine's load. Deployed again with nothing changed, ours runs no cargo (`cargo \
         metadata`'s answer and the build are kept from the last run) and makes its independent \
         reads of AWS at once.\n"
    );
    let _ = writeln!(out, "| | cargo lambdakit | cargo lambda | ratio | target |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    let _ = writeln!(
        out,
        "| fresh deploy (ms) | {:.0} | {:.0} | {:.2}x | ≤ 0.33x |",
        ms(fresh),
        ms(peer_fresh),
        ratio(fresh, peer_fresh)
    );
    let _ = writeln!(
        out,
        "| deploy again, nothing changed (ms) | {:.0} | {:.0} | {:.2}x | ≤ 0.5x |",
        ms(again),
        ms(peer_again),
        ratio(again, peer_again)
    );
    let _ = writeln!(
        out,
        "\nRerun: `cargo run --release --locked -p lambda-kit-bench -- deploy --write` (needs \
         `pip install \"moto[server]\" cargo-lambda ziglang`)."
    );
    let _ = writeln!(out, "{END}");
    Ok(out)
}

/// `file` with its section between `markers` replaced by `section` (or `section` added at
/// the end).
pub(crate) fn replace_section(file: &str, section: &str, (start, end): (&str, &str)) -> String {
    match (file.find(start), file.find(end)) {
        (Some(start), Some(end_at)) if start < end_at => {
            let end = end_at + end.len();
            let rest = file[end..].strip_prefix('\n').unwrap_or(&file[end..]);
            format!("{}{section}{rest}", &file[..start])
        }
        _ => format!(
            "{}\n{section}",
            file.trim_end_matches('\n').to_owned() + "\n"
        ),
    }
}

/// The section of `file` between `markers`, if it has one.
pub(crate) fn section_of<'a>(file: &'a str, (start, end): (&str, &str)) -> Option<&'a str> {
    let from = file.find(start)?;
    let to = file.find(end)? + end.len();
    (from < to).then(|| &file[from..to])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deploy_section_is_replaced_or_added() {
        let section = format!("{START}\nnew\n{END}\n");
        let with = format!("# B\n\ntable\n\n{START}\nold\n{END}\n\n## After\n");
        assert_eq!(
            replace_section(&with, &section, (START, END)),
            format!("# B\n\ntable\n\n{START}\nnew\n{END}\n\n## After\n")
        );
        assert_eq!(
            replace_section("# B\n", &section, (START, END)),
            format!("# B\n\n{START}\nnew\n{END}\n")
        );
        assert_eq!(
            section_of(&with, (START, END)),
            Some(format!("{START}\nold\n{END}").as_str())
        );
        assert_eq!(section_of("# B\n", (START, END)), None);
    }
}
