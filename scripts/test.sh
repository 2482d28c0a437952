#!/usr/bin/env bash
# Every check CI runs, from a fresh machine: installs what is missing, then runs fmt, clippy,
# the docs build, all tests (nextest when present, else cargo test) and the doc tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# Toolchain components. The machine's toolchain normally has them; add them when it does not.
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy

# Debian packages the tests use: valgrind counts instructions in the benchmark smoke test,
# python3 writes the zips it sizes.
missing=()
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

# PyPI tools the tests drive: the AWS CLI invokes functions on the local Lambda, and a Python
# function on AWS's runtime interface client runs on it.
command -v aws >/dev/null 2>&1 || python3 -m pip install --quiet awscli
python3 -c "import awslambdaric" >/dev/null 2>&1 || python3 -m pip install --quiet awslambdaric

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features --locked

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --profile ci
else
  echo "cargo-nextest is not installed: running the tests with cargo test" >&2
  cargo test --workspace --locked
fi
cargo test --workspace --doc --locked
