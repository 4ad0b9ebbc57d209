"""`python -m local_mode base-model add/list` against Azurite, as a person runs it; and the HTTP route."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from function_app import bootstrap
from tests.function_host import handler, http_request, json_body
from tests.unit.shared.test_base_models import archive, zoo

REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.azurite


def command(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "local_mode", "base-model", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_add_then_list_with_json_on_stdout_only(azurite_connection_string, tmp_path):
    models = f"md{uuid.uuid4().hex[:6]}"
    env = os.environ | {"DataStorage": azurite_connection_string, "MODELS_CONTAINER": models}
    path = tmp_path / "ssd_mobilenet_v2_320x320_coco17_tpu-8.tar.gz"
    path.write_bytes(zoo())
    added = command(env, "add", str(path), "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["base_model_setting"] == "base-models/ssd_mobilenet_v2_320x320_coco17_tpu-8"
    again = command(env, "add", str(path))
    assert again.returncode == 0 and again.stdout.startswith("already there: ")
    listed = json.loads(command(env, "list", "--json").stdout)
    assert [(m["name"], m["architecture"], m["num_classes"]) for m in listed] == [
        ("ssd_mobilenet_v2_320x320_coco17_tpu-8", "ssd", 90)]
    bad = tmp_path / "evil.tar.gz"
    bad.write_bytes(archive([("../../etc/cron.d/x", None, b"* * * * * root sh")]))
    refused = command(env, "add", str(bad), "--json")
    assert refused.returncode == 1 and json.loads(refused.stdout) == {
        "error": "../../etc/cron.d/x: path leaves the archive (..)"}
    assert "refused" in refused.stderr


def test_the_route_lists_and_refuses_what_it_will_not_fetch(settings, blob_store, table_store):
    bootstrap.use(bootstrap.Services(settings.with_overrides(models_container=f"md{uuid.uuid4().hex[:6]}"),
                                     blob_store, table_store))
    try:
        listed = handler("base_models")(http_request("GET", "/api/base-models"))
        assert listed.status_code == 200 and json_body(listed) == {"base_models": []}
        plain = handler("base_models")(http_request("POST", "/api/base-models", body=json.dumps(
            {"url": "http://example.com/m.tar.gz"}).encode()))
        assert plain.status_code == 400 and json_body(plain)["error"].endswith("only https:// URLs are fetched")
        shapeless = handler("base_models")(http_request("POST", "/api/base-models", body=b'{"name": 3}'))
        assert shapeless.status_code == 400 and "POST {" in json_body(shapeless)["error"]
    finally:
        bootstrap.use(None)
