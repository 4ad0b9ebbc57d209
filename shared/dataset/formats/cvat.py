"""CVAT for images 1.1 XML (`annotations.xml` of a task or project export).

Choices, stated once (docs/datasets.md): `<box>` elements are the objects (a `rotation` gives the
axis-aligned box around it, with a warning). Polygons, polylines, points, masks, ellipses, cuboids, skeletons and
tags are not boxes: counted in a warning on their image and not used. A box with an empty label refuses its image.
A project export's images keep their subset (Train, Validation, Test…): the image is looked for under
`images/<subset>/` as CVAT writes it, and the subset is the user's split. CVAT for video (`<track>`) is refused
with the format to choose instead.
"""

from __future__ import annotations

import math
from collections import Counter

from lxml import etree

from shared.dataset.formats import CollectionRead, Item, split_word
from shared.dataset.problems import Rejected
from shared.dataset.voc import Box, safe_root

_NOT_BOXES = ("polygon", "polyline", "points", "mask", "ellipse", "cuboid", "skeleton", "tag")


def read_cvat(data: bytes, max_bytes: int) -> CollectionRead:
    root = safe_root(data, max_bytes=max_bytes, setting="MAX_COLLECTION_BYTES")
    if root.tag != "annotations":
        raise Rejected(str(root.tag), "root element must be <annotations> (CVAT for images 1.1)")
    if root.find("track") is not None:
        raise Rejected("track", "a CVAT for video export (tracks): export the task as 'CVAT for images 1.1'")
    read = CollectionRead("cvat")
    for index, image in enumerate(root.iter("image")):
        name = (image.get("name") or "").strip()
        if not name:
            read.warnings.append((f"image[{index}]/name", "missing: this image's boxes are not used"))
            continue
        read.items.append(_item(image, name))
    return read


def _int(image: etree._Element, attribute: str) -> int | None:
    try:
        value = int(image.get(attribute) or "")
    except ValueError:
        return None
    return value if value > 0 else None


def _item(image: etree._Element, name: str) -> Item:
    subset = (image.get("subset") or "").strip() or None
    where = f"image id={image.get('id', '?')} ({name}{', ' + subset if subset else ''})"
    width, height = _int(image, "width"), _int(image, "height")
    size = (width, height) if width and height else None
    boxes, fields, notes, others = [], [], [], Counter()
    for index, child in enumerate(image):
        if child.tag in _NOT_BOXES:
            others[child.tag] += 1
        if child.tag != "box":
            continue
        place = f"box[{index}]"
        label = (child.get("label") or "").strip()
        if not label:
            return Item(name, where, size, split=_split(subset), subset=subset,
                        rejected=(f"{place}/label", "empty label: every box needs a class"))
        try:
            xtl, ytl, xbr, ybr = (_coordinate(child, a, place) for a in ("xtl", "ytl", "xbr", "ybr"))
            rotation = float(child.get("rotation") or 0)
        except (Rejected, ValueError) as exc:
            field, reason = (exc.field, exc.reason) if isinstance(exc, Rejected) else (f"{place}/rotation",
                                                                                       str(exc))
            return Item(name, where, size, split=_split(subset), subset=subset, rejected=(field, reason))
        if rotation % 360:
            notes.append((f"{place}/rotation", f"rotated {rotation:g}°: the axis-aligned box around it is used"))
            xtl, ytl, xbr, ybr = _around(xtl, ytl, xbr, ybr, rotation)
        boxes.append(Box(label, xtl, ytl, xbr, ybr))
        fields.append(place)
    if others:
        notes.append(("shapes", "not boxes, not used: " + ", ".join(f"{n} {k}" for k, n in sorted(others.items()))))
    return Item(name, where, size, tuple(boxes), tuple(fields), tuple(notes), _split(subset), subset)


def _split(subset: str | None) -> str | None:
    return split_word(subset) if subset else None


def _coordinate(box: etree._Element, attribute: str, place: str) -> float:
    text = (box.get(attribute) or "").strip()
    try:
        value = float(text)
    except ValueError:
        raise Rejected(f"{place}/{attribute}", f"{text!r} is not a number" if text else "missing") from None
    if not math.isfinite(value):
        raise Rejected(f"{place}/{attribute}", f"{text!r} is not a finite number")
    return value


def _around(xtl: float, ytl: float, xbr: float, ybr: float, degrees: float) -> tuple[float, float, float, float]:
    """CVAT turns a box about its centre: the axis-aligned box around the turned one."""
    cx, cy, half_w, half_h = (xtl + xbr) / 2, (ytl + ybr) / 2, (xbr - xtl) / 2, (ybr - ytl) / 2
    cos, sin = abs(math.cos(math.radians(degrees))), abs(math.sin(math.radians(degrees)))
    dx, dy = half_w * cos + half_h * sin, half_w * sin + half_h * cos
    return cx - dx, cy - dy, cx + dx, cy + dy
