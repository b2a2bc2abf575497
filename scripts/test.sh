#!/usr/bin/env bash
# Runs every check and test: formatting (Rust and JavaScript), clippy and Biome's linter, the
# native tests (core and trainer, with the corpus at ../shared/data/ravdess), then the web build
# and the browser tests.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
"$ROOT/scripts/setup.sh"

cargo fmt --all -- --check
# The page, the library and the browser tests: Biome's formatter and linter (biome.json). The
# npm registry here serves Biome's binary for Linux x64 only (an optional dependency of
# tests/e2e): elsewhere this check is skipped, with a word.
BIOME=tests/e2e/node_modules/@biomejs/cli-linux-x64/biome
if [ -x "$BIOME" ]; then
  "$BIOME" ci --colors=off .
else
  echo "Biome is not installed for this platform: JavaScript formatting and lint skipped" >&2
fi
# --workspace everywhere: one feature set for burn, so it is compiled once.
cargo clippy --workspace --all-targets --release -- -D warnings
cargo test --workspace --release

"$ROOT/scripts/build-web.sh"
cargo build --release -p trainer
export TRAINER_BIN="$CARGO_TARGET_DIR/release/trainer"
(cd tests/e2e && node --test --test-concurrency=1 .)
