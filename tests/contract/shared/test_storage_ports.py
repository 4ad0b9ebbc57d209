"""One contract, two implementations: the in-memory stores the use-case unit tests run on behave like the Azure
Storage adapters on Azurite, for everything the core relies on (ETags, create-only, conditional updates, queries,
batches). A use-case test on the fakes therefore means what it would mean on Azure."""

from __future__ import annotations

import uuid

import pytest

from shared.ports import ROW_ETAG, NotFound, PreconditionFailed
from tests.fakes.memory import MemoryBlobStore, MemoryTableStore


@pytest.fixture(params=["memory", "azurite"])
def stores(request):
    if request.param == "memory":
        return MemoryBlobStore(), MemoryTableStore()
    if request.param == "azurite":
        return request.getfixturevalue("blob_store"), request.getfixturevalue("table_store")
    raise AssertionError(request.param)


@pytest.fixture
def names():
    suffix = uuid.uuid4().hex[:8]
    return f"c{suffix}", f"t{suffix}"


def test_blobs_write_read_list_and_refuse_a_create_only_overwrite(stores, names):
    blobs, _ = stores
    container, _ = names
    blobs.ensure_container(container)
    first = blobs.write(container, "p/a.jpg", b"one")
    second = blobs.write(container, "p/a.jpg", b"two")
    assert first != second and blobs.read(container, "p/a.jpg").data == b"two"
    info = blobs.info(container, "p/a.jpg")
    assert (info.etag, info.size) == (second, 3) and blobs.read(container, "p/a.jpg").etag == second
    with pytest.raises(PreconditionFailed):
        blobs.write(container, "p/a.jpg", b"three", overwrite=False)
    blobs.write(container, "q/b.xml", b"x", overwrite=False)
    for name in ("q/c", "q/d", "q/e"):
        blobs.write(container, name, b"y")
    pages, marker = [], None
    while True:
        page, marker = blobs.list_page(container, "q/", marker, size=2)
        pages.append([b.name for b in page])
        if marker is None:
            break
    assert pages == [["q/b.xml", "q/c"], ["q/d", "q/e"]]
    for name in ("q/c", "q/d", "q/e"):
        blobs.delete(container, name)
    assert [(b.name, b.size) for b in blobs.list(container, "p/")] == [("p/a.jpg", 3)]
    assert blobs.top_level_folders(container) == ["p", "q"]
    blobs.delete(container, "p/a.jpg")
    blobs.delete(container, "p/a.jpg")  # gone already: no error
    with pytest.raises(NotFound):
        blobs.read(container, "p/a.jpg")
    assert blobs.info(container, "p/a.jpg") is None and blobs.info(f"{container}-none", "x") is None
    assert list(blobs.list(f"{container}-none")) == [] and blobs.top_level_folders(f"{container}-none") == []


def test_rows_are_created_once_and_updated_only_under_their_etag(stores, names):
    _, tables = stores
    _, table = names
    tables.ensure_table(table)
    etag = tables.insert(table, {"PartitionKey": "p", "RowKey": "r", "n": 1})
    with pytest.raises(PreconditionFailed):
        tables.insert(table, {"PartitionKey": "p", "RowKey": "r", "n": 2})
    row = tables.get(table, "p", "r")
    assert row["n"] == 1 and row[ROW_ETAG] == etag
    newer = tables.update(table, row | {"n": 2}, row[ROW_ETAG])
    with pytest.raises(PreconditionFailed):  # someone else wrote first
        tables.update(table, row | {"n": 3}, row[ROW_ETAG])
    assert tables.get(table, "p", "r")["n"] == 2 and newer != etag
    tables.upsert(table, {"PartitionKey": "p", "RowKey": "r", "m": "x"})  # replace: n is gone
    assert "n" not in tables.get(table, "p", "r")
    tables.delete(table, "p", "r")
    with pytest.raises(NotFound):
        tables.get(table, "p", "r")
    with pytest.raises(PreconditionFailed):
        tables.update(table, row, newer)


def test_queries_keep_to_one_partition_in_row_key_order_with_prefix_and_after(stores, names):
    _, tables = stores
    _, table = names
    tables.ensure_table(table)
    for key, time in (("b2", "2026-01-02"), ("a1", "2026-01-01"), ("b1", "2026-01-03")):
        tables.upsert(table, {"PartitionKey": "p", "RowKey": key, "event_time": time})
    tables.upsert(table, {"PartitionKey": "other", "RowKey": "a0", "event_time": "2026-01-09"})
    tables.upsert(table, {"PartitionKey": "p", "RowKey": "c1"})  # no event_time
    assert [r["RowKey"] for r in tables.query(table, "p")] == ["a1", "b1", "b2", "c1"]
    assert [r["RowKey"] for r in tables.query(table, "p", row_key_prefix="b")] == ["b1", "b2"]
    assert [r["RowKey"] for r in tables.query(table, "p", after=("event_time", "2026-01-01"))] == ["b1", "b2"]
    assert list(tables.query(f"{table}none", "p")) == []  # a table never written has no rows
    with pytest.raises(ValueError):
        list(tables.query(table, "p", after=("event time; drop", "x")))


def test_batches_write_every_row_across_partitions_and_transactions(stores, names):
    _, tables = stores
    _, table = names
    tables.ensure_table(table)
    rows = [{"PartitionKey": f"p{i % 2}", "RowKey": f"{i:04d}", "v": i} for i in range(250)]
    rows.append(rows[0] | {"v": -1})  # the same row twice in one delivery: the last one wins
    assert tables.upsert_many(table, rows) == 250
    assert len(list(tables.query(table, "p0"))) == 125 and tables.get(table, "p0", "0000")["v"] == -1
