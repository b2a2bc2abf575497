#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer) of what reads untrusted bytes: a weights file,
# an audio file through decoding and the analysis, a training manifest. Not part of CI: run it
# by hand for as long as you like and record the result in SECURITY.md.
#
#   bash scripts/fuzz.sh [weights|decode_analysis|manifest|all] [SECONDS per target, default 300]
#
# Needs the nightly toolchain (sanitizer instrumentation); installs cargo-fuzz from crates.io into
# the tools folder once. Seeds are fuzz/seeds/TARGET; the corpus grows in fuzz/out/TARGET and a
# crashing input is written to fuzz/artifacts/TARGET.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
which=${1:-all}
seconds=${2:-300}
case "$which" in
  all) targets="weights decode_analysis manifest" ;;
  weights | decode_analysis | manifest) targets=$which ;;
  *) echo "fuzz.sh: unknown target $which (weights, decode_analysis, manifest or all)" >&2; exit 2 ;;
esac
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz.sh: cargo-fuzz needs the nightly toolchain: rustup toolchain install nightly" >&2
  exit 1
fi
command -v cargo-fuzz >/dev/null || cargo install --locked --root "$SE_TOOLS" cargo-fuzz
# Instrumented builds of their own, apart from the project's incremental ones.
export CARGO_TARGET_DIR="$CARGO_TARGET_DIR/fuzz"
for target in $targets; do
  mkdir -p "fuzz/out/$target" "fuzz/artifacts/$target"
  echo "== $target: $seconds s"
  log="fuzz/out/$target.log"
  status=0
  cargo +nightly fuzz run "$target" "fuzz/out/$target" "fuzz/seeds/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=4096 -artifact_prefix="fuzz/artifacts/$target/" \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E 'stat::number_of_executed_units|stat::peak_rss_mb|DONE|panicked|SUMMARY' "$log" || true
  if [ "$status" -ne 0 ] || compgen -G "fuzz/artifacts/$target/*" >/dev/null; then
    echo "$target: failed (exit $status); see $log and fuzz/artifacts/$target" >&2
    exit 1
  fi
  echo "$target: $(find "fuzz/out/$target" -type f | wc -l) inputs in the corpus, nothing found"
done
