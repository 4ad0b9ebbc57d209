"""The status endpoint, called as the host calls it, on a storage account where nothing was written yet."""

import uuid

import pytest

from function_app import bootstrap
from tests.function_host import handler, http_request, json_body

pytestmark = pytest.mark.azurite


@pytest.fixture
def fresh(settings, blob_store, table_store):
    """A deployment's first minutes: containers exist, the service's tables have never been written."""
    suffix = uuid.uuid4().hex[:8]
    settings = settings.with_overrides(ledger_table=f"l{suffix}", state_table=f"s{suffix}", runs_table=f"r{suffix}",
                                       releases_table=f"e{suffix}")
    bootstrap.use(bootstrap.Services(settings, blob_store, table_store))
    blob_store.write(settings.datasets_container, "birds/a.jpg", b"not yet seen by the timer")
    yield settings
    bootstrap.use(None)


def test_status_answers_before_the_first_upload_was_processed(fresh):
    one = handler("status")(http_request("GET", "/api/status/birds", route_params={"project": "birds"}))
    assert one.status_code == 200, one.get_body()
    body = json_body(one)
    assert body["window"]["phase"] == "idle" and body["runs"] == [] and body["pending"]["changes"] == 0
    every = handler("status")(http_request("GET", "/api/status"))
    assert every.status_code == 200 and [p["project"] for p in json_body(every)["projects"]] == ["birds"]


def test_status_answers_503_within_its_limit_while_storage_is_stalled(settings):
    """A storage account that stops answering (here: Azurite paused with SIGSTOP) costs the caller seconds, not a
    hung request; the answer says what happened."""
    import os
    import signal
    import time

    from local_mode.azurite import Azurite
    from shared.adapters.azure_storage import AzureBlobStore, AzureTableStore

    with Azurite() as own:
        stalled = settings.with_overrides(storage_connection_string=own.connection_string, request_timeout_seconds=2)
        blobs, tables = AzureBlobStore.from_settings(stalled), AzureTableStore.from_settings(stalled)
        blobs.write(stalled.datasets_container, "birds/a.jpg", b"x")
        bootstrap.use(bootstrap.Services(stalled, blobs, tables))
        os.kill(own.process.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            answer = handler("status")(http_request("GET", "/api/status/birds", route_params={"project": "birds"}))
            took = time.monotonic() - started
        finally:
            os.kill(own.process.pid, signal.SIGCONT)
            bootstrap.use(None)
    assert answer.status_code == 503 and "storage did not answer within 2 s" in json_body(answer)["error"]
    assert took < 5
