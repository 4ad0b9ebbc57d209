"""Which blobs in a project folder are images, annotations and label maps, and which belong together.

Three layouts are understood: VoTT's Pascal VOC export (`Annotations/`, `JPEGImages/`, `ImageSets/`,
`pascal_label_map.pbtxt`), a flat folder of image + same-stem XML, and Oxford-IIIT Pets (`images/`,
`annotations/xmls/`), where the class is in the file name.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from collections.abc import Iterable
from typing import Literal

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
# Picture files we cannot train on: they are checked (and quarantined with the reason) rather than ignored.
OTHER_PICTURE_SUFFIXES = (".gif", ".bmp", ".webp", ".tif", ".tiff", ".heic", ".jfif")
ANNOTATION_SUFFIXES = (".xml",)
LABEL_MAP_SUFFIXES = (".pbtxt",)
DATASET_CONFIG_NAME = "dataset.json"
DATASET_SUFFIXES = IMAGE_SUFFIXES + OTHER_PICTURE_SUFFIXES + ANNOTATION_SUFFIXES + LABEL_MAP_SUFFIXES

_IMAGE_DIRS = ("jpegimages", "images")
_ANNOTATION_DIRS = ("annotations/xmls", "annotations")
_IGNORED_WITH_REASON = {
    "imagesets": "VoTT split lists are not used: the split is a stable hash of each image name",
    "annotations/trimaps": "Oxford-IIIT Pets segmentation trimaps are not used for boxes",
    "segmentationclass": "Pascal VOC segmentation masks (class colours) are not training images",
    "segmentationobject": "Pascal VOC segmentation masks (object instances) are not training images",
}
STRAY_REASON = "in a Pascal VOC tree only JPEGImages/ holds training images"

ClassSource = Literal["annotation", "filename"]
Role = Literal["config", "label_map", "pair", "other"]


def default_class_source(kind: str) -> ClassSource:
    return "filename" if kind == "oxford-pets" else "annotation"


def kind_of(name: str) -> str | None:
    """'image', 'annotation' or 'label_map' by suffix (routing only: contents are checked later)."""
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


def pairing_key(relative_name: str) -> str:
    """Images and annotations with the same key belong together (`a/JPEGImages/x.jpg` ~ `a/Annotations/x.xml`)."""
    directory, base = posixpath.split(relative_name)
    return posixpath.join(_group_dir(directory), posixpath.splitext(base)[0])


def ignored_reason(relative_name: str) -> str | None:
    """Why a file of a known side folder (split lists, masks, trimaps) is not part of the training data."""
    lower = relative_name.lower()
    for marker, reason in _IGNORED_WITH_REASON.items():
        if lower.startswith(marker + "/") or f"/{marker}/" in lower:
            return reason
    return None


def role_of(relative_name: str) -> Role:
    """What a file is by its name alone: the dataset config, a label map, one side of an image/annotation pair,
    or something else (listed as ignored with `other_reason`)."""
    if relative_name == DATASET_CONFIG_NAME:
        return "config"
    if ignored_reason(relative_name):
        return "other"
    kind = kind_of(relative_name)
    if kind == "label_map":
        return "label_map"
    return "pair" if kind in ("image", "annotation") else "other"


def other_reason(relative_name: str) -> str:
    return ignored_reason(relative_name) or "not an image (.jpg/.jpeg/.png), annotation (.xml) or label map (.pbtxt)"


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
