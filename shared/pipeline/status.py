"""What the status endpoint shows: per project, pending changes, the current window, recent runs, the endpoint."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from shared import monitoring_links
from shared.debounce import decide
from shared.ledger import valid_project
from shared.pipeline.records import RunRecord
from shared.pipeline.release import Release
from shared.pipeline.submit import SubmitTraining

RUN_FIELDS = ("status", "job_name", "run_id", "dataset_version", "manifest", "claimed_at", "ended_at", "updated",
              "changes", "images", "new_images", "gpu_hours", "reason", "gates_passed", "map", "map_50",
              "golden_map_50", "model_name", "model_version", "model_state", "approver", "approver_verified",
              "approval_comment", "deployed_at", "slot", "deploy_reason", "retired_at", "failure", "attempt")


class ProjectStatus:
    """Reads only: the submit use case's view of the window (what the timer would decide now) and the release's."""

    def __init__(self, submit: SubmitTraining, release: Release | None = None,
                 timeline_query: str | None = None) -> None:
        self.submit, self.release = submit, release
        self.timeline_query = timeline_query
        """infra/monitoring/queries/batch-timeline.kql, for the link to the latest batch's story."""

    def project(self, project: str, *, runs: int = 20, now: datetime | None = None,
                every_run: list[RunRecord] | None = None) -> dict[str, Any]:
        """`every_run`: the project's run rows when the caller has read them already (newest first)."""
        now = now or datetime.now(UTC)
        state = self.submit.records.project(project)
        pending, _ = self.submit.pending(project, state.cut)
        decision = decide(now, pending, state, self.submit.policy)
        recent = (self.newest_first(project) if every_run is None else every_run)[:runs]
        return {
            "project": project,
            "pending": {"changes": pending.changes, "new_images": pending.images, "first_change": pending.first,
                        "last_change": pending.last},
            "window": {"phase": state.phase, "step": state.step or None, "next": decision.action,
                       "reason": decision.reason, "batch_id": state.batch_id or None,
                       "active_job": state.active_job or None, "runs_today": state.runs_on(now),
                       "gpu_hours_today": state.gpu_hours_on(now), "attempt": state.attempt,
                       "retry_after": state.retry_after or None, "last_failure": state.failure or None,
                       "snapshot": state.snapshot_progress or None},
            "dataset_alerts": json.loads(state.dataset_alerts) if state.dataset_alerts else [],
            "trained_dataset_version": state.trained_version or None,
            "champion_model": state.champion_model or None,
            "endpoint": self.release.status(project) if self.release else None,
            "labelling": {"last_export": json.loads(state.last_export) if state.last_export else None,
                          "collected_until": state.labelled_until or None,
                          "tool": json.loads(state.labelling_tool) if state.labelling_tool else None},
            "drift": _drift_view(state.drift),
            "timeline": monitoring_links.timeline(state.batch_id or (recent[0].batch_id if recent else None),
                                                  self.submit.settings.log_analytics_workspace_id,
                                                  self.timeline_query),
            "runs": [run_view(r) for r in recent],
        }

    def newest_first(self, project: str) -> list[RunRecord]:
        return sorted(self.submit.records.runs(project), key=lambda r: r.batch_id, reverse=True)

    def names(self, after: str = "", limit: int = 50) -> tuple[list[str], str | None]:
        """Project names in order, `limit` after the name `after`, and where the next page starts (None: last)."""
        settings = self.submit.settings
        projects = sorted(p for p in self.submit.blobs.top_level_folders(settings.datasets_container)
                          if valid_project(p) and p > after)
        page = projects[:limit]
        return page, page[-1] if len(projects) > limit else None

    def all(self, after: str = "", limit: int = 50) -> dict[str, Any]:
        """Projects in name order, `limit` at a time after the name `after`; `next` is where the next page starts
        (each project costs a few storage reads: a thousand projects do not fit one request)."""
        page, following = self.names(after, limit)
        return {"projects": [self.project(p, runs=5) for p in page], "next": following}


def _drift_view(raw: str) -> dict[str, Any] | None:
    """The last drift watch: the day, the changes and any warnings (the full figures are in the log line)."""
    if not raw:
        return None
    drift = json.loads(raw)
    return {k: drift.get(k) for k in ("day", "model_version", "changes", "warnings", "reason")} | {
        "images": (drift.get("production") or {}).get("images")}


def run_view(run: RunRecord) -> dict[str, Any]:
    entity = run.to_entity()
    view = {"batch_id": run.batch_id} | {k: entity[k] for k in RUN_FIELDS if k in entity}
    if run.gate_reasons is not None:
        view["gate_reasons"] = json.loads(run.gate_reasons)
    if str(run.status) == "Completed":
        view["report"] = report_path(run.project, run.batch_id)
    return view


def report_path(project: str, batch_id: str) -> str:
    """Where the reports function serves a run's HTML report (relative to the function app's host)."""
    return f"/api/reports/{project}/{batch_id}"
