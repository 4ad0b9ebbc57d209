"""The files of one labelling export in the format the project's labelling tool imports (LABELLING_EXPORT_FORMAT,
per project through LABELLING_OVERRIDES), the model's boxes as pre-annotations, and `export.json` saying what was
picked, why, and from which model; packed as one zip. Pure: picks in, bytes out. Every format comes back through the
dataset path's own readers once labelled.

- `pascal-voc`: `JPEGImages/`, `Annotations/`, `ImageSets/Main/default.txt`, `labelmap.txt` (CVAT's "Pascal VOC 1.1")
- `coco`: `images/`, `annotations/instances_default.json` (CVAT's "COCO 1.0", any COCO tool)
- `cvat`: `images/`, `annotations.xml` (CVAT's "CVAT 1.1")
- `label-studio`: `images/`, `tasks.json` (tasks with the boxes as predictions), `config.xml` (the project's labelling
  config: RectangleLabels over the label map)"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from PIL import Image, ImageOps

from shared import palette
from shared.dataset.manifest import PRODUCTION_PREFIX
from shared.labelling.collected import Sample
from shared.labelling.selection import Pick, SelectionPolicy, Skip


@dataclass(frozen=True)
class ExportHeader:
    project: str
    export_id: str
    model_name: str
    model_version: str
    created: str
    since: str
    until: str


def stem_of(sample: Sample) -> str:
    return f"{PRODUCTION_PREFIX}{sample.image_sha256[:16]}"


def upright_jpeg(sample: Sample) -> tuple[bytes, str]:
    """The image as the model saw it (EXIF orientation applied), unchanged when it already is; and its suffix."""
    data = sample.image or b""
    with Image.open(io.BytesIO(data)) as image:
        if image.format in ("JPEG", "PNG") and image.getexif().get(0x0112, 1) == 1:
            return data, ".jpg" if image.format == "JPEG" else ".png"
        upright = ImageOps.exif_transpose(image).convert("RGB")
    buffer = io.BytesIO()
    upright.save(buffer, "JPEG", quality=95)
    return buffer.getvalue(), ".jpg"


def voc_xml(item: Labelled, filename: str) -> bytes:
    """One image's Pascal VOC XML: its boxes (the model's, at or above the pre-annotation score) in pixels."""
    root = etree.Element("annotation")
    etree.SubElement(root, "folder").text = "JPEGImages"
    etree.SubElement(root, "filename").text = filename
    size = etree.SubElement(root, "size")
    for tag, value in (("width", item.width), ("height", item.height), ("depth", 3)):
        etree.SubElement(size, tag).text = str(value)
    etree.SubElement(root, "segmented").text = "0"
    for label, _score, *corners in item.boxes:
        obj = etree.SubElement(root, "object")
        etree.SubElement(obj, "name").text = label
        etree.SubElement(obj, "pose").text = "Unspecified"
        etree.SubElement(obj, "truncated").text = "0"
        etree.SubElement(obj, "difficult").text = "0"
        box = etree.SubElement(obj, "bndbox")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), corners, strict=True):
            etree.SubElement(box, tag).text = f"{value:.1f}"
    return etree.tostring(root, pretty_print=True, xml_declaration=False, encoding="utf-8")


EXPORT_FORMATS = ("pascal-voc", "coco", "cvat", "label-studio")
_COLLECTION_FILE = {"coco": "annotations/instances_default.json", "cvat": "annotations.xml",
                    "label-studio": "tasks.json"}
_HOW_TO_RETURN = {
    "pascal-voc": "label in CVAT (import as Pascal VOC 1.1) or any VOC tool, keep the file names, then upload "
                  "Annotations/ and JPEGImages/ to datasets/{project}/",
    "coco": "import into CVAT as COCO 1.0 (or any COCO tool), correct the boxes, export COCO and upload annotations/ "
            "and images/ to datasets/{project}/{export_id}/",
    "cvat": "import into CVAT as CVAT 1.1, correct the boxes, export 'CVAT for images 1.1' and upload annotations.xml "
            "and images/ to datasets/{project}/{export_id}/",
    "label-studio": "import tasks.json into a Label Studio project labelled with config.xml (the model's boxes arrive "
                    "as predictions), label, export JSON and upload it with images/ to datasets/{project}/{export_id}/",
}


@dataclass(frozen=True)
class Labelled:
    """One image as a collection file names it: its path in the export, its size, its boxes (the model's to correct,
    or a labeller's), and what the tool keeps beside it."""

    path: str
    width: int
    height: int
    boxes: tuple[tuple[str, float, float, float, float, float], ...]
    """(label, score, xmin, ymin, xmax, ymax) in pixels of the upright image."""
    meta: dict[str, Any] = field(default_factory=dict)
    score: float = 1.0


def _boxes(sample: Sample, policy: SelectionPolicy) -> tuple[tuple[str, float, float, float, float, float], ...]:
    return tuple((d.label, d.score, d.box[0] * sample.width, d.box[1] * sample.height, d.box[2] * sample.width,
                  d.box[3] * sample.height) for d in sample.detections if d.score >= policy.pre_annotation_score)


def export_files(header: ExportHeader, picks: list[Pick], skipped: list[Skip], labels: list[str],
                 policy: SelectionPolicy) -> Iterator[tuple[str, bytes]]:
    """(relative name, bytes) of every file of the export, export.json last (its presence marks it complete)."""
    kind = policy.export_format
    items: list[dict[str, Any]] = []
    written: list[Labelled] = []
    for pick in picks:
        sample = pick.sample
        try:
            data, suffix = upright_jpeg(sample)
        except (OSError, ValueError) as exc:
            skipped.append(Skip(sample.image_sha256, sample.request_id, f"image cannot be decoded: {exc}"))
            continue
        stem = stem_of(sample)
        image = f"{'JPEGImages' if kind == 'pascal-voc' else 'images'}/{stem}{suffix}"
        yield image, data
        labelled = Labelled(image, sample.width, sample.height, _boxes(sample, policy),
                            {"request_id": sample.request_id, "image_sha256": sample.image_sha256},
                            round(sample.top_score, 4))
        if kind == "pascal-voc":
            yield f"Annotations/{stem}.xml", voc_xml(labelled, f"{stem}{suffix}")
        written.append(labelled)
        items.append({"image": image, "annotation": _COLLECTION_FILE.get(kind, f"Annotations/{stem}.xml"),
                      "image_sha256": sample.image_sha256, "request_id": sample.request_id, "collected": sample.time,
                      "top_score": round(sample.top_score, 4), "reasons": list(pick.reasons),
                      "pre_annotated_boxes": sum(d.score >= policy.pre_annotation_score for d in sample.detections)})
    if kind == "pascal-voc":
        yield "ImageSets/Main/default.txt", "".join(f"{i['image'][11:].rsplit('.', 1)[0]}\n" for i in items).encode()
        yield "labelmap.txt", ("# label:color_rgb:parts:actions\n" + "".join(f"{n}:::\n" for n in labels)).encode()
    elif kind == "coco":
        yield _COLLECTION_FILE[kind], coco_json(written, labels)
    elif kind == "cvat":
        yield _COLLECTION_FILE[kind], cvat_xml(written, labels, header.export_id)
    else:
        yield _COLLECTION_FILE[kind], label_studio_tasks(written, f"{header.model_name}:{header.model_version}")
        yield "config.xml", label_studio_config(labels)
    document = {"schema": "labelling-export/1", **header.__dict__, "format": kind, "images": len(items),
                "policy": policy.__dict__, "items": items,
                "skipped": [skip.__dict__ for skip in skipped],
                "how_to_return": _HOW_TO_RETURN[kind].format(project=header.project, export_id=header.export_id)}
    yield "export.json", json.dumps(document).encode()  # C encoder: with indent, json writes 6,000 skips in Python


def coco_json(written: list[Labelled], labels: list[str]) -> bytes:
    """COCO detection JSON; each box keeps its score (the model's, for a pre-annotation)."""
    images, annotations = [], []
    for image_id, item in enumerate(written, start=1):
        images.append({"id": image_id, "file_name": item.path.split("/", 1)[1], "width": item.width,
                       "height": item.height})
        for label, score, xmin, ymin, xmax, ymax in item.boxes:
            box = [round(xmin, 1), round(ymin, 1), round(xmax - xmin, 1), round(ymax - ymin, 1)]
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "iscrowd": 0, "bbox": box,
                                "area": round(box[2] * box[3], 1), "segmentation": [],
                                "category_id": _category(labels, label), "score": round(score, 4)})
    return json.dumps({"info": {"description": "pre-annotations for labelling"}, "licenses": [],
                       "categories": [{"id": i, "name": n, "supercategory": ""} for i, n in enumerate(labels, 1)],
                       "images": images, "annotations": annotations}, indent=1).encode()


def _category(labels: list[str], label: str) -> int:
    return labels.index(label) + 1 if label in labels else len(labels) + 1


def cvat_xml(written: list[Labelled], labels: list[str], task_name: str) -> bytes:
    """CVAT for images 1.1: the labels in the task's meta, one <image> per image with its boxes."""
    root = etree.Element("annotations")
    etree.SubElement(root, "version").text = "1.1"
    task = etree.SubElement(etree.SubElement(root, "meta"), "task")
    etree.SubElement(task, "name").text = task_name
    etree.SubElement(task, "size").text = str(len(written))
    etree.SubElement(task, "mode").text = "annotation"
    declared = etree.SubElement(task, "labels")
    for name in labels:
        label = etree.SubElement(declared, "label")
        etree.SubElement(label, "name").text = name
        etree.SubElement(label, "type").text = "rectangle"
        etree.SubElement(label, "attributes")
    for image_id, item in enumerate(written):
        image = etree.SubElement(root, "image", id=str(image_id), name=item.path.split("/", 1)[1],
                                 width=str(item.width), height=str(item.height))
        for label, _score, xmin, ymin, xmax, ymax in item.boxes:
            etree.SubElement(image, "box", label=label, source="auto", occluded="0", xtl=f"{xmin:.2f}",
                             ytl=f"{ymin:.2f}", xbr=f"{xmax:.2f}", ybr=f"{ymax:.2f}", z_order="0")
    return etree.tostring(root, pretty_print=True, xml_declaration=True, encoding="utf-8")


def label_studio_tasks(written: list[Labelled], model_version: str | None) -> bytes:
    """Label Studio tasks: the image, and its boxes in percent of the image — a model's prediction to correct (with
    `model_version`), or a labeller's submitted annotation (as Label Studio's JSON export writes it)."""
    tasks = []
    for number, item in enumerate(written, start=1):
        result = [{"id": f"p{index}", "type": "rectanglelabels", "from_name": "label", "to_name": "image",
                   "original_width": item.width, "original_height": item.height, "image_rotation": 0, "score": score,
                   "value": {"x": xmin * 100 / item.width, "y": ymin * 100 / item.height,
                             "width": (xmax - xmin) * 100 / item.width, "height": (ymax - ymin) * 100 / item.height,
                             "rotation": 0, "rectanglelabels": [label]}}
                  for index, (label, score, xmin, ymin, xmax, ymax) in enumerate(item.boxes)]
        if model_version is not None:
            tasks.append({"data": {"image": item.path}, "meta": item.meta,
                          "predictions": [{"model_version": model_version, "score": item.score, "result": result}]})
        else:
            tasks.append({"id": number, "data": {"image": item.path}, "meta": item.meta, "annotations": [
                {"id": number, "result": result, "was_cancelled": False, "ground_truth": False}]})
    return json.dumps(tasks, indent=1).encode()


def label_studio_config(labels: list[str]) -> bytes:
    """The labelling config the tasks' predictions are made for: RectangleLabels over the label map, each class in
    a colour of its own by its place there (classes are only ever added at the end, so a class keeps its colour)."""
    view = etree.Element("View")
    etree.SubElement(view, "Image", name="image", value="$image")
    rectangles = etree.SubElement(view, "RectangleLabels", name="label", toName="image")
    for index, name in enumerate(labels):
        etree.SubElement(rectangles, "Label", value=name, background=palette.colour(index))
    return etree.tostring(view, pretty_print=True, encoding="utf-8")


ARCHIVE = "export.zip"
MANIFEST = "export.json"


def zipped(files: list[tuple[str, bytes]]) -> bytes:
    """One zip of the export (JPEGs stored as they are, text deflated)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files:
            kind = zipfile.ZIP_STORED if name.endswith((".jpg", ".png")) else zipfile.ZIP_DEFLATED
            archive.writestr(name, data, compress_type=kind)
    return buffer.getvalue()


def unzipped(data: bytes) -> dict[str, bytes]:
    """The files of an export's zip by name (what a labeller unpacks)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}
