#!/usr/bin/env bash
# Sets the project's version: metadata.yaml's data.dockerImageTag (the one source of truth, which
# setup.py reads) and the Dockerfile's io.airbyte.version label, which must carry it literally.
#
#   bash .ci/bump-version.sh 0.2.0
#
# unit_tests/test_packaging.py fails if the three ever disagree.
set -euo pipefail
version=${1:?usage: bump-version.sh X.Y.Z}
root=${BUMP_VERSION_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
if ! [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
  echo "bump-version: '$version' is not a semantic version (X.Y.Z or X.Y.Z-suffix)" >&2
  exit 2
fi
grep -qE '^  dockerImageTag: ' "$root/metadata.yaml" || { echo "bump-version: no dockerImageTag in metadata.yaml" >&2; exit 1; }
grep -qE 'io\.airbyte\.version=' "$root/Dockerfile" || { echo "bump-version: no io.airbyte.version label in Dockerfile" >&2; exit 1; }
sed -i -E "s/^(  dockerImageTag: ).*/\1$version/" "$root/metadata.yaml"
sed -i -E "s/(io\.airbyte\.version=)[^[:space:]\\\\]+/\1$version/" "$root/Dockerfile"
echo "version set to $version in metadata.yaml and Dockerfile (setup.py reads metadata.yaml)"
