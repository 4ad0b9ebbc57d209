"""Each labelling tool's export through the dataset path against Azurite, as a person uploads it: exactly what the
files say, or a refusal naming the file, the line or field, and why. The exports under tests/data/formats/ were made
by the tools' own exporter code (tests/data/formats/make_exports.py: Datumaro, Label Studio's converter)."""

from __future__ import annotations

import json
import posixpath
import random
from collections import Counter
from pathlib import Path

import pytest

from local_mode.demo_data import jpeg_bytes, make_scene, voc_xml
from shared.dataset.service import DatasetBuilder

FORMATS = Path(__file__).resolve().parents[3] / "data" / "formats"
TRUTH = json.loads((FORMATS / "truth.json").read_text())
EXPORTS = {"coco": "coco", "yolo-ultralytics": "yolo", "yolo-darknet": "yolo", "cvat": "cvat",
           "label-studio": "label-studio"}


def export_files(folder: str) -> dict[str, bytes]:
    root = FORMATS / folder
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def upload(store, settings, project, files):
    store.ensure_container(settings.datasets_container)
    for relative, data in files.items():
        store.write(settings.datasets_container, f"{project}/{relative}", data)


def stem(entry) -> str:
    return posixpath.splitext(posixpath.basename(entry["image"]["name"]))[0]


@pytest.mark.parametrize("folder", sorted(EXPORTS))
def test_each_tools_export_reads_exactly_as_its_files_say(blob_store, settings, folder):
    files = export_files(folder) | {"dataset.json": json.dumps({"split": "export"}).encode()}
    upload(blob_store, settings, "p", files)
    build = DatasetBuilder(blob_store, settings).build("p")
    counts, report = build.manifest["counts"], build.report
    assert (counts["images"], counts["background"]) == (TRUTH["images"], TRUTH["background"])
    assert counts["boxes_per_class"] == TRUTH["boxes_per_class"]
    assert report.quarantined == [] and report.alerts == []
    assert set(report.formats.values()) == {EXPORTS[folder]}
    splits = {stem(e): e["split"] for e in build.entries()}
    if folder != "label-studio":  # a Label Studio project has no split: the stable hash splits it
        assert splits == {s: "train" if split == "train" else "validation"
                          for split, stems in TRUTH["splits"].items() for s in stems}  # the export's split is kept
    else:
        assert [(p.file, "not labelled yet" in p.reason) for p in report.ignored] == [
            ("p/images/unlabelled.jpg", True)]  # an unlabelled task is not a background image


def test_boxes_are_where_the_voc_path_puts_them(blob_store, settings):
    """The same images in every format give the same boxes, in pixels, to a tenth of a pixel (YOLO's 6 digits)."""
    boxes = {}
    for folder in EXPORTS:
        upload(blob_store, settings, folder, export_files(folder))
        build = DatasetBuilder(blob_store, settings).build(folder)
        boxes[folder] = {stem(e): sorted((o["name"], *[round(v) for v in o["bbox"]]) for o in e["objects"])
                         for e in build.entries()}
    assert all(found == boxes["coco"] for found in boxes.values())


def test_mixed_formats_in_one_project_and_an_image_annotated_twice(blob_store, settings):
    files = {f"a/{k}": v for k, v in export_files("coco").items()} | {
        f"b/{k}": v for k, v in export_files("yolo-ultralytics").items()}
    _, shapes = make_scene(random.Random(1), 96, 1)
    files["a/images/train/train_000.xml"] = voc_xml("train_000.jpg", 96, 96, shapes)  # also in the COCO file
    upload(blob_store, settings, "mixed", files)
    build = DatasetBuilder(blob_store, settings).build("mixed")
    assert build.report.formats == {"a/annotations": "coco", "b/labels/train": "yolo", "b/labels/val": "yolo"}
    assert build.manifest["counts"]["images"] == 2 * TRUTH["images"] - 1
    twice = {(p.file, p.field) for p in build.report.quarantined}
    assert twice == {("mixed/a/images/train/train_000.jpg", "annotation"),
                     ("mixed/a/images/train/train_000.xml", "file"),
                     ("mixed/a/annotations/instances_train.json", "images[id=1] (train_000.jpg)")}
    assert all("annotated twice" in p.reason or "as does another file" in p.reason
               for p in build.report.quarantined)


def test_broken_files_are_quarantined_with_file_line_or_field_and_reason(blob_store, settings):
    files = export_files("yolo-ultralytics")
    files["labels/train/train_001.txt"] = b"0 0.5 0.5 0.2 0.2\n1 0.5 0.5\n"
    files["labels/train/train_002.txt"] = b"7 0.5 0.5 0.2 0.2\n"
    coco = json.loads(export_files("coco")["annotations/instances_val.json"])
    coco["annotations"][0]["category_id"] = 42
    files["coco/annotations/instances_val.json"] = json.dumps(coco).encode()
    files["coco/images/val/val_000.jpg"] = export_files("coco")["images/val/val_000.jpg"]
    files["other.json"] = b'{"info": {}, "licenses": []}'
    upload(blob_store, settings, "bad", files)
    build = DatasetBuilder(blob_store, settings).build("bad")
    found = {(p.file, p.field): p.reason for p in build.report.quarantined}
    assert found["bad/labels/train/train_001.txt", "line 2"].startswith("expected 5 numbers")
    assert found["bad/labels/train/train_002.txt", "line 1"] == \
        "class 7 is not in bad/data.yaml (3 classes, ids 0 to 2)"
    coco_file = "bad/coco/annotations/instances_val.json"
    assert found[coco_file, "images[id=7] (val_000.jpg)/annotations[id=1]/category_id"] == \
        "42 is not one of this file's categories (ids 1, 2, 3)"
    assert found[coco_file, "images[id=8] (val_001.jpg)"].startswith(
        "no image found for this annotation (looked for 'val_001.jpg' beside this file")  # not uploaded
    assert "no reader takes this file" in found["bad/other.json", "json"]
    assert build.report.alerts[0].startswith("1 annotation file not read (bad/other.json)")
    reason = json.loads(blob_store.read(settings.quarantine_container, "bad/labels/train/train_001.txt.reason.json")
                        .data)
    assert (reason["field"], reason["file"]) == ("line 2", "bad/labels/train/train_001.txt")


def test_images_with_annotations_no_reader_takes_are_never_a_silent_background_dataset(blob_store, settings):
    rng = random.Random(2)
    files = {f"train/{i}.jpg": jpeg_bytes(make_scene(rng, 64, 1)[0]) for i in range(4)}
    files["train/_annotations.csv"] = b"filename,width,height,class,xmin,ymin,xmax,ymax\n0.jpg,64,64,circle,1,1,9,9\n"
    upload(blob_store, settings, "csv", files)
    build = DatasetBuilder(blob_store, settings).build("csv")
    assert build.manifest["counts"]["images"] == 4 and build.manifest["counts"]["boxes"] == 0
    assert build.report.alerts == [
        "1 annotation file not read (csv/train/_annotations.csv): their boxes are not in this dataset; the reasons "
        "are listed below",
        "no boxes in 4 images: nothing to train a detector on (are the annotation files uploaded, and in a format "
        "listed in docs/datasets.md?)"]
    assert build.report.render().startswith("  !! 1 annotation file not read")


class CountingStore:
    """The real store, counting the blobs read by kind."""

    def __init__(self, store):
        self.store, self.reads = store, Counter()

    def read(self, container, name):
        self.reads[posixpath.splitext(name)[1]] += 1
        return self.store.read(container, name)

    def __getattr__(self, name):
        return getattr(self.store, name)


def test_a_re_exported_collection_file_downloads_only_the_images_whose_items_changed(blob_store, settings):
    files = export_files("coco")
    upload(blob_store, settings, "re", files)
    counting = CountingStore(blob_store)
    first = DatasetBuilder(counting, settings).build("re")
    assert counting.reads[".jpg"] == TRUTH["images"]
    coco = json.loads(files["annotations/instances_train.json"])
    image = dict(coco["images"][0], id=999, file_name="extra.jpg")
    coco["images"].append(image)
    coco["annotations"].append(dict(coco["annotations"][0], id=999, image_id=999))
    coco["annotations"][1]["bbox"] = [b + 1 for b in coco["annotations"][1]["bbox"]]  # one box moved
    upload(blob_store, settings, "re", {"annotations/instances_train.json": json.dumps(coco).encode(),
                                        "images/train/extra.jpg": files["images/train/train_000.jpg"]})
    counting.reads.clear()
    second = DatasetBuilder(counting, settings).build("re")
    assert counting.reads[".jpg"] == 2  # the new image and the one whose box moved
    assert second.manifest["counts"]["images"] == first.manifest["counts"]["images"] + 1
    scratch = DatasetBuilder(blob_store, settings.with_overrides(manifests_container=settings.manifests_container
                                                                 + "x")).build("re")
    assert scratch.manifest == second.manifest  # byte-identical to a snapshot from scratch


class CrashingStore:
    """The real store, failing the `after`-th write to the manifests container (the catalog's), as a crash would."""

    def __init__(self, store, container: str, after: int) -> None:
        self.store, self.container, self.left = store, container, after

    def write(self, container, name, data, **kwargs):
        if container == self.container:
            self.left -= 1
            if self.left == 0:
                raise OSError("crash")
        return self.store.write(container, name, data, **kwargs)

    def __getattr__(self, name):
        return getattr(self.store, name)


def test_a_crash_anywhere_in_a_re_expansion_is_made_good_by_the_next_snapshot(blob_store, settings, monkeypatch):
    from shared.dataset import manifest as manifest_module

    monkeypatch.setattr(manifest_module, "BUCKET_TARGET", 2)  # the file's items spread over several buckets
    files = export_files("coco")
    upload(blob_store, settings, "crash", files)
    DatasetBuilder(blob_store, settings).build("crash")
    coco = json.loads(files["annotations/instances_train.json"])
    name = "crash/annotations/instances_train.json"
    for crash_at, moved in zip((1, 2, 3, 4, 6), range(5), strict=True):
        coco["annotations"][moved]["bbox"][0] += 1  # a re-export with one box moved
        upload(blob_store, settings, "crash", {"annotations/instances_train.json": json.dumps(coco).encode()})
        with pytest.raises(OSError):
            DatasetBuilder(CrashingStore(blob_store, settings.manifests_container, crash_at), settings).snapshot(
                "crash", changes=[name])
        after = DatasetBuilder(blob_store, settings).snapshot("crash", changes=[name], report=True)
        scratch = DatasetBuilder(blob_store, settings.with_overrides(
            manifests_container=f"{settings.manifests_container}s{crash_at}")).build("crash")
        assert after.manifest_bytes == scratch.manifest_bytes, f"crash at write {crash_at}"
