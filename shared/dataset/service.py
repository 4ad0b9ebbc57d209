"""Snapshot a project's folder into a manifest: check only what changed since the last snapshot, quarantine what is
bad, and rewrite only the manifest shards whose buckets changed — in slices that fit a time budget.

Changes come from the ledger (the names uploaded or deleted since the catalog's cut, looked up by ETag), or, when
there is no catalog yet, too many changes, or the last full listing is older than SNAPSHOT_RELIST_HOURS, from a
listing compared by ETag. A snapshot built this way is byte-identical to one built from scratch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.clock import from_iso, iso
from shared.dataset.catalog import Bucket, Catalog, CatalogStore
from shared.dataset.checks import (
    Limits,
    Outcome,
    Rules,
    Verdict,
    ambiguous,
    annotated_twice,
    apply_rules,
    canonical,
    check_files,
    orphan_annotation,
)
from shared.dataset.formats import READERS_VERSION, split_in_path
from shared.dataset.formats.collections import VIRTUAL, read_collection, resolve, split_virtual, virtual_name
from shared.dataset.formats.yolo import parse_class_list, precedence
from shared.dataset.label_map import LabelMap
from shared.dataset.layout import (
    STRAY_REASON,
    default_class_source,
    is_stray,
    is_unread_annotation,
    kind_of,
    layout_kind,
    other_reason,
    pairing_key,
    role_of,
    voc_roots,
)
from shared.dataset.manifest import (
    Shard,
    bucket_count,
    build_index,
    iter_entries,
    labelled,
    manifest_bytes,
)
from shared.dataset.problems import Problem, Rejected
from shared.dataset.validation_report import DatasetReport
from shared.ports import Blob, BlobStore, NotFound
from shared.settings import Settings

log = logging.getLogger(__name__)

LATEST_POINTER = "latest.json"
RENDERED_IN_MEMORY = 100_000
"""Examples kept between checking a bucket and writing its shard in the same call (beyond: read back)."""
LIST_PAGE = 5000
"""Blobs per List Blobs call (the service's maximum): one page is the unit of a listing taken in slices."""


def manifest_blob_name(project: str, version: str) -> str:
    return f"{project}/{version}.json"


@dataclass
class DatasetBuild:
    manifest: dict[str, Any]
    """The manifest index (its shards are already written)."""
    manifest_bytes: bytes
    report: DatasetReport
    quarantined: int
    store: BlobStore
    container: str

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every example, read back shard by shard."""
        project = self.manifest["project"]
        return iter_entries(self.manifest, lambda rel: self.store.read(self.container, f"{project}/{rel}").data)


@dataclass(frozen=True)
class SnapshotProgress:
    """A snapshot that used its time budget; the next call with the same token goes on from here."""

    stage: str
    done: int
    total: int

    def describe(self) -> str:
        if not self.total:
            return f"{self.stage}: {self.done} pages of up to {LIST_PAGE:,} blobs so far"
        return f"{self.stage}: {self.done} of {self.total} buckets done"


class DatasetBuilder:
    """Reads one project folder through the BlobStore port; owns no Azure or TensorFlow code."""

    def __init__(self, store: BlobStore, settings: Settings, *, workers: int = 8, persist: bool = True) -> None:
        self.store, self.settings, self.workers = store, settings, workers
        self.persist = persist
        """Write the catalog (the flush does; validation only reads it)."""

    def build(self, project: str, previous_label_map: LabelMap | None = None) -> DatasetBuild:
        """A whole snapshot with its full report (validation, tests): lists the folder, reuses checked files."""
        result = self.snapshot(project, previous_label_map, report=True)
        assert isinstance(result, DatasetBuild)
        return result

    def catalog_cut(self, project: str) -> str | None:
        """The ledger time up to which the catalog has every change (None: there is no catalog yet)."""
        catalog = CatalogStore(self.store, self.settings.manifests_container, project).load()
        return None if catalog is None else catalog.cut

    def snapshot(self, project: str, previous_label_map: LabelMap | None = None, *,
                 changes: list[str] | None = None, cut: str = "", token: str = "", budget: float | None = None,
                 report: bool = False, now: datetime | None = None) -> DatasetBuild | SnapshotProgress:
        """`changes`: blob names changed since the catalog's cut (None: list the folder); `cut`: the ledger time
        they run up to; `token`: the flush this slice belongs to; `budget`: seconds before stopping at the next
        bucket boundary (at least one bucket is always done)."""
        return _Snapshot(self, project, previous_label_map, changes, cut, token, budget, report,
                         now or datetime.now(UTC)).run()

    def publish(self, build: DatasetBuild) -> str:
        """Write the manifest index under its version (idempotent) and point `latest.json` at it."""
        project, version = build.manifest["project"], build.manifest["dataset_version"]
        name = manifest_blob_name(project, version)
        self.store.ensure_container(self.settings.manifests_container)
        self.store.write(self.settings.manifests_container, name, build.manifest_bytes,
                         content_type="application/json")
        pointer = json.dumps({"dataset_version": version, "manifest": name}).encode()
        self.store.write(self.settings.manifests_container, f"{project}/{LATEST_POINTER}", pointer,
                         content_type="application/json")
        build.report.manifest_blob = f"{self.settings.manifests_container}/{name}"
        log.info("dataset manifest published", extra={"project": project, "dataset_version": version,
                                                      "manifest": name, **build.manifest["counts"]})
        return name


class _Snapshot:
    """One call of `DatasetBuilder.snapshot`."""

    def __init__(self, builder: DatasetBuilder, project: str, previous: LabelMap | None, changes: list[str] | None,
                 cut: str, token: str, budget: float | None, want_report: bool, now: datetime) -> None:
        self.store, self.settings, self.workers = builder.store, builder.settings, builder.workers
        self.project, self.prefix, self.previous = project, f"{project.strip('/')}/", previous
        self.changes, self.cut, self.token, self.want_report, self.now = changes, cut, token, want_report, now
        self.deadline = None if budget is None else time.monotonic() + budget
        self.worked = False
        s = self.settings
        self.limits = Limits(s.max_image_pixels, s.max_image_bytes, s.max_annotation_bytes, s.max_collection_bytes)
        self.images_changed = False
        """Images came or went in this call: collection items whose image was not found are looked for again."""
        self.catalogs = CatalogStore(self.store, s.manifests_container, self.project, persist=builder.persist)
        self.report = DatasetReport(project, "", "")
        self.quarantined = 0
        self.copied: set[tuple[str, str]] = set()
        self.replaced_expansions: list[str] = []
        self.catalog = Catalog(project)
        self.rendered: dict[int, list[dict[str, Any]]] = {}
        """Examples of the buckets checked in this call, kept for their shards (up to RENDERED_IN_MEMORY)."""

    # -- the stages ---------------------------------------------------------------------------------------------

    def run(self) -> DatasetBuild | SnapshotProgress:
        self.store.ensure_container(self.settings.manifests_container)
        catalog = self._catalog()
        if not self._take_in_changes(catalog):
            return self._pause(catalog, "listing the folder", catalog.listing["parts"], 0)
        self.catalog = catalog
        self._expand_collections(catalog)
        rules, roots, user_map = self._rules(catalog)
        self.rules = rules
        fingerprint = _digest([rules.class_source, rules.allowed, rules.validation_fraction, sorted(roots),
                               sorted((k, v[0], sorted(v[1].items())) for k, v in rules.class_lists.items()),
                               rules.split, rules.golden_folder])
        todo = sorted(catalog.dirty | {b for b in range(catalog.buckets)
                                       if catalog.summaries.get(b, {}).get("rules") != fingerprint})
        for done, bucket in enumerate(todo):
            if self._out_of_time():
                return self._pause(catalog, "checking changed files", catalog.buckets - len(todo) + done,
                                   catalog.buckets)
            self._check_bucket(catalog, bucket, rules, roots, fingerprint)
        label_map = self._label_map(catalog, user_map)
        stale = [b for b in range(catalog.buckets) if self._shard_stale(catalog.summaries.get(b, {}), label_map)]
        for done, bucket in enumerate(stale):
            if self._out_of_time():
                return self._pause(catalog, "writing manifest shards", catalog.buckets - len(stale) + done,
                                   catalog.buckets)
            self._write_shard(catalog, bucket, rules, roots, label_map)
        catalog.cut, catalog.listing_token = max(self.cut, catalog.cut), ""
        self._save(catalog)
        return self._finish(catalog, rules, roots, label_map)

    def _catalog(self) -> Catalog:
        fingerprint = _digest([self.limits.max_image_pixels, self.limits.max_image_bytes,
                               self.limits.max_annotation_bytes, self.settings.datasets_container,
                               self.limits.max_collection_bytes, READERS_VERSION])
        catalog = self.catalogs.load()
        if catalog is None or catalog.fingerprint != fingerprint:
            catalog = Catalog(self.project, fingerprint=fingerprint)
            self.catalogs.fresh = True  # whatever bucket blobs lie there belong to no catalog: never read them
        return catalog

    def _take_in_changes(self, catalog: Catalog) -> bool:
        """Bring the catalog up to the folder's current ETags, from the ledger's names or from a listing (taken
        a page at a time across calls); False while the listing is not complete."""
        relist_due = not catalog.listed_at or self.now - from_iso(catalog.listed_at) > timedelta(
            hours=self.settings.snapshot_relist_hours)
        many = self.changes is not None and len(self.changes) > max(1000, catalog.pairs // 4)
        if self.changes is None or self.catalogs.fresh or relist_due or many:
            self.images_changed = True
            if self.token and catalog.listing_token == self.token:
                return True  # an earlier slice of this flush listed the folder already
            listed = self._list_in_slices(catalog)
            if listed is None:
                return False
            self._apply_listing(catalog, listed)
            return True
        self.images_changed = any(kind_of(name) == "image" for name in self.changes)
        infos = self._pool(lambda name: self.store.info(self.settings.datasets_container, name), self.changes)
        for name, info in zip(self.changes, infos, strict=True):
            self.catalogs.apply(catalog, name, info.etag if info else None)
        n = catalog.pairs
        if bucket_count(n) != catalog.buckets:
            self.catalogs.rebucket(catalog, bucket_count(n))
        # The index (which buckets are dirty) before the buckets: a crash in between leaves buckets marked dirty
        # but unchanged, and their changes, still after the catalog's cut, are applied again by the next slice.
        self.catalogs.save(catalog, index_first=True)
        return True

    def _list_in_slices(self, catalog: Catalog) -> dict[str, str] | None:
        """The folder's blobs → ETags, listed a page (5,000) at a time; each page is kept as a part blob and the
        next page's marker in the catalog, so a listing longer than the budget goes on in the next call. None
        while it is not complete."""
        progress = catalog.listing
        if not progress or progress.get("token") != self.token:
            progress = catalog.listing = {"token": self.token, "marker": None, "parts": 0, "done": False}
        while not progress["done"]:
            if self._out_of_time():
                self.catalogs.save(catalog)
                return None
            page, marker = self.store.list_page(self.settings.datasets_container, self.prefix, progress["marker"],
                                                LIST_PAGE)
            self.catalogs.put_part(progress["parts"], {b.name: b.etag for b in page})
            progress.update(marker=marker, parts=progress["parts"] + 1, done=marker is None)
            self.catalogs.save(catalog)
        listed: dict[str, str] = {}
        for part in range(progress["parts"]):
            listed.update(self.catalogs.part(part))
        return listed

    def _apply_listing(self, catalog: Catalog, listed: dict[str, str]) -> None:
        keys = {pairing_key(n[len(self.prefix):]) for n in listed if role_of(n[len(self.prefix):]) == "pair"}
        if bucket_count(len(keys)) != catalog.buckets:
            if self.catalogs.fresh:
                catalog.buckets = bucket_count(len(keys))
            else:
                self.catalogs.rebucket(catalog, bucket_count(len(keys)))
        catalog.dirty = set(range(catalog.buckets))
        self.catalogs.save(catalog)  # first say every bucket is to be redone, then change them
        grouped: dict[int, dict[str, str]] = {}
        for name, etag in listed.items():
            grouped.setdefault(self.catalogs.bucket_index(catalog, name), {})[name] = etag
        for bucket in range(catalog.buckets):
            state, wanted = self.catalogs.bucket(catalog, bucket), grouped.get(bucket, {})
            for name in set(state.names()) | set(wanted):
                if VIRTUAL not in name:  # collection items follow their file (_expand_collections)
                    self.catalogs.apply(catalog, name, wanted.get(name))
            catalog.summaries.setdefault(bucket, {})["pairs"] = len(state.pairs)
            self.catalogs.changed.add(bucket)
            self.catalogs.flush(catalog, bucket)
        catalog.listed_at, catalog.listing_token, parts = iso(self.now), self.token, catalog.listing["parts"]
        catalog.listing = None
        self.catalogs.fresh = False
        self.catalogs.save(catalog)
        self.catalogs.drop_parts(parts)

    def _expand_collections(self, catalog: Catalog) -> None:
        """Spread each new or changed collection file over its images' pairs (only the items that changed move),
        and take a deleted one's items away; files whose images were not all found are looked at again when
        images came or went."""
        current = {n: e for n, e in catalog.specials.items() if role_of(n[len(self.prefix):]) == "collection"}
        for name in sorted(set(catalog.collections) | set(current)):
            kept = catalog.collections.get(name)
            unchanged = kept is not None and kept["etag"] == current.get(name)
            if unchanged and not (kept["unresolved"] and self.images_changed):
                continue
            self._expand(catalog, name, current.get(name), kept or {})

    def _expand(self, catalog: Catalog, name: str, etag: str | None, kept: dict[str, Any]) -> None:
        before = self.catalogs.expansion(kept.get("expansion"))
        entry: dict[str, Any] = {"etag": etag, "format": None, "items": 0, "unresolved": 0, "problems": [],
                                 "warnings": [], "ignored": None, "expansion": None}
        records: dict[str, dict[str, Any]] = {}
        if etag is not None:
            records = self._read_collection(catalog, name, entry)
        digests = {v: hashlib.md5(canonical(r)).hexdigest() for v, r in records.items()}
        moved = {v for v in digests if before.get(v) != digests[v]} | (set(before) - set(digests))
        # First say which buckets will change (a crash from here on redoes this file and re-checks them)…
        catalog.dirty |= {self.catalogs.bucket_index(catalog, v) for v in moved}
        if moved:
            self._save(catalog)
        for virtual in sorted(moved):
            self.catalogs.apply(catalog, virtual, digests.get(virtual), records.get(virtual))
        if etag is not None:
            entry["expansion"] = self.catalogs.expansion_name(name, etag)
            if entry["expansion"] != kept.get("expansion"):
                self.catalogs.put_expansion(entry["expansion"], digests)
            catalog.collections[name] = entry
        else:
            catalog.collections.pop(name, None)
        # …then the buckets: every later save writes them before the index that names the new expansion; the old
        # expansion is dropped once such an index is written.
        if kept.get("expansion") and kept.get("expansion") != entry["expansion"]:
            self.replaced_expansions.append(kept["expansion"])
        if bucket_count(catalog.pairs) != catalog.buckets:
            self.catalogs.rebucket(catalog, bucket_count(catalog.pairs))

    def _save(self, catalog: Catalog) -> None:
        """Changed buckets, then the index; then what the index no longer names."""
        self.catalogs.save(catalog)
        for blob in self.replaced_expansions:
            self.catalogs.drop_expansion(blob)
        self.replaced_expansions.clear()

    def _read_collection(self, catalog: Catalog, name: str, entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """One collection file's items, each under the name that pairs it with its image; what went wrong with
        the file itself goes into `entry`."""
        relative = name[len(self.prefix):]
        try:
            blob = self.store.read(self.settings.datasets_container, name)
            read = read_collection(relative, blob.data, max_bytes=self.limits.max_collection_bytes)
        except NotFound:
            return {}
        except Rejected as exc:
            entry["problems"] = [[exc.field, exc.reason]]
            self._copy_to_quarantine(blob, Problem(name, exc.field, exc.reason))
            return {}
        entry.update(format=read.format, ignored=read.ignored, warnings=[list(w) for w in read.warnings])
        records: dict[str, dict[str, Any]] = {}
        found_in: str | None = None
        for item in read.items:
            image, found = resolve(relative, item, lambda path: self._image_exists(catalog, path), found_in)
            found_in = posixpath.dirname(image) if found else found_in
            virtual = virtual_name(name, image)
            if virtual in records:
                entry["warnings"].append([item.where, f"names the same image as {records[virtual]['where']}: "
                                                      "only the first is used"])
                continue
            records[virtual] = item.record() | {"split": item.split or split_in_path(relative)} | (
                {} if found else {"looked_for": item.ref})
            entry["unresolved"] += not found
        entry["items"] = len(records)
        return records

    def _image_exists(self, catalog: Catalog, relative: str) -> bool:
        state = self.catalogs.bucket(catalog, self.catalogs.bucket_index(catalog, self.prefix + relative))
        pair = state.pairs.get(pairing_key(relative))
        return pair is not None and self.prefix + relative in pair["members"]

    def _rules(self, catalog: Catalog) -> tuple[Rules, set[str], LabelMap | None]:
        """The project-wide inputs: layout (from its folders), dataset.json, the label map and YOLO class lists."""
        kind = layout_kind(catalog.folders)
        config = self._config(catalog)
        user_map = self._user_label_map(catalog)
        self.report.layout = kind
        self.report.class_source = config.get("class_source", default_class_source(kind))
        fraction = float(config.get("validation_fraction", self.settings.validation_fraction))
        rules = Rules(self.report.class_source, tuple(user_map.names) if user_map else None, fraction, self.prefix,
                      self._class_lists(catalog), config.get("split", "hash"), config.get("golden_folder", "golden"))
        return rules, voc_roots(catalog.folders), user_map

    def _class_lists(self, catalog: Catalog) -> dict[str, tuple[str, dict[int, str]]]:
        """YOLO class lists by folder (data.yaml before *.names before classes.txt in one folder)."""
        found: dict[str, tuple[str, dict[int, str]]] = {}
        names = sorted((n for n in catalog.specials if role_of(n[len(self.prefix):]) == "class_list"),
                       key=lambda n: (posixpath.dirname(n), precedence(n), n))
        for name in names:
            folder = posixpath.dirname(name[len(self.prefix):])
            if folder in found:
                self.report.ignored.append(Problem(name, "file", f"{found[folder][0]} names this folder's classes",
                                                   "warning"))
                continue
            try:
                blob = self.store.read(self.settings.datasets_container, name)
            except NotFound:
                continue
            try:
                found[folder] = (name, parse_class_list(name, blob.data, max_bytes=self.limits.max_annotation_bytes))
            except Rejected as exc:
                self._global_quarantine(blob, Problem(name, exc.field, exc.reason + "; YOLO labels below it are "
                                                      "not used"))
        return found

    # -- one bucket ------------------------------------------------------------------------------------------

    def _check_bucket(self, catalog: Catalog, bucket: int, rules: Rules, roots: set[str], fingerprint: str) -> None:
        """Check the pairs whose files changed (downloads), then judge every pair; quarantine new rejections."""
        state = self.catalogs.bucket(catalog, bucket)
        plans = {key: self._plan(pair, rules, roots) for key, pair in state.pairs.items()}
        todo = [key for key, plan in plans.items() if plan.what == "check" and not plan.cached(state.pairs[key])]
        fetched: dict[str, Blob] = {}
        for key, result in zip(todo, self._pool(lambda k: self._check(plans[k]), todo), strict=True):
            if result is not None:
                outcome, blobs = result
                state.pairs[key]["outcome"], state.pairs[key]["checked"] = outcome, plans[key].used
                fetched.update(blobs)
        verdicts = self._verdicts(state, plans)
        problems = {"quarantined": 0, "warnings": 0, "ignored": 0}
        for verdict in verdicts:
            for problem in verdict.rejected:
                self._quarantine(state, problem, fetched)
            problems["quarantined"] += len(verdict.rejected)
            problems["warnings"] += len(verdict.warnings)
            problems["ignored"] += len(verdict.ignored)
        entries = [v.entry for v in verdicts if v.entry]
        if sum(map(len, self.rendered.values())) + len(entries) <= RENDERED_IN_MEMORY:
            self.rendered[bucket] = entries  # for its shard, later in this call
        classes = sorted({o["name"] for e in entries for o in e["objects"]})
        summary = catalog.summaries.setdefault(bucket, {})
        unread = sorted(n for n in state.others if is_unread_annotation(n))
        summary.update(pairs=len(state.pairs), rules=fingerprint, classes=classes, problems=problems,
                       shard_stale=True, unread=unread)
        catalog.dirty.discard(bucket)
        self.catalogs.changed.add(bucket)
        self.catalogs.flush(catalog, bucket)

    def _plan(self, pair: dict[str, Any], rules: Rules, roots: set[str]) -> _Plan:
        """What a pair needs, with strays beside a VOC tree's JPEGImages/ left out."""
        members = pair["members"]
        used = {n: e for n, e in members.items() if not is_stray(n[len(self.prefix):], roots)}
        images = sorted(n for n in used if kind_of(n) == "image")
        annotations = sorted(n for n in used if kind_of(n) == "annotation")
        item = pair.get("extracted", {}).get(annotations[0]) if len(annotations) == 1 else None
        if not used:
            what = "empty"
        elif len(images) > 1 or (len(annotations) > 1 and not images):
            what = "ambiguous"
        elif len(annotations) > 1:
            what = "twice"
        elif not images:
            what = "orphan"
        elif item is not None and item.get("unlabelled"):
            what = "not labelled"
        elif not annotations and rules.class_source == "filename":
            what = "unlabelled"
        else:
            what = "check"
        return _Plan(what, images, annotations, used, item)

    def _check(self, plan: _Plan) -> tuple[Outcome, dict[str, Blob]] | None:
        """Download and check one pair; None when it was deleted meanwhile (the next snapshot sees why)."""
        container = self.settings.datasets_container
        try:
            image = self.store.read(container, plan.images[0])
            annotation = None
            if plan.item is not None:
                annotation = Blob(plan.annotations[0], canonical(plan.item), plan.used[plan.annotations[0]])
            elif plan.annotations:
                annotation = self.store.read(container, plan.annotations[0])
        except NotFound:
            return None
        blobs = {image.name: image} | ({annotation.name: annotation} if annotation and plan.item is None else {})
        return check_files(image, annotation, self.limits, plan.item), blobs

    def _verdicts(self, state: Bucket, plans: dict[str, _Plan]) -> list[Verdict]:
        """Every pair and other file of a bucket under the rules (from cached outcomes only: no download)."""
        verdicts = [Verdict(ignored=[Problem(n, "file", other_reason(n[len(self.prefix):]), "warning")])
                    for n in state.others if role_of(n[len(self.prefix):]) == "other"]
        for key, plan in plans.items():
            pair = state.pairs[key]
            strays = sorted(set(pair["members"]) - set(plan.used))
            if strays:
                verdicts.append(Verdict(ignored=[Problem(n, "file", STRAY_REASON, "warning") for n in strays]))
            if plan.what == "ambiguous":
                verdicts.append(apply_rules(ambiguous([self._shown(pair, n) for n in plan.images + plan.annotations]),
                                            self.rules))
            elif plan.what == "twice":
                verdicts.append(apply_rules(annotated_twice(plan.images[0], [self._where(pair, n)
                                                                             for n in plan.annotations]), self.rules))
            elif plan.what == "orphan" and plan.annotations[0].lower().endswith(".txt"):
                verdicts.append(Verdict(ignored=[Problem(plan.annotations[0], "file", "no image of the same name: not "
                                                         "read as a YOLO label", "warning")]))
            elif plan.what == "orphan":
                file, where = self._where(pair, plan.annotations[0])
                looked = (pair.get("extracted", {}).get(plan.annotations[0]) or {}).get("looked_for")
                verdicts.append(apply_rules(orphan_annotation(file, where, looked and (
                    f"{looked!r} beside this file, in its parent folder, in their images/ folders and in the tool's "
                    "split or subset folders")), self.rules))
            elif plan.what == "not labelled":
                file, where = self._where(pair, plan.annotations[0])
                verdicts.append(Verdict(ignored=[Problem(plan.images[0], "annotation", f"{file} ({where}): "
                                                         f"{plan.item['unlabelled']}", "warning")]))
            elif plan.what == "unlabelled":
                verdicts.append(Verdict(ignored=[Problem(plan.images[0], "annotation", "no annotation: the "
                                                 "class-in-file-name layout needs boxes, so this image is not used",
                                                 "warning")]))
            elif plan.what == "check" and plan.cached(pair):
                verdicts.append(apply_rules(pair["outcome"], self.rules))
            elif plan.what == "check":
                verdicts.append(Verdict(ignored=[Problem(plan.images[0], "file", "deleted while the dataset was "
                                                         "read", "warning")]))
        return verdicts

    def _where(self, pair: dict[str, Any], name: str) -> tuple[str, str]:
        """(file, place in it) of a pair member: a collection item's file and item, or the file itself."""
        item = pair.get("extracted", {}).get(name)
        return (split_virtual(name)[0], item["where"]) if item is not None else (name, "")

    def _shown(self, pair: dict[str, Any], name: str) -> str:
        file, where = self._where(pair, name)
        return f"{file} ({where})" if where else file

    def _quarantine(self, state: Bucket, problem: Problem, fetched: dict[str, Blob]) -> None:
        """Copy (never move) the file and its reason to the quarantine container, once per ETag and reason (a
        collection file once per item at fault)."""
        several = role_of(problem.file[len(self.prefix):]) == "collection"
        key = f"{problem.file}{VIRTUAL}{problem.field}" if several else problem.file
        etag = state.names().get(problem.file) or self.catalog.specials.get(problem.file)
        if state.quarantined.get(key) == [etag, problem.field, problem.reason]:
            return
        try:
            blob = fetched.get(problem.file) or self.store.read(self.settings.datasets_container, problem.file)
        except NotFound:
            return
        self._copy_to_quarantine(blob, problem, several)
        state.quarantined[key] = [blob.etag, problem.field, problem.reason]

    def _copy_to_quarantine(self, blob: Blob, problem: Problem, several: bool = False) -> None:
        """The file's copy, and its reason beside it (`<file>.reason.json`; a collection file, which can be at
        fault in many items, `<file>.<field hash>.reason.json` per item)."""
        container = self.settings.quarantine_container
        self.store.ensure_container(container)
        if (blob.name, blob.etag) not in self.copied:
            self.store.write(container, blob.name, blob.data)
            self.copied.add((blob.name, blob.etag))
        reason = problem.to_dict() | {"source_container": self.settings.datasets_container, "etag": blob.etag,
                                      "md5": hashlib.md5(blob.data).hexdigest(), "size": len(blob.data)}
        suffix = f".{hashlib.sha256(problem.field.encode()).hexdigest()[:8]}" if several else ""
        self.store.write(container, f"{blob.name}{suffix}.reason.json",
                         json.dumps(reason, indent=1, sort_keys=True).encode(), content_type="application/json")
        log.warning("file quarantined", extra={"project": self.project, "file": blob.name, "field": problem.field,
                                                "reason": problem.reason,
                                                "quarantine": posixpath.join(container, blob.name)})

    def _shard_stale(self, summary: dict[str, Any], label_map: LabelMap) -> bool:
        labels = {c: label_map.id_of(c) for c in summary.get("classes", [])}
        return summary.get("shard_stale", True) or summary.get("labels") != labels

    def _write_shard(self, catalog: Catalog, bucket: int, rules: Rules, roots: set[str],
                     label_map: LabelMap) -> None:
        if bucket in self.rendered:
            entries = [labelled(e, label_map) for e in self.rendered.pop(bucket)]
        else:
            state = self.catalogs.bucket(catalog, bucket)
            plans = {key: self._plan(pair, rules, roots) for key, pair in state.pairs.items()}
            entries = [labelled(v.entry, label_map) for v in self._verdicts(state, plans) if v.entry]
        summary = catalog.summaries.setdefault(bucket, {})
        shard = Shard.of(entries) if entries else None
        if shard is not None and (summary.get("shard") or {}).get("sha256") != shard.sha256:
            self.store.write(self.settings.manifests_container, f"{self.project}/{shard.blob}", shard.data,
                             content_type="application/x-ndjson")
        summary.update(shard=shard.ref() if shard else None, shard_stale=False,
                       labels={c: label_map.id_of(c) for c in summary.get("classes", [])})
        self.catalogs.forget(bucket)

    # -- project-wide inputs and the result --------------------------------------------------------------------

    def _config(self, catalog: Catalog) -> dict[str, Any]:
        name = f"{self.prefix}dataset.json"
        if name not in catalog.specials:
            return {}
        try:
            blob = self.store.read(self.settings.datasets_container, name)
        except NotFound:
            return {}
        try:
            config = json.loads(blob.data)
            if not isinstance(config, dict):
                raise Rejected("json", "must be an object")
            if config.get("class_source", "annotation") not in ("annotation", "filename"):
                raise Rejected("class_source", f"{config['class_source']!r} is not 'annotation' or 'filename'")
            fraction = config.get("validation_fraction", 0.2)
            if not isinstance(fraction, int | float) or not 0 <= fraction < 1:
                raise Rejected("validation_fraction", f"{fraction!r} is not a number in [0, 1)")
            if config.get("split", "hash") not in ("hash", "export"):
                raise Rejected("split", f"{config['split']!r} is not 'hash' or 'export'")
            golden = config.get("golden_folder", "golden")
            if not isinstance(golden, str) or golden.startswith("/") or ".." in golden.split("/"):
                raise Rejected("golden_folder", f"{golden!r} is not a folder inside the project")
            return config
        except (ValueError, Rejected) as exc:
            field, reason = (exc.field, exc.reason) if isinstance(exc, Rejected) else ("json", str(exc))
            self._global_quarantine(blob, Problem(blob.name, field, reason + "; defaults used"))
            return {}

    def _user_label_map(self, catalog: Catalog) -> LabelMap | None:
        maps = sorted((n for n in catalog.specials if role_of(n[len(self.prefix):]) == "label_map"),
                      key=lambda n: (n.count("/"), n))
        if not maps:
            return None
        chosen, *others = maps
        for other in others:
            self.report.ignored.append(Problem(other, "file", f"only one label map is used: {chosen}", "warning"))
        try:
            blob = self.store.read(self.settings.datasets_container, chosen)
        except NotFound:
            return None
        try:
            return LabelMap.parse(blob.data.decode("utf-8"))
        except (Rejected, UnicodeDecodeError) as exc:
            field, reason = (exc.field, exc.reason) if isinstance(exc, Rejected) else ("encoding", str(exc))
            self._global_quarantine(blob, Problem(blob.name, field, reason + "; classes taken from the annotations"))
            return None

    def _global_quarantine(self, blob: Blob, problem: Problem) -> None:
        self._copy_to_quarantine(blob, problem)
        self.report.quarantined.append(problem)
        self.quarantined += 1

    def _label_map(self, catalog: Catalog, user: LabelMap | None) -> LabelMap:
        """Ids never change: the previous label map's, then the label map file's, then new classes appended."""
        label_map = self.previous or LabelMap()
        if user is not None:
            for item in user.items:
                kept = label_map.id_of(item.name)
                if kept is not None and kept != item.id:
                    self.report.warnings.append(Problem("pascal_label_map.pbtxt", f"item {item.name!r}/id",
                                                        f"keeps id {kept} from earlier dataset versions "
                                                        f"(the file says {item.id}); ids never change", "warning"))
            label_map = label_map.merged(user) if self.previous else user
        seen = sorted({c for s in catalog.summaries.values() for c in s.get("classes", [])})
        return label_map.extended(seen)

    def _finish(self, catalog: Catalog, rules: Rules, roots: set[str], label_map: LabelMap) -> DatasetBuild:
        shards = [catalog.summaries[b]["shard"] for b in range(catalog.buckets)
                  if catalog.summaries.get(b, {}).get("shard")]
        index = build_index(project=self.project, container=self.settings.datasets_container, prefix=self.prefix,
                            label_map=label_map, validation_fraction=rules.validation_fraction, shards=shards,
                            split=rules.split)
        self.quarantined += sum(s.get("problems", {}).get("quarantined", 0) for s in catalog.summaries.values())
        self._collection_problems(catalog)
        if self.want_report:
            for bucket in range(catalog.buckets):
                state = self.catalogs.bucket(catalog, bucket)
                plans = {key: self._plan(pair, rules, roots) for key, pair in state.pairs.items()}
                for verdict in self._verdicts(state, plans):
                    self.report.quarantined.extend(verdict.rejected)
                    self.report.warnings.extend(verdict.warnings)
                    self.report.ignored.extend(verdict.ignored)
                    if verdict.entry and verdict.entry["annotation"]:
                        self._note_format(verdict.entry["annotation"])
                self.catalogs.forget(bucket)
        self.report.alerts = self._alerts(catalog, index["counts"])
        report = self.report
        report.dataset_version, report.counts, report.label_map = (index["dataset_version"], index["counts"],
                                                                   index["label_map"])
        report.quarantined.sort(key=lambda p: p.file)
        report.warnings.sort(key=lambda p: (p.file, p.field))
        report.ignored.sort(key=lambda p: p.file)
        log.info("dataset snapshot taken", extra={"project": self.project, "dataset_version":
                                                  index["dataset_version"], "buckets": catalog.buckets,
                                                  **index["counts"]})
        return DatasetBuild(index, manifest_bytes(index), report, self.quarantined, self.store,
                            self.settings.manifests_container)

    def _collection_problems(self, catalog: Catalog) -> None:
        """What each collection file's last reading found about the file itself, in this snapshot's report."""
        for name, entry in sorted(catalog.collections.items()):
            self.quarantined += len(entry["problems"])
            self.report.quarantined.extend(Problem(name, f, r) for f, r in entry["problems"])
            self.report.warnings.extend(Problem(name, f, r, "warning") for f, r in entry["warnings"])
            if entry["ignored"]:
                self.report.ignored.append(Problem(name, "file", entry["ignored"], "warning"))
            elif entry["format"]:
                self.report.formats[_folder(name[len(self.prefix):])] = entry["format"]

    def _note_format(self, annotation: dict[str, Any]) -> None:
        if "where" in annotation:
            return  # a collection item: its file's format is noted already
        name = annotation["name"][len(self.prefix):]
        kind = "yolo" if name.lower().endswith(".txt") else "pascal-voc"
        self.report.formats.setdefault(_folder(name), kind)

    def _alerts(self, catalog: Catalog, counts: dict[str, Any]) -> list[str]:
        """What makes this dataset not what the user meant, said before anything else: annotation files no reader
        took, and a dataset with no boxes at all."""
        unread = sorted({n for s in catalog.summaries.values() for n in s.get("unread", [])}
                        | {n for n, c in catalog.collections.items() if c["problems"]})
        alerts = []
        if unread:
            shown = ", ".join(unread[:5]) + (f" and {len(unread) - 5} more" if len(unread) > 5 else "")
            alerts.append(f"{len(unread)} annotation file{'s' * (len(unread) > 1)} not read ({shown}): "
                          "their boxes are not in this dataset; the reasons are listed below")
        if counts["images"] and not counts["boxes"]:
            alerts.append(f"no boxes in {counts['images']} images: nothing to train a detector on (are the "
                          "annotation files uploaded, and in a format listed in docs/datasets.md?)")
        return alerts

    # -- helpers -------------------------------------------------------------------------------------------

    def _out_of_time(self) -> bool:
        """Past the budget, after at least one step of this call (so every call makes progress)."""
        late = self.worked and self.deadline is not None and time.monotonic() > self.deadline
        self.worked = True
        return late

    def _pause(self, catalog: Catalog, stage: str, done: int, total: int) -> SnapshotProgress:
        self._save(catalog)
        progress = SnapshotProgress(stage, done, total)
        log.info("dataset snapshot paused: time budget used", extra={"project": self.project,
                                                                     "progress": progress.describe()})
        return progress

    def _pool(self, fn: Any, items: list[Any]) -> list[Any]:
        if len(items) <= 1:
            return [fn(i) for i in items]
        with ThreadPoolExecutor(self.workers) as pool:
            return list(pool.map(fn, items))


@dataclass(frozen=True)
class _Plan:
    """What one pair needs: "check" (download unless cached), "ambiguous" (two images), "twice" (two annotation
    files), "orphan" (no image), "unlabelled" (file-name classes need boxes), "not labelled" (a Label Studio task
    nobody submitted) or "empty" (only strays)."""

    what: str
    images: list[str]
    annotations: list[str]
    """Annotation files and collection items."""
    used: dict[str, str]
    """The files the outcome is made from, with their ETags."""
    item: dict[str, Any] | None = None
    """The collection item's record, when the annotation is one."""

    def cached(self, pair: dict[str, Any]) -> bool:
        return pair["outcome"] is not None and pair["checked"] == self.used


def _folder(relative: str) -> str:
    return posixpath.dirname(relative) or "."


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]
