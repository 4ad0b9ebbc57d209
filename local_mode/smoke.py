"""The post-deployment smoke test: one tiny dataset through the whole service, every wait bounded and named.

`python -m local_mode smoke --azure` runs it against the deployment `azd up` made (names from azd's environment);
without `--azure` it runs against a local twin (`python -m local_mode serve`). Steps: upload a generated dataset
into the datasets container as a labeller would → Event Grid records the uploads → the debounce timer flushes and
submits one training run (its studio link is shown) → the run ends → gates → registration → a person approves
(the link was posted to the approval channel; `--approval-link` lets a script do it) → the release goes live →
the endpoint answers a held-out image with its key and refuses it without. `--cleanup` removes what it created.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from azure.core.pipeline import Pipeline
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest

from local_mode import demo_data
from shared.adapters.scoring import score_on_slot
from shared.ledger import is_dataset_file
from shared.pipeline.records import ended as run_ended
from shared.ports import BlobStore

QUEUED = {"Submitted", "NotStarted", "Queued", "Preparing", "Provisioning", "Starting"}
"""Run statuses before the training code starts: a run that stays in them waits for machines."""


@dataclass(frozen=True)
class QueueReason:
    """Why a run waits for machines, as the target found it; `blocking`: it cannot start until someone acts."""

    message: str
    blocking: bool


class SmokeFailure(RuntimeError):
    """A step did not happen in time, or happened wrongly; the message says which and what was seen."""


class Target(Protocol):
    """Where the smoke test runs: the deployed service on Azure, or a local twin."""

    blobs: BlobStore
    datasets_container: str
    transport: Any
    """azure-core transport of its HTTP calls (None: the network)."""

    def status(self, project: str) -> dict[str, Any]: ...

    def endpoint_key(self, project: str) -> str: ...

    def studio_link(self, job_name: str) -> str | None: ...

    def remove_deployment(self, project: str, model_name: str | None) -> list[str]: ...


def http_json(method: str, url: str, *, body: bytes | None = None, headers: dict[str, str] | None = None,
              transport: Any = None, timeout: float = 30) -> tuple[int, Any]:
    """One HTTP call through azure-core (so tests can stand in for Azure); the status and the decoded JSON."""
    request = HttpRequest(method, url, content=body, headers=headers or {})
    with Pipeline(transport or RequestsTransport(), policies=[]) as pipeline:
        response = pipeline.run(request, connection_timeout=timeout, read_timeout=timeout).http_response
        response.read()
    try:
        return response.status_code, json.loads(response.content or b"null")
    except ValueError:
        return response.status_code, response.content.decode(errors="replace")


@dataclass
class FunctionApp:
    """The function app's HTTP routes: base URL (…/api) and, on Azure, its function key."""

    base_url: str
    key: str | None = None
    transport: Any = None

    def get(self, route: str) -> dict[str, Any]:
        code = {"x-functions-key": self.key} if self.key else {}
        status, body = http_json("GET", f"{self.base_url.rstrip('/')}/{route}", headers=code,
                                 transport=self.transport)
        if status != 200:
            raise SmokeFailure(f"GET /{route} answered {status}: {str(body)[:300]}")
        return body


@dataclass
class Step:
    name: str
    seconds: float
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Smoke:
    target: Target
    project: str = field(default_factory=lambda: "smoke-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S"))
    images: int = 60
    timeouts: dict[str, float] = field(default_factory=dict)
    approval_link: str | None = None
    say: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)
    poll: float = 5.0
    queue_check: float = 300.0
    """Seconds a run may wait for machines before the target is asked why (quota, cluster state)."""
    steps: list[Step] = field(default_factory=list)
    sleep: Callable[[float], None] = time.sleep

    DEFAULT_TIMEOUTS = {"events": 600, "submission": 1800, "training": 4 * 3600, "approval": 3600,
                        "release": 3600}

    def timeout(self, name: str) -> float:
        return self.timeouts.get(name, self.DEFAULT_TIMEOUTS[name])

    def run(self) -> dict[str, Any]:
        """Every step in order; SmokeFailure names the first one that did not hold."""
        files = self.upload()
        self.wait_for_events(sum(1 for name in files if is_dataset_file(f"{self.project}/{name}")))
        run = self.wait_for_run()
        run = self.wait_for_gates(run)
        self.wait_for_approval(run)
        endpoint = self.wait_for_release(run)
        self.check_endpoint(endpoint, run)
        return self.summary(run, endpoint)

    # -- the steps ---------------------------------------------------------------------------------------------

    def upload(self) -> dict[str, bytes]:
        started = time.monotonic()
        files = demo_data.vott_export(self.images, seed=hash(self.project) % 10_000)
        self.target.blobs.ensure_container(self.target.datasets_container)
        for name, data in files.items():
            self.target.blobs.write(self.target.datasets_container, f"{self.project}/{name}", data)
        self.say(f"[smoke] uploaded {len(files)} files ({self.images} images, VoTT's Pascal VOC layout) to "
                 f"{self.target.datasets_container}/{self.project}/")
        self._step("upload", started, files=len(files))
        return files

    def wait_for_events(self, expected: int) -> None:
        def recorded() -> dict | None:
            status = self.target.status(self.project)
            seen = status["pending"]["changes"] + sum(r.get("changes") or 0 for r in status["runs"])
            self._progress("events", f"Event Grid → ledger: {seen} of {expected} images and annotations recorded")
            return status if seen >= expected or status["runs"] or status["window"]["phase"] != "idle" else None

        self._wait("events", "Event Grid to deliver the uploads to the blob_events webhook", recorded)

    def wait_for_run(self) -> dict[str, Any]:
        def submitted() -> dict | None:
            status = self.target.status(self.project)
            window = status["window"]
            self._progress("submission", f"debounce: {window['next']} ({window['reason'].split(';')[0]})")
            return status["runs"][0] if status["runs"] else None

        run = self._wait("submission", "the debounce timer to flush the upload and submit a training run", submitted)
        job = run.get("job_name") or run["batch_id"]
        link = self.target.studio_link(job)
        self.say(f"[smoke] training run {job} submitted" + (f": {link}" if link else ""))

        queued_since, explained = time.monotonic(), False

        def ended() -> dict | None:
            nonlocal explained
            current = next(r for r in self.target.status(self.project)["runs"] if r["batch_id"] == run["batch_id"])
            self._progress("training", f"run {job}: {current['status']}")
            if (current["status"] in QUEUED and not explained
                    and time.monotonic() - queued_since >= self.queue_check):
                explained = True
                self._explain_queue(job)
            return current if run_ended(current["status"]) else None

        run = self._wait("training", f"training run {job} to end", ended)
        if run["status"] != "Completed":
            raise SmokeFailure(f"training run {job} ended {run['status']}: {run.get('reason', 'no reason given')}")
        return run

    def _explain_queue(self, job: str) -> None:
        """A run still waiting for machines: the target says why; one nobody can fix by waiting ends the test."""
        explain = getattr(self.target, "explain_queue", None)
        reason = explain(job) if explain else None
        if reason is None:
            return
        self.say(f"[smoke]   run {job} is still waiting for machines: {reason.message}")
        if reason.blocking:
            raise SmokeFailure(f"training run {job} cannot start: {reason.message}")

    def wait_for_gates(self, run: dict[str, Any]) -> dict[str, Any]:
        reasons = run.get("gate_reasons") or []
        if not run.get("gates_passed"):
            raise SmokeFailure(f"run {run['batch_id']} failed its release gates: {'; '.join(reasons)}")
        if not run.get("model_version"):
            raise SmokeFailure(f"run {run['batch_id']} passed its gates but no model version was registered")
        self.say(f"[smoke] gates passed (mAP@0.5 {run.get('map_50')}); registered {run['model_name']} version "
                 f"{run['model_version']}")
        return run

    def wait_for_approval(self, run: dict[str, Any]) -> None:
        version = run["model_version"]
        if self.approval_link:
            status, body = http_json("POST", self.approval_link, body=json.dumps(
                {"approver": "smoke test", "comment": f"smoke test of {self.project}"}).encode(),
                headers={"Content-Type": "application/json"}, transport=self.target.transport)
            if status != 200:
                raise SmokeFailure(f"the approval link answered {status}: {str(body)[:300]}")
        else:
            self.say(f"[smoke] approve {run['model_name']} version {version}: open the link posted to the approval "
                     f"channel (lost it? python -m local_mode approval-link --model {run['model_name']} --version "
                     f"{version}), or pass --approval-link")

        def decided() -> dict | None:
            current = next(r for r in self.target.status(self.project)["runs"] if r["batch_id"] == run["batch_id"])
            state = current.get("model_state", "pending-approval")
            self._progress("approval", f"{run['model_name']} version {version}: {state}")
            return current if state not in ("pending-approval", None) else None

        decided_run = self._wait("approval", f"a person to approve version {version}", decided)
        if decided_run["model_state"] == "rejected":
            raise SmokeFailure(f"version {version} was rejected by {decided_run.get('approver')}")

    def wait_for_release(self, run: dict[str, Any]) -> dict[str, Any]:
        version = str(run["model_version"])

        def live() -> dict | None:
            endpoint = self.target.status(self.project).get("endpoint") or {}
            self._progress("release", f"release of version {version}: {endpoint.get('phase', 'not started')}")
            if endpoint.get("phase") == "rolled-back":
                raise SmokeFailure(f"the release of version {version} was rolled back: {endpoint.get('reason')}")
            serving = str((endpoint.get("live_model") or {}).get("version"))
            return endpoint if endpoint.get("phase") == "live" and serving == version else None

        endpoint = self._wait("release", f"version {version} to go live (blue/green, smoke-tested)", live)
        self.say(f"[smoke] version {version} live on {endpoint['live_slot']} at {endpoint['scoring_uri']}")
        return endpoint

    def check_endpoint(self, endpoint: dict[str, Any], run: dict[str, Any]) -> None:
        started = time.monotonic()
        image, _ = demo_data.make_scene(random.Random(7), 128, 2)
        body = demo_data.jpeg_bytes(image)
        key = self.target.endpoint_key(self.project)
        slot = endpoint["live_slot"]
        transport = self.target.transport
        status, answer = score_on_slot(endpoint["scoring_uri"], key, slot, body, "image/jpeg", transport=transport)
        if status != 200:
            raise SmokeFailure(f"the endpoint answered {status} with its key: {answer[:300]!r}")
        detections = json.loads(answer)
        if str(detections["model"]["version"]) != str(run["model_version"]):
            raise SmokeFailure(f"the endpoint answered with version {detections['model']['version']}")
        refused, _ = score_on_slot(endpoint["scoring_uri"], "not-the-key", slot, body, "image/jpeg",
                                   transport=transport)
        if refused not in (401, 403):
            raise SmokeFailure(f"the endpoint answered {refused} to a request without its key (expected 401)")
        self.say(f"[smoke] the endpoint answered with its key ({len(detections['detections'])} detections) and "
                 f"refused a wrong key ({refused})")
        self._step("endpoint", started, with_key=status, without_key=refused,
                   detections=len(detections["detections"]))

    def cleanup(self, model_name: str | None = None) -> list[str]:
        """Remove the uploaded files and, on Azure, the smoke project's endpoint and model versions."""
        removed = [f"{self.target.datasets_container}/{b.name}"
                   for b in self.target.blobs.list(self.target.datasets_container, f"{self.project}/")]
        for name in removed:
            self.target.blobs.delete(self.target.datasets_container, name.split("/", 1)[1])
        removed += self.target.remove_deployment(self.project, model_name)
        self.say(f"[smoke] cleaned up: {len(removed)} files and resources")
        return removed

    # -- waiting -----------------------------------------------------------------------------------------------

    def _wait(self, name: str, what: str, probe: Callable[[], dict | None]) -> dict:
        started, limit = time.monotonic(), self.timeout(name)
        self.say(f"[smoke] waiting (at most {limit:.0f} s) for {what}")
        self._last = ""
        while True:
            result = probe()
            if result is not None:
                self._step(name, started)
                return result
            if time.monotonic() - started > limit:
                raise SmokeFailure(f"gave up after {limit:.0f} s waiting for {what} (last seen: {self._last})")
            self.sleep(self.poll)

    def _progress(self, name: str, line: str) -> None:
        if line != getattr(self, "_last", ""):
            self.say(f"[smoke]   {line}")
            self._last = line

    def _step(self, name: str, started: float, **detail: Any) -> None:
        self.steps.append(Step(name, round(time.monotonic() - started, 1), detail))

    def summary(self, run: dict[str, Any], endpoint: dict[str, Any]) -> dict[str, Any]:
        return {"project": self.project, "ok": True, "batch_id": run["batch_id"], "job_name": run.get("job_name"),
                "model": {"name": run["model_name"], "version": run["model_version"]},
                "scoring_uri": endpoint["scoring_uri"], "live_slot": endpoint["live_slot"],
                "steps": [s.__dict__ for s in self.steps]}
