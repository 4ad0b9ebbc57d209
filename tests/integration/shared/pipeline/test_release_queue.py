"""A release approved while another is under way waits its turn, and is not lost when the first one finishes."""

from __future__ import annotations

import json
import uuid

from shared.pipeline.release import Release
from shared.ports import DeploymentSpec


class Endpoints:
    """Stands in for an endpoint whose deployments come up at once and answer as the given version."""

    def __init__(self):
        self.live, self.during_smoke_test = {}, []

    def provision(self, spec, slot):
        self.live[slot] = spec.model_version
        return "ready"

    def invoke(self, project, slot, body, content_type):
        while self.during_smoke_test:
            self.during_smoke_test.pop()()
        return 200, json.dumps({"model": {"version": self.live[slot]}, "detections": []}).encode()

    def route(self, project, traffic):
        pass

    def remove(self, project, slot):
        self.live.pop(slot, None)

    def describe(self, project):
        return {"scoring_uri": "http://127.0.0.1/score"}


class Registry:
    def __init__(self):
        self.states = {}

    def set_state(self, name, version, state):
        self.states[version] = state


def test_a_release_queued_during_another_is_kept_and_started_next(settings, blob_store, table_store):
    suffix = uuid.uuid4().hex[:6]
    settings = settings.with_overrides(releases_table=f"rel{suffix}", runs_table=f"runs{suffix}",
                                       state_table=f"state{suffix}")
    for table in (settings.runs_table, settings.state_table):
        table_store.ensure_table(table)
    blob_store.write(settings.datasets_container, "p/a.jpg", b"jpeg bytes")
    blob_store.write(settings.manifests_container, "p/m.json", json.dumps({
        "source": {"container": settings.datasets_container},
        "images": [{"split": "validation", "objects": [{"name": "x"}], "image": {"name": "p/a.jpg"}}]}).encode())
    for batch in ("b1", "b2"):
        table_store.upsert(settings.runs_table, {"PartitionKey": "p", "RowKey": batch, "manifest": "p/m.json"})
    registry = Registry()
    endpoints = Endpoints()
    releases = Release(table_store, blob_store, settings, lambda: endpoints, lambda: registry)
    queued = []
    endpoints.during_smoke_test.append(lambda: queued.append(
        releases.request(DeploymentSpec("p", "m", "2", "p/b2/model"), "b2")))  # approved while version 1 deploys

    assert releases.request(DeploymentSpec("p", "m", "1", "p/b1/model"), "b1") == "requested"
    assert releases.advance("p") == "live" and queued == ["queued"]
    status = releases.status("p")
    assert status["live_model"]["version"] == "1" and status["queued"]["model_version"] == "2"
    releases.advance_all()
    status = releases.status("p")
    assert status["live_model"]["version"] == "2" and status["live_slot"] == "green" and "queued" not in status
    assert registry.states == {"1": "retired", "2": "deployed"}
