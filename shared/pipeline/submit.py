"""The timer's use case: decide per project, then flush in steps that each survive a crash.

Flush steps, each recorded in the project's state row under its ETag (so racing instances produce one flush):
claimed → snapshotted (manifest written) → submitting → submitted (job started, name derived from the batch id).
A tick that finds a flush half-done finishes it; re-doing a step is harmless (same manifest, same job name).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared import logs
from shared.clock import day_of, iso
from shared.dataset.label_map import LabelMap
from shared.dataset.service import DatasetBuilder, SnapshotProgress
from shared.debounce import Decision, Policy, decide
from shared.ledger import Pending, valid_project
from shared.pipeline.records import ProjectState, Records, RunStatus
from shared.ports import BlobStore, PreconditionFailed, TableStore, TrainingBackend
from shared.settings import Settings
from shared.training import SHARD_CACHE, TrainingRequest, batch_id_for

log = logging.getLogger(__name__)

LEFT_FOR_NEXT_TICK = "left for the next tick: this tick used its TICK_BUDGET_SECONDS"


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
        self.records = Records(tables, settings)
        self.policy = policy_of(settings)
        self._ledger_ready = False

    def pending(self, project: str, cut: str) -> tuple[Pending, list[dict]]:
        if not self._ledger_ready:
            self.tables.ensure_table(self.settings.ledger_table)
            self._ledger_ready = True
        rows = list(self.tables.query(self.settings.ledger_table, project, after=("event_time", cut) if cut else None))
        return Pending.of(rows), rows

    # -- the tick -------------------------------------------------------------------------------------------

    def tick_all(self, now: datetime | None = None) -> list[TickOutcome]:
        """Every project gets its decision; flush work (snapshots, submissions) stops once TICK_BUDGET_SECONDS
        are used, and the projects after that flush on a later tick. The order turns by one project a minute, so
        no project always comes last."""
        now = now or datetime.now(UTC)
        projects = sorted(p for p in self.blobs.top_level_folders(self.settings.datasets_container)
                          if valid_project(p))
        if not projects:
            return []
        turn = int(now.timestamp() // 60) % len(projects)
        deadline = time.monotonic() + self.settings.tick_budget_seconds
        outcomes: list[TickOutcome] = []
        for project in projects[turn:] + projects[:turn]:
            worked = any(o.decision.action not in ("wait", "hold") for o in outcomes)
            outcomes.append(self.tick(project, now, can_flush=not worked or time.monotonic() < deadline))
        left = [o.project for o in outcomes if o.note == LEFT_FOR_NEXT_TICK]
        if left:
            log.warning("tick budget used: flushes left for the next tick", extra={"projects": len(left)})
        return outcomes

    def tick(self, project: str, now: datetime | None = None, *, can_flush: bool = True) -> TickOutcome:
        now = now or datetime.now(UTC)
        with logs.correlation(project=project):
            state = self.records.project(project)
            pending, _ = self.pending(project, state.cut)
            decision = decide(now, pending, state, self.policy)
            outcome = TickOutcome(project, decision)
            if decision.action in ("wait", "hold"):
                self._note_decision(state, decision, now)
                return outcome
            if not can_flush:
                outcome.note = LEFT_FOR_NEXT_TICK
                return outcome
            try:
                if decision.action == "cancel_and_flush":
                    state = self._cancel_active(state, now)
                if decision.action == "resume":
                    _log_decision(decision, state.batch_id)
                else:
                    state = self._claim(state, pending, decision, now)
                state = self._finish_flush(state, now)
            except PreconditionFailed:
                outcome.note = "another instance is handling this flush"
                log.info("flush taken by another instance")
                return outcome
            outcome.batch_id = state.batch_id or None
            outcome.job_name = state.job_name if state.step in ("submitting", "submitted") and state.job_name else None
            outcome.note = state.last_outcome
            return outcome

    def _save(self, state: ProjectState, **changes: object) -> ProjectState:
        return self.records.save_project(dataclasses.replace(state, **changes))

    def _note_decision(self, state: ProjectState, decision: Decision, now: datetime) -> None:
        """Keep the latest reason for the status endpoint; only written when it changes (no churn per tick)."""
        headline = decision.reason.split(";")[0]
        if state.decision == headline and state.action == decision.action:
            return
        if decision.action == "hold":
            log.warning("training held", extra={"reason": decision.reason, "hold": decision.hold})
        with contextlib.suppress(PreconditionFailed):  # someone else updated the row: their view is as good
            self._save(state, action=decision.action, decision=headline, decision_at=iso(now))

    def _claim(self, state: ProjectState, pending: Pending, decision: Decision, now: datetime) -> ProjectState:
        """The batch takes the changes up to its cut: the newest pending one, yet never within the lateness of now
        (an event still on its way is dated after the cut, or recorded at its receipt when later than that). A clock
        so far behind that this would not move the cut takes the newest change (the folder's listing catches what
        that misses)."""
        claimed_at = iso(now)
        settled = iso(now - timedelta(seconds=self.settings.lateness_seconds))
        cut = min(pending.last or "", settled) if settled > state.cut else pending.last or ""
        batch_id = batch_id_for(state.project, claimed_at)
        _log_decision(decision, batch_id)
        state = self._save(state, phase="flushing", step="claimed", batch_id=batch_id, claimed_at=claimed_at,
                           claimed_from=state.cut, cut=cut, changes=pending.changes,
                           new_images=pending.images, action="flush", decision="flushing", decision_at=claimed_at,
                           attempt=state.attempt if state.retry_after else 1, retry_after="", given_up_at="")
        log.info("flush claimed", extra={"batch_id": batch_id, "cut": cut, "changes": pending.changes,
                                         "new_images": pending.images})
        return state

    def _finish_flush(self, state: ProjectState, now: datetime) -> ProjectState:
        with logs.correlation(batch_id=state.batch_id):
            if state.step == "claimed":
                state = self._snapshot(state, now)
            if state.step in ("snapshotted", "submitting"):
                state = self._submit(state, now)
        return state

    def _snapshot(self, state: ProjectState, now: datetime) -> ProjectState:
        """The dataset as of this flush, reading only what changed since the last snapshot; a large one takes
        several ticks (SNAPSHOT_BUDGET_SECONDS each) and the flush stays claimed until it is done."""
        previous = LabelMap.from_list(json.loads(state.label_map)) if state.label_map else None
        builder = DatasetBuilder(self.blobs, self.settings)
        since = builder.catalog_cut(state.project)
        changes = None if since is None else self._changed_names(state.project, since)
        build = builder.snapshot(state.project, previous_label_map=previous, changes=changes, cut=state.cut,
                                 token=state.batch_id, budget=self.settings.snapshot_budget_seconds, now=now)
        if isinstance(build, SnapshotProgress):
            log.info("dataset snapshot continues next tick", extra={"progress": build.describe()})
            return self._save(state, snapshot_progress=build.describe(),
                              last_outcome=f"snapshot in progress: {build.describe()}")
        version, counts = build.manifest["dataset_version"], build.manifest["counts"]
        if counts["images"] == 0 or counts["boxes"] == 0 or version == state.trained_version:
            why = "no usable images" if counts["images"] == 0 else "; ".join(build.report.alerts) \
                if counts["boxes"] == 0 else f"dataset {version} is the one last trained: nothing new to learn"
            self._record_run(state, now, status=RunStatus.SKIPPED, reason=why, dataset_version=version)
            log.info("flush skipped", extra={"reason": why, "dataset_version": version})
            return self._save(state, phase="idle", step="done", last_outcome=f"skipped: {why}",
                              dataset_alerts=json.dumps(build.report.alerts))
        manifest_blob = builder.publish(build)
        log.info("dataset snapshot published", extra={"dataset_version": version, "manifest": manifest_blob,
                                                      "quarantined": build.quarantined})
        return self._save(state, step="snapshotted", dataset_version=version, manifest=manifest_blob,
                          manifest_label_map=json.dumps(build.manifest["label_map"]),
                          quarantined=build.quarantined, snapshot_progress="",
                          dataset_alerts=json.dumps(build.report.alerts))

    def _changed_names(self, project: str, since: str) -> list[str]:
        """Blobs the ledger saw change after `since` (the catalog's cut): all a snapshot needs to look at."""
        _, rows = self.pending(project, since)
        return sorted({row["blob"] for row in rows})

    def _submit(self, state: ProjectState, now: datetime) -> ProjectState:
        """Record the job as active *before* starting it, so its completion always finds the project waiting."""
        request = self.request_for(state)
        if state.step == "snapshotted":
            self._record_run(state, now, status=RunStatus.SUBMITTED, job_name=request.job_name,
                             submitted_at=iso(now), dataset_version=request.dataset_version, manifest=state.manifest,
                             attempt=state.attempt)
            state = self._save(state, step="submitting", job_name=request.job_name, active_job=request.job_name,
                               day=day_of(now), runs_today=state.runs_on(now) + 1,
                               gpu_hours_today=state.gpu_hours_on(now))
        if self.backend is None:
            raise RuntimeError("this SubmitTraining was built read-only (can_submit=False)")
        submitted = self.backend.submit(request)
        with logs.correlation(run_id=submitted.run_id):
            log.info("training submitted" if submitted.created else "training already submitted (retry)",
                     extra={"job_name": submitted.job_name, "dataset_version": request.dataset_version})
        try:
            return self._save(state, phase="submitted", step="submitted", run_id=submitted.run_id,
                              last_outcome=f"submitted {submitted.job_name}")
        except PreconditionFailed:
            return state  # the run already ended and released the project: nothing left to record

    def request_for(self, state: ProjectState) -> TrainingRequest:
        previous = json.loads(state.label_map) if state.label_map else None
        current = json.loads(state.manifest_label_map)
        return TrainingRequest(
            project=state.project, batch_id=state.batch_id, dataset_version=state.dataset_version,
            manifest_container=self.settings.manifests_container, manifest_blob=state.manifest,
            base_model=self.settings.base_model, num_steps=self.settings.train_steps,
            batch_size=self.settings.train_batch_size, output_prefix=f"{state.project}/{state.batch_id}",
            label_map_changed=previous != current, champion_model=state.champion_model or None,
            tfrecord_cache=self._shard_cache(state.project),
        )

    def _shard_cache(self, project: str) -> str | None:
        """The project's shard cache folder if a run has filled it (a mount of a missing folder fails the job)."""
        folder = f"{project}/{SHARD_CACHE}/"
        found, _ = self.blobs.list_page(self.settings.checkpoints_container, folder, size=1)
        return folder.rstrip("/") if found else None

    def _cancel_active(self, state: ProjectState, now: datetime) -> ProjectState:
        if state.active_job and self.backend is not None:
            self.backend.cancel(state.active_job)
            self._record_run(state, now, status=RunStatus.CANCELED, reason="superseded by newer data")
            log.warning("active run cancelled for newer data", extra={"job_name": state.active_job})
        return self._save(state, phase="idle", active_job="")

    def _record_run(self, state: ProjectState, now: datetime, **fields: object) -> None:
        self.records.record_run(state.project, state.batch_id, now, defaults={
            "claimed_at": state.claimed_at, "changes": state.changes, "new_images": state.new_images}, **fields)


def _log_decision(decision: Decision, batch_id: str) -> None:
    """The line that opens a batch's story (the batch id it is about to claim, or the one it resumes)."""
    log.info("debounce decision", extra={"action": decision.action, "reason": decision.reason, "batch_id": batch_id})
