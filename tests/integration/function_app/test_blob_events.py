"""The blob-event webhook, called with real HttpRequests the way the Functions host passes them."""

import json
from pathlib import Path

from shared.adapters.event_grid import storage_blob_event, wire, wire_cloud
from shared.events import storage_topic
from tests.function_host import handler, http_request, json_body


def post(body, **kw):
    return handler("blob_events")(http_request("POST", "/api/events/blobs", body=json.dumps(body).encode(), **kw))


def event(core, blob, etag="0x1", container=None, topic=None):
    return wire(storage_blob_event(kind="created", topic=topic or storage_topic("s", "r", "a"), account_url="http://a",
                                   container=container or core.settings.datasets_container, blob=blob,
                                   sequencer="0001", etag=etag))


def ledger(core, project):
    return list(core.tables.query(core.settings.ledger_table, project))


def test_subscription_validation_handshake(core):
    response = post([{"id": "v1", "topic": storage_topic("s", "r", "a"), "subject": "",
                      "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                      "eventTime": "2026-11-25T10:00:00Z", "dataVersion": "2", "metadataVersion": "1",
                      "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6",
                               "validationUrl": "https://rp-eastus2.eventgrid.azure.net/..."}}],
                    headers={"aeg-event-type": "SubscriptionValidation"})
    assert response.status_code == 200
    assert json_body(response) == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}


def test_cloudevents_abuse_protection_handshake(core):
    response = handler("blob_events")(http_request("OPTIONS", "/api/events/blobs",
                                                   headers={"WebHook-Request-Origin": "eventgrid.azure.net"}))
    assert response.status_code == 200
    assert response.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"


def test_duplicates_are_no_ops_and_new_content_is_a_new_row(core):
    first = post([event(core, "p/a.jpg"), event(core, "p/a.xml")])
    assert json_body(first)["recorded"] == 2
    again = json_body(post(event(core, "p/a.jpg")))  # Event Grid redelivers, single event this time
    assert (again["recorded"], again["duplicates"]) == (0, 1)
    changed = json_body(post(event(core, "p/a.jpg", etag="0x2")))
    assert changed["recorded"] == 1
    assert sorted(r["etag"] for r in ledger(core, "p") if r["blob"] == "p/a.jpg") == ["0x1", "0x2"]


def test_cloudevents_batch(core):
    body = [wire_cloud(event(core, f"c/img{i}.jpg")) for i in range(150)]
    assert json_body(post(body))["recorded"] == 150
    assert len(ledger(core, "c")) == 150


def test_own_writes_other_files_and_foreign_topics(core):
    core.configure(expected_blob_topic=storage_topic("s", "r", "a"))
    core.services._cache.clear()  # the Ingestor was built with the old settings
    result = json_body(post([
        event(core, "p/x.jpg", container=core.settings.quarantine_container),  # our quarantine copy
        event(core, "p/notes.md"),
        event(core, "loose.jpg"),  # not inside a project folder
        event(core, "p/y.jpg", topic=storage_topic("s", "r", "someone-else")),
        event(core, "p/z.png"),
    ]))
    assert result["recorded"] == 1
    assert result["ignored"] == {f"container {core.settings.quarantine_container}": 1, "not a dataset file": 2}
    assert len(result["refused"]) == 1


def test_malformed_delivery_is_400_so_event_grid_dead_letters_it(core):
    response = post([{"id": "x", "eventType": "Microsoft.Storage.BlobCreated"}])
    assert response.status_code == 400
    assert "topic: missing" in json_body(response)["error"]
    bad_subject = event(core, "p/a.jpg") | {"subject": "/nonsense"}
    assert post([bad_subject]).status_code == 400


SAMPLES = Path(__file__).resolve().parents[2] / "data" / "event_grid"


def test_microsofts_sample_deliveries_are_answered_like_any_other(core):
    """The docs' samples name a container of their own: accepted, and ignored as not the datasets container; the
    same events for a file of a project here are recorded, ETag without Storage's quotes."""
    for name in ("blob_created.eventgrid.json", "blob_deleted.eventgrid.json", "blob_created.cloudevents.json",
                 "blob_deleted.cloudevents.json"):
        response = handler("blob_events")(http_request("POST", "/api/events/blobs",
                                                       body=(SAMPLES / name).read_bytes()))
        assert response.status_code == 200, name
        (reason,) = json_body(response)["ignored"]
        assert reason.startswith("container test") and json_body(response)["recorded"] == 0
    ours = f"/blobServices/default/containers/{core.settings.datasets_container}/blobs/samples/new-file.jpg"
    for name in ("blob_created.eventgrid.json", "blob_deleted.cloudevents.json"):
        body = json.loads((SAMPLES / name).read_text())
        body[0]["subject"] = ours
        assert json_body(post(body))["recorded"] == 1
    rows = sorted(ledger(core, "samples"), key=lambda r: r["sent_time"])
    assert [(r["kind"], r["etag"], r["sent_time"]) for r in rows] == [
        ("created", "0x8D4BCC2E4835CD0", "2017-06-26T18:41:00.958410Z"), ("deleted", "", "2017-11-07T20:09:22.567400Z")]
    assert all(r["event_time"] > "2026" for r in rows)  # years late: recorded at their receipt, for the next batch
