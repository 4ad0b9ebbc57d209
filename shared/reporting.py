"""The per-run training report (one self-contained HTML page): overall and per-class AP, the loss curve, the gate
decision against the champion, and validation images with true and predicted boxes. Pure: no I/O here."""

from __future__ import annotations

import base64
from html import escape
from typing import Any


def _number(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else escape(str(value))


def loss_svg(points: list[list[float]], width: int = 480, height: int = 200) -> str:
    """An inline SVG polyline of (step, loss) points, with its axes' extremes written out."""
    if len(points) < 2:
        return "<p>Too few logged steps for a loss curve.</p>"
    steps, losses = [p[0] for p in points], [p[1] for p in points]
    lo, hi, first, last = min(losses), max(losses), min(steps), max(steps)
    span, pad = (hi - lo) or 1.0, 30

    def xy(step: float, loss: float) -> str:
        x = pad + (step - first) / ((last - first) or 1) * (width - 2 * pad)
        y = height - pad - (loss - lo) / span * (height - 2 * pad)
        return f"{x:.1f},{y:.1f}"

    line = " ".join(xy(s, v) for s, v in points)
    return (f'<svg width="{width}" height="{height}" role="img" aria-label="total loss by step">'
            f'<rect width="{width}" height="{height}" fill="#fafafa"/>'
            f'<polyline points="{line}" fill="none" stroke="#c62828" stroke-width="2"/>'
            f'<text x="{pad}" y="{pad - 10}" font-size="11">loss {hi:.3f}</text>'
            f'<text x="{pad}" y="{height - 8}" font-size="11">loss {lo:.3f} · steps {first:g} to {last:g}</text>'
            "</svg>")


def render_report(*, project: str, batch_id: str, run_id: str, metrics: dict[str, Any], report: dict[str, Any],
                  gates_passed: bool, gate_reasons: list[str], grid_jpeg: bytes | None) -> str:
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
    grid = (f'<img alt="validation images: true boxes green, predicted red" src="data:image/jpeg;base64,'
            f'{base64.b64encode(grid_jpeg).decode()}"/>' if grid_jpeg else "<p>No validation images.</p>")
    title = f"Training report: {escape(project)} / {escape(batch_id)}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:900px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px}}.passed{{color:#2e7d32}}.failed{{color:#c62828}}</style></head>
<body><h1>{title}</h1>
<p>Run {escape(run_id)}, dataset {escape(str(metrics.get("dataset_version")))},
{metrics.get("validation_images")} validation images.</p>
<h2>Gate decision</h2>{decision}
<h2>Accuracy (COCO) vs. champion on the same validation images</h2>
<table><tr><th></th><th>this model</th><th>champion</th></tr>{overall}</table>
<h2>AP per class</h2><table><tr><th>class</th><th>this model</th><th>champion</th></tr>{ap_rows}</table>
<h2>Training loss</h2>{loss_svg(report.get("loss", []))}
<h2>Validation images</h2>{grid}
<table><tr><th>image</th><th>true</th><th>predicted (score ≥ 0.5)</th></tr>{examples}</table>
</body></html>
"""
