"""What changed between the champion and this model on the same images, object by object: the objects one finds
(same class, IoU ≥ 0.5, score ≥ 0.5) and the other misses, counted per class, a handful of each cropped with both
models' boxes for the report and the approval page. Averages hide a class being forgotten; these show it."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from trainer_image.validation_pass import Seen, box_iou

FOUND_SCORE = 0.5
FOUND_IOU = 0.5
CROP = 160
SHOWN = 6
"""Crops per kind (lost, gained) in the strip."""
CHAMPION_COLOUR, MODEL_COLOUR, TRUTH_COLOUR = (30, 90, 230), (230, 0, 0), (0, 230, 0)


@dataclass(frozen=True)
class Flip:
    index: int
    """The image's place in the pass (both passes read the same records in the same order)."""
    image: str
    box: tuple[float, ...]
    """The true box, normalised xmin, ymin, xmax, ymax."""
    name: str
    kind: str
    """`lost`: the champion found it and this model misses it; `gained`: the reverse."""


def found(image: Seen, names: dict[int, str]) -> list[bool]:
    """For each true object of `image`, whether a detection of its class (by name) scoring at least FOUND_SCORE
    overlaps it by IoU ≥ FOUND_IOU."""
    out = image.detections
    kept = out["detection_scores"] >= FOUND_SCORE
    boxes = np.asarray(out["detection_boxes"])[kept]
    classes = [names.get(int(c), "") for c in np.asarray(out["detection_classes"])[kept]]
    result = []
    for truth, name in zip(image.truth, image.truth_names, strict=True):
        same = np.array([c == name for c in classes], bool)
        overlaps = box_iou(np.asarray(truth)[[1, 0, 3, 2]], boxes) if len(boxes) else np.zeros(0)
        result.append(bool((same & (overlaps >= FOUND_IOU)).any()))
    return result


def flips(mine: list[Seen], theirs: list[Seen], my_names: dict[int, str],
          their_names: dict[int, str]) -> list[Flip]:
    """Every object found by exactly one of the two models, image by image."""
    changed = []
    for index, (me, them) in enumerate(zip(mine, theirs, strict=True)):
        for obj, (now, before) in enumerate(zip(found(me, my_names), found(them, their_names), strict=True)):
            if now != before:
                changed.append(Flip(index, me.name, tuple(float(v) for v in me.truth[obj]), me.truth_names[obj],
                                    "gained" if now else "lost"))
    return changed


def summary(changed: list[Flip], compared: int) -> dict[str, Any]:
    """Counts per class of each kind, and the first few of each (what the strip shows), for metrics.json."""
    return {"images": compared, "found_score": FOUND_SCORE, "found_iou": FOUND_IOU,
            **{kind: dict(sorted(Counter(f.name for f in changed if f.kind == kind).items()))
               for kind in ("lost", "gained")},
            "shown": [{"image": f.image, "class": f.name, "kind": f.kind} for f in _shown(changed)]}


def _shown(changed: list[Flip]) -> list[Flip]:
    return [f for f in changed if f.kind == "lost"][:SHOWN] + [f for f in changed if f.kind == "gained"][:SHOWN]


def wanted_images(changed: list[Flip]) -> set[int]:
    """The images the strip crops from (read again: the pass keeps only a few in memory)."""
    return {f.index for f in _shown(changed)}


def strip(changed: list[Flip], images: dict[int, bytes], mine: list[Seen], theirs: list[Seen],
          my_names: dict[int, str], their_names: dict[int, str]) -> bytes | None:
    """One JPEG: a row of objects lost (the champion found them), a row gained; each crop with the true box (green),
    the champion's detections (blue) and this model's (red) scoring at least FOUND_SCORE."""
    rows = [[f for f in _shown(changed) if f.kind == kind] for kind in ("lost", "gained")]
    if not any(rows):
        return None
    totals = Counter(f.kind for f in changed)
    sheet = Image.new("RGB", (CROP * SHOWN, (CROP + 16) * len(rows)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for row, flipped in enumerate(rows):
        top = row * (CROP + 16)
        kind = "lost" if row == 0 else "gained"
        title = "found by the champion, missed now" if row == 0 else "missed by the champion, found now"
        draw.text((4, top + 2), f"{title}: {totals[kind] or 'none'}"
                  + (f" ({len(flipped)} shown)" if totals[kind] > len(flipped) else ""), fill=(0, 0, 0))
        for column, flip in enumerate(flipped):
            tile = _crop(flip, images[flip.index], mine[flip.index], theirs[flip.index], my_names, their_names)
            sheet.paste(tile, (column * CROP, top + 16))
    buffer = io.BytesIO()
    sheet.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _crop(flip: Flip, encoded: bytes, me: Seen, them: Seen, my_names: dict[int, str],
          their_names: dict[int, str]) -> Image.Image:
    image = Image.open(io.BytesIO(encoded)).convert("RGB")
    width, height = image.size
    xmin, ymin, xmax, ymax = flip.box
    margin = 0.5 * max(xmax - xmin, ymax - ymin)
    left, top = max(0.0, xmin - margin), max(0.0, ymin - margin)
    right, bottom = min(1.0, xmax + margin), min(1.0, ymax + margin)
    tile = image.crop((int(left * width), int(top * height), max(int(left * width) + 1, int(right * width)),
                       max(int(top * height) + 1, int(bottom * height)))).resize((CROP, CROP))
    draw = ImageDraw.Draw(tile)

    def place(box: Iterable[float]) -> list[float]:
        x0, y0, x1, y1 = box
        return [(x0 - left) / (right - left) * CROP, (y0 - top) / (bottom - top) * CROP,
                (x1 - left) / (right - left) * CROP, (y1 - top) / (bottom - top) * CROP]

    x0, y0, x1, y1 = place(flip.box)  # wide, under the models' boxes: visible where one sits right on it
    draw.rectangle([x0 - 3, y0 - 3, x1 + 3, y1 + 3], outline=TRUTH_COLOUR, width=6)
    for seen, names, colour in ((them, their_names, CHAMPION_COLOUR), (me, my_names, MODEL_COLOUR)):
        out = seen.detections
        for box, cls, score in zip(out["detection_boxes"], out["detection_classes"], out["detection_scores"],
                                   strict=True):
            if score >= FOUND_SCORE:
                ymin_, xmin_, ymax_, xmax_ = (float(v) for v in box)
                corners = place((xmin_, ymin_, xmax_, ymax_))
                draw.rectangle(corners, outline=colour, width=2)
                draw.text((corners[0] + 2, corners[1] + 1), f"{names.get(int(cls), cls)} {score:.2f}", fill=colour)
    draw.text((3, CROP - 12), f"{flip.kind}: {flip.name}", fill=(0, 0, 0))
    return tile
