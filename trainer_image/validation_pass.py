"""One pass of an exported model over the validation images: its detections feed the COCO metrics, the report's
prediction grid, the drift baseline and every export's parity check, so each model is loaded and run once (the OD
API's own eval loop rebuilt the training graph from the checkpoint for the same figures)."""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from trainer_image.serving.runtimes import Detect

COMPARED_SCORE = 0.05
"""Detections below this score in both models are not compared (their order among near-zero scores is noise)."""


@dataclass
class Seen:
    """One validation image: its truth, and what a model detected on it (normalised boxes, label map ids)."""

    name: str
    size: tuple[int, int]  # height, width
    truth: np.ndarray  # [n, 4] normalised xmin, ymin, xmax, ymax, as the TFRecords hold them
    truth_names: list[str]
    detections: dict[str, np.ndarray]
    encoded: bytes | None = field(default=None, repr=False)  # kept for the first few only (the report's grid)


def decode(encoded: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB"))


def detect_all(detect: Detect, examples: Iterable[tuple[str, bytes, np.ndarray, list[str]]], *,
               keep_images: int = 0) -> list[Seen]:
    """`detect` on each (name, encoded image, true boxes, class names), one image a call (their sizes differ)."""
    seen: list[Seen] = []
    for name, encoded, truth, names in examples:
        image = decode(encoded)
        out = {k: np.asarray(v)[0] for k, v in detect(image[np.newaxis]).items()}
        seen.append(Seen(name, image.shape[:2], np.asarray(truth, np.float32).reshape(-1, 4), names, out,
                         encoded if len(seen) < keep_images else None))
    return seen


def coco_metrics(seen: list[Seen], label_ids: dict[str, int],
                 class_of: Callable[[np.ndarray], np.ndarray] = lambda c: c) -> dict[str, float]:
    """The OD API's COCO evaluator (per category on) over the pass: the same keys its eval loop reports.
    `class_of` maps the model's class ids to `label_ids`' (a champion trained with another label map)."""
    from object_detection.core import standard_fields as fields
    from object_detection.metrics.coco_evaluation import CocoDetectionEvaluator

    categories = [{"id": i, "name": n} for n, i in sorted(label_ids.items(), key=lambda item: item[1])]
    evaluator = CocoDetectionEvaluator(categories, include_metrics_per_category=True)
    for index, image in enumerate(seen):
        height, width = image.size
        scale = np.array([height, width, height, width], dtype=np.float32)
        key = f"{index}:{image.name}"  # names may repeat across folders
        evaluator.add_single_ground_truth_image_info(key, {
            fields.InputDataFields.groundtruth_boxes: image.truth[:, [1, 0, 3, 2]] * scale,
            fields.InputDataFields.groundtruth_classes: np.array([label_ids[n] for n in image.truth_names], np.int32)})
        classes = class_of(image.detections["detection_classes"].astype(np.int32))
        known = classes > 0
        evaluator.add_single_detected_image_info(key, {
            fields.DetectionResultFields.detection_boxes: image.detections["detection_boxes"][known] * scale,
            fields.DetectionResultFields.detection_scores: image.detections["detection_scores"][known],
            fields.DetectionResultFields.detection_classes: classes[known]})
    with contextlib.redirect_stdout(sys.stderr):  # pycocotools prints its tables
        return {key: float(value) for key, value in evaluator.evaluate().items()}


def differences(reference: list[Seen], candidate: list[Seen]) -> dict[str, Any]:
    """The largest box and score difference between two models' detections on the same images, over the
    detections either scored at least COMPARED_SCORE, and how many of those changed class."""
    box_diff = score_diff = 0.0
    class_mismatches = 0
    for ref_image, cand_image in zip(reference, candidate, strict=True):
        ref, cand = ref_image.detections, cand_image.detections
        count = min(len(ref["detection_scores"]), len(cand["detection_scores"]))
        ref, cand = ({k: v[:count] for k, v in side.items()} for side in (ref, cand))
        kept = (ref["detection_scores"] >= COMPARED_SCORE) | (cand["detection_scores"] >= COMPARED_SCORE)
        if kept.any():
            box_diff = max(box_diff, float(np.abs(ref["detection_boxes"][kept] - cand["detection_boxes"][kept]).max()))
            score_diff = max(score_diff, float(np.abs(ref["detection_scores"][kept]
                                                      - cand["detection_scores"][kept]).max()))
            class_mismatches += int((ref["detection_classes"][kept] != cand["detection_classes"][kept]).sum())
    return {"max_box_difference": box_diff, "max_score_difference": score_diff, "class_mismatches": class_mismatches}


def matched_differences(reference: list[Seen], candidate: list[Seen], *, score: float = 0.3,
                        iou: float = 0.5) -> dict[str, Any]:
    """For a model with post-processing of its own (TFLite), whose detections come in another order: each
    reference detection scoring at least `score` is matched to the candidate's of the same class with the highest
    IoU (at least `iou`); the largest box and score difference over the matches, and how many were lost or new."""
    box_diff = score_diff = 0.0
    lost = new = 0
    for ref_image, cand_image in zip(reference, candidate, strict=True):
        ref, cand = (_above(image.detections, score) for image in (ref_image, cand_image))
        used = np.zeros(len(cand["detection_scores"]), bool)
        for box, cls, value in zip(ref["detection_boxes"], ref["detection_classes"], ref["detection_scores"],
                                   strict=True):
            overlaps = np.where((cand["detection_classes"] == cls) & ~used, box_iou(box, cand["detection_boxes"]), 0.0)
            best = int(np.argmax(overlaps)) if len(overlaps) else -1
            if best < 0 or overlaps[best] < iou:
                lost += 1
                continue
            used[best] = True
            box_diff = max(box_diff, float(np.abs(box - cand["detection_boxes"][best]).max()))
            score_diff = max(score_diff, abs(float(value) - float(cand["detection_scores"][best])))
        new += int((~used).sum())
    return {"max_box_difference": box_diff, "max_score_difference": score_diff, "lost_detections": lost,
            "new_detections": new, "compared": f"detections scoring ≥ {score} matched by class and IoU ≥ {iou}"}


def _above(detections: dict[str, np.ndarray], score: float) -> dict[str, np.ndarray]:
    kept = detections["detection_scores"] >= score
    return {k: np.asarray(detections[k])[kept] for k in ("detection_boxes", "detection_classes", "detection_scores")}


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box with each of `boxes` (all ymin, xmin, ymax, xmax)."""
    if not len(boxes):
        return np.zeros(0)
    top, left = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    bottom, right = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(bottom - top, 0, None) * np.clip(right - left, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)
