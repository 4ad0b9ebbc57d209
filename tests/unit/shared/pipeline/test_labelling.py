"""Export for labelling and drift watch on the in-memory stores: what a labeller receives, and what the status and
the logs say."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from shared.clock import iso
from shared.dataset.service import DatasetBuilder
from shared.labelling.drift import Profile
from shared.labelling.export_files import unzipped
from shared.pipeline.labelling import Labelling
from shared.pipeline.records import ReleaseState
from shared.serving import endpoint_name
from tests.unit.shared.labelling.samples import box, collector_file, rows, scene
from tests.unit.shared.pipeline.conftest import START

PROJECT = "shapes"
FOLDER = "shapes/run-1"


@pytest.fixture
def live(pipeline):
    """Version 3 of the project's model is live on blue since START; its package has a label map and baseline."""
    s = pipeline.settings
    pipeline.records.save_release(ReleaseState(project=PROJECT, phase="live", live_slot="blue",
                                               live_model_name="tfod-shapes", live_model_version="3",
                                               live_model_folder=FOLDER, live_since=iso(START)))
    pipeline.blobs.ensure_container(s.models_container)
    pipeline.blobs.write(s.models_container, f"{FOLDER}/label_map.pbtxt",
                         b"item { id: 1 name: 'circle' }\nitem { id: 2 name: 'square' }\n")
    pipeline.blobs.write(s.models_container, f"{FOLDER}/baseline.json", json.dumps(
        Profile(40, 0.5, 0.05, 0.85, {"circle": 0.5, "square": 0.5}).to_dict()).encode())
    pipeline.blobs.ensure_container(s.inference_data_container)
    return Labelling(pipeline.tables, pipeline.blobs, s, pipeline.chat)


def serve(pipeline, requests: list[tuple[str, bytes | None, list[dict]]], minutes: float, version: str = "3",
          slot: str = "blue") -> None:
    """Requests scored `minutes` after START, as the collector files them (one file per collection)."""
    when = START + timedelta(minutes=minutes)
    made = [rows(rid, image, found, version) for rid, image, found in requests]
    endpoint = endpoint_name(pipeline.settings, PROJECT)
    for collection, part in (("model_inputs", 0), ("model_outputs", 1)):
        name = f"{endpoint}/{slot}/{collection}/{when:%Y/%m/%d/%H}/{when:%M%S%f}.jsonl"
        pipeline.blobs.write(pipeline.settings.inference_data_container, name,
                             collector_file([r[part] for r in made], when))


def exported(pipeline, summary) -> dict[str, bytes]:
    """What a labeller unpacks from the export's zip; export.json also lies beside it."""
    folder = f"{PROJECT}/{summary['export_id']}/"
    files = unzipped(pipeline.blobs.read(pipeline.settings.labelling_container, folder + "export.zip").data)
    assert files["export.json"] == pipeline.blobs.read(pipeline.settings.labelling_container,
                                                       folder + "export.json").data
    return files


def test_uncertain_images_go_out_pre_annotated_and_come_back_as_clean_training_data(pipeline, live):
    serve(pipeline, [("sure", scene(1)[0], [box("circle", 0.95)]),
                     ("unsure", scene(2)[0], [box("square", 0.45), box("circle", 0.25, 0.5, 0.5, 0.9, 0.9)]),
                     ("missed", scene(3)[0], [box("circle", 0.12)])], minutes=5)
    summary = live.export(PROJECT, pipeline.later(3600))
    assert summary["exported"] == 2 and summary["reasons"] == {"uncertain": 1, "missed": 2}
    files = exported(pipeline, summary)
    document = json.loads(files["export.json"])
    assert document["model_version"] == "3" and [i["request_id"] for i in document["items"]] == ["missed", "unsure"]
    unsure = document["items"][1]
    assert unsure["reasons"][1] == "top score 0.45 inside the uncertainty band 0.3 to 0.6"
    assert unsure["pre_annotated_boxes"] == 2  # boxes down to 0.2 go into the XML, for the person to correct
    assert files["labelmap.txt"].decode().splitlines()[1:] == ["circle:::", "square:::"]
    # the person labels in CVAT and drops the folder back: the project's own parser takes it without a warning
    pipeline.upload(PROJECT, {f"labelled/{k}": v for k, v in files.items()})
    build = DatasetBuilder(pipeline.blobs, pipeline.settings).build(PROJECT)
    assert build.report.quarantined == [] and build.report.warnings == []
    counts = build.manifest["counts"]
    assert counts["images"] == counts["production"] == 2 and counts["boxes"] == 2
    assert pipeline.chat.notices[-1].title == f"2 images need labels ({PROJECT})"
    assert pipeline.chat.notices[-1].action == "Download the export"
    archive = f"{pipeline.settings.labelling_container}/{PROJECT}/{summary['export_id']}/export.zip"
    assert pipeline.chat.notices[-1].link == summary["archive"] == archive


def test_each_export_reads_only_what_came_after_the_last_and_only_the_live_models_rows(pipeline, live):
    serve(pipeline, [("first", scene(4)[0], [])], minutes=5)
    assert live.export(PROJECT, pipeline.later(600))["exported"] == 1
    serve(pipeline, [("second", scene(5)[0], [])], minutes=20)
    serve(pipeline, [("canary", scene(6)[0], [])], minutes=21, version="4", slot="green")
    second = live.export(PROJECT, pipeline.later(1800))
    assert [i["request_id"] for i in json.loads(exported(pipeline, second)["export.json"])["items"]] == ["second"]
    nothing = live.export(PROJECT, pipeline.later(60))
    assert nothing["exported"] == 0 and nothing["reason"].startswith("none of 0 requests since")
    assert pipeline.status(PROJECT)["labelling"]["last_export"]["export_id"] == nothing["export_id"]


def test_images_too_large_for_the_collector_and_unreadable_lines_are_reported(pipeline, live, caplog):
    serve(pipeline, [("large", None, [])], minutes=5)  # the collector kept its hash and size only
    endpoint = endpoint_name(pipeline.settings, PROJECT)
    pipeline.blobs.write(pipeline.settings.inference_data_container,
                         f"{endpoint}/blue/model_inputs/{START:%Y/%m/%d/%H}/broken.jsonl", b"{oops\n")
    summary = live.export(PROJECT, pipeline.later(600))
    assert summary["exported"] == 0 and summary["skipped"] == 1  # nothing to export: no folder is written
    (large,) = summary["skipped_examples"]
    assert large["request_id"] == "large"
    assert large["reason"] == "image of 2000000 bytes not kept by the collector (hash only)"
    assert summary["unreadable"] == [f"{endpoint}/blue/model_inputs/{START:%Y/%m/%d/%H}/broken.jsonl line 1: "
                                     "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"]
    assert "collected row unreadable" in caplog.text


def test_no_live_model_means_nothing_to_export(pipeline):
    summary = Labelling(pipeline.tables, pipeline.blobs, pipeline.settings).export("nobody", pipeline.now)
    assert summary == {"project": "nobody", "exported": 0, "reason": "no live model: nothing has been collected"}


def test_drift_is_logged_per_day_and_shown_in_the_status_when_production_moves(pipeline, live, caplog):
    day = START + timedelta(days=1)
    images = [(f"r{i}", None, [] if i % 2 else [box("circle", 0.9)]) for i in range(30)]
    serve(pipeline, images, minutes=24 * 60 + 30)
    result = live.watch_drift(PROJECT, f"{day:%Y-%m-%d}", pipeline.later(2 * 86400))
    assert result["production"]["images"] == 30 and result["production"]["no_detection_share"] == 0.5
    assert result["changes"]["no_detection_share"] == 0.45
    assert len(result["warnings"]) == 3 and "drift detected" in caplog.text
    drift = pipeline.status(PROJECT)["drift"]
    assert drift["day"] == f"{day:%Y-%m-%d}" and drift["images"] == 30 and drift["warnings"] == result["warnings"]


def test_the_daily_timer_exports_and_watches_every_live_project(pipeline, live):
    serve(pipeline, [("missed", scene(7)[0], [])], minutes=10)
    results = live.daily(pipeline.later(86400))
    assert [r.get("exported", r.get("day")) for r in results] == [1, f"{START:%Y-%m-%d}"]
