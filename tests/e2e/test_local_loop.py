"""The README's main command, end to end on this machine: demo data → Azurite → events → debounce → real CPU
training → gates → registry → approval → blue/green release → keyed detection requests on held-out images →
the labelling loop (collected requests → export → labels → the next run). Then nothing it started may still run
or listen."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from local_mode.demo_data import SHAPES

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
    summary = tmp_path / "summary.json"
    env = {k: v for k, v in os.environ.items() if k not in ("DataStorage", "AZURITE_CONNECTION_STRING")}
    result = subprocess.run(
        [sys.executable, "-m", "local_mode", "run", "--auto-approve", "--demo-images", "200", "--steps", "500",
         "--check-images", "4", "--labelling-demo", "--production-images", "40", "--summary", str(summary)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    report = json.loads(summary.read_text())
    assert "is live on slot blue" in result.stdout and "[detect]" in result.stdout

    run = report["runs"][0]
    assert run["gates_passed"] and run["metrics"]["map_50"] >= 0.5
    for checked in report["detections"]:
        assert checked["model"]["version"] == run["model_version"]
        confident = [d for d in checked["detections"] if d["score"] >= 0.3]
        assert confident, f"nothing found on a held-out image with {checked['truth']}"
        assert confident[0]["label"] in checked["truth"], checked
        assert {d["label"] for d in confident} <= set(SHAPES), checked

    # the labelling loop: production requests collected → uncertain ones exported → labelled → next run
    export = report["labelling_export"]  # the 40, and the release's smoke test and held-out checks before them
    assert export["requests"] >= 40 and export["exported"] >= 1 and report["labelled"] >= 1, export
    assert "[labelling] a person corrected the pre-annotations" in result.stdout
    retrain = report["runs"][1]
    assert retrain["metrics"]["dataset_counts"]["production"] == report["labelled"]  # every labelled one accepted
    champion = retrain["metrics"]["champion"]
    assert champion["validation_images"] == retrain["metrics"]["validation_images"] and "map_50" in champion
    assert "champion on the same" in result.stdout

    stages = [s["stage"] for s in report["stages"]]
    assert any(s.startswith("blue/green release") for s in stages) and sum(
        s["seconds"] for s in report["stages"]) < 15 * 60

    started = report["started"]
    assert started["pids"], "the summary lists what was started"
    assert [p for p in started["pids"] if alive(p)] == [], "processes left running"
    ports = [*started["ports"], urlsplit(report["scoring_uri"]).port]
    assert [p for p in ports if listening(p)] == [], "ports left listening"





def test_a_terminated_main_command_stops_everything_it_started(tmp_path):
    """`kill` (SIGTERM) takes the same way out as Ctrl-C: trainer, Azurite and HTTP servers are stopped."""
    summary = tmp_path / "summary.json"
    env = {k: v for k, v in os.environ.items() if k not in ("DataStorage", "AZURITE_CONNECTION_STRING")}
    command = subprocess.Popen(
        [sys.executable, "-m", "local_mode", "run", "--demo-images", "40", "--steps", "2000", "--summary",
         str(summary)], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in command.stdout:
        seen.append(line)
        if line.startswith("[train] training"):  # the trainer process is running
            command.send_signal(signal.SIGTERM)
            break
    output = "".join(seen) + command.stdout.read()
    assert command.wait(timeout=120) == 130, output[-3000:]
    assert "interrupted: stopping everything" in output
    started = json.loads(summary.read_text())["started"]
    assert len(started["pids"]) >= 2, started  # Azurite and the trainer
    assert [p for p in started["pids"] if alive(p)] == [], "processes left running"
    assert [p for p in started["ports"] if listening(p)] == [], "ports left listening"


def test_serve_keeps_serving_after_a_run_fails_its_gates(tmp_path):
    """`--serve` is for people who keep uploading: a first model that fails its gates must not end the command."""
    env = {k: v for k, v in os.environ.items() if k not in ("DataStorage", "AZURITE_CONNECTION_STRING")}
    command = subprocess.Popen(
        [sys.executable, "-m", "local_mode", "run", "--serve", "--auto-approve", "--demo-images", "24", "--steps", "10",
         "--gate-min-map-50", "0.99", "--quiet-seconds", "1"],
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
