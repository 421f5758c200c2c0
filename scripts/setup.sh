#!/usr/bin/env bash
# Creates .venv and installs the package with its test extras; re-runs only when setup.py changed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum setup.py | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -e '.[tests]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi
