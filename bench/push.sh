#!/usr/bin/env bash
# Push benchmark: `strata push` against `skopeo copy` of the same images to a
# local registry (CNCF distribution 2.8, filesystem storage), in the same run,
# alternating the order, medians of several rounds. See docs/benchmarks/push.md.
#
#   bench/push.sh [STORE_PATH]
#
# STORE_PATH: the closure to push (default: appA of bench/debian-closure, from
# /var/tmp/strata-bench/closures.json). Two OCI layouts are pushed: that
# closure built with `strata build -o oci: --max-layers 100` (gzip), and a
# synthetic ~800 MB, 100-layer gzip layout (bench/push/synthetic-layout.sh).
#
# Env:
#   ROUNDS=5         rounds of each full-push comparison (fresh registry each run)
#   STORE_ROUNDS=3   rounds of the cold store → registry comparison (3–5 min a round here)
#   NOOP_ROUNDS=5    no-op re-pushes of each kind from the store
#   SECTIONS="full concurrency chunk store n2c"
#   N2C_ROUNDS=3     rounds of the cold push against what a nix2container user gets (section n2c)
#   IMAGES="closure synthetic"
#   WORK=/var/tmp/strata-push-bench   layouts, registries, results (reused between runs)
#   STRATA_DIR=<this checkout>        the Strata checkout to run (built: npx tsc -p tsconfig.json);
#                                     STRATA_DIR=$(bench/push/snapshot.sh) runs a built copy of HEAD
# Needs: docker-registry, skopeo, GNU time (/usr/bin/time), curl, bc, pigz, openssl, nix.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
strata_dir=${STRATA_DIR:-$here}
node=$here/node_modules/.bin/node
export NIX_CONFIG=${NIX_CONFIG:-$'substituters =\nexperimental-features = nix-command flakes'}
ROUNDS=${ROUNDS:-5}
STORE_ROUNDS=${STORE_ROUNDS:-3}
NOOP_ROUNDS=${NOOP_ROUNDS:-5}
SECTIONS=${SECTIONS:-full concurrency chunk store n2c}
N2C_ROUNDS=${N2C_ROUNDS:-3}
IMAGES=${IMAGES:-closure synthetic}
WORK=${WORK:-/var/tmp/strata-push-bench}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

for tool in docker-registry skopeo /usr/bin/time curl bc pigz openssl nix; do
  command -v "$tool" >/dev/null || { echo "push.sh: $tool is missing" >&2; exit 2; }
done
[ -f "$strata_dir/dist/src/cli/main.js" ] || { echo "push.sh: build Strata first (npx tsc -p tsconfig.json in $strata_dir)" >&2; exit 2; }

root=${1:-}
if [ -z "$root" ]; then
  [ -f /var/tmp/strata-bench/closures.json ] || { echo "push.sh: no STORE_PATH and no /var/tmp/strata-bench/closures.json (run bench/debian-closure/make.sh)" >&2; exit 2; }
  root=$("$node" -p 'require("/var/tmp/strata-bench/closures.json").appA.outPath')
fi
nix-store --check-validity "$root"

strata() { "$node" "$strata_dir/bin/strata.js" "$@"; }
log() { echo "== $*" >&2; }

stamp=$(date -u +%Y%m%dT%H%M%SZ)
results=$WORK/results-$stamp.tsv
printf 'section\timage\tvariant\tround\twall_s\trss_kb\tuser_s\tsys_s\treg_cpu_s\trequests\tconns\tcheck\n' >"$results"

# -- the machine
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  if [ -f "$strata_dir/.strata-rev" ]; then echo "strata: $(cat "$strata_dir/.strata-rev") (snapshot in $strata_dir)"
  else echo "strata: $(git -C "$strata_dir" rev-parse --short HEAD)$(git -C "$strata_dir" diff --quiet HEAD -- || echo ' + uncommitted changes')"; fi
  echo "cpu: $(nproc) × $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(free -g | awk '/Mem:/ {print $2}') GB RAM; $(uname -r)"
  echo "node $("$node" --version); $(skopeo --version); $(docker-registry --version | cut -d' ' -f2-); $(nix --version)"
  echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$WORK/machine-$stamp.txt" >&2

# -- the images
layout_closure=$WORK/layout-closure
if [ ! -f "$layout_closure/index.json" ] || [ "$(cat "$layout_closure/.root" 2>/dev/null)" != "$root" ]; then
  log "building the closure's layout (cold gzip: a minute or two)"
  rm -rf "$layout_closure"
  STRATA_CACHE_DIR=$WORK/layout-cache strata build "$root" -o "oci:$layout_closure:1" --max-layers 100 >/dev/null
  echo "$root" >"$layout_closure/.root"
fi
layout_synthetic=$WORK/layout-synthetic
if [ ! -f "$layout_synthetic/index.json" ]; then
  log "making the synthetic layout (about a minute)"
  "$here/bench/push/synthetic-layout.sh" "$layout_synthetic" 100 800 >/dev/null
fi
describe_layout() { # dir → "N blobs, M MB"
  echo "$(find "$1/blobs/sha256" -type f | wc -l) blobs, $(( $(find "$1/blobs/sha256" -type f -printf '%s\n' | awk '{s+=$1} END {print s}') / 1000000 )) MB"
}
{
  echo "closure: $root ($(nix-store -qR "$root" | wc -l) store paths); layout: $(describe_layout "$layout_closure")"
  echo "synthetic layout: $(describe_layout "$layout_synthetic")"
} | tee -a "$WORK/machine-$stamp.txt" >&2
layout_of() { case $1 in closure) echo "$layout_closure" ;; synthetic) echo "$layout_synthetic" ;; esac; }
manifest_of() { "$node" -p "require('$1/index.json').manifests[0].digest"; }
# Keep every layout in the page cache, so reading it costs each tool the same.
warm() { cat "$1"/blobs/sha256/* >/dev/null; }

# -- registries: a fresh one (empty storage) per measured push
free_port() { "$node" -e 's=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
REG_PID= REG_DIR= REG_HOST= REG_LOG=
reg_start() {
  REG_DIR=$(mktemp -d -p "$WORK" registry.XXXXXX)
  local port; port=$(free_port)
  cat >"$REG_DIR/config.yml" <<EOF
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: $REG_DIR/storage
  delete:
    enabled: false
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: push-bench-$port
EOF
  REG_LOG=$REG_DIR/log
  docker-registry serve "$REG_DIR/config.yml" >"$REG_LOG" 2>&1 &
  REG_PID=$!
  REG_HOST=127.0.0.1:$port
  for _ in $(seq 200); do
    if grep -q "listening on 127.0.0.1:$port" "$REG_LOG" && curl -sf "http://$REG_HOST/v2/" >/dev/null; then return 0; fi
    kill -0 "$REG_PID" 2>/dev/null || { cat "$REG_LOG" >&2; return 1; }
    sleep 0.05
  done
  echo "push.sh: the registry did not start" >&2
  return 1
}
reg_stop() {
  if [ -n "$REG_PID" ]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
  [ -n "$REG_DIR" ] && rm -rf "$REG_DIR"
  REG_PID= REG_DIR=
}
trap 'reg_stop' EXIT
tck=$(getconf CLK_TCK)
reg_cpu() { awk -v t="$tck" '{printf "%.2f", ($14 + $15) / t}' "/proc/$REG_PID/stat"; }
# The registry's digest for a tag (checks that a push left the image it should).
reg_digest() { curl -sfI -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' "http://$REG_HOST/v2/$1/manifests/$2" | tr -d '\r' | awk 'tolower($1) == "docker-content-digest:" {print $2}'; }

# One measured command: wall time, peak RSS, CPU of the command and of the
# registry, the requests the registry served (from its log) and how many TCP
# connections they came on. The command's stdout goes to $WORK/last.out.
# expect: "REPO TAG DIGEST" (the tag must name DIGEST afterwards), or "".
measure() { # section image variant round expect -- command...
  local section=$1 image=$2 variant=$3 round=$4 expect=$5; shift 6
  local tf; tf=$(mktemp)
  sync
  local lines0 cpu0 cpu1
  lines0=$(wc -l <"$REG_LOG")
  cpu0=$(reg_cpu)
  if ! /usr/bin/time -f '%e %M %U %S' -o "$tf" "$@" >"$WORK/last.out" 2>"$WORK/last.err"; then
    tail -5 "$WORK/last.err" >&2
    echo "push.sh: failed: $*" >&2
    rm -f "$tf"
    return 1
  fi
  sleep 0.3 # the registry writes its log lines after answering
  cpu1=$(reg_cpu)
  local reqs conns
  reqs=$(tail -n +"$((lines0 + 1))" "$REG_LOG" | grep 'response completed' | grep -o 'http.request.method=[A-Z]*' | cut -d= -f2 | sort | uniq -c | awk '{printf "%s%s=%s", sep, $2, $1; sep=" "}')
  conns=$(tail -n +"$((lines0 + 1))" "$REG_LOG" | grep 'response completed' | grep -o 'http.request.remoteaddr="[^"]*"' | sort -u | wc -l)
  local check=ok
  if [ -n "$expect" ]; then
    local erepo etag edigest got
    read -r erepo etag edigest <<<"$expect"
    got=$(reg_digest "$erepo" "$etag")
    [ "$got" = "$edigest" ] || check="WRONG:$got"
  fi
  read -r wall rss user sys <"$tf"
  rm -f "$tf"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$section" "$image" "$variant" "$round" "$wall" "$rss" "$user" "$sys" "$(echo "$cpu1 - $cpu0" | bc)" "${reqs:-none}" "$conns" "$check" | tee -a "$unit_rows" >&2
}

# One registry's worth of measurements: a fresh registry, the measures of
# "$@" (a function), the registry stopped. Its rows are kept only if it all
# worked. When the registry itself vanished (other jobs on a shared machine
# may kill every docker-registry), the unit is run again on a new one.
unit_rows=$WORK/unit.tsv
unit() {
  local try
  for try in 1 2 3; do
    : >"$unit_rows"
    reg_start
    if "$@"; then
      reg_stop
      cat "$unit_rows" >>"$results"
      return 0
    fi
    if kill -0 "$REG_PID" 2>/dev/null; then
      mkdir -p "$WORK/failed"; cp "$REG_LOG" "$WORK/failed/registry-$stamp.log"; cp "$WORK/last.err" "$WORK/failed/client-$stamp.err"
      echo "push.sh: $* failed with the registry up (logs in $WORK/failed)" >&2
      exit 1
    fi
    echo "push.sh: the registry was gone (killed from outside?); running $* again on a new one" >&2
    echo "$(date -u +%H:%M:%S) $*: registry vanished, unit repeated" >>"$WORK/machine-$stamp.txt"
    reg_stop
  done
  exit 1
}

fresh_home() { # a fresh CI runner: empty HOME and cache, no credentials
  local h; h=$(mktemp -d -p "$WORK" home.XXXXXX)
  echo "env -u XDG_CACHE_HOME -u XDG_CONFIG_HOME -u DOCKER_CONFIG -u REGISTRY_AUTH_FILE HOME=$h STRATA_CACHE_DIR=$h/.cache/strata"
}

# -- 1. full push and no-op re-push of a layout
full_unit() { # tool round turn
  local tool=$1 r=$2 turn=$3 v j
  log "full push, $image, round $r: $tool"
  if [ "$tool" = strata ]; then
    measure full "$image" strata "$r" "bench 1 $D" -- "$node" "$strata_dir/bin/strata.js" push "oci:$L" "$REG_HOST/bench:1" -q || return 1
  else
    measure full "$image" skopeo "$r" "bench 1 $D" -- skopeo copy -q --dest-tls-verify=false "oci:$L:1" "docker://$REG_HOST/bench:1" || return 1
  fi
  # No-op re-pushes to the same registry and tag, in rotating order.
  local noops=("strata" "strata-fresh" "skopeo")
  for j in 0 1 2; do
    v=${noops[$(((turn + j) % 3))]}
    case $v in
      strata) measure noop "$image" strata "$r" "bench 1 $D" -- "$node" "$strata_dir/bin/strata.js" push "oci:$L" "$REG_HOST/bench:1" -q || return 1 ;;
      strata-fresh) measure noop "$image" strata-fresh-runner "$r" "bench 1 $D" -- $(fresh_home) "$node" "$strata_dir/bin/strata.js" push "oci:$L" "$REG_HOST/bench:1" -q || return 1 ;;
      skopeo) measure noop "$image" skopeo "$r" "bench 1 $D" -- skopeo copy -q --dest-tls-verify=false "oci:$L:1" "docker://$REG_HOST/bench:1" || return 1 ;;
    esac
  done
}
if [[ " $SECTIONS " == *" full "* ]]; then
  for image in $IMAGES; do
    L=$(layout_of "$image"); D=$(manifest_of "$L"); warm "$L"
    turn=0
    for r in $(seq "$ROUNDS"); do
      if ((r % 2)); then order="strata skopeo"; else order="skopeo strata"; fi
      for tool in $order; do
        unit full_unit "$tool" "$r" "$turn"
        turn=$((turn + 1))
      done
    done
  done
fi

# -- 2. --concurrency 2, 4, 8
concurrency_unit() { # concurrency round
  log "concurrency $1, $image, round $2"
  measure concurrency "$image" "--concurrency $1" "$2" "bench 1 $D" -- "$node" "$strata_dir/bin/strata.js" push "oci:$L" "$REG_HOST/bench:1" -q --concurrency "$1"
}
if [[ " $SECTIONS " == *" concurrency "* ]]; then
  for image in $IMAGES; do
    L=$(layout_of "$image"); D=$(manifest_of "$L"); warm "$L"
    for r in $(seq "$ROUNDS"); do
      cs=(2 4 8)
      for i in 0 1 2; do unit concurrency_unit "${cs[$(((r + i) % 3))]}" "$r"; done
    done
  done
fi

# -- 3. chunked (default: 8 MiB PATCHes for blobs over 16 MiB) or streamed uploads
chunk_unit() { # chunk-size|default round
  log "chunk size $1, $image, round $2"
  if [ "$1" = default ]; then
    measure chunk "$image" "default (8 MiB chunks over 16 MiB)" "$2" "bench 1 $D" -- "$node" "$strata_dir/bin/strata.js" push "oci:$L" "$REG_HOST/bench:1" -q
  else
    measure chunk "$image" "--chunk-size $1" "$2" "bench 1 $D" -- "$node" "$strata_dir/bin/strata.js" push "oci:$L" "$REG_HOST/bench:1" -q --chunk-size "$1"
  fi
}
if [[ " $SECTIONS " == *" chunk "* ]]; then
  for image in $IMAGES; do
    L=$(layout_of "$image"); D=$(manifest_of "$L"); warm "$L"
    for r in $(seq "$ROUNDS"); do
      variants=("default" "0" "33554432")
      for i in 0 1 2; do unit chunk_unit "${variants[$(((r + i) % 3))]}" "$r"; done
    done
  done
fi

# -- 4. store → registry from a cold cache, and no-op re-pushes from the store
no_op_check() { # nothing may have been made or sent again
  "$node" -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));const b=r.pushed.blobs;if(r.pushed.bytes!==0||b.some(x=>x.action!=="exists")){console.error("not a no-op:",JSON.stringify(r.pushed).slice(0,300));process.exit(1)}' "$WORK/last.out"
}
store_push_unit() { # round
  local cache D n v
  cache=$(mktemp -d -p "$WORK" cache.XXXXXX)
  log "store → registry, cold cache, round $1: strata push"
  measure store closure "strata push STORE_PATH (cold cache)" "$1" "" -- env STRATA_CACHE_DIR="$cache" "$node" "$strata_dir/bin/strata.js" push "$root" "$REG_HOST/app:1" -q || return 1
  D=$(head -1 "$WORK/last.out")
  [ "$(reg_digest app 1)" = "$D" ] || { echo "push.sh: app:1 is not $D" >&2; exit 1; }
  # No-op re-pushes of the store path: warm cache, and a fresh runner's empty cache.
  for n in $(seq "$NOOP_ROUNDS"); do
    for v in warm fresh; do
      if [ "$v" = warm ]; then
        measure store-noop closure "warm cache" "$n" "app 1 $D" -- env STRATA_CACHE_DIR="$cache" "$node" "$strata_dir/bin/strata.js" push "$root" "$REG_HOST/app:1" -q --json || return 1
      else
        measure store-noop closure "empty cache, fresh HOME" "$n" "app 1 $D" -- $(fresh_home) "$node" "$strata_dir/bin/strata.js" push "$root" "$REG_HOST/app:1" -q --json || return 1
      fi
      no_op_check || exit 1
    done
  done
  rm -rf "$cache"
}
store_twostep_unit() { # round
  local cache out D
  cache=$(mktemp -d -p "$WORK" cache.XXXXXX)
  out=$(mktemp -d -p "$WORK" twostep.XXXXXX)
  log "store → registry, cold cache, round $1: strata build -o oci: then skopeo copy"
  measure store closure "step 1: strata build -o oci: (cold cache)" "$1" "" -- env STRATA_CACHE_DIR="$cache" "$node" "$strata_dir/bin/strata.js" build "$root" -o "oci:$out/l:1" || return 1
  D=$(head -1 "$WORK/last.out")
  measure store closure "step 2: skopeo copy oci: docker://" "$1" "app 1 $D" -- skopeo copy -q --dest-tls-verify=false "oci:$out/l:1" "docker://$REG_HOST/app:1" || return 1
  rm -rf "$out" "$cache"
}
if [[ " $SECTIONS " == *" store "* ]]; then
  nix-store -qR "$root" | xargs tar -cf - 2>/dev/null | cat >/dev/null # the closure in the page cache
  for r in $(seq "$STORE_ROUNDS"); do
    if ((r % 2)); then order="push twostep"; else order="twostep push"; fi
    for how in $order; do unit "store_${how}_unit" "$r"; done
  done
fi

# What a nix2container user gets: its image is an uncompressed layout read
# straight from the store (made here by strata --compression none, untimed:
# nix2container's own step is as cheap), which skopeo compresses to gzip while
# pushing. Against it: strata push of the store path with a cold cache.
n2c_push_unit() { # round
  local cache
  cache=$(mktemp -d -p "$WORK" cache.XXXXXX)
  log "nix2container comparison, round $1: strata push (cold cache)"
  measure n2c closure "strata push STORE_PATH (cold cache)" "$1" "" -- env STRATA_CACHE_DIR="$cache" "$node" "$strata_dir/bin/strata.js" push "$root" "$REG_HOST/app:1" -q || return 1
  rm -rf "$cache"
}
n2c_skopeo_unit() { # round
  log "nix2container comparison, round $1: skopeo copy --dest-compress-format gzip of the uncompressed layout"
  measure n2c closure "skopeo copy --dest-compress-format gzip (uncompressed layout)" "$1" "" -- skopeo copy -q --dest-tls-verify=false --dest-compress --dest-compress-format gzip "oci:$n2c_layout:1" "docker://$REG_HOST/app:1" || return 1
}
if [[ " $SECTIONS " == *" n2c "* ]]; then
  n2c_layout=$WORK/n2c-layout
  rm -rf "$n2c_layout"
  env STRATA_CACHE_DIR="$(mktemp -d -p "$WORK" cache.XXXXXX)" "$node" "$strata_dir/bin/strata.js" build "$root" --compression none -o "oci:$n2c_layout:1" >/dev/null 2>&1
  warm "$n2c_layout"
  nix-store -qR "$root" | xargs tar -cf - 2>/dev/null | cat >/dev/null
  for r in $(seq "$N2C_ROUNDS"); do
    if ((r % 2)); then order="push skopeo"; else order="skopeo push"; fi
    for how in $order; do unit "n2c_${how}_unit" "$r"; done
  done
fi
rm -rf "$WORK"/cache.* "$WORK"/twostep.*
rm -rf "$WORK"/home.*
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$WORK/machine-$stamp.txt" >&2
echo
cat "$WORK/machine-$stamp.txt"
echo
"$node" "$here/bench/push/report.mjs" "$results"
echo
echo "raw results: $results"
