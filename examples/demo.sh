#!/usr/bin/env bash
# Strata's main job on an offline example: build a flake output into an OCI
# image with no container runtime, check it with skopeo, unpack it with umoci
# and run its entrypoint in a chroot.
set -euo pipefail
cd "$(dirname "$0")/.."
export NIX_CONFIG=${NIX_CONFIG:-$'substituters =\nexperimental-features = nix-command flakes'}
# A checkout has no built product until something builds it (npm ci does not).
npm run --silent build:product
work=$(mktemp -d /tmp/strata-demo.XXXXXX)
flake=$(examples/hello/prepare.sh "$work/src")
echo "+ strata build $flake#image -o oci:$work/image:latest" >&2
digest=$(npx --no-install strata build "$flake#image" -o "oci:$work/image:latest")
echo "+ skopeo inspect oci:$work/image:latest" >&2
skopeo inspect "oci:$work/image:latest" | grep -E '"(Digest|Architecture|Os)"'
echo "+ umoci unpack, then chroot into the rootfs and run the entrypoint" >&2
umoci unpack --image "$work/image:latest" "$work/bundle" >/dev/null
entry=$(node -e 'const c=require(process.argv[1]);console.log(c.process.args.join(" "))' "$work/bundle/config.json")
chroot --userspec=1000:1000 "$work/bundle/rootfs" $entry
echo "+ the golden example, whose digest is recorded in conformance/reproducibility/golden.json" >&2
golden=$(npx --no-install strata build ./examples/golden#default -o "oci:$work/golden:1.0")
echo "image: oci:$work/image:latest $digest"
echo "golden: $golden (recorded: $(node -p 'require("./conformance/reproducibility/golden.json").cases["golden#default"].manifest'))"
rm -rf "$work"
