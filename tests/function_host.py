"""Load and call the function app the way the Azure Functions Python worker does, without the host."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import azure.functions as func

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT_FILE_NAME = "functions_entry.py"  # the app setting PYTHON_SCRIPT_FILE_NAME, declared in infra/

# Mirrors azure-functions-python-worker: validate the script name, require the file beside host.json,
# import it by its stem from the app root, and take the one FunctionRegister found at its top level.
_INDEXER = r"""
import importlib, json, os, pathlib, re, sys
root, script = sys.argv[1], sys.argv[2]
if not re.match(r"^[a-zA-Z0-9_][a-zA-Z0-9_\-]*\.py$", script):
    sys.exit(f"invalid PYTHON_SCRIPT_FILE_NAME {script!r}")
path = os.path.join(root, script)
if not os.path.exists(path):
    sys.exit(f"{path} does not exist: the worker would fall back to the legacy model and find nothing")
sys.path.insert(0, root)
module = importlib.import_module(pathlib.Path(path).stem)
from azure.functions import FunctionRegister
apps = [getattr(module, n) for n in module.__dir__() if isinstance(getattr(module, n, None), FunctionRegister)]
if len(apps) != 1:
    sys.exit(f"expected exactly one top-level function app, found {len(apps)}")
functions = [{"name": f.get_function_name(), "bindings": json.loads(f.get_function_json())["bindings"]}
             for f in apps[0].get_functions()]
heavy = sorted(m for m in ("tensorflow", "object_detection", "keras") if m in sys.modules)
print(json.dumps({"functions": functions, "heavy_modules": heavy}))
"""


def index_app(root: Path = REPO_ROOT, script: str = SCRIPT_FILE_NAME) -> dict:
    """Index the app in a fresh interpreter, as the worker does at start-up."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", _INDEXER, str(root), script], cwd=root, env=env,
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise AssertionError(f"indexing failed: {result.stderr or result.stdout}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def handler(name: str):
    """The user function registered under `name`, as the host would invoke it."""
    from function_app import handlers

    return handlers()[name]


def http_request(method: str, url: str, *, body: bytes = b"", route_params: dict | None = None,
                 params: dict | None = None, headers: dict | None = None) -> func.HttpRequest:
    return func.HttpRequest(method=method, url=url, body=body, route_params=route_params or {},
                            params=params or {}, headers=headers or {})


def json_body(response: func.HttpResponse) -> dict:
    return json.loads(response.get_body())
