#!/usr/bin/env bash
# Compares the images two CI runners built from the same commit: each left a
# directory with `digest` (what `strata build` printed) and `image.tar` (the
# oci-archive it wrote). Exit 0 when the digests are the same; otherwise print
# `strata diff` (which field, layer, store path and file differ), keep its JSON
# beside the archives, and exit 1. Exit 2 when something is missing or broken.
#   compare-digests.sh DIR_A DIR_B
set -uo pipefail
a=${1:?usage: compare-digests.sh DIR_A DIR_B}
b=${2:?usage: compare-digests.sh DIR_A DIR_B}
strata=${STRATA:-strata}
for dir in "$a" "$b"; do
  for f in digest image.tar; do
    [ -s "$dir/$f" ] || { echo "compare-digests: $dir/$f is missing or empty" >&2; exit 2; }
  done
done
da=$(cat "$a/digest")
db=$(cat "$b/digest")
if [ "$da" = "$db" ]; then
  echo "same image on both runners: $da"
  exit 0
fi
echo "the runners built different images: $da ($a) and $db ($b)" >&2
$strata diff "oci-archive:$a/image.tar" "oci-archive:$b/image.tar"
code=$?
$strata diff --json "oci-archive:$a/image.tar" "oci-archive:$b/image.tar" > "$a/diff.json" 2>/dev/null || true
# strata diff exits 1 for a difference and 2 when it cannot compare; the digests
# differ, so 0 would mean the archives are not the images the digests name.
[ "$code" = 0 ] && { echo "compare-digests: the archives are identical but the digests differ: $a/digest or $b/digest is stale" >&2; exit 2; }
exit "$code"
