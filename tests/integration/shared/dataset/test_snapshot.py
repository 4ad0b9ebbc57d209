"""Snapshots carried forward from the last one read only what changed, and are byte for byte what a snapshot from
scratch of the same storage would be; a snapshot cut into slices by its time budget finishes all the same."""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from local_mode.demo_data import make_scene, voc_xml, vott_export
from shared.dataset import manifest as manifest_module
from shared.dataset import service
from shared.dataset.label_map import LabelMap
from shared.dataset.service import DatasetBuild, DatasetBuilder, SnapshotProgress

PROJECT = "inc"


class CountingStore:
    """The blob store, counting what is read from the datasets container."""

    def __init__(self, store, container: str) -> None:
        self.store, self.container, self.reads = store, container, Counter()

    def __getattr__(self, name):
        return getattr(self.store, name)

    def read(self, container, name):
        if container == self.container:
            self.reads[name] += 1
        return self.store.read(container, name)


def upload(store, settings, files: dict[str, bytes]) -> list[str]:
    for relative, data in files.items():
        store.write(settings.datasets_container, f"{PROJECT}/{relative}", data)
    return [f"{PROJECT}/{relative}" for relative in files]


def from_scratch(store, settings, previous: LabelMap | None) -> DatasetBuild:
    """The same storage snapshotted with no catalog at all (its own manifests and quarantine containers)."""
    suffix = uuid.uuid4().hex[:6]
    fresh = dataclasses.replace(settings, manifests_container=f"scratch{suffix}",
                                quarantine_container=f"scratchq{suffix}")
    build = DatasetBuilder(store, fresh).snapshot(PROJECT, previous, report=True)
    assert isinstance(build, DatasetBuild)
    return build


def same(incremental: DatasetBuild, scratch: DatasetBuild) -> None:
    assert incremental.manifest_bytes == scratch.manifest_bytes
    assert [e for e in incremental.entries()] == [e for e in scratch.entries()]
    assert incremental.report.to_dict() | {"manifest_blob": ""} == scratch.report.to_dict() | {"manifest_blob": ""}


@pytest.fixture
def small_buckets(monkeypatch):
    """Eight pairs a bucket, so a few dozen images spread over several buckets and shards."""
    monkeypatch.setattr(manifest_module, "BUCKET_TARGET", 8)


def test_carried_forward_snapshots_equal_snapshots_from_scratch_and_read_only_what_changed(
        blob_store, settings, small_buckets):
    rng = random.Random(7)
    store = CountingStore(blob_store, settings.datasets_container)
    builder = DatasetBuilder(store, settings)
    files = vott_export(40, seed=1, classes=("circle", "square"))
    bad = {"JPEGImages/bad_00001.jpg": files["JPEGImages/img_00001.jpg"],
           "Annotations/bad_00001.xml": b"<annotation><object>"}  # quarantined: not well-formed
    upload(blob_store, settings, files | bad)
    first = builder.snapshot(PROJECT, report=True)
    assert isinstance(first, DatasetBuild) and first.manifest["counts"]["images"] == 40
    assert [p.file for p in first.report.quarantined] == [f"{PROJECT}/Annotations/bad_00001.xml",
                                                          f"{PROJECT}/JPEGImages/bad_00001.jpg"]
    same(first, from_scratch(blob_store, settings, None))
    previous = LabelMap.from_list(first.manifest["label_map"])

    _, shapes = make_scene(rng, 128, 1, classes=("circle",))
    changes = upload(blob_store, settings, vott_export(4, seed=2, start=100, classes=("circle", "square")) | {
        "Annotations/img_00003.xml": voc_xml("img_00003.jpg", 128, 128, shapes),  # an annotation redrawn
        "Annotations/bad_00001.xml": voc_xml("bad_00001.jpg", 128, 128, shapes),  # the bad file, fixed
    })
    blob_store.delete(settings.datasets_container, f"{PROJECT}/JPEGImages/img_00005.jpg")  # an image deleted
    changes.append(f"{PROJECT}/JPEGImages/img_00005.jpg")
    store.reads.clear()
    second = builder.snapshot(PROJECT, previous, changes=changes, cut="2026-11-26T00:00:00.000000Z", report=True)
    assert isinstance(second, DatasetBuild)
    same(second, from_scratch(blob_store, settings, previous))
    assert second.manifest["counts"]["images"] == 40 + 4 + 1 - 1
    assert [p.file for p in second.report.quarantined] == [f"{PROJECT}/Annotations/img_00005.xml"]  # orphaned
    assert first.manifest["dataset_version"] != second.manifest["dataset_version"]
    downloaded = {n for n in store.reads if not n.endswith(".pbtxt")}
    assert downloaded == {f"{PROJECT}/{n}" for n in (
        "JPEGImages/img_00100.jpg", "Annotations/img_00100.xml", "JPEGImages/img_00101.jpg",
        "Annotations/img_00101.xml", "JPEGImages/img_00102.jpg", "Annotations/img_00102.xml",
        "JPEGImages/img_00103.jpg", "Annotations/img_00103.xml", "JPEGImages/img_00003.jpg",
        "Annotations/img_00003.xml", "JPEGImages/bad_00001.jpg", "Annotations/bad_00001.xml",
        "Annotations/img_00005.xml")}  # the last one only to copy it to quarantine
    assert builder.catalog_cut(PROJECT) == "2026-11-26T00:00:00.000000Z"

    previous = LabelMap.from_list(second.manifest["label_map"])
    narrowed = b"item { id: 1 name: 'circle' }\n"  # the label map now allows circles only
    changes = upload(blob_store, settings, {"pascal_label_map.pbtxt": narrowed})
    store.reads.clear()
    third = builder.snapshot(PROJECT, previous, changes=changes, report=True)
    same(third, from_scratch(blob_store, settings, previous))
    rejected = {p.file for p in third.report.quarantined}
    assert rejected and all("square" not in str(e["objects"]) for e in third.entries())
    assert {n for n in store.reads if n.endswith(".jpg")} <= rejected  # read only to copy them to quarantine


def test_a_lost_event_is_caught_by_the_periodic_listing(blob_store, settings, small_buckets):
    builder = DatasetBuilder(blob_store, settings.with_overrides(snapshot_relist_hours=24))
    upload(blob_store, settings, vott_export(10, seed=3))
    first = builder.snapshot(PROJECT)
    upload(blob_store, settings, vott_export(2, seed=4, start=50))  # whose events never arrived
    assert builder.snapshot(PROJECT, changes=[]).manifest == first.manifest
    later = datetime.now(UTC) + timedelta(hours=25)
    caught = builder.snapshot(PROJECT, changes=[], now=later)
    assert caught.manifest["counts"]["images"] == 12


def test_a_budget_smaller_than_one_step_still_finishes_across_calls_without_redoing_work(
        blob_store, settings, small_buckets, monkeypatch):
    monkeypatch.setattr(service, "LIST_PAGE", 10)  # 82 blobs: a listing of 9 pages
    upload(blob_store, settings, vott_export(40, seed=5))
    store = CountingStore(blob_store, settings.datasets_container)
    builder = DatasetBuilder(store, settings)
    stages, result = [], None
    while not isinstance(result, DatasetBuild):
        result = builder.snapshot(PROJECT, token="flush-1", budget=0, report=True)
        stages.append(result.stage if isinstance(result, SnapshotProgress) else "done")
        assert len(stages) < 60, "the snapshot never finished"
    assert stages[:9] == ["listing the folder"] * 8 + ["checking changed files"]  # a page, then a bucket, a call
    assert stages.count("checking changed files") == 8 and stages[-1] == "done"
    assert len(result.manifest["shards"]) == 8
    images = {n: count for n, count in store.reads.items() if not n.endswith(".pbtxt")}  # (read every call)
    assert len(images) == 80 and max(images.values()) == 1  # no file read twice: each call went on from the last
    same(result, from_scratch(blob_store, settings, None))
