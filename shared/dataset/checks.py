"""One image and its annotation, checked in two parts: what their bytes say (kept while their ETags hold) and what
the project's class rules make of that (applied at every snapshot, so a new label map needs no download).

An outcome is plain JSON, stored in the project's catalog: either `{"rejected": [[file, field, reason], …]}` or the
facts of an accepted image — its blob references, decoded size and EXIF orientation, the boxes in the displayed
frame with the class names as written, and the warnings (clipped boxes, size read from the image, …).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

from shared.dataset.formats import split_in_path
from shared.dataset.formats.collections import split_virtual
from shared.dataset.formats.yolo import parse_labels
from shared.dataset.images import ImageFacts, inspect_image
from shared.dataset.layout import class_from_filename
from shared.dataset.manifest import split_of
from shared.dataset.problems import Problem, Rejected
from shared.dataset.records import build_record
from shared.dataset.voc import Box, VocAnnotation, parse_voc
from shared.ports import Blob

Outcome = dict[str, Any]


@dataclass(frozen=True)
class Limits:
    """What a check refuses before decoding; part of the catalog's fingerprint (a change re-checks everything)."""

    max_image_pixels: int
    max_image_bytes: int
    max_annotation_bytes: int
    max_collection_bytes: int = 100 * 1024 * 1024


@dataclass(frozen=True)
class Rules:
    """How checked files become training examples in this project: where classes come from, which classes are
    allowed, the validation share, the YOLO class lists by folder and whose split is used."""

    class_source: str
    allowed: tuple[str, ...] | None
    validation_fraction: float
    prefix: str
    class_lists: dict[str, tuple[str, dict[int, str]]] = field(default_factory=dict)
    """folder (relative, as written) → (class list blob, class id → name)."""
    split: str = "hash"
    """"hash": a stable hash of each image name; "export": the tool's split (folders, subsets, files per split)
    where the export has one, the hash elsewhere."""
    golden_folder: str = "golden"
    """Images under this folder (relative to the project) are the golden set, whatever the split rule says."""

    def class_list_for(self, relative_annotation: str) -> tuple[str, dict[int, str]] | None:
        """The class list nearest above a YOLO label file."""
        folder = posixpath.dirname(relative_annotation)
        while True:
            if folder in self.class_lists:
                return self.class_lists[folder]
            if not folder:
                return None
            folder = posixpath.dirname(folder)

    def split_for(self, relative_image: str, told: str | None) -> str:
        if self.golden_folder and relative_image.startswith(self.golden_folder.strip("/") + "/"):
            return "golden"
        if self.split == "export":
            found = told or split_in_path(relative_image)
            if found:
                return found
        return split_of(relative_image, self.validation_fraction)


@dataclass
class Verdict:
    """One pair under the project's rules: an example (without label ids yet), or problems."""

    entry: dict[str, Any] | None = None
    rejected: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    ignored: list[Problem] = field(default_factory=list)


def rejected(*problems: tuple[str, str, str]) -> Outcome:
    return {"rejected": [list(p) for p in problems]}


def ambiguous(names: list[str]) -> Outcome:
    listed = ", ".join(names)
    return rejected(*((name, "file", f"ambiguous: these files share one name: {listed}") for name in names))


def annotated_twice(image: str, annotations: list[tuple[str, str]]) -> Outcome:
    """One image with annotations from two files (two formats, or two collection files): both are named."""
    listed = " and ".join(f"{file} ({where})" if where else file for file, where in annotations)
    return rejected((image, "annotation", f"annotated twice: {listed}; keep one"),
                    *((file, where or "file", f"annotates {image} too, as does another file: {listed}")
                      for file, where in annotations))


def orphan_annotation(file: str, where: str = "", tried: str = "") -> Outcome:
    looked = tried or "the same name with .jpg, .jpeg or .png"
    return rejected((file, where or "filename", f"no image found for this annotation (looked for {looked})"))


def _ref(blob: Blob) -> dict[str, Any]:
    return {"name": blob.name, "etag": blob.etag, "md5": hashlib.md5(blob.data).hexdigest(), "size": len(blob.data)}


def item_ref(name: str, record: dict[str, Any]) -> dict[str, Any]:
    """A collection item as the manifest names its annotation: the collection file and where in it."""
    data = canonical(record)
    digest = hashlib.md5(data).hexdigest()
    return {"name": name, "etag": digest, "md5": digest, "size": len(data), "file": split_virtual(name)[0],
            "where": record["where"]}


def canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()


def place(annotation: dict[str, Any], field_: str) -> tuple[str, str]:
    """(file, field) a person opens: the collection file and the item's place in it, or the annotation file."""
    if "where" in annotation:
        return annotation["file"], f"{annotation['where']}/{field_}" if field_ else annotation["where"]
    return annotation["name"], field_


def check_files(image: Blob, annotation: Blob | None, limits: Limits, item: dict[str, Any] | None = None) -> Outcome:
    """Decode the image and read its annotation (a VOC or YOLO file, or a collection item's record); boxes keep
    the class names (YOLO: ids) as written."""
    ref = (item_ref(annotation.name, item) if item is not None else _ref(annotation)) if annotation else None
    try:
        facts = inspect_image(image.data, max_pixels=limits.max_image_pixels, max_bytes=limits.max_image_bytes)
    except Rejected as exc:
        problems = [(image.name, exc.field, exc.reason)]
        if ref:
            file, where = place(ref, "")
            problems.append((file, where or "filename", f"its image {image.name} was rejected: {exc.reason}"))
        return rejected(*problems)
    outcome: Outcome = {"image": _ref(image) | {"format": facts.format, "orientation": facts.orientation},
                        "annotation": ref, "width": facts.width, "height": facts.height, "objects": [],
                        "notes": []}
    if annotation is None:
        return outcome
    try:
        read, fields, extra = _read(annotation, item, facts, limits)
        record = build_record(read, facts, lambda name: name, fields)
    except Rejected as exc:
        return _annotation_rejected(ref, image.name, exc.field, exc.reason)
    outcome["objects"] = [b.as_list() for b in record.boxes]
    outcome["notes"] = [list(n) for n in extra + list(record.notes)]
    if fields:
        outcome["object_fields"] = list(fields)
    if annotation.name.lower().endswith(".txt") and item is None:
        outcome["class_ids"] = True
    if item is not None and item.get("split"):
        outcome["split"] = item["split"]
    return outcome


def _read(annotation: Blob, item: dict[str, Any] | None, facts: ImageFacts,
          limits: Limits) -> tuple[VocAnnotation, list[str], list[tuple[str, str]]]:
    """The annotation in VOC's shape, each box's field, and the reader's own warnings."""
    if item is not None:
        if item.get("rejected"):
            raise Rejected(*item["rejected"])
        boxes = tuple(Box(*o) for o in item["objects"])
        return (VocAnnotation(None, tuple(item["size"]) if item["size"] else None, boxes), item["fields"],
                [tuple(n) for n in item["notes"]])
    if annotation.name.lower().endswith(".txt"):
        labels = parse_labels(annotation.data, max_bytes=limits.max_annotation_bytes)
        width, height = facts.width, facts.height
        boxes = tuple(Box(str(lb.class_id), lb.box[0] * width, lb.box[1] * height, lb.box[2] * width,
                          lb.box[3] * height) for lb in labels)
        notes = [(f"line {lb.line}", lb.note) for lb in labels if lb.note]
        return VocAnnotation(None, (width, height), boxes), [f"line {lb.line}" for lb in labels], notes
    return parse_voc(annotation.data, max_bytes=limits.max_annotation_bytes), [], []


def _annotation_rejected(annotation: dict[str, Any], image: str, field_: str, reason: str) -> Outcome:
    file, where = place(annotation, field_)
    return rejected((file, where, reason), (image, "annotation", f"its annotation {file} was rejected: [{where}] "
                                                                 f"{reason}"))


def apply_rules(outcome: Outcome, rules: Rules) -> Verdict:
    """The pair as this project sees it now: classes named (YOLO ids, file-name classes) and checked (label map,
    with its spelling when only the case differs), and the split."""
    if "rejected" in outcome:
        return Verdict(rejected=[Problem(f, fld, reason) for f, fld, reason in outcome["rejected"]])
    if "ignored" in outcome:
        return Verdict(ignored=[Problem(f, fld, reason, "warning") for f, fld, reason in outcome["ignored"]])
    image, annotation = outcome["image"], outcome["annotation"]
    relative = image["name"][len(rules.prefix):]
    fields = outcome.get("object_fields") or [f"object[{i}]/name" for i in range(1, len(outcome["objects"]) + 1)]
    names: tuple[str, dict[int, str]] | None = None
    if outcome.get("class_ids"):
        names = rules.class_list_for(annotation["name"][len(rules.prefix):])
        if names is None:
            return apply_rules(_annotation_rejected(annotation, image["name"], "class", "YOLO labels need class "
                               "names: put data.yaml (names), obj.names or classes.txt in this folder or one above"),
                               rules)
    objects, warnings = [], []
    for (name, *box, difficult, truncated), where in zip(outcome["objects"], fields, strict=True):
        if names is not None:
            if int(name) not in names[1]:
                reason = (f"class {name} is not in {names[0]} ({len(names[1])} classes, ids "
                          f"{min(names[1])} to {max(names[1])})")
                return apply_rules(_annotation_rejected(annotation, image["name"], where, reason), rules)
            name = names[1][int(name)]
        if rules.class_source == "filename":
            name = class_from_filename(relative)
        if rules.allowed is not None and name not in rules.allowed:
            spelled = [a for a in rules.allowed if a.casefold() == name.casefold()]
            if len(spelled) != 1:
                reason = f"class {name!r} is not in the label map ({', '.join(rules.allowed)})"
                return apply_rules(_annotation_rejected(annotation, image["name"], where, reason), rules)
            warnings.append((*place(annotation, where), f"class {name!r} read as {spelled[0]!r}, the label "
                                                        "map's spelling"))
            name = spelled[0]
        objects.append({"name": name, "bbox": box, "difficult": difficult, "truncated": truncated})
    entry = {"image": image, "annotation": annotation, "width": outcome["width"], "height": outcome["height"],
             "split": rules.split_for(relative, outcome.get("split")), "objects": objects}
    notes = [(*place(annotation, f), m) for f, m in outcome["notes"]] if annotation else []
    return Verdict(entry=entry, warnings=[Problem(f, fld, m, "warning") for f, fld, m in notes + warnings])
