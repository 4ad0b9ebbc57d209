"""Which reader takes a collection file, and which uploaded image an item names."""

import json

import pytest

from shared.dataset.formats import Item
from shared.dataset.formats.collections import NO_READER, candidates, read_collection, resolve
from shared.dataset.problems import Rejected


def test_each_format_goes_to_its_reader():
    coco = json.dumps({"images": [], "annotations": [], "categories": []}).encode()
    assert read_collection("train/_annotations.coco.json", coco, max_bytes=1000).format == "coco"
    assert read_collection("export.json", b'[{"data": {"image": "a.jpg"}}]', max_bytes=1000).format == \
        "label-studio"
    assert read_collection("annotations.xml", b"<annotations/>", max_bytes=1000).format == "cvat"


@pytest.mark.parametrize(("data", "words"), [
    (b'{"info": {}, "licenses": []}', NO_READER),
    (b'[{"image": "a.jpg", "label": []}]', NO_READER),  # Label Studio's JSON-MIN: not the full export
    (b"{not json", "not JSON"),
    (b"[" * 100 + b"]" * 100, NO_READER),
    (b"[" * 100_000 + b"]" * 100_000, "not JSON (maximum recursion depth exceeded"),
])
def test_files_no_reader_takes_are_refused_with_why(data, words):
    with pytest.raises(Rejected) as info:
        read_collection("x.json", data, max_bytes=1_000_000)
    assert words in info.value.reason


def test_images_are_found_where_each_tool_puts_them():
    uploaded = {"train/a.jpg", "images/b.jpg", "train2017/c.jpg", "images/Train/d.jpg", "e.png"}
    found = {}
    for collection, ref, subset in [("train/_annotations.coco.json", "a.jpg", None),  # Roboflow
                                    ("annotations/instances_default.json", "b.jpg", None),  # CVAT's COCO
                                    ("annotations/instances_train2017.json", "c.jpg", None),  # COCO 2017
                                    ("annotations.xml", "d.jpg", "Train"),  # CVAT project export
                                    ("result.json", "/data/upload/7/0a1b2c3d-e.png", None),  # Label Studio
                                    ("result.json", "http://host/data/local-files/?d=train/a.jpg", None),
                                    ("result.json", "e", None)]:  # a bare stem
        found[ref] = resolve(collection, Item(ref, "x", subset=subset), uploaded.__contains__)
    assert found == {"a.jpg": ("train/a.jpg", True), "b.jpg": ("images/b.jpg", True),
                     "c.jpg": ("train2017/c.jpg", True), "d.jpg": ("images/Train/d.jpg", True),
                     "/data/upload/7/0a1b2c3d-e.png": ("e.png", True),
                     "http://host/data/local-files/?d=train/a.jpg": ("train/a.jpg", True), "e": ("e.png", True)}
    assert resolve("x/result.json", Item("../../etc/passwd", "x"), uploaded.__contains__) == ("x/passwd", False)
    assert all(not c.startswith("..") for c in candidates("result.json", Item("../../a.jpg", "x")))
