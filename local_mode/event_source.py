"""Local event source: Azurite emits no Event Grid events, so this watcher turns new, changed and deleted blobs
into the same Microsoft.Storage.BlobCreated / BlobDeleted events (Event Grid schema) and delivers them,
at least once: a delivery that fails is sent again on the next poll. With a `cursor` blob, what was delivered is
kept in Azurite, so local mode started again on its kept data sends only what changed meanwhile (as Event Grid
delivers the events of a downtime, and nothing else)."""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from shared.adapters.event_grid import storage_blob_event, wire
from shared.events import storage_topic
from shared.ports import BlobStore, NotFound

log = logging.getLogger(__name__)

LOCAL_STORAGE_TOPIC = storage_topic("local", "local", "devstoreaccount1")


class BlobEventSource:
    def __init__(self, store: BlobStore, container: str, account_url: str,
                 deliver: Callable[[list[dict[str, Any]]], None], *, topic: str = LOCAL_STORAGE_TOPIC,
                 batch_size: int = 100, cursor: tuple[str, str] | None = None) -> None:
        self.store, self.container, self.account_url, self.deliver = store, container, account_url, deliver
        self.topic, self.batch_size, self.cursor = topic, batch_size, cursor
        self.known: dict[str, str] = self._load_cursor()
        self._counter = itertools.count()

    def _load_cursor(self) -> dict[str, str]:
        if self.cursor is None:
            return {}
        try:
            return json.loads(self.store.read(*self.cursor).data)
        except NotFound:
            return {}

    def _save_cursor(self) -> None:
        if self.cursor is not None:
            self.store.ensure_container(self.cursor[0])
            self.store.write(*self.cursor, json.dumps(self.known).encode(), content_type="application/json")

    def _sequencer(self) -> str:
        """Fixed-width hex, increasing: string order is event order, as Azure promises for its sequencer."""
        return f"{time.time_ns():024x}{next(self._counter) % 2**32:08x}"

    def changes(self) -> list[tuple[dict[str, Any], str, str | None]]:
        """(event, blob name, new ETag or None for a delete) for everything that differs from what was sent."""
        current = {b.name: b for b in self.store.list(self.container)}
        out = []
        for name, info in current.items():
            if self.known.get(name) != info.etag:
                event = wire(storage_blob_event(
                    kind="created", topic=self.topic, account_url=self.account_url, container=self.container,
                    blob=name, sequencer=self._sequencer(), etag=info.etag, content_length=info.size))
                out.append((event, name, info.etag))
        for name in sorted(set(self.known) - set(current)):
            event = wire(storage_blob_event(kind="deleted", topic=self.topic, account_url=self.account_url,
                                            container=self.container, blob=name, sequencer=self._sequencer()))
            out.append((event, name, None))
        return out

    def poll(self) -> int:
        """Deliver every change in batches; remember a change as sent only once its batch was accepted."""
        pending = self.changes()
        sent = 0
        for start in range(0, len(pending), self.batch_size):
            batch = pending[start:start + self.batch_size]
            try:
                self.deliver([event for event, _, _ in batch])
            except Exception:
                log.exception("event delivery failed: will retry on the next poll", extra={"events": len(batch)})
                break
            for _, name, etag in batch:
                if etag is None:
                    self.known.pop(name, None)
                else:
                    self.known[name] = etag
            sent += len(batch)
        if sent:
            self._save_cursor()  # a crash before this sends those events again: at least once
        return sent

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        while not stop.is_set():
            try:
                self.poll()
            except Exception:
                log.exception("polling Azurite failed")
            stop.wait(interval)
