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
from shared.pipeline.complete_run import CompleteRun
from shared.pipeline.records import ProjectState, Records, RunStatus
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
        self.records = Records(tables, settings)

    def reconcile_all(self, now: datetime | None = None, *, force: bool = False) -> list[str]:
        """Check every project with an active run; return the jobs found ended (or lost)."""
        now = now or datetime.now(UTC)
        ended = []
        for state in self.records.projects():
            job = self.check(state, now, force=force)
            if job:
                ended.append(job)
        return ended

    def check(self, state: ProjectState, now: datetime, *, force: bool = False) -> str | None:
        job = state.active_job
        if state.phase != "submitted" or not job:
            return None
        last = state.reconciled_at or state.claimed_at
        if not force and last and now - from_iso(last) < timedelta(seconds=self.settings.reconcile_after_seconds):
            return None
        project = state.project
        with logs.correlation(project=project, batch_id=state.batch_id, run_id=job):
            found = self.backend.status(job)
            known = RunStatus.parse(found.status)
            if known not in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED) and found.status != LOST:
                self._note_check(project, job, now)
                log.info("active run checked: still going", extra={"status": found.status})
                return None
            status = known if found.status != LOST else RunStatus.FAILED
            log.warning("run reconciled: its end was never delivered", extra={
                "status": found.status, "reason": found.reason})
            self.tracker.handle(RunEvent(
                event_id=f"reconciled:{job}:{iso(now)}", type=RUN_STATUS_CHANGED, run_id=job, experiment_name="",
                status=status, tags={SERVICE_TAG: "1", "project": project, "batch_id": state.batch_id},
                properties={"error": found.reason, "reconciled": True, **found.properties}), now)
            return job

    def _note_check(self, project: str, job: str, now: datetime) -> None:
        def note(state: ProjectState) -> bool:
            if state.active_job != job:
                return False
            state.reconciled_at = iso(now)
            return True

        self.records.change_project(project, note, f"note the check of {job}")
