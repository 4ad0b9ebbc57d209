"""The table of a run's exports (ONNX, TFLite) against its SavedModel, shown on the approval page and in the training
report. Pure: metrics.json in, escaped HTML out."""

from __future__ import annotations

from html import escape
from typing import Any


def exports_table(metrics: dict[str, Any]) -> str:
    """One row per format the trainer was asked for; empty when it was asked for none."""
    exports = metrics.get("exports") or {}
    if not exports:
        return ""
    rows = []
    for name, export in sorted(exports.items()):
        parity = export.get("parity") or {}
        if "error" in export or "error" in parity:
            rows.append(f'<tr><td>{escape(name)}</td><td colspan="6">not usable: '
                        f'{escape(str(export.get("error") or parity.get("error")))}</td></tr>')
            continue
        saved = (parity.get("saved_model") or {}).get("map_50")
        rows.append(
            f"<tr><td>{escape(name)}</td><td>{_size(export.get('bytes'))}</td><td>{_fixed(export.get('seconds'), 1)} s"
            f"</td><td>{_fixed(parity.get('map_50'), 3)}</td><td>{_fixed(saved, 3)}</td>"
            f"<td>{_fixed(parity.get('map_50_drop'), 4)}</td><td>{_fixed(parity.get('max_box_difference'), 6)} / "
            f"{_fixed(parity.get('max_score_difference'), 6)}{_matched(parity)}</td></tr>")
    images = next((e["parity"]["images"] for e in exports.values() if "images" in (e.get("parity") or {})), "the")
    return ("<table><tr><th>export</th><th>size</th><th>converted in</th><th>mAP@0.5</th><th>SavedModel's</th>"
            f"<th>drop</th><th>largest box / score difference</th></tr>{''.join(rows)}</table>"
            f'<p class="muted">Each export and the SavedModel detected on the same {images} validation images. '
            "TFLite models have post-processing of their own: their detections scoring at least 0.3 are matched to the "
            "SavedModel's by class and overlap, and the ones without a match counted.</p>")


def _matched(parity: dict[str, Any]) -> str:
    if "lost_detections" not in parity:
        return ""
    return f" ({_count(parity['lost_detections'])} lost, {_count(parity.get('new_detections'))} new)"


def _count(value: Any) -> str:
    return str(value) if isinstance(value, int) else "n/a"


def _fixed(value: Any, digits: int) -> str:
    return "n/a" if not isinstance(value, int | float) else f"{value:.{digits}f}"


def _size(value: Any) -> str:
    return "n/a" if not isinstance(value, int) else f"{value / 1e6:.1f} MB"
