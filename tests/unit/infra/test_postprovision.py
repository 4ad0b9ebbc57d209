"""The postprovision hook against stand-in `az` and `docker` on PATH: ACR Tasks by default, the local Docker build
and push with USE_DOCKER_BUILD, Azure ML's own build with USE_AML_BUILD (what the preflight tells trial
subscriptions to set, with Docker where azd runs or without)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HOOK = ROOT / "infra" / "scripts" / "postprovision.sh"
ENV = {"AZURE_CONTAINER_REGISTRY_NAME": "crx", "AZURE_DATA_STORAGE_ACCOUNT": "stx"}


def run_hook(tmp_path: Path, env: dict[str, str],
             tools: tuple[str, ...] = ("az", "docker")) -> tuple[int, list[str], str]:
    calls = tmp_path / "calls"
    for tool in tools:
        fake = tmp_path / "bin" / tool
        fake.parent.mkdir(exist_ok=True)
        fake.write_text(f'#!/bin/sh\necho "{tool} $*" >> {calls}\n')
        fake.chmod(0o755)
    (tmp_path / "bin").mkdir(exist_ok=True)
    done = subprocess.run(["/bin/sh", str(HOOK)], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env=os.environ | ENV | env | {"PATH": str(tmp_path / "bin")})  # the stand-ins alone
    return done.returncode, calls.read_text().splitlines() if calls.exists() else [], done.stderr


def test_acr_tasks_build_every_image_by_default(tmp_path):
    code, calls, _ = run_hook(tmp_path, {})
    assert code == 0
    assert [c.split(" --file ")[0] for c in calls[:3]] == ["az acr build --registry crx --image tfod-trainer:gpu",
                                                            "az acr build --registry crx --image tfod-trainer:cpu",
                                                            "az acr build --registry crx --image tfod-serving:onnx"]
    assert not [c for c in calls if c.startswith("docker")] and "upload-batch" in calls[-1]


def test_use_docker_build_builds_and_pushes_locally(tmp_path):
    code, calls, _ = run_hook(tmp_path, {"USE_DOCKER_BUILD": "true"})
    assert code == 0 and calls[0] == "az acr login --name crx"
    assert calls[1:5] == ["docker build --file trainer_image/Dockerfile.gpu --tag crx.azurecr.io/tfod-trainer:gpu .",
                          "docker push crx.azurecr.io/tfod-trainer:gpu",
                          "docker build --file trainer_image/Dockerfile --tag crx.azurecr.io/tfod-trainer:cpu .",
                          "docker push crx.azurecr.io/tfod-trainer:cpu"]
    assert calls[5:7] == ["docker build --file trainer_image/Dockerfile.serving-onnx --tag "
                          "crx.azurecr.io/tfod-serving:onnx .", "docker push crx.azurecr.io/tfod-serving:onnx"]
    assert not [c for c in calls if "acr build" in c]


def test_use_docker_build_without_docker_says_so(tmp_path):
    code, calls, _ = run_hook(tmp_path, {"USE_DOCKER_BUILD": "true"}, tools=("az",))
    assert code == 1 and calls == []


def test_use_aml_build_registers_environments_instead_of_building(tmp_path):
    """The hook hands over to `python -m local_mode aml-build --azure` (its contract test: tests/contract/local_mode/
    test_aml_build.py); here without azd's workspace outputs, so it stops there, having built nothing."""
    env = {"USE_AML_BUILD": "true", "AZURE_SUBSCRIPTION_ID": "", "AZURE_RESOURCE_GROUP": "", "AZURE_ML_WORKSPACE": ""}
    code, calls, said = run_hook(tmp_path, env)
    assert code == 2 and "[aml-build] needs AZURE_SUBSCRIPTION_ID" in said
    assert calls == []  # no az acr build, no docker
