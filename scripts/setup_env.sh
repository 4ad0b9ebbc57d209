#!/usr/bin/env bash
# Creates what the main command needs from the registries: .venv (Python 3.11: the service and the trainer) and
# tools/node_modules (Azurite). With --tests, also what only the tests use: pytest, ruff and the linters in .venv,
# .venv-tools (infrastructure validation), .venv-formats (the labelling tools' importers), .venv-serving-onnx (score.py
# on ONNX Runtime without TensorFlow, as its serving image runs it), Label Studio in .venv-label-studio, Chromium and
# its WebDriver, and tools/kql (the Kusto language service). Alone: --label-studio (local mode's --labelling-tool
# label-studio) and --serving-onnx (the serving bench). A no-op when nothing changed.
set -euo pipefail
for_tests=false with_label_studio=false with_serving_onnx=false
for arg in "$@"; do
  case "$arg" in
    --tests) for_tests=true with_label_studio=true with_serving_onnx=true ;;
    --label-studio) with_label_studio=true ;;
    --serving-onnx) with_serving_onnx=true ;;
    *) echo "[setup] unknown option $arg (known: --tests, --label-studio, --serving-onnx)"; exit 2 ;;
  esac
done
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
    # --ignore-scripts: the locks' one install script (protobufjs') only prints a version-scheme warning;
    # --prefer-offline: the lock pins each package's hash, so a cached copy needs no round trip. 21 s instead of 28.
    npm ci --prefix "$folder" --no-audit --no-fund --loglevel=error --ignore-scripts --prefer-offline >/dev/null
    echo "$stamp" > "$folder/node_modules/.lock-stamp"
  fi
}
# Azurite installs while uv works (they share nothing).
npm_tools tools "Azurite" &
azurite_install=$!

# uv installs the environments: it downloads and unpacks wheels in parallel (the trainer's 1.9 GB: 8 s, where pip
# took 53 s on 2 cores). Pinned, in tools/.uv, from PyPI.
uv_version=0.13.9
uv=tools/.uv/bin/uv
export UV_PYTHON_DOWNLOADS=never  # the machine's Python 3.11, never one fetched
if [[ "$("$uv" --version 2>/dev/null)" != "uv $uv_version" ]]; then
  rm -rf tools/.uv
  "$python_bin" -m pip install -q --disable-pip-version-check --target tools/.uv "uv==$uv_version" \
    >/tmp/setup-uv.log 2>&1 || { tail -n 20 /tmp/setup-uv.log; echo "[setup] pip failed installing uv"; exit 1; }
fi
# REQUIREMENTS into the environment VENV (made with it when missing), logging to LOG; extra arguments go to uv.
uv_install() {
  local venv="$1" log="$2"; shift 2
  VIRTUAL_ENV="$venv" "$uv" pip install --python "$venv/bin/python" "$@" >>"$log" 2>&1 \
    || { tail -n 40 "$log"; echo "[setup] installing into $venv failed (log: $log)"; exit 1; }
}

req_files=(requirements.txt trainer_image/requirements.txt trainer_image/requirements-common.txt
           trainer_image/requirements-serving.txt
           trainer_image/requirements-nodeps.txt)
stamp_value="$(cat "${req_files[@]}" | sha256sum | cut -c1-16)"
if [[ ! -x .venv/bin/python || "$(cat .venv/.requirements-stamp 2>/dev/null)" != "$stamp_value" ]]; then
  echo "[setup] installing Python packages into .venv (a first run takes about a minute)"
  # --clear: a pin removed or moved to --no-deps must leave the environment, as on a fresh clone.
  "$uv" venv -q --clear --python "$python_bin" .venv
  log=.venv/install.log
  uv_install .venv "$log" -r requirements.txt -r trainer_image/requirements.txt
  # The OD API package's metadata pulls apache-beam and avro, which nothing here needs.
  uv_install .venv "$log" --no-deps -r trainer_image/requirements-nodeps.txt
  # Byte-compiled now, on every core: what the first run imports would otherwise be compiled on its critical path
  # (it cost that run 27 s), or on every run where Python is told not to write bytecode. compileall -j 0 takes 19 s
  # here, uv's --compile-bytecode 40 s. A file that does not compile (Python 2 leftovers in some packages) is passed
  # over, as pip would.
  site="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  .venv/bin/python -m compileall -q -j 0 "$site" >>"$log" 2>&1 || true
  echo "$stamp_value" > .venv/.requirements-stamp
fi

# A tool environment of its own (its pins are not TensorFlow's): VENV from REQUIREMENTS, unless its stamp is current
# (over REQUIREMENTS and the files it includes, given after WHAT).
tool_venv() {
  local venv="$1" requirements="$2" what="$3" stamp
  stamp="$(cat "$requirements" "${@:4}" | sha256sum | cut -c1-16)"
  if [[ ! -x "$venv/bin/python" || "$(cat "$venv/.requirements-stamp" 2>/dev/null)" != "$stamp" ]]; then
    echo "[setup] installing $what into $venv"
    "$uv" venv -q --clear --python "$python_bin" "$venv"
    uv_install "$venv" "$venv/install.log" --compile-bytecode -r "$requirements"
    echo "$stamp" > "$venv/.requirements-stamp"
  fi
}
wait "$azurite_install" || { echo "[setup] npm failed installing Azurite"; exit 1; }
if "$with_label_studio"; then
  tool_venv .venv-label-studio requirements-label-studio.txt "Label Studio"
fi
if "$with_serving_onnx"; then
  # score.py on ONNX Runtime as the ONNX-only serving image runs it, without TensorFlow (a test, the serving bench).
  tool_venv .venv-serving-onnx trainer_image/requirements-serving-onnx.txt "the ONNX-only serving environment" \
    trainer_image/requirements-serving.txt
fi
"$for_tests" || exit 0

dev_stamp="$(sha256sum requirements-dev.txt | cut -c1-16)"
if [[ "$(cat .venv/.dev-stamp 2>/dev/null)" != "$dev_stamp" ]]; then
  echo "[setup] installing the test tools (pytest, ruff, linters, selenium) into .venv"
  uv_install .venv .venv/install-dev.log --compile-bytecode -r requirements-dev.txt
  echo "$dev_stamp" > .venv/.dev-stamp
fi

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
