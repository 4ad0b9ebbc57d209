"""Deliveries parsed and events built with the Azure SDK's event models; Microsoft's own sample payloads parse
into the events the core relies on."""

import json
from pathlib import Path

import pytest

from shared.adapters.event_grid import parse_delivery, run_ended_events, storage_blob_event, wire, wire_cloud
from shared.events import BLOB_CREATED, EventSchemaError, blob_event, run_event, storage_topic, validation_code

TOPIC = storage_topic("sub", "rg", "acct")
SAMPLES = Path(__file__).resolve().parents[3] / "data" / "event_grid"


def created(blob="proj/JPEGImages/a.jpg", etag="0x8D1", seq="00000000000000000000000000001", **kw):
    return wire(storage_blob_event(kind="created", topic=TOPIC, account_url="https://acct.blob.core.windows.net",
                                   container="datasets", blob=blob, sequencer=seq, etag=etag, **kw))


def test_event_grid_schema_matches_azure_field_for_field():
    event = created(content_length=123, content_type="image/jpeg")
    sample = json.loads((SAMPLES / "blob_created.eventgrid.json").read_text())[0]
    assert set(event) == set(sample)
    assert set(event["data"]) == set(sample["data"])
    assert event["subject"] == "/blobServices/default/containers/datasets/blobs/proj/JPEGImages/a.jpg"
    assert (event["dataVersion"], event["metadataVersion"], event["eventType"]) == ("", "1", BLOB_CREATED)
    assert event["data"]["url"] == "https://acct.blob.core.windows.net/datasets/proj/JPEGImages/a.jpg"


def test_making_and_reading_events_logs_nothing(caplog):
    """Event Grid sets metadataVersion: the SDK's model logs a warning for every event that passes it (484 of a
    local run's 545 console lines did, one Application Insights row per upload on Azure)."""
    with caplog.at_level("DEBUG", logger="azure"):
        body = [created(), *map(wire, run_ended_events(topic=TOPIC, experiment_id="e", experiment_name="x",
                                                       run_id="r", status="Completed", tags={}))]
        parse_delivery(json.dumps(body).encode())
    assert [r.getMessage() for r in caplog.records if r.levelno >= 30] == []
    assert {e["metadataVersion"] for e in body} == {"1"}


def test_cloud_events_match_microsofts_sample_field_for_field():
    sample = json.loads((SAMPLES / "blob_created.cloudevents.json").read_text())[0]
    assert set(wire_cloud(created())) == set(sample)


@pytest.mark.parametrize("form", ["event-grid-single", "event-grid-batch", "cloudevent-single", "cloudevent-batch"])
def test_every_delivery_form_parses_to_the_same_blob_events(form):
    events = [created(), created(blob="proj/b.xml", etag="0x8D2")]
    if form.startswith("cloudevent"):
        events = [wire_cloud(e) for e in events]
    body = json.dumps(events if form.endswith("batch") else events[0])
    parsed = [blob_event(env) for env in parse_delivery(body)]
    assert [(p.container, p.blob, p.etag, p.kind, p.topic) for p in parsed] == [
        ("datasets", "proj/JPEGImages/a.jpg", "0x8D1", "created", TOPIC),
        ("datasets", "proj/b.xml", "0x8D2", "created", TOPIC)][: len(parsed)]


@pytest.mark.parametrize("schema", ["eventgrid", "cloudevents"])
def test_microsofts_sample_blob_events_parse(schema):
    (created_env,) = parse_delivery((SAMPLES / f"blob_created.{schema}.json").read_bytes())
    (deleted_env,) = parse_delivery((SAMPLES / f"blob_deleted.{schema}.json").read_bytes())
    made, gone = blob_event(created_env), blob_event(deleted_env)
    assert (made.kind, made.container, made.blob, made.etag, made.sequencer, made.content_length) == (
        "created", "test-container", "new-file.txt", "0x8D4BCC2E4835CD0", "00000000000004420000000000028963",
        524288)
    assert made.event_time == "2017-06-26T18:41:00.958410Z"
    assert made.topic.endswith("/storageAccounts/my-storage-account")
    assert (gone.kind, gone.container, gone.blob, gone.etag, gone.sequencer) == (
        "deleted", "testcontainer", "file-to-delete.txt", None, "0000000000000281000000000002F5CA")


def test_microsofts_sample_run_events_parse_with_azures_status_spelling():
    (completed,) = parse_delivery((SAMPLES / "run_completed.eventgrid.json").read_bytes())
    (changed,) = parse_delivery((SAMPLES / "run_status_changed.eventgrid.json").read_bytes())
    done, failed = run_event(completed), run_event(changed)
    assert (done.status, done.run_id, done.experiment_name, done.tags) == (
        "Completed", "AutoML_ad912b2d-6467-4f32-a616-dbe4af6dd8fc_5", "automl-local-regression", {})
    assert failed.status == "Failed"  # the sample says "failed"


def test_deleted_blobs_carry_no_etag():
    event = wire(storage_blob_event(kind="deleted", topic=TOPIC, account_url="http://x", container="datasets",
                                    blob="p/a.jpg", sequencer="2"))
    (env,) = parse_delivery(json.dumps(event))
    parsed = blob_event(env)
    assert (parsed.kind, parsed.etag, parsed.sequencer) == ("deleted", None, "2")


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda e: e.pop("id"), "[0].id: missing"),
        (lambda e: e.update(eventType=7), "[0].eventType"),
        (lambda e: e.update(data="x"), "[0].data: must be an object"),
        (lambda e: e.update(eventTime="yesterday"), "[0].eventTime"),
        (lambda e: e.update(subject="/nope"), "is not a blob subject"),
        (lambda e: e["data"].pop("sequencer"), "data.sequencer: missing"),
        (lambda e: e["data"].pop("eTag"), "data.eTag: missing"),
    ],
)
def test_malformed_events_name_the_field(mutate, words):
    event = created()
    mutate(event)
    with pytest.raises(EventSchemaError, match=words.replace("[", r"\[").replace("]", r"\]")):
        for env in parse_delivery(json.dumps([event])):
            blob_event(env)


def test_a_cloud_event_with_a_bad_time_is_refused_by_field():
    event = wire_cloud(created()) | {"time": "x"}
    with pytest.raises(EventSchemaError, match=r"\[0\]\.time"):
        parse_delivery(json.dumps(event))


def test_not_json_is_a_schema_error():
    with pytest.raises(EventSchemaError, match="not JSON"):
        parse_delivery(b"{")


def test_subscription_validation_code():
    (env,) = parse_delivery(json.dumps([{
        "id": "1", "topic": TOPIC, "subject": "", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "eventTime": "2026-11-25T00:00:00Z", "data": {"validationCode": "abc", "validationUrl": "https://x"},
        "dataVersion": "2", "metadataVersion": "1"}]))
    assert validation_code(env) == "abc"


def test_run_events_as_azure_ml_sends_them():
    events = [wire(e) for e in run_ended_events(topic="/ws", experiment_id="e1", experiment_name="tfod-p",
                                                run_id="tfod-p-1", status="Completed", tags={"project": "p"})]
    sample = json.loads((SAMPLES / "run_completed.eventgrid.json").read_text())[0]
    assert [e["eventType"].rsplit(".", 1)[1] for e in events] == ["RunStatusChanged", "RunCompleted"]
    assert set(events[1]) == set(sample) and set(events[1]["data"]) == set(sample["data"])
    assert events[1]["subject"] == "experiments/e1/runs/tfod-p-1"
    parsed = [run_event(env) for env in parse_delivery(json.dumps(events))]
    assert [(p.status, p.run_id, p.tags) for p in parsed] == [("Completed", "tfod-p-1", {"project": "p"})] * 2
    failed = run_ended_events(topic="/ws", experiment_id="e1", experiment_name="x", run_id="r", status="Failed",
                              tags={})
    assert len(failed) == 1 and failed[0].data["runStatus"] == "Failed"


def test_a_run_event_without_run_id_takes_it_from_the_subject():
    (event,) = [wire(e) for e in run_ended_events(topic="/ws", experiment_id="e1", experiment_name="x",
                                                  run_id="r-9", status="Failed", tags={})]
    del event["data"]["runId"]
    (env,) = parse_delivery(json.dumps([event]))
    assert run_event(env).run_id == "r-9"
