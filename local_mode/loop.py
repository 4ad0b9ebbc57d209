"""Local mode's event loop: the function handlers, called the way the host calls them, fed by the local event
source and a local timer, training with the local trainer process. Same code as in Azure, on one machine."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import azure.functions as func
from azure.functions.timer import TimerRequest

from function_app import bootstrap, handlers
from local_mode.azurite import REPO_ROOT
from local_mode.event_source import BlobEventSource
from shared.adapters.azure_storage import AzureBlobStore, AzureTableStore
from shared.adapters.local_endpoint import LocalEndpoints
from shared.adapters.local_training import LocalTraining
from shared.pipeline.records import ended
from shared.pipeline.status import report_path
from shared.release_watch import health_summary, shadow_summary
from shared.settings import Settings

BASE_MODELS = REPO_ROOT / "trainer_image" / "base_models"
EVENT_CURSOR_CONTAINER = "local-event-source"
"""Where the local event source keeps what it delivered (a blob per watched container)."""


class LocalLoop:
    def __init__(self, settings: Settings, account_url: str, work_dir: Path, say=print) -> None:
        self.settings, self.say = settings, say
        self.blobs = AzureBlobStore.from_settings(settings)
        self.tables = AzureTableStore.from_settings(settings)
        self.backend = LocalTraining(self.blobs, settings, work_dir, on_events=self.deliver_run_events,
                                     cwd=REPO_ROOT)
        self.endpoints = LocalEndpoints(self.blobs, settings, work_dir / "endpoints")
        self.services = bootstrap.Services(settings, self.blobs, self.tables, self.backend, self.endpoints)
        bootstrap.use(self.services)
        self.handlers = handlers()
        self.source = BlobEventSource(self.blobs, settings.datasets_container, account_url, self.deliver_blob_events,
                                      cursor=(EVENT_CURSOR_CONTAINER, settings.datasets_container))

    def install_base_model(self) -> None:
        """Upload the sample base models to the models container, where BASE_MODEL points."""
        self.blobs.ensure_container(self.settings.models_container)
        for path in sorted(p for p in BASE_MODELS.rglob("*") if p.is_file()):
            self.blobs.write(self.settings.models_container,
                             f"base-models/{path.relative_to(BASE_MODELS).as_posix()}", path.read_bytes())

    def deliver_blob_events(self, events: list[dict]) -> None:
        """One Event Grid delivery to the blob_events webhook; anything but 200 is an error (at-least-once)."""
        request = func.HttpRequest("POST", "/api/events/blobs", body=json.dumps(events).encode(), headers={},
                                   params={}, route_params={})
        response = self.handlers["blob_events"](request)
        if response.status_code != 200:
            raise RuntimeError(f"blob_events answered {response.status_code}: {response.get_body()!r}")
        self.say(f"[events] {len(events)} blob events delivered: {json.loads(response.get_body())}")

    def deliver_run_events(self, events: list[dict]) -> None:
        """Event Grid schema events, each as the EventGridEvent the host hands the run_events trigger."""
        for e in events:
            self.handlers["run_events"](func.EventGridEvent(
                id=e["id"], data=e["data"], topic=e["topic"], subject=e["subject"], event_type=e["eventType"],
                event_time=datetime.now(UTC), data_version=e["dataVersion"]))

    def tick(self) -> None:
        self.handlers["debounce_tick"](TimerRequest(past_due=False))

    def report_link(self, project: str, batch_id: str) -> str:
        return f"http://{self.settings.public_host}{report_path(project, batch_id)}"

    def release_tick(self) -> None:
        self.handlers["release_tick"](TimerRequest(past_due=False))

    def run_until_released(self, project: str, version: str, timeout: float, poll: float = 0.5) -> dict:
        """Tick the release timer until `version` of the project's model is live or rolled back."""
        deadline, shown = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            self.release_tick()
            status = self.services.release().status(project) or {}
            live = (status.get("live_model") or {}).get("version")
            if status.get("phase") != shown:
                self.say(f"[release] {status.get('phase')}" + (f": {status['reason']}" if status.get("reason") else "")
                         + _figures(status, shown))
                shown = status.get("phase")
            if (status.get("phase") == "live" and live == version) or status.get("phase") == "rolled-back":
                return status
            time.sleep(poll)
        raise TimeoutError(f"version {version} of {project} was not released within {timeout:.0f}s")

    def close(self) -> None:
        """Stop what this loop started: trainer processes and the local endpoints."""
        for job in self.backend.started():
            self.backend.cancel(job)
        self.endpoints.close()

    def run_until_trained(self, project: str, timeout: float, poll: float = 1.0, after: str = "") -> dict:
        """Poll for uploads and tick the timer until a run of `project` (newer than batch `after`) has ended;
        return its record."""
        deadline, last_reason, shown = time.monotonic() + timeout, None, 0
        while time.monotonic() < deadline:
            self.source.poll()
            self.tick()
            status = self.services.project_status().project(project)
            window = status["window"]
            headline = (window["next"], window["reason"].split(";")[0])
            if headline != last_reason and window["phase"] == "idle":
                self.say(f"[debounce] {window['next']}: {window['reason']}")
                last_reason = headline
            done = [r for r in status["runs"] if ended(r["status"]) and r["batch_id"] > after]
            if done:
                return done[0]
            job = window.get("active_job")
            if job:
                shown = self._show_progress(job, shown)
            time.sleep(poll)
        raise TimeoutError(f"no training run of {project} ended within {timeout:.0f}s")

    def _show_progress(self, job: str, shown: int) -> int:
        log_path = self.backend.work_dir / f"{job}.log"
        if not log_path.exists():
            return shown
        lines = log_path.read_text(errors="replace").splitlines()
        for line in lines[shown:]:
            if not line.startswith("{"):
                continue
            entry = json.loads(line)
            if entry.get("logger") == "trainer" or entry.get("message") in ("tfrecords ready",):
                extra = {k: v for k, v in entry.items() if k in ("step", "total_steps", "loss", "eta_seconds",
                                                                 "converted", "reused", "error", "map", "map_50")}
                self.say(f"[train] {entry['message']} {extra if extra else ''}".rstrip())
        return len(lines)


def trainer_command() -> str:
    return f"{sys.executable} -m trainer_image.train"


def _figures(status: dict, before: str | None) -> str:
    """What the step that just ended showed: the shadow step's comparison, then the bake's health."""
    if before == "shadowing" and status.get("shadow"):
        return f"\n[release]   shadow: {shadow_summary(status['shadow'])}"
    if before == "baking" and status.get("health"):
        return f"\n[release]   while baking: {health_summary(status['health'])}"
    return ""
