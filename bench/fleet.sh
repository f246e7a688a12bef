#!/usr/bin/env bash
# Fleet benchmark (issue 16): `strata serve --storage docker://UPSTREAM/PREFIX`
# replicas over one upstream registry (Debian's docker-registry = CNCF
# distribution 2.8, filesystem storage, loopback), behind the same round-robin
# proxy (test/helpers/round-robin.ts). See docs/benchmarks/fleet.md.
#
#   bash bench/fleet.sh [extra options for bench/fleet/run.mjs]
#
# Two sections (bench/fleet/run.mjs says exactly what each does):
#   pull    MB/s of 8 and 32 concurrent blob GETs (each body sha256-checked) of
#           a ~200 MB random image: the upstream directly, the proxy over the
#           upstream, over ONE replica, over TWO replicas, over two replicas
#           with --redirect-blobs; ratios two/one within each round.
#   bridge  the first pull of a bridge image (--image app=INSTALLABLE) on a
#           fresh replica (empty STRATA_CACHE_DIR): the layers made here
#           ("built") against the image found in the upstream ("found-upstream").
#
# Env:
#   ROUNDS=2        rounds of each section
#   SECTIONS=pull,bridge
#   INSTALLABLE=/var/tmp/strata-bench#appA   the bridge image's flake output
#                   (bench/debian-closure/make.sh makes it: 210 store paths,
#                   975 MB of NAR; about 4 minutes, once)
#   WORK=/var/tmp/strata-fleet-bench   the servers' storage, logs and results
#   STRATA_DIR=<this checkout>         the built Strata to run (npm run build);
#                   STRATA_DIR=$(bench/push/snapshot.sh) runs a built copy of HEAD
# Needs: docker-registry, skopeo, nix, Node (the checkout's node_modules/.bin/node), undici and tsx (dependencies).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
node=$here/node_modules/.bin/node
export NIX_CONFIG=${NIX_CONFIG:-$'substituters =\nexperimental-features = nix-command flakes'}
ROUNDS=${ROUNDS:-2}
SECTIONS=${SECTIONS:-pull,bridge}
INSTALLABLE=${INSTALLABLE:-/var/tmp/strata-bench#appA}
WORK=${WORK:-/var/tmp/strata-fleet-bench}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

for tool in docker-registry skopeo nix getconf "$node"; do
  command -v "$tool" >/dev/null || { echo "fleet.sh: $tool is missing" >&2; exit 2; }
done
strata_dir=${STRATA_DIR:-$here}
[ -f "$strata_dir/dist/src/serve.js" ] || { echo "fleet.sh: build Strata first (npm run build in $strata_dir)" >&2; exit 2; }
if [[ $SECTIONS == *bridge* ]] && [[ $INSTALLABLE == /var/tmp/strata-bench#* ]] && [ ! -f /var/tmp/strata-bench/flake.nix ]; then
  echo "fleet.sh: no /var/tmp/strata-bench (run bench/debian-closure/make.sh /var/tmp/strata-bench, or set INSTALLABLE)" >&2; exit 2
fi

# run.mjs kills what it started when it exits; this also stops it (and with it
# its children) when the script is interrupted.
run_pid=
cleanup() { if [ -n "$run_pid" ]; then kill "$run_pid" 2>/dev/null || true; wait "$run_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM

stamp=$(date -u +%Y%m%dT%H%M%SZ)
results=$WORK/results-$stamp.jsonl
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  if [ -f "$strata_dir/.strata-rev" ]; then echo "strata: $(cat "$strata_dir/.strata-rev") (snapshot in $strata_dir)"
  else echo "strata: $(git -C "$strata_dir" rev-parse --short HEAD)$(git -C "$strata_dir" diff --quiet HEAD -- src registry 2>/dev/null || echo ' + uncommitted changes in src/ or registry/')"; fi
  echo "cpu: $(nproc) × $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(free -g | awk '/Mem:/ {print $2}') GB RAM; $(uname -r); $(sed -n 's/^PRETTY_NAME="\(.*\)"$/\1/p' /etc/os-release)"
  echo "storage: $(df -T "$WORK" | awk 'NR==2 {print $2, "on", $1}') ($WORK)"
  echo "node $("$node" --version); undici $("$node" -p "require('$here/node_modules/undici/package.json').version"); tsx $("$node" -p "require('$here/node_modules/tsx/package.json').version")"
  echo "docker-registry $(docker-registry --version | cut -d' ' -f2-); $(skopeo --version); $(nix --version)"
  echo "sections: $SECTIONS; rounds: $ROUNDS; installable: $INSTALLABLE; extra: $*"
  echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$WORK/machine-$stamp.txt" >&2

"$node" "$here/bench/fleet/run.mjs" --out "$results" --rounds "$ROUNDS" --sections "$SECTIONS" \
  --installable "$INSTALLABLE" --strata-dir "$strata_dir" --work "$WORK" "$@" &
run_pid=$!
wait "$run_pid"
run_pid=
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$WORK/machine-$stamp.txt" >&2
"$node" "$here/bench/fleet/report.mjs" "$results" | tee "$WORK/report-$stamp.md"
echo >&2
echo "results: $results; machine: $WORK/machine-$stamp.txt; tables: $WORK/report-$stamp.md" >&2
