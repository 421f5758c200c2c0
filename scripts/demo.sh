#!/usr/bin/env bash
# Sets everything up and runs the demo: a full and an incremental sync against the bundled sandbox Zoho Desk.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
exec .venv/bin/python scripts/demo.py "$@"
