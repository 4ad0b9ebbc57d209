"""Wiring for the event-core tests: the function app's services on Azurite with the local trainer twin."""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from function_app import bootstrap
from local_mode.loop import LocalLoop


class Core:
    """The pieces a test drives: local mode's loop (the real handlers, the local event source, the local trainer
    twin) on this test's settings, plus direct access to the state it leaves."""

    def __init__(self, settings, work_dir):
        self.loop = LocalLoop(settings, "http://127.0.0.1/devstoreaccount1", work_dir, say=lambda _: None)
        self.settings, self.blobs, self.tables = settings, self.loop.blobs, self.loop.tables
        self.backend, self.services, self.source = self.loop.backend, self.loop.services, self.loop.source
        self.post_blob_events, self.deliver_run_events = self.loop.deliver_blob_events, self.loop.deliver_run_events
        self.blobs.ensure_container(settings.datasets_container)

    def configure(self, **overrides) -> None:
        """Change settings for everything wired here (scheduler, handlers, trainer twin) at once."""
        self.settings = self.settings.with_overrides(**overrides)
        self.loop.settings = self.backend.settings = self.services.settings = self.settings

    def upload(self, project: str, files: dict[str, bytes]) -> None:
        for relative, data in files.items():
            self.blobs.write(self.settings.datasets_container, f"{project}/{relative}", data)

    def submit(self, **overrides):
        return bootstrap.Services(self.settings, overrides.get("blobs", self.blobs),
                                  overrides.get("tables", self.tables),
                                  overrides.get("backend", self.backend)).submit()

    def tick(self, project: str, after_seconds: float = 0, **overrides):
        return self.submit(**overrides).tick(project, datetime.now(UTC) + timedelta(seconds=after_seconds))

    def state(self, project: str) -> dict:
        return self.submit().records.project(project).to_entity()

    def runs(self, project: str) -> list[dict]:
        return list(self.tables.query(self.settings.runs_table, project))


def trainer_command(code: str) -> str:
    return f"{sys.executable} -c '{code}'"


@pytest.fixture
def core(settings, table_store, tmp_path):
    suffix = uuid.uuid4().hex[:8]
    settings = settings.with_overrides(
        ledger_table=f"ledger{suffix}", state_table=f"state{suffix}", runs_table=f"runs{suffix}",
        quiet_seconds=60, max_wait_seconds=600, min_new_images=1, max_runs_per_day=5,
        training_backend="local", local_trainer_command=trainer_command("import sys; sys.exit(0)"),
        base_model="base-models/tiny", train_steps=10, train_batch_size=2,
    )
    for table in (settings.ledger_table, settings.state_table, settings.runs_table):
        table_store.ensure_table(table)
    wired = Core(settings, tmp_path)
    bootstrap.use(wired.services)
    yield wired
    wired.loop.close()
    bootstrap.use(None)
