#!/usr/bin/env bash
# The action's command step: `strata STRATA_COMMAND`, split on whitespace and
# run without a shell (an input cannot inject one); stdout passes through, and
# a last line that is a digest becomes the step's `digest` output.
set -euo pipefail
: "${GITHUB_OUTPUT:?}" "${STRATA_COMMAND:?}" "${RUNNER_TEMP:?}"
read -r -a args <<< "$STRATA_COMMAND"
out=$(mktemp "$RUNNER_TEMP/strata-stdout.XXXXXX")
strata "${args[@]}" | tee "$out"
last=$(tail -n 1 "$out")
rm -f "$out"
if [[ $last =~ ^sha256:[0-9a-f]{64}$ ]]; then
  echo "digest=$last" >> "$GITHUB_OUTPUT"
fi
