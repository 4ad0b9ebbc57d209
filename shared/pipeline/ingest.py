"""Blob events → ledger rows. The hot path: one table write per event, one transaction per 100 in a batch."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared import logs
from shared.clock import iso
from shared.events import Envelope, EventSchemaError, blob_event
from shared.ledger import is_dataset_file, ledger_row, project_of, valid_project
from shared.ports import PreconditionFailed, TableStore
from shared.settings import Settings

log = logging.getLogger(__name__)

CLOCK_SKEW = timedelta(minutes=5)
"""How far ahead of this clock an event's time may be before it counts as sent now."""


@dataclass
class IngestResult:
    recorded: int = 0
    """Rows written: new changes, plus (in batches) identical rewrites of redelivered ones."""
    duplicates: int = 0
    ignored: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    clamped: int = 0
    """Events dated after their receipt (plus a small clock skew), recorded at the receipt time instead."""

    def to_dict(self) -> dict:
        return {"recorded": self.recorded, "duplicates": self.duplicates, "ignored": dict(self.ignored),
                "refused": self.refused, "clamped": self.clamped}


class Ingestor:
    def __init__(self, tables: TableStore, settings: Settings) -> None:
        self.tables = tables
        self.settings = settings
        self._table_ready = False

    def ingest(self, envelopes: list[Envelope], now: datetime | None = None) -> IngestResult:
        result = IngestResult()
        latest = iso((now or datetime.now(UTC)) + CLOCK_SKEW)
        rows = []
        for env in envelopes:
            with logs.correlation(event_id=env.id):
                row = self._row(env, result)
                if row and row["event_time"] > latest:  # the debounce window is event time: no future dates
                    log.warning("event time clamped to its receipt", extra={"event_time": row["event_time"]})
                    row["event_time"] = iso(now or datetime.now(UTC))
                    result.clamped += 1
            if row:
                rows.append(row)
        if rows:
            self._write(rows, result)
            self._log_uploads(rows)
        log.info("blob events ingested", extra=result.to_dict() | {"events": len(envelopes)})
        return result

    @staticmethod
    def _log_uploads(rows: list[dict]) -> None:
        """One line per project and delivery: what a person asking "did my upload arrive?" searches for."""
        for project in sorted({row["PartitionKey"] for row in rows}):
            mine = [row for row in rows if row["PartitionKey"] == project]
            with logs.correlation(project=project):
                log.info("uploads recorded", extra={
                    "files": len(mine), "deleted": sum(row["kind"] == "deleted" for row in mine),
                    "first_blob": mine[0]["blob"][:300], "last_event_time": max(row["event_time"] for row in mine)})

    def _row(self, env: Envelope, result: IngestResult) -> dict | None:
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
        if project is not None and not valid_project(project):
            result.ignored["not a project folder name"] += 1
            log.warning("event ignored: not a project folder name", extra={"blob": event.blob[:300]})
            return None
        if project is None or not is_dataset_file(event.blob):
            result.ignored["not a dataset file"] += 1
            return None
        try:
            return ledger_row(event, project)
        except ValueError:
            raise EventSchemaError(f"event {env.id}: time {env.time!r} is not an ISO 8601 timestamp") from None

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
        # A batch is written with upserts in transactions of 100: a redelivered row is rewritten identically
        # (no-op), so a duplicate never fails or retries a transaction. Duplicates are not counted here.
        result.recorded += self.tables.upsert_many(table, rows)
