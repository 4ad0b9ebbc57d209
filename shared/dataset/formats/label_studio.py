"""Label Studio's JSON export: a list of tasks, each with its image in `data` and its annotations' results.

Choices, stated once (docs/datasets.md):
- Several annotations on one task: the latest one not cancelled wins (by `updated_at`, then `created_at`, then id);
  a task with none (nobody submitted yet, or every one cancelled) is not labelled: its image is not used, rather
  than trained as background. A submitted annotation with no boxes is background.
- `rectanglelabels` values are percent of `original_width`/`original_height`; a rotated rectangle (rotated about its
  top-left corner, as Label Studio draws it) becomes the axis-aligned box around it, with a warning.
- Results that are not boxes (polygons, keypoints, brushes, choices…) are counted in a warning and not used.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from shared.dataset.formats import CollectionRead, Item, number
from shared.dataset.problems import Rejected
from shared.dataset.voc import Box

_IMAGE_HINTS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff")


def is_label_studio(doc: Any) -> bool:
    tasks = doc if isinstance(doc, list) else [doc]
    return bool(tasks) and all(isinstance(t, dict) and isinstance(t.get("data"), dict) for t in tasks)


def read_label_studio(doc: Any) -> CollectionRead:
    read = CollectionRead("label-studio")
    for index, task in enumerate(doc if isinstance(doc, list) else [doc]):
        where = f"task {task.get('id', f'[{index}]')}"
        ref = _image_of(task["data"])
        if ref is None:
            read.warnings.append((f"{where}/data", "no image reference: task not used"))
            continue
        read.items.append(_item(task, ref, where))
    return read


def _image_of(data: dict[str, Any]) -> str | None:
    """`data.image`, else the first value that looks like an image path or URL."""
    if isinstance(data.get("image"), str) and data["image"].strip():
        return data["image"].strip()
    for value in data.values():
        if isinstance(value, str) and value.split("?")[0].lower().endswith(_IMAGE_HINTS):
            return value.strip()
    return None


def _chosen(task: dict[str, Any]) -> dict[str, Any] | None:
    annotations = task.get("annotations") or []
    if not isinstance(annotations, list):
        raise Rejected("annotations", "must be a list")
    kept = [a for a in annotations if isinstance(a, dict) and not a.get("was_cancelled")]
    if not kept:
        return None
    return max(kept, key=lambda a: (str(a.get("updated_at") or ""), str(a.get("created_at") or ""),
                                    a.get("id") if isinstance(a.get("id"), int) else 0))


def _item(task: dict[str, Any], ref: str, where: str) -> Item:
    try:
        annotation = _chosen(task)
    except Rejected as exc:
        return Item(ref, where, rejected=(exc.field, exc.reason))
    if annotation is None:
        return Item(ref, where, unlabelled="not labelled yet in Label Studio (no submitted annotation)")
    where = f"{where}/annotation {annotation.get('id', '?')}"
    results = annotation.get("result") or []
    boxes, fields, notes, size, others = [], [], [], None, Counter()
    try:
        if not isinstance(results, list):
            raise Rejected("result", "must be a list")
        for index, result in enumerate(results):
            place = f"result[{index}]"
            kind = result.get("type") if isinstance(result, dict) else None
            if kind != "rectanglelabels":
                others[str(kind)] += 1
                continue
            size = _original_size(result, place, size)
            box = _box(result, place, size, notes)
            boxes.append(box)
            fields.append(place)
    except Rejected as exc:
        return Item(ref, where, size, rejected=(exc.field, exc.reason))
    if others:
        listed = ", ".join(f"{n} {k}" for k, n in sorted(others.items()))
        notes.append(("result", f"not boxes, not used: {listed}"))
    return Item(ref, where, size, tuple(boxes), tuple(fields), tuple(notes))


def _original_size(result: dict[str, Any], place: str, seen: tuple[int, int] | None) -> tuple[int, int]:
    width, height = result.get("original_width"), result.get("original_height")
    if not isinstance(width, int) or not isinstance(height, int) or width <= 0 or height <= 0:
        raise Rejected(f"{place}/original_width", "missing: percent boxes need the image's size")
    if seen and seen != (width, height):
        raise Rejected(f"{place}/original_width", f"{width}x{height} differs from an earlier result's "
                                                  f"{seen[0]}x{seen[1]}")
    return width, height


def _box(result: dict[str, Any], place: str, size: tuple[int, int], notes: list[tuple[str, str]]) -> Box:
    value = result.get("value")
    if not isinstance(value, dict):
        raise Rejected(f"{place}/value", "missing")
    labels = value.get("rectanglelabels")
    if not isinstance(labels, list) or not labels or not all(isinstance(n, str) and n.strip() for n in labels):
        raise Rejected(f"{place}/value/rectanglelabels", "missing class name")
    if len(labels) > 1:
        notes.append((f"{place}/value/rectanglelabels", f"{len(labels)} labels on one box: the first, "
                                                        f"{labels[0]!r}, is used"))
    x, y, w, h = (number(value.get(k), f"{place}/value/{k}") for k in ("x", "y", "width", "height"))
    width, height = size
    corners = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
    rotation = number(value.get("rotation", 0), f"{place}/value/rotation")
    if rotation % 360:
        notes.append((f"{place}/value/rotation", f"rotated {rotation:g}°: the axis-aligned box around it is used"))
        corners = _rotated(corners, x, y, rotation, width, height)
    xs = [cx * width / 100 for cx, _ in corners]
    ys = [cy * height / 100 for _, cy in corners]
    return Box(labels[0].strip(), min(xs), min(ys), max(xs), max(ys))


def _rotated(corners: list[tuple[float, float]], x: float, y: float, degrees: float, width: int,
             height: int) -> list[tuple[float, float]]:
    """Corners (percent) turned about (x, y) in pixel space, where the angle is true, and back to percent."""
    cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    px, py = x * width / 100, y * height / 100
    turned = []
    for cx, cy in corners:
        dx, dy = cx * width / 100 - px, cy * height / 100 - py
        turned.append(((px + dx * cos - dy * sin) * 100 / width, (py + dx * sin + dy * cos) * 100 / height))
    return turned
