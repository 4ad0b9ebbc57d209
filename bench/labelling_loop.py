"""Benchmark: the labelling loop (issue: labelling loop). Side by side in one run, on one Azurite:

  * what the selection is worth: a champion trained on the demo's shapes until it is sure of images like them
    scores 300 production images (most like its training data, a third harder: three washed-out shapes) through
    score.py, as the endpoint would, and the collector's rows go through the real export; the exported images,
    labelled from the demo's truth, and the same number of production images chosen at random, labelled the same
    way, each retrain the champion (same steps, warm start), `--repeats` times per arm (a new random draw each
    time), beside a control retrain with no production images — all evaluated on the same validation images (the
    base dataset's and 100 held-out harder images), with the champion measured on those too;
  * what the export costs: 10,000 collected rows (64x64 images inside) read once from Blob (8 at a time, as fast
    as they can be read), against the whole export (read, parse, select, write the picks).

    python -m bench.labelling_loop [--production 300] [--picks 12] [--steps 1500] [--retrain-steps 150] [--repeats 3]
                                   [--rows 10000] [--json F]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import mean

from bench import report, say
from local_mode import demo_data, labelling_demo

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "lab"
BASE_CONFIG = ROOT / "trainer_image" / "base_models" / "ssd_mobilenet_v2_128" / "pipeline.config"



def named_for(split: str, stem: str, folder: str = "") -> str:
    """`stem` with a suffix that puts the image in `split` (the split is a stable hash of the name): the bench keeps
    every production image in training, so both challengers are measured on the same validation images."""
    from shared.dataset.manifest import split_of

    for k in range(1000):
        name = f"{stem}-{k}"
        if split_of(f"{folder}JPEGImages/{name}.jpg", 0.2) == split:
            return name
    raise AssertionError("no name found")


def as_voc(images: list[tuple[bytes, list]], split: str, stem_of, folder: str) -> dict[str, bytes]:
    files = {}
    for data, shapes in images:
        stem = named_for(split, stem_of(data), folder)
        files[f"{folder}JPEGImages/{stem}.jpg"] = data
        files[f"{folder}Annotations/{stem}.xml"] = demo_data.voc_xml(f"{stem}.jpg", 128, 128, shapes)
    return files


class Bench:
    def __init__(self, azurite, work: Path) -> None:
        from shared.adapters.azure_storage import AzureBlobStore, AzureTableStore
        from shared.settings import Settings

        self.settings = Settings(storage_connection_string=azurite.connection_string)
        self.blobs = AzureBlobStore.from_settings(self.settings)
        self.tables = AzureTableStore.from_settings(self.settings)
        self.env = os.environ | {"DataStorage": azurite.connection_string, "PYTHONPATH": str(ROOT),
                                 "LOG_LEVEL": "WARNING"}
        self.work = work
        for container in (self.settings.datasets_container, self.settings.models_container,
                          self.settings.inference_data_container):
            self.blobs.ensure_container(container)
        self.blobs.write(self.settings.models_container, "base-models/ssd/pipeline.config", BASE_CONFIG.read_bytes())

    def train(self, project: str, files: dict[str, bytes], steps: int, champion: str | None = None) -> dict:
        """Upload `files` as `project`, snapshot it, run the trainer; the metrics it wrote."""
        from shared.dataset.service import DatasetBuilder

        for name, data in files.items():
            self.blobs.write(self.settings.datasets_container, f"{project}/{name}", data)
        builder = DatasetBuilder(self.blobs, self.settings, persist=False)
        manifest = builder.publish(builder.build(project))
        model_dir = self.work / project / "model"
        args = ["--manifest", f"blob://{self.settings.manifests_container}/{manifest}",
                "--base-model", f"blob://{self.settings.models_container}/base-models/ssd",
                "--model-dir", str(model_dir), "--checkpoint-url", f"checkpoints/{project}",
                "--num-steps", str(steps), "--batch-size", "8"]
        if champion:
            args += ["--champion", champion, "--warm-start"]
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "trainer_image.train", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(done.stdout[-3000:] + done.stderr[-3000:])
        metrics = json.loads((model_dir / "metrics.json").read_text())
        return {"model_dir": str(model_dir), "seconds": round(time.perf_counter() - started, 1), "metrics": metrics}


def score_through_score_py(model_dir: str, images: list[tuple[bytes, list]]) -> list[tuple[dict, dict]]:
    """The endpoint's rows for each image (model_inputs, model_outputs), made by score.py's own functions."""
    os.environ["AZUREML_MODEL_DIR"] = model_dir
    os.environ["MODEL_VERSION"] = "1"
    from trainer_image.serving import score

    score.init()
    rows = []
    for index, (data, _) in enumerate(images):
        image = score.decode_image(data)
        result = score.detect(image, 0.3, 20)
        rows.append(({"request_id": f"r{index}", "image_sha256": hashlib.sha256(data).hexdigest(),
                      "image_bytes": len(data), "width": image.width, "height": image.height,
                      "image_base64": base64.b64encode(data).decode()},
                     {"request_id": f"r{index}", "detections": json.dumps(result["detections"]),
                      "candidates": json.dumps(result["candidates"]), "model_version": "1"}))
    return rows


def write_collected(bench: Bench, project: str, rows: list[tuple[dict, dict]], when: datetime) -> None:
    """As the collector stores them: a file per 100 rows and collection, under the endpoint's hour folder."""
    from shared.serving import endpoint_name

    endpoint = endpoint_name(bench.settings, project)
    for start in range(0, len(rows), 100):
        part = rows[start:start + 100]
        for collection, side in (("model_inputs", 0), ("model_outputs", 1)):
            event = {"specversion": "1.0", "id": f"{start}", "type": f"azureml.inference.{collection}",
                     "time": when.isoformat(), "data": [r[side] for r in part]}
            bench.blobs.write(bench.settings.inference_data_container,
                              f"{endpoint}/blue/{collection}/{when:%Y/%m/%d/%H}/{start:06d}.jsonl",
                              (json.dumps(event) + "\n").encode())


def go_live(bench: Bench, project: str, folder: str, live_since: datetime) -> None:
    from shared.clock import iso
    from shared.pipeline.records import Records, ReleaseState

    Records(bench.tables, bench.settings).save_release(ReleaseState(
        project=project, phase="live", live_slot="blue", live_model_name=f"tfod-{project}", live_model_version="1",
        live_model_folder=folder, live_since=iso(live_since)))


def selection_value(bench: Bench, args: argparse.Namespace) -> dict:
    """The champion, its production traffic through the real export, and the two arms retrained `--repeats` times
    each (the random arm with a new draw each time), so a gap can be told from run-to-run noise."""
    from shared.pipeline.labelling import Labelling

    base = demo_data.vott_export(args.base_images, seed=5)
    rng = random.Random(11)
    held_out = [labelling_demo.hard_scene(rng) for _ in range(100)]
    validation = as_voc(held_out, "validation", lambda d: "hard-" + hashlib.sha256(d).hexdigest()[:8], "hard/")
    say(f"[labelling] champion: {args.base_images} demo images, {args.steps} steps")
    champion = bench.train("champion", base | validation, args.steps)
    say(f"[labelling] champion mAP@0.5 {champion['metrics']['map_50']:.3f} ({champion['seconds']} s)")
    production = labelling_demo.production_images(args.production, seed=99)
    hard = {hashlib.sha256(data).hexdigest() for data, shapes in production if len(shapes) == 3}
    rows = score_through_score_py(champion["model_dir"], production)
    # the champion's package goes where a release would have put it; its collected rows where the collector would
    for path in Path(champion["model_dir"]).rglob("*"):
        if path.is_file():
            bench.blobs.write(bench.settings.models_container,
                              f"{PROJECT}/champion/{path.relative_to(champion['model_dir']).as_posix()}",
                              path.read_bytes())
    now = datetime.now(UTC)
    go_live(bench, PROJECT, f"{PROJECT}/champion", now - timedelta(hours=1))
    write_collected(bench, PROJECT, rows, now - timedelta(minutes=5))
    labelling = Labelling(bench.tables, bench.blobs, bench.settings.with_overrides(labelling_max_images=args.picks))
    export = labelling.export(PROJECT, now)
    document = json.loads(bench.blobs.read(bench.settings.labelling_container,
                                           f"{PROJECT}/{export['export_id']}/export.json").data)
    picked = {item["image_sha256"] for item in document["items"]}
    # labelled from the truth as a person would; renamed so that every production image trains (see named_for)
    chosen = [p for p in production if hashlib.sha256(p[0]).hexdigest() in picked]
    results = {"champion": {"map_50": champion["metrics"]["map_50"], "map": champion["metrics"]["map"],
                            "base_images": args.base_images, "steps": args.steps, "seconds": champion["seconds"]},
               "production": {"images": len(production), "harder": len(hard)},
               "export": {k: export.get(k) for k in ("requests", "exported", "skipped", "reasons")}
               | {"harder_picked": len(picked & hard)}}
    for label in ("uncertain", "random"):
        runs = []
        for repeat in range(args.repeats):
            images = chosen if label == "uncertain" else random.Random(3 + repeat).sample(production, len(chosen))
            files = as_voc(images, "train", lambda d: "prod-" + hashlib.sha256(d).hexdigest()[:16], "labelled/")
            run = bench.train(f"retrain-{label}-{repeat}", base | validation | files, args.retrain_steps,
                              champion["model_dir"])
            metrics = run["metrics"]
            runs.append({"map_50": metrics["map_50"], "champion_map_50_same_images": metrics["champion"]["map_50"],
                         "gain_map_50": round(metrics["map_50"] - metrics["champion"]["map_50"], 4),
                         "harder_images": sum(hashlib.sha256(d).hexdigest() in hard for d, _ in images),
                         "validation_images": metrics["validation_images"], "seconds": run["seconds"]})
            say(f"[labelling] retrain {repeat + 1}/{args.repeats} with {len(images)} {label} production images: "
                f"{runs[-1]}")
        gains = [r["gain_map_50"] for r in runs]
        results[label] = {"images_added": len(chosen), "runs": runs, "gain_map_50_mean": round(mean(gains), 4),
                          "gain_map_50_min": min(gains), "gain_map_50_max": max(gains)}
    control = bench.train("retrain-control", base | validation, args.retrain_steps, champion["model_dir"])["metrics"]
    results["control"] = {"images_added": 0, "gain_map_50": round(control["map_50"] - control["champion"]["map_50"], 4)}
    say(f"[labelling] control retrain, no production images: {results['control']}")
    results["uncertain_gain_over_random_map_50"] = round(results["uncertain"]["gain_map_50_mean"] -
                                                         results["random"]["gain_map_50_mean"], 4)
    results["arms_separate"] = results["uncertain"]["gain_map_50_min"] > results["random"]["gain_map_50_max"]
    return results


def export_cost(bench: Bench, count: int) -> dict:
    from shared.pipeline.labelling import Labelling
    from shared.serving import endpoint_name

    project = "exportcost"  # + the attempt number
    rng, rows = random.Random(1), []
    for index in range(count):
        image, _ = demo_data.make_scene(rng, 64, 1)
        data = demo_data.jpeg_bytes(image)
        score = rng.random()
        candidate = {"label": "circle", "score": round(score, 3), "box_normalized":
                     {"xmin": 0.1, "ymin": 0.1, "xmax": 0.5, "ymax": 0.5}}
        rows.append(({"request_id": f"x{index}", "image_sha256": hashlib.sha256(data).hexdigest(),
                      "image_bytes": len(data), "width": 64, "height": 64,
                      "image_base64": base64.b64encode(data).decode()},
                     {"request_id": f"x{index}", "candidates": json.dumps([candidate]), "model_version": "1"}))
    now = datetime.now(UTC)
    reads, exports = [], []
    for attempt in range(3):  # three projects with the same rows, taking turns: the best of each, as timeit does
        name = f"{project}{attempt}"
        write_collected(bench, name, rows, now - timedelta(minutes=5))
        go_live(bench, name, f"{name}/model", now - timedelta(hours=1))
        container, prefix = bench.settings.inference_data_container, endpoint_name(bench.settings, name) + "/"

        def size(blob: str, container: str = container) -> int:
            return len(bench.blobs.read(container, blob).data)

        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:  # as fast as they can be read: 8 at a time, as the export reads them
            read = sum(pool.map(size, [i.name for i in bench.blobs.list(container, prefix)]))
        reads.append(time.perf_counter() - started)
        started = time.perf_counter()
        export = Labelling(bench.tables, bench.blobs, bench.settings).export(name, now)
        exports.append(time.perf_counter() - started)
    return {"rows": count, "collected_mb": round(read / 2**20, 1), "read_once_seconds": round(min(reads), 2),
            "export_seconds": round(min(exports), 2), "export_over_read": round(min(exports) / min(reads), 2),
            "all_reads": [round(x, 2) for x in reads], "all_exports": [round(x, 2) for x in exports],
            "exported": export["exported"], "skipped": export["skipped"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-images", type=int, default=240)
    parser.add_argument("--production", type=int, default=300)
    parser.add_argument("--picks", type=int, default=12, help="images labelled per arm: a small labelling budget, "
                        "where the choice matters (with 40, both arms hold enough harder images to learn them)")
    parser.add_argument("--steps", type=int, default=1500, help="the champion's steps: a model trained to the point "
                        "where it is sure of the images like its training data, as a released one is")
    parser.add_argument("--retrain-steps", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=3, help="retrains per arm (the random arm draws anew)")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--json")
    args = parser.parse_args()
    from local_mode.azurite import Azurite

    with Azurite() as azurite, tempfile.TemporaryDirectory() as scratch:
        bench = Bench(azurite, Path(scratch))
        figures = {}
        if args.rows:
            figures["export_cost"] = export_cost(bench, args.rows)
            say(f"[labelling] export of {args.rows} collected rows: {figures['export_cost']}")
        if args.production:
            figures["selection_value"] = selection_value(bench, args)
    report(figures, args.json)


if __name__ == "__main__":
    main()
