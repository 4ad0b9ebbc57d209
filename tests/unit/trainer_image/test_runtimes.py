"""Which runtime score.py picks for a package, and the resize it does without TensorFlow."""

import json

import numpy as np
import pytest

from trainer_image.serving import runtimes

MEASURED = {"exports": {"onnx": {"file": "model.onnx", "input_size": [128, 128],
                                 "parity": {"images": 48, "map_50_drop": 0.0, "map_50": 0.9}}}}


def package(tmp_path, metrics, onnx_file=True):
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    if onnx_file:
        (tmp_path / "model.onnx").write_bytes(b"onnx")
    return tmp_path


def test_auto_serves_a_measured_onnx_export_and_says_why(tmp_path):
    runtime, why = runtimes.choose("auto", package(tmp_path, MEASURED))
    assert runtime == "onnx" and why == "model.onnx within 0.0000 mAP@0.5 of the SavedModel on 48 images"


@pytest.mark.parametrize("metrics, onnx_file", [
    ({"map": 0.5}, False),  # trained without EXPORT_FORMATS
    ({"exports": {"onnx": {"error": "tf2onnx exited 1: Unsupported ops"}}}, False),  # conversion failed
    ({"exports": {"onnx": {"file": "model.onnx", "parity": {"error": "no validation images"}}}}, True),  # unmeasured
    (MEASURED, False),  # metrics name a file the package lacks
])
def test_auto_falls_back_to_tensorflow_without_a_measured_export(tmp_path, metrics, onnx_file):
    runtime, why = runtimes.choose("auto", package(tmp_path, metrics, onnx_file))
    assert (runtime, why) == ("tensorflow", "the model has no ONNX export with measured parity")


def test_asking_for_onnx_without_an_export_fails_the_deployment_by_name(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"SERVING_RUNTIME=onnx, but .* has no measured model\.onnx"):
        runtimes.choose("onnx", package(tmp_path, {"map": 0.5}, onnx_file=False))
    assert runtimes.choose("tensorflow", package(tmp_path, MEASURED)) == ("tensorflow", "SERVING_RUNTIME=tensorflow")
    with pytest.raises(ValueError, match="SERVING_RUNTIME='tflite'"):
        runtimes.choose("tflite", tmp_path)


@pytest.mark.parametrize("shape, target", [((96, 160), (128, 128)), ((200, 120), (128, 128)), ((31, 7), (64, 48))])
def test_the_resize_is_the_fixed_shape_resizers_bilinear_without_tensorflow(shape, target):
    """The OD API resizes with TensorFlow 1's bilinear (no half-pixel centres): the exported graphs say so (tf2onnx
    writes their Resize as `asymmetric`)."""
    import tensorflow as tf

    image = np.random.default_rng(3).integers(0, 256, (*shape, 3), dtype=np.uint8)
    resized = tf.compat.v1.image.resize_images(tf.cast(image, tf.float32), target, align_corners=False)
    expected = tf.cast(tf.round(tf.clip_by_value(resized, 0, 255)), tf.uint8).numpy()
    got = runtimes.resize_bilinear(image, *target)
    assert got.shape == (*target, 3) and got.dtype == np.uint8
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1  # float32 vs float64 rounding at .5
