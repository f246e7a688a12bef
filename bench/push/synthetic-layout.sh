#!/usr/bin/env bash
# A synthetic OCI layout for push benchmarks: LAYERS gzip layers, about
# TOTAL_MB of blobs in all, sizes falling off as 1/i^0.9 (a few big layers, a
# tail of small ones). Each layer is a tar of two files: pseudo-random bytes
# (70%: AES-CTR keyed by the layer number, so the same every run) and Python
# source text from this machine (30%), compressed with pigz -6 -n.
#   bench/push/synthetic-layout.sh OUTDIR [LAYERS=100] [TOTAL_MB=800]
# Needs: openssl, pigz, tar, sha256sum. Tag in index.json: "1".
set -euo pipefail
out=${1:?usage: synthetic-layout.sh OUTDIR [LAYERS] [TOTAL_MB]}
layers=${2:-100}
total_mb=${3:-800}
rm -rf "$out"
mkdir -p "$out/blobs/sha256"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Text corpus: the machine's Python sources, sorted (about 100+ MB).
find /usr/lib/python3.11 /usr/lib/python3/dist-packages -name '*.py' -type f 2>/dev/null | LC_ALL=C sort | xargs cat > "$work/corpus"
corpus_size=$(stat -c %s "$work/corpus")

# Uncompressed size of layer i, chosen so the gzip blobs add up to about TOTAL_MB
# (random bytes stay their size, Python text shrinks to about a fifth).
mapfile -t sizes < <(awk -v n="$layers" -v mb="$total_mb" 'BEGIN {
  for (i = 1; i <= n; i++) { w[i] = 1 / (i ^ 0.9); s += w[i] }
  for (i = 1; i <= n; i++) printf "%d\n", (mb * 1000000 * w[i] / s) / (0.7 + 0.3 * 0.22) }')

diffids=()
descs=()
for ((i = 0; i < layers; i++)); do
  # (head closes the pipe early: the writer's SIGPIPE is expected, sizes are checked below)
  size=${sizes[$i]}
  rnd=$((size * 7 / 10)); txt=$((size - rnd))
  d="$work/l"; rm -rf "$d"; mkdir -p "$d/opt/layer$i"
  openssl enc -aes-128-ctr -nosalt -pass "pass:strata-push-bench-$i" -pbkdf2 </dev/zero 2>/dev/null | head -c "$rnd" >"$d/opt/layer$i/data.bin" || true
  off=$(( (i * 7919 * 4096) % (corpus_size > txt ? corpus_size - txt : 1) ))
  tail -c +$((off + 1)) "$work/corpus" | head -c "$txt" >"$d/opt/layer$i/source.py" || true
  [ "$(stat -c %s "$d/opt/layer$i/data.bin")" = "$rnd" ] && [ "$(stat -c %s "$d/opt/layer$i/source.py")" = "$txt" ] || { echo "layer $i: short data" >&2; exit 1; }
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$d" -cf "$work/layer.tar" opt
  diffid=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
  pigz -6 -n -c "$work/layer.tar" >"$work/layer.tgz"
  dig=$(sha256sum "$work/layer.tgz" | cut -d' ' -f1)
  mv "$work/layer.tgz" "$out/blobs/sha256/$dig"
  diffids+=("\"sha256:$diffid\"")
  descs+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$dig\",\"size\":$(stat -c %s "$out/blobs/sha256/$dig")}")
done

join() { local IFS=,; echo "$*"; }
config="{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[$(join "${diffids[@]}")]}}"
printf '%s' "$config" >"$work/config"
cdig=$(sha256sum "$work/config" | cut -d' ' -f1)
mv "$work/config" "$out/blobs/sha256/$cdig"
manifest="{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$cdig\",\"size\":${#config}},\"layers\":[$(join "${descs[@]}")]}"
printf '%s' "$manifest" >"$work/manifest"
mdig=$(sha256sum "$work/manifest" | cut -d' ' -f1)
msize=$(stat -c %s "$work/manifest")
mv "$work/manifest" "$out/blobs/sha256/$mdig"
printf '{"imageLayoutVersion":"1.0.0"}' >"$out/oci-layout"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"1"}}]}' "$mdig" "$msize" >"$out/index.json"
echo "sha256:$mdig"
