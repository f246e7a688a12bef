#!/usr/bin/env bash
# strata serve --htpasswd under bad-login load, two builds of Strata beside
# distribution (Debian's docker-registry with htpasswd auth). Each REV is
# built from `git archive` into WORK (edits to the working tree change
# nothing), then bench/serve-auth/run.mjs runs them. See docs/benchmarks/serve-auth.md.
#
#   BEFORE=e052110 AFTER=HEAD bash bench/serve-auth/run.sh [extra options for run.mjs]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
node=$here/node_modules/.bin/node
WORK=${WORK:-/var/tmp/strata-serve-auth-bench}
mkdir -p "$WORK"
command -v docker-registry >/dev/null || { echo "run.sh: docker-registry is missing" >&2; exit 2; }

build() {
  local rev dir
  rev=$(git -C "$here" rev-parse --short "$1")
  dir=$WORK/strata-$rev
  if [ ! -f "$dir/dist/src/cli/main.js" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    git -C "$here" archive "$rev" | tar -x -C "$dir"
    ln -s "$here/node_modules" "$dir/node_modules"
    (cd "$dir" && "$here/node_modules/.bin/tsc" -p tsconfig.json) >&2
  fi
  echo "$dir"
}

servers=()
[ -n "${BEFORE:-}" ] && servers+=(--strata "before=$(build "$BEFORE")")
servers+=(--strata "after=$(build "${AFTER:-HEAD}")")
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), load $(cut -d' ' -f1-3 /proc/loadavg); node $("$node" --version); $(docker-registry --version 2>&1 | head -1)"
exec "$node" "$here/bench/serve-auth/run.mjs" --work "$WORK" "${servers[@]}" "$@"
