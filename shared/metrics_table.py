"""A model's accuracy against the champion's on the same images, overall and class by class, with the change: the
validation split's on the approval page, the golden set's there and in the training report. Pure: figures in,
escaped HTML out."""

from __future__ import annotations

import base64
from html import escape
from typing import Any

OVERALL = (("mAP@0.5:0.95", "map"), ("mAP@0.5", "map_50"), ("mAP@0.75", "map_75"), ("AR@100", "recall_100"))


def _number(value: Any) -> str:
    """-1 is the OD API's "no object of that class here"; anything not a number is shown as it is, escaped."""
    if value is None or (isinstance(value, int | float) and value < 0):
        return "n/a"
    return f"{value:.3f}" if isinstance(value, int | float) else escape(str(value))


def _change(mine: Any, theirs: Any) -> str:
    if not isinstance(mine, int | float) or not isinstance(theirs, int | float) or mine < 0 or theirs < 0:
        return ""
    return f"{mine - theirs:+.3f}"


def metrics_table(metrics: dict[str, Any], images: Any, what: str = "validation images") -> str:
    """`metrics` as the trainer summarizes them, the champion's under `champion` (absent: no champion yet)."""
    champion = metrics.get("champion") or {}
    rows = [(label, metrics.get(key), champion.get(key)) for label, key in OVERALL]
    mine, theirs = metrics.get("per_class_ap") or {}, champion.get("per_class_ap") or {}
    rows += [(f"AP {c}", mine.get(c), theirs.get(c)) for c in sorted(set(mine) | set(theirs))]
    body = "".join(f"<tr><td>{escape(label)}</td><td>{_number(a)}</td><td>{_number(b)}</td><td>{_change(a, b)}</td>"
                   "</tr>" for label, a, b in rows)
    who = "the live model (champion)" if champion else "no champion yet"
    return (f"<table><tr><th>on {escape(str(images))} {escape(what)}</th><th>this model</th><th>{who}</th>"
            f"<th>change</th></tr>{body}</table>")


def flips_section(metrics: dict[str, Any], jpeg: bytes | None) -> str:
    """The objects that flipped between the champion and this model on the validation images, per class, and the
    crops the trainer made of a few; empty when there was no champion to compare with."""
    flips = metrics.get("flips")
    if not isinstance(flips, dict):
        return ""
    classes = sorted(set(flips.get("lost") or {}) | set(flips.get("gained") or {}))
    rows = "".join(f"<tr><td>{escape(c)}</td><td>{escape(str((flips.get('lost') or {}).get(c, 0)))}</td>"
                   f"<td>{escape(str((flips.get('gained') or {}).get(c, 0)))}</td></tr>" for c in classes)
    table = (f"<table><tr><th>class</th><th>found by the champion, missed now</th><th>missed by the champion, "
             f"found now</th></tr>{rows}</table>" if rows else "<p>No object changed: both models found the same "
             "ones.</p>")
    image = (f'<img alt="objects that flipped: true box green, champion blue, this model red" '
             f'src="data:image/jpeg;base64,{base64.b64encode(jpeg).decode()}"/>' if jpeg else "")
    said = {key: escape(str(flips.get(key))) for key in ("images", "found_score", "found_iou")}
    return (f"<h2>What changed, object by object (same {said['images']} validation images)</h2>"
            f"<p>An object counts as found with a box of its class scoring at least {said['found_score']} at IoU ≥ "
            f"{said['found_iou']}.</p>{table}{image}")
