"""The dataset manifest: a deterministic JSON snapshot of one dataset version.

The version is a hash of the content (names, MD5s, boxes, label map, split), not of ETags, so re-uploading
identical bytes does not make a new version; the ETags are kept so the trainer can check it reads exactly
the blobs that were validated.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared.dataset.label_map import LabelMap
from shared.dataset.records import Record

SCHEMA = "tfod-retrain/dataset-manifest/v1"
SPLIT_METHOD = "sha256(relative image name) / 2**64 < validation_fraction → validation"


@dataclass(frozen=True)
class BlobRef:
    name: str
    etag: str
    md5: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "etag": self.etag, "md5": self.md5, "size": self.size}


@dataclass(frozen=True)
class Entry:
    relative_name: str
    image: BlobRef
    image_format: str
    annotation: BlobRef | None
    record: Record
    orientation: int = 1
    """EXIF orientation of the stored pixels; boxes and width/height are in the displayed frame."""


def split_of(relative_name: str, validation_fraction: float) -> str:
    """Stable per image name, so adding images never moves an existing one between train and validation."""
    digest = hashlib.sha256(relative_name.encode("utf-8")).digest()
    return "validation" if int.from_bytes(digest[:8], "big") / 2**64 < validation_fraction else "train"


def _entry_dict(entry: Entry, label_map: LabelMap, validation_fraction: float) -> dict[str, Any]:
    return {
        "image": entry.image.to_dict() | {"format": entry.image_format, "orientation": entry.orientation},
        "annotation": entry.annotation.to_dict() if entry.annotation else None,
        "width": entry.record.width,
        "height": entry.record.height,
        "split": split_of(entry.relative_name, validation_fraction),
        "objects": [
            {
                "name": box.name,
                "label": label_map.id_of(box.name),
                "bbox": [box.xmin, box.ymin, box.xmax, box.ymax],
                "difficult": box.difficult,
                "truncated": box.truncated,
            }
            for box in entry.record.boxes
        ],
    }


def build_manifest(
    *,
    project: str,
    container: str,
    prefix: str,
    entries: Iterable[Entry],
    label_map: LabelMap,
    validation_fraction: float,
) -> dict[str, Any]:
    images = [
        _entry_dict(e, label_map, validation_fraction)
        for e in sorted(entries, key=lambda e: e.image.name)
    ]
    per_class: Counter[str] = Counter(o["name"] for image in images for o in image["objects"])
    manifest: dict[str, Any] = {
        "schema": SCHEMA,
        "project": project,
        "source": {"container": container, "prefix": prefix},
        "label_map": label_map.to_list(),
        "split": {"method": SPLIT_METHOD, "validation_fraction": validation_fraction},
        "counts": {
            "images": len(images),
            "train": sum(1 for i in images if i["split"] == "train"),
            "validation": sum(1 for i in images if i["split"] == "validation"),
            "background": sum(1 for i in images if not i["objects"]),
            "boxes": sum(per_class.values()),
            "boxes_per_class": dict(sorted(per_class.items())),
        },
        "images": images,
    }
    manifest["dataset_version"] = dataset_version(manifest)
    return manifest


def dataset_version(manifest: dict[str, Any]) -> str:
    """Hash of what the model would learn from; ETags and the version field itself are left out."""
    content = {
        "label_map": manifest["label_map"],
        "split": manifest["split"],
        "images": [
            {k: v for k, v in image.items() if k not in ("image", "annotation")}
            | {"image": _without_etag(image["image"]), "annotation": _without_etag(image["annotation"])}
            for image in manifest["images"]
        ],
    }
    return hashlib.sha256(canonical_json(content)).hexdigest()[:16]


def _without_etag(ref: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if ref is None else {k: v for k, v in ref.items() if k != "etag"}


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """Byte-identical for the same content: sorted keys, fixed indentation, no timestamps."""
    return (json.dumps(manifest, sort_keys=True, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


class ManifestError(ValueError):
    """The manifest cannot be used (wrong schema, tampered content)."""


def load_manifest(data: bytes) -> dict[str, Any]:
    manifest = json.loads(data)
    if manifest.get("schema") != SCHEMA:
        raise ManifestError(f"manifest schema is {manifest.get('schema')!r}, expected {SCHEMA!r}")
    if dataset_version(manifest) != manifest.get("dataset_version"):
        raise ManifestError("manifest content does not match its dataset_version (edited by hand?)")
    return manifest
