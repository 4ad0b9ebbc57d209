"""One image and its annotation, checked in two parts: what their bytes say (kept while their ETags hold) and what
the project's class rules make of that (applied at every snapshot, so a new label map needs no download).

An outcome is plain JSON, stored in the project's catalog: either `{"rejected": [[file, field, reason], …]}` or the
facts of an accepted image — its blob references, decoded size and EXIF orientation, the boxes in the displayed
frame with the class names as written, and the warnings (clipped boxes, size read from the image, …).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from shared.dataset.images import inspect_image
from shared.dataset.layout import class_from_filename
from shared.dataset.manifest import split_of
from shared.dataset.problems import Problem, Rejected
from shared.dataset.records import build_record
from shared.dataset.voc import parse_voc
from shared.ports import Blob

Outcome = dict[str, Any]


@dataclass(frozen=True)
class Limits:
    """What a check refuses before decoding; part of the catalog's fingerprint (a change re-checks everything)."""

    max_image_pixels: int
    max_image_bytes: int
    max_annotation_bytes: int


@dataclass(frozen=True)
class Rules:
    """How checked files become training examples in this project: where classes come from, which classes are
    allowed, and the validation share."""

    class_source: str
    allowed: tuple[str, ...] | None
    validation_fraction: float
    prefix: str


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


def orphan_annotation(name: str) -> Outcome:
    return rejected((name, "filename", "no image found for this annotation (looked for the same name with .jpg, "
                                       ".jpeg or .png)"))


def _ref(blob: Blob) -> dict[str, Any]:
    return {"name": blob.name, "etag": blob.etag, "md5": hashlib.md5(blob.data).hexdigest(), "size": len(blob.data)}


def check_files(image: Blob, annotation: Blob | None, limits: Limits) -> Outcome:
    """Decode the image and parse its annotation; boxes keep the class names as written."""
    try:
        facts = inspect_image(image.data, max_pixels=limits.max_image_pixels, max_bytes=limits.max_image_bytes)
    except Rejected as exc:
        problems = [(image.name, exc.field, exc.reason)]
        if annotation:
            problems.append((annotation.name, "filename", f"its image {image.name} was rejected: {exc.reason}"))
        return rejected(*problems)
    objects: list[list[Any]] = []
    notes: list[list[str]] = []
    if annotation is not None:
        try:
            record = build_record(parse_voc(annotation.data, max_bytes=limits.max_annotation_bytes), facts,
                                  lambda name: name)
        except Rejected as exc:
            return _annotation_rejected(annotation.name, image.name, exc.field, exc.reason)
        objects = [[b.name, b.xmin, b.ymin, b.xmax, b.ymax, b.difficult, b.truncated] for b in record.boxes]
        notes = [[f, m] for f, m in record.notes]
    return {"image": _ref(image) | {"format": facts.format, "orientation": facts.orientation},
            "annotation": _ref(annotation) if annotation else None, "width": facts.width, "height": facts.height,
            "objects": objects, "notes": notes}


def _annotation_rejected(annotation: str, image: str, field_: str, reason: str) -> Outcome:
    return rejected((annotation, field_, reason),
                    (image, "annotation", f"its annotation {annotation} was rejected: [{field_}] {reason}"))


def apply_rules(outcome: Outcome, rules: Rules) -> Verdict:
    """The pair as this project sees it now: classes mapped (file-name classes) and checked (label map)."""
    if "rejected" in outcome:
        return Verdict(rejected=[Problem(f, fld, reason) for f, fld, reason in outcome["rejected"]])
    image, annotation = outcome["image"], outcome["annotation"]
    relative = image["name"][len(rules.prefix):]
    objects = []
    for index, (name, *box, difficult, truncated) in enumerate(outcome["objects"], start=1):
        if rules.class_source == "filename":
            name = class_from_filename(relative)
        if rules.allowed is not None and name not in rules.allowed:
            reason = f"class {name!r} is not in the label map ({', '.join(rules.allowed)})"
            return apply_rules(_annotation_rejected(annotation["name"], image["name"], f"object[{index}]/name",
                                                    reason), rules)
        objects.append({"name": name, "bbox": box, "difficult": difficult, "truncated": truncated})
    entry = {"image": image, "annotation": annotation, "width": outcome["width"], "height": outcome["height"],
             "split": split_of(relative, rules.validation_fraction), "objects": objects}
    warnings = [Problem(annotation["name"], f, m, "warning") for f, m in outcome["notes"]] if annotation else []
    return Verdict(entry=entry, warnings=warnings)
