"""Event Grid deliveries read and written with the Azure SDK's own event models.

Incoming webhook bodies are parsed with `azure.eventgrid.EventGridEvent` (Event Grid schema) or
`azure.core.messaging.CloudEvent` (CloudEvents 1.0) and handed to the core as its `Envelope`; local mode's event
source and trainer twin build their events with the same models, so what they deliver is what Azure delivers.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent

from shared import safe_json
from shared.clock import iso
from shared.events import (
    BLOB_CREATED,
    BLOB_DELETED,
    RUN_COMPLETED,
    RUN_STATUS_CHANGED,
    Envelope,
    EventSchemaError,
)

GRID_FIELDS = ("id", "eventType", "topic", "eventTime")
CLOUD_FIELDS = ("id", "type", "source", "time")


class TooManyEvents(EventSchemaError):
    """More events in one delivery than Event Grid ever sends."""


def parse_delivery(body: bytes | str, max_events: int | None = None) -> list[Envelope]:
    """A webhook body → envelopes: Event Grid schema or CloudEvents, one event or a batch (array)."""
    try:
        payload = safe_json.loads(body)
    except ValueError as exc:
        raise EventSchemaError(str(exc)) from None
    items = payload if isinstance(payload, list) else [payload]
    if max_events is not None and len(items) > max_events:
        raise TooManyEvents(f"{len(items)} events in one delivery: Event Grid sends at most {max_events}")
    return [envelope(item, index) for index, item in enumerate(items)]


def envelope(item: Any, index: int = 0) -> Envelope:
    """One event → the core's envelope; the message of any refusal names the event and the field."""
    where = f"[{index}]"
    if not isinstance(item, dict):
        raise EventSchemaError(f"{where}: an event must be a JSON object")
    cloud = "specversion" in item
    for name in CLOUD_FIELDS if cloud else GRID_FIELDS:
        if not isinstance(item.get(name), str) or not item[name]:
            raise EventSchemaError(f"{where}.{name}: missing or not a string")
    if item.get("data") is not None and not isinstance(item["data"], dict):
        raise EventSchemaError(f"{where}.data: must be an object")
    try:
        if cloud:
            event = CloudEvent.from_dict(item)
            fields = (event.id, event.type, event.source, event.subject or "", event.time, event.data)
        else:
            grid = EventGridEvent.from_dict(item)
            fields = (grid.id, grid.event_type, grid.topic, grid.subject or "", grid.event_time, grid.data)
    except (ValueError, TypeError, IndexError, AttributeError) as exc:  # msrest's DeserializationError too
        raise EventSchemaError(f"{where}.{'time' if cloud else 'eventTime'}: {str(exc)[:200]}") from None
    event_id, event_type, source, subject, time, data = fields
    if not isinstance(time, datetime):
        raise EventSchemaError(f"{where}.{'time' if cloud else 'eventTime'}: not an ISO 8601 timestamp")
    return Envelope(id=event_id, type=event_type, source=source, subject=subject, time=iso_time(time),
                    data=dict(data or {}))


iso_time = iso
"""One spelling for every event time (UTC, microseconds), so the ledger can order them as strings."""


# -- producing events as Azure does (local event source, local trainer twin, tests, benchmarks) ----------------


def storage_blob_event(
    *, kind: str, topic: str, account_url: str, container: str, blob: str, sequencer: str,
    etag: str | None = None, content_type: str = "application/octet-stream", content_length: int = 0,
    event_time: datetime | None = None, event_id: str | None = None,
) -> EventGridEvent:
    """A Microsoft.Storage.BlobCreated / BlobDeleted event, data field for field as Storage sends it."""
    created = kind == "created"
    data: dict[str, Any] = {
        "api": "PutBlob" if created else "DeleteBlob", "clientRequestId": str(uuid.uuid4()),
        "requestId": str(uuid.uuid4()), "contentType": content_type, "blobType": "BlockBlob",
        "url": f"{account_url.rstrip('/')}/{container}/{blob}", "sequencer": sequencer,
        "storageDiagnostics": {"batchId": str(uuid.uuid4())},
    }
    if created:
        data |= {"eTag": etag, "contentLength": content_length}
    return EventGridEvent(subject=f"/blobServices/default/containers/{container}/blobs/{blob}",
                          event_type=BLOB_CREATED if created else BLOB_DELETED, data=data, data_version="",
                          topic=topic, id=event_id or str(uuid.uuid4()),
                          event_time=event_time or datetime.now(UTC))


def run_ended_events(
    *, topic: str, experiment_id: str, experiment_name: str, run_id: str, status: str,
    tags: dict[str, str], properties: dict[str, Any] | None = None, run_type: str = "azureml.command",
) -> list[EventGridEvent]:
    """What Azure ML emits when a run ends: RunStatusChanged, plus RunCompleted when it completed."""
    data = {"experimentId": experiment_id, "experimentName": experiment_name, "runId": run_id,
            "runType": run_type, "runTags": tags, "runProperties": properties or {}}
    common = {"subject": f"experiments/{experiment_id}/runs/{run_id}", "data_version": "2", "topic": topic,
              "event_time": datetime.now(UTC)}
    events = [EventGridEvent(event_type=RUN_STATUS_CHANGED, data=data | {"runStatus": status}, **common)]
    if status == "Completed":
        events.append(EventGridEvent(event_type=RUN_COMPLETED, data=data, **common))
    return events


def wire(event: EventGridEvent) -> dict[str, Any]:
    """The event as Event Grid puts it on the wire (Event Grid schema). `metadataVersion` is Event Grid's to set:
    the SDK's model keeps it read-only (passing it logs "Readonly attribute … will be ignored" for every event)."""
    body = event.serialize()
    body["metadataVersion"] = event.metadata_version or "1"
    return body


def wire_cloud(event: EventGridEvent | dict[str, Any]) -> dict[str, Any]:
    """The same event as Event Grid delivers it to a CloudEvents 1.0 subscription, through the SDK's CloudEvent."""
    if isinstance(event, dict):
        event = EventGridEvent.from_dict(event)
    cloud = CloudEvent(source=event.topic, type=event.event_type, data=event.data, subject=event.subject,
                       id=event.id, time=event.event_time)
    return {"specversion": cloud.specversion, "id": cloud.id, "source": cloud.source, "type": cloud.type,
            "time": iso_time(cloud.time), "subject": cloud.subject, "data": cloud.data}
