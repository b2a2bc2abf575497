#!/usr/bin/env bash
# Builds the static site into dist/ (self-contained: serve it from any static host, at any
# path): the page and its service worker, and the library dist/lib (its worker, the shipped
# weights and two wasm bundles, pkg/cpu (flex backend) and pkg/webgpu (flex + wgpu on WebGPU,
# loaded only when the browser has a WebGPU adapter). Prints each bundle's size, raw and gzipped.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
WASM_OPT="$ROOT/tests/e2e/node_modules/.bin/wasm-opt"

# --clean: rebuild every bundle. Otherwise a bundle whose inputs (the compiled wasm, this script,
# the tools' versions) are what it was built from is kept: a second start takes seconds, not
# the minutes wasm-opt spends on the WebGPU bundle.
[ "${1:-}" = "--clean" ] && rm -rf pkg
rm -rf dist
KINDS="${SE_WEB_KINDS:-cpu webgpu}" # SE_WEB_KINDS=cpu: a quicker build without WebGPU
for kind in $KINDS; do
  features=""; [ "$kind" = webgpu ] && features="--features webgpu"
  cargo build --lib --target wasm32-unknown-unknown --profile wasm $features
  input="$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm/speech_emotion.wasm"
  key=$( {
    sha256sum "$input" "$0"
    wasm-bindgen --version
    if [ -x "$WASM_OPT" ]; then "$WASM_OPT" --version; fi
  } | sha256sum | cut -c1-64)
  if [ -f "pkg/$kind/speech_emotion_bg.wasm" ] && [ "$(cat "pkg/$kind/.key" 2>/dev/null)" = "$key" ]; then
    echo "pkg/$kind is up to date"
    continue
  fi
  rm -rf "pkg/$kind"
  wasm-bindgen --target web --no-typescript --out-dir "pkg/$kind" "$input"
  # A module that never calls its static constructors itself gets them run before every
  # export by the linker (wrappers named `*.command_export`): seconds per call in the WebGPU
  # bundle. src/wasm.rs calls them once; this keeps it so.
  if grep -qa 'command_export' "pkg/$kind/speech_emotion_bg.wasm"; then
    echo "error: pkg/$kind runs its static constructors before every export (see start() in src/wasm.rs)" >&2
    exit 1
  fi
  if [ -x "$WASM_OPT" ]; then
    "$WASM_OPT" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
      --enable-mutable-globals --enable-simd \
      "pkg/$kind/speech_emotion_bg.wasm" -o "pkg/$kind/speech_emotion_bg.wasm"
  fi
  echo "$key" > "pkg/$kind/.key"
done

# dist/lib is the library (its worker, both bundles, the shipped weights): the npm package
# (`npm pack dist/lib`) and the page's only way to the model.
cp -r www/. dist/
mkdir -p dist/lib/pkg dist/lib/model
for kind in $KINDS; do
  cp -r "pkg/$kind" dist/lib/pkg/
  rm -f "dist/lib/pkg/$kind/.key"
done
cp models/speech-emotion.sew dist/lib/model/
cp models/MODEL_CARD.md dist/lib/model/
# The service worker knows this build's files by their hashes (a new build: a new cache).
bash scripts/stamp-sw.sh dist
for kind in $KINDS; do
  f="dist/lib/pkg/$kind/speech_emotion_bg.wasm"
  echo "wasm $kind: $(stat -c %s "$f") bytes raw, $(gzip -9 -c "$f" | wc -c) bytes gzip"
done
echo "weights: $(stat -c %s dist/lib/model/speech-emotion.sew) bytes"
