"""The files of one labelling export, in the Pascal VOC layout CVAT imports (and our dataset parser reads):
`JPEGImages/`, `Annotations/` (the model's boxes as pre-annotations), `ImageSets/Main/default.txt`,
`labelmap.txt`, and `export.json` saying what was picked, why, and from which model; packed as one zip, the form
CVAT's "Import dataset: Pascal VOC 1.1" takes. Pure: picks in, bytes out."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lxml import etree
from PIL import Image, ImageOps

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


def voc_xml(sample: Sample, filename: str, policy: SelectionPolicy) -> bytes:
    """The model's boxes at or above the pre-annotation score, in pixels of the upright image."""
    root = etree.Element("annotation")
    etree.SubElement(root, "folder").text = "JPEGImages"
    etree.SubElement(root, "filename").text = filename
    size = etree.SubElement(root, "size")
    for tag, value in (("width", sample.width), ("height", sample.height), ("depth", 3)):
        etree.SubElement(size, tag).text = str(value)
    etree.SubElement(root, "segmented").text = "0"
    for detection in sample.detections:
        if detection.score < policy.pre_annotation_score:
            continue
        obj = etree.SubElement(root, "object")
        etree.SubElement(obj, "name").text = detection.label
        etree.SubElement(obj, "pose").text = "Unspecified"
        etree.SubElement(obj, "truncated").text = "0"
        etree.SubElement(obj, "difficult").text = "0"
        box = etree.SubElement(obj, "bndbox")
        xmin, ymin, xmax, ymax = detection.box
        for tag, value in (("xmin", xmin * sample.width), ("ymin", ymin * sample.height),
                           ("xmax", xmax * sample.width), ("ymax", ymax * sample.height)):
            etree.SubElement(box, tag).text = f"{value:.1f}"
    return etree.tostring(root, pretty_print=True, xml_declaration=False, encoding="utf-8")


def export_files(header: ExportHeader, picks: list[Pick], skipped: list[Skip], labels: list[str],
                 policy: SelectionPolicy) -> Iterator[tuple[str, bytes]]:
    """(relative name, bytes) of every file of the export, export.json last (its presence marks it complete)."""
    items: list[dict[str, Any]] = []
    for pick in picks:
        sample = pick.sample
        try:
            data, suffix = upright_jpeg(sample)
        except (OSError, ValueError) as exc:
            skipped.append(Skip(sample.image_sha256, sample.request_id, f"image cannot be decoded: {exc}"))
            continue
        stem = stem_of(sample)
        yield f"JPEGImages/{stem}{suffix}", data
        yield f"Annotations/{stem}.xml", voc_xml(sample, f"{stem}{suffix}", policy)
        items.append({"image": f"JPEGImages/{stem}{suffix}", "annotation": f"Annotations/{stem}.xml",
                      "image_sha256": sample.image_sha256, "request_id": sample.request_id, "collected": sample.time,
                      "top_score": round(sample.top_score, 4), "reasons": list(pick.reasons),
                      "pre_annotated_boxes": sum(d.score >= policy.pre_annotation_score for d in sample.detections)})
    yield "ImageSets/Main/default.txt", "".join(f"{item['image'][11:].rsplit('.', 1)[0]}\n" for item in items).encode()
    yield "labelmap.txt", ("# label:color_rgb:parts:actions\n" + "".join(f"{name}:::\n" for name in labels)).encode()
    document = {"schema": "labelling-export/1", **header.__dict__, "images": len(items),
                "policy": policy.__dict__, "items": items,
                "skipped": [skip.__dict__ for skip in skipped],
                "how_to_return": "label in CVAT (import as Pascal VOC 1.1) or any VOC tool, keep the file names, "
                                 f"then upload Annotations/ and JPEGImages/ to datasets/{header.project}/"}
    yield "export.json", json.dumps(document).encode()  # C encoder: with indent, json writes 6,000 skips in Python


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
