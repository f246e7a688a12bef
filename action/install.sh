#!/usr/bin/env bash
# The action's install step: strata-oci at the version in the action's own
# package.json (or STRATA_TARBALL), installed under RUNNER_TEMP, its bin
# directory added to GITHUB_PATH for the steps that follow.
set -euo pipefail
: "${GITHUB_ACTION_PATH:?}" "${GITHUB_PATH:?}" "${RUNNER_TEMP:?}"
version=$(node -p 'require(process.argv[1]).version' "$GITHUB_ACTION_PATH/package.json")
spec=${STRATA_TARBALL:-strata-oci@$version}
prefix="$RUNNER_TEMP/strata-oci-$version"
echo "strata action: installing $spec"
npm install --global --prefix "$prefix" --no-audit --no-fund "$spec"
"$prefix/bin/strata" --version
echo "$prefix/bin" >> "$GITHUB_PATH"
