"""Blob events → ledger rows. The hot path: one table write per event, one transaction per 100 in a batch."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared import logs
from shared.events import Envelope, blob_event
from shared.ledger import is_dataset_file, ledger_row, project_of
from shared.ports import PreconditionFailed, TableStore
from shared.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    recorded: int = 0
    duplicates: int = 0
    ignored: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"recorded": self.recorded, "duplicates": self.duplicates, "ignored": dict(self.ignored),
                "refused": self.refused}


class Ingestor:
    def __init__(self, tables: TableStore, settings: Settings) -> None:
        self.tables = tables
        self.settings = settings
        self._table_ready = False

    def ingest(self, envelopes: list[Envelope], received: datetime | None = None) -> IngestResult:
        received = received or datetime.now(UTC)
        result = IngestResult()
        rows = []
        for env in envelopes:
            with logs.correlation(event_id=env.id):
                row = self._row(env, received, result)
            if row:
                rows.append(row)
        if rows:
            self._write(rows, result)
        log.info("blob events ingested", extra=result.to_dict() | {"events": len(envelopes)})
        return result

    def _row(self, env: Envelope, received: datetime, result: IngestResult) -> dict | None:
        expected = self.settings.expected_blob_topic
        if expected and env.source.lower() != expected.lower():
            result.refused.append(env.id)
            log.warning("event refused: unexpected topic", extra={"topic": env.source, "expected": expected})
            return None
        event = blob_event(env)
        if event is None:
            result.ignored["not a blob event"] += 1
            return None
        if event.container != self.settings.datasets_container:
            result.ignored[f"container {event.container}"] += 1  # our own writes land in other containers
            return None
        project = project_of(event.blob)
        if project is None or not is_dataset_file(event.blob):
            result.ignored["not a dataset file"] += 1
            return None
        return ledger_row(event, project, received)

    def _write(self, rows: list[dict], result: IngestResult) -> None:
        table = self.settings.ledger_table
        if not self._table_ready:
            self.tables.ensure_table(table)
            self._table_ready = True
        if len(rows) == 1:
            try:
                self.tables.insert(table, rows[0])
                result.recorded += 1
            except PreconditionFailed:
                result.duplicates += 1
            return
        created = self.tables.insert_many(table, rows)
        result.recorded += created
        result.duplicates += len(rows) - created
