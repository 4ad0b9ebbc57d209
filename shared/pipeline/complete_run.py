"""Run events → the run's record and the project's state (idempotent: a redelivered event changes nothing)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import logs
from shared.clock import day_of, from_iso, iso
from shared.events import RunEvent
from shared.gates import GatePolicy, evaluate_gates, policy_for
from shared.pipeline.approve import Approve
from shared.pipeline.records import ProjectState, Records, RunRecord, RunStatus
from shared.ports import BlobStore, ModelRegistry, NotFound, Notifier, TableStore
from shared.registry import ModelCandidate, export_properties
from shared.settings import Settings
from shared.training import FAILURE_FILE, FLIPS_IMAGE, SERVICE_TAG, model_folder
from shared.training_report import render_report

log = logging.getLogger(__name__)

@dataclass
class RunUpdate:
    outcome: str  # "ignored" | "duplicate" | "progress" | "ended"
    project: str | None = None
    batch_id: str | None = None
    status: str | None = None


class CompleteRun:
    def __init__(self, tables: TableStore, settings: Settings, blobs: BlobStore,
                 registry: Callable[[], ModelRegistry], notifier: Notifier | None = None,
                 release: Callable[[], Any] | None = None) -> None:
        self.tables, self.settings, self.blobs, self.release = tables, settings, blobs, release
        self.records = Records(tables, settings)
        self.registry = registry
        """Built on first use: only a run that passes its gates needs the registry."""
        self.notifier = notifier

    def handle(self, event: RunEvent, now: datetime | None = None) -> RunUpdate:
        now = now or datetime.now(UTC)
        if event.tags.get(SERVICE_TAG) != "1" or "project" not in event.tags or "batch_id" not in event.tags:
            log.info("run event ignored: not a run this service started", extra={"run_id": event.run_id})
            return RunUpdate("ignored")
        project, batch_id = event.tags["project"], event.tags["batch_id"]
        with logs.correlation(project=project, batch_id=batch_id, run_id=event.run_id, event_id=event.event_id):
            run = self.records.run(project, batch_id) or RunRecord(project=project, batch_id=batch_id)
            status = RunStatus.parse(event.status)
            if isinstance(run.status, RunStatus) and run.status.ended:
                log.info("run event already handled", extra={"status": run.status})
                return RunUpdate("duplicate", project, batch_id, run.status)
            if status not in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED):
                self.records.record_run(project, batch_id, now, status=status, run_id=event.run_id)
                log.info("run status", extra={"status": status})
                return RunUpdate("progress", project, batch_id, status)
            hours = _gpu_hours(run, event.properties, now, self.settings)
            reason = str(event.properties.get("error") or event.properties.get("failure_reason") or "")
            failure, last_lines = "", []
            if status is RunStatus.FAILED:
                failure, reason, last_lines = self._failure(project, batch_id, reason)
            gates: dict[str, Any] = {}
            if status is RunStatus.COMPLETED:
                metrics = self._metrics(project, batch_id)
                gates = self._gates(project, batch_id, metrics)
                if metrics is not None:
                    self._write_report(project, batch_id, event.run_id, metrics, gates)
            if gates.get("gates_passed"):
                gates |= self._register(project, batch_id, event.run_id, run, gates, metrics, now)
            self.records.record_run(project, batch_id, now, status=status, run_id=event.run_id, ended_at=iso(now),
                                    gpu_hours=hours, reason=reason or None, failure=failure or None, **gates)
            self._release(project, event, run, hours, failure, reason, now)
            ended = {"status": status, "reason": reason, "gpu_hours": hours, "failure": failure}
            if status is RunStatus.COMPLETED:
                log.info("training run ended", extra=ended)
            else:
                log.error("training run ended", extra=ended | {"trainer_last_lines": last_lines})
            return RunUpdate("ended", project, batch_id, status)

    def _failure(self, project: str, batch_id: str, reason: str) -> tuple[str, str, list[str]]:
        """("code", the trainer's own words, its last log lines) when it left failure.json; ("infrastructure", what
        was seen, []) else."""
        try:
            said = json.loads(self.blobs.read(self.settings.models_container,
                                              f"{model_folder(project, batch_id)}/{FAILURE_FILE}").data)
            lines = said.get("last_lines")
            return "code", str(said["error"]), [str(line) for line in lines] if isinstance(lines, list) else []
        except (NotFound, ValueError, KeyError, TypeError, AttributeError):
            return "infrastructure", reason or "the run failed without an error of the trainer's own", []

    def _metrics(self, project: str, batch_id: str) -> dict[str, Any] | None:
        """The run's metrics.json (None when the run left none)."""
        try:
            return json.loads(self.blobs.read(self.settings.models_container,
                                              f"{model_folder(project, batch_id)}/metrics.json").data)
        except NotFound:
            return None

    def _gates(self, project: str, batch_id: str, metrics: dict[str, Any] | None) -> dict[str, Any]:
        """Check the run's metrics against the gates; the decision and every reason go on the run's row."""
        s = self.settings
        default = GatePolicy(s.gate_min_map, s.gate_min_map_50, s.gate_min_class_ap, s.gate_min_validation_images,
                             s.gate_max_regression, s.gate_max_class_regression, s.gate_min_class_objects,
                             s.gate_max_export_map_drop, s.gate_max_edge_map_drop)
        try:
            policy = policy_for(project, default, s.gate_overrides)
        except ValueError as exc:  # a misconfiguration holds the release back, with the reason shown
            log.error("gate settings unusable", extra={"error": str(exc)})
            return {"gates_passed": False, "gate_reasons": json.dumps([str(exc)]), "map": None, "map_50": None}
        figures = {"map": None, "map_50": None, "per_class_ap": None, "validation_images": None, "images": None,
                   "golden_map_50": None}
        if metrics is not None:
            counts = metrics.get("dataset_counts") if isinstance(metrics.get("dataset_counts"), dict) else {}
            golden = metrics.get("golden") if isinstance(metrics.get("golden"), dict) else {}
            figures = {"map": metrics.get("map"), "map_50": metrics.get("map_50"),
                       "per_class_ap": json.dumps(metrics["per_class_ap"])
                       if isinstance(metrics.get("per_class_ap"), dict) else None,
                       "validation_images": metrics.get("validation_images"), "images": counts.get("images"),
                       "golden_map_50": golden.get("map_50")}
        if metrics is None:
            metrics = {"error": f"{s.models_container}/{model_folder(project, batch_id)}/metrics.json not found"}
        decision = evaluate_gates(metrics, policy)
        if decision.passed:
            log.info("release gates passed", extra=decision.to_dict())
        else:
            log.warning("release gates failed", extra=decision.to_dict())
        return {"gates_passed": decision.passed, "gate_reasons": json.dumps(decision.reasons)} | figures

    def _optional(self, name: str) -> bytes | None:
        """A file beside the model that older trainers did not write."""
        try:
            return self.blobs.read(self.settings.models_container, name).data
        except NotFound:
            return None

    def _write_report(self, project: str, batch_id: str, run_id: str, metrics: dict[str, Any],
                      gates: dict[str, Any]) -> None:
        """report.html next to the model, with the gate decision; a missing part is logged, never fatal."""
        s, folder = self.settings, model_folder(project, batch_id)
        try:
            report = json.loads(self.blobs.read(s.models_container, f"{folder}/report.json").data)
            grid, flips = (self._optional(f"{folder}/{name}") for name in ("report_grid.jpg", FLIPS_IMAGE))
        except (NotFound, ValueError) as exc:
            log.warning("no training report for this run", extra={"error": str(exc)})
            return
        champion_loss, champion_name = self._champion_loss(project)
        html = render_report(project=project, batch_id=batch_id, run_id=run_id, metrics=metrics, report=report,
                             gates_passed=gates["gates_passed"], gate_reasons=json.loads(gates["gate_reasons"]),
                             grid_jpeg=grid, champion_loss=champion_loss, champion_name=champion_name,
                             flips_jpeg=flips)
        self.blobs.write(s.models_container, f"{folder}/report.html", html.encode(),
                         content_type="text/html; charset=utf-8")

    def _champion_loss(self, project: str) -> tuple[list[list[float]] | None, str]:
        """The live model's own loss curve (from its report.json), to draw beside this run's."""
        folder = self.records.project(project).champion_model
        if not folder:
            return None, ""
        try:
            report = json.loads(self.blobs.read(self.settings.models_container, f"{folder}/report.json").data)
        except (NotFound, ValueError):
            return None, ""
        return report.get("loss"), f"champion ({folder.split('/')[-2] if folder.count('/') >= 2 else folder})"

    def _register(self, project: str, batch_id: str, run_id: str, run: RunRecord, gates: dict[str, Any],
                  metrics: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
        """A model that passed its gates goes to the registry with its lineage, waiting for approval."""
        candidate = ModelCandidate(
            project=project, run_id=run_id, batch_id=batch_id, dataset_version=run.dataset_version or "",
            base_model=self.settings.base_model, model_folder=model_folder(project, batch_id),
            metrics={"map": gates.get("map"), "map_50": gates.get("map_50")}, exports=export_properties(metrics))
        model = self.registry().register(candidate)
        log.info("model registered" if model.created else "model already registered",
                 extra={"model_version": model.version, "model_name": model.name, "state": model.state})
        if not self.settings.approval_secret:
            log.error("APPROVAL_SECRET is not set: no approval link can be signed for this model")
        else:
            Approve(self.tables, self.settings, self.blobs, self.notifier, release=self.release).request(
                model.name, model.version, project, batch_id,
                f"{model.name} version {model.version} passed its release gates and waits for a decision.",
                facts=_facts(gates, candidate.dataset_version), now=now)
        return {"model_name": model.name, "model_version": model.version, "model_state": model.state}

    def _release(self, project: str, event: RunEvent, run: RunRecord, hours: float, failure: str,
                 reason: str, now: datetime) -> None:
        """Free the project for its next run; on success remember what was trained (for warm starts, skips); a
        run the infrastructure lost gives its changes back to be trained again (with backoff, a few times)."""
        status = RunStatus.parse(event.status)

        def free(state: ProjectState) -> bool:
            if state.active_job not in (event.run_id, run.job_name):
                return False  # a cancelled or older run: the project has moved on
            state.phase, state.active_job = "idle", ""
            state.gpu_hours_today = state.gpu_hours_on(now) + hours
            state.last_outcome, state.failure = f"{status.lower()} {event.run_id}", reason
            if status is RunStatus.COMPLETED:
                state.trained_version, state.label_map = state.dataset_version, state.manifest_label_map
            if failure == "infrastructure":
                self._retry_later(state, reason, now)
            else:
                state.attempt, state.retry_after, state.given_up_at = 1, "", ""
            return True

        self.records.change_project(project, free, f"release project {project}")

    def _retry_later(self, state: ProjectState, reason: str, now: datetime) -> None:
        """The batch's changes are pending again; the daily cap does not count the lost run (GPU hours do)."""
        attempt, failed_cut = state.attempt, state.cut
        state.cut = state.claimed_from
        if state.day == day_of(now):
            state.runs_today = max(state.runs_today - 1, 0)
        state.attempt = attempt + 1
        if attempt < self.settings.max_run_attempts:
            backoff = self.settings.retry_backoff_seconds * 2 ** (attempt - 1)
            state.retry_after = iso(now + timedelta(seconds=backoff))
            log.warning("run lost to the infrastructure: retrying", extra={
                "reason": reason, "attempt": attempt + 1, "retry_after": state.retry_after})
        else:
            state.retry_after, state.given_up_at = "", failed_cut
            log.error("run lost to the infrastructure: giving up", extra={"reason": reason, "attempts": attempt})


def _facts(gates: dict[str, Any], dataset_version: str) -> list[tuple[str, str]]:
    """The key figures of an approval request's card."""
    def figure(value: Any) -> str:
        return f"{value:.3f}" if isinstance(value, float) else "n/a"

    return [("mAP@0.5", figure(gates.get("map_50"))), ("mAP@0.5:0.95", figure(gates.get("map"))),
            ("Release gates", "passed" if gates.get("gates_passed") else "failed"), ("Dataset", dataset_version)]


def _gpu_hours(run: RunRecord, properties: dict[str, Any], now: datetime, settings: Settings) -> float:
    if "gpu_hours" in properties:
        return float(properties["gpu_hours"])
    started = run.claimed_at
    if not started:
        return 0.0
    elapsed = (now - from_iso(started)).total_seconds()
    return round(max(elapsed, 0) / 3600 * settings.aml_gpus_per_node * settings.aml_instance_count, 4)
