"""Readers of labelling tools' exports: each turns a tool's file into the same per-image items the Pascal VOC path
makes (size, boxes in pixels with class names, warnings), so checks, catalog, manifest and quarantine stay one path.

Two kinds of annotation file:
- per-image files beside their image (Pascal VOC `.xml`, YOLO `.txt`): read in `checks.check_files`;
- collection files that annotate many images at once (COCO JSON, Label Studio JSON, CVAT XML): read here into
  `Item`s, each stored in the project's catalog as a record and paired with the image it names (`resolve`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from shared.dataset.problems import Rejected
from shared.dataset.voc import Box

READERS_VERSION = 1
"""Part of the catalog's fingerprint: a reader whose output changes re-checks every project once."""


@dataclass(frozen=True)
class Item:
    """One image's annotation inside a collection file."""

    ref: str
    """The image as the file names it (a path, a URL, a Label Studio upload path…)."""
    where: str
    """Where in the file, for messages: `images[id=7] (cat.jpg)`, `task 12`, `image 'x.jpg'`."""
    size: tuple[int, int] | None = None
    objects: tuple[Box, ...] = ()
    fields: tuple[str, ...] = ()
    """Per object, where it is in the file (`annotations[id=12]`)."""
    notes: tuple[tuple[str, str], ...] = ()
    split: str | None = None
    """The user's split for this image, when the file says (COCO file per split, CVAT subset)."""
    subset: str | None = None
    """A folder the tool puts the image in (CVAT's subset): looked in when resolving the image."""
    rejected: tuple[str, str] | None = None
    """(field, reason): this image's annotation cannot be used."""
    unlabelled: str | None = None
    """Why this image has no annotation yet (a task nobody submitted): the image is not used, not background."""

    def record(self) -> dict[str, Any]:
        """The plain JSON kept in the catalog for this image (its digest is the image's annotation 'ETag')."""
        return {"where": self.where, "size": list(self.size) if self.size else None,
                "objects": [b.as_list() for b in self.objects],
                "fields": list(self.fields), "notes": [list(n) for n in self.notes], "split": self.split,
                "rejected": list(self.rejected) if self.rejected else None, "unlabelled": self.unlabelled}


@dataclass
class CollectionRead:
    """What a collection file holds: its format and one item per image, or why it is not a detection file."""

    format: str
    items: list[Item] = field(default_factory=list)
    ignored: str | None = None
    """Set when the file is a known non-detection file (COCO captions, keypoints, panoptic, stuff)."""
    warnings: list[tuple[str, str]] = field(default_factory=list)
    """(field, reason) about the file itself: annotations pointing at no image, unused shapes…"""


SPLIT_WORDS = {"train": "train", "training": "train", "val": "validation", "valid": "validation",
               "validation": "validation", "test": "test", "testing": "test"}


def split_word(text: str) -> str | None:
    """`train`, `validation` or `test` for a folder or subset name a tool writes (Train, valid, val2017…)."""
    lower = text.lower().rstrip("0123456789")
    return SPLIT_WORDS.get(lower)


def split_in_name(name: str) -> str | None:
    """The split a folder or file name names in one of its words (`obj_train_data`, `instances_val2017`)."""
    return next((found for word in re.split(r"[_.\-\s]+", name) if (found := split_word(word))), None)


def split_in_path(relative: str) -> str | None:
    """The split a file's folders name (`valid/x.jpg`, `images/train/x.jpg`, `val/annotations.xml`, darknet's
    `obj_train_data/x.jpg`): the last folder that names one."""
    return next((found for folder in reversed(relative.split("/")[:-1]) if (found := split_in_name(folder))), None)


def number(value: Any, where: str) -> float:
    """A finite number from JSON (not a bool), or Rejected naming `where`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Rejected(where, f"{value!r} is not a number")
    if value != value or value in (float("inf"), float("-inf")):
        raise Rejected(where, f"{value!r} is not a finite number")
    return float(value)
