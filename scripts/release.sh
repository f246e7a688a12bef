#!/usr/bin/env bash
# A release: the npm tarball (built by prepack from the product sources only)
# and its sha256, side by side in DIR (default: the current directory).
#   npm run release [-- DIR]   →   DIR/strata-oci-X.Y.Z.tgz, DIR/strata-oci-X.Y.Z.tgz.sha256
set -euo pipefail
dir=$(mkdir -p "${1:-.}" && cd "${1:-.}" && pwd)
cd "$(dirname "$0")/.."
file=$(npm pack --silent --pack-destination "$dir" | tail -n 1)
cd "$dir"
sha256sum "$file" > "$file.sha256"
cat "$file.sha256"
