# Sourced by the other scripts: one cargo target directory and one tools folder, kept outside
# the clone so that rebuilds are incremental (override with CARGO_TARGET_DIR / SE_TOOLS).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/speech-emotion/target}"
export SE_TOOLS="${SE_TOOLS:-$HOME/.cache/speech-emotion/tools}"
export PATH="$SE_TOOLS/bin:$PATH"
mkdir -p "$CARGO_TARGET_DIR" "$SE_TOOLS"
