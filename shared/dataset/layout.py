"""Which blobs in a project folder are images, annotations and label maps, and which belong together.

Layouts understood: VoTT's Pascal VOC export (`Annotations/`, `JPEGImages/`, `ImageSets/`, `pascal_label_map.pbtxt`),
a flat folder of image + same-stem XML or YOLO `.txt`, Oxford-IIIT Pets (`images/`, `annotations/xmls/`, where the
class is in the file name), Ultralytics YOLO (`images/<split>/`, `labels/<split>/`, `data.yaml`), darknet YOLO
(`obj.names`, labels beside images), and collection files that annotate many images at once (COCO JSON, Label
Studio JSON, CVAT's `annotations.xml`: `formats/collections.py` pairs their items with images).
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from collections.abc import Iterable
from typing import Literal

from shared.dataset.formats.collections import VIRTUAL, is_collection_name, split_virtual
from shared.dataset.formats.yolo import is_class_list

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
# Picture files we cannot train on: they are checked (and quarantined with the reason) rather than ignored.
OTHER_PICTURE_SUFFIXES = (".gif", ".bmp", ".webp", ".tif", ".tiff", ".heic", ".jfif")
ANNOTATION_SUFFIXES = (".xml", ".txt")
"""Per-image annotation files: Pascal VOC XML, YOLO labels."""
LABEL_MAP_SUFFIXES = (".pbtxt",)
TOOL_FILE_SUFFIXES = (".json", ".yaml", ".yml", ".names", ".data")
"""Collection files (COCO, Label Studio), YOLO class lists and darknet's obj.data."""
DATASET_CONFIG_NAME = "dataset.json"
DATASET_SUFFIXES = (IMAGE_SUFFIXES + OTHER_PICTURE_SUFFIXES + ANNOTATION_SUFFIXES + LABEL_MAP_SUFFIXES
                    + TOOL_FILE_SUFFIXES)
UNREAD_ANNOTATION_SUFFIXES = (".csv", ".tsv")
"""Annotation formats no reader takes (Roboflow's TensorFlow CSV…): listed loudly, never trained as background."""
_SPLIT_LISTS = {"train.txt", "val.txt", "valid.txt", "validation.txt", "test.txt", "trainval.txt"}

_IMAGE_DIRS = ("jpegimages", "images")
_ANNOTATION_DIRS = ("annotations/xmls", "annotations", "labels")
_IGNORED_WITH_REASON = {
    "imagesets": "VoTT split lists are not used: the split is a stable hash of each image name",
    "annotations/trimaps": "Oxford-IIIT Pets segmentation trimaps are not used for boxes",
    "segmentationclass": "Pascal VOC segmentation masks (class colours) are not training images",
    "segmentationobject": "Pascal VOC segmentation masks (object instances) are not training images",
}
STRAY_REASON = "in a Pascal VOC tree only JPEGImages/ holds training images"

ClassSource = Literal["annotation", "filename"]
Role = Literal["config", "label_map", "class_list", "collection", "pair", "other"]
SPECIAL_ROLES = ("config", "label_map", "class_list", "collection")
"""Project-wide files the catalog lists by name and a snapshot reads (when they changed)."""


def default_class_source(kind: str) -> ClassSource:
    return "filename" if kind == "oxford-pets" else "annotation"


def kind_of(name: str) -> str | None:
    """'image', 'annotation' or 'label_map' by suffix (routing only: contents are checked later). A collection
    item's catalog name (`coco.json::images/x.jpg`) is an annotation."""
    if VIRTUAL in name:
        return "annotation"
    lower = name.lower()
    if lower.endswith(IMAGE_SUFFIXES + OTHER_PICTURE_SUFFIXES):
        return "image"
    if lower.endswith(ANNOTATION_SUFFIXES):
        return "annotation"
    if lower.endswith(LABEL_MAP_SUFFIXES):
        return "label_map"
    return None


def _group_dir(directory: str) -> str:
    lower = directory.lower()
    for suffix in _ANNOTATION_DIRS + _IMAGE_DIRS:
        if lower == suffix or lower.endswith("/" + suffix):
            return directory[: len(directory) - len(suffix)].rstrip("/")
    return directory


def _yolo_group(directory: str) -> str | None:
    """Ultralytics' rule: `images/<split>/x.jpg` ~ `labels/<split>/x.txt` (the last images/labels folder)."""
    parts = directory.split("/")
    for index in range(len(parts) - 1, -1, -1):
        if parts[index].lower() in ("images", "labels") and index < len(parts) - 1:
            return "/".join([*parts[:index], "*", *parts[index + 1:]])
    return None


def pairing_key(relative_name: str) -> str:
    """Images and annotations with the same key belong together (`a/JPEGImages/x.jpg` ~ `a/Annotations/x.xml`,
    `images/train/x.jpg` ~ `labels/train/x.txt`); a collection item sits with the image it names."""
    if VIRTUAL in relative_name:
        return pairing_key(split_virtual(relative_name)[1])
    directory, base = posixpath.split(relative_name)
    group = _yolo_group(directory)
    return posixpath.join(group if group is not None else _group_dir(directory), posixpath.splitext(base)[0])


def ignored_reason(relative_name: str) -> str | None:
    """Why a file of a known side folder (split lists, masks, trimaps) is not part of the training data."""
    lower = relative_name.lower()
    for marker, reason in _IGNORED_WITH_REASON.items():
        if lower.startswith(marker + "/") or f"/{marker}/" in lower:
            return reason
    return None


def role_of(relative_name: str) -> Role:
    """What a file is by its name alone: the dataset config, a label map, a YOLO class list, a collection file, one
    side of an image/annotation pair, or something else (listed as ignored with `other_reason`)."""
    if relative_name == DATASET_CONFIG_NAME:
        return "config"
    if VIRTUAL in relative_name:
        return "pair"
    if ignored_reason(relative_name) or _named_reason(relative_name):
        return "other"
    if is_collection_name(relative_name):
        return "collection"
    if is_class_list(relative_name):
        return "class_list"
    kind = kind_of(relative_name)
    if kind == "label_map":
        return "label_map"
    return "pair" if kind in ("image", "annotation") else "other"


def _named_reason(relative_name: str) -> str | None:
    base = posixpath.basename(relative_name).lower()
    if base in _SPLIT_LISTS:
        return "a split list: images are split by their folders (dataset.json \"split\": \"export\") or by hash"
    if base == "config.xml":
        return "a Label Studio labelling config (the labelling export's): classes come from the annotations"
    if base == "labelmap.txt":
        return "CVAT's Pascal VOC label map: classes come from the annotations"
    if base.startswith("readme") and base.endswith(".txt"):
        return "a README"
    if base == DATASET_CONFIG_NAME:
        return "only the project folder's dataset.json is read"
    if base.endswith(".data"):
        return "darknet's obj.data: the class names are read from the .names file itself"
    return None


def other_reason(relative_name: str) -> str:
    if is_unread_annotation(relative_name):
        return ("an annotation format no reader takes (CSV): export COCO JSON, YOLO, CVAT XML, Label Studio JSON "
                "or Pascal VOC instead; its boxes are not used")
    return ignored_reason(relative_name) or _named_reason(relative_name) or (
        "not an image (.jpg/.jpeg/.png), annotation (.xml, .txt, .json) or label map (.pbtxt)")


def is_unread_annotation(relative_name: str) -> bool:
    """A file that looks like annotations but no reader takes: the report says so loudly."""
    return relative_name.lower().endswith(UNREAD_ANNOTATION_SUFFIXES)


def folder_of(relative_name: str) -> str:
    """The lower-case folder of a file: what the layout is recognised by."""
    return posixpath.dirname(relative_name).lower()


def voc_roots(folders: Iterable[str]) -> set[str]:
    """Folders (lower case) holding both `Annotations/` and `JPEGImages/`: a VOC or VoTT tree ("" for the root)."""
    seen: defaultdict[str, set[str]] = defaultdict(set)
    for folder in folders:
        parent, leaf = posixpath.split(folder.lower())
        if leaf in ("annotations", "jpegimages"):
            seen[parent].add(leaf)
    return {root for root, leaves in seen.items() if leaves == {"annotations", "jpegimages"}}


def is_stray(relative_name: str, roots: set[str]) -> bool:
    """An image in a folder beside a VOC tree's JPEGImages/ (masks, visualisations, thumbnails…)."""
    parent, leaf = posixpath.split(folder_of(relative_name))
    return kind_of(relative_name) == "image" and bool(leaf) and parent in roots and leaf != "jpegimages"



def layout_kind(folders: Iterable[str]) -> str:
    """oxford-pets, vott-pascal-voc or flat, from the folders that hold images and annotations."""
    names = set(folders)
    if any(d == "annotations/xmls" or d.endswith("/annotations/xmls") for d in names):
        return "oxford-pets"
    if any(d.split("/")[-1] in ("annotations", "jpegimages") for d in names):
        return "vott-pascal-voc"
    return "flat"


def class_from_filename(relative_name: str) -> str:
    """Oxford-IIIT Pets naming: `great_pyrenees_3.jpg` → `great_pyrenees` (everything before the last `_`)."""
    stem = posixpath.splitext(posixpath.basename(relative_name))[0]
    head, sep, _tail = stem.rpartition("_")
    return head if sep and head else stem
