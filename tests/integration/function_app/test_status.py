"""The status endpoint, called as the host calls it, on a storage account where nothing was written yet."""

import base64
import gzip
import uuid
from urllib.parse import quote, unquote, urlsplit

import pytest

from function_app import bootstrap
from shared.pipeline.records import ProjectState, Records
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
    assert body["timeline"] is None  # no batch yet
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


WORKSPACE = ("/subscriptions/s/resourceGroups/rg-x/providers/Microsoft.OperationalInsights/workspaces/log-x")


def test_status_links_the_latest_batch_to_its_timeline_query(fresh, table_store):
    bootstrap.use(bootstrap.Services(fresh.with_overrides(log_analytics_workspace_id=WORKSPACE),
                                     bootstrap.services().blobs, table_store))
    Records(table_store, fresh).save_project(ProjectState(project="birds", phase="submitted",
                                                          batch_id="birds-20261126-070000-000000"))
    body = json_body(handler("status")(http_request("GET", "/api/status/birds", route_params={"project": "birds"})))
    timeline = body["timeline"]
    assert timeline["local_command"] == "python -m local_mode logs --batch birds-20261126-070000-000000"
    link = urlsplit(timeline["logs_link"])
    assert link.netloc == "portal.azure.com" and quote(WORKSPACE, safe="") in link.fragment
    packed = unquote(link.fragment.split("/q/")[1].split("/")[0])
    query = gzip.decompress(base64.b64decode(packed)).decode()
    assert 'let BatchId = "birds-20261126-070000-000000";' in query and "RetrainEvents" in query
