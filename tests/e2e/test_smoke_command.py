"""The post-deployment smoke command, run as a user runs it, against the local twin (`local_mode serve`): a tiny
dataset through events, debounce, real training, gates, registration, a person's approval from the chat channel,
the blue/green release, and the endpoint with and without its key; then --cleanup."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from local_mode.approval_click import decide_through_page
from local_mode.functions_host import WebhookInbox
from shared.adapters.azure_storage import AzureBlobStore
from shared.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def approve_when_asked(inbox: WebhookInbox, smoke: subprocess.Popen, timeout: float) -> str:
    """What the person in the chat channel does: open the posted link and approve."""
    deadline = time.monotonic() + timeout
    while not inbox.links():
        assert smoke.poll() is None, ("the smoke command ended before an approval was asked for: "
                                      f"{smoke.stderr.read()[-3000:]}")
        assert time.monotonic() < deadline, "no approval request reached the channel"
        time.sleep(0.5)
    status, said = decide_through_page(inbox.links()[-1], "a person")
    assert status == 200, said
    return "approved" if "approved" in said.lower() else said


def test_smoke_command_passes_against_the_local_twin_and_cleans_up(tmp_path):
    inbox = WebhookInbox()
    env = {k: v for k, v in os.environ.items() if k not in ("DataStorage", "AZURITE_CONNECTION_STRING")}
    serve = subprocess.Popen(
        [sys.executable, "-m", "local_mode", "serve", "--json", "--steps", "40", "--batch-size", "4",
         "--quiet-seconds", "2", "--interval", "1", "--gate-min-map-50", "0"],
        cwd=REPO, env=env | {"APPROVAL_WEBHOOK_URL": inbox.url}, stdout=subprocess.PIPE,
        stderr=(tmp_path / "serve.log").open("w"), text=True)
    try:
        twin = json.loads(serve.stdout.readline())
        smoke = subprocess.Popen(
            [sys.executable, "-m", "local_mode", "smoke", "--function-url", twin["function_url"], "--function-key",
             twin["function_key"], "--endpoint-key", twin["endpoint_key"], "--project", "smoke-e2e", "--poll", "1",
             "--json", "--cleanup",
             "--training-timeout", "600", "--release-timeout", "300"],
            cwd=REPO, env=env | {"DataStorage": twin["connection_string"]}, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        assert approve_when_asked(inbox, smoke, timeout=900) == "approved"
        out, err = smoke.communicate(timeout=600)
        assert smoke.returncode == 0, err[-4000:]
        summary = json.loads(out)  # with --json, stdout holds the JSON document only
        assert summary["ok"] and summary["model"] == {"name": "tfod-smoke-e2e", "version": "1"}
        steps = {s["name"]: s for s in summary["steps"]}
        assert list(steps) == ["upload", "events", "submission", "training", "approval", "release", "endpoint"]
        assert (steps["endpoint"]["detail"]["with_key"], steps["endpoint"]["detail"]["without_key"]) == (200, 401)
        for waited in ("Event Grid to deliver the uploads", "the debounce timer to flush", "training run",
                       "a person to approve version 1", "version 1 to go live"):
            assert f"for {waited}" in err, waited
        uploaded = [name for name in summary["removed"] if name.startswith("datasets/smoke-e2e/")]
        assert len(uploaded) == steps["upload"]["detail"]["files"]
        store = AzureBlobStore.from_settings(Settings(storage_connection_string=twin["connection_string"]))
        assert list(store.list("datasets", "smoke-e2e/")) == []
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=120)
        inbox.close()
    assert serve.returncode == 0, (tmp_path / "serve.log").read_text()[-3000:]
