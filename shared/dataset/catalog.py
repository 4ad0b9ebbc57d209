"""A project's catalog: what the last snapshot saw of its folder, so the next one only reads what changed.

Every blob of the project sits in one bucket (a hash of its pairing key, `manifest.bucket_of`), with its ETag; each
image/annotation pair keeps the outcome of its check and the ETags that outcome was made from. A bucket's state is
one JSON blob (`manifests/<project>/catalog/<buckets>/<bucket>.json`); the index (`catalog/index.json`) holds the
bucket count, each bucket's summary (counts, classes, its manifest shard), the folders that decide the layout, the
label maps and config, and which buckets changed since they were last rendered. The flush of a project is its only
writer (the flush claim serialises it), so no ETag guard is needed here.

A collection file (COCO, Label Studio, CVAT XML) is spread over the buckets of the images it annotates: each of its
items sits in its image's pair under a name of its own (`<file>::<image path>`) with the digest of the item's record
as its ETag, and the record itself (`pair["extracted"]`), so a re-exported file changes only the pairs whose items
changed. What a collection was last expanded into is kept in a blob per version of the file
(`catalog/collections/<name hash>/<etag hash>.json`), named by the index only once the buckets hold it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from shared.dataset.formats.collections import VIRTUAL
from shared.dataset.layout import SPECIAL_ROLES, folder_of, pairing_key, role_of
from shared.dataset.manifest import bucket_of
from shared.ports import BlobStore, NotFound

SCHEMA = "tfod-retrain/catalog/v1"


@dataclass
class Bucket:
    """The blobs of one bucket: pairs (by pairing key) with their cached check, everything else, and what was
    copied to quarantine (so an unchanged bad file is not copied again)."""

    pairs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """pairing key → {"members": {blob: etag}, "outcome": outcome | None, "checked": {blob: etag}} and, for
    collection items among the members, "extracted": {item name: record}"""
    others: dict[str, str] = field(default_factory=dict)
    quarantined: dict[str, list[str]] = field(default_factory=dict)
    """blob → [etag, field, reason] of its quarantine copy"""

    def names(self) -> dict[str, str]:
        found = dict(self.others)
        for pair in self.pairs.values():
            found.update(pair["members"])
        return found

    def to_json(self) -> bytes:
        return json.dumps({"pairs": self.pairs, "others": self.others, "quarantined": self.quarantined},
                          separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Bucket:
        raw = json.loads(data)
        return cls(raw["pairs"], raw["others"], raw["quarantined"])


@dataclass
class Catalog:
    project: str
    buckets: int = 1
    fingerprint: str = ""
    """Of the check limits: outcomes are only valid under the limits they were made with."""
    cut: str = ""
    """Ledger event time up to which every change is in the catalog."""
    listed_at: str = ""
    """When the folder was last listed and compared as a whole (the fallback for events that never came)."""
    folders: Counter[str] = field(default_factory=Counter)
    """Images and annotations per lower-case folder: the layout and its VOC trees are read from these."""
    specials: dict[str, str] = field(default_factory=dict)
    """Label maps, YOLO class lists, collection files and dataset.json → ETag."""
    summaries: dict[int, dict[str, Any]] = field(default_factory=dict)
    dirty: set[int] = field(default_factory=set)
    """Buckets changed since their summary was made."""
    listing_token: str = ""
    """The flush whose full listing is already applied: its later slices go on from there without listing again."""
    listing: dict[str, Any] | None = None
    """A listing under way: the flush it is for, the next page's marker, the pages kept so far."""
    collections: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Collection file → what it was last expanded into: its ETag, format, items, those whose image was not found,
    problems about the file itself, and the blob listing its items."""

    @property
    def pairs(self) -> int:
        return sum(s.get("pairs", 0) for s in self.summaries.values())

    def to_json(self) -> bytes:
        return json.dumps({
            "schema": SCHEMA, "project": self.project, "buckets": self.buckets, "fingerprint": self.fingerprint,
            "cut": self.cut, "listed_at": self.listed_at, "folders": dict(self.folders), "specials": self.specials,
            "summaries": {str(b): s for b, s in self.summaries.items()}, "dirty": sorted(self.dirty),
            "listing_token": self.listing_token, "listing": self.listing, "collections": self.collections},
            sort_keys=True, indent=0).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Catalog:
        raw = json.loads(data)
        if raw.get("schema") != SCHEMA:
            raise ValueError(f"catalog schema {raw.get('schema')!r}")
        return cls(raw["project"], raw["buckets"], raw["fingerprint"], raw["cut"], raw["listed_at"],
                   Counter(raw["folders"]), raw["specials"], {int(b): s for b, s in raw["summaries"].items()},
                   set(raw["dirty"]), raw["listing_token"], raw.get("listing"), raw.get("collections", {}))


class CatalogStore:
    """Loads and saves a project's catalog in the manifests container, keeping the buckets it has loaded."""

    def __init__(self, store: BlobStore, container: str, project: str, *, persist: bool = True) -> None:
        self.store, self.container, self.project, self.persist = store, container, project, persist
        self.loaded: dict[int, Bucket] = {}
        self.changed: set[int] = set()
        self.parts: dict[int, dict[str, str]] = {}
        self.expansions_in_memory: dict[str, dict[str, str]] = {}
        """Collection expansions written while not persisting (validation)."""
        self.fresh = False
        """A new catalog: bucket blobs left in its folder belong to no catalog and are never read."""

    def _part_name(self, part: int) -> str:
        return f"{self.project}/catalog/listing/{part}.json"

    def put_part(self, part: int, page: dict[str, str]) -> None:
        """One page of a listing under way (kept in memory when the catalog is not persisted)."""
        if self.persist:
            self.store.write(self.container, self._part_name(part), json.dumps(page).encode(),
                             content_type="application/json")
        else:
            self.parts[part] = page

    def part(self, part: int) -> dict[str, str]:
        if not self.persist:
            return self.parts[part]
        return json.loads(self.store.read(self.container, self._part_name(part)).data)

    def drop_parts(self, parts: int) -> None:
        self.parts.clear()
        if self.persist:
            for part in range(parts):
                self.store.delete(self.container, self._part_name(part))

    def expansion_name(self, collection: str, etag: str) -> str:
        digest = hashlib.sha256(collection.encode()).hexdigest()[:16]
        return f"{self.project}/catalog/collections/{digest}/{hashlib.sha256(etag.encode()).hexdigest()[:16]}.json"

    def expansion(self, blob: str | None) -> dict[str, str]:
        """A collection's items (name → record digest) as last expanded; {} for none."""
        if not blob:
            return {}
        if blob in self.expansions_in_memory:
            return self.expansions_in_memory[blob]
        try:
            return json.loads(self.store.read(self.container, blob).data)
        except NotFound:
            return {}

    def put_expansion(self, blob: str, items: dict[str, str]) -> None:
        if self.persist:
            self.store.write(self.container, blob, json.dumps(items, sort_keys=True).encode(),
                             content_type="application/json")
        else:
            self.expansions_in_memory[blob] = items

    def drop_expansion(self, blob: str | None) -> None:
        if blob and self.persist:
            with contextlib.suppress(NotFound):
                self.store.delete(self.container, blob)

    def _index_name(self) -> str:
        return f"{self.project}/catalog/index.json"

    def _bucket_name(self, buckets: int, bucket: int) -> str:
        return f"{self.project}/catalog/{buckets}/{bucket}.json"

    def load(self) -> Catalog | None:
        try:
            return Catalog.from_json(self.store.read(self.container, self._index_name()).data)
        except (NotFound, ValueError, KeyError):
            return None

    def bucket(self, catalog: Catalog, bucket: int) -> Bucket:
        if bucket not in self.loaded and self.fresh:
            self.loaded[bucket] = Bucket()
        elif bucket not in self.loaded:
            try:
                data = self.store.read(self.container, self._bucket_name(catalog.buckets, bucket)).data
                self.loaded[bucket] = Bucket.from_json(data)
            except NotFound:
                self.loaded[bucket] = Bucket()
        return self.loaded[bucket]

    def all_buckets(self, catalog: Catalog) -> Iterator[tuple[int, Bucket]]:
        for bucket in range(catalog.buckets):
            yield bucket, self.bucket(catalog, bucket)

    def save(self, catalog: Catalog, *, index_first: bool = False) -> None:
        """Write the buckets changed since the last save and the index: after them (the index is the commit), or
        before them (to mark buckets dirty before changing them)."""
        if self.persist:
            if index_first:
                self._write_index(catalog)
            for bucket in sorted(self.changed):
                self.store.write(self.container, self._bucket_name(catalog.buckets, bucket),
                                 self.loaded[bucket].to_json(), content_type="application/json")
            if not index_first:
                self._write_index(catalog)
        self.changed.clear()

    def _write_index(self, catalog: Catalog) -> None:
        self.store.write(self.container, self._index_name(), catalog.to_json(), content_type="application/json")

    def flush(self, catalog: Catalog, bucket: int) -> None:
        """Write one changed bucket now and drop it from memory (a snapshot visits one bucket at a time); the
        index that depends on it is written by the next `save`."""
        if not self.persist:
            return
        if bucket in self.changed:
            self.store.write(self.container, self._bucket_name(catalog.buckets, bucket),
                             self.loaded[bucket].to_json(), content_type="application/json")
            self.changed.discard(bucket)
        self.loaded.pop(bucket, None)

    def forget(self, bucket: int) -> None:
        """Drop an unchanged bucket from memory."""
        if self.persist and bucket not in self.changed:
            self.loaded.pop(bucket, None)

    def rebucket(self, catalog: Catalog, buckets: int) -> None:
        """Spread every blob over a new bucket count (the dataset grew or shrank past a power of two)."""
        old, merged = catalog.buckets, Bucket()
        for _, state in self.all_buckets(catalog):
            merged.pairs.update(state.pairs)
            merged.others.update(state.others)
            merged.quarantined.update(state.quarantined)
        self.loaded, self.changed = {b: Bucket() for b in range(buckets)}, set(range(buckets))
        catalog.buckets, catalog.summaries, catalog.dirty = buckets, {}, set(range(buckets))
        for key, pair in merged.pairs.items():
            self.loaded[bucket_of(key, buckets)].pairs[key] = pair
        for name, etag in merged.others.items():
            self.loaded[self.bucket_index(catalog, name)].others[name] = etag
        for name, copy in merged.quarantined.items():
            self.loaded[self.bucket_index(catalog, name)].quarantined[name] = copy
        for bucket in range(buckets):
            catalog.summaries[bucket] = {"pairs": len(self.loaded[bucket].pairs)}
        self.save(catalog)
        if self.persist:
            for bucket in range(old):
                self.store.delete(self.container, self._bucket_name(old, bucket))

    def bucket_index(self, catalog: Catalog, name: str) -> int:
        return bucket_of(pairing_key(name[len(self.project) + 1:]), catalog.buckets)

    def apply(self, catalog: Catalog, name: str, etag: str | None, record: dict[str, Any] | None = None) -> bool:
        """Record a blob's current ETag (None: it is gone), or a collection item's digest and record; True when
        that is news to the catalog."""
        relative = name[len(self.project) + 1:]
        bucket = self.bucket_index(catalog, name)
        state, role = self.bucket(catalog, bucket), role_of(relative)
        if role == "pair":
            key = pairing_key(relative)
            pair = state.pairs.get(key) or {"members": {}, "outcome": None, "checked": {}}
            old = pair["members"].get(name)
            if old == etag:
                return False
            if etag is None:
                del pair["members"][name]
                pair.get("extracted", {}).pop(name, None)
            else:
                pair["members"][name] = etag
                if record is not None:
                    pair.setdefault("extracted", {})[name] = record
            if VIRTUAL not in relative:
                catalog.folders[folder_of(relative)] += (old is None) - (etag is None)
            if pair["members"]:
                state.pairs[key] = pair
            else:
                state.pairs.pop(key, None)
        else:
            old = state.others.get(name)
            if old == etag:
                return False
            if etag is None:
                del state.others[name]
            else:
                state.others[name] = etag
            if role in SPECIAL_ROLES:
                if etag is None:
                    catalog.specials.pop(name, None)
                else:
                    catalog.specials[name] = etag
        if etag is None:
            state.quarantined.pop(name, None)
        catalog.folders = +catalog.folders
        catalog.summaries.setdefault(bucket, {})["pairs"] = len(state.pairs)
        catalog.dirty.add(bucket)
        self.changed.add(bucket)
        return True
