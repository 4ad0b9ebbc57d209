"""The dataset manifest: a deterministic snapshot of one dataset version, as a small index and JSON Lines shards.

Images are spread over shards by a hash of their pairing key (the bucket), so an unchanged bucket keeps its shard
byte for byte and a snapshot rewrites only what changed; the trainer streams the shards one at a time. The version
is a hash of the content (names, MD5s, boxes, label map, split), not of ETags, so re-uploading identical bytes does
not make a new version; the ETags are kept so the trainer can check it reads exactly the blobs that were validated.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from shared.dataset.label_map import LabelMap

SCHEMA = "tfod-retrain/dataset-manifest/v2"
SCHEMA_V1 = "tfod-retrain/dataset-manifest/v1"
"""Single-document manifests written before shards: still readable."""
SPLIT_METHOD = "sha256(relative image name) / 2**64 < validation_fraction → validation"
EXPORT_SPLIT_METHOD = ("the export's own split (folders, subsets, files per split; test is never trained "
                       "on), else " + SPLIT_METHOD)
SHARD_FOLDER = "shards"
BUCKET_TARGET = 512
"""Pairs per bucket the bucket count aims at (between half and all of it once a project has more than one)."""


class ManifestError(ValueError):
    """The manifest cannot be used (wrong schema, tampered content)."""


def split_of(relative_name: str, validation_fraction: float) -> str:
    """Stable per image name, so adding images never moves an existing one between train and validation."""
    digest = hashlib.sha256(relative_name.encode("utf-8")).digest()
    return "validation" if int.from_bytes(digest[:8], "big") / 2**64 < validation_fraction else "train"


def bucket_count(pairs: int) -> int:
    """A power of two with at most BUCKET_TARGET pairs per bucket on average: a function of the dataset alone, so a
    snapshot built from scratch and one carried forward shard the same way."""
    return 1 if pairs <= BUCKET_TARGET else 2 ** math.ceil(math.log2(pairs / BUCKET_TARGET))


def bucket_of(pairing_key: str, buckets: int) -> int:
    return int.from_bytes(hashlib.sha256(pairing_key.encode("utf-8")).digest()[:8], "big") % buckets


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def labelled(entry: dict[str, Any], label_map: LabelMap) -> dict[str, Any]:
    """An example with each object's label id from the label map."""
    return entry | {"objects": [o | {"label": label_map.id_of(o["name"])} for o in entry["objects"]]}


def _without_etag(ref: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if ref is None else {k: v for k, v in ref.items() if k != "etag"}


def _content(entry: dict[str, Any]) -> dict[str, Any]:
    return entry | {"image": _without_etag(entry["image"]), "annotation": _without_etag(entry["annotation"])}


PRODUCTION_PREFIX = "prod-"
"""Images exported for labelling are named prod-<first 16 hex of their SHA-256>: when they come back labelled,
the manifest counts them as production images (keep the names when you label)."""


def is_production(image_name: str) -> bool:
    return image_name.rsplit("/", 1)[-1].startswith(PRODUCTION_PREFIX)


def counts_of(entries: Iterable[dict[str, Any]]) -> dict[str, Any]:
    images = train = test = golden = background = production = 0
    per_class: Counter[str] = Counter()
    for entry in entries:
        images += 1
        train += entry["split"] == "train"
        test += entry["split"] == "test"
        golden += entry["split"] == "golden"
        background += not entry["objects"]
        production += is_production(entry["image"]["name"])
        per_class.update(o["name"] for o in entry["objects"])
    return {"images": images, "train": train, "validation": images - train - test - golden, "test": test,
            "golden": golden, "background": background,
            "production": production, "boxes": sum(per_class.values()),
            "boxes_per_class": dict(sorted(per_class.items()))}


def sum_counts(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {"images": 0, "train": 0, "validation": 0, "test": 0, "golden": 0, "background": 0,
                             "production": 0, "boxes": 0}
    per_class: Counter[str] = Counter()
    for part in parts:
        for key in total:
            total[key] += part.get(key, 0)  # shards written before a count existed count 0
        per_class.update(part["boxes_per_class"])
    return total | {"boxes_per_class": dict(sorted(per_class.items()))}


@dataclass(frozen=True)
class Shard:
    """One bucket's examples as JSON Lines (sorted by image name), with its digests and counts."""

    data: bytes
    sha256: str
    content: str
    """Digest of the content without ETags: what the dataset version is made of."""
    counts: dict[str, Any]

    @property
    def blob(self) -> str:
        """Where it lives, relative to the manifest index (content-addressed: written once)."""
        return f"{SHARD_FOLDER}/{self.sha256}.jsonl"

    def ref(self) -> dict[str, Any]:
        return {"blob": self.blob, "sha256": self.sha256, "content": self.content, "counts": self.counts}

    @classmethod
    def of(cls, entries: Iterable[dict[str, Any]]) -> Shard:
        ordered = sorted(entries, key=lambda e: e["image"]["name"])
        data = b"".join(canonical_json(e) + b"\n" for e in ordered)
        content = hashlib.sha256(b"\n".join(canonical_json(_content(e)) for e in ordered)).hexdigest()
        return cls(data, hashlib.sha256(data).hexdigest(), content, counts_of(ordered))


def build_index(*, project: str, container: str, prefix: str, label_map: LabelMap, validation_fraction: float,
                shards: list[dict[str, Any]], split: str = "hash") -> dict[str, Any]:
    """The manifest index over shard references (in bucket order); its version covers every shard's content."""
    index: dict[str, Any] = {
        "schema": SCHEMA,
        "project": project,
        "source": {"container": container, "prefix": prefix},
        "label_map": label_map.to_list(),
        "split": {"method": EXPORT_SPLIT_METHOD if split == "export" else SPLIT_METHOD,
                  "validation_fraction": validation_fraction},
        "counts": sum_counts(s["counts"] for s in shards),
        "shards": shards,
    }
    index["dataset_version"] = dataset_version(index)
    return index


def build_manifest(*, project: str, container: str, prefix: str, entries: Iterable[dict[str, Any]],
                   label_map: LabelMap, validation_fraction: float, buckets: int = 1,
                   key_of: Callable[[dict[str, Any]], str] | None = None) -> tuple[dict[str, Any], list[Shard]]:
    """Index and shards of labelled examples in one go (the catalog builds them bucket by bucket instead)."""
    grouped: dict[int, list[dict[str, Any]]] = {}
    for entry in entries:
        key = key_of(entry) if key_of else entry["image"]["name"]
        grouped.setdefault(bucket_of(key, buckets), []).append(entry)
    shards = [Shard.of(grouped[b]) for b in sorted(grouped)]
    index = build_index(project=project, container=container, prefix=prefix, label_map=label_map,
                        validation_fraction=validation_fraction, shards=[s.ref() for s in shards])
    return index, shards


def dataset_version(manifest: dict[str, Any]) -> str:
    """Hash of what the model would learn from; ETags and the version field itself are left out."""
    if manifest.get("schema") == SCHEMA_V1:
        content: dict[str, Any] = {"label_map": manifest["label_map"], "split": manifest["split"],
                                   "images": [_content(image) for image in manifest["images"]]}
    else:
        content = {"label_map": manifest["label_map"], "split": manifest["split"],
                   "shards": [s["content"] for s in manifest["shards"]]}
    return hashlib.sha256(canonical_json(content)).hexdigest()[:16]


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """Byte-identical for the same content: sorted keys, fixed indentation, no timestamps."""
    return (json.dumps(manifest, sort_keys=True, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def load_manifest(data: bytes) -> dict[str, Any]:
    """The index (or a v1 manifest), checked against its version; shards are checked as they are read."""
    manifest = json.loads(data)
    if manifest.get("schema") not in (SCHEMA, SCHEMA_V1):
        raise ManifestError(f"manifest schema is {manifest.get('schema')!r}, expected {SCHEMA!r}")
    if dataset_version(manifest) != manifest.get("dataset_version"):
        raise ManifestError("manifest content does not match its dataset_version (edited by hand?)")
    return manifest


def iter_entries(manifest: dict[str, Any], read: Callable[[str], bytes]) -> Iterator[dict[str, Any]]:
    """Every example, one shard in memory at a time; `read` gets a shard's path relative to the index."""
    if manifest["schema"] == SCHEMA_V1:
        yield from manifest["images"]
        return
    for shard in manifest["shards"]:
        data = read(shard["blob"])
        if hashlib.sha256(data).hexdigest() != shard["sha256"]:
            raise ManifestError(f"{shard['blob']} does not match the manifest (changed after the snapshot?)")
        for line in data.splitlines():
            yield json.loads(line)
