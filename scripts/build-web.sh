#!/usr/bin/env bash
# Builds the static site into dist/: the page, the shipped weights and two wasm bundles,
# pkg/cpu (flex backend) and pkg/webgpu (flex + wgpu on WebGPU, loaded only when the browser
# has WebGPU). Prints each bundle's size, raw and gzipped.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
WASM_OPT="$ROOT/tests/e2e/node_modules/.bin/wasm-opt"

rm -rf pkg dist
for kind in cpu webgpu; do
  features=""; [ "$kind" = webgpu ] && features="--features webgpu"
  cargo build --lib --target wasm32-unknown-unknown --profile wasm $features
  wasm-bindgen --target web --no-typescript --out-dir "pkg/$kind" \
    "$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm/speech_emotion.wasm"
  if [ -x "$WASM_OPT" ]; then
    "$WASM_OPT" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
      --enable-mutable-globals --enable-simd \
      "pkg/$kind/speech_emotion_bg.wasm" -o "pkg/$kind/speech_emotion_bg.wasm"
  fi
done

mkdir -p dist/model
cp -r www/. dist/
cp -r pkg dist/pkg
cp models/speech-emotion.sew dist/model/
for kind in cpu webgpu; do
  f="dist/pkg/$kind/speech_emotion_bg.wasm"
  echo "wasm $kind: $(stat -c %s "$f") bytes raw, $(gzip -9 -c "$f" | wc -c) bytes gzip"
done
echo "weights: $(stat -c %s dist/model/speech-emotion.sew) bytes"
