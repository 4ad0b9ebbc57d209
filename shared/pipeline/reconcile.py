"""Runs whose end was never heard of: ask the training backend, then finish the bookkeeping as the event would.

Event Grid gives up on a delivery after its retry window (and dead-letters it), and a local mode that was killed
takes its trainer's end with it. A project whose run has been silent for RECONCILE_AFTER_SECONDS is therefore
checked on the debounce tick: Azure ML's `jobs.get` (or, locally, whether the trainer process is still there). A run
that has ended goes through the same handler as its completion event, so a late event afterwards changes nothing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from shared import logs
from shared.clock import from_iso, iso
from shared.events import RUN_STATUS_CHANGED, RunEvent
from shared.pipeline.complete_run import TERMINAL, CompleteRun
from shared.pipeline.submit import STATE_PARTITION, update_row
from shared.ports import TableStore, TrainingBackend
from shared.settings import Settings
from shared.training import SERVICE_TAG

log = logging.getLogger(__name__)

LOST = "Lost"
"""The backend does not know the job (a local mode that was stopped took its trainer with it)."""


class Reconciler:
    def __init__(self, tables: TableStore, settings: Settings, backend: TrainingBackend,
                 tracker: CompleteRun) -> None:
        self.tables, self.settings, self.backend, self.tracker = tables, settings, backend, tracker

    def reconcile_all(self, now: datetime | None = None, *, force: bool = False) -> list[str]:
        """Check every project with an active run; return the jobs found ended (or lost)."""
        now = now or datetime.now(UTC)
        self.tables.ensure_table(self.settings.state_table)
        ended = []
        for state in list(self.tables.query(self.settings.state_table, STATE_PARTITION)):
            job = self.check(state, now, force=force)
            if job:
                ended.append(job)
        return ended

    def check(self, state: dict, now: datetime, *, force: bool = False) -> str | None:
        job = state.get("active_job")
        if state.get("phase") != "submitted" or not job:
            return None
        last = state.get("reconciled_at") or state.get("claimed_at")
        if not force and last and now - from_iso(last) < timedelta(seconds=self.settings.reconcile_after_seconds):
            return None
        project = state["RowKey"]
        with logs.correlation(project=project, batch_id=state.get("batch_id"), run_id=job):
            found = self.backend.status(job)
            if found.status not in TERMINAL and found.status != LOST:
                self._note_check(project, job, now)
                log.info("active run checked: still going", extra={"status": found.status})
                return None
            status = found.status if found.status in TERMINAL else "Failed"
            log.warning("run reconciled: its end was never delivered", extra={
                "status": found.status, "reason": found.reason})
            self.tracker.handle(RunEvent(
                event_id=f"reconciled:{job}:{iso(now)}", type=RUN_STATUS_CHANGED, run_id=job, experiment_name="",
                status=status, tags={SERVICE_TAG: "1", "project": project, "batch_id": state.get("batch_id", "")},
                properties={"error": found.reason, "reconciled": True, **found.properties}), now)
            return job

    def _note_check(self, project: str, job: str, now: datetime) -> None:
        def note(state: dict) -> bool:
            if state.get("active_job") != job:
                return False
            state["reconciled_at"] = iso(now)
            return True

        update_row(self.tables, self.settings.state_table, STATE_PARTITION, project, note,
                   f"note the check of {job}")
