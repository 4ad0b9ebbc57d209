"""Wiring for the event-core tests: the function app's services on Azurite with the local trainer twin."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, datetime, timedelta

import azure.functions as func
import pytest

from function_app import bootstrap
from local_mode.event_source import BlobEventSource
from shared.adapters.local_training import LocalTraining
from tests.function_host import handler, http_request


class Core:
    """The pieces a test drives: upload blobs, deliver events through the real handlers, tick the timer."""

    def __init__(self, settings, blobs, tables, work_dir):
        self.settings, self.blobs, self.tables = settings, blobs, tables
        self.backend = LocalTraining(blobs, settings, work_dir, on_events=self.deliver_run_events)
        self.services = bootstrap.Services(settings, blobs, tables, self.backend)
        self.source = BlobEventSource(blobs, settings.datasets_container, "http://127.0.0.1/devstoreaccount1",
                                      self.post_blob_events)
        blobs.ensure_container(settings.datasets_container)

    def upload(self, project: str, files: dict[str, bytes]) -> None:
        for relative, data in files.items():
            self.blobs.write(self.settings.datasets_container, f"{project}/{relative}", data)

    def post_blob_events(self, events: list[dict], cloud: bool = False) -> func.HttpResponse:
        response = handler("blob_events")(http_request("POST", "/api/events/blobs", body=json.dumps(events).encode()))
        if response.status_code != 200:
            raise RuntimeError(f"blob_events answered {response.status_code}: {response.get_body()!r}")
        return response

    def deliver_run_events(self, events: list[dict]) -> None:
        for e in events:
            handler("run_events")(func.EventGridEvent(
                id=e["id"], data=e["data"], topic=e["topic"], subject=e["subject"], event_type=e["eventType"],
                event_time=datetime.now(UTC), data_version=e["dataVersion"]))

    def scheduler(self, **overrides):
        return bootstrap.Services(self.settings, overrides.get("blobs", self.blobs),
                                  overrides.get("tables", self.tables),
                                  overrides.get("backend", self.backend)).scheduler()

    def tick(self, project: str, after_seconds: float = 0, **overrides):
        return self.scheduler(**overrides).tick(project, datetime.now(UTC) + timedelta(seconds=after_seconds))

    def state(self, project: str) -> dict:
        return self.scheduler().load_state(project)

    def runs(self, project: str) -> list[dict]:
        return list(self.tables.query(self.settings.runs_table, project))


def trainer_command(code: str) -> str:
    return f"{sys.executable} -c '{code}'"


@pytest.fixture
def core(settings, blob_store, table_store, tmp_path):
    suffix = uuid.uuid4().hex[:8]
    settings = settings.with_overrides(
        ledger_table=f"ledger{suffix}", state_table=f"state{suffix}", runs_table=f"runs{suffix}",
        quiet_seconds=60, max_wait_seconds=600, min_new_images=1, max_runs_per_day=5,
        training_backend="local", local_trainer_command=trainer_command("import sys; sys.exit(0)"),
        base_model="base-models/tiny", train_steps=10, train_batch_size=2,
    )
    for table in (settings.ledger_table, settings.state_table, settings.runs_table):
        table_store.ensure_table(table)
    wired = Core(settings, blob_store, table_store, tmp_path)
    bootstrap.use(wired.services)
    yield wired
    bootstrap.use(None)
