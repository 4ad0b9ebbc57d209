"""The validation report a person reads: what was accepted, quarantined, warned about or ignored."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.dataset.problems import Problem


@dataclass
class DatasetReport:
    project: str
    layout: str
    class_source: str
    dataset_version: str = ""
    manifest_blob: str = ""
    counts: dict[str, Any] = field(default_factory=dict)
    label_map: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    ignored: list[Problem] = field(default_factory=list)
    formats: dict[str, str] = field(default_factory=dict)
    """Folder → the format its annotations were read as (pascal-voc, yolo, coco, label-studio, cvat)."""
    alerts: list[str] = field(default_factory=list)
    """What makes the dataset not what its user meant (annotation files not read, no boxes at all)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "layout": self.layout,
            "alerts": self.alerts,
            "formats": dict(sorted(self.formats.items())),
            "class_source": self.class_source,
            "dataset_version": self.dataset_version,
            "manifest_blob": self.manifest_blob,
            "counts": self.counts,
            "label_map": self.label_map,
            "quarantined": [p.to_dict() for p in self.quarantined],
            "warnings": [p.to_dict() for p in self.warnings],
            "ignored": [p.to_dict() for p in self.ignored],
        }

    def render(self) -> str:
        c = self.counts
        classes = "  ".join(f"{k}={v}" for k, v in c.get("boxes_per_class", {}).items()) or "none"
        formats = ", ".join(f"{folder}/: {kind}" for folder, kind in sorted(self.formats.items())) or "none read"
        lines = [f"  !! {alert}" for alert in self.alerts] + [
            f"Dataset '{self.project}': {self.layout} layout, classes from the {self.class_source}",
            f"  formats   {formats}",
            f"  version   {self.dataset_version}" + (f"   manifest {self.manifest_blob}" if self.manifest_blob else ""),
            f"  images    {c.get('images', 0)} accepted ({c.get('train', 0)} train / "
            f"{c.get('validation', 0)} validation" + (f" / {c['test']} test, never trained on" if c.get("test") else "")
            + (f" / {c['golden']} golden, never trained on, evaluated every run" if c.get("golden") else "")
            + f"), {c.get('background', 0)} of them background (no boxes)"
            + (f", {c['production']} from production (labelled exports)" if c.get("production") else ""),
            f"  boxes     {c.get('boxes', 0)}: {classes}",
            "  label map " + ", ".join(f"{i['id']}:{i['name']}" for i in self.label_map),
        ]
        for title, problems in (
            ("quarantined (copied with the reason, originals untouched)", self.quarantined),
            ("warnings (file accepted)", self.warnings),
            ("ignored (not dataset files)", self.ignored),
        ):
            lines.append(f"  {title}: {len(problems)}")
            lines.extend(f"    - {p}" for p in problems)
        return "\n".join(lines)
