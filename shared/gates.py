"""Metric gates: may this model replace the champion? Pure: metrics in, a decision with every reason out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.overrides import for_project
from shared.training import EDGE_FORMATS


@dataclass(frozen=True)
class GatePolicy:
    min_map: float = 0.0
    """COCO mAP@0.5:0.95 the model must reach."""
    min_map_50: float = 0.0
    min_class_ap: float = 0.0
    """AP every class with validation objects must reach."""
    min_validation_images: int = 10
    max_regression: float = 0.01
    """How far below the champion (same images) the mAP may be."""
    max_class_regression: float = 0.05
    """How far below the champion's AP of the same class (same images) a class's AP may be."""
    min_class_objects: int = 10
    """Validation objects a class needs for its AP to be compared (fewer: too noisy to judge)."""
    max_export_map_drop: float = 0.005
    """How far below the SavedModel's mAP@0.5 an export that may be served (ONNX) may score on the same images."""
    max_edge_map_drop: float | None = None
    """The same for the device formats (TFLite); None: their figures are reported, not gated."""


def policy_for(project: str, default: GatePolicy, overrides_json: str | None) -> GatePolicy:
    """The default policy with the project's own thresholds (GATE_OVERRIDES: {"project": {"min_map_50": 0.6}})."""
    return for_project(project, default, overrides_json, "GATE_OVERRIDES")


@dataclass
class GateDecision:
    passed: bool
    reasons: list[str] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "reasons": self.reasons, "checks": self.checks}


def evaluate_gates(metrics: dict[str, Any], policy: GatePolicy) -> GateDecision:
    """`metrics` is the trainer's metrics.json; its optional `champion` entry was measured on the same split."""
    reasons: list[str] = []
    checks: dict[str, Any] = {}
    if "error" in metrics or metrics.get("map") is None:
        return GateDecision(False, [f"no evaluation: {metrics.get('error', 'metrics.json has no mAP')}"])
    images = int(metrics.get("validation_images", 0))
    checks["validation_images"] = images
    if images < policy.min_validation_images:
        reasons.append(f"only {images} validation images (minimum {policy.min_validation_images})")
    for key, floor in (("map", policy.min_map), ("map_50", policy.min_map_50)):
        value = metrics.get(key)
        checks[key] = value
        if value is None or value < floor:
            reasons.append(f"{key} {_fmt(value)} is below {floor:.3f}")
    for name, ap in sorted(metrics.get("per_class_ap", {}).items()):
        if ap >= 0 and ap < policy.min_class_ap:  # -1: no validation object of that class
            reasons.append(f"AP of class {name!r} {ap:.3f} is below {policy.min_class_ap:.3f}")
    reasons += _exports(metrics.get("exports") or {}, policy, checks)
    champion = metrics.get("champion")
    if champion is not None:
        reasons += _against_champion(metrics, champion, policy, checks)
    if metrics.get("golden") is not None:
        reasons += _golden(metrics["golden"], policy, checks)
    return GateDecision(not reasons, reasons, checks)


def _golden(golden: dict[str, Any], policy: GatePolicy, checks: dict[str, Any]) -> list[str]:
    """The golden set (the same images every run, never trained on) holds the model to the champion as the
    validation split does: overall and class by class."""
    if "error" in golden or golden.get("map") is None:
        return [f"golden set could not be evaluated: {golden.get('error', 'no mAP')}"]
    checks["golden_images"], checks["golden_map"], checks["golden_map_50"] = (
        golden.get("images"), golden["map"], golden.get("map_50"))
    champion = golden.get("champion")
    if champion is None:
        return []
    if "error" in champion or champion.get("map") is None:
        return [f"champion could not be compared on the golden set: {champion.get('error', 'no mAP')}"]
    checks["golden_champion_map"] = champion["map"]
    reasons = []
    if golden["map"] < champion["map"] - policy.max_regression:
        reasons.append(f"golden set: map {golden['map']:.3f} regresses from the champion's {champion['map']:.3f} by "
                       f"more than {policy.max_regression:.3f} on the same {golden.get('images')} golden images")
    compared, lost = _class_regressions(golden, champion, golden.get("objects"), policy, "golden")
    checks["golden_class_regression"] = compared
    return reasons + lost


def _exports(exports: dict[str, Any], policy: GatePolicy, checks: dict[str, Any]) -> list[str]:
    """Each export that may be served must detect as the SavedModel does: its mAP@0.5 on the same validation images
    may drop by at most max_export_map_drop, and one written but not measured is refused. Device formats are held
    to max_edge_map_drop only when the project sets it. A format the architecture could not be converted to is only
    noted: the package has no such file to ship, and the SavedModel serves."""
    reasons = []
    for name, export in sorted(exports.items()):
        limit = policy.max_edge_map_drop if name in EDGE_FORMATS else policy.max_export_map_drop
        if "error" in export:
            checks[f"{name}_export"] = f"not written: {export['error']}"
            continue
        parity = export.get("parity") or {}
        if "error" in parity or parity.get("map_50_drop") is None:
            unknown = f"{name} export's accuracy unknown: {parity.get('error', 'it was not measured')}"
            if limit is None:
                checks[f"{name}_export"] = unknown
            else:
                reasons.append(unknown)
            continue
        checks[f"{name}_map_50_drop"] = drop = parity["map_50_drop"]
        if limit is None:
            checks[f"{name}_export"] = "reported, not gated (GATE_MAX_EDGE_MAP_DROP is not set)"
        elif drop > limit:
            reasons.append(f"{name} export's map_50 {parity['map_50']:.3f} is {drop:.3f} below the SavedModel's "
                           f"{parity['saved_model']['map_50']:.3f} (at most {limit:.3f}) on the same "
                           f"{parity['images']} validation images")
    return reasons


def _against_champion(metrics: dict[str, Any], champion: dict[str, Any], policy: GatePolicy,
                      checks: dict[str, Any]) -> list[str]:
    if "error" in champion or champion.get("map") is None:
        return [f"champion could not be compared: {champion.get('error', 'no mAP')}"]
    same_split = (champion.get("dataset_version"), champion.get("validation_images")) == (
        metrics.get("dataset_version"), metrics.get("validation_images"))
    if not same_split:
        return ["champion was measured on other images: comparing numbers from different splits is refused"]
    checks["champion_map"] = champion["map"]
    reasons = []
    if metrics["map"] < champion["map"] - policy.max_regression:
        reasons.append(f"map {metrics['map']:.3f} regresses from the champion's {champion['map']:.3f} by more "
                       f"than {policy.max_regression:.3f} on the same validation images")
    return reasons + _classes_against_champion(metrics, champion, policy, checks)


def _classes_against_champion(metrics: dict[str, Any], champion: dict[str, Any], policy: GatePolicy,
                              checks: dict[str, Any]) -> list[str]:
    """No class with enough validation objects may lose more than max_class_regression AP to the champion: a
    retrain on new images of one class can forget another while the mean holds."""
    objects = metrics.get("validation_objects")
    if not isinstance(objects, dict):
        checks["class_regression"] = "not checked: the run recorded no validation objects per class"
        return []
    checks["class_regression"], reasons = _class_regressions(metrics, champion, objects, policy, "validation")
    return reasons


def _class_regressions(mine: dict[str, Any], theirs: dict[str, Any], objects: Any, policy: GatePolicy,
                       where: str) -> tuple[dict[str, float], list[str]]:
    """Each class's AP change against the champion (classes with enough objects in `where`), and the reasons for
    those that lost more than max_class_regression."""
    if not isinstance(objects, dict):
        return {}, []
    aps, before_aps = mine.get("per_class_ap") or {}, theirs.get("per_class_ap") or {}
    compared, reasons = {}, []
    prefix = "golden set: " if where == "golden" else ""
    for name in sorted(set(aps) & set(before_aps)):
        ap, before, count = aps[name], before_aps[name], int(objects.get(name, 0))
        if ap < 0 or before < 0 or count < policy.min_class_objects:  # -1: no object of that class there
            continue
        compared[name] = round(ap - before, 4)
        if ap < before - policy.max_class_regression:
            reasons.append(f"{prefix}AP of class {name!r} {ap:.3f} regresses from the champion's {before:.3f} by "
                           f"more than {policy.max_class_regression:.3f} on the same {count} {where} objects")
    return compared, reasons


def _fmt(value: Any) -> str:
    return "missing" if value is None else f"{value:.3f}"
