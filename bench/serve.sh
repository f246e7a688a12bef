#!/usr/bin/env bash
# Registry benchmark: `strata serve` side by side with CNCF distribution 2.8
# (Debian's docker-registry) on loopback, under one load generator
# (bench/serve/run.mjs, Node + undici), in the same run, alternating which
# server goes first, medians over rounds. See docs/benchmarks/serve.md.
#
#   bash bench/serve.sh [extra options for bench/serve/run.mjs]
#
# Env:
#   ROUNDS=5        rounds (each: both servers, fresh storage, every workload)
#   WORK=/var/tmp/strata-serve-bench   storage of the servers and the results
#   STRATA_DIR=<this checkout>         the built Strata to serve (npx tsc -p tsconfig.json);
#   SNAPSHOT=1      serve a built copy of HEAD instead (WORK/strata-REV), so
#                   edits to the working tree during the run change nothing
#   PATCH=FILE      also serve HEAD with FILE applied (git apply; built in
#                   WORK/strata-REV-patch-HASH) as a third server, strata-alt, e.g.
#                   git diff ef23d39 ef23d39~1 -- registry/server >/tmp/revert.patch; PATCH=/tmp/revert.patch
#                   (strata before ef23d39, the fix docs/benchmarks/serve.md describes)
# Needs: docker-registry, Node (the checkout's, node_modules/.bin/node), undici (a dependency).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
node=$here/node_modules/.bin/node
ROUNDS=${ROUNDS:-5}
WORK=${WORK:-/var/tmp/strata-serve-bench}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

for tool in docker-registry getconf "$node"; do
  command -v "$tool" >/dev/null || { echo "serve.sh: $tool is missing" >&2; exit 2; }
done

strata_dir=${STRATA_DIR:-$here}
if [ "${SNAPSHOT:-0}" = 1 ]; then
  rev=$(git -C "$here" rev-parse --short HEAD)
  strata_dir=$WORK/strata-$rev
  if [ ! -f "$strata_dir/dist/src/cli/main.js" ]; then
    rm -rf "$strata_dir"
    mkdir -p "$strata_dir"
    git -C "$here" archive HEAD | tar -x -C "$strata_dir"
    ln -s "$here/node_modules" "$strata_dir/node_modules"
    (cd "$strata_dir" && "$here/node_modules/.bin/tsc" -p tsconfig.json) >&2
    echo "$rev" >"$strata_dir/.strata-rev"
  fi
fi
[ -f "$strata_dir/dist/src/serve.js" ] || { echo "serve.sh: build Strata first (npx tsc -p tsconfig.json in $strata_dir)" >&2; exit 2; }

alt=()
if [ -n "${PATCH:-}" ]; then
  patch_file=$(cd "$(dirname "$PATCH")" && pwd)/$(basename "$PATCH")
  alt_dir=$WORK/strata-$(git -C "$here" rev-parse --short HEAD)-patch-$(sha256sum "$patch_file" | cut -c1-8)
  if [ ! -f "$alt_dir/dist/src/cli/main.js" ]; then
    rm -rf "$alt_dir"
    mkdir -p "$alt_dir"
    git -C "$here" archive HEAD | tar -x -C "$alt_dir"
    (cd "$alt_dir" && git apply "$patch_file")
    ln -s "$here/node_modules" "$alt_dir/node_modules"
    (cd "$alt_dir" && "$here/node_modules/.bin/tsc" -p tsconfig.json) >&2
  fi
  alt=(--servers strata,distribution,strata-alt --alt-strata-dir "$alt_dir")
fi

stamp=$(date -u +%Y%m%dT%H%M%SZ)
results=$WORK/results-$stamp.jsonl
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  if [ -f "$strata_dir/.strata-rev" ]; then echo "strata: $(cat "$strata_dir/.strata-rev") (snapshot in $strata_dir)"
  else echo "strata: $(git -C "$strata_dir" rev-parse --short HEAD)$(git -C "$strata_dir" diff --quiet HEAD -- src registry 2>/dev/null || echo ' + uncommitted changes in src/ or registry/')"; fi
  echo "cpu: $(nproc) × $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(free -g | awk '/Mem:/ {print $2}') GB RAM; $(uname -r)"
  echo "storage: $(df -T "$WORK" | awk 'NR==2 {print $2, "on", $1}') ($WORK)"
  echo "node $("$node" --version); undici $("$node" -p "require('$here/node_modules/undici/package.json').version"); hono $("$node" -p "require('$here/node_modules/hono/package.json').version"); @hono/node-server $("$node" -p "require('$here/node_modules/@hono/node-server/package.json').version")"
  echo "docker-registry $(docker-registry --version | cut -d' ' -f2-)"
  if [ -n "${PATCH:-}" ]; then echo "strata-alt: HEAD + $PATCH (sha256 $(sha256sum "$patch_file" | cut -c1-12)), in $alt_dir"; fi
  echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$WORK/machine-$stamp.txt" >&2

"$node" "$here/bench/serve/run.mjs" --out "$results" --rounds "$ROUNDS" --strata-dir "$strata_dir" --work "$WORK" "${alt[@]}" "$@"
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$WORK/machine-$stamp.txt" >&2
report=("$node" "$here/bench/serve/report.mjs" "$results")
if [ -n "${PATCH:-}" ]; then report+=(--alt "HEAD + $PATCH"); fi
"${report[@]}" | tee "$WORK/report-$stamp.md"
echo >&2
echo "results: $results; machine: $WORK/machine-$stamp.txt; tables: $WORK/report-$stamp.md" >&2
