"""Makes the labelling tools' exports under tests/data/formats/ with the tools' own exporter code.

Run once, in an environment of its own (the tools' pins are not TensorFlow's), from the repository root:
    python3 -m venv /tmp/formats && /tmp/formats/bin/pip install datumaro==1.13.12 label-studio-converter==0.0.59
    PYTHONPATH=. /tmp/formats/bin/python tests/data/formats/make_exports.py

The images are the demo's shapes (local_mode/demo_data.py). Datumaro (MIT; the format engine CVAT uses) writes the
COCO, Ultralytics YOLO, darknet YOLO and CVAT exports; Label Studio's export is written in its documented JSON
export shape and then read back by Label Studio's own converter (label-studio-converter, Apache-2.0), which must find
the same boxes, so the file is one Label Studio's code takes. `truth.json` holds what each export must read as.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from pathlib import Path

import datumaro as dm
import numpy as np
from label_studio_converter import Converter
from PIL import Image

from local_mode.demo_data import make_scene

HERE = Path(__file__).resolve().parent
CLASSES = ["circle", "square", "triangle"]
SIZE = 96
SPLITS = {"train": 6, "val": 2}
BACKGROUND = {"train": 1}
"""Images per split with no boxes (the last of the split)."""


def scenes() -> dict[str, list[tuple[str, Image.Image, list[tuple[str, tuple[int, int, int, int]]]]]]:
    rng = random.Random(7)
    made = {}
    for split, count in SPLITS.items():
        made[split] = []
        for index in range(count):
            image, shapes = make_scene(rng, SIZE, 2)
            if index >= count - BACKGROUND.get(split, 0):
                image, shapes = make_scene(rng, SIZE, 0)
            boxes = [(s.name, (s.xmin, s.ymin, s.xmax, s.ymax)) for s in shapes]
            made[split].append((f"{split}_{index:03d}", image, boxes))
    return made


def dataset(made) -> dm.Dataset:
    items = []
    for split, rows in made.items():
        for stem, image, shapes in rows:
            boxes = [dm.Bbox(x0, y0, x1 - x0, y1 - y0, label=CLASSES.index(name)) for name, (x0, y0, x1, y1) in shapes]
            items.append(dm.DatasetItem(id=stem, subset=split, media=dm.Image.from_numpy(np.asarray(image)[:, :, ::-1]),
                                        annotations=boxes))
    return dm.Dataset.from_iterable(items, categories=CLASSES)


def export(made, fmt: str, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    dataset(made).export(str(target), fmt, save_media=True)


def label_studio(made, target: Path) -> None:
    """The JSON export of a Label Studio project whose images were uploaded (so their paths carry the 8-hex prefix
    Label Studio adds), one of them labelled twice (the later annotation is the one to use), one not labelled."""
    shutil.rmtree(target, ignore_errors=True)
    (target / "images").mkdir(parents=True)
    tasks = []
    for number, (stem, image, shapes) in enumerate(made["train"] + made["val"], start=1):
        image.save(target / "images" / f"{stem}.jpg", quality=90)
        result = [{"id": f"r{number}_{i}", "type": "rectanglelabels", "from_name": "label", "to_name": "image",
                   "original_width": SIZE, "original_height": SIZE, "image_rotation": 0,
                   "value": {"x": x0 * 100 / SIZE, "y": y0 * 100 / SIZE, "width": (x1 - x0) * 100 / SIZE,
                             "height": (y1 - y0) * 100 / SIZE, "rotation": 0, "rectanglelabels": [name]}}
                  for i, (name, (x0, y0, x1, y1)) in enumerate(shapes)]
        annotations = [{"id": number * 10, "completed_by": 1, "result": result, "was_cancelled": False,
                        "ground_truth": False, "created_at": "2026-11-30T10:00:00.000000Z",
                        "updated_at": "2026-11-30T10:00:00.000000Z", "lead_time": 12.5}]
        if number == 1:  # a first, wrong attempt, corrected later
            annotations.insert(0, {**annotations[0], "id": 5, "result": result[:1],
                                   "updated_at": "2026-11-29T10:00:00.000000Z"})
        tasks.append({"id": number, "data": {"image": f"/data/upload/1/{number:08x}-{stem}.jpg"},
                      "annotations": annotations, "predictions": [], "meta": {}, "project": 1,
                      "created_at": "2026-11-29T09:00:00.000000Z", "updated_at": "2026-11-30T10:00:00.000000Z"})
    tasks.append({"id": 99, "data": {"image": "/data/upload/1/0000ffff-unlabelled.jpg"}, "annotations": [],
                  "predictions": [], "meta": {}, "project": 1})
    Image.new("RGB", (SIZE, SIZE), (200, 200, 200)).save(target / "images" / "unlabelled.jpg")
    (target / "result.json").write_text(json.dumps(tasks, indent=1))
    _check_with_label_studio(target, made)


def _check_with_label_studio(target: Path, made) -> None:
    config = ('<View><Image name="image" value="$image"/><RectangleLabels name="label" toName="image">'
              + "".join(f'<Label value="{c}"/>' for c in CLASSES) + "</RectangleLabels></View>")
    with tempfile.TemporaryDirectory() as out:
        Converter(config, str(target), download_resources=False).convert_to_coco(
            str(target / "result.json"), out, is_dir=False)
        coco = json.loads((Path(out) / "result.json").read_text())
    expected = sum(len(shapes) for rows in made.values() for _, _, shapes in rows)
    # the converter keeps every annotation of a task: the first, superseded attempt on task 1 adds its one box
    assert len(coco["annotations"]) == expected + 1, (len(coco["annotations"]), expected)


def main() -> None:
    made = scenes()
    export(made, "coco_instances", HERE / "coco")
    export(made, "yolo_ultralytics", HERE / "yolo-ultralytics")
    export(made, "yolo", HERE / "yolo-darknet")
    export(made, "cvat", HERE / "cvat")
    for subset in SPLITS:  # CVAT names the file annotations.xml; Datumaro names it after the subset
        (HERE / "cvat" / subset).mkdir(exist_ok=True)
        (HERE / "cvat" / f"{subset}.xml").rename(HERE / "cvat" / subset / "annotations.xml")
    label_studio(made, HERE / "label-studio")
    truth = {"images": sum(SPLITS.values()), "background": sum(BACKGROUND.values()),
             "boxes_per_class": {c: sum(name == c for rows in made.values() for _, _, shapes in rows
                                        for name, _ in shapes) for c in CLASSES},
             "splits": {split: [stem for stem, _, _ in rows] for split, rows in made.items()}}
    (HERE / "truth.json").write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n")
    print(json.dumps(truth))


if __name__ == "__main__":
    main()
