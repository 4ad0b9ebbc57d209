"""`python -m local_mode approval-link` against Azurite, as a person whose chat channel failed runs it: a new link on
their terminal, the old one refused, nothing of either in a log line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from shared.pipeline.approve import Approve, Approver

REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.azurite


def test_a_lost_link_is_re_issued_and_the_old_one_stops_working(settings, table_store):
    settings = settings.with_overrides(approval_secret="s3cret-for-the-test", public_host="127.0.0.1:7071")
    model = f"tfod-{uuid.uuid4().hex[:6]}"
    old = Approve(table_store, settings).request(model, "2", "p", "batch-1", "a run passed its gates")
    env = os.environ | {"DataStorage": settings.storage_connection_string, "APPROVAL_SECRET": "s3cret-for-the-test",
                        "WEBSITE_HOSTNAME": "127.0.0.1:7071", "LOG_LEVEL": "INFO"}
    done = subprocess.run([sys.executable, "-m", "local_mode", "approval-link", "--model", model, "--version", "2",
                           "--json"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    links = json.loads(done.stdout)
    new = parse_qs(urlparse(links["page"]).query)["token"][0]
    assert links["page"].startswith("http://127.0.0.1:7071/api/approvals?token=") and new not in done.stderr
    assert "approval link re-issued" in done.stderr  # the log line, by token id only
    approve = Approve(table_store, settings)
    refused = approve.decide(parse_qs(urlparse(old["page"]).query)["token"][0], "approve", Approver("eve"), "")
    assert refused.status == 409 and "not the current one" in refused.body["error"]
    assert approve.decide(new, "approve", Approver("ana"), "").status == 200
    again = subprocess.run([sys.executable, "-m", "local_mode", "approval-link", "--model", model, "--version", "2"],
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and again.stdout.startswith(f"no new link: {model} version 2 was already approved")
