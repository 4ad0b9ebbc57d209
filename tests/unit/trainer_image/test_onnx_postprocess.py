"""Which pipelines' ONNX graphs get their per-image loops rebuilt as batched ops: only those whose post-processing
the batched ops reproduce exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer_image.onnx_postprocess import Nms, nms_settings

REPO = Path(__file__).resolve().parents[3]
SSD = (REPO / "trainer_image" / "base_models" / "ssd_mobilenet_v2_128" / "pipeline.config").read_text()
ZOO = REPO / "tests" / "integration" / "trainer_image" / "zoo_configs"


def test_the_ssd_pipelines_nms_settings_are_read_as_it_states_them():
    nms, why = nms_settings(SSD)
    assert why == ""
    assert (nms.max_per_class, nms.max_total) == (20, 20)
    assert nms.iou_threshold == pytest.approx(0.6) and nms.score_threshold == pytest.approx(1e-8)
    assert isinstance(nms, Nms)


@pytest.mark.parametrize("edit, reason", [
    (("use_static_shapes: false", "use_static_shapes: true"), "sets use_static_shapes"),
    (("max_total_detections: 20", "max_total_detections: 20\n        use_class_agnostic_nms: true"),
     "sets use_class_agnostic_nms"),
    (("max_total_detections: 20", "max_total_detections: 20\n        soft_nms_sigma: 0.5"), "sets soft_nms_sigma"),
])
def test_post_processing_the_rewrite_does_not_reproduce_is_left_as_converted(edit, reason):
    assert edit[0] in SSD
    nms, why = nms_settings(SSD.replace(*edit))
    assert nms is None and reason in why


def test_a_resizer_that_keeps_the_aspect_ratio_is_left_as_converted():
    """The clip window is then the image's part of the padded input, not the whole: the NMS loop stays."""
    fixed = "fixed_shape_resizer {\n        height: 128\n        width: 128\n      }"
    assert fixed in SSD
    padded = "keep_aspect_ratio_resizer {\n min_dimension: 128\n max_dimension: 128\n pad_to_max_dimension: true\n }"
    nms, why = nms_settings(SSD.replace(fixed, padded))
    assert nms is None and "not fixed_shape_resizer" in why


@pytest.mark.parametrize("config, architecture", [("centernet_resnet50_v2_128.config", "center_net"),
                                                  ("faster_rcnn_resnet50_v1_128.config", "faster_rcnn")])
def test_other_architectures_are_left_as_converted(config, architecture):
    nms, why = nms_settings((ZOO / config).read_text())
    assert nms is None and why == f"{architecture} post-processing is not rewritten (SSD only)"
