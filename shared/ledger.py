"""The change ledger: one row per distinct blob change, keyed so a redelivered event is a no-op."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from shared.clock import normalized_time
from shared.dataset.layout import (
    DATASET_SUFFIXES,
    IMAGE_SUFFIXES,
    OTHER_PICTURE_SUFFIXES,
    role_of,
)
from shared.events import BlobEvent

_PROJECT_NAME = re.compile(r"[^\x00-\x1f\x7f/\\%?#]{1,128}")


def valid_project(name: str | None) -> bool:
    """A name that can only ever be one folder: no separators, dot-names (`..`), %-encodings or control characters."""
    return bool(name) and bool(_PROJECT_NAME.fullmatch(name)) and not name.startswith(".") and name.strip() == name


def project_of(blob: str) -> str | None:
    """Projects are the top-level folders of the datasets container."""
    head, sep, _ = blob.partition("/")
    return head if sep and head else None


def is_dataset_file(blob: str) -> bool:
    """A file that can change the training data (split lists, segmentation masks and trimaps cannot)."""
    return role_of(blob.partition("/")[2]) != "other"


def row_key(event: BlobEvent) -> str:
    """Path + ETag for a creation (a re-upload with new content is a new row), path + sequencer for a delete."""
    identity = f"{event.path}\n{event.etag}" if event.kind == "created" else f"{event.path}\ndeleted\n{event.sequencer}"
    return hashlib.sha256(identity.encode()).hexdigest()[:40]


def ledger_row(event: BlobEvent, project: str) -> dict:
    """Everything in the row comes from the event, so writing a redelivered event again changes nothing."""
    return {
        "PartitionKey": project,
        "RowKey": row_key(event),
        "blob": event.blob,
        "kind": event.kind,
        "etag": event.etag or "",
        "sequencer": event.sequencer,
        "event_id": event.event_id,
        "event_time": normalized_time(event.event_time),
    }


def is_image(blob: str) -> bool:
    return blob.lower().endswith(IMAGE_SUFFIXES + OTHER_PICTURE_SUFFIXES)


@dataclass(frozen=True)
class Pending:
    """What changed in a project since the last flush."""

    changes: int = 0
    images: int = 0
    first: str | None = None
    last: str | None = None

    @classmethod
    def of(cls, rows: list[dict]) -> Pending:
        if not rows:
            return cls()
        latest: dict[str, dict] = {}
        for row in rows:  # the last change of each blob wins (sequencer order, as Azure defines it)
            kept = latest.get(row["blob"])
            if kept is None or row["sequencer"] > kept["sequencer"]:
                latest[row["blob"]] = row
        images = sum(1 for r in latest.values() if r["kind"] == "created" and is_image(r["blob"]))
        times = sorted(r["event_time"] for r in rows)
        return cls(len(latest), images, times[0], times[-1])


def suffix_filters() -> list[str]:
    """The suffixes the blob handler accepts, for the Event Grid subscription filter (checked against infra/; at
    most 25 values in one StringEndsWith filter). dataset.json is among the `.json` files."""
    return sorted({s.lower() for s in DATASET_SUFFIXES})
