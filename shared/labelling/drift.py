"""Drift: does production still look like the validation images the live model was gated on? The same profile is
computed on both sides (the trainer on the validation split, the timer on a day of collected outputs) and compared.
Pure: (label, score) lists in, figures and warnings out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

Detections = list[tuple[str, float]]
DRIFT_THRESHOLD = 0.5
"""A detection at or above this score counts as found, on both sides."""


@dataclass(frozen=True)
class Profile:
    images: int
    threshold: float
    no_detection_share: float
    """Share of images with no detection at or above the threshold."""
    mean_top_score: float
    class_share: dict[str, float]
    """Share of each class among the detections at or above the threshold."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Profile:
        return cls(int(raw["images"]), float(raw["threshold"]), float(raw["no_detection_share"]),
                   float(raw["mean_top_score"]), {str(k): float(v) for k, v in raw["class_share"].items()})


@dataclass(frozen=True)
class DriftLimits:
    no_detection_share: float = 0.15
    """Largest absolute change of the share of images without a detection."""
    mean_top_score: float = 0.10
    class_share: float = 0.20
    """Largest total variation distance between the class mixes (half the sum of absolute differences)."""
    min_images: int = 20
    """Fewer production images in a day: figures are logged, no warning is raised."""


def profile(images: Iterable[Detections], threshold: float) -> Profile:
    count, empty, top_sum, classes = 0, 0, 0.0, Counter()
    for detections in images:
        count += 1
        found = [label for label, score in detections if score >= threshold]
        empty += not found
        top_sum += max((score for _, score in detections), default=0.0)
        classes.update(found)
    total = sum(classes.values())
    return Profile(count, threshold, round(empty / count, 4) if count else 0.0,
                   round(top_sum / count, 4) if count else 0.0,
                   {name: round(n / total, 4) for name, n in sorted(classes.items())} if total else {})


def compare(baseline: Profile, today: Profile, limits: DriftLimits) -> tuple[dict[str, float], list[str]]:
    """The changes, and a warning per figure past its limit (none when today has too few images to tell)."""
    names = set(baseline.class_share) | set(today.class_share)
    distance = sum(abs(baseline.class_share.get(n, 0.0) - today.class_share.get(n, 0.0)) for n in names) / 2
    changes = {"no_detection_share": round(today.no_detection_share - baseline.no_detection_share, 4),
               "mean_top_score": round(today.mean_top_score - baseline.mean_top_score, 4),
               "class_share_distance": round(distance, 4)}
    if today.images < limits.min_images:
        return changes, []
    warnings = []
    if abs(changes["no_detection_share"]) > limits.no_detection_share:
        warnings.append(f"images without a detection: {today.no_detection_share:.0%} in production vs "
                        f"{baseline.no_detection_share:.0%} on validation (limit ±{limits.no_detection_share:.0%})")
    if abs(changes["mean_top_score"]) > limits.mean_top_score:
        warnings.append(f"mean top score {today.mean_top_score:.2f} in production vs {baseline.mean_top_score:.2f} "
                        f"on validation (limit ±{limits.mean_top_score:.2f})")
    if distance > limits.class_share:
        warnings.append(f"class mix moved by {distance:.2f} (total variation; limit {limits.class_share:.2f}): "
                        f"production {today.class_share}, validation {baseline.class_share}")
    return changes, warnings
