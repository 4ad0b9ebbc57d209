"""Benchmark: the trainer's exports against its SavedModel, on the demo's own data (240 images of three shapes, 600
steps, batch 8: the main command's model), and each format's speed on one image at a time.

One trainer run with `--export onnx --export tflite`; from its metrics.json: each format's size, conversion time,
mAP@0.5 on the validation images against the SavedModel's on the same images, and the largest differences; then
each runtime detecting the validation images one by one (the SavedModel with TensorFlow, model.onnx with ONNX
Runtime, both TFLite models with the TFLite interpreter; one thread each), median ms an image.
Targets (issue: exports): |ΔmAP@0.5| ≤ 0.005 for ONNX; the int8 TFLite figure reported; the stage timings show
what the conversions add to a run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from local_mode.azurite import REPO_ROOT, Azurite
from local_mode.demo_data import vott_export
from shared.adapters.azure_storage import AzureBlobStore
from shared.blob_folders import download_folder
from shared.dataset.service import DatasetBuilder
from shared.settings import Settings

BASE = REPO_ROOT / "trainer_image" / "base_models" / "ssd_mobilenet_v2_128"


def train(store: AzureBlobStore, settings: Settings, steps: int, images: int) -> str:
    """The demo's dataset trained by the trainer with every export; the package's folder."""
    store.ensure_container(settings.datasets_container)
    for name, data in vott_export(images, seed=0).items():
        store.write(settings.datasets_container, f"demo/{name}", data)
    builder = DatasetBuilder(store, settings)
    manifest = builder.publish(builder.build("demo"))
    for path in BASE.rglob("*"):
        if path.is_file():
            store.write(settings.models_container, f"base/{path.relative_to(BASE).as_posix()}", path.read_bytes())
    env = os.environ | {"DataStorage": settings.storage_connection_string, "PYTHONPATH": str(REPO_ROOT)}
    subprocess.run([sys.executable, "-m", "trainer_image.train", "--manifest",
                    f"blob://{settings.manifests_container}/{manifest}", "--base-model",
                    f"blob://{settings.models_container}/base", "--model-dir",
                    f"blob://{settings.models_container}/demo/b1/model", "--checkpoint-url",
                    f"{settings.checkpoints_container}/demo/b1", "--num-steps", str(steps), "--batch-size", "8",
                    "--export", "onnx", "--export", "tflite"], cwd=REPO_ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return "demo/b1/model"


def speeds(package: Path, validation: list[str]) -> dict[str, float]:
    """Median ms an image of each runtime on the validation images, one image a call, one thread."""
    from trainer_image.evaluation import validation_pass  # noqa: F401 - applies the OD API fixes first
    from trainer_image.report_assets import read_examples
    from trainer_image.serving import runtimes
    from trainer_image.tf_compat import tf
    from trainer_image.tflite_export import tflite_detector
    from trainer_image.validation_pass import decode

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    images = [decode(encoded)[None] for _, encoded, _, _ in read_examples(validation)]
    detectors = {"SavedModel (TensorFlow)": runtimes.tensorflow_model(package / "saved_model")[0],
                 "model.onnx (ONNX Runtime)": runtimes.onnx_model(package / "model.onnx", 1, 1)[0]}
    for name in ("fp16", "int8"):
        detectors[f"model_{name}.tflite (TFLite)"] = tflite_detector(package / f"model_{name}.tflite",
                                                                     package / "pipeline.config")
    result = {}
    for name, detect in detectors.items():
        for image in images[:5]:
            detect(image)  # warm-up
        times = []
        for image in images:
            started = time.perf_counter()
            detect(image)
            times.append((time.perf_counter() - started) * 1000)
        result[name] = statistics.median(times)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--images", type=int, default=240)
    args = parser.parse_args()
    with Azurite() as azurite, tempfile.TemporaryDirectory() as scratch:
        settings = Settings(storage_connection_string=azurite.connection_string)
        store = AzureBlobStore.from_settings(settings)
        print(f"training the demo model ({args.images} images, {args.steps} steps) with every export ...",
              file=sys.stderr, flush=True)
        folder = train(store, settings, args.steps, args.images)
        package = download_folder(store, settings.models_container, folder, Path(scratch) / "package")
        metrics = json.loads((package / "metrics.json").read_text())
        timings = json.loads((package / "training.json").read_text())["timings_seconds"]
        ms = speeds(package, _validation_records(store, settings, Path(scratch)))
    print(f"SavedModel: mAP@0.5 {metrics['map_50']:.3f}, mAP {metrics['map']:.3f} on "
          f"{metrics['validation_images']} validation images")
    print("| format | size MB | converted in s | mAP@0.5 | SavedModel's | drop | largest box / score difference | "
          "lost / new detections |\n| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, export in metrics["exports"].items():
        parity = export.get("parity") or {}
        if "error" in export or "error" in parity:
            print(f"| {name} | not usable: {export.get('error') or parity.get('error')} |")
            continue
        print(f"| {name} | {export['bytes'] / 1e6:.2f} | {export['seconds']:.1f} | {parity['map_50']:.3f} | "
              f"{parity['saved_model']['map_50']:.3f} | {parity['map_50_drop']:+.4f} | "
              f"{parity['max_box_difference']:.2e} / {parity['max_score_difference']:.2e} | "
              f"{parity.get('lost_detections', '-')} / {parity.get('new_detections', '-')} |")
    print("| runtime | ms an image (median, one thread) |\n| --- | --- |")
    for name, value in ms.items():
        print(f"| {name} | {value:.2f} |")
    print("trainer stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))


def _validation_records(store: AzureBlobStore, settings: Settings, scratch: Path) -> list[str]:
    """The validation split's TFRecords, as the trainer built them (its shard cache in the checkpoints container)."""
    cache = download_folder(store, settings.checkpoints_container, "demo/tfrecord-cache", scratch / "cache")
    return sorted(str(p) for p in cache.rglob("*") if p.is_file() and "validation" in p.name)


if __name__ == "__main__":
    main()
