#!/usr/bin/env bash
# Runs every check and test: formatting (Rust and JavaScript), clippy and Biome's linter, the
# native tests (core and trainer, with the corpus at ../shared/data/ravdess), then the web build
# and the browser tests.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
"$ROOT/scripts/setup.sh"

cargo fmt --all -- --check
# The page, the library and the browser tests: Biome's formatter and linter (biome.json).
tests/e2e/node_modules/.bin/biome ci --colors=off .
# --workspace everywhere: one feature set for burn, so it is compiled once.
cargo clippy --workspace --all-targets --release -- -D warnings
cargo test --workspace --release

"$ROOT/scripts/build-web.sh"
cargo build --release -p trainer
export TRAINER_BIN="$CARGO_TARGET_DIR/release/trainer"
(cd tests/e2e && node --test --test-concurrency=1 .)
