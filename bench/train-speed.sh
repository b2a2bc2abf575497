#!/usr/bin/env bash
# Training throughput, side by side: the trainer (Burn, flex backend) and the same network in
# PyTorch (bench/torch_reference.py), same batch size and number of steps, on random inputs,
# alternating ROUNDS times so both see the same machine. Prints clips per second and the ratio.
# With RAVDESS at ../shared/data/ravdess (or RAVDESS_DIR), also times one epoch of the default
# recipe (`trainer train --epochs 1`, data preparation and validation included).
#
#   bash bench/train-speed.sh [--steps N] [--batch-size B] [--rounds R] [--no-epoch]
#
# PyTorch comes from PyPI (`torch`) into a virtual environment under the tools folder, once.
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$ROOT"

steps=20 batch=32 rounds=3 epoch=1
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps="$2"; shift 2 ;;
    --batch-size) batch="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --no-epoch) epoch=0; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

venv="$SE_TOOLS/torch-venv"
if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  echo "installing PyTorch into $venv (once)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q torch
fi
cargo build -q --release -p trainer
trainer="$CARGO_TARGET_DIR/release/trainer"

ours=() theirs=()
for r in $(seq "$rounds"); do
  ours+=("$("$trainer" bench --json --steps "$steps" --batch-size "$batch")")
  theirs+=("$("$venv/bin/python" bench/torch_reference.py --steps "$steps" --batch-size "$batch")")
done

python3 - "$rounds" "${ours[@]}" "${theirs[@]}" <<'PY'
import json, statistics, sys
n = int(sys.argv[1])
runs = [json.loads(a) for a in sys.argv[2:]]
ours, theirs = runs[:n], runs[n:]
med = lambda rs: statistics.median(r["clips_per_second"] for r in rs)
print(f"{'implementation':<34} {'threads':>7} {'batch':>5} {'steps':>5} {'clips/s (median of ' + str(n) + ')':>24}  all runs")
for rs in (ours, theirs):
    r = rs[0]
    runs = " ".join(f"{x['clips_per_second']:.1f}" for x in rs)
    print(f"{r['implementation']:<34} {r['threads']:>7} {r['batch_size']:>5} {r['steps']:>5} {med(rs):>24.1f}  {runs}")
print(f"ratio trainer / PyTorch: {med(ours) / med(theirs):.2f}")
PY

data="${RAVDESS_DIR:-$ROOT/../shared/data/ravdess}/speech"
if [ "$epoch" = 1 ] && [ -d "$data" ]; then
  out="$(mktemp -d)"
  "$trainer" train --data "$data" --epochs 1 --out "$out/m.sew" 2>&1 | grep -E "^epoch" || true
  python3 -c "import json,sys; h=json.load(open(sys.argv[1]))['history'][0]; print(f\"one epoch of the default recipe: {h['seconds']:.1f} s (1 080 training clips, augmentation and validation included)\")" "$out/m.metrics.json"
  rm -rf "$out"
fi
