#!/usr/bin/env bash
# Sets everything up and runs the whole test suite: lint, unit tests, integration tests.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
