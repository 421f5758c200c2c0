#!/usr/bin/env bash
# Sets everything up and runs the whole test suite: lint, unit tests, integration tests.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
.venv/bin/ruff check .
# A container engine for integration_tests/container (whatever DOCKER_HOST points to, else podman set up by
# .ci/container-engine.sh). If none can be started those tests fail under CI=true and skip elsewhere.
if engine_env=$(bash .ci/container-engine.sh start); then
  eval "$engine_env"
  if [ "${CI:-}" = true ]; then trap 'bash .ci/container-engine.sh stop' EXIT; fi
else
  export CONTAINER_ENGINE_ERROR="'bash .ci/container-engine.sh start' failed; its output is above"
fi
.venv/bin/python -m pytest "$@"
