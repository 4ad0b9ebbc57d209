#!/usr/bin/env bash
# The README's test command: set up everything on a fresh machine, then lint and run every test.
# Azurite is started by the test session itself (tests/conftest.py) on free 127.0.0.1 ports and stopped at the end.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup_env.sh --tests
echo "[test] ruff"
.venv/bin/ruff check .
echo "[test] pytest"
exec .venv/bin/python -m pytest "$@"
