#!/usr/bin/env bash
# Cold build throughput, warm digest time and peak RSS of strata on a realistic
# closure, side by side with the machine's own limits in the same run:
# tar | sha256sum (reading and hashing), gzip -6 and pigz over the same paths.
#   bench/throughput.sh STORE_PATH      (e.g. appA of bench/debian-closure)
# Needs: npx tsc -p tsconfig.json, pigz (apt-get install pigz), GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:?usage: throughput.sh STORE_PATH}
export NIX_CONFIG=${NIX_CONFIG:-$'substituters =\nexperimental-features = nix-command flakes'}
strata() { node_modules/.bin/node bin/strata.js "$@"; }
mapfile -t paths < <(nix-store -qR "$root")
bytes=$(nix path-info -r --json "$root" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);const a=Array.isArray(j)?j:Object.values(j);console.log(a.reduce((n,p)=>n+p.narSize,0))})')
cores=$(nproc)
echo "closure: ${#paths[@]} paths, $((bytes / 1000000)) MB (NAR); $cores cores; $(node_modules/.bin/node --version)"
# Warm the page cache so every row reads from memory alike.
tar -cf - "${paths[@]}" 2>/dev/null | cat >/dev/null

row() { # name, command...
  local name=$1; shift
  local t0 t1 rss
  t0=$(date +%s.%N)
  /usr/bin/time -o "$rssfile" -f '%M' bash -c "$*" >/dev/null 2>&1
  rss=$(tail -1 "$rssfile")
  t1=$(date +%s.%N)
  local s; s=$(echo "$t1 - $t0" | bc -l)
  printf '| %s | %.1f | %.0f | %s |\n' "$name" "$s" "$(echo "$bytes / 1000000 / $s" | bc -l)" "$((rss / 1024))"
}
q=$(printf '%q ' "${paths[@]}")
rssfile=$(mktemp)
echo
echo '| what | seconds | MB/s of closure | peak RSS MB (whole process tree for shell pipelines: largest process) |'
echo '|---|---|---|---|'
row 'tar → sha256sum (read + hash limit)' "tar --sort=name -cf - $q | sha256sum"
row 'strata digest, none, cold' "node_modules/.bin/node bin/strata.js digest $root --no-cache --compression none"
row 'tar → zstd -3 -T0 → sha256sum' "tar --sort=name -cf - $q | zstd -3 -T0 -q | sha256sum"
row 'strata digest, zstd, cold' "node_modules/.bin/node bin/strata.js digest $root --no-cache --compression zstd"
row 'tar → gzip -6 → sha256sum' "tar --sort=name -cf - $q | gzip -6 | sha256sum"
row "tar → pigz -6 -p $cores → sha256sum" "tar --sort=name -cf - $q | pigz -6 -p $cores | sha256sum"
row 'strata digest, gzip, cold' "node_modules/.bin/node bin/strata.js digest $root --no-cache"
row 'strata digest, gzip, cold, pinned pako (STRATA_NATIVE_COMPRESSORS=0)' "STRATA_NATIVE_COMPRESSORS=0 node_modules/.bin/node bin/strata.js digest $root --no-cache"
# Filled by a build (a digest keeps no blobs, only what they are).
cache=$(mktemp -d)
filled=$(mktemp -d)
STRATA_CACHE_DIR=$cache strata build "$root" -o "oci:$filled/image" >/dev/null 2>&1
rm -rf "$filled"
echo
echo '| warm (cache filled by one cold run) | seconds |'
echo '|---|---|'
for i in 1 2 3; do
  t0=$(date +%s.%N); STRATA_CACHE_DIR=$cache strata digest "$root" >/dev/null 2>&1; t1=$(date +%s.%N)
  n0=$(date +%s.%N); nix build --json --no-link "$root" >/dev/null 2>&1; nix path-info --json -r "$root" >/dev/null; n1=$(date +%s.%N)
  printf '| strata digest, warm (run %d) | %.2f |\n| its nix calls alone (build + path-info) | %.2f |\n' "$i" "$(echo "$t1 - $t0" | bc -l)" "$(echo "$n1 - $n0" | bc -l)"
done
# Writing a layout to a new folder with a warm cache copies (and checks) blobs
# instead of making them: compare with a plain copy of the same bytes.
out=$(mktemp -d)
t0=$(date +%s.%N); STRATA_CACHE_DIR=$cache strata build "$root" -o "oci:$out/image" >/dev/null 2>&1; t1=$(date +%s.%N)
printf '| strata build -o oci:NEW, warm | %.2f |\n' "$(echo "$t1 - $t0" | bc -l)"
t0=$(date +%s.%N); cp -r "$out/image" "$out/copy"; sync; t1=$(date +%s.%N)
printf '| cp -r of that layout (%s MB) | %.2f |\n' "$(du -sm "$out/image" | cut -f1)" "$(echo "$t1 - $t0" | bc -l)"
rm -rf "$out"
t0=$(date +%s.%N); node_modules/.bin/node -e 'import("./dist/src/cli/main.js")' ; t1=$(date +%s.%N)
printf '| node start + loading strata | %.2f |\n' "$(echo "$t1 - $t0" | bc -l)"
rm -rf "$cache"
