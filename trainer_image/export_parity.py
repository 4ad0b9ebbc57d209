"""An export's accuracy measured, not assumed: the export detects on the same validation images the SavedModel's
validation pass saw, the OD API's COCO evaluator scores it, and the largest difference between the two models'
detections is kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainer_image.evaluation import summarize
from trainer_image.report_assets import read_examples
from trainer_image.serving import runtimes
from trainer_image.validation_pass import Seen, coco_metrics, detect_all, differences, matched_differences


def onnx_detector(path: Path) -> runtimes.Detect:
    return runtimes.onnx_model(path, intra_op_threads=0, inter_op_threads=0)[0]  # 0: ONNX Runtime's own choice


def measure(reference: list[Seen], reference_metrics: dict[str, float], candidate: runtimes.Detect,
            records: list[str], label_ids: dict[str, int], *, same_graph: bool = True) -> dict[str, Any]:
    """COCO figures of the candidate on the images of the SavedModel's pass, its drop against the SavedModel's
    (`reference_metrics`, from that pass), and the largest differences between their detections: one by one for
    a conversion of the same graph (ONNX), matched by class and overlap for one with post-processing of its own."""
    if not reference:
        return {"error": "no validation images to compare on"}
    seen = detect_all(candidate, read_examples(records, len(reference)))
    saved_model, export = _figures(reference_metrics), _figures(coco_metrics(seen, label_ids))
    return export | {
        "images": len(seen), "saved_model": saved_model,
        "map_drop": round(saved_model["map"] - export["map"], 6),
        "map_50_drop": round(saved_model["map_50"] - export["map_50"], 6),
        **(differences(reference, seen) if same_graph else matched_differences(reference, seen))}


def _figures(metrics: dict[str, Any]) -> dict[str, Any]:
    summary = summarize(metrics)
    return {k: summary[k] for k in ("map", "map_50", "per_class_ap")}
