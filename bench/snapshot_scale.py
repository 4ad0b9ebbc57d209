"""Benchmark: dataset snapshots at scale (issue: scale). Figures side by side in one run, on one Azurite:

  * 10,000 VOC-sized images (500x375 JPEG + XML): a snapshot from scratch — every file downloaded and checked, what
    every snapshot cost before the catalog — then +1% images and the next snapshot from the ledger's names (the
    normal flush), and the same with the daily full listing (SNAPSHOT_RELIST_HOURS) instead;
  * 10,000 and 50,000 small images (64x64): the snapshot from scratch and the +1% one, time and peak memory, each in
    a process of its own; then the same over the in-memory Blob store (proven against Azurite by a contract test),
    which is the service's own cost without Azurite's (Azurite's requests slow as its store fills; Azure's do not),
    with +100 images as well as +1%;
  * the trainer's pass over a manifest of 10,000 and 100,000 entries (streamed shard by shard, as the trainer reads
    it) against reading the same entries as one JSON document (the single-file manifest it replaces): peak memory,
    each in a process of its own.

    python -m bench.snapshot_scale [--voc 10000] [--small 10000 50000] [--entries 10000 100000] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import report, say

ROOT = Path(__file__).resolve().parent.parent


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- data ------------------------------------------------------------------------------------------------------


def _voc_chunk(args: tuple[str, int, int]) -> dict[str, bytes]:
    from bench import tfrecords_build

    project, start, count = args
    return {name.replace(f"{tfrecords_build.PROJECT}/", f"{project}/", 1): data
            for name, data in tfrecords_build.voc_images(count, start=start).items()}


def _small_chunk(args: tuple[str, int, int]) -> dict[str, bytes]:
    from local_mode.demo_data import vott_export

    project, start, count = args
    return {f"{project}/{name}": data for name, data in vott_export(count, seed=start, size=64, per_image=1,
                                                                     start=start).items()}


def upload(store, container: str, project: str, kind: str, start: int, count: int, threads: int = 8) -> list[str]:
    """Generate `count` images (+ annotations) in worker processes and upload them; return the blob names."""
    make = _voc_chunk if kind == "voc" else _small_chunk
    chunks = [(project, s, min(500, start + count - s)) for s in range(start, start + count, 500)]
    names: list[str] = []
    with mp.get_context("fork").Pool(2) as workers, ThreadPoolExecutor(threads) as pool:
        for files in workers.imap(make, chunks):
            list(pool.map(lambda item: store.write(container, *item), files.items()))
            names.extend(files)
    return names


# -- one measurement, in a process of its own -------------------------------------------------------------------


def measure_snapshot(project: str, changes_file: str | None, relist: bool) -> dict:
    from shared.adapters.azure_storage import AzureBlobStore
    from shared.dataset.service import DatasetBuilder
    from shared.settings import Settings

    settings = Settings.from_env()
    builder = DatasetBuilder(AzureBlobStore.from_settings(settings), settings)
    changes = json.loads(Path(changes_file).read_text()) if changes_file else None
    now = datetime.now(UTC) + (timedelta(days=2) if relist else timedelta())
    started = time.perf_counter()
    build = builder.snapshot(project, changes=changes, now=now)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(_peak_mb()), "images": build.manifest["counts"][
        "images"], "shards": len(build.manifest["shards"])}


def measure_snapshot_in_memory(count: int) -> dict:
    """The same snapshots over the in-memory store: from scratch, +1% and +100 images, each from the ledger's names."""
    from shared.dataset.service import DatasetBuilder
    from shared.settings import Settings
    from tests.fakes.memory import MemoryBlobStore

    store, settings = MemoryBlobStore(), Settings()
    store.ensure_container(settings.datasets_container)
    project = f"mem{count}"
    upload(store, settings.datasets_container, project, "small", 0, count, threads=1)
    builder = DatasetBuilder(store, settings)

    def timed(changes: list[str] | None) -> dict:
        started = time.perf_counter()
        build = builder.snapshot(project, changes=changes)
        return {"seconds": round(time.perf_counter() - started, 2), "images": build.manifest["counts"]["images"]}

    full = timed(None)
    plus_1pct = timed(upload(store, settings.datasets_container, project, "small", 10_000_000, count // 100, threads=1))
    plus_100 = timed(upload(store, settings.datasets_container, project, "small", 20_000_000, 100, threads=1))
    return {"images": count, "full": full, "plus_1pct": plus_1pct, "plus_100": plus_100,
            "ms_per_image_full": round(full["seconds"] * 1000 / count, 3), "peak_rss_mb": round(_peak_mb())}


def measure_trainer_pass(manifest_path: str, single_document: bool) -> dict:
    """Peak memory of the trainer's first pass over a manifest (which keys each split needs)."""
    from shared.dataset.manifest import iter_entries, load_manifest
    from trainer_image.tfrecords import entry_key  # with TensorFlow, as in the trainer

    baseline = _peak_mb()
    wanted: dict[str, set[str]] = {"train": set(), "validation": set()}
    started = time.perf_counter()
    if single_document:
        for entry in json.loads(Path(manifest_path).read_bytes())["images"]:
            wanted[entry["split"]].add(entry_key(entry))
    else:
        manifest = load_manifest(Path(manifest_path).read_bytes())
        folder = Path(manifest_path).parent
        for entry in iter_entries(manifest, lambda rel: (folder / rel).read_bytes()):
            wanted[entry["split"]].add(entry_key(entry))
    return {"seconds": round(time.perf_counter() - started, 2), "peak_rss_mb": round(_peak_mb()),
            "after_imports_mb": round(baseline), "entries": sum(len(w) for w in wanted.values())}


def child(env: dict[str, str], *args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.snapshot_scale", "--measure", *args], cwd=ROOT,
                         env=os.environ | env, capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout)


# -- the scenarios ----------------------------------------------------------------------------------------------


def scenario(store, env: dict[str, str], container: str, project: str, kind: str, count: int,
             work: Path, relist: bool) -> dict:
    say(f"[snapshot] {count} {kind} images: generating and uploading")
    upload(store, container, project, kind, 0, count)
    full = child(env, "snapshot", project)
    say(f"[snapshot] from scratch: {full}")
    added = upload(store, container, project, kind, 10_000_000, max(count // 100, 1))
    changes = work / f"{project}-changes.json"
    changes.write_text(json.dumps(sorted(added)))
    incremental = child(env, "snapshot", project, "--changes", str(changes))
    say(f"[snapshot] +1% from the ledger's names: {incremental}")
    figures = {"images": count, "full": full, "plus_1pct": incremental,
               "plus_1pct_share_of_full": round(incremental["seconds"] / full["seconds"], 3)}
    if relist:  # another +1%, whose events the snapshot is not told of: the daily listing finds them
        upload(store, container, project, kind, 20_000_000, max(count // 100, 1))
        nothing = work / f"{project}-none.json"
        nothing.write_text("[]")
        relisted = child(env, "snapshot", project, "--changes", str(nothing), "--relist")
        say(f"[snapshot] +1% through the daily full listing: {relisted}")
        figures["plus_1pct_by_listing"] = relisted
        figures["plus_1pct_by_listing_share_of_full"] = round(relisted["seconds"] / full["seconds"], 3)
    return figures


def manifests(work: Path, counts: list[int]) -> dict:
    """Synthetic manifests (no images needed) in both forms, then the trainer's pass over each."""
    from shared.dataset.label_map import LabelMap
    from shared.dataset.manifest import SCHEMA_V1, bucket_count, build_manifest, manifest_bytes, split_of

    results = {}
    for count in counts:
        entries = []
        for i in range(count):
            name = f"JPEGImages/{i:07d}.jpg"
            entries.append({"image": {"name": f"p/{name}", "etag": f"0x8DD{i:012X}", "md5": f"{i:032x}",
                                      "size": 120_000 + i, "format": "JPEG", "orientation": 1},
                            "annotation": {"name": f"p/Annotations/{i:07d}.xml", "etag": f"0x8DE{i:012X}",
                                           "md5": f"{i + 1:032x}", "size": 600},
                            "width": 500, "height": 375, "split": split_of(name, 0.2),
                            "objects": [{"name": "circle", "label": 1, "bbox": [10.0, 20.0, 110.0, 120.0],
                                         "difficult": False, "truncated": False}] * (1 + i % 3)})
        folder = work / f"m{count}"
        (folder / "shards").mkdir(parents=True)
        index, shards = build_manifest(project="p", container="datasets", prefix="p/", entries=entries,
                                       label_map=LabelMap().extended(["circle"]), validation_fraction=0.2,
                                       buckets=bucket_count(count))
        for shard in shards:
            (folder / shard.blob).write_bytes(shard.data)
        (folder / "index.json").write_bytes(manifest_bytes(index))
        (folder / "single.json").write_text(json.dumps({"schema": SCHEMA_V1, "images": entries}))
        del entries
        streamed = child({}, "trainer-pass", str(folder / "index.json"))
        whole = child({}, "trainer-pass", str(folder / "single.json"), "--single-document")
        say(f"[manifest] {count} entries: streamed {streamed}, one document {whole}")
        results[count] = {"streamed": streamed, "one_document": whole, "shards": len(shards)}
    return results


def run(voc: int, small: list[int], entries: list[int]) -> dict:
    from local_mode.azurite import Azurite
    from shared.adapters.azure_storage import AzureBlobStore
    from shared.settings import Settings

    def in_own_azurite(project: str, kind: str, count: int, relist: bool) -> dict:
        """A fresh Azurite per scenario: Azurite's own metadata store slows as it fills, Azure's does not."""
        with Azurite() as azurite, tempfile.TemporaryDirectory() as scratch:
            env = {"DataStorage": azurite.connection_string, "LOG_LEVEL": "WARNING"}
            settings = Settings(storage_connection_string=azurite.connection_string)
            store = AzureBlobStore.from_settings(settings)
            store.ensure_container(settings.datasets_container)
            return scenario(store, env, settings.datasets_container, project, kind, count, Path(scratch), relist)

    figures: dict = {}
    if voc:
        figures["voc"] = in_own_azurite("voc", "voc", voc, True)
    figures["small"] = {n: in_own_azurite(f"small{n}", "small", n, False) for n in small}
    figures["small_in_memory"] = {}
    for n in small:
        figures["small_in_memory"][n] = child({}, "memory", str(n))
        say(f"[snapshot] {n} small images, in-memory store: {figures['small_in_memory'][n]}")
    if len(small) >= 2:
        a, b = small[0], small[-1]
        fa, fb = figures["small"][a]["full"], figures["small"][b]["full"]
        ma, mb = figures["small_in_memory"][a], figures["small_in_memory"][b]
        figures["small_growth"] = {"images_ratio": b / a, "full_time_ratio": round(fb["seconds"] / fa["seconds"], 2),
                                   "full_peak_rss_ratio": round(fb["peak_rss_mb"] / fa["peak_rss_mb"], 2),
                                   "in_memory_full_time_ratio": round(mb["full"]["seconds"] / ma["full"]["seconds"], 2),
                                   "in_memory_plus_100_time_ratio": round(
                                       mb["plus_100"]["seconds"] / max(ma["plus_100"]["seconds"], 0.01), 2)}
    with tempfile.TemporaryDirectory() as scratch:
        figures["trainer_manifest_pass"] = manifests(Path(scratch), entries)
    if len(entries) >= 2:
        lo, hi = figures["trainer_manifest_pass"][entries[0]], figures["trainer_manifest_pass"][entries[-1]]
        figures["trainer_peak_rss_ratio"] = {
            "streamed": round(hi["streamed"]["peak_rss_mb"] / lo["streamed"]["peak_rss_mb"], 2),
            "one_document": round(hi["one_document"]["peak_rss_mb"] / lo["one_document"]["peak_rss_mb"], 2)}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voc", type=int, default=10_000)
    parser.add_argument("--small", type=int, nargs="*", default=[10_000, 50_000])
    parser.add_argument("--entries", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--json")
    parser.add_argument("--measure", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--changes", help=argparse.SUPPRESS)
    parser.add_argument("--relist", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--single-document", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        what, target = args.measure
        if what == "snapshot":
            result = measure_snapshot(target, args.changes, args.relist)
        elif what == "memory":
            result = measure_snapshot_in_memory(int(target))
        else:
            result = measure_trainer_pass(target, args.single_document)
        print(json.dumps(result))
        return
    figures = run(args.voc, args.small, args.entries)
    report(figures, args.json)


if __name__ == "__main__":
    main()
