"""TFLite exports for phones, cameras and gateways: the OD API's TFLite graph (SSD only: its own post-processing
op) converted to a float16 model and to a full-integer int8 model calibrated on training images (float input and
output); each timed, a conversion that fails is recorded with its reason and the run goes on.

    python -m trainer_image.tflite_export --pipeline-config P --checkpoint-dir C --package OUT --calibration R...

runs in a process of its own, beside the validation pass; its last stdout line is the figures as JSON."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from trainer_image.background import Background, last_line

log = logging.getLogger(__name__)

FILES = {"tflite-fp16": "model_fp16.tflite", "tflite-int8": "model_int8.tflite"}
CALIBRATION_IMAGES = 100
"""Training images the int8 model's ranges are calibrated on."""


class TfliteConversion:
    """Both TFLite models, converted in a process of its own started at once; `results()` waits for it."""

    def __init__(self, pipeline_config: Path, checkpoint_dir: Path, package: Path, calibration: list[str], *,
                 timeout: float = 900) -> None:
        self.command = Background([sys.executable, "-m", "trainer_image.tflite_export", "--pipeline-config",
                                   str(pipeline_config), "--checkpoint-dir", str(checkpoint_dir), "--package",
                                   str(package), "--calibration", *calibration], timeout)

    def stop(self) -> None:
        self.command.stop()

    def results(self) -> dict[str, dict[str, Any]]:
        code, output, seconds = self.command.wait()
        try:
            figures = json.loads(last_line(output))
        except ValueError:
            why = (f"did not finish within {self.command.timeout:.0f} s" if code is None else
                   f"exited {code}: {last_line(output)}")
            figures = {name: {"error": f"TFLite export {why}", "seconds": seconds} for name in FILES}
        for name, result in figures.items():
            if "error" in result:
                log.warning("model export failed", extra={"format": name, "error": result["error"]})
            else:
                log.info("model exported", extra={"format": name, **result})
        return figures


def convert(pipeline_config: Path, checkpoint_dir: Path, package: Path, calibration: list[str]) -> dict[str, Any]:
    """Both models in `package`; {format: file, bytes, seconds} or {format: error}."""
    from google.protobuf import text_format
    from object_detection import export_tflite_graph_lib_tf2
    from object_detection.protos import pipeline_pb2

    from trainer_image.tf_compat import tf

    pipeline = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge(pipeline_config.read_text(), pipeline)
    architecture = pipeline.model.WhichOneof("model")
    if architecture != "ssd":
        return {name: {"error": f"TFLite export is for SSD models (this one is {architecture})"} for name in FILES}
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as graph:
        export_tflite_graph_lib_tf2.export_tflite_model(
            pipeline, str(checkpoint_dir), graph, pipeline.model.ssd.post_processing.batch_non_max_suppression
            .max_total_detections or 100, False)
        graph_seconds = time.monotonic() - started
        results = {}
        for name, file in FILES.items():
            began = time.monotonic()
            try:
                converter = tf.lite.TFLiteConverter.from_saved_model(f"{graph}/saved_model")
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
                if name == "tflite-fp16":
                    converter.target_spec.supported_types = [tf.float16]
                else:
                    converter.representative_dataset = lambda: _calibration(pipeline_config, calibration)
                    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                (package / file).write_bytes(converter.convert())
            except Exception as exc:  # the converter raises many kinds; the run goes on without it
                results[name] = {"error": f"{type(exc).__name__}: {last_line(str(exc))}"}
                continue
            results[name] = {"file": file, "bytes": (package / file).stat().st_size,
                             "seconds": round(graph_seconds + time.monotonic() - began, 1)}
    return results


def _calibration(pipeline_config: Path, records: list[str]) -> Iterator[list[np.ndarray]]:
    """Training images as the TFLite graph takes them: through the model's own preprocessing."""
    from trainer_image.report_assets import read_examples
    from trainer_image.validation_pass import decode

    preprocess = preprocessor(pipeline_config)
    for _, encoded, _, _ in read_examples(records, CALIBRATION_IMAGES):
        yield [preprocess(decode(encoded)[np.newaxis])]


def preprocessor(pipeline_config: Path) -> Callable[[np.ndarray], np.ndarray]:
    """uint8 images [1, H, W, 3] → the model's input: resized to its fixed size and normalised by its own feature
    extractor (the TFLite graph starts after preprocessing)."""
    from object_detection.builders import model_builder
    from object_detection.utils import config_util

    from trainer_image.tf_compat import tf

    model = model_builder.build(config_util.get_configs_from_pipeline_file(str(pipeline_config))["model"],
                                is_training=False)
    return lambda images: model.preprocess(tf.cast(images, tf.float32))[0].numpy()


def tflite_detector(path: Path, pipeline_config: Path) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """The TFLite model as the parity check runs it: uint8 images [1, H, W, 3] in, the SavedModel's output names
    out (its classes are 0-based: the label map's ids are one more)."""
    from trainer_image.tf_compat import tf

    preprocess = preprocessor(pipeline_config)
    runner = tf.lite.Interpreter(model_path=str(path)).get_signature_runner()

    def detect(images: np.ndarray) -> dict[str, np.ndarray]:
        out = runner(input=preprocess(images))  # outputs in the order of the TFLite post-processing op's
        return {"detection_boxes": out["output_3"], "detection_scores": out["output_1"],
                "detection_classes": out["output_2"] + 1}

    return detect


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer_image.tflite_export", description=__doc__)
    parser.add_argument("--pipeline-config", type=Path, required=True)
    parser.add_argument("--checkpoint-dir", type=Path, required=True)
    parser.add_argument("--package", type=Path, required=True)
    parser.add_argument("--calibration", nargs="+", default=[], help="training TFRecords")
    args = parser.parse_args(argv)
    try:
        figures = convert(args.pipeline_config, args.checkpoint_dir, args.package, args.calibration)
    except Exception as exc:  # said in one line; the trainer goes on with its other formats
        figures = {name: {"error": f"{type(exc).__name__}: {exc}".splitlines()[0]} for name in FILES}
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
