import json

import pytest

from shared.dataset.label_map import LabelMap
from shared.dataset.manifest import (
    BlobRef,
    Entry,
    ManifestError,
    build_manifest,
    load_manifest,
    manifest_bytes,
    split_of,
)
from shared.dataset.records import Record
from shared.dataset.voc import Box


def entry(i: int, etag: str = '"e"') -> Entry:
    name = f"JPEGImages/img_{i:05d}.jpg"
    return Entry(name, BlobRef(f"p/{name}", etag, f"{i:032x}", 100 + i), "JPEG", None,
                 Record(64, 64, (Box("cat", 1, 2, 30, 40),)))


def manifest(entries, fraction=0.2):
    return build_manifest(project="p", container="datasets", prefix="p/", entries=entries,
                          label_map=LabelMap().extended(["cat"]), validation_fraction=fraction)


def test_split_is_stable_and_near_the_fraction():
    names = [f"img_{i}.jpg" for i in range(5000)]
    splits = [split_of(n, 0.2) for n in names]
    assert splits == [split_of(n, 0.2) for n in names]
    assert 0.18 < splits.count("validation") / len(names) < 0.22


def test_adding_images_keeps_every_earlier_split():
    before = manifest([entry(i) for i in range(200)])
    after = manifest([entry(i) for i in range(300)])
    old = {i["image"]["name"]: i["split"] for i in before["images"]}
    new = {i["image"]["name"]: i["split"] for i in after["images"]}
    assert all(new[name] == split for name, split in old.items())
    assert before["dataset_version"] != after["dataset_version"]


def test_same_content_gives_byte_identical_manifest_whatever_the_order():
    a = manifest_bytes(manifest([entry(i) for i in range(50)]))
    b = manifest_bytes(manifest([entry(i) for i in reversed(range(50))]))
    assert a == b


def test_version_ignores_etags_but_not_content():
    base = manifest([entry(i) for i in range(10)])
    reuploaded = manifest([entry(i, etag='"other"') for i in range(10)])
    assert base["dataset_version"] == reuploaded["dataset_version"]
    assert base["images"][0]["image"]["etag"] != reuploaded["images"][0]["image"]["etag"]


def test_load_refuses_edited_manifests():
    data = manifest([entry(1)])
    assert load_manifest(manifest_bytes(data))["dataset_version"] == data["dataset_version"]
    data["images"][0]["objects"][0]["bbox"][0] = 5
    with pytest.raises(ManifestError, match="does not match"):
        load_manifest(json.dumps(data).encode())
