"""Which blobs in a project folder are images, annotations and label maps, and which belong together.

Three layouts are understood: VoTT's Pascal VOC export (`Annotations/`, `JPEGImages/`, `ImageSets/`,
`pascal_label_map.pbtxt`), a flat folder of image + same-stem XML, and Oxford-IIIT Pets (`images/`,
`annotations/xmls/`), where the class is in the file name.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal

from shared.ports import BlobInfo

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
_OUTSIDE_VOC_IMAGES = "in a Pascal VOC tree only JPEGImages/ holds training images"

ClassSource = Literal["annotation", "filename"]


@dataclass
class Pairing:
    """One image with its annotation (either may be missing)."""

    key: str
    images: list[BlobInfo] = field(default_factory=list)
    annotations: list[BlobInfo] = field(default_factory=list)


@dataclass
class Layout:
    kind: str
    pairs: list[Pairing]
    label_maps: list[BlobInfo]
    config: BlobInfo | None
    ignored: list[tuple[BlobInfo, str]]

    @property
    def default_class_source(self) -> ClassSource:
        return "filename" if self.kind == "oxford-pets" else "annotation"


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


def discover(blobs: list[BlobInfo], project_prefix: str) -> Layout:
    """Sort a project's blobs into pairs, label maps, the optional config, and files ignored (with why)."""
    pairs: dict[str, Pairing] = {}
    label_maps: list[BlobInfo] = []
    ignored: list[tuple[BlobInfo, str]] = []
    config = None
    dirs: defaultdict[str, int] = defaultdict(int)
    voc_roots = _voc_roots(b.name[len(project_prefix):] for b in blobs)
    for blob in sorted(blobs, key=lambda b: b.name):
        relative = blob.name[len(project_prefix):]
        kind = kind_of(relative)
        reason = ignored_reason(relative) or (_OUTSIDE_VOC_IMAGES if kind == "image" and _stray_in_voc(
            relative, voc_roots) else None)
        if relative == DATASET_CONFIG_NAME:
            config = blob
        elif reason:
            ignored.append((blob, reason))
        elif kind == "label_map":
            label_maps.append(blob)
        elif kind is None:
            ignored.append((blob, "not an image (.jpg/.jpeg/.png), annotation (.xml) or label map (.pbtxt)"))
        else:
            pairing = pairs.setdefault(pairing_key(relative), Pairing(pairing_key(relative)))
            (pairing.images if kind == "image" else pairing.annotations).append(blob)
            dirs[posixpath.dirname(relative).lower()] += 1
    return Layout(_kind(dirs), list(pairs.values()), label_maps, config, ignored)


def _voc_roots(relative_names: object) -> set[str]:
    """Folders holding both `Annotations/` and `JPEGImages/` (a VOC or VoTT tree; "" for the project root)."""
    seen: defaultdict[str, set[str]] = defaultdict(set)
    for name in relative_names:  # type: ignore[attr-defined]
        parent, leaf = posixpath.split(posixpath.dirname(name))
        if leaf.lower() in ("annotations", "jpegimages"):
            seen[parent].add(leaf.lower())
    return {root for root, leaves in seen.items() if leaves == {"annotations", "jpegimages"}}


def _stray_in_voc(relative_name: str, roots: set[str]) -> bool:
    """An image in a folder beside a VOC tree's JPEGImages/ (masks, visualisations, thumbnails…)."""
    parent, leaf = posixpath.split(posixpath.dirname(relative_name))
    return bool(leaf) and parent in roots and leaf.lower() != "jpegimages"


def _kind(dirs: dict[str, int]) -> str:
    names = set(dirs)
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
