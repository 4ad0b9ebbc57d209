import json

import pytest

from shared.dataset.label_map import LabelMap
from shared.dataset.manifest import (
    SCHEMA_V1,
    ManifestError,
    bucket_count,
    build_manifest,
    iter_entries,
    load_manifest,
    manifest_bytes,
    split_of,
)


def entry(i: int, etag: str = "e") -> dict:
    name = f"JPEGImages/img_{i:05d}.jpg"
    return {"image": {"name": f"p/{name}", "etag": etag, "md5": f"{i:032x}", "size": 100 + i, "format": "JPEG",
                      "orientation": 1},
            "annotation": None, "width": 64, "height": 64, "split": split_of(name, 0.2),
            "objects": [{"name": "cat", "label": 1, "bbox": [1, 2, 30, 40], "difficult": False, "truncated": False}]}


def manifest(entries, buckets=4):
    index, shards = build_manifest(project="p", container="datasets", prefix="p/", entries=entries,
                                   label_map=LabelMap().extended(["cat"]), validation_fraction=0.2, buckets=buckets)
    return index, {s.blob: s.data for s in shards}


def entries_of(index, shards) -> list[dict]:
    return list(iter_entries(index, lambda rel: shards[rel]))


def test_split_is_stable_and_near_the_fraction():
    names = [f"img_{i}.jpg" for i in range(5000)]
    splits = [split_of(n, 0.2) for n in names]
    assert splits == [split_of(n, 0.2) for n in names]
    assert 0.18 < splits.count("validation") / len(names) < 0.22


def test_bucket_count_grows_in_powers_of_two_with_at_most_512_pairs_each_on_average():
    assert [bucket_count(n) for n in (0, 512, 513, 1024, 1025, 10_000, 1_000_000)] == [1, 1, 2, 2, 4, 32, 2048]


def test_entries_stream_back_shard_by_shard_with_counts_summed():
    index, shards = manifest([entry(i) for i in range(300)])
    assert len(index["shards"]) == 4 and len(shards) == 4
    back = entries_of(index, shards)
    assert sorted(e["image"]["name"] for e in back) == sorted(entry(i)["image"]["name"] for i in range(300))
    assert index["counts"]["images"] == 300 and index["counts"]["boxes_per_class"] == {"cat": 300}
    assert index["counts"]["train"] + index["counts"]["validation"] == 300


def test_same_content_gives_byte_identical_manifest_whatever_the_order():
    a, a_shards = manifest([entry(i) for i in range(50)])
    b, b_shards = manifest([entry(i) for i in reversed(range(50))])
    assert manifest_bytes(a) == manifest_bytes(b) and a_shards == b_shards


def test_a_changed_entry_changes_its_shard_only():
    before, old = manifest([entry(i) for i in range(100)])
    after, new = manifest([entry(i) for i in range(100)] + [entry(500)])
    assert before["dataset_version"] != after["dataset_version"]
    assert len(set(old) & set(new)) == 3  # three of the four shards are byte-identical blobs


def test_version_ignores_etags_but_not_content():
    base, base_shards = manifest([entry(i) for i in range(10)])
    reuploaded, other_shards = manifest([entry(i, etag="other") for i in range(10)])
    assert base["dataset_version"] == reuploaded["dataset_version"]
    assert base_shards != other_shards  # the ETags are kept, for the trainer's check


def test_load_refuses_an_edited_index_and_reading_refuses_an_edited_shard():
    index, shards = manifest([entry(1), entry(2)], buckets=1)
    assert load_manifest(manifest_bytes(index))["dataset_version"] == index["dataset_version"]
    edited = json.loads(manifest_bytes(index))
    edited["label_map"][0]["name"] = "dog"
    with pytest.raises(ManifestError, match="does not match"):
        load_manifest(json.dumps(edited).encode())
    (blob,) = shards
    shards[blob] = shards[blob].replace(b"[1,2,30,40]", b"[5,2,30,40]")
    with pytest.raises(ManifestError, match="does not match the manifest"):
        entries_of(index, shards)


def test_single_document_manifests_written_before_shards_still_load():
    old = {"schema": SCHEMA_V1, "label_map": [], "split": {}, "images": [entry(1)]}
    from shared.dataset.manifest import dataset_version

    old["dataset_version"] = dataset_version(old)
    loaded = load_manifest(json.dumps(old).encode())
    assert list(iter_entries(loaded, lambda rel: b"")) == [entry(1)]
