"""The dataset path against a real Azurite: upload the way a person would, read the report and manifest."""

import json
import random

import pytest
from PIL import Image

from local_mode.demo_data import demo_export, golden_export, jpeg_bytes, make_scene, voc_xml, vott_export
from shared.dataset.label_map import LabelMap
from shared.dataset.manifest import load_manifest
from shared.dataset.service import DatasetBuilder


def upload(store, settings, project, files):
    store.ensure_container(settings.datasets_container)
    for relative, data in files.items():
        store.write(settings.datasets_container, f"{project}/{relative}", data)


def quarantined(store, settings, name):
    data = store.read(settings.quarantine_container, name).data
    reason = json.loads(store.read(settings.quarantine_container, name + ".reason.json").data)
    return data, reason


def test_vott_export_becomes_a_manifest(blob_store, settings):
    files = vott_export(30, seed=1)
    upload(blob_store, settings, "shapes", files)
    builder = DatasetBuilder(blob_store, settings)
    build = builder.build("shapes")
    name = builder.publish(build)

    manifest = load_manifest(blob_store.read(settings.manifests_container, name).data)
    assert manifest["counts"]["images"] == 30
    assert manifest["counts"]["train"] + manifest["counts"]["validation"] == 30
    assert [i["name"] for i in manifest["label_map"]] == ["circle", "square", "triangle"]
    assert manifest == build.manifest
    first = next(e for e in build.entries() if e["image"]["name"].endswith("/img_00000.jpg"))
    xml = files["Annotations/img_00000.xml"].decode()
    for obj in first["objects"]:
        assert f"<name>{obj['name']}</name>" in xml
        assert f"<xmin>{int(obj['bbox'][0])}</xmin>" in xml
        assert obj["label"] == next(i["id"] for i in manifest["label_map"] if i["name"] == obj["name"])
    image_blob = blob_store.read(settings.datasets_container, first["image"]["name"])
    assert first["image"]["etag"] == image_blob.etag
    assert build.report.layout == "vott-pascal-voc"
    assert build.report.quarantined == []
    assert [p.file for p in build.report.ignored] == ["shapes/ImageSets/Main/train.txt"]
    latest = json.loads(blob_store.read(settings.manifests_container, "shapes/latest.json").data)
    assert latest == {"dataset_version": manifest["dataset_version"], "manifest": name}


def test_flat_folder_with_background_images(blob_store, settings):
    rng = random.Random(3)
    files = {}
    for i in range(6):
        image, shapes = make_scene(rng, 96, 1)
        files[f"photo{i}.jpg"] = jpeg_bytes(image)
        if i < 4:
            files[f"photo{i}.xml"] = voc_xml(f"photo{i}.jpg", 96, 96, shapes)
    upload(blob_store, settings, "flat", files)
    build = DatasetBuilder(blob_store, settings).build("flat")
    counts = build.manifest["counts"]
    assert (build.report.layout, counts["images"], counts["background"], counts["boxes"]) == ("flat", 6, 2, 4)


def test_oxford_pets_style_classes_from_file_names(blob_store, settings):
    rng = random.Random(4)
    files = {}
    for stem in ("Abyssinian_12", "great_pyrenees_3", "great_pyrenees_4"):
        image, shapes = make_scene(rng, 96, 1, classes=("cat",))
        files[f"images/{stem}.jpg"] = jpeg_bytes(image)
        files[f"annotations/xmls/{stem}.xml"] = voc_xml(f"{stem}.jpg", 96, 96, shapes)
    files["images/Bengal_1.jpg"] = jpeg_bytes(make_scene(rng, 96, 1)[0])  # pets ships images without boxes
    upload(blob_store, settings, "pets", files)
    build = DatasetBuilder(blob_store, settings).build("pets")
    assert build.report.class_source == "filename"
    assert build.manifest["counts"]["boxes_per_class"] == {"Abyssinian": 1, "great_pyrenees": 2}
    assert [(p.file, "not used" in p.reason) for p in build.report.ignored] == [("pets/images/Bengal_1.jpg", True)]


def _bad_inputs(rng):
    """Every kind of bad file a user can upload, each with the field and words the report must show."""
    image, _shapes = make_scene(rng, 64, 1, classes=("circle",))
    good = jpeg_bytes(image)
    truncated = jpeg_bytes(Image.effect_noise((64, 64), 60).convert("RGB"))
    xxe = (b'<?xml version="1.0"?><!DOCTYPE annotation [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
           b"<annotation><filename>&xxe;</filename></annotation>")
    box = "<object><name>{}</name><bndbox><xmin>{}</xmin><ymin>5</ymin><xmax>{}</xmax><ymax>30</ymax></bndbox></object>"
    def ann(obj: str, size: str = "<size><width>64</width><height>64</height></size>") -> bytes:
        return f"<annotation><filename>x.jpg</filename>{size}{obj}</annotation>".encode()
    return {
        # file: (bytes, field, words)
        "xxe.xml": (xxe, "DOCTYPE", "XXE"), "xxe.jpg": (good, "annotation", "xxe.xml was rejected"),
        "inverted.xml": (ann(box.format("circle", 40, 10)), "object[1]/bndbox", "inverted box"),
        "inverted.jpg": (good, "annotation", "inverted.xml was rejected"),
        "zero.xml": (ann(box.format("circle", 10, 10)), "object[1]/bndbox", "zero-area"),
        "zero.jpg": (good, "annotation", "zero.xml was rejected"),
        "unknown.xml": (ann(box.format("hexagon", 5, 20)), "object[1]/name", "'hexagon' is not in the label map"),
        "unknown.jpg": (good, "annotation", "unknown.xml was rejected"),
        "wrongsize.xml": (ann(box.format("circle", 5, 20), "<size><width>640</width><height>480</height></size>"),
                          "size", "says 640x480 but the image is 64x64"),
        "wrongsize.jpg": (good, "annotation", "wrongsize.xml was rejected"),
        "broken.xml": (b"<annotation><object>", "xml", "not well-formed"),
        "broken.jpg": (good, "annotation", "broken.xml was rejected"),
        "truncated.jpg": (truncated[: len(truncated) // 2], "content", "truncated"),
        "truncated.xml": (ann(box.format("circle", 5, 20)), "filename", "its image shapes/truncated.jpg was rejected"),
        "notanimage.jpg": (b"this is a text file", "content", "not a JPEG or PNG"),
        "orphan.xml": (ann(box.format("circle", 5, 20)), "filename", "no image found"),
        "animated.gif": (b"GIF89a" + bytes(40), "content", "not a JPEG or PNG"),
    }


def test_every_bad_input_is_quarantined_with_its_reason_and_the_batch_goes_on(blob_store, settings):
    rng = random.Random(5)
    bad = _bad_inputs(rng)
    files = {name: data for name, (data, _, _) in bad.items()}
    files.update(vott_export(5, seed=2, classes=("circle",)))  # the good ones, with a label map: circle only
    spill, spill_shapes = make_scene(rng, 64, 1, classes=("circle",))
    files["spill.jpg"] = jpeg_bytes(spill)
    files["spill.xml"] = voc_xml("spill.jpg", 64, 64, [spill_shapes[0].__class__("circle", -3, 4, 70, 20)])
    upload(blob_store, settings, "shapes", files)

    build = DatasetBuilder(blob_store, settings).build("shapes")

    report = {p.file.removeprefix("shapes/"): p for p in build.report.quarantined}
    assert set(report) == set(bad)
    for name, (data, field, words) in bad.items():
        problem = report[name]
        assert (problem.field, words in problem.reason) == (field, True), (name, problem)
        copy, reason = quarantined(blob_store, settings, f"shapes/{name}")
        assert copy == data, f"{name}: quarantine holds a different file"
        assert reason["field"] == field and reason["file"] == f"shapes/{name}"
        # never moved or deleted
        assert blob_store.read(settings.datasets_container, f"shapes/{name}").data == data
    assert build.manifest["counts"]["images"] == 6  # 5 good + the clipped one
    (warning,) = [w for w in build.report.warnings if w.file == "shapes/spill.xml"]
    assert "clipped" in warning.reason
    text = build.report.render()
    assert "quarantined (copied with the reason, originals untouched): 17" in text
    assert "shapes/xxe.xml [DOCTYPE]" in text


def test_rerun_is_byte_identical_and_new_images_keep_their_split(blob_store, settings):
    upload(blob_store, settings, "shapes", vott_export(40, seed=7))
    builder = DatasetBuilder(blob_store, settings)
    first, again = builder.build("shapes"), builder.build("shapes")
    assert first.manifest_bytes == again.manifest_bytes

    upload(blob_store, settings, "shapes", vott_export(20, seed=8, start=40))
    grown = builder.build("shapes", previous_label_map=LabelMap.from_list(first.manifest["label_map"]))
    before = {i["image"]["name"]: i["split"] for i in first.entries()}
    after = {i["image"]["name"]: i["split"] for i in grown.entries()}
    assert len(after) == 60
    assert {name: after[name] for name in before} == before
    assert grown.manifest["dataset_version"] != first.manifest["dataset_version"]


def test_new_classes_on_retrain_get_new_ids_and_old_ids_stay(blob_store, settings):
    upload(blob_store, settings, "grow", {k: v for k, v in vott_export(6, seed=9, classes=("square",)).items()
                                          if not k.endswith(".pbtxt")})
    builder = DatasetBuilder(blob_store, settings)
    first = builder.build("grow", previous_label_map=LabelMap.parse("item { id: 1 name: 'triangle' }"))
    assert first.manifest["label_map"] == [{"id": 1, "name": "triangle"}, {"id": 2, "name": "square"}]
    upload(blob_store, settings, "grow", {k: v for k, v in vott_export(4, seed=10, classes=("circle",),
                                                                        start=6).items() if not k.endswith(".pbtxt")})
    second = builder.build("grow", previous_label_map=LabelMap.from_list(first.manifest["label_map"]))
    assert [(i["id"], i["name"]) for i in second.manifest["label_map"]] == [(1, "triangle"), (2, "square"),
                                                                            (3, "circle")]


@pytest.mark.parametrize(("folder", "fmt"), [(None, "pascal-voc"), ("benchmark/fixed", "pascal-voc"), (None, "coco")])
def test_a_golden_folder_is_its_own_split_never_trained_on(blob_store, settings, folder, fmt):
    """Any layout under the golden folder: its images are the golden set whatever the split rule says."""
    place = folder or "golden"
    golden = {f"{place}/{k}": v for k, v in golden_export(8, fmt, seed=12).items()}
    config = {"dataset.json": json.dumps({"golden_folder": folder}).encode()} if folder else {}
    upload(blob_store, settings, "gold", {**demo_export(30, fmt, seed=1), **golden, **config})
    build = DatasetBuilder(blob_store, settings).build("gold")
    splits = {e["image"]["name"]: e["split"] for e in build.entries()}
    assert {n for n, s in splits.items() if s == "golden"} == {f"gold/{k}" for k in golden if k.endswith(".jpg")}
    counts = build.manifest["counts"]
    assert (counts["golden"], counts["train"] + counts["validation"], counts["images"]) == (8, 30, 38)
    assert "8 golden, never trained on, evaluated every run" in build.report.render()
    assert build.report.quarantined == []


@pytest.mark.parametrize("config", [b"{not json", b'{"class_source": "folder"}', b'{"golden_folder": "../x"}'])
def test_bad_dataset_config_is_quarantined_and_defaults_apply(blob_store, settings, config):
    upload(blob_store, settings, "cfg", {"dataset.json": config, **vott_export(3, seed=11)})
    build = DatasetBuilder(blob_store, settings).build("cfg")
    assert [p.file for p in build.report.quarantined] == ["cfg/dataset.json"]
    assert build.manifest["counts"]["images"] == 3
