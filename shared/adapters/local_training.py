"""TrainingBackend twin for local mode: the trainer as a local process, and the run events Azure ML would send."""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared.adapters import child_processes
from shared.adapters.event_grid import run_ended_events, wire
from shared.ports import BlobStore, PreconditionFailed
from shared.settings import Settings
from shared.training import JobState, SubmittedRun, TrainingRequest, export_arguments, model_folder

log = logging.getLogger(__name__)

LOCAL_ML_TOPIC = ("/subscriptions/local/resourceGroups/local/providers/"
                  "Microsoft.MachineLearningServices/workspaces/local")


class LocalTraining:
    """Runs LOCAL_TRAINER_COMMAND with the same arguments the Azure ML job gets, inputs as blob:// URLs."""

    def __init__(self, blobs: BlobStore, settings: Settings, work_dir: Path,
                 on_events: Callable[[list[dict[str, Any]]], None], cwd: Path | None = None) -> None:
        self.blobs, self.settings, self.work_dir, self.on_events = blobs, settings, work_dir, on_events
        self.cwd = cwd
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._watchers: dict[str, threading.Thread] = {}
        self._cancelled: set[str] = set()

    def command_for(self, request: TrainingRequest) -> list[str]:
        s = self.settings
        return [*shlex.split(s.local_trainer_command),
                "--manifest", f"blob://{request.manifest_container}/{request.manifest_blob}",
                "--base-model", f"blob://{s.models_container}/{request.base_model}",
                "--model-dir", f"blob://{s.models_container}/{model_folder(request.project, request.batch_id)}",
                "--checkpoint-url", f"{s.checkpoints_container}/{request.output_prefix}",
                "--num-steps", str(request.num_steps), "--batch-size", str(request.batch_size),
                "--strategy", "default",
                "--tfrecord-cache-dir", str(self.work_dir / "tfrecord-cache" / request.project),
                *export_arguments(s)] + (
            ["--champion", f"blob://{s.models_container}/{request.champion_model}"]
            + ([] if request.label_map_changed else ["--warm-start"]) if request.champion_model else [])

    def _job_blob(self, request: TrainingRequest) -> str:
        return f"{request.output_prefix}/job.json"

    def submit(self, request: TrainingRequest) -> SubmittedRun:
        """Claim the job name with a create-only blob: a retried or racing submission finds it taken."""
        record = {"name": request.job_name, "tags": request.all_tags(), "command": self.command_for(request),
                  "submitted": time.time()}
        container = self.settings.checkpoints_container
        self.blobs.ensure_container(container)
        try:
            self.blobs.write(container, self._job_blob(request), json.dumps(record).encode(), overwrite=False,
                             content_type="application/json")
        except PreconditionFailed:
            return SubmittedRun(request.job_name, request.job_name, "Existing", created=False)
        self._start(request, record["command"])
        return SubmittedRun(request.job_name, request.job_name, "Running", created=True)

    def _start(self, request: TrainingRequest, command: list[str]) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.work_dir / f"{request.job_name}.log"
        env = os.environ | {"DataStorage": self.settings.storage_connection_string or "",
                            "TRAINING_JOB_NAME": request.job_name}
        with open(log_path, "wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.cwd,
                                       start_new_session=True)
        self._processes[request.job_name] = process
        child_processes.spawned(process.pid)
        log.info("local trainer started", extra={"job_name": request.job_name, "pid": process.pid,
                                                 "log": str(log_path)})
        watcher = threading.Thread(target=self._watch, args=(request, process, log_path), daemon=True)
        self._watchers[request.job_name] = watcher
        watcher.start()

    def _watch(self, request: TrainingRequest, process: subprocess.Popen[bytes], log_path: Path) -> None:
        started = time.monotonic()
        code = process.wait()
        child_processes.stopped(process.pid)
        status, reason = self._outcome(request.job_name, code, log_path)
        properties: dict[str, Any] = {"exit_code": code, "gpu_hours": 0.0,
                                      "duration_seconds": round(time.monotonic() - started, 1)}
        if reason:
            properties["error"] = reason
        events = [wire(e) for e in run_ended_events(
            topic=LOCAL_ML_TOPIC, experiment_id=f"tfod-{request.project}", experiment_name=f"tfod-{request.project}",
            run_id=request.job_name, status=status, tags=request.all_tags(), properties=properties)]
        try:
            self.on_events(events)
        except Exception:  # the event is lost only for this process: status stays "submitted", visible in /status
            log.exception("delivering the local run events failed", extra={"job_name": request.job_name})

    def _outcome(self, job_name: str, code: int, log_path: Path) -> tuple[str, str]:
        """Azure ML's status for a trainer's exit, with a reason a person understands."""
        if job_name in self._cancelled:
            return "Canceled", ""
        if code == 0:
            return "Completed", ""
        if code < 0:
            return "Failed", f"trainer killed by signal {-code} ({signal.Signals(-code).name})"
        lines = log_path.read_text(errors="replace").strip().splitlines()
        said = [line for line in lines if line.startswith("trainer failed:")]
        return "Failed", said[-1] if said else f"trainer exited with {code}: " + " | ".join(lines[-5:])

    def status(self, job_name: str) -> JobState:
        """Asked when a run's end was never delivered: the process this object started, if any."""
        process = self._processes.get(job_name)
        if process is None:
            return JobState("Lost", "the trainer process is gone: local mode was stopped while it trained")
        code = process.poll()
        if code is None:
            return JobState("Running")
        status, reason = self._outcome(job_name, code, self.work_dir / f"{job_name}.log")
        return JobState(status, reason, {"exit_code": code})

    def processes(self) -> list:
        """The trainer processes this object started."""
        return list(self._processes.values())

    def started(self) -> list[str]:
        """Job names this process started (each at most once)."""
        return list(self._processes)

    def join(self, job_name: str, timeout: float | None = None) -> None:
        """Wait until the run has ended and its events were delivered."""
        watcher = self._watchers.get(job_name)
        if watcher:
            watcher.join(timeout)
            if watcher.is_alive():
                raise TimeoutError(f"{job_name} still running after {timeout}s")

    def cancel(self, job_name: str) -> None:
        self._cancelled.add(job_name)
        process = self._processes.get(job_name)
        if process and process.poll() is None:
            process.terminate()
