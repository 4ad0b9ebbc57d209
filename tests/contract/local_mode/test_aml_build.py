"""`python -m local_mode aml-build --azure` (USE_AML_BUILD: the registry refuses ACR Tasks) through the real
azure-ai-ml over the Azure ML stand-in: each environment gets a version whose build context (shared/ and
trainer_image/ only) is uploaded to the workspace's storage and holds its Dockerfile; serving ones keep the
inference server's routes; running it again with the same code adds nothing, a changed file adds one version."""

from __future__ import annotations

import argparse
import json

import pytest

from local_mode.commands import aml_build
from shared.adapters.azureml_environments import IMAGES
from tests.fakes.azure_cloud import FakeAzure
from tests.fakes.http import IdentityCredential


@pytest.fixture
def workspace(monkeypatch):
    """The workspace as ml-workspace.bicep leaves it with amlImageBuild: the environments, no versions yet."""
    azure = FakeAzure()
    for image in IMAGES:
        del azure.ml.resources[f"environments/{image.name}/versions/1"]
    for name, value in (("AZURE_SUBSCRIPTION_ID", azure.ws.subscription), ("AZURE_RESOURCE_GROUP",
                        azure.ws.resource_group), ("AZURE_ML_WORKSPACE", azure.ws.name)):
        monkeypatch.setenv(name, value)
    return azure


def run(azure: FakeAzure, capsys) -> dict:
    with azure.sdk_uploads():
        code = aml_build.main(argparse.Namespace(json=True), IdentityCredential("deployer"), azure.transport)
    assert code == 0
    return json.loads(capsys.readouterr().out)


def uploaded(azure: FakeAzure, context_uri: str) -> set[str]:
    """The files under a build context's folder in the workspace's storage."""
    container, prefix = context_uri.split(".blob.core.windows.net/", 1)[1].split("/", 1)
    blobs = azure.blobs.accounts[azure.ws.storage_account][container]
    return {name[len(prefix):].lstrip("/") for name in blobs if name.startswith(prefix)}


def test_each_environment_gets_a_version_built_from_its_dockerfile(workspace, capsys):
    done = run(workspace, capsys)["environments"]
    assert [(d["environment"], d["version"], d["created"]) for d in done] == [
        (i.name, "1", "yes") for i in IMAGES]
    for image in IMAGES:
        version = workspace.ml.get(f"environments/{image.name}/versions/1")["properties"]
        assert version["build"]["dockerfilePath"] == image.dockerfile
        files = uploaded(workspace, version["build"]["contextUri"])
        assert image.dockerfile in files and "shared/settings.py" in files and "trainer_image/train.py" in files
        assert not [f for f in files if f.startswith((".venv", "tests/")) or "__pycache__" in f]
        routes = (version.get("inferenceConfig") or {}).get("scoringRoute")
        assert routes == ({"port": 5001, "path": "/score"} if image.serves else None)


def test_the_same_code_again_adds_nothing_and_a_change_adds_one_version(workspace, capsys, monkeypatch, tmp_path):
    run(workspace, capsys)
    assert [d["created"] for d in run(workspace, capsys)["environments"]] == ["no"] * len(IMAGES)
    from shared.adapters import azureml_environments
    original = azureml_environments.stage_context

    def changed(destination, repo=azureml_environments.REPO_ROOT):
        staged = original(destination, repo)
        (staged / "trainer_image" / "train.py").write_text("# changed\n", encoding="utf-8")
        return staged

    monkeypatch.setattr(azureml_environments, "stage_context", changed)
    done = run(workspace, capsys)["environments"]
    assert [(d["version"], d["created"]) for d in done] == [("2", "yes")] * len(IMAGES)
    assert workspace.ml.get("environments/tfod-serving-cpu")["properties"]["latestVersion"] == "2"


def test_the_upload_needs_the_deployers_grant_on_the_workspace_storage(monkeypatch, capsys):
    """rbac.bicep gives the deployer Storage Blob Data Contributor on the workspace's storage with amlImageBuild:
    without it the stand-in refuses the upload, as the account (shared keys off) would, and the hook says why."""
    from tests.infra_model import Grants, bicep_grants
    grants = bicep_grants()
    azure = FakeAzure(Grants(frozenset(g for g in grants.grants if (g.identity, g.scope) != ("deployer",
                                                                                                "mlStorage"))))
    for image in IMAGES:
        del azure.ml.resources[f"environments/{image.name}/versions/1"]
    for name, value in azure.env.items():
        monkeypatch.setenv(name, value)
    with azure.sdk_uploads():
        code = aml_build.main(argparse.Namespace(json=True), IdentityCredential("deployer"), azure.transport)
    said = capsys.readouterr()
    assert code == 1 and said.out == ""
    assert "[aml-build] failed: You don't have permission to alter this storage account" in said.err
    assert all(f"environments/{i.name}/versions/1" not in azure.ml.resources for i in IMAGES)


def test_outside_azd_it_names_what_it_needs(monkeypatch, capsys):
    monkeypatch.delenv("AZURE_ML_WORKSPACE", raising=False)
    assert aml_build.main(argparse.Namespace(json=True)) == 2
    assert "AZURE_ML_WORKSPACE" in capsys.readouterr().err
