"""Changes whose events never came. Event Grid gives up on a delivery after its retry window, and an event can be lost
on the way; a snapshot then never hears of the file. So on the debounce tick, a project with nothing pending and no
flush under way, whose folder has not been compared as a whole for SNAPSHOT_RELIST_HOURS, is listed and compared
with its catalog (what the last snapshot saw) by ETag. Each difference is written to the ledger as its event would
have been, and the window and the snapshot take it from there. One project a tick: the one compared longest ago."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from shared import logs
from shared.clock import iso
from shared.dataset.catalog import Catalog, CatalogStore
from shared.dataset.formats.collections import VIRTUAL
from shared.events import BlobEvent
from shared.ledger import is_dataset_file, ledger_row
from shared.pipeline.records import ProjectState, Records
from shared.ports import BlobStore, TableStore
from shared.settings import Settings

log = logging.getLogger(__name__)

LISTING = "listing"
"""The event id prefix of a ledger row the listing wrote (no event came)."""


class FindLostChanges:
    def __init__(self, blobs: BlobStore, tables: TableStore, settings: Settings) -> None:
        self.blobs, self.tables, self.settings = blobs, tables, settings
        self.records = Records(tables, settings)

    def sweep_one(self, now: datetime) -> str | None:
        """Compare the most overdue project, if any is due; return its name."""
        due = [(found, state) for state in self.records.projects() if (found := self._due(state, now)) is not None]
        if not due:
            return None
        (_, catalog), state = min(due, key=lambda pair: pair[0][0])
        with logs.correlation(project=state.project):
            self.sweep(state.project, now, catalog)
        return state.project

    def _due(self, state: ProjectState, now: datetime) -> tuple[str, Catalog] | None:
        """When the project's folder was last compared as a whole, and its catalog, if that is too long ago and
        nothing else is going on (no flush, nothing pending); else None."""
        horizon = iso(now - timedelta(hours=self.settings.snapshot_relist_hours))
        if state.phase == "flushing" or (state.swept_at and state.swept_at > horizon):
            return None
        catalog = CatalogStore(self.blobs, self.settings.manifests_container, state.project).load()
        if catalog is None or catalog.listing:
            return None
        if catalog.listed_at > horizon:  # a snapshot listed it since: noted, so later ticks need not read it
            self._note(state.project, catalog.listed_at)
            return None
        if self._pending(state):
            return None
        return max(catalog.listed_at, state.swept_at), catalog

    def _note(self, project: str, moment: str) -> None:
        self.records.change_project(project, lambda state: setattr(state, "swept_at", moment) or True,
                                    "note the folder's comparison")

    def _pending(self, state: ProjectState) -> bool:
        after = ("event_time", state.cut) if state.cut else None
        return next(iter(self.tables.query(self.settings.ledger_table, state.project, after=after)), None) is not None

    def sweep(self, project: str, now: datetime, catalog: Catalog | None = None) -> int:
        """List the folder, compare it with the catalog (read here unless given), write a ledger row per
        difference; return how many."""
        catalogs = CatalogStore(self.blobs, self.settings.manifests_container, project)
        catalog = catalog or catalogs.load()
        if catalog is None:
            return 0
        known: dict[str, str] = {}
        for _, bucket in catalogs.all_buckets(catalog):
            known.update((name, etag) for name, etag in bucket.names().items() if VIRTUAL not in name)
        container = self.settings.datasets_container
        listed = {b.name: b.etag for b in self.blobs.list(container, f"{project}/")}
        changed = sorted(n for n, etag in listed.items() if known.get(n) != etag and is_dataset_file(n))
        gone = sorted(n for n in known if n not in listed and is_dataset_file(n))
        moment = iso(now)
        rows = [ledger_row(BlobEvent(f"{LISTING}:{name}:{listed.get(name, 'deleted')}:{moment}",
                                     "created" if name in listed else "deleted", "", container, name,
                                     listed.get(name), "", moment), project) for name in changed + gone]
        if rows:
            self.tables.upsert_many(self.settings.ledger_table, rows)
            log.warning("changes found by listing: their events never arrived", extra={
                "changes": len(rows), "deleted": len(gone), "first_blob": rows[0]["blob"][:300]})
        log.info("project folder compared with its catalog", extra={"files": len(listed), "changes": len(rows)})
        self._note(project, moment)
        return len(rows)
