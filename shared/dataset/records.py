"""One image and its annotation → one training record with boxes in the frame a viewer sees."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shared.dataset.images import ImageFacts, stored_box_to_display
from shared.dataset.problems import Rejected
from shared.dataset.voc import Box, VocAnnotation


@dataclass(frozen=True)
class Record:
    width: int
    height: int
    boxes: tuple[Box, ...]
    notes: tuple[tuple[str, str], ...] = ()
    """(field, message) warnings: clipped boxes, size read from the image, EXIF conversion."""


def _round(value: float) -> float:
    return round(value, 3)


def build_record(
    annotation: VocAnnotation, image: ImageFacts, class_of: Callable[[str], str],
    box_fields: Sequence[str] | None = None,
) -> Record:
    """Check an annotation against its decoded image; raise Rejected for what cannot be repaired. `box_fields`
    names each box where its file has it (default: VOC's `object[i]/bndbox`)."""
    notes: list[tuple[str, str]] = []
    from_stored = _frame_of(annotation, image, notes)
    width, height = image.width, image.height
    boxes = []
    for index, obj in enumerate(annotation.objects, start=1):
        where = box_fields[index - 1] if box_fields else f"object[{index}]/bndbox"
        xmin, ymin, xmax, ymax = obj.xmin, obj.ymin, obj.xmax, obj.ymax
        if xmin > xmax or ymin > ymax:
            raise Rejected(where, f"inverted box: xmin={xmin:g} xmax={xmax:g} ymin={ymin:g} ymax={ymax:g}")
        if xmin == xmax or ymin == ymax:
            raise Rejected(where, f"zero-area box ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g})")
        if from_stored:
            xmin, ymin, xmax, ymax = stored_box_to_display(
                (xmin, ymin, xmax, ymax), image.orientation, (image.stored_width, image.stored_height)
            )
        clipped = (max(0.0, xmin), max(0.0, ymin), min(float(width), xmax), min(float(height), ymax))
        if clipped[0] >= clipped[2] or clipped[1] >= clipped[3]:
            raise Rejected(where, f"box ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g}) lies outside the "
                                  f"{width}x{height} image")
        if clipped != (xmin, ymin, xmax, ymax):
            notes.append((where, f"box ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g}) spills outside the "
                                 f"{width}x{height} image; clipped to ({', '.join(f'{v:g}' for v in clipped)})"))
        try:
            name = class_of(obj.name)
        except Rejected as exc:
            raise Rejected(f"object[{index}]/{exc.field}", exc.reason) from None
        boxes.append(Box(name, *map(_round, clipped), obj.difficult, obj.truncated))
    return Record(width, height, tuple(boxes), tuple(notes))


def _frame_of(annotation: VocAnnotation, image: ImageFacts, notes: list[tuple[str, str]]) -> bool:
    """True when the boxes were drawn on the stored pixels (tool ignored EXIF) and need converting."""
    displayed, stored = (image.width, image.height), (image.stored_width, image.stored_height)
    if annotation.size is None:
        notes.append(("size", f"missing; read from the image: {displayed[0]}x{displayed[1]}"))
        return False
    if annotation.size == displayed:
        return False
    if annotation.size == stored:
        notes.append(("size", f"matches the stored pixels, not the EXIF orientation {image.orientation} view; "
                              "boxes converted to the displayed frame"))
        return True
    raise Rejected(
        "size",
        f"annotation says {annotation.size[0]}x{annotation.size[1]} but the image is "
        f"{displayed[0]}x{displayed[1]}",
    )
