"""The labelling loop, shown end to end on one machine: production traffic the live model finds hard, the export
of what it was unsure about, a person's labels (here the demo data's truth, applied as a labeller would correct
the pre-annotations), and the files dropped back into the dataset for the next run."""

from __future__ import annotations

import hashlib
import io
import json
import random
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from PIL import Image

from local_mode import demo_data
from shared.adapters.label_studio import LabelStudio
from shared.dataset.manifest import PRODUCTION_PREFIX
from shared.dataset.voc import parse_voc
from shared.labelling.export_files import ARCHIVE, MANIFEST, unzipped
from shared.pipeline.labelling import Labelling
from shared.pipeline.labelling_tool import RETURN_FOLDER
from shared.ports import BlobStore
from shared.serving import endpoint_name
from shared.settings import Settings

Truth = dict[str, list[demo_data.Shape]]
"""The shapes in each production image, by the image's SHA-256."""


HARD_FADE = 0.45
"""How far the harder images' shapes are washed out toward the background (see `demo_data.make_scene`)."""


def hard_scene(rng: random.Random) -> tuple[bytes, list[demo_data.Shape]]:
    """An image the demo's model has not met: three shapes, washed out (light or a camera the training data lacks)."""
    return _scene(rng, 3, HARD_FADE)


def _scene(rng: random.Random, count: int, fade: float = 0.0) -> tuple[bytes, list[demo_data.Shape]]:
    image, shapes = demo_data.make_scene(rng, 128, count, fade=fade)
    return demo_data.jpeg_bytes(image), shapes


def production_images(count: int, seed: int, hard_share: float = 0.3) -> list[tuple[bytes, list[demo_data.Shape]]]:
    """Production as it usually looks: mostly images like the training data (two shapes), and a share of harder
    ones the model has not met — the ones worth a labeller's time."""
    rng, images = random.Random(seed), []
    for _ in range(count):
        images.append(hard_scene(rng) if rng.random() < hard_share else _scene(rng, 2))
    return images


def send(uri: str, key: str, images: list[tuple[bytes, list[demo_data.Shape]]]) -> Truth:
    """Score each image through the endpoint with its key, as a client in production would."""
    truth: Truth = {}
    for data, shapes in images:
        request = urllib.request.Request(uri, data=data, method="POST", headers={
            "Content-Type": "image/jpeg", "Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            answer.read()
        truth[hashlib.sha256(data).hexdigest()] = shapes
    return truth


def wait_collected(labelling: Labelling, settings: Settings, project: str, since: datetime, count: int,
                   timeout: float = 60.0) -> int:
    """Until the collector has stored `count` requests since `since` (it flushes every second or so)."""
    deadline, seen = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        rows = labelling.collected.read(endpoint_name(settings, project), since, datetime.now(UTC))
        seen = sum(1 for _ in rows.samples())
        if seen >= count:
            break
        time.sleep(0.5)
    return seen


def relabel(blobs: BlobStore, settings: Settings, project: str, export_id: str, truth: Truth,
            pick: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None) -> dict[str, bytes]:
    """The export's images with the true boxes in place of the model's, as a labeller hands them back: the same
    file names, Pascal VOC. Images whose truth the demo does not know are left out. `pick` narrows the items."""
    unpacked = unzipped(blobs.read(settings.labelling_container, f"{project}/{export_id}/{ARCHIVE}").data)
    document = json.loads(unpacked[MANIFEST])
    items = pick(document["items"]) if pick else document["items"]
    files: dict[str, bytes] = {}
    for item in items:
        if item["image_sha256"] not in truth:  # the release's smoke test, the held-out checks: nobody knows them
            continue
        image = unpacked[item["image"]]
        pre = parse_voc(unpacked[item["annotation"]], max_bytes=settings.max_annotation_bytes)
        width, height = Image.open(io.BytesIO(image)).size
        files[item["image"]] = image
        files[item["annotation"]] = demo_data.voc_xml(pre.filename or item["image"].split("/")[-1], width, height,
                                                      truth[item["image_sha256"]])
    return files


def labelled_production(images: list[tuple[bytes, list[demo_data.Shape]]], count: int, seed: int) -> dict[str, bytes]:
    """`count` production images chosen at random, labelled: the baseline an uncertainty pick must beat."""
    chosen = random.Random(seed).sample(images, min(count, len(images)))
    files = {}
    for data, shapes in chosen:
        stem = f"prod-{hashlib.sha256(data).hexdigest()[:16]}"
        files[f"JPEGImages/{stem}.jpg"] = data
        files[f"Annotations/{stem}.xml"] = demo_data.voc_xml(f"{stem}.jpg", 128, 128, shapes)
    return files



def label_in_label_studio(tool: LabelStudio, project_url: str, truth: Truth) -> int:
    """Each pushed task the demo knows the truth of, labelled in Label Studio as a person would: the model's boxes
    replaced by the true ones and submitted, least sure first. Its webhook brings each one back."""
    project_id = int(project_url.rstrip("/").split("/")[-2])
    labelled = 0
    for task in sorted(tool.tasks(project_id), key=lambda t: t["data"].get("rank", 0)):
        digest = task["data"].get("name", "").removeprefix(PRODUCTION_PREFIX)
        shapes = next((s for sha, s in truth.items() if digest and sha.startswith(digest)), None)
        if shapes is None or task.get("total_annotations"):  # not a demo request, or labelled already
            continue
        width, height = Image.open(io.BytesIO(tool.image(task["data"]["image"]))).size
        tool.submit(task["id"], [
            {"id": f"t{i}", "type": "rectanglelabels", "from_name": "label", "to_name": "image",
             "original_width": width, "original_height": height, "image_rotation": 0,
             "value": {"x": s.xmin * 100 / width, "y": s.ymin * 100 / height, "width": (s.xmax - s.xmin) * 100 / width,
                       "height": (s.ymax - s.ymin) * 100 / height, "rotation": 0, "rectanglelabels": [s.name]}}
            for i, s in enumerate(shapes)])
        labelled += 1
    return labelled


def wait_returned(blobs: BlobStore, settings: Settings, project: str, count: int, timeout: float = 60.0) -> int:
    """Until Label Studio's webhook calls have written `count` labelled tasks into the dataset."""
    deadline, seen = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        seen = sum(b.name.endswith(".json") for b in blobs.list(settings.datasets_container,
                                                                  f"{project}/{RETURN_FOLDER}/"))
        if seen >= count:
            break
        time.sleep(0.3)
    return seen
