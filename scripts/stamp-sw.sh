#!/usr/bin/env bash
# Writes the service worker into a built site: www/sw.js with the build's id and the SHA-256 of
# every file the site holds, so that the worker caches and serves that build's files only.
# Usage: scripts/stamp-sw.sh DIR (scripts/build-web.sh runs it on dist/).
set -euo pipefail
dir=${1:?usage: stamp-sw.sh DIR}
template="$(dirname "$0")/../www/sw.js"
grep -q '^  // FILES$' "$template" || { echo "stamp-sw.sh: $template has no FILES placeholder" >&2; exit 1; }
files=$(cd "$dir" && find . -type f ! -name sw.js -print0 | sort -z | xargs -0 sha256sum)
# sha256sum marks names it had to escape with a leading backslash; the table is plain JSON keys.
if printf '%s\n' "$files" | grep -q '^\\\|"'; then
  echo "stamp-sw.sh: a file name in $dir has a quote, a backslash or a newline" >&2; exit 1
fi
build=$(printf '%s\n' "$files" | sha256sum | cut -c1-12)
table=$(printf '%s\n' "$files" | while read -r hash path; do
  printf '  "%s": "%s",\n' "${path#./}" "$hash"
done)
# The template's two stamped lines: const BUILD = "dev"; and the FILES table's placeholder.
awk -v build="$build" -v table="$table" '
  /^const BUILD = / { print "const BUILD = \"" build "\";"; next }
  /^  \/\/ FILES$/ { print table; next }
  { print }
' "$template" > "$dir/sw.js"
echo "service worker: build $build, $(printf '%s\n' "$files" | wc -l) files"
