"""YOLO: one `.txt` per image (`class x_center y_center width height`, normalised to the image), and the class
names in Ultralytics' `data.yaml` (`names` as a list or a mapping), darknet's `obj.names` or `classes.txt`.

A label file's classes are ids: they are named with the class list nearest above it (its folder, then each parent;
`data.yaml` before `*.names` before `classes.txt` in one folder), when the project's rules are applied, so a changed
class list needs no image downloaded again. Segmentation lines (a class and a polygon) give the box around the
polygon, with a warning. A line that is neither, or a class id the list does not name, refuses the file with its
line number.
"""

from __future__ import annotations

import math
import posixpath
from dataclasses import dataclass

import yaml

from shared.dataset.problems import Rejected

CLASS_LIST_ORDER = ("yaml", "names", "classes.txt")


@dataclass(frozen=True)
class Label:
    line: int
    class_id: int
    box: tuple[float, float, float, float]
    """xmin, ymin, xmax, ymax as fractions of the image's width and height."""
    note: str | None = None


def parse_labels(data: bytes, *, max_bytes: int) -> list[Label]:
    """Every line of one YOLO label file; Rejected names the line at fault. Empty file: a background image."""
    if len(data) > max_bytes:
        raise Rejected("file", f"label file is {len(data)} bytes, above MAX_ANNOTATION_BYTES={max_bytes}")
    text = _text(data)
    labels = []
    for number, line in enumerate(text.splitlines(), start=1):
        values = line.split()
        if values:
            labels.append(_label(number, values))
    return labels


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Rejected("encoding", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _label(number: int, values: list[str]) -> Label:
    where = f"line {number}"
    if len(values) != 5 and (len(values) < 7 or len(values) % 2 == 0):
        raise Rejected(where, f"expected 5 numbers (class x_center y_center width height) or a class and a polygon, "
                              f"found {len(values)} values")
    try:
        class_id = int(values[0])
    except ValueError:
        raise Rejected(where, f"class {values[0]!r} is not a whole number") from None
    if class_id < 0:
        raise Rejected(where, f"class {class_id} is negative")
    coords = []
    for value in values[1:]:
        try:
            coords.append(float(value))
        except ValueError:
            raise Rejected(where, f"{value!r} is not a number") from None
        if not math.isfinite(coords[-1]):
            raise Rejected(where, f"{value!r} is not a finite number")
    if len(values) == 5:
        cx, cy, w, h = coords
        return Label(number, class_id, (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
    xs, ys = coords[0::2], coords[1::2]
    return Label(number, class_id, (min(xs), min(ys), max(xs), max(ys)),
                 "segmentation polygon: the box around it is used")


def is_class_list(relative_name: str) -> bool:
    lower = posixpath.basename(relative_name).lower()
    return lower.endswith((".yaml", ".yml", ".names")) or lower == "classes.txt"


def precedence(relative_name: str) -> int:
    lower = posixpath.basename(relative_name).lower()
    return 0 if lower.endswith((".yaml", ".yml")) else 1 if lower.endswith(".names") else 2


def parse_class_list(relative_name: str, data: bytes, *, max_bytes: int) -> dict[int, str]:
    """Class id → name from data.yaml (`names` list or mapping), a darknet `.names` or `classes.txt` file."""
    if len(data) > max_bytes:
        raise Rejected("file", f"class list is {len(data)} bytes, above MAX_ANNOTATION_BYTES={max_bytes}")
    text = _text(data)
    if relative_name.lower().endswith((".yaml", ".yml")):
        return _yaml_names(text)
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    names = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise Rejected(f"line {number}", "empty: the ids of the classes after it would shift")
        names[number - 1] = line.strip()
    if not names:
        raise Rejected("file", "no class names")
    return names


def _yaml_names(text: str) -> dict[int, str]:
    try:
        if any(isinstance(e, yaml.AliasEvent) for e in yaml.parse(text, Loader=yaml.SafeLoader)):
            raise Rejected("yaml", "uses aliases (*name): refused, a data.yaml never needs them")
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise Rejected("yaml", f"not valid YAML: {str(exc)[:200]}") from None
    names = doc.get("names") if isinstance(doc, dict) else None
    if isinstance(names, list):
        names = dict(enumerate(names))
    if not isinstance(names, dict) or not names:
        raise Rejected("names", "missing: a list of class names, or a mapping of class id to name")
    checked = {}
    for key, name in names.items():
        if isinstance(key, bool) or not isinstance(key, int) or key < 0:
            raise Rejected(f"names/{key}", "class ids must be whole numbers from 0")
        if not isinstance(name, str | int) or not str(name).strip():
            raise Rejected(f"names/{key}", "missing class name")
        checked[key] = str(name).strip()
    return checked
