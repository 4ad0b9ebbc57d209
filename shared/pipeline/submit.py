"""The timer's use case: decide per project, then flush in steps that each survive a crash.

Flush steps, each recorded in the project's state row under its ETag (so racing instances produce one flush):
claimed → snapshotted (manifest written) → submitted (job started, name derived from the batch id).
A tick that finds a flush half-done finishes it; re-doing a step is harmless (same manifest, same job name).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared import logs
from shared.clock import iso
from shared.dataset.label_map import LabelMap
from shared.dataset.service import DatasetBuilder
from shared.debounce import Decision, Policy, ProjectState, decide
from shared.ledger import Pending, valid_project
from shared.ports import ROW_ETAG, BlobStore, NotFound, PreconditionFailed, TableStore, TrainingBackend
from shared.settings import Settings
from shared.training import TrainingRequest, batch_id_for

log = logging.getLogger(__name__)

STATE_PARTITION = "project"
FINAL_RUN_STATUSES = {"Completed", "Failed", "Canceled", "canceled", "skipped"}


def policy_of(settings: Settings) -> Policy:
    return Policy(settings.quiet_seconds, settings.max_wait_seconds, settings.min_new_images,
                  settings.max_runs_per_day, settings.max_gpu_hours_per_day, settings.cancel_running_on_new_data,
                  settings.max_run_attempts)


@dataclass
class TickOutcome:
    project: str
    decision: Decision
    batch_id: str | None = None
    job_name: str | None = None
    note: str = ""


class SubmitTraining:
    def __init__(self, blobs: BlobStore, tables: TableStore, backend: TrainingBackend | None,
                 settings: Settings) -> None:
        self.blobs, self.tables, self.backend, self.settings = blobs, tables, backend, settings
        self.policy = policy_of(settings)
        self._tables_ready = False

    # -- state rows ---------------------------------------------------------------------------------------

    def load_state(self, project: str) -> dict[str, Any]:
        try:
            return self.tables.get(self.settings.state_table, STATE_PARTITION, project)
        except NotFound:
            return {"PartitionKey": STATE_PARTITION, "RowKey": project, "phase": "idle", "cut": ""}

    def save_state(self, row: dict[str, Any]) -> dict[str, Any]:
        """Write under the ETag read; PreconditionFailed means another instance moved first."""
        table = self.settings.state_table
        etag = self.tables.update(table, row, row[ROW_ETAG]) if row.get(ROW_ETAG) else self.tables.insert(table, row)
        return row | {ROW_ETAG: etag}

    def pending(self, project: str, cut: str) -> tuple[Pending, list[dict]]:
        rows = list(self.tables.query(self.settings.ledger_table, project, after=("event_time", cut) if cut else None))
        return Pending.of(rows), rows

    # -- the tick -------------------------------------------------------------------------------------------

    def tick_all(self, now: datetime | None = None) -> list[TickOutcome]:
        now = now or datetime.now(UTC)
        return [self.tick(project, now) for project in self.blobs.top_level_folders(self.settings.datasets_container)
                if valid_project(project)]

    def _ensure_tables(self) -> None:
        if not self._tables_ready:
            for table in (self.settings.state_table, self.settings.ledger_table, self.settings.runs_table):
                self.tables.ensure_table(table)
            self._tables_ready = True

    def tick(self, project: str, now: datetime | None = None) -> TickOutcome:
        now = now or datetime.now(UTC)
        self._ensure_tables()
        with logs.correlation(project=project):
            state = self.load_state(project)
            pending, _ = self.pending(project, state.get("cut", ""))
            decision = decide(now, pending, project_state_of(state), self.policy)
            outcome = TickOutcome(project, decision)
            if decision.action in ("wait", "hold"):
                self._note_decision(state, decision, now)
                return outcome
            log.info("debounce decision", extra={"action": decision.action, "reason": decision.reason})
            try:
                if decision.action == "cancel_and_flush":
                    state = self._cancel_active(state, now)
                if decision.action != "resume":
                    state = self._claim(state, pending, now)
                state = self._finish_flush(state, now)
            except PreconditionFailed:
                outcome.note = "another instance is handling this flush"
                log.info(outcome.note)
                return outcome
            outcome.batch_id, outcome.job_name = state.get("batch_id"), state.get("job_name")
            outcome.note = state.get("last_outcome", "")
            return outcome

    def _note_decision(self, state: dict[str, Any], decision: Decision, now: datetime) -> None:
        """Keep the latest reason for the status endpoint; only written when it changes (no churn per tick)."""
        if state.get("decision") == decision.reason.split(";")[0] and state.get("action") == decision.action:
            return
        if decision.action == "hold":
            log.warning("training held", extra={"reason": decision.reason})
        state |= {"action": decision.action, "decision": decision.reason.split(";")[0], "decision_at": iso(now)}
        with contextlib.suppress(PreconditionFailed):  # someone else updated the row: their view is as good
            self.save_state(state)

    def _claim(self, state: dict[str, Any], pending: Pending, now: datetime) -> dict[str, Any]:
        claimed_at = iso(now)
        batch_id = batch_id_for(state["RowKey"], claimed_at)
        retrying = bool(state.get("retry_after"))
        state = state | {"phase": "flushing", "step": "claimed", "batch_id": batch_id, "claimed_at": claimed_at,
                         "claimed_from": state.get("cut", ""), "cut": pending.last, "changes": pending.changes,
                         "new_images": pending.images, "action": "flush", "decision": "flushing",
                         "decision_at": claimed_at, "attempt": int(state.get("attempt") or 1) if retrying else 1,
                         "retry_after": "", "given_up_at": ""}
        state = self.save_state(state)
        log.info("flush claimed", extra={"batch_id": batch_id, "cut": pending.last})
        return state

    def _finish_flush(self, state: dict[str, Any], now: datetime) -> dict[str, Any]:
        with logs.correlation(batch_id=state["batch_id"]):
            if state.get("step") == "claimed":
                state = self._snapshot(state, now)
            if state.get("step") in ("snapshotted", "submitting"):
                state = self._submit(state, now)
        return state

    def _snapshot(self, state: dict[str, Any], now: datetime) -> dict[str, Any]:
        project = state["RowKey"]
        previous = LabelMap.from_list(json.loads(state["label_map"])) if state.get("label_map") else None
        builder = DatasetBuilder(self.blobs, self.settings)
        build = builder.build(project, previous_label_map=previous)
        version = build.manifest["dataset_version"]
        if build.manifest["counts"]["images"] == 0 or version == state.get("trained_version"):
            why = "no usable images" if build.manifest["counts"]["images"] == 0 else \
                f"dataset {version} is the one last trained: nothing new to learn"
            self._record_run(state, status="skipped", reason=why, dataset_version=version, now=now)
            log.info("flush skipped", extra={"reason": why, "dataset_version": version})
            return self.save_state(state | {"phase": "idle", "step": "done", "last_outcome": f"skipped: {why}"})
        manifest_blob = builder.publish(build)
        log.info("dataset snapshot taken", extra={"dataset_version": version, "manifest": manifest_blob,
                                                  "quarantined": len(build.report.quarantined)})
        return self.save_state(state | {
            "step": "snapshotted", "dataset_version": version, "manifest": manifest_blob,
            "manifest_label_map": json.dumps(build.manifest["label_map"]),
            "quarantined": len(build.report.quarantined),
        })

    def _submit(self, state: dict[str, Any], now: datetime) -> dict[str, Any]:
        """Record the job as active *before* starting it, so its completion always finds the project waiting."""
        request = self.request_for(state)
        if state.get("step") == "snapshotted":
            today = now.strftime("%Y-%m-%d")
            runs_today = (int(state.get("runs_today", 0)) if state.get("day") == today else 0) + 1
            gpu_hours = float(state.get("gpu_hours_today", 0.0)) if state.get("day") == today else 0.0
            self._record_run(state, status="submitted", job_name=request.job_name, submitted_at=iso(now),
                             dataset_version=request.dataset_version, manifest=state["manifest"], now=now,
                             attempt=int(state.get("attempt") or 1))
            state = self.save_state(state | {
                "step": "submitting", "job_name": request.job_name, "active_job": request.job_name, "day": today,
                "runs_today": runs_today, "gpu_hours_today": gpu_hours})
        if self.backend is None:
            raise RuntimeError("this SubmitTraining was built read-only (can_submit=False)")
        submitted = self.backend.submit(request)
        with logs.correlation(run_id=submitted.run_id):
            log.info("training submitted" if submitted.created else "training already submitted (retry)",
                     extra={"job_name": submitted.job_name, "dataset_version": request.dataset_version})
        try:
            return self.save_state(state | {"phase": "submitted", "step": "submitted", "run_id": submitted.run_id,
                                            "last_outcome": f"submitted {submitted.job_name}"})
        except PreconditionFailed:
            return state  # the run already ended and released the project: nothing left to record

    def request_for(self, state: dict[str, Any]) -> TrainingRequest:
        previous = json.loads(state["label_map"]) if state.get("label_map") else None
        current = json.loads(state["manifest_label_map"])
        return TrainingRequest(
            project=state["RowKey"], batch_id=state["batch_id"], dataset_version=state["dataset_version"],
            manifest_container=self.settings.manifests_container, manifest_blob=state["manifest"],
            base_model=self.settings.base_model, num_steps=self.settings.train_steps,
            batch_size=self.settings.train_batch_size, output_prefix=f"{state['RowKey']}/{state['batch_id']}",
            label_map_changed=previous != current, champion_model=state.get("champion_model"),
        )

    def _cancel_active(self, state: dict[str, Any], now: datetime) -> dict[str, Any]:
        job = state.get("active_job")
        if job and self.backend is not None:
            self.backend.cancel(job)
            self._record_run(state, status="canceled", reason="superseded by newer data", now=now)
            log.warning("active run cancelled for newer data", extra={"job_name": job})
        return self.save_state(state | {"phase": "idle", "active_job": ""})

    def _record_run(self, state: dict[str, Any], *, status: str, now: datetime, **fields: Any) -> None:
        record_run(self.tables, self.settings.runs_table, state["RowKey"], state["batch_id"], now,
                   {"status": status} | fields, defaults={"claimed_at": state.get("claimed_at", ""),
                                                         "changes": state.get("changes", 0),
                                                         "new_images": state.get("new_images", 0)})


def record_run(tables: TableStore, table: str, project: str, batch_id: str, now: datetime,
               fields: dict[str, Any], defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """Merge `fields` into the run's row (created with `defaults` when new)."""
    try:
        row = tables.get(table, project, batch_id)
    except NotFound:
        row = {"PartitionKey": project, "RowKey": batch_id, **(defaults or {})}
    if row.get("status") in FINAL_RUN_STATUSES and fields.get("status") not in FINAL_RUN_STATUSES:
        fields = {k: v for k, v in fields.items() if k != "status"}  # a late write never reopens an ended run
    row = {k: v for k, v in row.items() if k != ROW_ETAG} | {k: v for k, v in fields.items() if v is not None}
    row["updated"] = iso(now)
    tables.upsert(table, row)
    return row


def update_row(tables: TableStore, table: str, partition: str, row_key: str,
               change: Callable[[dict[str, Any]], bool | None], what: str) -> dict[str, Any] | None:
    """Read a row, let `change` edit it in place and write it under its ETag; on a conflict read it again and
    re-apply. `change` returning False leaves the row as it is; None when the row does not exist."""
    for _ in range(10):
        try:
            row = tables.get(table, partition, row_key)
        except NotFound:
            return None
        if change(row) is False:
            return row
        try:
            row[ROW_ETAG] = tables.update(table, row, row[ROW_ETAG])
            return row
        except PreconditionFailed:
            continue  # someone wrote in between: read again and re-apply
    raise RuntimeError(f"could not {what}: its row kept changing")


def project_state_of(row: dict[str, Any]) -> ProjectState:
    return ProjectState(row.get("phase", "idle"), row.get("active_job") or None, row.get("day", ""),
                        int(row.get("runs_today", 0)), float(row.get("gpu_hours_today", 0.0)),
                        int(row.get("attempt") or 1), row.get("retry_after", ""), row.get("given_up_at", ""),
                        row.get("failure", ""))
