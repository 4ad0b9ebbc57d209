"""The one owner of the service's state rows: a project's debounce/flush state, its runs, its endpoint's release
and the record of each release.

Typed rows (`ProjectState`, `RunRecord`, `ReleaseState`, `ReleaseRecord`) with `from_entity` / `to_entity`, the
partition names, the run statuses, and `Records`, through which every use case reads and writes them: under ETags,
so racing timer instances and handlers never overwrite each other's changes.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar, get_type_hints

from shared.clock import day_of, iso
from shared.ports import ROW_ETAG, NotFound, PreconditionFailed, TableStore
from shared.settings import Settings

STATE_PARTITION = "project"
RELEASE_PARTITION = "endpoint"


class RunStatus(StrEnum):
    """A run's status, in Azure ML's spelling; Submitted and Skipped are the service's own."""

    SUBMITTED = "Submitted"
    QUEUED = "Queued"
    PREPARING = "Preparing"
    STARTING = "Starting"
    RUNNING = "Running"
    FINALIZING = "Finalizing"
    CANCEL_REQUESTED = "CancelRequested"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELED = "Canceled"
    SKIPPED = "Skipped"

    @classmethod
    def parse(cls, raw: Any) -> RunStatus | str:
        """Any spelling Azure or older rows use ("failed", "canceled", "skipped") → the member; unknown → as is."""
        text = str(raw or "")
        return next((s for s in cls if s.value.lower() == text.lower()), text)

    @property
    def ended(self) -> bool:
        return self in ENDED


ENDED = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED, RunStatus.SKIPPED})
"""No later event or write reopens a run in one of these."""


def ended(status: Any) -> bool:
    return RunStatus.parse(status) in ENDED


R = TypeVar("R", bound="Row")


@dataclass
class Row:
    """A table row as a dataclass: fields map to properties of the same name; the ETag travels along."""

    etag: str | None = field(default=None, kw_only=True, repr=False)

    @classmethod
    def from_entity(cls: type[R], entity: dict[str, Any]) -> R:
        hints = get_type_hints(cls)
        values = {}
        for f in dataclasses.fields(cls):
            if f.name == "etag":
                continue
            key = _column(cls, f.name)
            if key in entity and entity[key] is not None:
                values[f.name] = _typed(entity[key], hints[f.name])
        return cls(**values, etag=entity.get(ROW_ETAG))

    def to_entity(self) -> dict[str, Any]:
        entity = {}
        for f in dataclasses.fields(self):
            if f.name == "etag":
                continue
            value = getattr(self, f.name)
            if value is not None:
                entity[_column(type(self), f.name)] = value.value if isinstance(value, StrEnum) else value
        return entity


def _column(cls: type, name: str) -> str:
    partition, row = cls.KEY_FIELDS  # type: ignore[attr-defined]
    return "PartitionKey" if name == partition else "RowKey" if name == row else name


def _typed(value: Any, hint: Any) -> Any:
    text = str(hint)
    if "RunStatus" in text:
        return RunStatus.parse(value)
    if text.startswith("int") or hint is int:
        return int(value)
    if text.startswith("float") or hint is float:
        return float(value)
    if text.startswith("bool") or hint is bool:
        return bool(value)
    return value


@dataclass
class ProjectState(Row):
    """A project's window: where its flush stands, its active run, what it trained last, today's budget."""

    KEY_FIELDS = ("partition", "project")
    project: str = ""
    partition: str = STATE_PARTITION
    phase: str = "idle"
    """idle | flushing | submitted"""
    step: str = ""
    """Of a flush: claimed → snapshotted → submitting → submitted (or done)."""
    batch_id: str = ""
    claimed_at: str = ""
    claimed_from: str = ""
    """The cut before this flush: a run lost to the infrastructure puts its changes back to it."""
    cut: str = ""
    """Event time of the last change taken by a flush; later changes are pending."""
    changes: int = 0
    new_images: int = 0
    dataset_version: str = ""
    manifest: str = ""
    manifest_label_map: str = ""
    quarantined: int = 0
    dataset_alerts: str = ""
    """JSON: the last snapshot's alerts (annotation files no reader took, no boxes at all)."""
    snapshot_progress: str = ""
    """Of a snapshot that takes more than one tick: how far it got."""
    job_name: str = ""
    active_job: str = ""
    run_id: str = ""
    day: str = ""
    runs_today: int = 0
    gpu_hours_today: float = 0.0
    trained_version: str = ""
    label_map: str = ""
    champion_model: str = ""
    attempt: int = 1
    retry_after: str = ""
    given_up_at: str = ""
    failure: str = ""
    reconciled_at: str = ""
    swept_at: str = ""
    """When the folder was last listed and compared with the catalog for changes whose events never came."""
    action: str = ""
    decision: str = ""
    decision_at: str = ""
    last_outcome: str = ""
    labelled_until: str = ""
    """Time of the last collected request an export for labelling has read."""
    last_export: str = ""
    """JSON: the last labelling export's summary."""
    drift: str = ""
    """JSON: the last drift watch (day, figures, warnings)."""
    labelling_tool: str = ""
    """JSON: the project in the team's labelling tool (id, link), exports still to push and the last push."""

    def runs_on(self, moment: datetime) -> int:
        """Runs counted against the daily cap on `moment`'s UTC day (the counters roll over at midnight)."""
        return self.runs_today if self.day == day_of(moment) else 0

    def gpu_hours_on(self, moment: datetime) -> float:
        return self.gpu_hours_today if self.day == day_of(moment) else 0.0


@dataclass
class RunRecord(Row):
    """One training run (one batch): its status, and everything that happened to its model."""

    KEY_FIELDS = ("project", "batch_id")
    project: str = ""
    batch_id: str = ""
    status: RunStatus | str = ""
    job_name: str | None = None
    run_id: str | None = None
    dataset_version: str | None = None
    manifest: str | None = None
    claimed_at: str | None = None
    submitted_at: str | None = None
    ended_at: str | None = None
    updated: str | None = None
    changes: int | None = None
    new_images: int | None = None
    attempt: int | None = None
    gpu_hours: float | None = None
    reason: str | None = None
    failure: str | None = None
    gates_passed: bool | None = None
    gate_reasons: str | None = None
    map: float | None = None
    map_50: float | None = None
    per_class_ap: str | None = None
    """JSON {class: AP@0.5:0.95} on the validation images (the project page's chart across versions)."""
    validation_images: int | None = None
    golden_map_50: float | None = None
    """mAP@0.5 on the project's golden set (the same images every run): comparable across versions."""
    images: int | None = None
    """Images in the dataset version the run trained on (from its metrics.json)."""
    model_name: str | None = None
    model_version: str | None = None
    model_state: str | None = None
    approver: str | None = None
    approver_verified: bool | None = None
    approval_comment: str | None = None
    deployed_at: str | None = None
    slot: str | None = None
    deploy_reason: str | None = None
    retired_at: str | None = None


@dataclass
class ReleaseState(Row):
    """A project's endpoint: what is live on which slot, the release in progress and the one queued behind it."""

    KEY_FIELDS = ("partition", "project")
    project: str = ""
    partition: str = RELEASE_PARTITION
    phase: str = ""
    """requested | provisioning | shadowing | baking | live | rolled-back ("" before the first release)"""
    candidate: str = ""
    """JSON: the model being released (name, version, folder, batch id, requested_at)."""
    queued: str = ""
    slot: str = ""
    provisioning_since: str = ""
    reason: str = ""
    live_slot: str = ""
    live_model_name: str = ""
    live_model_version: str = ""
    live_model_folder: str = ""
    live_batch_id: str = ""
    live_since: str = ""
    traffic: str = "{}"
    scoring_uri: str = ""
    shadow_since: str = ""
    shadow: str = ""
    """JSON: the shadow step's figures so far, then its verdict (kept on the row until the next release)."""
    health: str = ""
    """JSON: the new slot's health while baking."""
    previous_slot: str = ""
    """While baking: the slot traffic left, still deployed at 0%, and what it serves (for a rollback)."""
    previous_model_name: str = ""
    previous_model_version: str = ""
    previous_model_folder: str = ""
    previous_batch_id: str = ""
    previous_since: str = ""

    def candidate_of(self) -> dict[str, Any]:
        return json.loads(self.candidate) if self.candidate else {}


HISTORY_PARTITION = "history:"
"""Release records live in the releases table under `history:<project>`, newest first by their row key."""


@dataclass
class ReleaseRecord(Row):
    """One release as it ended (live, or rolled back before traffic moved): written once, never changed. When a
    version stopped being live is the next live record's `live_from`."""

    KEY_FIELDS = ("partition", "record_id")
    partition: str = ""
    record_id: str = ""
    project: str = ""
    model_name: str = ""
    model_version: str = ""
    batch_id: str = ""
    dataset_version: str = ""
    runtime: str = ""
    outcome: str = ""
    """live | rolled-back (before the switch, or after it while baking: then `live_from` is set)"""
    reason: str = ""
    requested_at: str = ""
    ended_at: str = ""
    live_from: str = ""
    slot: str = ""
    previous_model_version: str = ""
    gates_passed: bool | None = None
    gate_reasons: str = "[]"
    approver: str = ""
    approver_verified: bool | None = None
    approval_comment: str = ""
    shadow: str = ""
    """JSON: what mirrored traffic showed before the switch (paired requests, agreement, objects new and lost per
    class, both slots' latency and errors), or a sentence saying why there was no shadow step."""
    health: str = ""
    """JSON: the new slot's health over the bake (requests, errors, p95, answers with nothing found)."""

    @staticmethod
    def key(ended: datetime, version: str) -> str:
        """Newest first in a partition scan: milliseconds to the year 2286, counted down."""
        return f"{10**13 - int(ended.timestamp() * 1000):013d}-v{version}"


S = TypeVar("S", ProjectState, ReleaseState)


class Records:
    """Reads and writes of the state, run and release rows; the only writer of those tables."""

    def __init__(self, tables: TableStore, settings: Settings) -> None:
        self.tables, self.settings = tables, settings
        self._ready: set[str] = set()

    def _table(self, name: str) -> str:
        if name not in self._ready:
            self.tables.ensure_table(name)
            self._ready.add(name)
        return name

    # -- project state ----------------------------------------------------------------------------------------

    def project(self, project: str) -> ProjectState:
        return self._load(ProjectState, self.settings.state_table, STATE_PARTITION, project)

    def projects(self) -> list[ProjectState]:
        return [ProjectState.from_entity(e) for e in self.tables.query(self._table(self.settings.state_table),
                                                                       STATE_PARTITION)]

    def save_project(self, state: ProjectState) -> ProjectState:
        """Write under the ETag read; PreconditionFailed means another instance moved first."""
        return self._save(self.settings.state_table, state)

    def change_project(self, project: str, change: Callable[[ProjectState], bool | None],
                       what: str) -> ProjectState | None:
        return self._change(self.settings.state_table, STATE_PARTITION, project, ProjectState, change, what)

    # -- releases ---------------------------------------------------------------------------------------------

    def release(self, project: str) -> ReleaseState:
        return self._load(ReleaseState, self.settings.releases_table, RELEASE_PARTITION, project)

    def releases(self) -> list[ReleaseState]:
        return [ReleaseState.from_entity(e) for e in self.tables.query(self._table(self.settings.releases_table),
                                                                       RELEASE_PARTITION)]

    def save_release(self, state: ReleaseState) -> ReleaseState:
        return self._save(self.settings.releases_table, state)

    def change_release(self, project: str, change: Callable[[ReleaseState], bool | None],
                       what: str) -> ReleaseState | None:
        return self._change(self.settings.releases_table, RELEASE_PARTITION, project, ReleaseState, change, what)

    def add_release_record(self, record: ReleaseRecord) -> bool:
        """Write the record once; False when it is already there (a tick that retried)."""
        record.partition = HISTORY_PARTITION + record.project
        try:
            self.tables.insert(self._table(self.settings.releases_table), record.to_entity())
        except PreconditionFailed:
            return False
        return True

    def release_history(self, project: str, limit: int = 100) -> list[ReleaseRecord]:
        """The project's release records, newest first."""
        rows = self.tables.query(self._table(self.settings.releases_table), HISTORY_PARTITION + project)
        return [ReleaseRecord.from_entity(e) for e in itertools.islice(rows, limit)]

    # -- runs -------------------------------------------------------------------------------------------------

    def run(self, project: str, batch_id: str) -> RunRecord | None:
        try:
            return RunRecord.from_entity(self.tables.get(self._table(self.settings.runs_table), project, batch_id))
        except NotFound:
            return None

    def runs(self, project: str) -> list[RunRecord]:
        return [RunRecord.from_entity(e) for e in self.tables.query(self._table(self.settings.runs_table), project)]

    def record_run(self, project: str, batch_id: str, now: datetime, defaults: dict[str, Any] | None = None,
                   **fields: Any) -> RunRecord:
        """Merge `fields` (None: leave as is) into the run's row, created with `defaults` when new. A write never
        reopens an ended run: its status stays."""
        table = self._table(self.settings.runs_table)
        current = self.run(project, batch_id) or RunRecord(project=project, batch_id=batch_id,
                                                             **(defaults or {}))
        if current.status and ended(current.status) and "status" in fields and not ended(fields["status"]):
            fields.pop("status")
        merged = dataclasses.replace(current, **{k: v for k, v in fields.items() if v is not None}, updated=iso(now))
        if "status" in fields and fields["status"] is not None:
            merged.status = RunStatus.parse(merged.status)
        self.tables.upsert(table, merged.to_entity())
        return merged

    # -- the ETag mechanics, once -----------------------------------------------------------------------------

    def _load(self, cls: type[S], table: str, partition: str, key: str) -> S:
        try:
            return cls.from_entity(self.tables.get(self._table(table), partition, key))
        except NotFound:
            return cls(project=key)

    def _save(self, table: str, row: S) -> S:
        entity = row.to_entity()
        if row.etag:
            etag = self.tables.update(self._table(table), entity, row.etag)
        else:
            etag = self.tables.insert(self._table(table), entity)
        return dataclasses.replace(row, etag=etag)

    def _change(self, table: str, partition: str, key: str, cls: type[S], change: Callable[[S], bool | None],
                what: str) -> S | None:
        """Read the row, let `change` edit it in place and write it under its ETag; on a conflict read it again and
        re-apply. `change` returning False leaves the row as it is; None when the row does not exist."""
        for _ in range(10):
            try:
                row = cls.from_entity(self.tables.get(self._table(table), partition, key))
            except NotFound:
                return None
            if change(row) is False:
                return row
            try:
                return self._save(table, row)
            except PreconditionFailed:
                continue  # someone wrote in between: read again and re-apply
        raise RuntimeError(f"could not {what}: its row kept changing")
