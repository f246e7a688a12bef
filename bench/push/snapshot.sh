#!/usr/bin/env bash
# A built copy of the checkout's HEAD, so a long benchmark runs one version of
# Strata even while the working tree changes. Prints its directory; give it to
# bench/push.sh as STRATA_DIR.
#   bench/push/snapshot.sh [WORK=/var/tmp/strata-push-bench]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=${1:-/var/tmp/strata-push-bench}
rev=$(git -C "$here" rev-parse --short HEAD)
dir=$work/strata-$rev
if [ ! -f "$dir/dist/src/cli/main.js" ]; then
  rm -rf "$dir"
  mkdir -p "$dir"
  git -C "$here" archive HEAD | tar -x -C "$dir"
  ln -s "$here/node_modules" "$dir/node_modules"
  (cd "$dir" && "$here/node_modules/.bin/tsc" -p tsconfig.json) >&2
  echo "$rev" >"$dir/.strata-rev"
fi
echo "$dir"
