"""Collection files (one file, many images): which reader takes a file, and which uploaded image an item names.

An item is paired with an image blob of the project by the first candidate path that exists, tried in order: the
reference as written, then its file name, beside the collection file, in its parent (COCO's `annotations/` folder),
in an `images/` folder of either (with the tool's subset), in COCO's split folder (`instances_train2017.json` →
`train2017/` or `images/train2017/`). Label Studio's upload paths (`/data/upload/18/1a2b3c4d-cat.jpg`) are also
tried without the 8-hex prefix Label Studio adds, URLs by their path, and a bare stem with each image suffix.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable
from urllib.parse import parse_qs, unquote, urlsplit

from shared.dataset.formats import CollectionRead, Item
from shared.dataset.formats.coco import is_coco, read_coco
from shared.dataset.formats.cvat import read_cvat
from shared.dataset.formats.label_studio import is_label_studio, read_label_studio
from shared.dataset.problems import Rejected

VIRTUAL = "::"
"""Joins a collection file's blob name and the image path an item of it is paired with: the name under which the
item sits in the catalog beside its image (no blob has it)."""
NO_READER = ("no reader takes this file: it is not COCO detection JSON (images, annotations, categories) nor a "
             "Label Studio JSON export (a list of tasks with data and annotations)")
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def is_collection_name(relative_name: str) -> bool:
    """By name: a JSON file (except a dataset.json: the project's settings) or CVAT's annotations.xml."""
    base = posixpath.basename(relative_name.lower())
    return (base.endswith(".json") and base != "dataset.json") or base == "annotations.xml"


def read_collection(relative_name: str, data: bytes, *, max_bytes: int) -> CollectionRead:
    """The file's items by its format; Rejected (field, reason) when no reader takes it or it is broken."""
    if len(data) > max_bytes:
        raise Rejected("file", f"annotation file is {len(data)} bytes, above MAX_COLLECTION_BYTES={max_bytes}")
    if relative_name.lower().endswith(".xml"):
        return read_cvat(data, max_bytes)
    try:  # the C parser refuses nesting past the recursion limit itself: no pre-scan of a large file
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise Rejected("json", f"not JSON ({str(exc)[:200]})") from None
    if isinstance(doc, dict) and str(doc.get("schema", "")).startswith("labelling-export/"):
        return CollectionRead("labelling-export", ignored="this service's labelling export list (which images were "
                                                          "picked and why): not annotations")
    if is_coco(doc):
        return read_coco(doc, posixpath.splitext(posixpath.basename(relative_name))[0])
    if is_label_studio(doc):
        return read_label_studio(doc)
    raise Rejected("json", NO_READER)


def virtual_name(collection_blob: str, image_relative: str) -> str:
    return f"{collection_blob}{VIRTUAL}{image_relative}"


def split_virtual(name: str) -> tuple[str, str]:
    """(collection blob, image path relative to the project) of a virtual name."""
    collection, _, image = name.partition(VIRTUAL)
    return collection, image


def resolve(collection_relative: str, item: Item, exists: Callable[[str], bool],
            found_in: str | None = None) -> tuple[str, bool]:
    """(image path relative to the project, found): the first candidate that exists, else the first candidate.
    `found_in`: the folder the file's previous image was found in, tried first (a file's images mostly share one)."""
    if found_in is not None:
        for name in _names(_path_of(item.ref))[1:]:
            if exists(joined := posixpath.join(found_in, name)):
                return joined, True
    tried = candidates(collection_relative, item)
    for path in tried:
        if exists(path):
            return path, True
    return tried[0], False


def _names(path: str) -> list[str]:
    """The reference as written, its file name, without Label Studio's upload prefix, a bare stem with suffixes."""
    base = posixpath.basename(path)
    names = [path, base, _UPLOAD_PREFIX.sub("", base)]
    if not base.lower().endswith(_IMAGE_SUFFIXES):
        names += [path + suffix for suffix in _IMAGE_SUFFIXES] + [base + suffix for suffix in _IMAGE_SUFFIXES]
    return names


def candidates(collection_relative: str, item: Item) -> list[str]:
    names = _names(_path_of(item.ref))
    here = posixpath.dirname(collection_relative)
    parent = posixpath.dirname(here)
    folders = [here, parent]
    for root in (here, parent):
        folders.append(posixpath.join(root, "images"))
        if item.subset:
            folders += [posixpath.join(root, "images", item.subset), posixpath.join(root, item.subset)]
    stem = posixpath.splitext(posixpath.basename(collection_relative))[0]
    if stem.lower().startswith("instances_"):
        split = stem[len("instances_"):]
        folders += [posixpath.join(parent, split), posixpath.join(parent, "images", split)]
    found: list[str] = []
    for folder in folders:
        for name in names:
            joined = posixpath.normpath(posixpath.join(folder, name)) if name else ""
            if joined and not joined.startswith("../") and joined != ".." and joined not in found:
                found.append(joined)
    return found or [posixpath.basename(names[0]) or "?"]


def _path_of(ref: str) -> str:
    """A reference as a relative path: URLs by their path, Label Studio's local-files `?d=` by its value."""
    ref = ref.strip().replace("\\", "/")
    parts = urlsplit(ref)
    if parts.query and "d" in parse_qs(parts.query):
        ref = parse_qs(parts.query)["d"][0]
    elif (parts.scheme and parts.scheme != "file" and len(parts.scheme) > 1) or parts.scheme == "file":
        ref = parts.path
    return unquote(ref).lstrip("/").removeprefix("./")
