#!/usr/bin/env bash
# Realistic Nix closures for layering benchmarks, built offline: installed Debian
# packages mirrored into the Nix store, one store path per package, referencing
# its Debian dependencies. See README.md beside this file.
#
#   bash bench/debian-closure/make.sh /var/tmp/strata-bench     (as root)
#
# Env: BUMP=<debian package> (default libexpat1) picks the library bumped in appA-bumped;
#      SKIP_APT=1 skips the apt-get step.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "make.sh: run as root (apt-get, nix store)" >&2; exit 2; }
mkdir -p "$1"
out=$(cd "$1" && pwd)
export NIX_CONFIG=$'experimental-features = nix-command flakes\nsubstituters ='
t0=$(date +%s)
step() { echo "== [$(( $(date +%s) - t0 ))s] $*" >&2; }

# -- 0. room: ~1.1 GB staged (hard links: no extra space if OUTDIR is on /'s
#    filesystem), ~1 GB of git objects, and 3-4 GB in /nix/store
#    (flake source, per-package sources, outputs, bumped duplicates).
avail_kib() { df -Pk "$1" | awk 'NR==2 {print $4}'; }
df -h "$out" /nix/store >&2
for d in "$out" /nix/store; do
  if [ "$(avail_kib "$d")" -lt $((6 * 1024 * 1024)) ]; then
    echo "make.sh: less than 6 GiB free on $d" >&2; exit 1
  fi
done

# -- 1. packages (only Debian's; --no-install-recommends keeps it to the closures)
pkgs=(busybox-static git python3 python3-numpy python3-scipy python3-pandas python3-matplotlib
  python3-sklearn python3-sympy python3-lxml python3-requests python3-yaml
  perl git-svn libdbi-perl libdbd-sqlite3-perl libwww-perl libjson-perl perl-doc openssl curl)
if [ "${SKIP_APT:-}" != 1 ]; then
  missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f '${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    step "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
fi
command -v nix >/dev/null || { echo "make.sh: nix not found (apt-get install nix-bin)" >&2; exit 1; }

# -- 2. graph + staged files (gen.py), flake, busybox
step "resolving dependencies and staging files into $out/src"
rm -rf "$out/.git" "$out/bb" "$out/gcroots"
python3 "$here/gen.py" "$out"
mkdir -p "$out/bb/bin"
cp /bin/busybox "$out/bb/bin/busybox"
cp "$here/closure-flake.nix" "$out/flake.nix"
# what `nix flake lock` writes for a flake without inputs (kept in git so that
# evaluating never dirties the tree)
printf '{\n  "nodes": {\n    "root": {}\n  },\n  "root": "root",\n  "version": 7\n}\n' > "$out/flake.lock"
printf '/gcroots/\n/closures.json\n/graph-stats.json\n' > "$out/.gitignore"

# -- 3. git: committed, so that Nix copies the tree once and caches it by rev
step "git add + commit (~1 GB)"
git() { command git -C "$out" -c core.looseCompression=1 -c user.name=strata-bench \
  -c user.email=strata-bench@localhost -c commit.gpgsign=false -c core.autocrlf=false -c gc.auto=0 "$@"; }
git init -q
git add -A -f src apps bb flake.nix flake.lock graph.json .gitignore
git commit -q -m "Debian closure for Strata benchmarks"

# -- 4. build (offline: only local derivations, busybox builder)
step "nix build"
mkdir -p "$out/gcroots"
outputs=(appA appA-changed appA-bumped appB)
# one evaluation and build for all four (Nix 2.8 does not name the out-links of
# several installables in order), then an out-link each (from the eval cache)
nix build --max-jobs 2 --no-link "${outputs[@]/#/$out#}"
for o in "${outputs[@]}"; do
  nix build --out-link "$out/gcroots/$o" "$out#$o"
done

# -- 5. closures.json
step "closures.json"
for o in "${outputs[@]}"; do
  nix path-info -r --json "$out/gcroots/$o" > "$out/gcroots/$o.path-info.json"
done
python3 - "$out" "${outputs[@]}" <<'EOF'
import json, os, sys
out, names = sys.argv[1], sys.argv[2:]
res, closures = {}, {}
for n in names:
    infos = json.load(open(f"{out}/gcroots/{n}.path-info.json"))
    closures[n] = {i["path"] for i in infos}
    res[n] = {"installable": f"{out}#{n}",
              "outPath": os.path.realpath(f"{out}/gcroots/{n}"),
              "paths": len(infos),
              "narSize": sum(i["narSize"] for i in infos)}
for n in names:
    if n != "appA":
        extra = closures[n] - closures["appA"]
        res[n]["pathsNotInAppA"] = len(extra)
shared = closures["appA"] & closures["appB"]
res["_union_appA_appB"] = {
    "paths": len(closures["appA"] | closures["appB"]),
    "sharedPaths": len(shared),
    "narSize": sum(i["narSize"] for n in ("appA", "appB")
                   for i in json.load(open(f"{out}/gcroots/{n}.path-info.json"))
                   if i["path"] not in shared or n == "appA"),
}
json.dump(res, open(f"{out}/closures.json", "w"), indent=2)
print(json.dumps(res, indent=2))
EOF
step "done: $out/closures.json"
