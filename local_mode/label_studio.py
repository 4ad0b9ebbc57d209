"""Start and stop a real Label Studio (Community, SQLite) on 127.0.0.1, for tests and local mode, with a user and a
personal access token made at start, as a team's own Label Studio hands them out."""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from local_mode.azurite import REPO_ROOT, _free_port
from shared.adapters import child_processes
from shared.adapters.label_studio import LabelStudio

VENV = REPO_ROOT / ".venv-label-studio"
USER = "labeller@local.test"


def label_studio_binary() -> str:
    candidate = os.environ.get("LABEL_STUDIO_BIN") or str(VENV / "bin" / "label-studio")
    if not Path(candidate).exists():
        raise FileNotFoundError(f"Label Studio not found at {candidate}: run scripts/setup_env.sh --label-studio "
                                "(it installs .venv-label-studio)")
    return candidate


class LocalLabelStudio:
    """One Label Studio process with its own port and data folder; stopped (and its folder removed) on exit."""

    def __init__(self) -> None:
        self.location = Path(tempfile.mkdtemp(prefix="label-studio-"))
        self.port = _free_port()
        self.password = secrets.token_urlsafe(16)
        self.token = ""  # the personal access token (a refresh JWT), made at start
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180.0) -> LocalLabelStudio:
        """Started with a one-off legacy token only to make the user's personal access token; legacy tokens are
        then switched off, as Label Studio ships them. SSRF protection is off so that its webhooks may call the
        local functions host on 127.0.0.1 (a team's Label Studio calls the function app's public URL)."""
        bootstrap = secrets.token_hex(20)
        env = os.environ | {"LABEL_STUDIO_BASE_DATA_DIR": str(self.location), "SSRF_PROTECTION_ENABLED": "false",
                            "DJANGO_DB": "sqlite", "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true"}
        args = [label_studio_binary(), "start", "--no-browser", "--host", "127.0.0.1", "--port", str(self.port),
                "--data-dir", str(self.location), "--username", USER, "--password", self.password,
                "--user-token", bootstrap, "--enable-legacy-api-token"]
        log = open(self.location / "label-studio.log", "wb")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        child_processes.spawned(self.process.pid)
        atexit.register(self.stop)
        self._wait_healthy(timeout)
        legacy = {"Authorization": f"Token {bootstrap}"}
        created = requests.post(f"{self.url}/api/token/", headers=legacy, timeout=30)
        created.raise_for_status()
        self.token = created.json()["token"]
        LabelStudio(self.url, self.token)._call("POST", "/api/jwt/settings", json={  # with the token, as teams will
            "legacy_api_tokens_enabled": False, "api_tokens_enabled": True})
        return self

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"Label Studio exited with {self.process.returncode}: see "
                                   f"{self.location}/label-studio.log")
            try:
                if requests.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"Label Studio did not answer /health within {timeout:.0f}s")
            time.sleep(0.5)

    def stop(self) -> None:
        if self.process:
            child_processes.stopped(self.process.pid)
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        self.process = None
        shutil.rmtree(self.location, ignore_errors=True)

    def __enter__(self) -> LocalLabelStudio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
