"""The README's main command, end to end on this machine: demo data → Azurite → events → debounce → real CPU
training → gates → registry → approval → blue/green release → keyed detection requests on held-out images →
the labelling loop (collected requests → export → labels → the next run). Then nothing it started may still run
or listen."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from local_mode.demo_data import SHAPES
from shared import log_contract, log_timeline
from shared.dataset.label_map import LabelMap
from tests.browser import chromium, screenshot

REPO = Path(__file__).resolve().parents[2]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_main_command_serves_a_model_that_detects_the_right_shapes(tmp_path):
    """The main command with the demo dataset exported as COCO (the format most tools write): read, trained,
    released, detecting the right shapes; then the labelling loop."""
    summary, log_file, data = tmp_path / "summary.json", tmp_path / "local-mode.jsonl", tmp_path / "azurite"
    env = {k: v for k, v in os.environ.items() if k not in ("DataStorage", "AZURITE_CONNECTION_STRING")}
    result = subprocess.run(
        [sys.executable, "-m", "local_mode", "run", "--auto-approve", "--demo-images", "200", "--steps", "600",
         "--demo-format", "coco", "--check-images", "4", "--labelling-demo", "--production-images", "40",
         "--summary", str(summary), "--log-file", str(log_file), "--keep-data", "--data-dir", str(data)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    report = json.loads(summary.read_text())
    assert "is live on slot blue" in result.stdout and "[detect]" in result.stdout
    assert "200 images in a COCO export" in result.stdout and "annotations/: coco" in result.stdout
    assert "a golden set of 20 in golden/" in result.stdout and "[local] golden set (20 images" in result.stdout

    run = report["runs"][0]
    assert run["gates_passed"] and run["metrics"]["map_50"] >= 0.5
    found = 0
    for checked in report["detections"]:
        assert checked["model"]["version"] == run["model_version"]
        confident = [d for d in checked["detections"] if d["score"] >= 0.3]
        if confident:  # a 600-step model may be unsure of one image (top score 0.27 once): never wrong when sure
            found += 1
            assert confident[0]["label"] in checked["truth"], checked
            assert {d["label"] for d in confident} <= set(SHAPES), checked
    assert found >= len(report["detections"]) - 1, report["detections"]

    assert "answered by version 1 on ONNX Runtime" in result.stdout and "[local] ONNX export: mAP@0.5=" in result.stdout
    assert_served_answers_are_the_saved_models(report, run["model_version"], data, tmp_path / "models", env)

    # the labelling loop: production requests collected → uncertain ones exported → labelled → next run
    export = report["labelling_export"]  # the 40, and the release's smoke test and held-out checks before them
    assert export["requests"] >= 40 and export["exported"] >= 1 and report["labelled"] >= 1, export
    assert "[labelling] a person corrected the pre-annotations" in result.stdout
    retrain = report["runs"][1]
    assert retrain["metrics"]["dataset_counts"]["production"] == report["labelled"]  # every labelled one accepted
    champion = retrain["metrics"]["champion"]
    assert champion["validation_images"] == retrain["metrics"]["validation_images"] and "map_50" in champion
    assert "champion on the same" in result.stdout
    golden = retrain["metrics"]["golden"]  # the same 20 images for both versions, the champion scored on them again
    assert golden["images"] == 20 and "champion" not in run["metrics"]["golden"]
    assert golden["champion"]["map"] == pytest.approx(run["metrics"]["golden"]["map"], abs=1e-6)
    assert retrain["metrics"]["flips"]["images"] == champion["validation_images"]
    assert "[local] object by object:" in result.stdout

    assert_the_first_batch_story_is_in_the_log(log_file, run["batch_id"], run["model_version"], env)
    logged = log_file.read_text()
    for credential in ("token=", "code=", "sig=", "api-key", "Bearer "):  # approval links, keys, SAS, headers
        assert credential not in logged, f"{credential!r} in a log line"
    assert not [line for line in result.stderr.splitlines() if line.startswith("{")], "JSON lines on the console"
    foreign = [line for line in log_timeline.parse(logged.splitlines())
               if line["level"] in ("WARNING", "ERROR") and not line["logger"].startswith(OURS)]
    assert foreign == [], f"third-party warnings in the log: {foreign[:3]}"

    stages = [s["stage"] for s in report["stages"]]
    assert any(s.startswith("blue/green release") for s in stages) and sum(
        s["seconds"] for s in report["stages"]) < 15 * 60

    started = report["started"]
    assert started["pids"], "the summary lists what was started"
    assert [p for p in started["pids"] if alive(p)] == [], "processes left running"
    ports = [*started["ports"], urlsplit(report["scoring_uri"]).port]
    assert [p for p in ports if listening(p)] == [], "ports left listening"





def assert_served_answers_are_the_saved_models(report: dict, version: str, data: Path, out: Path, env: dict) -> None:
    """The endpoint served the ONNX export; its answers on the held-out images are what the SavedModel of the same
    package answers, within the parity tolerance (the package fetched as a device team would: download-model)."""
    import base64
    import io

    import numpy as np
    import tensorflow as tf
    from PIL import Image

    fetched = subprocess.run([sys.executable, "-m", "local_mode", "download-model", "--project", "demo", "--version",
                              version, "--format", "saved-model", "--out", str(out), "--data-dir", str(data),
                              "--json"], cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr[-2000:]
    files = json.loads(fetched.stdout)
    assert {"model.onnx", "saved_model/saved_model.pb", "label_map.pbtxt"} <= set(files["files"]), files["files"]
    assert abs(files["exports"]["onnx"]["map_50_drop"]) <= 0.005, files["exports"]
    detect = tf.saved_model.load(f"{files['folder']}/saved_model").signatures["serving_default"]
    names = {item.id: item.name for item in LabelMap.parse(Path(files["folder"], "label_map.pbtxt").read_text()).items}
    for checked in report["detections"]:
        assert checked["model"]["runtime"] == "onnx", checked["model"]
        image = np.asarray(Image.open(io.BytesIO(base64.b64decode(checked["image_jpeg"]))).convert("RGB"))
        out = {k: v[0].numpy() for k, v in detect(input_tensor=tf.constant(image[np.newaxis])).items()}
        height, width = image.shape[:2]
        served = [d for d in checked["detections"] if d["score"] >= 0.3]
        expected = [(names[int(c)], float(s), b * [height, width, height, width]) for c, s, b in zip(
            out["detection_classes"], out["detection_scores"], out["detection_boxes"], strict=True) if s >= 0.3]
        assert len(served) == len(expected), (served, expected)
        for answer, (label, score, (ymin, xmin, ymax, xmax)) in zip(served, expected, strict=True):
            box = answer["box"]
            assert answer["label"] == label and abs(answer["score"] - score) <= 1e-3, (answer, label, score)
            assert max(abs(box["xmin"] - xmin), abs(box["ymin"] - ymin), abs(box["xmax"] - xmax),
                       abs(box["ymax"] - ymax)) <= 0.5, (box, (xmin, ymin, xmax, ymax))


OURS = ("shared", "function_app", "local_mode", "trainer_image", "azmlinfsrv.score")
"""Loggers of this project's own lines (score.py logs through the inference server's child logger)."""

STORY = ["uploads recorded", "debounce decision", "flush claimed", "dataset snapshot published", "training submitted",
         "release gates passed", "model registered", "approval requested", "training run ended", "approval decided",
         "release requested", "deployment started", "smoke test passed", "release live"]
"""A released batch's steps in the order they happen (the approval request is sent before the run's end is
logged: both in the run's completion)."""


def assert_the_first_batch_story_is_in_the_log(log_file: Path, batch: str, version: str, env: dict) -> None:
    """`python -m local_mode logs` rebuilds the batch from the log lines alone; every line keeps the contract."""
    lines = list(log_timeline.parse(log_file.read_text().splitlines()))
    broken = [f"{line['message']!r} lacks {sorted(set(need) - set(line))}" for line in lines
              if line["message"] in log_contract.BY_MESSAGE and line["level"] in {
                  e.level for e in log_contract.BY_MESSAGE[line["message"]]}
              for need in [log_contract.required(line["message"], line["level"])] if set(need) - set(line)]
    assert broken == [], broken[:10]
    shown = subprocess.run([sys.executable, "-m", "local_mode", "logs", "--log-file", str(log_file), "--batch", batch,
                            "--json"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr[-2000:]
    story = json.loads(shown.stdout)  # --json: stdout holds only the document
    messages = [line["message"] for line in story["lines"]]
    firsts = list(dict.fromkeys(m for m in messages if m in STORY))
    assert firsts == sorted(firsts, key=STORY.index), messages
    assert set(STORY) <= set(messages), set(STORY) - set(messages)
    uploads = sum(line["files"] for line in story["lines"] if line["message"] == "uploads recorded")
    [claimed] = [line for line in story["lines"] if line["message"] == "flush claimed"]
    assert uploads == claimed["changes"], (uploads, claimed)  # the uploads it shows are the ones the batch took
    [decided] = [line for line in story["lines"] if line["message"] == "approval decided"]
    assert (decided["state"], decided["model_version"]) == ("approved", version)
    assert {line.get("batch_id") for line in story["lines"] if line["message"] != "uploads recorded"} == {batch}
    human = subprocess.run([sys.executable, "-m", "local_mode", "logs", "--log-file", str(log_file), "--project",
                            "demo"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert human.returncode == 0 and human.stdout.startswith("batch demo-"), human.stdout[:500] + human.stderr[-500:]


def test_a_terminated_main_command_stops_everything_it_started(tmp_path):
    """`kill` (SIGTERM) takes the same way out as Ctrl-C: trainer, Azurite and HTTP servers are stopped. Before
    that, while the trainer trains, the project page shows the run with its ETA."""
    summary = tmp_path / "summary.json"
    env = {k: v for k, v in os.environ.items() if k not in ("DataStorage", "AZURITE_CONNECTION_STRING")}
    command = subprocess.Popen(
        [sys.executable, "-m", "local_mode", "run", "--demo-images", "40", "--steps", "2000", "--summary",
         str(summary), "--log-file", str(tmp_path / "log.jsonl")],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen, page = [], None
    for line in command.stdout:
        seen.append(line)
        if page is None and line.startswith("[local] project page"):
            page = line.split(": ", 1)[1].strip()  # the first link local mode prints
        if line.startswith("[train] training progress"):  # the trainer process is running
            look_at_the_page_during_training(page)
            command.send_signal(signal.SIGTERM)
            break
    output = "".join(seen) + command.stdout.read()
    assert command.wait(timeout=120) == 130, output[-3000:]
    assert "interrupted: stopping everything" in output
    started = json.loads(summary.read_text())["started"]
    assert len(started["pids"]) >= 2, started  # Azurite and the trainer
    assert [p for p in started["pids"] if alive(p)] == [], "processes left running"
    assert [p for p in started["ports"] if listening(p)] == [], "ports left listening"


def look_at_the_page_during_training(link: str | None) -> None:
    """The project page, opened from the link local mode printed first, shows the run training with its ETA."""
    import time

    from selenium.webdriver.common.by import By

    assert link and "/api/projects/demo?code=" in link, link
    browser = chromium()
    try:
        deadline, eta = time.monotonic() + 30, ""
        while "ETA" not in eta and time.monotonic() < deadline:  # the trainer writes its progress just after
            browser.get(link)
            eta = " ".join(e.text for e in browser.find_elements(By.ID, "eta"))
            time.sleep(0 if "ETA" in eta else 1)
        assert re.search(r"Step \d+ of 2000, loss [\d.]+; ETA", eta), eta
        assert "Batch demo-" in browser.find_element(By.ID, "training").text
        screenshot(browser, "project-page-during-training.png")
    finally:
        browser.quit()


def test_serve_keeps_serving_after_a_run_fails_its_gates(tmp_path):
    """`--serve` is for people who keep uploading: a first model that fails its gates must not end the command."""
    env = {k: v for k, v in os.environ.items() if k not in ("DataStorage", "AZURITE_CONNECTION_STRING")}
    command = subprocess.Popen(
        [sys.executable, "-m", "local_mode", "run", "--serve", "--auto-approve", "--demo-images", "24", "--steps", "10",
         "--gate-min-map-50", "0.99", "--quiet-seconds", "1", "--log-file", str(tmp_path / "log.jsonl")],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in command.stdout:
        seen.append(line)
        if line.startswith("[local] running until Ctrl-C"):
            break
    output = "".join(seen)
    assert "release gates failed" in output and "nothing went live this time" in output, output[-3000:]
    assert command.poll() is None, "the command ended instead of serving"
    command.send_signal(signal.SIGTERM)
    assert command.wait(timeout=120) == 130
