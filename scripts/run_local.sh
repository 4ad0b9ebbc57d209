#!/usr/bin/env bash
# The README's main command: set up on a fresh machine, then run local mode (Azurite + the same code as Azure).
# Everything it starts is stopped when it ends or on Ctrl-C.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup_env.sh
exec .venv/bin/python -m local_mode run "$@"
