"""Events Event Grid gave up on (its dead-letter container): each file reported once, upload events replayed into
the ledger (idempotent), and the file kept under `reported/` — nothing undelivered goes unnoticed or is lost."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.events import Envelope, EventSchemaError
from shared.pipeline.ingest import Ingestor
from shared.ports import BlobStore, NotFound
from shared.settings import Settings

log = logging.getLogger(__name__)

REPORTED = "reported/"
STORAGE_EVENTS = "Microsoft.Storage.Blob"


@dataclass
class DeadLetterReport:
    files: int = 0
    events: int = 0
    replayed: int = 0
    """Upload events written to the ledger again: their changes train with the next batch."""
    left: int = 0
    """Events not replayed: run events (the reconcile timer asks Azure ML about their runs) and refused ones."""
    reasons: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {"files": self.files, "events": self.events, "replayed": self.replayed, "left": self.left,
                "reasons": dict(self.reasons)}


class DeadLetters:
    def __init__(self, blobs: BlobStore, ingest: Ingestor, settings: Settings,
                 parse: Callable[[Any, int], Envelope]) -> None:
        self.blobs, self.ingest, self.settings, self.parse = blobs, ingest, settings, parse

    def report(self, limit: int = 100) -> DeadLetterReport:
        """Read up to `limit` new dead-letter files; one warning line per file, then the file moves to reported/."""
        container, total = self.settings.dead_letter_container, DeadLetterReport()
        self.blobs.ensure_container(container)
        names = []  # one folder per subscription; reported/ grows for ever and is never listed again
        for folder in self.blobs.top_level_folders(container):
            if f"{folder}/" != REPORTED and len(names) < limit:
                names += [info.name for info in self.blobs.list(container, f"{folder}/")]
        for name in names[:limit]:
            try:
                data = self.blobs.read(container, name).data
            except NotFound:  # another instance moved it
                continue
            self._report_file(name, data, total)
            self.blobs.write(container, REPORTED + name, data, content_type="application/json")
            self.blobs.delete(container, name)
        return total

    def _report_file(self, name: str, data: bytes, total: DeadLetterReport) -> None:
        subscription = name.split("/")[0].lower()
        total.files += 1
        try:
            items = json.loads(data)
        except ValueError as exc:
            log.error("dead-letter file unreadable", extra={"file": name, "error": str(exc)[:300]})
            return
        items = items if isinstance(items, list) else [items]
        reasons: Counter[str] = Counter(str(i.get("deadLetterReason", "unknown")) for i in items if isinstance(i, dict))
        replayed = sum(self._replay(item, index) for index, item in enumerate(items))
        total.events += len(items)
        total.replayed += replayed
        total.left += len(items) - replayed
        total.reasons.update(reasons)
        first = next((i for i in items if isinstance(i, dict)), {})
        log.warning("events dead-lettered", extra={
            "file": name, "subscription": subscription, "events": len(items), "replayed": replayed,
            "reasons": dict(reasons), "last_outcome": str(first.get("lastDeliveryOutcome", ""))[:300],
            "delivery_attempts": first.get("deliveryAttempts"), "subject": str(first.get("subject", ""))[:300]})

    def _replay(self, item: Any, index: int) -> bool:
        """An upload event goes into the ledger (a row written before is rewritten identically)."""
        kind = item.get("eventType") or item.get("type") if isinstance(item, dict) else None
        if not str(kind or "").startswith(STORAGE_EVENTS):
            return False
        try:
            result = self.ingest.ingest([self.parse(item, index)])
        except EventSchemaError as exc:
            log.warning("dead-lettered event refused", extra={"error": str(exc)[:300]})
            return False
        return bool(result.recorded or result.duplicates)
