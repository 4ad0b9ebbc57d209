"""COCO evaluation of an exported model on a validation split: the figures the release gates read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from shared.dataset.label_map import LabelMap
from trainer_image.report_assets import read_examples
from trainer_image.serving import runtimes
from trainer_image.validation_pass import Seen, coco_metrics, detect_all

PER_CLASS_PREFIX = "DetectionBoxes_PerformanceByCategory/mAP/"


def validation_pass(saved_model: Path, records: list[str], *, keep_images: int = 0) -> list[Seen]:
    """The exported model's detections on every validation image, the first `keep_images` kept for the report."""
    detect, _ = runtimes.tensorflow_model(saved_model)
    return detect_all(detect, read_examples(records), keep_images=keep_images)


def evaluate(seen: list[Seen], label_map: LabelMap, model_label_map: LabelMap | None = None) -> dict[str, float]:
    """COCO metrics of a pass under `label_map`; a model trained with another label map (`model_label_map`, a
    champion before classes were added) has its class ids matched by name, and classes this one lacks dropped."""
    ids = {item.name: item.id for item in label_map.items}
    if model_label_map is None:
        return coco_metrics(seen, ids)
    table = np.zeros(max((item.id for item in model_label_map.items), default=0) + 1, np.int32)
    for item in model_label_map.items:
        table[item.id] = ids.get(item.name, 0)
    return coco_metrics(seen, ids, lambda classes: table[np.clip(classes, 0, len(table) - 1)])


def summarize(metrics: dict[str, float]) -> dict[str, Any]:
    """The figures the release gates read: overall COCO numbers and AP per class."""
    return {
        "map": metrics.get("DetectionBoxes_Precision/mAP"),
        "map_50": metrics.get("DetectionBoxes_Precision/mAP@.50IOU"),
        "map_75": metrics.get("DetectionBoxes_Precision/mAP@.75IOU"),
        "recall_100": metrics.get("DetectionBoxes_Recall/AR@100"),
        "per_class_ap": {k[len(PER_CLASS_PREFIX):]: v for k, v in metrics.items() if k.startswith(PER_CLASS_PREFIX)},
        "coco": {k: v for k, v in metrics.items() if k.startswith("DetectionBoxes_")
                 and not k.startswith(PER_CLASS_PREFIX)},
    }
