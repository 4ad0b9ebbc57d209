"""Blob events → ledger rows. The hot path: one table write per event, one transaction per 100 in a batch."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared import logs
from shared.clock import from_iso, iso
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
    late: int = 0
    """Events received more than the lateness after their time, recorded at the receipt time (the flush whose cut
    passed their time is over; they belong to the next)."""

    def to_dict(self) -> dict:
        return {"recorded": self.recorded, "duplicates": self.duplicates, "ignored": dict(self.ignored),
                "refused": self.refused, "clamped": self.clamped, "late": self.late}


class Ingestor:
    def __init__(self, tables: TableStore, settings: Settings) -> None:
        self.tables = tables
        self.settings = settings
        self._table_ready = False

    def ingest(self, envelopes: list[Envelope], now: datetime | None = None) -> IngestResult:
        result = IngestResult()
        now = now or datetime.now(UTC)
        rows = []
        for env in envelopes:
            with logs.correlation(event_id=env.id):
                row = self._row(env, result)
                if row:
                    self._date(row, now, result)
                    rows.append(row)
        if rows:
            self._write(rows, result)
            self._log_uploads(rows)
        log.info("blob events ingested", extra=result.to_dict() | {"events": len(envelopes)})
        return result

    def _date(self, row: dict, now: datetime, result: IngestResult) -> None:
        """The debounce window and the flush's cut are event time: no future dates, and an event later than the
        lateness goes after every cut already taken (its time as sent is kept in `sent_time`)."""
        received = iso(now)
        if row["event_time"] > iso(now + CLOCK_SKEW):
            log.warning("event time clamped to its receipt", extra={"event_time": row["event_time"]})
            result.clamped += 1
        elif row["event_time"] < iso(now - timedelta(seconds=self.settings.lateness_seconds)):
            log.warning("event arrived late: recorded at its receipt", extra={
                "event_time": row["event_time"], "blob": row["blob"][:300],
                "seconds_late": round((now - from_iso(row["event_time"])).total_seconds(), 1)})
            result.late += 1
        else:
            return
        row["sent_time"], row["event_time"] = row["event_time"], received

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
        # One row, and each row dated at its receipt (a late redelivery of a change already recorded must not be
        # dated anew), is a create-only write; the rare late ones cost a write each.
        single = len(rows) == 1
        for row in rows if single else [row for row in rows if "sent_time" in row]:
            try:
                self.tables.insert(table, row)
                result.recorded += 1
            except PreconditionFailed:
                result.duplicates += 1
        rows = [] if single else [row for row in rows if "sent_time" not in row]
        if not rows:
            return
        # A batch is written with upserts in transactions of 100: a redelivered row is rewritten identically
        # (no-op), so a duplicate never fails or retries a transaction. Duplicates are not counted here.
        result.recorded += self.tables.upsert_many(table, rows)
