#!/usr/bin/env bash
# A closure whose one store path is most of its bytes, like a JDK or a model
# file: the case where a layer compresses on one thread whatever the machine
# has. Built offline from this machine's own files, so its bytes compress like
# real binaries (not like zeros or noise):
#   lib/modules    one file of ~60% of SIZE_MB: shared libraries from /usr/lib
#                  concatenated (a JDK's lib/modules is one such file)
#   lib/<n>/...    the rest as separate files copied from /usr/lib
#
#   bash bench/large-path/make.sh /var/tmp/strata-large [SIZE_MB=2048]   (as root)
#
# Prints the store path; OUTDIR/gcroot keeps it from garbage collection.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 OUTDIR [SIZE_MB]" >&2; exit 2; }
mkdir -p "$1"
out=$(cd "$1" && pwd)
size_mb=${2:-2048}
export NIX_CONFIG=${NIX_CONFIG:-$'experimental-features = nix-command flakes\nsubstituters ='}
stage=$(mktemp -d "$out/stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/large/lib"

# Regular files under /usr/lib in a fixed order (sorted, C locale), so the path
# is the same on any machine with the same Debian packages.
mapfile -t files < <(find /usr/lib -type f -size +4k -print0 | LC_ALL=C sort -z | tr '\0' '\n')
budget=$((size_mb * 1024 * 1024))
big=$((budget * 6 / 10))
written=0
# lib/modules: concatenated until it holds `big` bytes (the list repeats if short).
i=0
while [ "$written" -lt "$big" ]; do
  f=${files[$((i % ${#files[@]}))]}
  cat "$f" >>"$stage/large/lib/modules"
  written=$(stat -c %s "$stage/large/lib/modules")
  i=$((i + 1))
done
# The rest: separate files, as many as fit.
n=0
while [ "$written" -lt "$budget" ]; do
  f=${files[$((i % ${#files[@]}))]}
  d="$stage/large/lib/$((n / 100))"
  mkdir -p "$d"
  cp "$f" "$d/$n-$(basename "$f")"
  written=$((written + $(stat -c %s "$f")))
  i=$((i + 1)); n=$((n + 1))
done
chmod -R a-w "$stage/large"
p=$(nix-store --add "$stage/large")
nix-store --realise --add-root "$out/gcroot" --indirect "$p" >/dev/null
chmod -R u+w "$stage"
echo "$p"
