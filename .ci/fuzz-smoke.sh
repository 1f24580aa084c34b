#!/usr/bin/env bash
# Runs every fuzz target for FUZZ_SECONDS (default 20) each; a crash, a build failure or a
# target that does not run fails CI. Needs the nightly toolchain (kept for cargo-fuzz only) and
# cargo-fuzz, which is installed from crates.io when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "error: the nightly toolchain is missing; cargo fuzz needs it (rustup toolchain list)" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --locked --quiet cargo-fuzz --version 0.13.2
fi
# The trove binary `cargo test` built (.ci/run runs it first) seeds the pack target's corpus.
if [ -z "${TROVE:-}" ] && [ -x target/debug/trove ]; then
  export TROVE=$PWD/target/debug/trove
fi
cargo xtask fuzz --ci --seconds "${FUZZ_SECONDS:-20}"
