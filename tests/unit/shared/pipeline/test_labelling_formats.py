"""The labelling export in each tool's format (LABELLING_EXPORT_FORMAT): read by the tool's own importer code
(Datumaro, as CVAT imports; Label Studio's LabelInterface, as Label Studio imports), and, labelled, read back by the
dataset path with the same boxes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from shared.dataset.service import DatasetBuilder
from shared.labelling.export_files import EXPORT_FORMATS
from tests.unit.shared.labelling.samples import box, scene
from tests.unit.shared.pipeline.test_labelling import PROJECT, exported, live, serve  # noqa: F401 (fixture)

REPO = Path(__file__).resolve().parents[4]
TOOLS = REPO / ".venv-formats" / "bin" / "python"


def export_in(pipeline, live, kind: str) -> dict[str, bytes]:  # noqa: F811
    pipeline.rewire(labelling_export_format=kind)
    serve(pipeline, [("unsure", scene(2)[0], [box("square", 0.45), box("circle", 0.25, 0.5, 0.5, 0.9, 0.9)]),
                     ("missed", scene(3)[0], [box("circle", 0.12)])], minutes=5)
    labelling = type(live)(pipeline.tables, pipeline.blobs, pipeline.settings, pipeline.chat)
    summary = labelling.export(PROJECT, pipeline.later(3600))
    assert summary["exported"] == 2
    return exported(pipeline, summary)


EXPECTED = {  # the model's boxes at or above LABELLING_PRE_ANNOTATION_SCORE (0.2), in pixels of the 96x96 image
    "unsure": [["circle", 48.0, 48.0, 86.4, 86.4], ["square", 9.6, 9.6, 38.4, 38.4]],
    "missed": [],
}


@pytest.mark.parametrize("kind", EXPORT_FORMATS)
def test_each_tool_imports_the_export_with_its_own_code(pipeline, live, kind, tmp_path):  # noqa: F811
    files = export_in(pipeline, live, kind)
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    done = subprocess.run([str(TOOLS), str(REPO / "tests" / "tools" / "import_with_the_tools.py"), str(tmp_path),
                           kind], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout)
    items = {i["request_id"]: i["image"].rsplit("/", 1)[1] for i in json.loads(files["export.json"])["items"]}
    assert {request: found[name] for request, name in items.items()} == EXPECTED
    assert json.loads(files["export.json"])["format"] == kind


@pytest.mark.parametrize("kind", EXPORT_FORMATS)
def test_the_labelled_export_comes_back_through_the_dataset_path(pipeline, live, kind):  # noqa: F811
    files = export_in(pipeline, live, kind)
    if kind == "label-studio":  # Label Studio exports what the labeller submitted: here, the predictions accepted
        tasks = json.loads(files.pop("tasks.json"))
        files["export-from-label-studio.json"] = json.dumps([
            {"id": n, "data": t["data"], "annotations": [{"id": n, "result": t["predictions"][0]["result"],
                                                          "was_cancelled": False}]}
            for n, t in enumerate(tasks, start=1)]).encode()
    pipeline.upload(PROJECT, {f"labelled/{k}": v for k, v in files.items()})
    build = DatasetBuilder(pipeline.blobs, pipeline.settings).build(PROJECT)
    assert build.report.quarantined == [] and build.report.alerts == []
    boxes = sorted([o["name"], *[round(v, 1) for v in o["bbox"]]] for e in build.entries() for o in e["objects"])
    assert boxes == sorted(b for found in EXPECTED.values() for b in found)
    assert build.manifest["counts"]["production"] == 2
