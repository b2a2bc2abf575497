#!/usr/bin/env bash
# Builds everything and serves the demo with the shipped weights at http://127.0.0.1:8080
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$ROOT/scripts/setup.sh"
"$ROOT/scripts/build-web.sh"
echo "serving $ROOT/dist at http://127.0.0.1:${PORT:-8080}/ (Ctrl-C to stop)"
exec python3 -m http.server "${PORT:-8080}" --bind 127.0.0.1 --directory "$ROOT/dist"
