#!/usr/bin/env bash
# Every figure of README's "Measured" section that is a speed or a size, in one run, as tables:
# the page in headless Chromium (first result cold and warm, download, one clip, long
# recordings: tests/e2e/bench.mjs), the native core (examples/bench.rs), our log-mel against
# librosa's (bench/librosa_logmel.py), and training against PyTorch (bench/train-speed.sh).
# Run it on an otherwise idle machine: the figures are wall-clock times.
#
#   bash bench/run.sh [--minutes 10,60] [--quick] [--gpu]
#
# --quick: a 10-minute recording only, fewer repetitions, no training epoch.
# --gpu: also the model on this machine's GPU through Burn's native wgpu backend against the
#   CPU backend (examples/gpu_bench.rs; its first build takes about half an hour here).
# librosa (0.11) and PyTorch come from PyPI into virtual environments under the tools folder,
# once; the site is built first if dist/ is missing.
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$ROOT"

minutes=10,60 quick=0 gpu=0
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --quick) quick=1; minutes=10; shift ;;
    --gpu) gpu=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
runs=$([ "$quick" = 1 ] && echo 10 || echo 30)

[ -f dist/index.html ] || bash scripts/build-web.sh >&2
(cd tests/e2e && [ -d node_modules/playwright-core ] || npm ci --silent >&2)

echo "## The page"
echo
node tests/e2e/bench.mjs --runs "$runs" --minutes "$minutes"
echo

echo "## The core, natively (one core of this machine)"
echo
native="$(cargo run -q --release --example bench -- --json models/speech-emotion.sew "$runs")"
venv="$SE_TOOLS/librosa-venv"
if ! "$venv/bin/python" -c "import librosa" 2>/dev/null; then
  echo "installing librosa into $venv (once)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "librosa==0.11.*"
fi
librosa="$("$venv/bin/python" bench/librosa_logmel.py "$runs")"
python3 - "$native" "$librosa" <<'PY'
import json, sys
ours, theirs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("| one 3-s clip | ms (median) |\n|---|---|")
print(f"| front end (log-mel, speech-embedding mel, prosody) | {ours['front_end_ms']:.2f} |")
print(f"| model | {ours['model_ms']:.2f} |")
print(f"| total | {ours['total_ms']:.2f} |")
print(f"| the weights file to a model ready to run (once a load) | {ours['load_ms']:.2f} |")
print()
print(f"| log-mel in dB, all frames | ours | librosa {theirs['librosa']} | librosa / ours |\n|---|---|---|---|")
for key, name in (("logmel_clip_ms", "3-s clip"), ("logmel_minute_ms", "60-s signal")):
    print(f"| {name} | {ours[key]:.2f} ms | {theirs[key]:.2f} ms | {theirs[key] / ours[key]:.1f}× |")
PY
echo

echo "## Training"
echo
if [ "$quick" = 1 ]; then
  bash bench/train-speed.sh --steps 10 --rounds 1 --no-epoch
else
  bash bench/train-speed.sh --steps 10 --rounds 2
fi

if [ "$gpu" = 1 ]; then
  echo
  echo "## The model on the GPU (native wgpu) against the CPU backend"
  echo
  cargo run -q --release --features native-gpu --example gpu_bench -- \
    models/speech-emotion.sew "$runs" "${minutes##*,}"
fi
