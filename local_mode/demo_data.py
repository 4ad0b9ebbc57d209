"""A demo dataset made on the spot (nothing is downloaded): coloured shapes on noisy backgrounds, with
Pascal VOC annotations in VoTT's export layout, the way a person's labelling tool would write them."""

from __future__ import annotations

import io
import random
import tarfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from PIL import Image, ImageDraw

from shared.dataset.label_map import LabelMap

SHAPES = ("circle", "square", "triangle")
_COLOURS = {"circle": (220, 40, 40), "square": (40, 160, 40), "triangle": (40, 70, 220)}


@dataclass(frozen=True)
class Shape:
    name: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float


def make_scene(rng: random.Random, size: int = 128, count: int = 2,
               classes: tuple[str, ...] = SHAPES, fade: float = 0.0) -> tuple[Image.Image, list[Shape]]:
    """One RGB image with `count` non-overlapping shapes, and their boxes; `fade` (0 to 1) pulls the shapes' colours
    toward the background, as washed-out light or a worn camera would (the demo's harder production images)."""
    background = tuple(rng.randint(150, 235) for _ in range(3))
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    for _ in range(size * 2):  # speckle noise so the model cannot learn "anything not grey is a shape"
        x, y = rng.randrange(size), rng.randrange(size)
        draw.point((x, y), fill=tuple(rng.randint(100, 255) for _ in range(3)))
    shapes: list[Shape] = []
    for _ in range(count * 20):
        if len(shapes) == count:
            break
        side = rng.randint(size // 5, size // 3)
        x0, y0 = rng.randint(1, size - side - 1), rng.randint(1, size - side - 1)
        box = (x0, y0, x0 + side, y0 + side)
        if any(_overlaps(box, (s.xmin, s.ymin, s.xmax, s.ymax)) for s in shapes):
            continue
        name = rng.choice(classes)
        _draw(draw, name, box, _faded(_COLOURS.get(name, (0, 0, 0)), background, fade))
        shapes.append(Shape(name, *box))
    return image, shapes


def _overlaps(a, b, margin: int = 3) -> bool:
    return not (a[2] + margin < b[0] or b[2] + margin < a[0] or a[3] + margin < b[1] or b[3] + margin < a[1])


def _faded(colour: tuple[int, ...], background: tuple[int, ...], fade: float) -> tuple[int, ...]:
    return tuple(round(c + (b - c) * fade) for c, b in zip(colour, background, strict=True))


def _draw(draw: ImageDraw.ImageDraw, name: str, box: tuple[int, int, int, int], colour: tuple[int, ...]) -> None:
    x0, y0, x1, y1 = box
    if name == "circle":
        draw.ellipse(box, fill=colour)
    elif name == "triangle":
        draw.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=colour)
    else:
        draw.rectangle(box, fill=colour)


def voc_xml(filename: str, width: int, height: int, shapes: list[Shape], *, folder: str = "JPEGImages",
            with_size: bool = True) -> bytes:
    """Pascal VOC XML as VoTT writes it (float coordinates, difficult/truncated flags)."""
    objects = "".join(
        f"<object><name>{escape(s.name)}</name><pose>Unspecified</pose><truncated>0</truncated>"
        f"<difficult>0</difficult><bndbox><xmin>{s.xmin}</xmin><ymin>{s.ymin}</ymin>"
        f"<xmax>{s.xmax}</xmax><ymax>{s.ymax}</ymax></bndbox></object>"
        for s in shapes
    )
    size = f"<size><width>{width}</width><height>{height}</height><depth>3</depth></size>" if with_size else ""
    return (
        f"<annotation verified=\"yes\"><folder>{folder}</folder><filename>{escape(filename)}</filename>"
        f"<path>{escape(filename)}</path><source><database>Unknown</database></source>{size}"
        f"<segmented>0</segmented>{objects}</annotation>"
    ).encode()


def jpeg_bytes(image: Image.Image, quality: int = 90, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, **params)
    return buffer.getvalue()


def vott_export(count: int, *, seed: int = 0, size: int = 128, per_image: int = 2,
                classes: tuple[str, ...] = SHAPES, start: int = 0) -> dict[str, bytes]:
    """Files of a VoTT Pascal VOC export, by relative path."""
    rng = random.Random(seed)
    files: dict[str, bytes] = {}
    for index in range(start, start + count):
        image, shapes = make_scene(rng, size, per_image, classes)
        stem = f"img_{index:05d}"
        files[f"JPEGImages/{stem}.jpg"] = jpeg_bytes(image)
        files[f"Annotations/{stem}.xml"] = voc_xml(f"{stem}.jpg", size, size, shapes)
    names = sorted(classes)
    files["pascal_label_map.pbtxt"] = LabelMap.parse(
        "".join(f"item {{ id: {i} name: '{n}' }}\n" for i, n in enumerate(names, start=1))
    ).to_pbtxt().encode()
    files["ImageSets/Main/train.txt"] = "\n".join(f"img_{i:05d}" for i in range(start, start + count)).encode()
    return files


DEMO_FORMATS = ("pascal-voc", "coco", "yolo", "cvat", "label-studio")


def golden_export(count: int, fmt: str, *, seed: int) -> dict[str, bytes]:
    """A golden set in the demo's format, for the project's `golden/` folder: its images and annotations only (the
    label map and split lists are the main export's)."""
    return {name: data for name, data in demo_export(count, fmt, seed=seed).items()
            if not name.endswith(".pbtxt") and not name.startswith("ImageSets/")}


def demo_export(count: int, fmt: str, *, seed: int = 0, size: int = 128, per_image: int = 2) -> dict[str, bytes]:
    """The demo's images (the same as `vott_export`'s for a seed) as another labelling tool exports them: COCO (CVAT's
    COCO layout), Ultralytics YOLO, CVAT for images 1.1 or Label Studio's JSON export."""
    if fmt == "pascal-voc":
        return vott_export(count, seed=seed, size=size, per_image=per_image)
    from shared.labelling.export_files import Labelled, coco_json, cvat_xml, label_studio_tasks

    rng = random.Random(seed)
    files: dict[str, bytes] = {}
    labelled = []
    for index in range(count):
        image, shapes = make_scene(rng, size, per_image)
        stem = f"img_{index:05d}"
        folder = "images/train" if fmt == "yolo" else "images"
        files[f"{folder}/{stem}.jpg"] = jpeg_bytes(image)
        labelled.append(Labelled(f"images/{stem}.jpg", size, size,
                                 tuple((s.name, 1.0, s.xmin, s.ymin, s.xmax, s.ymax) for s in shapes)))
        if fmt == "yolo":
            files[f"labels/train/{stem}.txt"] = "".join(
                f"{SHAPES.index(s.name)} {(s.xmin + s.xmax) / 2 / size:.6f} {(s.ymin + s.ymax) / 2 / size:.6f} "
                f"{(s.xmax - s.xmin) / size:.6f} {(s.ymax - s.ymin) / size:.6f}\n" for s in shapes).encode()
    if fmt == "coco":
        files["annotations/instances_default.json"] = coco_json(labelled, list(SHAPES))
    elif fmt == "cvat":
        files["annotations.xml"] = cvat_xml(labelled, list(SHAPES), "demo")
    elif fmt == "label-studio":
        files["result.json"] = label_studio_tasks(labelled, None)
    elif fmt == "yolo":
        files["data.yaml"] = ("names:\n" + "".join(f"  {i}: {n}\n" for i, n in enumerate(SHAPES))).encode()
    return files


def write_files(folder: Path, files: dict[str, bytes]) -> None:
    for relative, data in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def zoo_archive(package: Path, name: str) -> bytes:
    """A trained package in the TF2 Detection Model Zoo's layout, as a .tar.gz:
    <name>/{pipeline.config, checkpoint/, saved_model/} (what `base-model add` imports; saved_model/ if present)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for part in ("pipeline.config", "checkpoint", "saved_model"):
            if (package / part).exists():
                tar.add(package / part, arcname=f"{name}/{part}")
    return buffer.getvalue()
