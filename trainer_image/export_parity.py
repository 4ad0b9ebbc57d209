"""An export's accuracy measured, not assumed: the SavedModel and the export each detect on the same validation
images, the OD API's COCO evaluator scores both, and the largest difference between their detections is kept."""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path
from typing import Any

import numpy as np
from object_detection.core import standard_fields as fields
from object_detection.metrics.coco_evaluation import CocoDetectionEvaluator
from PIL import Image

from trainer_image.evaluation import summarize
from trainer_image.report_assets import read_examples
from trainer_image.serving import runtimes

Detector = runtimes.Detect
"""uint8 images [1, H, W, 3] → detection_boxes (normalised ymin, xmin, ymax, xmax), detection_scores and
detection_classes (label map ids), each with the batch dimension: what score.py runs on either runtime."""
COMPARED_SCORE = 0.05
"""Detections below this score in both models are not compared (their order among near-zero scores is noise)."""


def saved_model_detector(path: Path) -> Detector:
    return runtimes.tensorflow_model(path)[0]


def onnx_detector(path: Path) -> Detector:
    return runtimes.onnx_model(path, intra_op_threads=0, inter_op_threads=0)[0]  # 0: ONNX Runtime's own choice


def measure(reference: Detector, candidate: Detector, records: list[str], label_ids: dict[str, int], *,
            limit: int = 500) -> dict[str, Any]:
    """COCO figures of both on up to `limit` validation images, the candidate's drop against the reference, and
    the largest box and score difference over the detections either scored at least COMPARED_SCORE."""
    categories = [{"id": i, "name": n} for n, i in sorted(label_ids.items(), key=lambda item: item[1])]
    evaluators = {side: CocoDetectionEvaluator(categories, include_metrics_per_category=True)
                  for side in ("reference", "candidate")}
    box_diff = score_diff = 0.0
    class_mismatches = images = 0
    for name, encoded, truth, names in read_examples(records, limit):
        image = np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB"))
        height, width = image.shape[:2]
        scale = np.array([height, width, height, width], dtype=np.float32)
        gt = {fields.InputDataFields.groundtruth_boxes: np.asarray(truth, np.float32).reshape(-1, 4)[:, [1, 0, 3, 2]]
              * scale, fields.InputDataFields.groundtruth_classes: np.array([label_ids[n] for n in names], np.int32)}
        outs = {}
        for side, detect in (("reference", reference), ("candidate", candidate)):
            out = {k: np.asarray(v)[0] for k, v in detect(image[np.newaxis]).items()}
            outs[side] = out
            evaluators[side].add_single_ground_truth_image_info(name, gt)
            evaluators[side].add_single_detected_image_info(name, {
                fields.DetectionResultFields.detection_boxes: out["detection_boxes"] * scale,
                fields.DetectionResultFields.detection_scores: out["detection_scores"],
                fields.DetectionResultFields.detection_classes: out["detection_classes"].astype(np.int32)})
        ref, cand = outs["reference"], outs["candidate"]
        kept = (ref["detection_scores"] >= COMPARED_SCORE) | (cand["detection_scores"] >= COMPARED_SCORE)
        if kept.any():
            box_diff = max(box_diff, float(np.abs(ref["detection_boxes"][kept] - cand["detection_boxes"][kept]).max()))
            score_diff = max(score_diff, float(np.abs(ref["detection_scores"][kept]
                                                      - cand["detection_scores"][kept]).max()))
            class_mismatches += int((ref["detection_classes"][kept] != cand["detection_classes"][kept]).sum())
        images += 1
    if not images:
        return {"error": "no validation images to compare on"}
    with contextlib.redirect_stdout(sys.stderr):  # pycocotools prints its tables
        reference_figures, candidate_figures = (_figures(evaluators[side].evaluate())
                                                for side in ("reference", "candidate"))
    return candidate_figures | {
        "images": images, "saved_model": reference_figures,
        "map_drop": round(reference_figures["map"] - candidate_figures["map"], 6),
        "map_50_drop": round(reference_figures["map_50"] - candidate_figures["map_50"], 6),
        "max_box_difference": box_diff, "max_score_difference": score_diff, "class_mismatches": class_mismatches}


def _figures(metrics: dict[str, Any]) -> dict[str, Any]:
    summary = summarize({k: float(v) for k, v in metrics.items()})
    return {k: summary[k] for k in ("map", "map_50", "per_class_ap")}
