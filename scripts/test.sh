#!/usr/bin/env bash
# Every check CI runs, from a fresh machine: installs what is missing, then runs fmt, clippy,
# the docs build, all tests (nextest when present, else cargo test) and the doc tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# Toolchain components. The machine's toolchain normally has them; add them when it does not.
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy

# Debian packages the tests use: valgrind counts instructions in the benchmark smoke test,
# python3 writes and reads zips, the arm64 cross linker and libc build for Lambda's arm64,
# qemu runs what they build, libssl-dev is the C library of the system a static build refuses,
# and the openssl command makes the test CA an HTTPS test server presents.
missing=()
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || missing+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null 2>&1 || missing+=(qemu-user)
# OpenSSL's shared libraries: a static build that links them must fail with the crate named.
[ -e /usr/lib/x86_64-linux-gnu/libssl.so ] || missing+=(libssl-dev)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# A real browser for the local console's tests: Chromium, driven headless through ChromeDriver.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

# The Rust targets for Lambda's arm64, and for static (musl) builds of both architectures.
for target in aarch64-unknown-linux-gnu x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
  rustup target list --installed | grep -qx "$target" || rustup target add "$target"
done

# PyPI tools the tests drive: the AWS CLI invokes functions on the local Lambda, a Python
# function on AWS's runtime interface client runs on it, and moto (in server mode) is the AWS
# that deploy and destroy are tested against.
command -v aws >/dev/null 2>&1 || python3 -m pip install --quiet awscli
python3 -c "import moto.server, flask" >/dev/null 2>&1 || python3 -m pip install --quiet "moto[server]"
python3 -c "import awslambdaric" >/dev/null 2>&1 || python3 -m pip install --quiet awslambdaric
# OpenTelemetry's Python SDK and OTLP/HTTP exporter: a traced Python function checks serve's
# OTLP receiver against an exporter that is not lambdakit's.
python3 -c "import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http" >/dev/null 2>&1 ||
  python3 -m pip install --quiet opentelemetry-sdk opentelemetry-exporter-otlp-proto-http
# Selenium drives the browser the console's tests open (through ChromeDriver).
python3 -c "import selenium" >/dev/null 2>&1 || python3 -m pip install --quiet selenium
# cfn-lint checks the templates `cargo lambdakit template` writes.
command -v cfn-lint >/dev/null 2>&1 || python3 -m pip install --quiet cfn-lint
# zig links builds pinned to an older glibc (`provided.al2`).
python3 -m ziglang version >/dev/null 2>&1 || python3 -m pip install --quiet ziglang

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features --locked

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --profile ci
else
  echo "cargo-nextest is not installed: running the tests with cargo test" >&2
  cargo test --workspace --locked
fi
# The CLI has no doc tests (its behaviour is tested through the binary, in tests/cli); leaving
# it out saves building its AWS SDK crates a second time with the doc tests' feature set.
cargo test --workspace --doc --locked --exclude cargo-lambdakit
