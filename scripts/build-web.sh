#!/usr/bin/env bash
# Builds the static site into dist/ (self-contained: serve it from any static host, at any
# path): the page, its worker and service worker, the shipped weights and two wasm bundles,
# pkg/cpu (flex backend) and pkg/webgpu (flex + wgpu on WebGPU, loaded only when the browser
# has WebGPU). Prints each bundle's size, raw and gzipped.
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
  if [ -x "$WASM_OPT" ]; then
    "$WASM_OPT" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
      --enable-mutable-globals --enable-simd \
      "pkg/$kind/speech_emotion_bg.wasm" -o "pkg/$kind/speech_emotion_bg.wasm"
  fi
  echo "$key" > "pkg/$kind/.key"
done

mkdir -p dist/model
cp -r www/. dist/
mkdir -p dist/pkg
for kind in $KINDS; do
  cp -r "pkg/$kind" dist/pkg/
  rm -f "dist/pkg/$kind/.key"
done
cp models/speech-emotion.sew dist/model/
# The service worker knows this build's files by their hashes (a new build: a new cache).
bash scripts/stamp-sw.sh dist
for kind in $KINDS; do
  f="dist/pkg/$kind/speech_emotion_bg.wasm"
  echo "wasm $kind: $(stat -c %s "$f") bytes raw, $(gzip -9 -c "$f" | wc -c) bytes gzip"
done
echo "weights: $(stat -c %s dist/model/speech-emotion.sew) bytes"
