"""The use cases wired on in-memory ports: storage fakes proven against Azurite (tests/contract), a training
backend, endpoints and a chat channel that record what they were asked, and a clock the test moves."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local_mode.demo_data import vott_export
from shared.adapters.storage_registry import StorageRegistry
from shared.clock import iso
from shared.events import BLOB_CREATED, BLOB_DELETED, RUN_STATUS_CHANGED, Envelope, RunEvent
from shared.pipeline.approve import Approve
from shared.pipeline.complete_run import CompleteRun
from shared.pipeline.ingest import Ingestor
from shared.pipeline.reconcile import Reconciler
from shared.pipeline.records import Records
from shared.pipeline.release import Release
from shared.pipeline.status import ProjectStatus
from shared.pipeline.submit import SubmitTraining
from shared.ports import ApprovalNotice
from shared.release_watch import Answer
from shared.settings import Settings
from shared.training import SERVICE_TAG, JobState, SubmittedRun, TrainingRequest, model_folder
from tests.fakes.memory import MemoryBlobStore, MemoryTableStore

START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
TOPIC = "/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/a"


class FakeTraining:
    """A training backend that starts nothing: jobs are claimed by name, as Azure ML and the local trainer do."""

    def __init__(self) -> None:
        self.jobs: dict[str, TrainingRequest] = {}
        self.submissions: list[str] = []
        self.cancelled: list[str] = []
        self.states: dict[str, JobState] = {}
        self.refuse: Exception | None = None

    def submit(self, request: TrainingRequest) -> SubmittedRun:
        self.submissions.append(request.job_name)
        if self.refuse is not None:
            raise self.refuse
        created = request.job_name not in self.jobs
        self.jobs.setdefault(request.job_name, request)
        return SubmittedRun(request.job_name, request.job_name, "Queued", created)

    def cancel(self, job_name: str) -> None:
        self.cancelled.append(job_name)

    def status(self, job_name: str) -> JobState:
        if job_name not in self.jobs:
            return JobState("Lost", "no such job")
        return self.states.get(job_name, JobState("Running"))


class FakeEndpoints:
    """Deployments that come up when told (`outcome`) and answer as the model version they serve."""

    def __init__(self) -> None:
        self.deployed: dict[str, str] = {}
        self.runtimes: dict[str, str] = {}
        self.traffic: dict[str, int] = {}
        self.outcome = "ready"
        self.answer_version: str | None = None
        self.during_smoke_test: list[Any] = []
        self.fail_route: Exception | None = None
        self.mirror: dict[str, int] = {}
        self.served: dict[str, list[Answer]] = {}
        self.removed: list[str] = []

    def provision(self, spec, slot: str) -> str:
        self.deployed[slot], self.runtimes[slot] = spec.model_version, spec.runtime
        return self.outcome

    def invoke(self, project: str, slot: str, body: bytes, content_type: str) -> tuple[int, bytes]:
        while self.during_smoke_test:
            self.during_smoke_test.pop()()
        version = self.answer_version or self.deployed[slot]
        return 200, json.dumps({"model": {"version": version}, "detections": []}).encode()

    def route(self, project: str, traffic: dict[str, int], mirror: dict[str, int] | None = None) -> None:
        if self.fail_route is not None:
            failure, self.fail_route = self.fail_route, None
            raise failure
        self.traffic, self.mirror = dict(traffic), dict(mirror or {})

    def answers(self, project: str, slot: str, since: datetime) -> list[Answer]:
        """What the test says the slot answered (`served`), from `since` on."""
        return [a for a in self.served.get(slot, []) if a.time >= iso(since)]

    def remove(self, project: str, slot: str) -> None:
        self.deployed.pop(slot, None)
        self.removed.append(slot)

    def describe(self, project: str) -> dict[str, Any]:
        return {"scoring_uri": f"https://{project}.example/score"}


class Chat:
    def __init__(self) -> None:
        self.notices: list[ApprovalNotice] = []

    def notify(self, notice: ApprovalNotice) -> None:
        self.notices.append(notice)


class Pipeline:
    """Every use case on the same in-memory stores; `now` is the clock every call is given."""

    def __init__(self, settings: Settings) -> None:
        self.settings, self.now = settings, START
        self.blobs, self.tables = MemoryBlobStore(), MemoryTableStore()
        self.training, self.endpoints, self.chat = FakeTraining(), FakeEndpoints(), Chat()
        self.registry = StorageRegistry(self.tables)
        self.blobs.ensure_container(settings.datasets_container)
        self._sequencer = itertools.count(1)
        self.rewire()

    def rewire(self, **overrides: Any) -> None:
        """(Re)build the use cases, e.g. after changing settings or wrapping a port."""
        self.settings = self.settings.with_overrides(**overrides)
        s, blobs, tables = self.settings, self.blobs, self.tables
        self.ingest = Ingestor(tables, s)
        self.submit = SubmitTraining(blobs, tables, self.training, s)
        self.release = Release(tables, blobs, s, lambda: self.endpoints, lambda: self.registry, self.chat)
        self.complete = CompleteRun(tables, s, blobs, lambda: self.registry, self.chat, lambda: self.release)
        self.approve = Approve(tables, s, blobs, self.chat, lambda: self.registry, lambda: self.release)
        self.reconcile = Reconciler(tables, s, self.training, self.complete)
        self.records = Records(tables, s)

    def later(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    # -- what people and services do ---------------------------------------------------------------------------

    def upload(self, project: str, files: dict[str, bytes], *, deliver: bool = True) -> list[Envelope]:
        """Write the files and hand their BlobCreated events to the ingest use case (as the webhook does)."""
        events = []
        for relative, data in files.items():
            name = f"{project}/{relative}"
            etag = self.blobs.write(self.settings.datasets_container, name, data)
            events.append(self.blob_event(BLOB_CREATED, name, etag, len(data)))
        if deliver:
            self.ingest.ingest(events, self.now)
        return events

    def delete(self, project: str, relative: str) -> None:
        name = f"{project}/{relative}"
        self.blobs.delete(self.settings.datasets_container, name)
        self.ingest.ingest([self.blob_event(BLOB_DELETED, name, None, 0)], self.now)

    def blob_event(self, kind: str, name: str, etag: str | None, size: int) -> Envelope:
        n = next(self._sequencer)
        return Envelope(id=f"ev-{n}", type=kind, source=TOPIC, time=iso(self.now),
                        subject=f"/blobServices/default/containers/{self.settings.datasets_container}/blobs/{name}",
                        data={"sequencer": f"{n:032x}", "eTag": etag, "contentLength": size})

    def train(self, project: str, images: int = 4, seed: int = 1, start: int = 0) -> str:
        """Upload a labelled export, let the window settle and tick: the job name of the run it started."""
        self.upload(project, vott_export(images, seed=seed, start=start, size=64))
        outcome = self.submit.tick(project, self.later(self.settings.quiet_seconds + 1))
        assert outcome.decision.action == "flush", outcome.decision
        return outcome.job_name

    def write_metrics(self, job: str, **metrics: Any) -> None:
        request = self.training.jobs[job]
        folder = model_folder(request.project, request.batch_id)
        self.blobs.write(self.settings.models_container, f"{folder}/metrics.json", json.dumps(
            {"dataset_version": request.dataset_version, "validation_images": 3, "per_class_ap": {}} | metrics
        ).encode())

    def end(self, job: str, status: str = "Completed", **properties: Any):
        """The run's end as its event would report it."""
        request = self.training.jobs[job]
        return self.complete.handle(self.run_event(job, status, request.project, request.batch_id, properties),
                                    self.later(60))

    def run_event(self, job: str, status: str, project: str, batch_id: str,
                  properties: dict[str, Any] | None = None) -> RunEvent:
        return RunEvent(f"run-{next(self._sequencer)}", RUN_STATUS_CHANGED, job, "tfod", status,
                        {SERVICE_TAG: "1", "project": project, "batch_id": batch_id}, properties or {})

    def state(self, project: str):
        return self.records.project(project)

    def model_state(self, model: str, version: str) -> str:
        """What the registry says of a model version (approved, deployed, retired, …)."""
        return self.tables.get(self.registry.table, model, f"{int(version):06d}")["state"]

    def run(self, project: str, batch_id: str | None = None):
        runs = self.records.runs(project)
        if batch_id is None:
            (only,) = runs
            return only
        return next(r for r in runs if r.batch_id == batch_id)

    def status(self, project: str) -> dict[str, Any]:
        return ProjectStatus(SubmitTraining(self.blobs, self.tables, None, self.settings), self.release).project(
            project, now=self.now)


@pytest.fixture
def pipeline() -> Pipeline:
    return Pipeline(Settings(
        training_backend="local", quiet_seconds=60, max_wait_seconds=600, min_new_images=1, max_runs_per_day=5,
        gate_min_validation_images=1, gate_max_regression=1.0, approval_secret="unit-test-secret",
        base_model="base-models/tiny", retry_backoff_seconds=120, max_run_attempts=3, reconcile_after_seconds=600,
        release_shadow_percent=0, release_bake_minutes=0,  # the shadow step's and the bake's tests turn them on
    ))
