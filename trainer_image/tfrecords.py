"""Manifest entries → TF OD API TFRecords: sharded, built in parallel, cached per image content.

`example_for` is the pure part (one manifest entry + its image bytes → one tf.train.Example in the OD API's
feature format). `ShardBuilder` does the I/O: blobs are fetched by a thread pool (fetching dominates, so
encoding overlaps it), shards are content-addressed and kept in Blob Storage with an index, so a retrain
reuses every shard whose images are all unchanged and converts only what is new.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import shutil
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from object_detection.utils import dataset_util
from PIL import Image, ImageOps

from shared.ports import NotFound
from trainer_image.tf_compat import tf

log = logging.getLogger(__name__)

SHARD_SIZE = 256
INDEX_NAME = "index.json"


class LeftOut(Exception):
    """An image the manifest lists that cannot be trained as validated: deleted or changed since the snapshot
    (a person's edit, not a fault: the ledger has the change, so the next run trains what is there then)."""


def entry_key(entry: dict[str, Any]) -> str:
    """Identity of one converted example: image content, boxes and label ids (a relabel is a new key)."""
    payload = json.dumps([entry["image"]["md5"], entry["width"], entry["height"], entry["objects"]], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def displayed_image(data: bytes, entry: dict[str, Any]) -> tuple[bytes, str]:
    """The bytes a decoder should see: EXIF-rotated images are re-encoded upright, the rest pass untouched."""
    fmt = entry["image"]["format"].lower()
    if entry["image"].get("orientation", 1) == 1:
        return data, "jpeg" if fmt == "jpeg" else "png"
    with Image.open(io.BytesIO(data)) as image:
        upright = ImageOps.exif_transpose(image).convert("RGB")
    buffer = io.BytesIO()
    upright.save(buffer, "JPEG", quality=95)
    return buffer.getvalue(), "jpeg"


def example_for(entry: dict[str, Any], image: bytes) -> tf.train.Example:
    """One manifest entry → one tf.train.Example with the features the OD API decoder reads."""
    encoded, fmt = displayed_image(image, entry)
    width, height = entry["width"], entry["height"]
    boxes = [o["bbox"] for o in entry["objects"]]
    name = entry["image"]["name"].encode()
    feature = {
        "image/height": dataset_util.int64_feature(height),
        "image/width": dataset_util.int64_feature(width),
        "image/filename": dataset_util.bytes_feature(name),
        "image/source_id": dataset_util.bytes_feature(name),
        "image/key/sha256": dataset_util.bytes_feature(hashlib.sha256(encoded).hexdigest().encode()),
        "image/encoded": dataset_util.bytes_feature(encoded),
        "image/format": dataset_util.bytes_feature(fmt.encode()),
        "image/object/bbox/xmin": dataset_util.float_list_feature([b[0] / width for b in boxes]),
        "image/object/bbox/ymin": dataset_util.float_list_feature([b[1] / height for b in boxes]),
        "image/object/bbox/xmax": dataset_util.float_list_feature([b[2] / width for b in boxes]),
        "image/object/bbox/ymax": dataset_util.float_list_feature([b[3] / height for b in boxes]),
        "image/object/class/text": dataset_util.bytes_list_feature([o["name"].encode() for o in entry["objects"]]),
        "image/object/class/label": dataset_util.int64_list_feature([o["label"] for o in entry["objects"]]),
        "image/object/difficult": dataset_util.int64_list_feature([int(o["difficult"]) for o in entry["objects"]]),
        "image/object/truncated": dataset_util.int64_list_feature([int(o["truncated"]) for o in entry["objects"]]),
        "image/object/view": dataset_util.bytes_list_feature([b"Unspecified" for _ in entry["objects"]]),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature))


SPLITS = ("train", "validation", "golden")
"""The splits made into records: a user's `test` split is never trained on nor evaluated (kept for them); the
golden set is never trained on and is evaluated every run, for the model and the champion."""


@dataclass
class BuildStats:
    images: int = 0
    converted: int = 0
    reused: int = 0
    shards_written: int = 0
    shards_reused: int = 0
    seconds: float = 0.0
    left_out: list[dict[str, str]] = field(default_factory=list)
    """Images deleted or changed since the snapshot, with why: not trained by this run."""
    files: dict[str, list[str]] = field(default_factory=dict)
    objects: dict[str, Counter] = field(default_factory=lambda: {split: Counter() for split in SPLITS})
    """Objects per class in each split (the per-class gate compares only classes with enough of them)."""

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("files", "objects", "left_out")} | {
            "left_out": len(self.left_out), "left_out_first": self.left_out[:20]}


class ShardCache:
    """Content-addressed shards plus an index (shard id → entry keys) in a blob folder, optionally mirrored in a
    local folder (local mode's disk, or the cache mounted into the job) so reused shards are read in place."""

    def __init__(self, store: Any | None, container: str, prefix: str, local_dir: Path | None = None, *,
                 local_read_only: bool = False) -> None:
        self.store, self.container, self.prefix = store, container, prefix.strip("/")
        self.local_dir, self.local_read_only = local_dir, local_read_only

    def index(self) -> dict[str, list[str]]:
        if self.store is None:
            return {}
        try:
            return json.loads(self.store.read(self.container, f"{self.prefix}/{INDEX_NAME}").data)
        except NotFound:
            return {}

    def locate(self, shard_id: str, out_dir: Path) -> Path:
        """A readable local path of a cached shard: in place when the local folder has it, else downloaded."""
        name = f"{shard_id}.tfrecord"
        if self.local_dir is not None and (self.local_dir / name).is_file():
            return self.local_dir / name
        target = out_dir / name
        target.write_bytes(self.store.read(self.container, f"{self.prefix}/{name}").data)
        return target

    def put(self, shard_id: str, source: Path) -> None:
        if self.store is not None:
            self.store.write(self.container, f"{self.prefix}/{shard_id}.tfrecord", source.read_bytes())
        if self.local_dir is not None and not self.local_read_only:  # a read-only mount gets it on the next run
            self.local_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, self.local_dir / source.name)

    def save_index(self, index: dict[str, list[str]]) -> None:
        if self.store is not None:
            self.store.write(self.container, f"{self.prefix}/{INDEX_NAME}", json.dumps(index, sort_keys=True).encode())


class ShardBuilder:
    """Writes `<split>-<shard id>.tfrecord` files for a manifest into `out_dir`, streaming its entries."""

    def __init__(self, read_blob: Callable[[str, str], Any], cache: ShardCache, *, workers: int = 16,
                 shard_size: int = SHARD_SIZE) -> None:
        self.read_blob, self.cache, self.workers, self.shard_size = read_blob, cache, workers, shard_size

    def build(self, manifest: dict[str, Any], entries: Callable[[], Iterable[dict[str, Any]]],
              out_dir: Path) -> BuildStats:
        """Two passes over the entries, never all in memory: which examples each split needs (their keys), then
        the conversion of those that no cached shard holds, a bounded number in flight."""
        started = time.perf_counter()
        out_dir.mkdir(parents=True, exist_ok=True)
        container = manifest["source"]["container"]
        wanted: dict[str, set[str]] = {split: set() for split in SPLITS}
        stats = BuildStats()
        for entry in entries():
            if entry["split"] in wanted:
                stats.images += 1
                wanted[entry["split"]].add(entry_key(entry))
                stats.objects[entry["split"]].update(o["name"] for o in entry["objects"])
        for split in ("train", "validation"):  # the same image under another name in the golden set: golden only
            wanted[split] -= wanted["golden"]
        split_of_key = {key: split for split, keys in wanted.items() for key in keys}
        index = self.cache.index()
        reusable = {sid: members for sid, members in index.items()
                    if members and set(members) <= wanted.get(sid.split("-", 1)[0], set())}
        covered = {k for members in reusable.values() for k in members}
        todo = {k for keys in wanted.values() for k in keys} - covered
        with ThreadPoolExecutor(self.workers) as pool:
            located = {sid: pool.submit(self.cache.locate, sid, out_dir) for sid in reusable}
            fresh = (e for e in _first_of_each(entries(), todo))
            examples = _bounded_map(pool, lambda e: (split_of_key[entry_key(e)], entry_key(e),
                                                     self._convert_or_leave(container, e, stats)), fresh,
                                    self.workers * 4)
            written = self._write_shards(((s, k, x) for s, k, x in examples if x is not None), out_dir, pool,
                                         index)
            for split in SPLITS:
                mine = [str(f.result()) for sid, f in located.items() if sid.startswith(split + "-")]
                stats.files[split] = sorted(mine + written[split])
        stats.shards_reused, stats.reused = len(reusable), len(covered)
        stats.converted = len(todo) - len(stats.left_out)
        stats.shards_written = sum(len(w) for w in written.values())
        live = {Path(f).stem for files in stats.files.values() for f in files}
        self.cache.save_index({sid: members for sid, members in index.items() if sid in live})
        stats.seconds = time.perf_counter() - started
        if stats.left_out:
            log.warning("images left out", extra={"count": len(stats.left_out), "first": stats.left_out[:5]})
        log.info("tfrecords ready", extra=stats.to_dict())
        return stats

    def _convert_or_leave(self, container: str, entry: dict[str, Any], stats: BuildStats) -> bytes | None:
        try:
            return self._convert(container, entry)
        except LeftOut as exc:
            stats.left_out.append({"image": entry["image"]["name"], "reason": str(exc)})  # list.append: thread-safe
            return None

    def _convert(self, container: str, entry: dict[str, Any]) -> bytes:
        try:
            blob = self.read_blob(container, entry["image"]["name"])
        except NotFound:
            raise LeftOut("deleted since the manifest was taken") from None
        if hashlib.md5(blob.data).hexdigest() != entry["image"]["md5"]:
            raise LeftOut(f"content changed since the manifest was taken (MD5 differs; manifest ETag "
                          f"{entry['image']['etag']}, now {blob.etag})")
        return example_for(entry, blob.data).SerializeToString()

    def _write_shards(self, examples: Iterable[tuple[str, str, bytes]], out_dir: Path, pool,
                      index: dict[str, list[str]]) -> dict[str, list[str]]:
        written: dict[str, list[str]] = {split: [] for split in SPLITS}
        batches: dict[str, list[tuple[str, bytes]]] = {split: [] for split in SPLITS}
        uploads: list[Any] = []
        for split, key, serialized in examples:
            batches[split].append((key, serialized))
            if len(batches[split]) == self.shard_size:
                written[split].append(self._flush(split, batches[split], out_dir, pool, index, uploads))
                batches[split] = []
        for split, batch in batches.items():
            if batch:
                written[split].append(self._flush(split, batch, out_dir, pool, index, uploads))
        for future in uploads:
            future.result()
        return written

    def _flush(self, split, batch, out_dir, pool, index, uploads) -> str:
        members = [k for k, _ in batch]
        shard_id = f"{split}-{hashlib.sha256(''.join(members).encode()).hexdigest()[:16]}"
        path = out_dir / f"{shard_id}.tfrecord"
        with tf.io.TFRecordWriter(str(path)) as writer:
            for _, serialized in batch:
                writer.write(serialized)
        index[shard_id] = members
        uploads.append(pool.submit(self.cache.put, shard_id, path))
        return str(path)


def _first_of_each(entries: Iterable[dict[str, Any]], keys: set[str]) -> Iterator[dict[str, Any]]:
    """The entries whose key is wanted, each key once (identical images under two names are one example)."""
    seen: set[str] = set()
    for entry in entries:
        key = entry_key(entry)
        if key in keys and key not in seen:
            seen.add(key)
            yield entry


def _bounded_map(pool: ThreadPoolExecutor, fn: Callable[[Any], Any], items: Iterable[Any],
                 window: int) -> Iterator[Any]:
    """`pool.map` that keeps at most `window` items in flight (Executor.map would submit them all at once)."""
    pending: deque[Any] = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def spread(files: list[str], count: int, out_dir: Path) -> list[str]:
    """At least `count` files holding the same examples: each worker of a multi-worker run reads its own share of
    the files (the OD API shards file names by input pipeline), and a worker left without a file stops the run."""
    if len(files) >= count or not files:
        return files
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = [out_dir / f"spread-{i:03d}.tfrecord" for i in range(count)]
    writers = [tf.io.TFRecordWriter(str(t)) for t in targets]
    written = 0
    try:
        for written, record in enumerate(tf.data.TFRecordDataset(files).as_numpy_iterator(), start=1):
            writers[(written - 1) % count].write(record)
    finally:
        for writer in writers:
            writer.close()
    if written < count:  # fewer examples than workers: every worker gets all of them
        for target in targets:
            with tf.io.TFRecordWriter(str(target)) as writer:
                for record in tf.data.TFRecordDataset(files).as_numpy_iterator():
                    writer.write(record)
    return [str(t) for t in targets]
