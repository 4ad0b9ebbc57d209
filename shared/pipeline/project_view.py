"""What the project page shows, gathered: the status view, every run row (paged), the versions' figures, the
approvals waiting, the trainer's progress blob and the live endpoint's last hour of collected requests."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.clock import normalized_time
from shared.labelling.collected import OUTPUTS
from shared.pipeline.labelling import CollectedData
from shared.pipeline.records import ReleaseRecord, RunRecord
from shared.pipeline.status import ProjectStatus, run_view
from shared.ports import NotFound
from shared.registry import PENDING_APPROVAL
from shared.release_watch import percentile
from shared.serving import endpoint_name
from shared.training import progress_blob

RUNS_PER_PAGE = 50
TRAFFIC_WINDOW = timedelta(hours=1)


class ProjectView:
    """Reads only, like the status view it builds on."""

    def __init__(self, status: ProjectStatus) -> None:
        self.status = status
        self.submit = status.submit
        self.collected = CollectedData(status.submit.blobs, status.submit.settings)

    def releases(self, project: str, limit: int = 100) -> dict[str, Any]:
        """The project's release records, newest first (the release history page and its JSON)."""
        records = self.submit.records.release_history(project, limit)
        return {"project": project, "now": datetime.now(UTC).isoformat(timespec="seconds"),
                "releases": release_history(records)}

    def project(self, project: str, page: int = 1, now: datetime | None = None) -> dict[str, Any]:
        """One project's page: runs newest first, RUNS_PER_PAGE a page (`page` from 1, clamped to the last)."""
        now = now or datetime.now(UTC)
        runs = self.status.newest_first(project)
        pages = max(1, math.ceil(len(runs) / RUNS_PER_PAGE))
        page = min(max(page, 1), pages)
        view = self.status.project(project, runs=0, now=now, every_run=runs)
        shown = runs[(page - 1) * RUNS_PER_PAGE:page * RUNS_PER_PAGE]
        return view | {
            "now": now.isoformat(timespec="seconds"),
            "runs": [run_view(r) for r in shown],
            "runs_page": {"page": page, "pages": pages, "total": len(runs)},
            "progress": self._progress(project, view["window"]),
            "versions": versions(runs),
            "releases": [run_view(r) for r in sorted((r for r in runs if r.deployed_at or r.deploy_reason),
                                                     key=lambda r: r.deployed_at or r.updated or "", reverse=True)],
            "approvals_waiting": [{"model_name": r.model_name, "model_version": r.model_version,
                                   "batch_id": r.batch_id, "ended_at": r.ended_at, "map_50": r.map_50}
                                  for r in runs if r.model_state == PENDING_APPROVAL],
            "traffic": self._traffic(project, view["endpoint"], now),
        }

    def index(self, after: str = "", limit: int = 50) -> dict[str, Any]:
        """Projects in name order, paged as the status endpoint pages them, each with its headline."""
        names, following = self.status.names(after, limit)
        rows = []
        for name in names:
            state = self.submit.records.project(name)
            latest = self.submit.records.run(name, state.batch_id) if state.batch_id else None  # one row, not all
            release = self.status.release.status(name) if self.status.release else None
            rows.append({"project": name, "phase": state.phase or "idle",
                         "latest_run": run_view(latest) if latest else None,
                         "live_model": (release or {}).get("live_model")})
        return {"projects": rows, "next": following}

    def _progress(self, project: str, window: dict[str, Any]) -> dict[str, Any] | None:
        """The trainer's latest progress for the batch in flight (None when none trains or it wrote none yet)."""
        if not window.get("batch_id") or not window.get("active_job"):
            return None
        name = progress_blob(f"{project}/{window['batch_id']}")
        try:
            return json.loads(self.submit.blobs.read(self.submit.settings.checkpoints_container, name).data)
        except (NotFound, ValueError):
            return None

    def _traffic(self, project: str, endpoint: dict[str, Any] | None, now: datetime) -> dict[str, Any] | None:
        """Requests the live endpoint answered in the last hour and their latency, from the collector's rows."""
        if not endpoint or not endpoint.get("live_model"):
            return None
        start = now - TRAFFIC_WINDOW
        rows = self.collected.read(endpoint_name(self.submit.settings, project), start, now, collections=(OUTPUTS,))
        since = normalized_time(start.isoformat())
        recent = [row for request_id, row in rows.outputs.items() if rows.times.get(request_id, "") >= since]
        latencies = [float(row["latency_ms"]) for row in recent if isinstance(row.get("latency_ms"), int | float)]
        return {"requests": len(latencies), "failed": sum(bool(row.get("error")) for row in recent),
                "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95),
                "problems": len(rows.problems)}


def release_history(records: list[ReleaseRecord]) -> list[dict[str, Any]]:
    """The release records newest first, as the page and the JSON show them: each live one with `live_to`, the
    moment the next live release replaced it (None: still live)."""
    out, replaced_at = [], None
    for record in records:
        row = {k: v for k, v in record.to_entity().items() if k not in ("PartitionKey", "RowKey")}
        row |= {"record_id": record.record_id, "gate_reasons": json.loads(record.gate_reasons or "[]"),
                "live_to": replaced_at if record.outcome == "live" else None,
                "shadow": _figures(record.shadow, "verdict"), "health": _figures(record.health, "summary")}
        if record.outcome == "live":
            replaced_at = record.live_from
        out.append(row)
    return out


def _figures(text: str, key: str) -> dict[str, Any] | None:
    """A record's JSON figures, or its sentence under `key` (records of releases that had no such step)."""
    if not text:
        return None
    return json.loads(text) if text.startswith("{") else {key: text}


def versions(runs: list[RunRecord]) -> list[dict[str, Any]]:
    """Registered versions, oldest first, with the figures the chart draws."""
    registered = sorted((r for r in runs if r.model_version),
                        key=lambda r: (len(r.model_version or ""), r.model_version))
    return [{"version": r.model_version, "batch_id": r.batch_id, "map_50": r.map_50, "map": r.map,
             "golden_map_50": r.golden_map_50,
             "per_class_ap": json.loads(r.per_class_ap) if r.per_class_ap else {}, "state": r.model_state}
            for r in registered]
