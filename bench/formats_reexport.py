"""Benchmark: a labelling tool re-exports its whole annotation file (issue: formats). Side by side in one run, each
in a fresh Azurite, each snapshot in a process of its own:

  * COCO: 10,000 VOC-sized images (500x375 JPEG) labelled in one COCO file; a snapshot from scratch (every image
    downloaded and checked), then the tool's re-export with +1% images (the whole file again, 1% longer) and the
    next snapshot from the ledger's names (the new images and the file): its time as a share of the first;
  * Pascal VOC, the same images with one XML each, the same +1%: the figure to match (the catalog's own).

    python -m bench.formats_reexport [--images 10000] [--no-voc] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import report, say
from bench.snapshot_scale import child as snapshot_child
from bench.snapshot_scale import scenario as voc_scenario

ANNOTATIONS = "annotations/instances_default.json"


def _coco_chunk(args: tuple[str, int, int]) -> tuple[dict[str, bytes], list[dict]]:
    """Images of `tfrecords_build.voc_images` under images/, and their COCO image and box records."""
    from bench import tfrecords_build
    from shared.dataset.voc import parse_voc

    project, start, count = args
    files, records = {}, []
    for name, data in tfrecords_build.voc_images(count, start=start).items():
        stem = name.rsplit("/", 1)[1].rsplit(".", 1)[0]
        if name.endswith(".jpg"):
            files[f"{project}/images/{stem}.jpg"] = data
        else:
            voc = parse_voc(data, max_bytes=1 << 20)
            records.append({"file_name": f"{stem}.jpg", "width": voc.size[0], "height": voc.size[1],
                            "boxes": [[o.name, o.xmin, o.ymin, o.xmax - o.xmin, o.ymax - o.ymin] for o in voc.objects]})
    return files, records


def coco_document(records: list[dict]) -> bytes:
    """The whole file as a tool writes it on every export: every image, every box, the categories."""
    names = sorted({b[0] for r in records for b in r["boxes"]})
    images, annotations = [], []
    for image_id, record in enumerate(sorted(records, key=lambda r: r["file_name"]), start=1):
        images.append({"id": image_id, "file_name": record["file_name"], "width": record["width"],
                       "height": record["height"]})
        for name, *bbox in record["boxes"]:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "iscrowd": 0,
                                "category_id": names.index(name) + 1, "bbox": bbox, "area": bbox[2] * bbox[3]})
    return json.dumps({"images": images, "annotations": annotations,
                       "categories": [{"id": i + 1, "name": n} for i, n in enumerate(names)]}).encode()


def upload_coco(store, container: str, project: str, start: int, count: int, records: list[dict]) -> list[str]:
    """Generate and upload `count` images; `records` grows by theirs; returns the image blob names."""
    chunks = [(project, s, min(500, start + count - s)) for s in range(start, start + count, 500)]
    names: list[str] = []
    with mp.get_context("fork").Pool(2) as workers, ThreadPoolExecutor(8) as pool:
        for files, chunk_records in workers.imap(_coco_chunk, chunks):
            list(pool.map(lambda item: store.write(container, *item), files.items()))
            names.extend(files)
            records.extend(chunk_records)
    return names


def coco_scenario(store, env: dict[str, str], container: str, count: int, work: Path) -> dict:
    project, records = "coco", []
    say(f"[formats] {count} images in one COCO file: generating and uploading")
    upload_coco(store, container, project, 0, count, records)
    store.write(container, f"{project}/{ANNOTATIONS}", coco_document(records))
    full = snapshot_child(env, "snapshot", project)
    say(f"[formats] COCO from scratch: {full}")
    added = upload_coco(store, container, project, 10_000_000, max(count // 100, 1), records)
    document = coco_document(records)
    store.write(container, f"{project}/{ANNOTATIONS}", document)  # the re-export: the whole file again
    changes = work / "coco-changes.json"
    changes.write_text(json.dumps(sorted([*added, f"{project}/{ANNOTATIONS}"])))
    incremental = snapshot_child(env, "snapshot", project, "--changes", str(changes))
    say(f"[formats] COCO re-exported with +1% images, from the ledger's names: {incremental}")
    return {"images": count, "coco_file_mb": round(len(document) / 1e6, 1), "full": full,
            "reexport_plus_1pct": incremental,
            "reexport_share_of_full": round(incremental["seconds"] / full["seconds"], 3)}


def run(images: int, voc: bool) -> dict:
    from local_mode.azurite import Azurite
    from shared.adapters.azure_storage import AzureBlobStore
    from shared.settings import Settings

    figures: dict = {}
    for kind in ("coco", "voc") if voc else ("coco",):
        with Azurite() as azurite, tempfile.TemporaryDirectory() as scratch:
            env = {"DataStorage": azurite.connection_string, "LOG_LEVEL": "WARNING"}
            settings = Settings(storage_connection_string=azurite.connection_string)
            store = AzureBlobStore.from_settings(settings)
            store.ensure_container(settings.datasets_container)
            if kind == "coco":
                figures["coco"] = coco_scenario(store, env, settings.datasets_container, images, Path(scratch))
            else:
                figures["voc"] = voc_scenario(store, env, settings.datasets_container, "voc", "voc", images,
                                              Path(scratch), False)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--no-voc", action="store_true", help="skip the Pascal VOC scenario beside it")
    parser.add_argument("--json")
    args = parser.parse_args()
    report(run(args.images, not args.no_voc), args.json)


if __name__ == "__main__":
    main()
