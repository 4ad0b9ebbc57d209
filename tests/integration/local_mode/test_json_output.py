"""With --json, a command's stdout holds only its JSON document; progress goes to stderr."""

from __future__ import annotations

import json
import os
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
    assert report["counts"]["images"] == 12
    assert "[local] uploaded" in done.stderr and "[local] made a demo dataset" in done.stderr
