"""The storage adapters against a real Azurite: the behaviour the event core relies on."""

import pytest

from shared.ports import ROW_ETAG, NotFound, PreconditionFailed


def test_blob_round_trip_listing_and_create_only(blob_store, settings):
    container = settings.datasets_container
    etag = blob_store.write(container, "p/a.jpg", b"abc")
    assert blob_store.read(container, "p/a.jpg").etag == etag
    blob_store.write(container, "q/b.jpg", b"defg")
    assert [(b.name, b.size) for b in blob_store.list(container, "p/")] == [("p/a.jpg", 3)]
    with pytest.raises(PreconditionFailed):
        blob_store.write(container, "p/a.jpg", b"other", overwrite=False)
    with pytest.raises(NotFound):
        blob_store.read(container, "p/missing.jpg")
    assert list(blob_store.list("no-such-container")) == []
    blob_store.delete(container, "p/a.jpg")
    blob_store.delete(container, "p/a.jpg")  # deleting twice is not an error
    assert list(blob_store.list(container, "p/")) == []


def test_table_optimistic_concurrency(table_store, settings):
    table = "state" + settings.datasets_container.split("-")[-1]
    table_store.ensure_table(table)
    etag = table_store.insert(table, {"PartitionKey": "p", "RowKey": "r", "phase": "idle"})
    with pytest.raises(PreconditionFailed):
        table_store.insert(table, {"PartitionKey": "p", "RowKey": "r", "phase": "idle"})
    new_etag = table_store.update(table, {"PartitionKey": "p", "RowKey": "r", "phase": "flushing"}, etag)
    with pytest.raises(PreconditionFailed):  # a second instance still holding the old ETag loses
        table_store.update(table, {"PartitionKey": "p", "RowKey": "r", "phase": "other"}, etag)
    row = table_store.get(table, "p", "r")
    assert (row["phase"], row[ROW_ETAG]) == ("flushing", new_etag)
    with pytest.raises(NotFound):
        table_store.get(table, "p", "missing")


def test_upsert_many_writes_in_transactions_per_partition_and_rewrites_identically(table_store, settings):
    table = "ledger" + settings.datasets_container.split("-")[-1]
    table_store.ensure_table(table)
    rows = [{"PartitionKey": "p", "RowKey": f"k{i:04d}", "n": i} for i in range(250)]
    rows += [{"PartitionKey": "other", "RowKey": "x", "n": -1}, rows[3]]  # another partition and a duplicate
    assert table_store.upsert_many(table, rows) == 251
    assert table_store.upsert_many(table, rows[:120]) == 120  # redelivery: same rows, same content
    stored = list(table_store.query(table, "p"))
    assert len(stored) == 250 and all(r["n"] == int(r["RowKey"][1:]) for r in stored)
    assert [r["RowKey"] for r in table_store.query(table, "p", "k000")] == [f"k{i:04d}" for i in range(10)]
    assert [r["n"] for r in table_store.query(table, "p", after=("RowKey", "k0247"))] == [248, 249]
