"""OnlineEndpoints twin for local mode: each deployment is the same score.py under azureml-inference-server-http,
a process on 127.0.0.1, behind a keyed gateway, with a data-collector sidecar writing to Blob (Azurite). A serving
deployment whose server dies is started again, as Azure ML restarts a deployment's container that exits."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.adapters import child_processes
from shared.adapters.local_gateway import CollectorSink, Gateway
from shared.adapters.scoring import score_on_slot
from shared.blob_folders import download_folder
from shared.ports import BlobStore, DeploymentSpec
from shared.release_watch import Answer
from shared.serving import endpoint_name, scoring_environment
from shared.settings import Settings

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
WATCH_SECONDS = 1.0
READY_SECONDS = 180.0
SCORE_SCRIPT = REPO_ROOT / "trainer_image" / "serving" / "score.py"


@dataclass
class _Slot:
    spec: DeploymentSpec
    process: subprocess.Popen
    port: int
    log_path: Path
    sink: CollectorSink


class LocalEndpoints:
    def __init__(self, blobs: BlobStore, settings: Settings, work_dir: Path) -> None:
        self.blobs, self.settings, self.work_dir = blobs, settings, Path(work_dir)
        self.key = settings.local_endpoint_key or secrets.token_hex(24)  # hex: never read as an option
        self._gateway: Gateway | None = None
        self._slots: dict[tuple[str, str], _Slot] = {}
        self._starting = threading.RLock()
        """An approval starts its release while the release timer may be advancing it: one start per slot."""
        self.started: list[int] = []
        """Every inference server process this object started (checked by the end-to-end test)."""
        self._closing = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def gateway(self) -> Gateway:
        if self._gateway is None:
            self._gateway = Gateway(self.key, self.settings.local_endpoint_port)
        return self._gateway

    def provision(self, spec: DeploymentSpec, slot: str) -> str:
        name = endpoint_name(self.settings, spec.project)
        self.gateway.routes.setdefault(name, {})
        with self._starting:
            current = self._slots.get((spec.project, slot))
            if current is None or current.spec != spec:
                if current is not None:
                    self.remove(spec.project, slot)
                current = self._start(name, spec, slot)
        if (code := current.process.poll()) is not None:
            return f"failed: the inference server exited with code {code}: {_tail(current.log_path)}"
        if not _ready(current.port):
            return "provisioning"
        self.gateway.routes[name][slot] = current.port
        self._watch()
        return "ready"

    def _watch(self) -> None:
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._restart_exited, name="local-endpoint-watch", daemon=True)
            self._watcher.start()

    def _restart_exited(self) -> None:
        """Once a second: a serving slot (routed) whose server exited gets a new one on the same model; requests
        to it fail with the gateway's 502 until that one is ready. A slot not yet serving is left to `provision`,
        which reports the exit."""
        while not self._closing.wait(WATCH_SECONDS):
            for (project, slot), current in list(self._slots.items()):
                name = endpoint_name(self.settings, project)
                if current.process.poll() is None or slot not in self.gateway.routes.get(name, {}):
                    continue
                try:
                    self._restart(project, slot, current)
                except Exception:  # the next pass tries again
                    log.exception("restarting an inference server failed", extra={"project": project, "slot": slot})

    def _restart(self, project: str, slot: str, dead: _Slot) -> None:
        name = endpoint_name(self.settings, project)
        with self._starting:
            if self._slots.get((project, slot)) is not dead:
                return  # removed or replaced meanwhile
            child_processes.stopped(dead.process.pid)
            dead.sink.close()
            log.warning("inference server exited: starting it again", extra={
                "project": project, "slot": slot, "model_version": dead.spec.model_version,
                "exit_code": dead.process.returncode})
            fresh = self._start(name, dead.spec, slot)
        deadline = time.monotonic() + READY_SECONDS
        while not _ready(fresh.port) and fresh.process.poll() is None and time.monotonic() < deadline:
            if self._closing.wait(0.5):
                return
        with self._starting:
            if self._slots.get((project, slot)) is fresh and slot in self.gateway.routes.get(name, {}):
                self.gateway.routes[name][slot] = fresh.port

    def _start(self, endpoint: str, spec: DeploymentSpec, slot: str) -> _Slot:
        folder = self.work_dir / endpoint / slot
        shutil.rmtree(folder, ignore_errors=True)
        model_dir = download_folder(self.blobs, self.settings.models_container, spec.model_folder, folder / "model")
        sink = CollectorSink(endpoint, slot, self._collect)
        port = _free_port()
        serving = scoring_environment(self.settings, spec.runtime)
        env = os.environ | {
            "MODEL_NAME": spec.model_name, "MODEL_VERSION": spec.model_version, "DEPLOYMENT_NAME": slot,
            "AZUREML_MDC_ENABLED": "true", "AZUREML_MDC_HOST": "127.0.0.1", "AZUREML_MDC_PORT": str(sink.port),
            "AML_APP_ROOT": str(SCORE_SCRIPT.parent), "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2",
            "GUNICORN_CMD_ARGS": f"--threads {self.settings.serving_threads}", **serving}
        folder.mkdir(parents=True, exist_ok=True)
        log_path = folder / "server.log"
        with log_path.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "local_mode.inference_server", "--entry_script", str(SCORE_SCRIPT),
                 "--model_dir", str(model_dir), "--port", str(port),
                 "--worker_count", serving["WORKER_COUNT"]],
                cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append(process.pid)
        child_processes.spawned(process.pid)
        slot_state = _Slot(spec, process, port, log_path, sink)
        self._slots[(spec.project, slot)] = slot_state
        return slot_state

    def _collect(self, name: str, data: bytes) -> None:
        self.blobs.write(self.settings.inference_data_container, name, data, content_type="application/jsonl")

    def invoke(self, project: str, slot: str, body: bytes, content_type: str) -> tuple[int, bytes]:
        uri = self.gateway.scoring_uri(endpoint_name(self.settings, project))
        return score_on_slot(uri, self.key, slot, body, content_type)

    def route(self, project: str, traffic: Mapping[str, int], mirror: Mapping[str, int] | None = None) -> None:
        name = endpoint_name(self.settings, project)
        self.gateway.mirror[name] = dict(mirror or {})
        self.gateway.traffic[name] = dict(traffic)

    def answers(self, project: str, slot: str, since: datetime) -> list[Answer]:
        """What the gateway saw the slot answer (every request, failures at the door included)."""
        return self.gateway.answers(endpoint_name(self.settings, project), slot, since)

    def remove(self, project: str, slot: str) -> None:
        name = endpoint_name(self.settings, project)
        self.gateway.routes.get(name, {}).pop(slot, None)
        self.gateway.traffic.get(name, {}).pop(slot, None)
        self.gateway.mirror.get(name, {}).pop(slot, None)
        with self._starting:
            current = self._slots.pop((project, slot), None)
        if current is not None:
            _stop(current.process)
            current.sink.close()

    def describe(self, project: str) -> dict[str, Any]:
        name = endpoint_name(self.settings, project)
        if self._gateway is None or name not in self._gateway.routes:
            return {}
        return {"name": name, "scoring_uri": self.gateway.scoring_uri(name), "auth_mode": "key",
                "traffic": dict(self.gateway.traffic.get(name, {})),
                "deployments": {slot: {"model_version": s.spec.model_version, "pid": s.process.pid}
                                for (p, slot), s in self._slots.items() if p == project}}

    def close(self) -> None:
        """Stop every inference server, sidecar and the gateway this object started."""
        self._closing.set()
        for project, slot in list(self._slots):
            self.remove(project, slot)
        if self._gateway is not None:
            self._gateway.close()
            self._gateway = None


def _stop(process: subprocess.Popen) -> None:
    """The server runs gunicorn workers in its own process group: stop the group, then make sure."""
    child_processes.stopped(process.pid)
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 8) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"
