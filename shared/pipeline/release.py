"""Blue/green releases of approved models, advanced one idempotent step at a time (approval, then each timer tick).

requested → provisioning (new slot at 0% traffic) → smoke test with a real validation image → 100% to the new
slot, old slot removed → live. A deployment that fails, times out or fails its smoke test is removed and
traffic stays on the old one; the model is marked `deploy-failed` with the reason. One row per project in the
releases table holds the endpoint's live slot and the release in progress, under its ETag.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import logs
from shared.clock import from_iso, iso
from shared.pipeline.submit import STATE_PARTITION, record_run, update_row
from shared.ports import (
    ROW_ETAG,
    BlobStore,
    DeploymentSpec,
    ModelRegistry,
    NotFound,
    OnlineEndpoints,
    PreconditionFailed,
    TableStore,
)
from shared.settings import Settings

log = logging.getLogger(__name__)

PARTITION = "endpoint"
ACTIVE = ("requested", "provisioning")


def other_slot(slot: str | None) -> str:
    return "green" if slot == "blue" else "blue"


class Release:
    def __init__(self, tables: TableStore, blobs: BlobStore, settings: Settings,
                 endpoints: Callable[[], OnlineEndpoints], registry: Callable[[], ModelRegistry]) -> None:
        self.tables, self.blobs, self.settings = tables, blobs, settings
        self.endpoints, self.registry = endpoints, registry
        self.table = settings.releases_table

    def row(self, project: str) -> dict[str, Any]:
        self.tables.ensure_table(self.table)
        try:
            return self.tables.get(self.table, PARTITION, project)
        except NotFound:
            return {"PartitionKey": PARTITION, "RowKey": project}

    def request(self, spec: DeploymentSpec, batch_id: str, now: datetime | None = None) -> str:
        """Queue an approved model for release; it starts at once unless another release is under way."""
        now = now or datetime.now(UTC)
        candidate = {"model_name": spec.model_name, "model_version": spec.model_version,
                     "model_folder": spec.model_folder, "batch_id": batch_id, "requested_at": iso(now)}
        for _ in range(10):
            row = self.row(spec.project)
            if row.get("phase") in ACTIVE:
                row["queued"] = json.dumps(candidate)
                outcome = "queued"
            else:
                row |= {"phase": "requested", "candidate": json.dumps(candidate), "reason": ""}
                outcome = "requested"
            if self._save(row):
                log.info(f"release {outcome}", extra={"project": spec.project, "model_version": spec.model_version})
                return outcome
        raise RuntimeError(f"could not queue the release of {spec.project}: its row kept changing")

    def start(self, spec: DeploymentSpec, batch_id: str) -> dict[str, Any]:
        """Queue an approved version and take its first step now (the timer takes the rest)."""
        outcome = self.request(spec, batch_id)
        phase = self.advance(spec.project) if outcome == "requested" else outcome
        return {"phase": phase, "endpoint": self.status(spec.project)}

    def advance_all(self, now: datetime | None = None) -> None:
        self.tables.ensure_table(self.table)
        for row in list(self.tables.query(self.table, PARTITION)):
            if row.get("phase") in ACTIVE or row.get("queued"):
                self.advance(row["RowKey"], now)

    def advance(self, project: str, now: datetime | None = None) -> str:
        """Take the next step of the project's release; return its phase afterwards."""
        now = now or datetime.now(UTC)
        row = self.row(project)
        if row.get("phase") not in ACTIVE and row.get("queued"):
            row |= {"phase": "requested", "candidate": row["queued"], "queued": "", "reason": ""}
        if row.get("phase") not in ACTIVE:
            return row.get("phase", "none")
        candidate = json.loads(row["candidate"])
        spec = DeploymentSpec(project, candidate["model_name"], candidate["model_version"], candidate["model_folder"])
        with logs.correlation(project=project, batch_id=candidate["batch_id"], model_version=spec.model_version):
            if row["phase"] == "requested":
                row |= {"phase": "provisioning", "slot": other_slot(row.get("live_slot")),
                        "provisioning_since": iso(now)}
                if not self._save(row):
                    return "busy"
                log.info("deployment started", extra={"slot": row["slot"], "model_name": spec.model_name})
            state = self.endpoints().provision(spec, row["slot"])
            if state == "provisioning":
                limit = self.settings.deployment_timeout_minutes
                if now - from_iso(row["provisioning_since"]) < timedelta(minutes=limit):
                    return "provisioning"
                state = f"failed: not ready after {limit:g} minutes"
            if state.startswith("failed"):
                return self._roll_back(row, spec, candidate, state, now)
            problem = self._smoke_test(spec, row["slot"], candidate["batch_id"])
            if problem:
                return self._roll_back(row, spec, candidate, f"smoke test failed: {problem}", now)
            return self._switch(row, spec, candidate, now)

    def _smoke_test(self, spec: DeploymentSpec, slot: str, batch_id: str) -> str | None:
        """Score one real validation image on the new slot alone; None when the answer is sound."""
        try:
            name, image = self._smoke_image(spec.project, batch_id)
        except (NotFound, KeyError, StopIteration, ValueError) as exc:
            return f"no validation image to test with ({exc})"
        status, body = self.endpoints().invoke(spec.project, slot, image, "application/octet-stream")
        if status != 200:
            return f"{name} answered HTTP {status}: {body[:300].decode(errors='replace')}"
        try:
            answer = json.loads(body)
            detections = answer["detections"]
            served = str(answer["model"]["version"])
        except (ValueError, KeyError, TypeError) as exc:
            return f"{name}: the answer is not a detection result ({exc}): {body[:200]!r}"
        if served != spec.model_version:
            return f"{name} was scored by model version {served}, not {spec.model_version}"
        if not isinstance(detections, list):
            return f"{name}: 'detections' is not a list"
        log.info("smoke test passed", extra={"image": name, "detections": len(detections), "slot": slot})
        return None

    def _smoke_image(self, project: str, batch_id: str) -> tuple[str, bytes]:
        run = self.tables.get(self.settings.runs_table, project, batch_id)
        manifest = json.loads(self.blobs.read(self.settings.manifests_container, run["manifest"]).data)
        image = next(i for i in manifest["images"] if i["split"] == "validation" and i["objects"])
        return image["image"]["name"], self.blobs.read(manifest["source"]["container"], image["image"]["name"]).data

    def _switch(self, row: dict[str, Any], spec: DeploymentSpec, candidate: dict[str, Any], now: datetime) -> str:
        endpoints, old = self.endpoints(), row.get("live_slot")
        new = row["slot"]
        endpoints.route(spec.project, {new: 100} | ({old: 0} if old else {}))
        if old:
            endpoints.remove(spec.project, old)
        previous = (row.get("live_model_name"), row.get("live_model_version"))
        self._record(spec.project, {
            "phase": "live", "live_slot": new, "live_model_name": spec.model_name,
            "live_model_version": spec.model_version, "live_model_folder": spec.model_folder,
            "live_batch_id": candidate["batch_id"], "live_since": iso(now), "traffic": json.dumps({new: 100}),
            "reason": "", "slot": "", "scoring_uri": endpoints.describe(spec.project).get("scoring_uri", "")})
        self.registry().set_state(spec.model_name, spec.model_version, "deployed")
        if previous[1] and previous != (spec.model_name, spec.model_version):
            self.registry().set_state(previous[0], previous[1], "retired")
            if row.get("live_batch_id"):
                record_run(self.tables, self.settings.runs_table, spec.project, row["live_batch_id"], now,
                           {"model_state": "retired", "retired_at": iso(now)})
        record_run(self.tables, self.settings.runs_table, spec.project, candidate["batch_id"], now,
                   {"model_state": "deployed", "deployed_at": iso(now), "slot": new})
        self._crown(spec.project, spec.model_folder)
        log.info("release live", extra={"slot": new, "previous_slot": old, "model_name": spec.model_name})
        return "live"

    def _roll_back(self, row: dict[str, Any], spec: DeploymentSpec, candidate: dict[str, Any], reason: str,
                   now: datetime) -> str:
        """Traffic never moved: remove the new slot and say why; the live model keeps serving."""
        self.endpoints().remove(spec.project, row["slot"])
        self._record(spec.project, {"phase": "rolled-back", "reason": reason, "slot": ""})
        self.registry().set_state(spec.model_name, spec.model_version, "deploy-failed")
        record_run(self.tables, self.settings.runs_table, spec.project, candidate["batch_id"], now,
                   {"model_state": "deploy-failed", "deploy_reason": reason})
        log.error("release rolled back", extra={"reason": reason, "live_slot": row.get("live_slot"),
                                                 "live_model_version": row.get("live_model_version")})
        return "rolled-back"

    def _crown(self, project: str, model_folder: str) -> None:
        """The deployed model becomes the champion the next run is compared with (and warm-started from)."""
        update_row(self.tables, self.settings.state_table, STATE_PARTITION, project,
                   lambda state: state.update(champion_model=model_folder), f"record the champion of {project}")

    def _record(self, project: str, outcome: dict[str, Any]) -> None:
        """The outcome of an endpoint step that already happened: merged into the latest row, so a release
        queued meanwhile is kept."""
        update_row(self.tables, self.table, PARTITION, project, lambda row: row.update(outcome),
                   f"record the release of {project}")

    def _save(self, row: dict[str, Any]) -> bool:
        """Write under the row's ETag; False if someone else moved first (the next tick tries again)."""
        try:
            if ROW_ETAG in row:
                row[ROW_ETAG] = self.tables.update(self.table, row, row[ROW_ETAG])
            else:
                row[ROW_ETAG] = self.tables.insert(self.table, row)
            return True
        except PreconditionFailed:
            return False

    def status(self, project: str) -> dict[str, Any] | None:
        row = self.row(project)
        if "phase" not in row:
            return None
        out = {"phase": row["phase"], "live_slot": row.get("live_slot") or None,
               "live_model": {"name": row.get("live_model_name"), "version": row.get("live_model_version"),
                              "batch_id": row.get("live_batch_id"), "since": row.get("live_since")}
               if row.get("live_model_version") else None,
               "traffic": json.loads(row.get("traffic") or "{}"), "scoring_uri": row.get("scoring_uri") or None,
               "reason": row.get("reason") or None}
        if row["phase"] in ACTIVE:
            out["release"] = json.loads(row["candidate"]) | {"slot": row.get("slot")}
        if row.get("queued"):
            out["queued"] = json.loads(row["queued"])
        return out
