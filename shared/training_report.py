"""The per-run training report (one self-contained HTML page): overall and per-class AP, the loss curve, the gate
decision against the champion, and validation images with true and predicted boxes. Pure: no I/O here."""

from __future__ import annotations

import base64
from html import escape
from typing import Any

from shared.exports_table import exports_table
from shared.metrics_table import flips_section, metrics_table


def _number(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else escape(str(value))


def ticks(low: float, high: float, count: int = 5) -> list[float]:
    """`count` evenly spaced values from `low` to `high` (axis labels)."""
    return [low + (high - low) * i / (count - 1) for i in range(count)]


def loss_svg(points: list[list[float]], width: int = 560, height: int = 260,
             champion: list[list[float]] | None = None, champion_label: str = "champion") -> str:
    """An inline SVG chart of (step, total loss): labelled axes with tick values, this run in red and, when there
    is one, the champion's run in grey (dashed) on the same axes."""
    if len(points) < 2:
        return "<p>Too few logged steps for a loss curve.</p>"
    series = [points] + ([champion] if champion and len(champion) > 1 else [])
    steps = [p[0] for s in series for p in s]
    losses = [p[1] for s in series for p in s]
    lo, hi, first, last = min(losses), max(losses), min(steps), max(steps)
    left, right, top, bottom = 62, 16, 16, 44
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(step: float) -> float:
        return left + (step - first) / ((last - first) or 1) * plot_w

    def y(loss: float) -> float:
        return top + plot_h - (loss - lo) / ((hi - lo) or 1.0) * plot_h

    def line(data: list[list[float]]) -> str:
        return " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in data)

    grid = "".join(
        f'<line x1="{left}" x2="{left + plot_w}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e0e0e0"/>'
        f'<text x="{left - 6}" y="{y(v) + 4:.1f}" font-size="11" text-anchor="end">{v:.3g}</text>'
        for v in ticks(lo, hi))
    grid += "".join(
        f'<line x1="{x(s):.1f}" x2="{x(s):.1f}" y1="{top + plot_h}" y2="{top + plot_h + 5}" stroke="#333"/>'
        f'<text x="{x(s):.1f}" y="{top + plot_h + 18}" font-size="11" text-anchor="middle">{s:.0f}</text>'
        for s in ticks(first, last))
    champion_line = (f'<polyline points="{line(champion)}" fill="none" stroke="#757575" stroke-width="2" '
                     f'stroke-dasharray="6 4"><title>{escape(champion_label)}</title></polyline>'
                     f'<text x="{left + plot_w}" y="{top + 12}" font-size="11" text-anchor="end" fill="#616161">'
                     f"- - {escape(champion_label)}</text>" if len(series) > 1 else "")
    return (f'<svg width="{width}" height="{height}" role="img" aria-label="total loss by training step">'
            f'<rect width="{width}" height="{height}" fill="#fff"/>{grid}'
            f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" stroke="#333"/>'
            f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#333"/>'
            f'<text x="{left + plot_w / 2:.0f}" y="{height - 6}" font-size="12" text-anchor="middle">training step'
            f'</text><text x="14" y="{top + plot_h / 2:.0f}" font-size="12" text-anchor="middle" '
            f'transform="rotate(-90 14 {top + plot_h / 2:.0f})">total loss</text>{champion_line}'
            f'<polyline points="{line(points)}" fill="none" stroke="#c62828" stroke-width="2"><title>this run'
            f'</title></polyline></svg>')


def _production(metrics: dict[str, Any]) -> str:
    counts = metrics.get("dataset_counts") or {}
    if not counts.get("production"):
        return ""
    return (f" {counts['production']} of the {counts.get('images')} images came from production (exported for "
            "labelling, labelled, dropped back).")


def _golden(metrics: dict[str, Any]) -> str:
    golden = metrics.get("golden")
    if not golden:
        return ""
    if "error" in golden:
        return f"<h2>Golden set</h2><p>Not evaluated: {escape(str(golden['error']))}</p>"
    return ("<h2>Golden set vs. champion (the same images every run, never trained on)</h2>"
            + metrics_table(golden, golden.get("images"), "golden images"))


def render_report(*, project: str, batch_id: str, run_id: str, metrics: dict[str, Any], report: dict[str, Any],
                  gates_passed: bool, gate_reasons: list[str], grid_jpeg: bytes | None,
                  champion_loss: list[list[float]] | None = None, champion_name: str = "champion",
                  flips_jpeg: bytes | None = None) -> str:
    champion = metrics.get("champion") or {}
    classes = sorted(set(metrics.get("per_class_ap", {})) | set(champion.get("per_class_ap", {})))
    ap_rows = "".join(
        f"<tr><td>{escape(c)}</td><td>{_number(metrics.get('per_class_ap', {}).get(c))}</td>"
        f"<td>{_number(champion.get('per_class_ap', {}).get(c))}</td></tr>" for c in classes)
    overall = "".join(
        f"<tr><td>{label}</td><td>{_number(metrics.get(key))}</td><td>{_number(champion.get(key))}</td></tr>"
        for label, key in (("mAP@0.5:0.95", "map"), ("mAP@0.5", "map_50"), ("mAP@0.75", "map_75"),
                           ("AR@100", "recall_100")))
    verdict = "passed" if gates_passed else "failed"
    reasons = "".join(f"<li>{escape(r)}</li>" for r in gate_reasons)
    decision = f'<p class="{verdict}">Release gates <b>{verdict}</b>.</p><ul>{reasons}</ul>'
    examples = "".join(
        f"<tr><td>{escape(e['image'])}</td><td>{escape(', '.join(e['truth']))}</td><td>"
        + escape(", ".join(f"{p['label']} {p['score']:.2f}" for p in e["predicted"])) + "</td></tr>"
        for e in report.get("examples", []))
    grid = (f'<img alt="validation images: true boxes green with a dark edge, predicted red" '
            f'src="data:image/jpeg;base64,{base64.b64encode(grid_jpeg).decode()}"/>'
            if grid_jpeg else "<p>No validation images.</p>")
    title = f"Training report: {escape(project)} / {escape(batch_id)}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:900px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px}}.passed{{color:#2e7d32}}.failed{{color:#c62828}}</style></head>
<body><h1>{title}</h1>
<p>Run {escape(run_id)}, dataset {escape(str(metrics.get("dataset_version")))},
{metrics.get("validation_images")} validation images.{_production(metrics)}</p>
<h2>Gate decision</h2>{decision}
<h2>Accuracy (COCO) vs. champion on the same validation images</h2>
<table><tr><th></th><th>this model</th><th>champion</th></tr>{overall}</table>
<h2>AP per class</h2><table><tr><th>class</th><th>this model</th><th>champion</th></tr>{ap_rows}</table>
{_golden(metrics)}
{flips_section(metrics, flips_jpeg)}
{"<h2>Exports against the SavedModel</h2>" + exports if (exports := exports_table(metrics)) else ""}
<h2>Training loss</h2>{loss_svg(report.get("loss", []), champion=champion_loss, champion_label=champion_name)}
<h2>Validation images</h2>{grid}
<table><tr><th>image</th><th>true</th><th>predicted (score ≥ 0.5)</th></tr>{examples}</table>
</body></html>
"""
