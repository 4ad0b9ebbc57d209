"""With --json, a command's stdout holds only its JSON document; progress goes to stderr."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_run_validate_only_json_prints_only_the_report(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DataStorage", "AZURITE_CONNECTION_STRING")}
    done = subprocess.run([sys.executable, "-m", "local_mode", "run", "--validate-only", "--json", "--demo-images",
                           "12", "--log-file", str(tmp_path / "log.jsonl")], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)  # nothing but the document
    assert report["counts"]["images"] == 12 + 20 and report["counts"]["golden"] == 20  # the demo's golden set
    assert "[local] uploaded" in done.stderr and "[local] made a demo dataset" in done.stderr


def test_validate_only_reads_every_tools_export_side_by_side(tmp_path):
    """The five exports of tests/data/formats in one folder, as a user would point --dataset at it."""
    formats = REPO / "tests" / "data" / "formats"
    truth = json.loads((formats / "truth.json").read_text())
    exports = ["coco", "cvat", "label-studio", "yolo-darknet", "yolo-ultralytics"]
    for name in exports:
        shutil.copytree(formats / name, tmp_path / "dataset" / name)
    env = {k: v for k, v in os.environ.items() if k not in ("DataStorage", "AZURITE_CONNECTION_STRING")}
    done = subprocess.run([sys.executable, "-m", "local_mode", "run", "--validate-only", "--json", "--dataset",
                           str(tmp_path / "dataset"), "--log-file", str(tmp_path / "log.jsonl")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["formats"] == {"coco/annotations": "coco", "cvat/train": "cvat", "cvat/val": "cvat",
                                 "label-studio": "label-studio", "yolo-darknet/obj_train_data": "yolo",
                                 "yolo-darknet/obj_val_data": "yolo", "yolo-ultralytics/labels/train": "yolo",
                                 "yolo-ultralytics/labels/val": "yolo"}
    counts = report["counts"]
    assert (counts["images"], counts["background"]) == (5 * truth["images"], 5 * truth["background"])
    assert counts["boxes_per_class"] == {c: 5 * n for c, n in truth["boxes_per_class"].items()}
    assert report["quarantined"] == [] and report["alerts"] == []
