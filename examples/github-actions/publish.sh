#!/usr/bin/env bash
# Publishes the image once both runners agreed on it: each platform's image is
# pushed by digest and signed keyless with the job's OIDC identity, the
# runner's own image gets its SBOM and provenance attestations, every
# signature is verified against the workflow's identity, and the multi-platform
# index is pushed by digest, signed, and only then tagged. A failure anywhere
# leaves no new tag: what the tag names is always signed.
#
# Everything comes from the environment GitHub Actions sets (GITHUB_REPOSITORY,
# GITHUB_SHA, GITHUB_WORKFLOW_REF, GITHUB_ACTOR, GITHUB_TOKEN — Strata logs in to
# ghcr.io with it — and ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN, which need
# `permissions: id-token: write`), plus:
#   INSTALLABLE       the flake output (default .#image)
#   SYSTEMS           the platforms' Nix systems (default "x86_64-linux aarch64-linux";
#                     the first is the runner's own, whose image gets the attestations)
#   REGISTRY          default ghcr.io;  TAG  default sha-<12 hex of GITHUB_SHA>
#   STRATA            the strata command (default strata)
#   STRATA_SIGNING_ARGS, STRATA_VERIFY_ARGS   extra flags (a private Sigstore: --fulcio-url …,
#                     --tuf-mirror … --tuf-root …); split on whitespace
# Prints the index digest; with GITHUB_OUTPUT set, also writes digest=… there.
set -euo pipefail
: "${GITHUB_REPOSITORY:?}" "${GITHUB_SHA:?}" "${GITHUB_WORKFLOW_REF:?}"
if [ -z "${ACTIONS_ID_TOKEN_REQUEST_URL:-}" ] && [ -z "${SIGSTORE_ID_TOKEN:-}" ]; then
  echo "publish: no OIDC token for keyless signing: give this job 'permissions: id-token: write'" >&2
  exit 2
fi
installable=${INSTALLABLE:-.#image}
registry=${REGISTRY:-ghcr.io}
image="$registry/$(printf '%s' "$GITHUB_REPOSITORY" | tr '[:upper:]' '[:lower:]')"
tag=${TAG:-sha-${GITHUB_SHA:0:12}}
identity="https://github.com/$GITHUB_WORKFLOW_REF"
issuer=${CERTIFICATE_OIDC_ISSUER:-https://token.actions.githubusercontent.com}
read -r -a strata <<< "${STRATA:-strata}"
read -r -a signing <<< "${STRATA_SIGNING_ARGS:-}"
read -r -a verifying <<< "${STRATA_VERIFY_ARGS:-}"
verify() { "${strata[@]}" verify "$1" --certificate-identity "$identity" --certificate-oidc-issuer "$issuer" "${verifying[@]}"; }

children=()
for system in ${SYSTEMS:-x86_64-linux aarch64-linux}; do
  # Preflight, push by digest, then sign: no tag is written here.
  digest=$("${strata[@]}" push "$installable" "$image" --system "$system" --by-digest --sign "${signing[@]}" -q)
  echo "publish: $system image $image@$digest, signed" >&2
  children+=("$image@$digest")
done
# SBOMs (SPDX, CycloneDX) and SLSA provenance of the exact closure, signed, as referrers.
# --attest rebuilds the installable at default options, so it names the runner's own image.
"${strata[@]}" sign "${children[0]}" --attest "$installable" "${signing[@]}" >/dev/null
for child in "${children[@]}"; do verify "$child"; done

# The index: pushed by digest, signed, verified — and only then tagged (index --sign tags last).
index=$("${strata[@]}" index "${children[@]}" -o "$image:$tag" --tag latest --sign "${signing[@]}" -q)
verify "$image:$tag"
echo "publish: $image:$tag and :latest name the signed index $index" >&2
[ -n "${GITHUB_OUTPUT:-}" ] && echo "digest=$index" >> "$GITHUB_OUTPUT"
echo "$index"
