#!/usr/bin/env bash
# The benchmark suite of issue #6: `bash bench/run.sh [--quick] [--only NAME,...] [--profile]`.
# Prints one table (figure, value, baseline, ratio, target, result) and writes bench/results.md.
# --profile instead profiles the connector's full-refresh read with pyinstrument (bench/profile_read.py).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
export PYTHONUNBUFFERED=1
for arg in "$@"; do
  if [ "$arg" = "--profile" ]; then
    .venv/bin/python -c 'import pyinstrument' 2>/dev/null || .venv/bin/pip install --quiet pyinstrument
    args=()
    for a in "$@"; do [ "$a" != "--profile" ] && args+=("$a"); done
    exec .venv/bin/python -m bench.profile_read "${args[@]}"
  fi
done
exec .venv/bin/python -m bench.main "$@"
