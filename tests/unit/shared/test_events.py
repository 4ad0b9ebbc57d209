import json

import pytest

from shared.events import (
    BLOB_CREATED,
    EventSchemaError,
    blob_event,
    blob_event_grid,
    parse_deliveries,
    run_event,
    run_event_grid,
    storage_topic,
    to_cloud_event,
    validation_code,
)

TOPIC = storage_topic("sub", "rg", "acct")


def created(blob="proj/JPEGImages/a.jpg", etag="0x8D1", seq="00000000000000000000000000001", **kw):
    return blob_event_grid(kind="created", topic=TOPIC, account_url="https://acct.blob.core.windows.net",
                           container="datasets", blob=blob, sequencer=seq, etag=etag, **kw)


def test_event_grid_schema_matches_azure_field_for_field():
    event = created(content_length=123, content_type="image/jpeg")
    assert set(event) == {"id", "topic", "subject", "eventType", "eventTime", "data", "dataVersion", "metadataVersion"}
    assert event["subject"] == "/blobServices/default/containers/datasets/blobs/proj/JPEGImages/a.jpg"
    assert (event["dataVersion"], event["metadataVersion"], event["eventType"]) == ("", "1", BLOB_CREATED)
    assert set(event["data"]) == {"api", "clientRequestId", "requestId", "eTag", "contentType", "contentLength",
                                  "blobType", "url", "sequencer", "storageDiagnostics"}
    assert event["data"]["url"] == "https://acct.blob.core.windows.net/datasets/proj/JPEGImages/a.jpg"


@pytest.mark.parametrize("form", ["event-grid-single", "event-grid-batch", "cloudevent-single", "cloudevent-batch"])
def test_every_delivery_form_parses_to_the_same_blob_events(form):
    events = [created(), created(blob="proj/b.xml", etag="0x8D2")]
    if form.startswith("cloudevent"):
        events = [to_cloud_event(e) for e in events]
    body = json.dumps(events if form.endswith("batch") else events[0])
    parsed = [blob_event(env) for env in parse_deliveries(body)]
    assert [(p.container, p.blob, p.etag, p.kind, p.topic) for p in parsed] == [
        ("datasets", "proj/JPEGImages/a.jpg", "0x8D1", "created", TOPIC),
        ("datasets", "proj/b.xml", "0x8D2", "created", TOPIC)][: len(parsed)]


def test_deleted_blobs_carry_no_etag():
    event = blob_event_grid(kind="deleted", topic=TOPIC, account_url="http://x", container="datasets",
                            blob="p/a.jpg", sequencer="2")
    (env,) = parse_deliveries(json.dumps(event))
    parsed = blob_event(env)
    assert (parsed.kind, parsed.etag, parsed.sequencer) == ("deleted", None, "2")


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda e: e.pop("id"), "[0].id: missing"),
        (lambda e: e.update(eventType=7), "[0].eventType"),
        (lambda e: e.update(data="x"), "[0].data: must be an object"),
        (lambda e: e.update(subject="/nope"), "is not a blob subject"),
        (lambda e: e["data"].pop("sequencer"), "data.sequencer: missing"),
        (lambda e: e["data"].pop("eTag"), "data.eTag: missing"),
    ],
)
def test_malformed_events_name_the_field(mutate, words):
    event = created()
    mutate(event)
    with pytest.raises(EventSchemaError, match=words.replace("[", r"\[").replace("]", r"\]")):
        for env in parse_deliveries(json.dumps([event])):
            blob_event(env)


def test_not_json_is_a_schema_error():
    with pytest.raises(EventSchemaError, match="not JSON"):
        parse_deliveries(b"{")


def test_subscription_validation_code():
    (env,) = parse_deliveries(json.dumps([{
        "id": "1", "topic": TOPIC, "subject": "", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "eventTime": "2026-11-25T00:00:00Z", "data": {"validationCode": "abc", "validationUrl": "https://x"},
        "dataVersion": "2", "metadataVersion": "1"}]))
    assert validation_code(env) == "abc"


def test_run_events_as_azure_ml_sends_them():
    events = run_event_grid(topic="/ws", experiment_id="e1", experiment_name="tfod-p", run_id="tfod-p-1",
                            status="Completed", tags={"project": "p"})
    assert [e["eventType"].rsplit(".", 1)[1] for e in events] == ["RunStatusChanged", "RunCompleted"]
    assert events[1]["subject"] == "experiments/e1/runs/tfod-p-1"
    assert set(events[1]["data"]) == {"experimentId", "experimentName", "runId", "runType", "runTags", "runProperties"}
    parsed = [run_event(env) for env in parse_deliveries(json.dumps(events))]
    assert [(p.status, p.run_id, p.tags) for p in parsed] == [("Completed", "tfod-p-1", {"project": "p"})] * 2
    failed = run_event_grid(topic="/ws", experiment_id="e1", experiment_name="x", run_id="r", status="Failed", tags={})
    assert len(failed) == 1 and failed[0]["data"]["runStatus"] == "Failed"


def test_a_run_event_without_run_id_takes_it_from_the_subject():
    (event,) = run_event_grid(topic="/ws", experiment_id="e1", experiment_name="x", run_id="r-9", status="Failed",
                              tags={})
    del event["data"]["runId"]
    (env,) = parse_deliveries(json.dumps([event]))
    assert run_event(env).run_id == "r-9"
