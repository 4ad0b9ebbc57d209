"""Benchmark: the labelling loop's end in a real Label Studio (issue: Label Studio loop). Side by side in one run,
on one Azurite and one Label Studio (SQLite, as `label-studio start` runs it):

  * pushing: 1,000 exported images (64x64 JPEGs, each with the model's box as a prediction) through the adapter
    (the images uploaded in one call without tasks, then one JSON import of every task with its prediction), against
    what a script would do task by task (upload the image, which makes its task, then post its prediction) for 100;
  * coming back: `--submits` labellers' submits through Label Studio's API, each timed from the submit to its
    annotation written into `datasets/` by the webhook route (Label Studio → local functions host → Blob), and to
    its upload event recorded in the ledger (the local event source polls every 0.25 s, Event Grid's stand-in).

    python -m bench.label_studio [--tasks 1000] [--naive 100] [--submits 30] [--json F]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import threading
import time
from pathlib import Path
from statistics import median

from PIL import Image

from bench import report, say
from local_mode.azurite import Azurite
from local_mode.functions_host import FunctionsHost
from local_mode.label_studio import LocalLabelStudio
from local_mode.loop import LocalLoop
from shared.adapters.label_studio import LabelStudio
from shared.ports import LabellingTask
from shared.settings import Settings

PROJECT = "bench"


def image(i: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (i * 7 % 255, i * 13 % 255, 90)).save(buffer, "JPEG")
    return buffer.getvalue()


def tasks(count: int, offset: int = 0) -> list[LabellingTask]:
    box = {"type": "rectanglelabels", "from_name": "label", "to_name": "image", "original_width": 64,
           "original_height": 64, "image_rotation": 0, "score": 0.4,
           "value": {"x": 10, "y": 10, "width": 40, "height": 40, "rotation": 0, "rectanglelabels": ["circle"]}}
    return [LabellingTask(f"prod-{offset + i:016x}", image(offset + i), i + 1, "tfod-bench:1", 0.4,
                          [box | {"id": f"p{i}"}]) for i in range(count)]


def naive_push(tool: LabelStudio, project_id: int, batch: list[LabellingTask]) -> None:
    """Task by task: the image upload makes the task, then its prediction is posted."""
    for task in batch:
        made = tool._call("POST", f"/api/projects/{project_id}/import",
                          files=[("file", (f"{task.name}.jpg", task.image, "image/jpeg"))]).json()
        task_id = max(t["id"] for t in tool.tasks(project_id)) if made["task_count"] else None
        tool._call("POST", "/api/predictions/", json={"task": task_id, "model_version": task.model_version,
                                                       "score": task.score, "result": task.result})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--naive", type=int, default=100)
    parser.add_argument("--submits", type=int, default=30)
    parser.add_argument("--json")
    args = parser.parse_args()
    with Azurite() as azurite, LocalLabelStudio() as studio, tempfile.TemporaryDirectory() as scratch:
        host = FunctionsHost(0)
        settings = Settings.from_env().with_overrides(
            storage_connection_string=azurite.connection_string, public_host=host.host,
            label_studio_url=studio.url, label_studio_token=studio.token, label_studio_webhook_secret="bench-secret")
        loop = LocalLoop(settings, azurite.blob_endpoint, Path(scratch), say=lambda _: None)
        loop.blobs.ensure_container(settings.datasets_container)
        tool = LabelStudio(studio.url, studio.token)
        try:
            figures = {"push": push(tool, args), "submit_to_ledger": come_back(loop, settings, tool, args)}
        finally:
            loop.close()
            host.close()
    report(figures, args.json)


def push(tool: LabelStudio, args: argparse.Namespace) -> dict:
    batch = tasks(args.tasks)
    target = tool.ensure_project(PROJECT, ["circle"])
    say(f"[bench] pushing {len(batch)} tasks through the adapter")
    started = time.perf_counter()
    counts = tool.push(target, batch)
    adapter = time.perf_counter() - started
    again = time.perf_counter()
    repeat = tool.push(target, batch)
    second = time.perf_counter() - again
    naive_target = tool.ensure_project(PROJECT + "-naive", ["circle"])
    say(f"[bench] pushing {args.naive} tasks one by one")
    started = time.perf_counter()
    naive_push(tool, naive_target.id, tasks(args.naive, offset=10**6))
    naive = time.perf_counter() - started
    return {"tasks": len(batch), "pushed": counts["pushed"], "adapter_seconds": round(adapter, 2),
            "adapter_tasks_per_second": round(len(batch) / adapter, 1),
            "second_push_seconds": round(second, 2), "second_push_added": repeat["pushed"],
            "task_by_task": args.naive, "task_by_task_seconds": round(naive, 2),
            "task_by_task_tasks_per_second": round(args.naive / naive, 1),
            "speedup": round((len(batch) / adapter) / (args.naive / naive), 1)}


def come_back(loop: LocalLoop, settings: Settings, tool: LabelStudio, args: argparse.Namespace) -> dict:
    target = tool.ensure_project(PROJECT, ["circle"])
    tool.ensure_webhook(target, settings.public_url(f"/api/labelling/{PROJECT}/label-studio"),
                        settings.label_studio_webhook_secret or "")
    delivered: dict[str, float] = {}
    original = loop.source.deliver

    def deliver(events: list[dict]) -> None:
        original(events)
        now = time.perf_counter()
        for event in events:
            delivered.setdefault(event["subject"].rsplit("/blobs/", 1)[-1], now)

    loop.source.deliver = deliver
    loop.source.poll()  # what is there before the submits
    stop = threading.Event()
    poller = threading.Thread(target=loop.source.run, args=(stop, 0.25), daemon=True)
    poller.start()
    written, recorded = [], []
    try:
        for task in list(tool.tasks(target.id))[: args.submits]:
            name = f"{PROJECT}/label-studio/{task['data']['name']}.json"
            started = time.perf_counter()
            tool.submit(task["id"], [{"id": "a", "type": "rectanglelabels", "from_name": "label", "to_name": "image",
                                      "original_width": 64, "original_height": 64, "image_rotation": 0,
                                      "value": {"x": 12, "y": 12, "width": 40, "height": 40, "rotation": 0,
                                                "rectanglelabels": ["circle"]}}])
            while loop.blobs.info(settings.datasets_container, name) is None:
                time.sleep(0.01)
            written.append(time.perf_counter() - started)
            while name not in delivered:
                time.sleep(0.01)
            recorded.append(delivered[name] - started)
    finally:
        stop.set()
        poller.join()
    return {"submits": len(written), "to_datasets_median_s": round(median(written), 3),
            "to_datasets_max_s": round(max(written), 3), "to_ledger_median_s": round(median(recorded), 3),
            "to_ledger_max_s": round(max(recorded), 3)}


if __name__ == "__main__":
    main()
