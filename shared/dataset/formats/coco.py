"""COCO detection JSON: instances files, Roboflow's per-split `_annotations.coco.json`, CVAT's and Label Studio's
COCO exports.

Choices, stated once (docs/datasets.md):
- `iscrowd: 1` marks a crowd region, not one object: skipped with a warning on its image (the OD API's COCO
  evaluation ignores crowd boxes; training on one box for many objects teaches the wrong thing).
- An annotation without a usable `bbox` but with a polygon `segmentation` gets the polygon's bounding box, with a
  warning; one with only an RLE mask and no `bbox` refuses its image.
- Category ids may start anywhere and skip numbers: names come from `categories`. Images without annotations are
  background. Captions, keypoints, panoptic, stuff and image-info files are not detection files: ignored, with why.
"""

from __future__ import annotations

from typing import Any

from shared.dataset.formats import CollectionRead, Item, number, split_in_name
from shared.dataset.problems import Rejected
from shared.dataset.voc import Box


def is_coco(doc: Any) -> bool:
    return isinstance(doc, dict) and "images" in doc and ("annotations" in doc or "categories" in doc)


def read_coco(doc: dict[str, Any], stem: str) -> CollectionRead:
    """Every image of one COCO file as an item; Rejected when the file as a whole is unusable."""
    ignored = _not_detection(doc, stem)
    if ignored:
        return CollectionRead("coco", ignored=ignored)
    images, annotations = _list(doc, "images"), _list(doc, "annotations")
    categories = _categories(_list(doc, "categories"))
    read = CollectionRead("coco")
    ids = {}
    for index, image in enumerate(images):
        if not isinstance(image, dict) or "id" not in image:
            raise Rejected(f"images[{index}]", "must be an object with an id")
        ids[_key(image["id"])] = image
    grouped: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for index, annotation in enumerate(annotations):
        if not isinstance(annotation, dict):
            raise Rejected(f"annotations[{index}]", "must be an object")
        where = f"annotations[id={annotation.get('id', index)}]"
        image_id = _key(annotation.get("image_id"))
        if image_id not in ids:
            read.warnings.append((f"{where}/image_id", f"{annotation.get('image_id')!r} is not an image of this "
                                                      "file: annotation not used"))
            continue
        grouped.setdefault(image_id, []).append((where, annotation))
    split = split_in_name(stem)  # instances_train2017 → train; _annotations.coco: its folder says
    for index, (image_id, image) in enumerate(ids.items()):
        name = image.get("file_name")
        if not isinstance(name, str) or not name.strip():
            read.warnings.append((f"images[{index}]/file_name", "missing: this image's annotations are not used"))
            continue
        read.items.append(_item(image, name.strip(), grouped.get(image_id, []), categories, split))
    return read


def _not_detection(doc: dict[str, Any], stem: str) -> str | None:
    annotations = doc.get("annotations")
    first = annotations[0] if isinstance(annotations, list) and annotations else {}
    categories = doc.get("categories") if isinstance(doc.get("categories"), list) else []
    if stem.lower().startswith("stuff_"):
        return "COCO stuff annotations (background regions, not objects): not a detection file"
    if "annotations" not in doc:
        return "COCO image-info file (images without an annotations list): nothing to train on"
    if isinstance(first, dict) and "caption" in first:
        return "COCO captions file: no boxes"
    if isinstance(first, dict) and "segments_info" in first:
        return "COCO panoptic file: its segments are read from PNG masks, not boxes"
    if any(isinstance(c, dict) and "keypoints" in c for c in categories):
        return "COCO keypoints file: its boxes are the instances file's people only; put the instances file here"
    return None


def _list(doc: dict[str, Any], key: str) -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise Rejected(key, "must be a list")
    return value


def _key(value: Any) -> str:
    """Ids compared as text (some tools write image ids as strings)."""
    return str(value)


def _categories(categories: list[Any]) -> dict[str, str]:
    names = {}
    for index, category in enumerate(categories):
        if not isinstance(category, dict) or "id" not in category:
            raise Rejected(f"categories[{index}]", "must be an object with an id and a name")
        name = str(category.get("name") or "").strip()
        if not name:
            raise Rejected(f"categories[{index}]/name", "missing class name")
        names[_key(category["id"])] = name
    return names


def _size(image: dict[str, Any]) -> tuple[int, int] | None:
    width, height = image.get("width"), image.get("height")
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        return width, height
    return None  # read from the image (the check says so)


def _item(image: dict[str, Any], name: str, annotations: list[tuple[str, dict[str, Any]]],
          categories: dict[str, str], split: str | None) -> Item:
    where = f"images[id={image['id']}] ({name})"
    boxes, fields, notes = [], [], []
    for place, annotation in annotations:
        try:
            category = _key(annotation.get("category_id"))
            if category not in categories:
                known = ", ".join(sorted(categories)) or "none"
                raise Rejected(f"{place}/category_id", f"{annotation.get('category_id')!r} is not one of this "
                                                       f"file's categories (ids {known})")
            if annotation.get("iscrowd"):
                notes.append((f"{place}/iscrowd", "a crowd region, not one object: not trained on"))
                continue
            box = _box(annotation, place, notes)
        except Rejected as exc:
            return Item(name, where, _size(image), split=split, rejected=(exc.field, exc.reason))
        boxes.append(Box(categories[category], *box))
        fields.append(f"{place}/bbox")
    return Item(name, where, _size(image), tuple(boxes), tuple(fields), tuple(notes), split)


def _box(annotation: dict[str, Any], place: str, notes: list[tuple[str, str]]) -> tuple[float, ...]:
    """xmin, ymin, xmax, ymax in pixels from `bbox` [x, y, width, height], or from a polygon segmentation."""
    bbox = annotation.get("bbox")
    if isinstance(bbox, list) and len(bbox) == 4:
        x, y, w, h = (number(v, f"{place}/bbox[{i}]") for i, v in enumerate(bbox))
        return x, y, x + w, y + h
    if bbox not in (None, []):
        raise Rejected(f"{place}/bbox", f"{bbox!r} is not [x, y, width, height]")
    polygons = annotation.get("segmentation")
    if isinstance(polygons, list) and polygons and all(isinstance(p, list) for p in polygons):
        points = [number(v, f"{place}/segmentation") for p in polygons for v in p]
        if len(points) >= 6 and len(points) % 2 == 0:
            xs, ys = points[0::2], points[1::2]
            notes.append((f"{place}/bbox", "missing: the box around its polygon segmentation is used"))
            return min(xs), min(ys), max(xs), max(ys)
    raise Rejected(f"{place}/bbox", "missing, and no polygon segmentation to take a box from")
