"""Blue/green releases of approved models, advanced one idempotent step at a time (approval, then each timer tick).

requested → provisioning (new slot at 0% traffic) → smoke test with a real validation image → shadowing (a share
of live traffic mirrored to the new slot, both answers compared) → [awaiting-approval, when the release went ahead
of the decision: RELEASE_SHADOW_ORDER=shadow-then-approve] → 100% to the new slot → baking (the old slot kept at
0%, the new one's health watched) → old slot removed → live. A deployment that fails, times out, fails its smoke
test or disagrees with the live model in the shadow step is removed and traffic stays on the old one; one that
fails while baking has traffic put back on the old slot in one step. Either way the model is marked
`deploy-failed` with the reason. One row per project in the releases table holds the endpoint's live slot and the
release in progress, under its ETag; each release that ends leaves one record beside it (`ReleaseRecord`), written
once.
"""

from __future__ import annotations

import json
import logging
import posixpath
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import logs
from shared.clock import from_iso, iso
from shared.dataset.manifest import iter_entries, load_manifest
from shared.pipeline.records import Records, ReleaseRecord, ReleaseState
from shared.ports import (
    ApprovalNotice,
    BlobStore,
    DeploymentSpec,
    ModelRegistry,
    NotFound,
    Notifier,
    OnlineEndpoints,
    PreconditionFailed,
    TableStore,
)
from shared.release_watch import (
    Limits,
    ShadowRules,
    SlotHealth,
    compare,
    health_of,
    health_problem,
    shadow_problem,
)
from shared.serving import served_runtime
from shared.settings import Settings

log = logging.getLogger(__name__)

ACTIVE = ("requested", "provisioning", "shadowing", "awaiting-approval", "baking")
NO_SHADOW = "not shadowed: RELEASE_SHADOW_PERCENT is 0"
FIRST_RELEASE = "not shadowed: the first release has no live traffic to mirror"
NO_DETECTION_MARGIN = 0.10
"""How much more often than the old model (in the shadow step) a new one may find nothing while baking."""


def other_slot(slot: str | None) -> str:
    return "green" if slot == "blue" else "blue"


class Release:
    def __init__(self, tables: TableStore, blobs: BlobStore, settings: Settings,
                 endpoints: Callable[[], OnlineEndpoints], registry: Callable[[], ModelRegistry],
                 notifier: Notifier | None = None) -> None:
        self.tables, self.blobs, self.settings = tables, blobs, settings
        self.records = Records(tables, settings)
        self.endpoints, self.registry, self.notifier = endpoints, registry, notifier

    def request(self, spec: DeploymentSpec, batch_id: str, now: datetime | None = None,
                approved: bool = True) -> str:
        """Queue a model for release; it starts at once unless another release is under way. Not `approved`
        (RELEASE_SHADOW_ORDER=shadow-then-approve): it goes as far as the shadow step and waits there for the
        decision; approving the version already on its way marks it approved instead of queueing it again."""
        now = now or datetime.now(UTC)
        runtime = spec.runtime or served_runtime(self.settings.serving_runtime, self._metrics(spec.model_folder))
        candidate = {"model_name": spec.model_name, "model_version": spec.model_version,
                     "model_folder": spec.model_folder, "batch_id": batch_id, "requested_at": iso(now),
                     "runtime": runtime, "approved": approved}
        if not approved:
            candidate["decide_by"] = iso(now + timedelta(hours=self.settings.approval_ttl_hours))
        for _ in range(10):
            row = self.records.release(spec.project)
            outcome = self._place(row, spec, json.dumps(candidate), approved)
            if outcome == "already" or self._save(row):
                log.info("release queued" if outcome == "queued" else "release requested",
                         extra={"project": spec.project, "model_version": spec.model_version, "batch_id": batch_id,
                                "outcome": outcome})
                return outcome
        raise RuntimeError(f"could not queue the release of {spec.project}: its row kept changing")

    @staticmethod
    def _place(row: ReleaseState, spec: DeploymentSpec, candidate: str, approved: bool) -> str:
        """Where the candidate goes in the row: approved in place, queued, or started; "already" changes nothing."""
        for field in ("candidate", "queued"):
            current = json.loads(getattr(row, field) or "{}")
            if (field == "queued" or row.phase in ACTIVE) and (current.get("model_name"), current.get(
                    "model_version")) == (spec.model_name, spec.model_version):
                if not approved or current.get("approved", True):
                    return "already"
                setattr(row, field, json.dumps(current | {"approved": True}))
                return "approved"
        if row.phase in ACTIVE:
            row.queued = candidate
            return "queued"
        row.phase, row.candidate, row.reason = "requested", candidate, ""
        return "requested"

    def _metrics(self, folder: str) -> dict[str, Any] | None:
        """The model's metrics.json (its exports decide the runtime); None when it cannot be read."""
        try:
            return json.loads(self.blobs.read(self.settings.models_container, f"{folder}/metrics.json").data)
        except (NotFound, ValueError):
            return None

    def start(self, spec: DeploymentSpec, batch_id: str, now: datetime | None = None,
              approved: bool = True) -> dict[str, Any]:
        """Queue a version and take its first step now (the timer takes the rest)."""
        outcome = self.request(spec, batch_id, now, approved)
        phase = self.advance(spec.project, now) if outcome in ("requested", "approved") else outcome
        return {"phase": phase, "endpoint": self.status(spec.project)}

    def restore(self, project: str) -> dict[str, str]:
        """Ask the endpoint for what the project's row says it holds — the live slot, the old slot while baking,
        the new slot of a release under way — and route as recorded; each slot's state. Azure's endpoints outlive
        the app (every call finds them ready); the local twin's die with local mode and come back here."""
        row, endpoints = self.records.release(project), self.endpoints()
        wanted = {}
        if row.live_model_version:
            wanted[row.live_slot] = (row.live_model_name, row.live_model_version, row.live_model_folder)
        if row.phase == "baking" and row.previous_slot:
            wanted[row.previous_slot] = (row.previous_model_name, row.previous_model_version,
                                         row.previous_model_folder)
        candidate = row.candidate_of()
        if row.phase in ("shadowing", "awaiting-approval") and row.slot:
            wanted[row.slot] = (candidate["model_name"], candidate["model_version"], candidate["model_folder"])
        states = {}
        for slot, (name, version, folder) in wanted.items():
            runtime = served_runtime(self.settings.serving_runtime, self._metrics(folder))
            states[slot] = endpoints.provision(DeploymentSpec(project, name, version, folder, runtime), slot)
        if wanted and all(state == "ready" for state in states.values()):
            mirror = {row.slot: self.settings.release_shadow_percent} if row.phase == "shadowing" else {}
            endpoints.route(project, json.loads(row.traffic or "{}") or {row.live_slot: 100}, mirror)
        return states

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
            if row.phase == "shadowing":
                return self._shadow(row, spec, candidate, now)
            if row.phase == "baking":
                return self._bake(row, spec, candidate, now)
            if row.phase == "awaiting-approval":
                return self._await_approval(row, spec, candidate, now)
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
            if self.settings.release_shadow_percent and row.live_slot:
                return self._start_shadow(row, now)
            if not candidate.get("approved", True):  # ahead of its decision, with no shadow step: it waits here
                self._record(project, phase="awaiting-approval", shadow=NO_SHADOW)
                return "awaiting-approval"
            return self._switch(row, spec, candidate, now, NO_SHADOW if row.live_slot else FIRST_RELEASE)

    def _limits(self) -> Limits:
        s = self.settings
        return Limits(max_error_share=s.release_max_error_share, max_p95_ms=s.release_max_p95_ms,
                      max_no_detection_share=s.release_max_no_detection_share, min_requests=s.release_min_requests)

    def _bake_limits(self, row: ReleaseState) -> Limits:
        """The limits while baking; answers with nothing found are judged against the old model's own share on the
        same traffic in the shadow step when there was one (a model as blind as the one it replaces is no
        regression: the soak's 30-step models found nothing in every image, both of them)."""
        limits = self._limits()
        shadow = json.loads(row.shadow) if row.shadow.startswith("{") else {}
        before = (shadow.get("live") or {}).get("no_detection_share")
        if isinstance(before, (int, float)) and (shadow.get("live") or {}).get("requests"):
            limits = replace(limits, max_no_detection_share=max(limits.max_no_detection_share,
                                                                min(1.0, before + NO_DETECTION_MARGIN)))
        return limits

    def _start_shadow(self, row: ReleaseState, now: datetime) -> str:
        """Copy a share of live traffic to the new slot; its answers are compared, never returned."""
        percent = self.settings.release_shadow_percent
        self.endpoints().route(row.project, json.loads(row.traffic or "{}") or {row.live_slot: 100},
                               {row.slot: percent})
        self._record(row.project, phase="shadowing", shadow_since=iso(now), shadow="")
        log.info("shadow started", extra={"slot": row.slot, "percent": percent, "live_slot": row.live_slot})
        return "shadowing"

    def _shadow(self, row: ReleaseState, spec: DeploymentSpec, candidate: dict[str, Any], now: datetime) -> str:
        """Compare the two slots' answers on the mirrored requests; at the end of the step, switch or stop."""
        s, since, endpoints = self.settings, from_iso(row.shadow_since), self.endpoints()
        figures = compare(endpoints.answers(spec.project, row.live_slot, since),
                          endpoints.answers(spec.project, row.slot, since))
        shown = figures.as_dict()
        if figures.paired < s.release_shadow_requests and now - since < timedelta(minutes=s.release_shadow_minutes):
            if json.dumps(shown) != row.shadow:
                self._record(spec.project, shadow=json.dumps(shown))
            return "shadowing"
        endpoints.route(spec.project, json.loads(row.traffic or "{}"), {})
        problem = shadow_problem(figures, self._limits(), ShadowRules(
            s.release_shadow_min_agreement, s.release_shadow_max_class_loss, s.release_shadow_min_class_objects))
        if not figures.paired:
            shown["verdict"] = (f"no live request was mirrored in {s.release_shadow_minutes:g} minutes: "
                                f"{'stopped' if s.release_shadow_without_traffic == 'stop' else 'switched'} "
                                f"(RELEASE_SHADOW_WITHOUT_TRAFFIC={s.release_shadow_without_traffic})")
            problem = shown["verdict"] if s.release_shadow_without_traffic == "stop" else None
        else:
            shown["verdict"] = f"stopped: {problem}" if problem else (
                f"switched: agreed on {figures.agreeing} of {figures.paired} mirrored requests")
        log.info("shadow ended", extra={"slot": row.slot, "paired": figures.paired, "agreement": figures.agreement,
                                        "verdict": shown["verdict"]})
        if problem:
            return self._roll_back(row, spec, candidate, f"shadow: {problem}", now, json.dumps(shown))
        if not candidate.get("approved", True):
            self._record(spec.project, phase="awaiting-approval", shadow=json.dumps(shown))
            return "awaiting-approval"
        return self._switch(row, spec, candidate, now, json.dumps(shown))

    def _await_approval(self, row: ReleaseState, spec: DeploymentSpec, candidate: dict[str, Any],
                        now: datetime) -> str:
        """Shadowed and waiting at 0%: approved, it switches; undecided past its link's expiry, it is removed."""
        if candidate.get("approved", True):
            return self._switch(row, spec, candidate, now, row.shadow)
        if candidate.get("decide_by") and now >= from_iso(candidate["decide_by"]):
            return self._roll_back(row, spec, candidate, "no decision before the approval link expired", now,
                                   row.shadow, failed=False)
        return "awaiting-approval"

    def withdraw(self, project: str, version: str, reason: str, now: datetime | None = None) -> str | None:
        """A rejected version leaves the release path: dropped from the queue, or its slot removed if it went
        ahead of the decision (shadow-then-approve). None when it was not on its way."""
        now = now or datetime.now(UTC)
        row = self.records.release(project)
        if json.loads(row.queued or "{}").get("model_version") == version:
            self._record(project, queued="")
            return "dropped from the queue"
        candidate = row.candidate_of()
        if row.phase not in ACTIVE or candidate.get("model_version") != version or candidate.get("approved", True):
            return None
        spec = DeploymentSpec(project, candidate["model_name"], version, candidate["model_folder"],
                              candidate.get("runtime", ""))
        if row.phase == "shadowing":
            self.endpoints().route(project, json.loads(row.traffic or "{}"), {})
        with logs.correlation(project=project, batch_id=candidate["batch_id"], model_version=version):
            return self._roll_back(row, spec, candidate, reason, now, row.shadow, failed=False)

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

    def _switch(self, row: ReleaseState, spec: DeploymentSpec, candidate: dict[str, Any], now: datetime,
                shadow: str) -> str:
        """All traffic to the new slot. With a previous slot and a bake time, the old slot stays at 0% while the
        new one is watched; otherwise the release ends here."""
        endpoints, old, new = self.endpoints(), row.live_slot, row.slot
        endpoints.route(spec.project, {new: 100} | ({old: 0} if old else {}))
        scoring_uri = endpoints.describe(spec.project).get("scoring_uri", "")
        baking = bool(old) and self.settings.release_bake_minutes > 0
        self._record(spec.project, phase="baking" if baking else "live", live_slot=new,
                     live_model_name=spec.model_name, live_model_version=spec.model_version,
                     live_model_folder=spec.model_folder, live_batch_id=candidate["batch_id"], live_since=iso(now),
                     traffic=json.dumps({new: 100} | ({old: 0} if old else {})), reason="", slot="",
                     scoring_uri=scoring_uri, shadow=shadow, health="", previous_slot=old,
                     previous_model_name=row.live_model_name, previous_model_version=row.live_model_version,
                     previous_model_folder=row.live_model_folder, previous_batch_id=row.live_batch_id,
                     previous_since=row.live_since)
        self.registry().set_state(spec.model_name, spec.model_version, "deployed")
        self.records.record_run(spec.project, candidate["batch_id"], now, model_state="deployed",
                                deployed_at=iso(now), slot=new)
        if baking:
            log.info("release switched, baking", extra={"slot": new, "previous_slot": old,
                                                        "minutes": self.settings.release_bake_minutes})
            return "baking"
        return self._finish(self.records.release(spec.project), spec, candidate, now)

    def _bake(self, row: ReleaseState, spec: DeploymentSpec, candidate: dict[str, Any], now: datetime) -> str:
        """Watch the new slot's answers since the switch: past a limit, traffic goes back; after the bake, the
        old slot goes."""
        switched = from_iso(row.live_since)
        health = health_of(self.endpoints().answers(spec.project, row.live_slot, switched))
        problem = health_problem(health, self._bake_limits(row))
        if problem:
            return self._roll_back_live(row, spec, candidate, problem, health, now)
        if now - switched >= timedelta(minutes=self.settings.release_bake_minutes):
            row.health = json.dumps(health.as_dict())
            return self._finish(row, spec, candidate, now)
        if json.dumps(health.as_dict()) != row.health:
            self._record(spec.project, health=json.dumps(health.as_dict()))
        return "baking"

    def _finish(self, row: ReleaseState, spec: DeploymentSpec, candidate: dict[str, Any], now: datetime) -> str:
        """The new slot keeps all traffic: the old slot is removed, its model retired, the new one crowned."""
        old, previous = row.previous_slot, (row.previous_model_name, row.previous_model_version,
                                            row.previous_batch_id)
        if old:
            self.endpoints().remove(spec.project, old)
        self._record(spec.project, phase="live", traffic=json.dumps({row.live_slot: 100}), health=row.health,
                     previous_slot="", previous_model_name="", previous_model_version="", previous_model_folder="",
                     previous_batch_id="", previous_since="")
        if previous[1] and previous[:2] != (spec.model_name, spec.model_version):
            self.registry().set_state(previous[0], previous[1], "retired")
            if previous[2]:
                self.records.record_run(spec.project, previous[2], now, model_state="retired", retired_at=iso(now))
        self._crown(spec.project, spec.model_folder)
        self._keep_record(spec, candidate, "live", "", now, slot=row.live_slot, live_from=row.live_since,
                          previous_model_version=previous[1] or "", shadow=row.shadow, health=row.health)
        log.info("release live", extra={"slot": row.live_slot, "previous_slot": old, "model_name": spec.model_name})
        return "live"

    def _roll_back(self, row: ReleaseState, spec: DeploymentSpec, candidate: dict[str, Any], reason: str,
                   now: datetime, shadow: str = "", failed: bool = True) -> str:
        """Traffic never moved: remove the new slot and say why; the live model keeps serving. `failed`: the model
        is marked deploy-failed (not when a person rejected it, or never decided)."""
        if row.slot:
            self.endpoints().remove(spec.project, row.slot)
        self._record(spec.project, phase="rolled-back", reason=reason, slot="", shadow=shadow)
        if failed:
            self.registry().set_state(spec.model_name, spec.model_version, "deploy-failed")
        self.records.record_run(spec.project, candidate["batch_id"], now, deploy_reason=reason,
                                **({"model_state": "deploy-failed"} if failed else {}))
        self._keep_record(spec, candidate, "rolled-back", reason, now, slot=row.slot,
                          shadow=shadow or (NO_SHADOW if row.live_slot else FIRST_RELEASE))
        log.error("release rolled back", extra={"reason": reason, "live_slot": row.live_slot,
                                                 "live_model_version": row.live_model_version})
        if failed:
            self._tell(spec, f"Not released: {spec.model_name} version {spec.model_version}", reason, [
                ("Project", spec.project), ("Still serving", f"version {row.live_model_version} on {row.live_slot}"
                                            if row.live_model_version else "nothing yet")])
        return "rolled-back"

    def _roll_back_live(self, row: ReleaseState, spec: DeploymentSpec, candidate: dict[str, Any], problem: str,
                        health: SlotHealth, now: datetime) -> str:
        """The new slot failed while baking: all traffic back to the old slot in one step, then the new one goes."""
        endpoints, new, old = self.endpoints(), row.live_slot, row.previous_slot
        endpoints.route(spec.project, {old: 100, new: 0})
        back = datetime.now(UTC)
        reason = f"rolled back {(now - from_iso(row.live_since)).total_seconds():.0f} s after the switch: {problem}"
        self._record(spec.project, phase="rolled-back", reason=reason, live_slot=old,
                     live_model_name=row.previous_model_name, live_model_version=row.previous_model_version,
                     live_model_folder=row.previous_model_folder, live_batch_id=row.previous_batch_id,
                     live_since=row.previous_since, traffic=json.dumps({old: 100}), health=json.dumps(
                         health.as_dict()), previous_slot="", previous_model_name="", previous_model_version="",
                     previous_model_folder="", previous_batch_id="", previous_since="")
        endpoints.remove(spec.project, new)
        self.registry().set_state(spec.model_name, spec.model_version, "deploy-failed")
        self.records.record_run(spec.project, candidate["batch_id"], now, model_state="deploy-failed",
                                deploy_reason=reason)
        if row.previous_batch_id:
            self.records.record_run(spec.project, row.previous_batch_id, now, model_state="deployed", slot=old)
        self._keep_record(spec, candidate, "rolled-back", reason, now, slot=new, live_from=row.live_since,
                          previous_model_version=row.previous_model_version, shadow=row.shadow,
                          health=json.dumps(health.as_dict()))
        restored = (back - from_iso(health.first_failure)).total_seconds() if health.first_failure else None
        log.error("release rolled back after the switch", extra={
            "reason": reason, "live_slot": old, "live_model_version": row.previous_model_version,
            "seconds_from_first_failure": None if restored is None else round(restored, 1)})
        self._tell(spec, f"Rolled back: {spec.model_name} version {spec.model_version}", reason, [
            ("Project", spec.project), ("Serving again", f"version {row.previous_model_version} on {old}"),
            ("Requests", str(health.requests)), ("Failed", str(health.errors)),
            ("p95", f"{health.p95_ms} ms")])
        return "rolled-back"

    def _tell(self, spec: DeploymentSpec, title: str, summary: str, facts: list[tuple[str, str]]) -> None:
        """The approval channel hears about a rollback; a channel that is down does not stop it."""
        if self.notifier is None:
            return
        link = self.settings.public_url(f"/api/releases/{spec.project}")
        try:
            self.notifier.notify(ApprovalNotice(title=title, summary=summary, facts=facts, link=link,
                                                action="Open the release records"))
        except Exception as exc:
            log.warning("release notice not sent", extra={"error": str(exc)})

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
            **fields))

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
            out["release"] = row.candidate_of() | {"slot": row.slot or row.live_slot}
        if row.shadow:
            out["shadow"] = json.loads(row.shadow) if row.shadow.startswith("{") else {"verdict": row.shadow}
        if row.health:
            out["health"] = json.loads(row.health)
        if row.phase == "baking":
            out["baking"] = {"previous_slot": row.previous_slot, "previous_model_version": row.previous_model_version,
                             "until": iso(from_iso(row.live_since) + timedelta(
                                 minutes=self.settings.release_bake_minutes))}
        if row.queued:
            out["queued"] = json.loads(row.queued)
        return out
