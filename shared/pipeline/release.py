"""Blue/green releases of approved models, advanced one idempotent step at a time (approval, then each timer tick).

requested → provisioning (new slot at 0% traffic) → smoke test with a real validation image → 100% to the new
slot, old slot removed → live. A deployment that fails, times out or fails its smoke test is removed and
traffic stays on the old one; the model is marked `deploy-failed` with the reason. One row per project in the
releases table holds the endpoint's live slot and the release in progress, under its ETag; each release that ends
leaves one record beside it (`ReleaseRecord`), written once.
"""

from __future__ import annotations

import json
import logging
import posixpath
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import logs
from shared.clock import from_iso, iso
from shared.dataset.manifest import iter_entries, load_manifest
from shared.pipeline.records import Records, ReleaseRecord, ReleaseState
from shared.ports import (
    BlobStore,
    DeploymentSpec,
    ModelRegistry,
    NotFound,
    OnlineEndpoints,
    PreconditionFailed,
    TableStore,
)
from shared.serving import served_runtime
from shared.settings import Settings

log = logging.getLogger(__name__)

ACTIVE = ("requested", "provisioning")
NO_SHADOW = "not shadowed: traffic switches after the smoke test"


def other_slot(slot: str | None) -> str:
    return "green" if slot == "blue" else "blue"


class Release:
    def __init__(self, tables: TableStore, blobs: BlobStore, settings: Settings,
                 endpoints: Callable[[], OnlineEndpoints], registry: Callable[[], ModelRegistry]) -> None:
        self.tables, self.blobs, self.settings = tables, blobs, settings
        self.records = Records(tables, settings)
        self.endpoints, self.registry = endpoints, registry

    def request(self, spec: DeploymentSpec, batch_id: str, now: datetime | None = None) -> str:
        """Queue an approved model for release; it starts at once unless another release is under way."""
        now = now or datetime.now(UTC)
        runtime = spec.runtime or served_runtime(self.settings.serving_runtime, self._metrics(spec.model_folder))
        candidate = json.dumps({"model_name": spec.model_name, "model_version": spec.model_version,
                                "model_folder": spec.model_folder, "batch_id": batch_id, "requested_at": iso(now),
                                "runtime": runtime})
        for _ in range(10):
            row = self.records.release(spec.project)
            if row.phase in ACTIVE:
                row.queued, outcome = candidate, "queued"
            else:
                row.phase, row.candidate, row.reason, outcome = "requested", candidate, "", "requested"
            if self._save(row):
                log.info("release queued" if outcome == "queued" else "release requested",
                         extra={"project": spec.project, "model_version": spec.model_version, "batch_id": batch_id})
                return outcome
        raise RuntimeError(f"could not queue the release of {spec.project}: its row kept changing")

    def _metrics(self, folder: str) -> dict[str, Any] | None:
        """The model's metrics.json (its exports decide the runtime); None when it cannot be read."""
        try:
            return json.loads(self.blobs.read(self.settings.models_container, f"{folder}/metrics.json").data)
        except (NotFound, ValueError):
            return None

    def start(self, spec: DeploymentSpec, batch_id: str, now: datetime | None = None) -> dict[str, Any]:
        """Queue an approved version and take its first step now (the timer takes the rest)."""
        outcome = self.request(spec, batch_id, now)
        phase = self.advance(spec.project, now) if outcome == "requested" else outcome
        return {"phase": phase, "endpoint": self.status(spec.project)}

    def advance_all(self, now: datetime | None = None) -> None:
        for row in self.records.releases():
            if row.phase in ACTIVE or row.queued:
                self.advance(row.project, now)

    def advance(self, project: str, now: datetime | None = None) -> str:
        """Take the next step of the project's release; return its phase afterwards."""
        now = now or datetime.now(UTC)
        row = self.records.release(project)
        if row.phase not in ACTIVE and row.queued:
            row.phase, row.candidate, row.queued, row.reason = "requested", row.queued, "", ""
        if row.phase not in ACTIVE:
            return row.phase or "none"
        candidate = row.candidate_of()
        spec = DeploymentSpec(project, candidate["model_name"], candidate["model_version"], candidate["model_folder"],
                              candidate.get("runtime", ""))
        with logs.correlation(project=project, batch_id=candidate["batch_id"], model_version=spec.model_version):
            if row.phase == "requested":
                row.phase, row.slot, row.provisioning_since = "provisioning", other_slot(row.live_slot), iso(now)
                if not self._save(row):
                    return "busy"
                log.info("deployment started", extra={"slot": row.slot, "model_name": spec.model_name,
                                                      "runtime": spec.runtime})
            state = self.endpoints().provision(spec, row.slot)
            if state == "provisioning":
                limit = self.settings.deployment_timeout_minutes
                if now - from_iso(row.provisioning_since) < timedelta(minutes=limit):
                    return "provisioning"
                state = f"failed: not ready after {limit:g} minutes"
            if state.startswith("failed"):
                return self._roll_back(row, spec, candidate, state, now)
            problem = self._smoke_test(spec, row.slot, candidate["batch_id"])
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
        run = self.records.run(project, batch_id)
        if run is None or not run.manifest:
            raise KeyError(f"run {batch_id} has no manifest")
        container = self.settings.manifests_container
        manifest = load_manifest(self.blobs.read(container, run.manifest).data)
        folder = posixpath.dirname(run.manifest)
        entries = iter_entries(manifest, lambda rel: self.blobs.read(container, f"{folder}/{rel}").data)
        image = next(i for i in entries if i["split"] == "validation" and i["objects"])
        return image["image"]["name"], self.blobs.read(manifest["source"]["container"], image["image"]["name"]).data

    def _switch(self, row: ReleaseState, spec: DeploymentSpec, candidate: dict[str, Any], now: datetime) -> str:
        endpoints, old, new = self.endpoints(), row.live_slot, row.slot
        endpoints.route(spec.project, {new: 100} | ({old: 0} if old else {}))
        if old:
            endpoints.remove(spec.project, old)
        previous = (row.live_model_name, row.live_model_version, row.live_batch_id)
        scoring_uri = endpoints.describe(spec.project).get("scoring_uri", "")
        self._record(spec.project, phase="live", live_slot=new, live_model_name=spec.model_name,
                     live_model_version=spec.model_version, live_model_folder=spec.model_folder,
                     live_batch_id=candidate["batch_id"], live_since=iso(now), traffic=json.dumps({new: 100}),
                     reason="", slot="", scoring_uri=scoring_uri)
        self.registry().set_state(spec.model_name, spec.model_version, "deployed")
        if previous[1] and previous[:2] != (spec.model_name, spec.model_version):
            self.registry().set_state(previous[0], previous[1], "retired")
            if previous[2]:
                self.records.record_run(spec.project, previous[2], now, model_state="retired", retired_at=iso(now))
        self.records.record_run(spec.project, candidate["batch_id"], now, model_state="deployed",
                                deployed_at=iso(now), slot=new)
        self._crown(spec.project, spec.model_folder)
        self._keep_record(spec, candidate, "live", "", now, slot=new, live_from=iso(now),
                          previous_model_version=previous[1] or "")
        log.info("release live", extra={"slot": new, "previous_slot": old, "model_name": spec.model_name})
        return "live"

    def _roll_back(self, row: ReleaseState, spec: DeploymentSpec, candidate: dict[str, Any], reason: str,
                   now: datetime) -> str:
        """Traffic never moved: remove the new slot and say why; the live model keeps serving."""
        self.endpoints().remove(spec.project, row.slot)
        self._record(spec.project, phase="rolled-back", reason=reason, slot="")
        self.registry().set_state(spec.model_name, spec.model_version, "deploy-failed")
        self.records.record_run(spec.project, candidate["batch_id"], now, model_state="deploy-failed",
                                deploy_reason=reason)
        self._keep_record(spec, candidate, "rolled-back", reason, now, slot=row.slot)
        log.error("release rolled back", extra={"reason": reason, "live_slot": row.live_slot,
                                                 "live_model_version": row.live_model_version})
        return "rolled-back"

    def _keep_record(self, spec: DeploymentSpec, candidate: dict[str, Any], outcome: str, reason: str,
                     now: datetime, **fields: Any) -> None:
        """The release's record, written once as it ends: what was released from which run and data, its gates,
        who approved it, and how it ended."""
        run = self.records.run(spec.project, candidate["batch_id"])
        self.records.add_release_record(ReleaseRecord(
            record_id=ReleaseRecord.key(now, spec.model_version), project=spec.project, model_name=spec.model_name,
            model_version=spec.model_version, batch_id=candidate["batch_id"], runtime=spec.runtime,
            outcome=outcome, reason=reason, requested_at=candidate.get("requested_at", ""), ended_at=iso(now),
            dataset_version=(run and run.dataset_version) or "", gates_passed=run and run.gates_passed,
            gate_reasons=(run and run.gate_reasons) or "[]", approver=(run and run.approver) or "",
            approver_verified=run and run.approver_verified, approval_comment=(run and run.approval_comment) or "",
            shadow=NO_SHADOW, **fields))

    def _crown(self, project: str, model_folder: str) -> None:
        """The deployed model becomes the champion the next run is compared with (and warm-started from)."""
        def crown(state: Any) -> None:
            state.champion_model = model_folder

        self.records.change_project(project, crown, f"record the champion of {project}")

    def _record(self, project: str, **outcome: Any) -> None:
        """The outcome of an endpoint step that already happened: merged into the latest row, so a release
        queued meanwhile is kept."""
        def merge(row: ReleaseState) -> None:
            for name, value in outcome.items():
                setattr(row, name, value)

        self.records.change_release(project, merge, f"record the release of {project}")

    def _save(self, row: ReleaseState) -> bool:
        """Write under the row's ETag; False if someone else moved first (the next tick tries again)."""
        try:
            saved = self.records.save_release(row)
        except PreconditionFailed:
            return False
        row.etag = saved.etag
        return True

    def status(self, project: str) -> dict[str, Any] | None:
        row = self.records.release(project)
        if not row.phase:
            return None
        out = {"phase": row.phase, "live_slot": row.live_slot or None,
               "live_model": {"name": row.live_model_name, "version": row.live_model_version,
                              "batch_id": row.live_batch_id, "since": row.live_since}
               if row.live_model_version else None,
               "traffic": json.loads(row.traffic or "{}"), "scoring_uri": row.scoring_uri or None,
               "reason": row.reason or None}
        if row.phase in ACTIVE:
            out["release"] = row.candidate_of() | {"slot": row.slot}
        if row.queued:
            out["queued"] = json.loads(row.queued)
        return out
