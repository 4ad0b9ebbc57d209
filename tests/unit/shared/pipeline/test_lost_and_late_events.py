"""Events that come late, out of order or never (found by the chaos soak): no change is left behind a flush's cut,
and a folder nobody sent events about is compared with its catalog once SNAPSHOT_RELIST_HOURS have passed."""

from __future__ import annotations

from local_mode.demo_data import vott_export
from shared.dataset.manifest import iter_entries, load_manifest
from shared.pipeline.sweep import FindLostChanges


def manifest_images(pipeline, job: str) -> set[str]:
    request, container = pipeline.training.jobs[job], pipeline.settings.manifests_container
    folder = request.manifest_blob.rsplit("/", 1)[0]
    index = load_manifest(pipeline.blobs.read(container, request.manifest_blob).data)
    return {e["image"]["name"] for e in iter_entries(index, lambda rel: pipeline.blobs.read(
        container, f"{folder}/{rel}").data)}


def test_an_event_delivered_after_the_flush_that_passed_its_time_trains_with_the_next_batch(pipeline):
    pipeline.end(pipeline.train("p", start=50))  # the project has a catalog: snapshots read what events name
    late = pipeline.upload("p", vott_export(2, seed=1, size=64), deliver=False)  # its delivery fails: retried
    pipeline.later(5)
    pipeline.upload("p", vott_export(2, seed=2, start=10, size=64))
    first = pipeline.submit.tick("p", pipeline.later(61))
    assert first.decision.action == "flush" and "p/JPEGImages/img_00000.jpg" not in manifest_images(
        pipeline, first.job_name)
    pipeline.end(first.job_name)

    result = pipeline.ingest.ingest(late, pipeline.later(30))  # Event Grid's retry, 96 s after the upload
    assert pipeline.status("p")["pending"]["changes"] == 5
    assert result.late == 5  # two images, their annotations, the label map (the split list is no dataset file)
    second = pipeline.submit.tick("p", pipeline.later(61))
    assert second.decision.action == "flush"
    assert {"p/JPEGImages/img_00000.jpg", "p/JPEGImages/img_00010.jpg"} <= manifest_images(pipeline, second.job_name)


def test_a_flush_leaves_changes_younger_than_the_lateness_pending(pipeline):
    """A burst that never settles flushes at MAX_WAIT_SECONDS; an event dated just before the newest change it saw
    but written after the claim is not behind its cut."""
    pipeline.rewire(max_wait_seconds=120)
    pipeline.end(pipeline.train("p", start=50))
    for n in range(12):  # a change every 10 s: the window never settles
        if n == 10:
            in_flight = pipeline.upload("p", vott_export(1, seed=99, start=99, size=64), deliver=False)
        pipeline.upload("p", vott_export(1, seed=n, start=n, size=64))
        pipeline.later(10)
    claimed = pipeline.submit.tick("p", pipeline.later(1))
    assert claimed.decision.action == "flush" and "maximum wait" in claimed.decision.reason
    pipeline.ingest.ingest(in_flight, pipeline.later(1))  # 22 s on its way: on time, dated before the newest change
    pipeline.end(claimed.job_name)

    assert pipeline.status("p")["pending"]["changes"] >= len(in_flight)
    nxt = pipeline.submit.tick("p", pipeline.later(61))
    assert nxt.decision.action == "flush"
    assert "p/JPEGImages/img_00099.jpg" in manifest_images(pipeline, nxt.job_name)


def test_changes_whose_events_never_came_are_found_by_listing_and_trained(pipeline):
    job = pipeline.train("p")
    pipeline.end(job)
    pipeline.upload("p", vott_export(2, seed=7, start=20, size=64), deliver=False)  # events lost for good
    pipeline.blobs.delete(pipeline.settings.datasets_container, "p/JPEGImages/img_00001.jpg")  # likewise
    sweep = FindLostChanges(pipeline.blobs, pipeline.tables, pipeline.settings)
    assert sweep.sweep_one(pipeline.later(3600)) is None  # the folder was listed by the first snapshot, an hour ago
    assert pipeline.state("p").swept_at, "the first snapshot's listing counts as a comparison"
    assert pipeline.submit.tick("p", pipeline.later(61)).decision.action == "wait"

    assert sweep.sweep_one(pipeline.later(pipeline.settings.snapshot_relist_hours * 3600)) == "p"
    assert pipeline.status("p")["pending"]["changes"] == 6  # two images and annotations, the label map, a deletion
    found = pipeline.submit.tick("p", pipeline.later(61))
    assert found.decision.action == "flush"
    trained = manifest_images(pipeline, found.job_name)
    assert "p/JPEGImages/img_00020.jpg" in trained and "p/JPEGImages/img_00001.jpg" not in trained
    pipeline.end(found.job_name)

    assert sweep.sweep_one(pipeline.later(pipeline.settings.snapshot_relist_hours * 3600 + 1)) == "p"
    assert pipeline.status("p")["pending"]["changes"] == 0  # nothing differs: nothing written
    assert pipeline.state("p").swept_at


def test_the_listing_waits_while_changes_are_pending_or_a_flush_is_under_way(pipeline):
    pipeline.upload("p", vott_export(2, seed=1, size=64))
    sweep = FindLostChanges(pipeline.blobs, pipeline.tables, pipeline.settings)
    assert sweep.sweep_one(pipeline.later(pipeline.settings.snapshot_relist_hours * 3600 + 1)) is None  # no catalog
    job = pipeline.submit.tick("p", pipeline.later(61)).job_name
    pipeline.end(job)
    pipeline.upload("p", vott_export(1, seed=2, start=5, size=64))
    assert sweep.sweep_one(pipeline.later(pipeline.settings.snapshot_relist_hours * 3600 + 1)) is None  # pending


def test_a_late_redelivery_of_a_recorded_change_does_not_make_it_pending_again(pipeline):
    events = pipeline.upload("p", vott_export(2, seed=1, size=64))
    pipeline.end(pipeline.submit.tick("p", pipeline.later(61)).job_name)
    again = pipeline.ingest.ingest(events, pipeline.later(600))  # a delivery whose answer was lost, retried later
    assert (again.late, again.duplicates, again.recorded) == (5, 5, 0)
    assert pipeline.status("p")["pending"]["changes"] == 0
