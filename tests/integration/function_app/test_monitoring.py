"""Operations routes, called as the host calls them, on Azurite: Event Grid's dead-letter files reported and their
uploads replayed into the ledger; Azure Monitor alerts relayed to the approval channel."""

import json
import logging
import uuid

import pytest

from function_app import bootstrap
from local_mode.functions_host import WebhookInbox
from shared.adapters.event_grid import storage_blob_event, wire
from tests.function_host import handler, http_request, json_body

pytestmark = pytest.mark.azurite
TOPIC = "/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/a"


@pytest.fixture
def wired(settings, blob_store, table_store):
    suffix = uuid.uuid4().hex[:8]
    inbox = WebhookInbox()
    settings = settings.with_overrides(ledger_table=f"l{suffix}", dead_letter_container=f"dl{suffix}",
                                       approval_webhook_url=inbox.url)
    bootstrap.use(bootstrap.Services(settings, blob_store, table_store))
    yield settings, inbox
    bootstrap.use(None)
    inbox.close()


def dead_lettered(event: dict, reason: str, attempts: int) -> dict:
    return event | {"deadLetterReason": reason, "deliveryAttempts": attempts,
                    "lastDeliveryOutcome": "TimedOut", "publishTime": event["eventTime"]}


def test_a_dead_letter_file_is_reported_once_its_upload_replayed_and_the_file_kept(wired, blob_store, table_store,
                                                                                  caplog):
    settings, _ = wired
    upload = wire(storage_blob_event(kind="created", topic=TOPIC, account_url="http://127.0.0.1:10000/devstoreaccount1",
                                     container=settings.datasets_container, blob="birds/JPEGImages/late.jpg",
                                     sequencer="01", etag="0x1"))
    bad = dict(upload, id="bad-1", eventTime="yesterday")
    run = {"id": "run-1", "eventType": "Microsoft.MachineLearningServices.RunCompleted", "subject": "x",
           "eventTime": upload["eventTime"], "topic": "t", "data": {}, "dataVersion": "2"}
    name = "DATASET-BLOBS-TO-FUNCTION/2026/11/26/7/5b1e.json"
    body = json.dumps([dead_lettered(upload, "MaxDeliveryAttemptsExceeded", 30),
                       dead_lettered(bad, "MaxDeliveryAttemptsExceeded", 30),
                       dead_lettered(run, "TimeToLiveExceeded", 12)]).encode()
    blob_store.ensure_container(settings.dead_letter_container)
    blob_store.write(settings.dead_letter_container, name, body)
    caplog.set_level(logging.INFO, logger="shared")

    handler("dead_letter_tick")(None)
    handler("dead_letter_tick")(None)  # the next tick finds nothing new

    [line] = [r for r in caplog.records if r.getMessage() == "events dead-lettered"]
    assert (line.file, line.subscription, line.events, line.replayed) == (
        name, "dataset-blobs-to-function", 3, 1)
    assert line.reasons == {"MaxDeliveryAttemptsExceeded": 2, "TimeToLiveExceeded": 1}
    assert any(r.getMessage() == "dead-lettered event refused" and "eventTime" in r.error for r in caplog.records)
    [row] = table_store.query(settings.ledger_table, "birds")
    assert row["blob"] == "birds/JPEGImages/late.jpg" and row["event_id"] == upload["id"]
    names = [b.name for b in blob_store.list(settings.dead_letter_container)]
    assert names == ["reported/" + name]
    assert blob_store.read(settings.dead_letter_container, "reported/" + name).data == body


def test_an_unreadable_dead_letter_file_is_named_and_kept(wired, blob_store, caplog):
    settings, _ = wired
    blob_store.ensure_container(settings.dead_letter_container)
    blob_store.write(settings.dead_letter_container, "RUN-EVENTS/2026/11/26/7/x.json", b"{not json")
    caplog.set_level(logging.INFO, logger="shared")
    handler("dead_letter_tick")(None)
    [line] = [r for r in caplog.records if r.getMessage() == "dead-letter file unreadable"]
    assert line.file == "RUN-EVENTS/2026/11/26/7/x.json" and line.levelname == "ERROR"
    assert [b.name for b in blob_store.list(settings.dead_letter_container)] == [
        "reported/RUN-EVENTS/2026/11/26/7/x.json"]


ALERT = {"schemaId": "azureMonitorCommonAlertSchema", "data": {
    "essentials": {"alertId": "/subscriptions/s/providers/Microsoft.AlertsManagement/alerts/a1",
                   "alertRule": "tfod-run-failed", "severity": "Sev1", "monitorCondition": "Fired",
                   "firedDateTime": "2026-11-26T07:00:00Z", "description": "A training run failed."},
    "alertContext": {"condition": {"allOf": [{"metricValue": 2, "operator": "GreaterThan", "threshold": "0",
                                              "linkToFilteredSearchResultsUI": "https://portal.azure.com/#logs/q"}]}}}}


def test_an_alert_reaches_the_approval_channel_with_the_link_to_its_rows(wired):
    _, inbox = wired
    answer = handler("relay_alert")(http_request("POST", "http://h/api/alerts", body=json.dumps(ALERT).encode()))
    assert answer.status_code == 200 and json_body(answer)["relayed"] is True
    [card] = inbox.messages
    assert "Alert: tfod-run-failed" in card and "https://portal.azure.com/#logs/q" in card
    assert "A training run failed." in card and "2 (GreaterThan 0)" in card


def test_what_is_not_a_common_alert_is_refused_with_the_field(wired):
    _, inbox = wired
    answer = handler("relay_alert")(http_request("POST", "http://h/api/alerts", body=b'{"schemaId": "other"}'))
    assert answer.status_code == 400 and "schemaId" in json_body(answer)["error"]
    assert inbox.messages == []
