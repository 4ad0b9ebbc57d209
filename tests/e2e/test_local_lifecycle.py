"""Local mode as a demanding operator meets it: SIGKILL mid-training, a second process on the same data, restart.
Nothing is left running, nothing is stuck, and the interrupted batch trains after the restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from local_mode.demo_data import vott_export
from local_mode.process_tree import alive, descendants
from shared.adapters.azure_storage import AzureBlobStore
from shared.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def serve(data_dir: Path, log: Path, steps: int) -> tuple[subprocess.Popen, dict]:
    env = {k: v for k, v in os.environ.items() if k not in ("DataStorage", "AZURITE_CONNECTION_STRING")}
    process = subprocess.Popen(
        [sys.executable, "-m", "local_mode", "serve", "--json", "--keep-data", "--data-dir", str(data_dir),
         "--steps", str(steps), "--batch-size", "4", "--quiet-seconds", "1", "--interval", "1",
         "--gate-min-map-50", "0"],
        cwd=REPO, env=env | {"RETRY_BACKOFF_SECONDS": "1"}, stdout=subprocess.PIPE, stderr=log.open("a"), text=True)
    line = process.stdout.readline()
    assert line, log.read_text()[-3000:]
    return process, json.loads(line)


def status(twin: dict, project: str) -> dict:
    url = f"{twin['function_url']}/status/{project}?code={twin['function_key']}"
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.loads(answer.read())


def wait_for(what: str, probe, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkill_mid_training_then_restart_trains_the_interrupted_batch(tmp_path):
    data, log = tmp_path / "azurite", tmp_path / "serve.log"
    first, twin = serve(data, log, steps=5000)
    try:
        store = AzureBlobStore.from_settings(Settings(storage_connection_string=twin["connection_string"]))
        for name, blob in vott_export(24, seed=61).items():
            store.write("datasets", f"killed/{name}", blob)
        wait_for("training to start", lambda: status(twin, "killed")["window"]["phase"] == "submitted", 120)
        wait_for("the trainer process", lambda: any(
            "trainer_image.train" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")
            for p in descendants(first.pid) if alive(p)), 60)

        second = subprocess.run([sys.executable, "-m", "local_mode", "serve", "--keep-data", "--data-dir", str(data)],
                                cwd=REPO, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2 and f"in use by local mode pid {first.pid}" in second.stderr

        children = {p for p in descendants(first.pid) if alive(p)}
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        wait_for("Azurite, the trainer and the watchdog to stop", lambda: not [p for p in children if alive(p)], 30)
    finally:
        if first.poll() is None:
            first.kill()

    restarted, twin = serve(data, log, steps=20)
    try:
        def trained():
            runs = status(twin, "killed")["runs"]
            return runs if any(r["status"] == "Completed" for r in runs) else None

        runs = wait_for("the interrupted batch to train again", trained, 600)
        lost, retried = sorted(runs, key=lambda r: r["batch_id"])
        assert lost["status"] == "Failed" and lost["failure"] == "infrastructure"
        assert "local mode was stopped while it trained" in lost["reason"]
        assert retried["status"] == "Completed" and retried["attempt"] == 2 and retried["new_images"] == 24
        assert "was interrupted when local mode stopped" in log.read_text()
    finally:
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(timeout=120) == 0
