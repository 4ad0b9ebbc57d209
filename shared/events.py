"""Event schemas: Event Grid and CloudEvents 1.0 envelopes, Storage blob events and Azure ML run events.

Deliveries are parsed with the Azure SDK's event models in shared/adapters/event_grid.py; the core turns the
envelopes into what it relies on, strictly, naming the field at fault, so a malformed delivery is answered 400
(Event Grid dead-letters it) instead of being half-processed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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
    etag = (env.data.get("eTag") or env.data.get("etag") or "").strip('"') or None  # Storage quotes its ETags
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
    status = "Completed" if env.type == RUN_COMPLETED else run_status(env.data.get("runStatus"))
    return RunEvent(env.id, env.type, str(run_id), str(env.data.get("experimentName", "")), status,
                    dict(env.data.get("runTags") or {}), dict(env.data.get("runProperties") or {}))


RUN_STATUSES = ("NotStarted", "Queued", "Preparing", "Provisioning", "Starting", "Running", "Finalizing",
                "CancelRequested", "Completed", "Failed", "Canceled", "NotResponding", "Paused", "Unknown")


def run_status(raw: Any) -> str:
    """Azure ML's run status in its canonical spelling: Event Grid's samples send "failed", the SDK "Failed"."""
    text = str(raw or "")
    return next((s for s in RUN_STATUSES if s.lower() == text.lower()), text)


def validation_code(env: Envelope) -> str | None:
    return env.data.get("validationCode") if env.type == SUBSCRIPTION_VALIDATION else None


def storage_topic(subscription: str, resource_group: str, account: str) -> str:
    return (f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
            f"/providers/Microsoft.Storage/storageAccounts/{account}")
