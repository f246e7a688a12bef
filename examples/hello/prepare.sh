#!/bin/sh
# Makes a self-contained copy of this example in DIR, with Debian's static busybox
# brought in as bb/bin/busybox, committed to a fresh git repository (flakes only
# see files git tracks). Prints the flake reference to build.
#   examples/hello/prepare.sh DIR   →   DIR/examples/hello
set -eu
dir=${1:?usage: prepare.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "prepare.sh: $busybox not found: apt-get install busybox-static" >&2; exit 1; }
"$busybox" --list >/dev/null 2>&1 || { echo "prepare.sh: $busybox is not a busybox" >&2; exit 1; }
mkdir -p "$dir/nix" "$dir/examples/hello/bb/bin"
cp "$here/../../nix/lib.nix" "$dir/nix/lib.nix"
cp "$here/flake.nix" "$dir/examples/hello/flake.nix"
cp "$busybox" "$dir/examples/hello/bb/bin/busybox"
cd "$dir"
git init -q . 2>/dev/null || true
git add -A
git -c user.name=strata -c user.email=strata@localhost commit -qm example >/dev/null 2>&1 || true
echo "$dir/examples/hello"
