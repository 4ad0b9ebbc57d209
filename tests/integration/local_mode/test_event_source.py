"""The local event source turns Azurite changes into Azure's BlobCreated/BlobDeleted events, at least once."""

from local_mode.event_source import LOCAL_STORAGE_TOPIC, BlobEventSource


def test_new_changed_and_deleted_blobs_become_events_once_each(blob_store, settings):
    container = settings.datasets_container
    blob_store.ensure_container(container)
    delivered = []
    source = BlobEventSource(blob_store, container, "http://127.0.0.1:10000/devstoreaccount1", delivered.append)
    blob_store.write(container, "p/a.jpg", b"one")
    blob_store.write(container, "p/b.xml", b"<annotation/>")
    assert source.poll() == 2 and source.poll() == 0
    (batch,) = delivered
    first = next(e for e in batch if e["subject"].endswith("/p/a.jpg"))
    assert first["topic"] == LOCAL_STORAGE_TOPIC
    assert first["subject"] == f"/blobServices/default/containers/{container}/blobs/p/a.jpg"
    assert first["data"]["url"] == f"http://127.0.0.1:10000/devstoreaccount1/{container}/p/a.jpg"
    assert first["data"]["eTag"] == blob_store.read(container, "p/a.jpg").etag
    assert first["data"]["contentLength"] == 3

    blob_store.write(container, "p/a.jpg", b"two")
    blob_store.delete(container, "p/b.xml")
    assert source.poll() == 2
    kinds = sorted((e["eventType"].rsplit(".", 1)[1], e["subject"].rsplit("/", 1)[1]) for e in delivered[1])
    assert kinds == [("BlobCreated", "a.jpg"), ("BlobDeleted", "b.xml")]
    sequencers = [e["data"]["sequencer"] for batch in delivered for e in batch]
    assert sequencers == sorted(sequencers) and len(set(sequencers)) == 4


def test_a_failed_delivery_is_sent_again(blob_store, settings):
    container = settings.datasets_container
    blob_store.ensure_container(container)
    attempts = []

    def flaky(events):
        attempts.append(len(events))
        if len(attempts) == 1:
            raise ConnectionError("function host not up yet")

    source = BlobEventSource(blob_store, container, "http://x", flaky)
    blob_store.write(container, "p/a.jpg", b"one")
    assert source.poll() == 0
    assert source.poll() == 1
    assert attempts == [1, 1]


def test_a_source_started_again_sends_only_what_changed_meanwhile(blob_store, settings):
    """As Event Grid delivers the events of a downtime and nothing else. Found by the chaos soak: each restart of
    local mode announced every blob again, and every project flushed (and skipped) its whole folder once more."""
    container = settings.datasets_container
    blob_store.ensure_container(container)
    cursor = (f"{container}-cursor", container)
    delivered = []
    blob_store.write(container, "p/a.jpg", b"one")
    blob_store.write(container, "p/b.xml", b"<annotation/>")
    assert BlobEventSource(blob_store, container, "http://x", delivered.append, cursor=cursor).poll() == 2
    blob_store.write(container, "p/a.jpg", b"two")  # while local mode was down
    blob_store.delete(container, "p/b.xml")
    blob_store.write(container, "p/c.jpg", b"three")
    again = BlobEventSource(blob_store, container, "http://x", delivered.append, cursor=cursor)
    assert again.poll() == 3 and again.poll() == 0
    assert sorted((e["eventType"].rsplit(".", 1)[1], e["subject"].rsplit("/", 1)[1]) for e in delivered[1]) == [
        ("BlobCreated", "a.jpg"), ("BlobCreated", "c.jpg"), ("BlobDeleted", "b.xml")]
