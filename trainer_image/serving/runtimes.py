"""The two ways score.py runs a packaged model: TensorFlow (the SavedModel) or ONNX Runtime (the trainer's
`model.onnx`, once its accuracy was measured against the SavedModel). Each loads only its own library, so an
ONNX-only serving environment has no TensorFlow in it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from shared.serving import onnx_usable

RUNTIMES = ("auto", "onnx", "tensorflow")
OUTPUTS = ("detection_boxes", "detection_classes", "detection_scores")
Detect = Callable[[np.ndarray], dict[str, np.ndarray]]


def choose(setting: str, package: Path) -> tuple[str, str]:
    """(runtime, why) for SERVING_RUNTIME `setting` and the model package: `auto` takes ONNX when the package has
    an export whose parity the trainer measured and ONNX Runtime is installed, TensorFlow otherwise."""
    if setting not in RUNTIMES:
        raise ValueError(f"SERVING_RUNTIME={setting!r}: use one of {', '.join(RUNTIMES)}")
    export = onnx_export(package)
    if setting == "tensorflow":
        return "tensorflow", "SERVING_RUNTIME=tensorflow"
    if setting == "onnx":
        if export is None:
            raise FileNotFoundError(f"SERVING_RUNTIME=onnx, but {package} has no measured model.onnx (train with "
                                    "EXPORT_FORMATS=onnx)")
        return "onnx", "SERVING_RUNTIME=onnx"
    if export is None:
        return "tensorflow", "the model has no ONNX export with measured parity"
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "tensorflow", "onnxruntime is not installed in this environment"
    drop = export["parity"]["map_50_drop"]
    return "onnx", f"model.onnx within {drop:.4f} mAP@0.5 of the SavedModel on {export['parity']['images']} images"


def onnx_export(package: Path) -> dict[str, Any] | None:
    """The package's ONNX export as the trainer recorded it in metrics.json, if it was written and measured."""
    try:
        export = json.loads((package / "metrics.json").read_text())["exports"]["onnx"]
    except (FileNotFoundError, KeyError, TypeError, ValueError):
        return None
    return export if onnx_usable(export) and (package / export.get("file", "")).is_file() else None


def tensorflow_model(saved_model: Path) -> tuple[Detect, int | None]:
    """The SavedModel's serving signature, and its batch dimension (1: exported before batching existed)."""
    import tensorflow as tf

    signature = tf.saved_model.load(str(saved_model)).signatures["serving_default"]

    def detect(batch: np.ndarray) -> dict[str, np.ndarray]:
        return {k: v.numpy() for k, v in signature(input_tensor=tf.constant(batch)).items() if k in OUTPUTS}

    return detect, signature.structured_input_signature[1]["input_tensor"].shape[0]


def onnx_model(path: Path, intra_op_threads: int, inter_op_threads: int) -> tuple[Detect, int | None]:
    """An ONNX Runtime session on the CPU with the same threads per op as TensorFlow gets."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # tf2onnx graphs make ORT warn about implicit input names at load: harmless
    options.intra_op_num_threads = intra_op_threads
    if inter_op_threads:
        options.inter_op_num_threads = inter_op_threads
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    batch = session.get_inputs()[0].shape[0]

    def detect(images: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(OUTPUTS, session.run(list(OUTPUTS), {"input_tensor": images}), strict=True))

    return detect, batch if isinstance(batch, int) else None


def fixed_input_size(pipeline_config: str) -> tuple[int, int] | None:
    """(height, width) of a fixed_shape_resizer; None for any other resizer (keep-aspect-ratio cannot be
    reproduced outside the graph exactly: only images of one size share a batch then)."""
    from google.protobuf import text_format
    from object_detection.protos import pipeline_pb2

    config = text_format.Parse(pipeline_config, pipeline_pb2.TrainEvalPipelineConfig())
    arch = config.model.WhichOneof("model")
    resizer = getattr(config.model, arch).image_resizer if arch else None
    if resizer is None or resizer.WhichOneof("image_resizer_oneof") != "fixed_shape_resizer":
        return None
    return resizer.fixed_shape_resizer.height, resizer.fixed_shape_resizer.width


def resize_bilinear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 [h, w, 3] → uint8 [height, width, 3] as the OD API's fixed_shape_resizer does inside the graph
    (`tf.compat.v1.image.resize_images`, bilinear: no half-pixel centres, no antialiasing), rounded: what the model
    would have done, without TensorFlow."""
    if image.shape[:2] == (height, width):
        return image

    def axis(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        source = np.arange(size_out, dtype=np.float64) * size_in / size_out
        low = np.minimum(np.floor(source), size_in - 1).astype(np.int64)
        high = np.minimum(low + 1, size_in - 1)
        return low, high, source - low

    (y0, y1, fy), (x0, x1, fx) = axis(image.shape[0], height), axis(image.shape[1], width)
    pixels = image.astype(np.float64)
    top = pixels[y0][:, x0] * (1 - fx)[None, :, None] + pixels[y0][:, x1] * fx[None, :, None]
    bottom = pixels[y1][:, x0] * (1 - fx)[None, :, None] + pixels[y1][:, x1] * fx[None, :, None]
    out = top * (1 - fy)[:, None, None] + bottom * fy[:, None, None]
    return np.clip(np.round(out), 0, 255).astype(np.uint8)
