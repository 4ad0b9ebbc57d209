"""The project page's chart: mAP@0.5 and each class's AP across model versions, as inline SVG (no script, no
external file), with labelled axes, one point per version and a legend."""

from __future__ import annotations

from html import escape
from typing import Any

from shared import palette

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 150, 12, 40


def version_chart(versions: list[dict[str, Any]]) -> str:
    """One line for mAP@0.5 (thick), one for the golden set's mAP@0.5 where versions have one (thick), and one per
    class (AP@0.5:0.95, thin), x the versions in order, y 0 to 1."""
    if not versions:
        return '<p class="muted">No registered version yet: the chart starts with the first.</p>'
    classes = sorted({c for v in versions for c in v.get("per_class_ap") or {}})
    series = [("mAP@0.5", [v.get("map_50") for v in versions], 3.0)]
    if any(isinstance(v.get("golden_map_50"), int | float) for v in versions):  # the same images every version
        series.append(("golden mAP@0.5", [v.get("golden_map_50") for v in versions], 3.0))
    series += [(f"AP {c}", [(v.get("per_class_ap") or {}).get(c) for v in versions], 1.5) for c in classes]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (plot_w * (i + 0.5) / len(versions))

    def y(value: float) -> float:
        return TOP + plot_h * (1 - min(max(value, 0.0), 1.0))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
             f'height="{HEIGHT}" aria-labelledby="chart-title"><title id="chart-title">mAP@0.5 and AP per class '
             f'across model versions</title>']
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                     f'stroke="#ddd"/><text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" font-size="11" '
                     f'text-anchor="end">{tick:g}</text>')
    for i, v in enumerate(versions):
        parts.append(f'<text class="x-tick" x="{x(i):.1f}" y="{TOP + plot_h + 16}" font-size="11" '
                     f'text-anchor="middle">v{escape(str(v["version"]))}</text>')
    parts.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#333"/>'
                 f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" stroke="#333"/>'
                 f'<text class="axis-label" x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 6}" font-size="12" '
                 f'text-anchor="middle">model version</text>'
                 f'<text class="axis-label" x="12" y="{TOP + plot_h / 2:.1f}" font-size="12" text-anchor="middle" '
                 f'transform="rotate(-90 12 {TOP + plot_h / 2:.1f})">AP on the validation images</text>')
    for n, (name, values, width) in enumerate(series):
        colour = palette.colour(n)
        # the OD API writes -1 (or NaN) for a class without validation boxes: no point, rather than a false zero
        points = [(x(i), y(value), value) for i, value in enumerate(values)
                  if isinstance(value, int | float) and value >= 0]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in points)
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="{width}" points="{path}"/>')
        label, short = escape(name), escape(name if len(name) <= 20 else name[:19] + "…")
        parts += [f'<circle class="point" data-series="{label}" cx="{px:.1f}" cy="{py:.1f}" r="{width + 1}" '
                  f'fill="{colour}"><title>{label}: {value:.3f}</title></circle>' for px, py, value in points]
        ly = TOP + 14 * n + 8
        parts.append(f'<rect x="{LEFT + plot_w + 12}" y="{ly - 8}" width="10" height="10" fill="{colour}"/>'
                     f'<text class="legend" x="{LEFT + plot_w + 26}" y="{ly + 1}" font-size="11">{short}'
                     f"<title>{label}</title></text>")
    parts.append("</svg>")
    return "".join(parts)
