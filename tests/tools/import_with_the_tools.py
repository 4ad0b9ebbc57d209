"""Reads a labelling export with the labelling tools' own importer code; runs in .venv-formats (their pins are not
TensorFlow's). Prints {image file name: [[label, xmin, ymin, xmax, ymax], ...]} as JSON.

    .venv-formats/bin/python tests/tools/import_with_the_tools.py FOLDER pascal-voc|coco|cvat|label-studio

pascal-voc, coco, cvat: Datumaro's importers (the format engine CVAT's own import uses). label-studio: Label Studio's
LabelInterface (label-studio-sdk) validates the labelling config, each task and each prediction against it, as Label
Studio's import does.
"""

from __future__ import annotations

import json
import posixpath
import sys
from pathlib import Path


def datumaro_boxes(folder: Path, kind: str) -> dict[str, list]:
    import datumaro as dm

    dataset = dm.Dataset.import_from(str(folder), {"pascal-voc": "voc", "coco": "coco_instances", "cvat": "cvat"}[kind])
    labels = dataset.categories()[dm.AnnotationType.label]
    found = {}
    for item in dataset:
        boxes = [a for a in item.annotations if a.type == dm.AnnotationType.bbox]
        name = posixpath.basename(item.media.path)
        found[name] = sorted([labels[b.label].name, *[round(v, 1) for v in (b.x, b.y, b.x + b.w, b.y + b.h)]]
                             for b in boxes)
    return found


def label_studio_boxes(folder: Path) -> dict[str, list]:
    from label_studio_sdk.label_interface import LabelInterface

    interface = LabelInterface((folder / "config.xml").read_text())
    interface.validate()  # the labelling config itself (schema, names, toName)
    found = {}
    for task in json.loads((folder / "tasks.json").read_text()):
        # its data (validate_task calls validate_prediction() without the prediction in 2.1.2: each is checked below)
        data_only = {k: v for k, v in task.items() if k != "predictions"}
        assert interface.validate_task(data_only), f"Label Studio refuses the task {task['data']}"
        boxes = []
        for prediction in task["predictions"]:
            errors = interface._validate_object(prediction, return_errors=True)
            assert interface.validate_prediction(prediction), f"Label Studio refuses the prediction: {errors}"
            for result in prediction["result"]:
                v, w, h = result["value"], result["original_width"], result["original_height"]
                boxes.append([v["rectanglelabels"][0], *[round(x, 1) for x in (
                    v["x"] * w / 100, v["y"] * h / 100, (v["x"] + v["width"]) * w / 100,
                    (v["y"] + v["height"]) * h / 100)]])
        found[posixpath.basename(task["data"]["image"])] = sorted(boxes)
    return found


def main() -> None:
    folder, kind = Path(sys.argv[1]), sys.argv[2]
    found = label_studio_boxes(folder) if kind == "label-studio" else datumaro_boxes(folder, kind)
    print(json.dumps(found, sort_keys=True))


if __name__ == "__main__":
    main()
