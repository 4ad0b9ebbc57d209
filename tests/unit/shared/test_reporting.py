"""The report's loss curve reads at a glance: labelled axes with tick values, and the champion's run beside it."""

import re

from shared.training_report import loss_svg, render_report

RUN = [[0, 2.0], [50, 1.2], [100, 0.8]]
CHAMPION = [[0, 1.8], [100, 0.5]]


def test_the_axes_have_titles_and_tick_labels_for_steps_and_loss():
    svg = loss_svg(RUN)
    labels = re.findall(r">([^<>]+)</text>", svg)
    assert "training step" in labels and "total loss" in labels
    assert {"0", "25", "50", "75", "100"} <= set(labels)  # steps
    assert {"0.8", "2"} <= set(labels)  # lowest and highest loss
    assert svg.count("<polyline") == 1


def test_the_champions_run_is_drawn_on_the_same_axes_and_named():
    svg = loss_svg(RUN, champion=CHAMPION, champion_label="champion (shapes-7)")
    assert svg.count("<polyline") == 2 and 'stroke-dasharray="6 4"' in svg
    assert "champion (shapes-7)" in svg and "0.5" in re.findall(r">([^<>]+)</text>", svg)  # the range covers both


def test_the_report_embeds_the_champion_curve_when_given():
    html = render_report(project="p", batch_id="b", run_id="r", metrics={"map": 0.5}, report={"loss": RUN},
                         gates_passed=True, gate_reasons=[], grid_jpeg=None, champion_loss=CHAMPION)
    assert html.count("<polyline") == 2


def test_the_report_shows_each_export_against_the_saved_model():
    exports = {"onnx": {"file": "model.onnx", "bytes": 3_651_195, "seconds": 24.4, "parity": {
        "images": 48, "map_50": 0.9391, "map_50_drop": 0.0, "max_box_difference": 1.5e-07,
        "max_score_difference": 1.7e-06, "saved_model": {"map_50": 0.9391}}}}
    html = render_report(project="p", batch_id="b", run_id="r", metrics={"map": 0.5, "exports": exports},
                         report={"loss": RUN}, gates_passed=True, gate_reasons=[], grid_jpeg=None)
    row = re.search(r"<tr><td>onnx</td>(.*?)</tr>", html).group(1)
    assert re.findall(r"<td>([^<]*)</td>", row) == ["3.7 MB", "24.4 s", "0.939", "0.939", "0.0000",
                                                    "0.000000 / 0.000002"]
    assert "same 48 validation images" in html
    exports["tflite-int8"] = {"file": "model_int8.tflite", "bytes": 1_116_792, "seconds": 19.5, "parity": {
        "images": 48, "map_50": 0.9212, "map_50_drop": 0.0179, "max_box_difference": 0.012,
        "max_score_difference": 0.031, "lost_detections": 2, "new_detections": 1, "saved_model": {"map_50": 0.9391}}}
    html = render_report(project="p", batch_id="b", run_id="r", metrics={"map": 0.5, "exports": exports},
                         report={"loss": RUN}, gates_passed=True, gate_reasons=[], grid_jpeg=None)
    row = re.search(r"<tr><td>tflite-int8</td>(.*?)</tr>", html).group(1)
    assert re.findall(r"<td>([^<]*)</td>", row) == ["1.1 MB", "19.5 s", "0.921", "0.939", "0.0179",
                                                    "0.012000 / 0.031000 (2 lost, 1 new)"]
    failed = render_report(project="p", batch_id="b", run_id="r", report={"loss": RUN}, gates_passed=True,
                           gate_reasons=[], grid_jpeg=None,
                           metrics={"map": 0.5, "exports": {"onnx": {"error": "tf2onnx exited 1: <Unsupported>"}}})
    assert "not usable: tf2onnx exited 1: &lt;Unsupported&gt;" in failed
    assert "Exports" not in render_report(project="p", batch_id="b", run_id="r", metrics={"map": 0.5},
                                          report={"loss": RUN}, gates_passed=True, gate_reasons=[], grid_jpeg=None)


def test_the_report_shows_the_golden_set_against_the_champion_class_by_class():
    golden = {"images": 20, "map": 0.55, "map_50": 0.8, "map_75": 0.6, "recall_100": 0.7,
              "per_class_ap": {"cat": 0.62, "dog": 0.41},
              "champion": {"map": 0.6, "map_50": 0.85, "per_class_ap": {"cat": 0.55, "dog": 0.65}}}
    html = render_report(project="p", batch_id="b", run_id="r", metrics={"map": 0.5, "golden": golden},
                         report={"loss": RUN}, gates_passed=False, gate_reasons=[], grid_jpeg=None)
    assert "Golden set vs. champion" in html and "on 20 golden images" in html
    row = re.search(r"<tr><td>AP dog</td>(.*?)</tr>", html[html.index("Golden set"):]).group(1)
    assert re.findall(r"<td>([^<]*)</td>", row) == ["0.410", "0.650", "-0.240"]
    assert "Golden set" not in render_report(project="p", batch_id="b", run_id="r", metrics={"map": 0.5},
                                             report={"loss": RUN}, gates_passed=True, gate_reasons=[], grid_jpeg=None)
    broken = render_report(project="p", batch_id="b", run_id="r", metrics={"map": 0.5, "golden": {"error": "x<y"}},
                           report={"loss": RUN}, gates_passed=False, gate_reasons=[], grid_jpeg=None)
    assert "Not evaluated: x&lt;y" in broken


def test_the_report_lists_the_objects_that_flipped_per_class_with_the_crops():
    flips = {"images": 52, "found_score": 0.5, "found_iou": 0.5, "lost": {"dog": 3}, "gained": {"cat": 2, "dog": 1}}
    html = render_report(project="p", batch_id="b", run_id="r", metrics={"map": 0.5, "flips": flips},
                         report={"loss": RUN}, gates_passed=True, gate_reasons=[], grid_jpeg=None, flips_jpeg=b"\xff")
    assert "What changed, object by object (same 52 validation images)" in html
    rows = dict(re.findall(r"<tr><td>(cat|dog)</td>(<td>.*?)</tr>", html))
    assert re.findall(r"<td>([^<]*)</td>", rows["dog"]) == ["3", "1"]
    assert re.findall(r"<td>([^<]*)</td>", rows["cat"]) == ["0", "2"]
    assert 'alt="objects that flipped' in html
    none = render_report(project="p", batch_id="b", run_id="r", report={"loss": RUN}, gates_passed=True,
                         gate_reasons=[], grid_jpeg=None, metrics={"map": 0.5, "flips": flips | {"lost": {},
                                                                                                 "gained": {}}})
    assert "No object changed" in none
    assert "What changed" not in render_report(project="p", batch_id="b", run_id="r", metrics={"map": 0.5},
                                               report={"loss": RUN}, gates_passed=True, gate_reasons=[],
                                               grid_jpeg=None)
