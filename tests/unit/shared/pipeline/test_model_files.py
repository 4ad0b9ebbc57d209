"""A registered model's files for a device team: found from the run ledger, the export asked for with its label
map and figures, and a clear answer for a version or a format that is not there."""

from __future__ import annotations

import json

import pytest

from shared.pipeline.model_files import ModelFilesError, model_files
from shared.ports import DeploymentSpec
from shared.registry import model_name_for

EXPORTS = {"onnx": {"file": "model.onnx", "bytes": 5, "parity": {"map_50": 0.8, "map_50_drop": 0.0}},
           "tflite-int8": {"file": "model_int8.tflite", "bytes": 3, "parity": {"map_50": 0.78, "map_50_drop": 0.02}},
           "tflite-fp16": {"error": "TFLite export is for SSD models (this one is faster_rcnn)"}}


def registered(pipeline, project: str = "dev") -> str:
    """A model that passed its gates, with its package's files in the models container; its folder."""
    job = pipeline.train(project, images=12)
    pipeline.write_metrics(job, map=0.5, map_50=0.8, exports=EXPORTS)
    request = pipeline.training.jobs[job]
    folder = f"{project}/{request.batch_id}/model"
    for name, data in {"model.onnx": b"onnx!", "model_int8.tflite": b"int", "label_map.pbtxt": b"item {}",
                       "saved_model/saved_model.pb": b"pb"}.items():
        pipeline.blobs.write(pipeline.settings.models_container, f"{folder}/{name}", data)
    pipeline.end(job)
    return folder


def test_the_export_asked_for_comes_with_its_label_map_and_figures(pipeline):
    folder = registered(pipeline)
    found = model_files(pipeline.blobs, pipeline.records, pipeline.settings, "dev", "1", ["onnx", "tflite-int8"])
    assert (found.version, found.folder) == ("1", folder)
    assert found.files["model.onnx"] == b"onnx!" and found.files["model_int8.tflite"] == b"int"
    assert set(found.files) == {"model.onnx", "model_int8.tflite", "label_map.pbtxt", "metrics.json"}
    assert json.loads(found.files["metrics.json"])["exports"]["tflite-int8"]["parity"]["map_50_drop"] == 0.02
    whole = model_files(pipeline.blobs, pipeline.records, pipeline.settings, "dev", "1", ["saved-model"])
    assert "saved_model/saved_model.pb" in whole.files and "model.onnx" in whole.files


def test_without_a_version_the_live_one_is_taken_and_none_live_is_said(pipeline):
    folder = registered(pipeline)
    with pytest.raises(ModelFilesError, match=r"project 'dev' has no live model: name a version \(registered: 1\)"):
        model_files(pipeline.blobs, pipeline.records, pipeline.settings, "dev", None, ["onnx"])
    run = pipeline.run("dev")
    pipeline.registry.set_state(run.model_name, run.model_version, "approved")
    spec = DeploymentSpec("dev", run.model_name, run.model_version, folder)
    assert pipeline.release.start(spec, run.batch_id, pipeline.now)["phase"] == "live"
    assert model_files(pipeline.blobs, pipeline.records, pipeline.settings, "dev", None, ["onnx"]).version == "1"


def test_a_missing_version_or_export_is_named(pipeline):
    registered(pipeline)
    assert model_name_for("dev") == "tfod-dev"
    with pytest.raises(ModelFilesError, match=r"no model version 4 \(registered: 1\)"):
        model_files(pipeline.blobs, pipeline.records, pipeline.settings, "dev", "4", ["onnx"])
    with pytest.raises(ModelFilesError, match=r"has no tflite-fp16 file: TFLite export is for SSD models"):
        model_files(pipeline.blobs, pipeline.records, pipeline.settings, "dev", "1", ["tflite-fp16"])
    with pytest.raises(ModelFilesError, match="unknown format coreml"):
        model_files(pipeline.blobs, pipeline.records, pipeline.settings, "dev", "1", ["coreml"])
