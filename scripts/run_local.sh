#!/usr/bin/env bash
# The README's main command: set up on a fresh machine, then run local mode (Azurite + the same code as Azure).
# Everything it starts is stopped when it ends or on Ctrl-C.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
setup_args=()
# Label Studio (its own environment) only when the run asks for it.
[[ " $* " == *" --labelling-tool label-studio "* || " $* " == *" --labelling-tool=label-studio "* ]] \
  && setup_args+=(--label-studio)
bash scripts/setup_env.sh "${setup_args[@]}"
exec .venv/bin/python -m local_mode run "$@"
