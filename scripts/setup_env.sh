#!/usr/bin/env bash
# Creates what the main command needs from the registries: .venv (Python 3.11: the service and the trainer) and
# tools/node_modules (Azurite). With --tests, also what only the tests use: pytest, ruff and the linters in .venv,
# .venv-tools (infrastructure validation), .venv-formats (the labelling tools' importers), Chromium and its WebDriver,
# and tools/kql (the Kusto language service). A no-op when nothing changed.
set -euo pipefail
for_tests=false
[[ "${1:-}" == "--tests" ]] && for_tests=true
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

python_bin="${PYTHON:-python3.11}"
command -v "$python_bin" >/dev/null || python_bin=python3
"$python_bin" -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 is required, found {sys.version}"'

# Node packages from a folder's lock file, unless its stamp is current.
npm_tools() {
  local folder="$1" what="$2" stamp
  stamp="$(sha256sum "$folder/package-lock.json" | cut -c1-16)"
  if [[ ! -d "$folder/node_modules" || "$(cat "$folder/node_modules/.lock-stamp" 2>/dev/null)" != "$stamp" ]]; then
    echo "[setup] installing $what (npm)"
    npm ci --prefix "$folder" --no-audit --no-fund --loglevel=error >/dev/null
    echo "$stamp" > "$folder/node_modules/.lock-stamp"
  fi
}
# Azurite installs while pip works (they share nothing).
npm_tools tools "Azurite" &
azurite_install=$!

req_files=(requirements.txt trainer_image/requirements.txt trainer_image/requirements-common.txt
           trainer_image/requirements-serving.txt
           trainer_image/requirements-nodeps.txt)
stamp_value="$(cat "${req_files[@]}" | sha256sum | cut -c1-16)"
if [[ ! -x .venv/bin/python || "$(cat .venv/.requirements-stamp 2>/dev/null)" != "$stamp_value" ]]; then
  echo "[setup] installing Python packages into .venv (first run takes a few minutes)"
  # --clear: a pin removed or moved to --no-deps must leave the environment, as on a fresh clone.
  "$python_bin" -m venv --clear .venv
  log=.venv/install.log
  {
    .venv/bin/python -m pip install --upgrade pip &&
    .venv/bin/python -m pip install --no-compile -r requirements.txt -r trainer_image/requirements.txt &&
    # The OD API package's metadata pulls apache-beam and avro, which nothing here needs.
    .venv/bin/python -m pip install --no-compile --no-deps -r trainer_image/requirements-nodeps.txt
  } >"$log" 2>&1 || { grep -v "is ignored: it is neither" "$log" | tail -n 40; echo "[setup] pip failed (log: $log)"; exit 1; }
  # Byte-compiled on every core afterwards: pip compiles one file at a time (35 of its 73 s here; 19 s this way).
  # Not skipped: what the first run imports would then be compiled on its critical path (it cost that run 27 s).
  # As with pip, a file that does not compile (Python 2 leftovers in some packages) is passed over.
  site="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  .venv/bin/python -m compileall -q -j 0 "$site" >>"$log" 2>&1 || true
  echo "$stamp_value" > .venv/.requirements-stamp
fi

wait "$azurite_install" || { echo "[setup] npm failed installing Azurite"; exit 1; }
"$for_tests" || exit 0

dev_stamp="$(sha256sum requirements-dev.txt | cut -c1-16)"
if [[ "$(cat .venv/.dev-stamp 2>/dev/null)" != "$dev_stamp" ]]; then
  echo "[setup] installing the test tools (pytest, ruff, linters, selenium) into .venv"
  .venv/bin/python -m pip install -r requirements-dev.txt >.venv/install-dev.log 2>&1 \
    || { tail -n 40 .venv/install-dev.log; echo "[setup] pip failed (log: .venv/install-dev.log)"; exit 1; }
  echo "$dev_stamp" > .venv/.dev-stamp
fi

# A tool environment of its own (its pins are not TensorFlow's): VENV from REQUIREMENTS, unless its stamp is current.
tool_venv() {
  local venv="$1" requirements="$2" what="$3" stamp
  stamp="$(sha256sum "$requirements" | cut -c1-16)"
  if [[ ! -x "$venv/bin/python" || "$(cat "$venv/.requirements-stamp" 2>/dev/null)" != "$stamp" ]]; then
    echo "[setup] installing $what into $venv"
    "$python_bin" -m venv "$venv"
    "$venv/bin/python" -m pip install -r "$requirements" >"$venv/install.log" 2>&1 \
      || { grep -v "is ignored: it is neither" "$venv/install.log" | tail -n 40; echo "[setup] pip failed"; exit 1; }
    echo "$stamp" > "$venv/.requirements-stamp"
  fi
}
tool_venv .venv-tools requirements-tools.txt "infrastructure validation tools"
tool_venv .venv-formats requirements-formats.txt "the labelling tools' importers (Datumaro, label-studio-sdk)"

# The approval page is tested in a real browser: Debian's Chromium and its WebDriver.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "[setup] installing Chromium and chromedriver (Debian packages) for the browser test"
  sudo_cmd=""
  [[ "$(id -u)" == 0 ]] || sudo_cmd="sudo"
  { $sudo_cmd apt-get install -y --no-install-recommends chromium chromium-driver \
    || { $sudo_cmd apt-get update && $sudo_cmd apt-get install -y --no-install-recommends chromium chromium-driver; }
  } >/tmp/setup-chromium.log 2>&1 || { tail -n 20 /tmp/setup-chromium.log; echo "[setup] apt-get failed"; exit 1; }
fi

npm_tools tools/kql "the Kusto language service (KQL test)"
