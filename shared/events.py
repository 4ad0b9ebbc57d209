"""Event schemas: Event Grid and CloudEvents 1.0 envelopes, Storage blob events and Azure ML run events.

Parsing is strict about what the service relies on and names the field at fault, so a malformed delivery is
answered 400 (Event Grid dead-letters it) instead of being half-processed.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

BLOB_CREATED = "Microsoft.Storage.BlobCreated"
BLOB_DELETED = "Microsoft.Storage.BlobDeleted"
RUN_COMPLETED = "Microsoft.MachineLearningServices.RunCompleted"
RUN_STATUS_CHANGED = "Microsoft.MachineLearningServices.RunStatusChanged"
SUBSCRIPTION_VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"

_SUBJECT = re.compile(r"^/blobServices/default/containers/(?P<container>[^/]+)/blobs/(?P<blob>.+)$")
_RUN_SUBJECT = re.compile(r"^experiments/(?P<experiment>[^/]+)/runs/(?P<run>[^/]+)$")


class EventSchemaError(ValueError):
    """The delivery is not a valid Event Grid or CloudEvents payload; the message names the field."""


@dataclass(frozen=True)
class Envelope:
    """One event, whatever schema it came in."""

    id: str
    type: str
    source: str
    subject: str
    time: str
    data: dict[str, Any]


@dataclass(frozen=True)
class BlobEvent:
    event_id: str
    kind: str  # "created" | "deleted"
    topic: str
    container: str
    blob: str
    etag: str | None
    sequencer: str
    event_time: str
    content_length: int | None = None

    @property
    def path(self) -> str:
        return f"{self.container}/{self.blob}"


@dataclass(frozen=True)
class RunEvent:
    event_id: str
    type: str
    run_id: str
    experiment_name: str
    status: str  # "Completed", "Failed", "Canceled", … (RunCompleted means Completed)
    tags: dict[str, str]
    properties: dict[str, Any]


def parse_deliveries(body: bytes | str) -> list[Envelope]:
    """A webhook body → envelopes: Event Grid schema or CloudEvents, one event or a batch (array)."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EventSchemaError(f"body: not JSON ({exc})") from None
    items = payload if isinstance(payload, list) else [payload]
    return [envelope(item, index) for index, item in enumerate(items)]


def envelope(item: Any, index: int = 0) -> Envelope:
    where = f"[{index}]"
    if not isinstance(item, dict):
        raise EventSchemaError(f"{where}: an event must be a JSON object")
    if "specversion" in item:
        fields = {"id": "id", "type": "type", "source": "source", "time": "time"}
    else:
        fields = {"id": "id", "type": "eventType", "source": "topic", "time": "eventTime"}
    values = {}
    for ours, theirs in fields.items():
        value = item.get(theirs)
        if not isinstance(value, str) or not value:
            raise EventSchemaError(f"{where}.{theirs}: missing or not a string")
        values[ours] = value
    data = item.get("data") or {}
    if not isinstance(data, dict):
        raise EventSchemaError(f"{where}.data: must be an object")
    return Envelope(subject=str(item.get("subject", "")), data=data, **values)


def blob_event(env: Envelope) -> BlobEvent | None:
    """The blob event in an envelope, or None for other event types."""
    if env.type not in (BLOB_CREATED, BLOB_DELETED):
        return None
    match = _SUBJECT.match(env.subject)
    if not match:
        raise EventSchemaError(f"event {env.id}.subject: {env.subject!r} is not a blob subject")
    sequencer = env.data.get("sequencer")
    if not isinstance(sequencer, str) or not sequencer:
        raise EventSchemaError(f"event {env.id}.data.sequencer: missing")
    etag = env.data.get("eTag") or env.data.get("etag")
    if env.type == BLOB_CREATED and not etag:
        raise EventSchemaError(f"event {env.id}.data.eTag: missing on BlobCreated")
    length = env.data.get("contentLength")
    return BlobEvent(
        event_id=env.id, kind="created" if env.type == BLOB_CREATED else "deleted", topic=env.source,
        container=match["container"], blob=match["blob"], etag=etag, sequencer=sequencer, event_time=env.time,
        content_length=int(length) if isinstance(length, int | str) and str(length).isdigit() else None,
    )


def run_event(env: Envelope) -> RunEvent | None:
    if env.type not in (RUN_COMPLETED, RUN_STATUS_CHANGED):
        return None
    subject = _RUN_SUBJECT.match(env.subject)
    run_id = env.data.get("runId") or (subject["run"] if subject else None)
    if not run_id:
        raise EventSchemaError(f"event {env.id}.data.runId: missing")
    status = "Completed" if env.type == RUN_COMPLETED else str(env.data.get("runStatus", ""))
    return RunEvent(env.id, env.type, str(run_id), str(env.data.get("experimentName", "")), status,
                    dict(env.data.get("runTags") or {}), dict(env.data.get("runProperties") or {}))


def validation_code(env: Envelope) -> str | None:
    return env.data.get("validationCode") if env.type == SUBSCRIPTION_VALIDATION else None


# -- producing events exactly as Azure does (local event source, local trainer, tests) -----------------------


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def storage_topic(subscription: str, resource_group: str, account: str) -> str:
    return (f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
            f"/providers/Microsoft.Storage/storageAccounts/{account}")


def blob_event_grid(
    *, kind: str, topic: str, account_url: str, container: str, blob: str, sequencer: str,
    etag: str | None = None, content_type: str = "application/octet-stream", content_length: int = 0,
    event_time: str | None = None, event_id: str | None = None,
) -> dict[str, Any]:
    """A Microsoft.Storage.BlobCreated / BlobDeleted event in the Event Grid schema, field for field."""
    created = kind == "created"
    data: dict[str, Any] = {
        "api": "PutBlob" if created else "DeleteBlob",
        "clientRequestId": str(uuid.uuid4()),
        "requestId": str(uuid.uuid4()),
        "contentType": content_type,
        "blobType": "BlockBlob",
        "url": f"{account_url.rstrip('/')}/{container}/{blob}",
        "sequencer": sequencer,
        "storageDiagnostics": {"batchId": str(uuid.uuid4())},
    }
    if created:
        data |= {"eTag": etag, "contentLength": content_length}
    return {
        "id": event_id or str(uuid.uuid4()),
        "topic": topic,
        "subject": f"/blobServices/default/containers/{container}/blobs/{blob}",
        "eventType": BLOB_CREATED if created else BLOB_DELETED,
        "eventTime": event_time or _now(),
        "data": data,
        "dataVersion": "",
        "metadataVersion": "1",
    }


def to_cloud_event(event: dict[str, Any]) -> dict[str, Any]:
    """The same event in the CloudEvents 1.0 schema, as Event Grid delivers it to CloudEvents subscriptions."""
    return {
        "specversion": "1.0", "type": event["eventType"], "source": event["topic"], "id": event["id"],
        "time": event["eventTime"], "subject": event["subject"], "data": event["data"],
    }


def run_event_grid(
    *, topic: str, experiment_id: str, experiment_name: str, run_id: str, status: str,
    tags: dict[str, str], properties: dict[str, Any] | None = None, run_type: str = "azureml.command",
) -> list[dict[str, Any]]:
    """What Azure ML emits when a run ends: RunStatusChanged, plus RunCompleted when it completed."""
    data = {"experimentId": experiment_id, "experimentName": experiment_name, "runId": run_id,
            "runType": run_type, "runTags": tags, "runProperties": properties or {}}
    base = {"topic": topic, "subject": f"experiments/{experiment_id}/runs/{run_id}", "eventTime": _now(),
            "dataVersion": "2", "metadataVersion": "1"}
    events = [base | {"id": str(uuid.uuid4()), "eventType": RUN_STATUS_CHANGED, "data": data | {"runStatus": status}}]
    if status == "Completed":
        events.append(base | {"id": str(uuid.uuid4()), "eventType": RUN_COMPLETED, "data": data})
    return events
