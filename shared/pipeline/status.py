"""What the status endpoint shows: per project, pending changes, the current window, recent runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from shared.debounce import decide
from shared.pipeline.release import Release
from shared.pipeline.submit import SubmitTraining, project_state_of


def project_status(scheduler: SubmitTraining, project: str, releases: Release | None = None, *, runs: int = 20,
                   now: datetime | None = None) -> dict:
    now = now or datetime.now(UTC)
    state = scheduler.load_state(project)
    pending, _ = scheduler.pending(project, state.get("cut", ""))
    decision = decide(now, pending, project_state_of(state), scheduler.policy)
    recent = sorted(scheduler.tables.query(scheduler.settings.runs_table, project), key=lambda r: r["RowKey"],
                    reverse=True)[:runs]
    return {
        "project": project,
        "pending": {"changes": pending.changes, "new_images": pending.images, "first_change": pending.first,
                    "last_change": pending.last},
        "window": {"phase": state.get("phase", "idle"), "step": state.get("step"), "next": decision.action,
                   "reason": decision.reason, "batch_id": state.get("batch_id"),
                   "active_job": state.get("active_job") or None, "runs_today": state.get("runs_today", 0),
                   "gpu_hours_today": state.get("gpu_hours_today", 0), "attempt": int(state.get("attempt") or 1),
                   "retry_after": state.get("retry_after") or None, "last_failure": state.get("failure") or None},
        "trained_dataset_version": state.get("trained_version") or None,
        "champion_model": state.get("champion_model") or None,
        "endpoint": releases.status(project) if releases else None,
        "runs": [_run(r) for r in recent],
    }


def _run(row: dict[str, Any]) -> dict[str, Any]:
    keep = ("status", "job_name", "run_id", "dataset_version", "manifest", "claimed_at", "ended_at", "updated",
            "changes", "new_images", "gpu_hours", "reason", "gates_passed", "map", "map_50",
            "model_name", "model_version", "model_state", "approver", "approval_comment", "deployed_at", "slot",
            "deploy_reason", "retired_at", "failure", "attempt")
    gates = {"gate_reasons": json.loads(row["gate_reasons"])} if "gate_reasons" in row else {}
    report = {"report": report_path(row["PartitionKey"], row["RowKey"])} if row.get("status") == "Completed" else {}
    return {"batch_id": row["RowKey"]} | {k: row[k] for k in keep if k in row} | gates | report


def report_path(project: str, batch_id: str) -> str:
    """Where the reports function serves a run's HTML report (relative to the function app's host)."""
    return f"/api/reports/{project}/{batch_id}"


def all_status(scheduler: SubmitTraining, releases: Release | None = None) -> dict:
    projects = scheduler.blobs.top_level_folders(scheduler.settings.datasets_container)
    return {"projects": [project_status(scheduler, p, releases, runs=5) for p in projects]}
