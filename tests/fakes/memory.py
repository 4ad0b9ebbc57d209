"""In-memory Blob and Table stores for unit tests of the use cases: the ports' semantics as Azurite has them.

ETags change on every write; create-only writes and ETag-conditional updates raise PreconditionFailed; `query`
returns rows of one partition in row-key order with the same `after` filter; `upsert_many` writes transactions of
at most 100 rows per partition, each all or nothing. tests/contract/shared/test_storage_ports.py runs the same
checks against these and against Azurite, so a use-case test on them means what it would mean on Azure.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from shared.ports import ROW_ETAG, Blob, BlobInfo, Entity, NotFound, PreconditionFailed

_etags = itertools.count(1)


def _etag() -> str:
    return f"0x8DD{next(_etags):012X}"


class MemoryBlobStore:
    def __init__(self) -> None:
        self.containers: dict[str, dict[str, tuple[bytes, str]]] = {}
        self._lock = threading.Lock()

    def ensure_container(self, container: str) -> None:
        with self._lock:
            self.containers.setdefault(container, {})

    def list(self, container: str, prefix: str = "") -> Iterator[BlobInfo]:
        blobs = dict(self.containers.get(container, {}))
        for name in sorted(blobs):
            if name.startswith(prefix):
                data, etag = blobs[name]
                yield BlobInfo(name, etag, len(data))

    def list_page(self, container: str, prefix: str = "", marker: str | None = None,
                  size: int = 5000) -> tuple[list[BlobInfo], str | None]:
        blobs = dict(self.containers.get(container, {}))
        names = sorted(n for n in blobs if n.startswith(prefix) and (marker is None or n > marker))
        page = [BlobInfo(n, blobs[n][1], len(blobs[n][0])) for n in names[:size]]
        return page, (page[-1].name if len(names) > size else None)

    def top_level_folders(self, container: str) -> list[str]:
        return sorted({n.split("/", 1)[0] for n in self.containers.get(container, {}) if "/" in n})

    def read(self, container: str, name: str) -> Blob:
        try:
            data, etag = self.containers[container][name]
        except KeyError:
            raise NotFound(f"{container}/{name}") from None
        return Blob(name, data, etag)

    def info(self, container: str, name: str) -> BlobInfo | None:
        found = self.containers.get(container, {}).get(name)
        return BlobInfo(name, found[1], len(found[0])) if found else None

    def write(self, container: str, name: str, data: bytes, *, content_type: str = "application/octet-stream",
              overwrite: bool = True) -> str:
        with self._lock:
            blobs = self.containers.setdefault(container, {})
            if not overwrite and name in blobs:
                raise PreconditionFailed(f"{container}/{name} exists")
            etag = _etag()
            blobs[name] = (bytes(data), etag)
            return etag

    def delete(self, container: str, name: str) -> None:
        with self._lock:
            self.containers.get(container, {}).pop(name, None)


class MemoryTableStore:
    def __init__(self) -> None:
        self.tables: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def ensure_table(self, table: str) -> None:
        with self._lock:
            self.tables.setdefault(table, {})

    def _rows(self, table: str) -> dict[tuple[str, str], dict[str, Any]]:
        return self.tables.setdefault(table, {})

    @staticmethod
    def _clean(entity: Mapping[str, Any]) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in entity.items() if k != ROW_ETAG}

    def get(self, table: str, partition_key: str, row_key: str) -> Entity:
        row = self.tables.get(table, {}).get((partition_key, row_key))
        if row is None:
            raise NotFound(f"{table}/{partition_key}/{row_key}")
        return copy.deepcopy(row)

    def insert(self, table: str, entity: Mapping[str, Any]) -> str:
        with self._lock:
            rows, key = self._rows(table), (entity["PartitionKey"], entity["RowKey"])
            if key in rows:
                raise PreconditionFailed(f"{table}/{key[0]}/{key[1]} exists")
            return self._put(rows, key, entity)

    def upsert(self, table: str, entity: Mapping[str, Any]) -> str:
        with self._lock:
            return self._put(self._rows(table), (entity["PartitionKey"], entity["RowKey"]), entity)

    def update(self, table: str, entity: Mapping[str, Any], etag: str) -> str:
        with self._lock:
            rows, key = self._rows(table), (entity["PartitionKey"], entity["RowKey"])
            if key not in rows or rows[key][ROW_ETAG] != etag:
                raise PreconditionFailed(f"{table}/{key[0]}/{key[1]}: the row changed or is gone")
            return self._put(rows, key, entity)

    def _put(self, rows: dict, key: tuple[str, str], entity: Mapping[str, Any]) -> str:
        etag = f'W/"datetime\'{_etag()}\'"'
        rows[key] = self._clean(entity) | {ROW_ETAG: etag}
        return etag

    def delete(self, table: str, partition_key: str, row_key: str) -> None:
        with self._lock:
            self._rows(table).pop((partition_key, row_key), None)

    def query(self, table: str, partition_key: str, row_key_prefix: str = "",
              after: tuple[str, str] | None = None) -> Iterator[Entity]:
        if after and not after[0].isidentifier():
            raise ValueError(f"not a property name: {after[0]!r}")
        rows = sorted((k, v) for k, v in self.tables.get(table, {}).items() if k[0] == partition_key)
        for (_, row_key), row in rows:
            if not row_key.startswith(row_key_prefix):
                continue
            if after and not (isinstance(row.get(after[0]), str) and row[after[0]] > after[1]):
                continue
            yield copy.deepcopy(row)

    def upsert_many(self, table: str, entities: Iterable[Mapping[str, Any]]) -> int:
        by_partition: dict[str, dict[str, Mapping[str, Any]]] = {}
        for entity in entities:
            by_partition.setdefault(entity["PartitionKey"], {})[entity["RowKey"]] = entity
        written = 0
        with self._lock:
            rows = self._rows(table)
            for partition in by_partition.values():
                ordered = list(partition.values())
                for start in range(0, len(ordered), 100):
                    for entity in ordered[start:start + 100]:
                        self._put(rows, (entity["PartitionKey"], entity["RowKey"]), entity)
                    written += len(ordered[start:start + 100])
        return written
