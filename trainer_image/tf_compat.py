"""Import TensorFlow and the TF Object Detection API with the fixes this combination needs.

tf-slim 1.1.0 (imported by the OD API decoders) calls `control_flow_ops.case` / `.cond`, which TensorFlow
2.14+ no longer exports from that module; binding them to `tf.case` / `tf.cond` first restores them. Below: per-class
AP from stock pycocotools, and CenterNet's MobileNetV2 backbones built without downloading weights.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf
from tensorflow.python.ops import control_flow_ops

for _name, _impl in (("case", tf.case), ("cond", tf.cond)):
    if not hasattr(control_flow_ops, _name):
        setattr(control_flow_ops, _name, _impl)

__all__ = ["tf"]


def _enable_per_category_ap() -> None:
    """Per-class AP for `include_metrics_per_category`.

    The OD API's COCO wrapper reads `category_stats`, which only a patched pycocotools ever set (stock
    pycocotools raises "Category stats do not exist", tensorflow/models#4778). Compute row 0 of it (AP at
    IoU .50:.95, all areas, 100 detections, per category) from COCOeval's own precision array after
    `summarize()`; the other eleven rows are only read with `all_metrics_per_category`, left NaN.
    """
    import numpy as np
    from object_detection.metrics import coco_tools

    wrapper = coco_tools.COCOEvalWrapper
    if getattr(wrapper, "_per_category_ap", False):
        return
    summarize = wrapper.summarize

    def summarize_with_categories(self) -> None:
        summarize(self)
        precision = self.eval["precision"]  # [iou thresholds, recall points, categories, areas, max dets]
        stats = np.full((12, precision.shape[2]), np.nan)
        for k in range(precision.shape[2]):
            valid = precision[:, :, k, 0, -1]
            valid = valid[valid > -1]
            stats[0, k] = float(np.mean(valid)) if valid.size else -1.0
        self.category_stats = stats

    wrapper.summarize = summarize_with_categories
    wrapper._per_category_ap = True


_enable_per_category_ap()


def _no_weight_downloads() -> None:
    """CenterNet's MobileNetV2 backbones fetch Keras' ImageNet weights from the internet whenever the model is
    built (depth multiplier 1.0): every training and export would need outbound access, and a zoo archive's
    `ckpt-0` overwrites those weights anyway. Build them without, as the other backbones are built."""
    from object_detection.models import (
        center_net_mobilenet_v2_feature_extractor as plain,
    )
    from object_detection.models import (
        center_net_mobilenet_v2_fpn_feature_extractor as fpn,
    )

    for module in (plain, fpn):
        backbones = module.mobilenetv2
        if getattr(backbones, "_no_downloads", False):
            continue

        def built_without_download(*args, _build=backbones.mobilenet_v2, **kwargs):
            return _build(*args, **kwargs | {"weights": None})

        module.mobilenetv2 = type("NoDownloads", (), {"mobilenet_v2": staticmethod(built_without_download),
                                                      "_no_downloads": True})


_no_weight_downloads()
