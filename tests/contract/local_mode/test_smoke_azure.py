"""The smoke test's Azure side, through the real SDK clients: what it reads from azd's environment, the keys it
fetches, and what --cleanup removes. (The whole smoke flow runs against the local twin in tests/e2e.)"""

from __future__ import annotations

import pytest

from local_mode.smoke import SmokeFailure
from local_mode.smoke_targets import AzureTarget
from shared.adapters.azureml_endpoint import AzureMLEndpoints
from shared.adapters.azureml_registry import AzureMLRegistry
from shared.adapters.azureml_training import AzureMLTraining
from shared.ports import DeploymentSpec
from shared.registry import ModelCandidate
from tests.contract.conftest import azure_settings
from tests.contract.shared.adapters.test_azureml_training import REQUEST
from tests.fakes.http import IdentityCredential


def deployer_target(azure) -> AzureTarget:
    return AzureTarget.from_env(azure.env, credential=IdentityCredential("deployer"), transport=azure.transport)


def test_the_target_uploads_as_the_deployer_and_calls_the_app_with_its_host_key(azure):
    target = deployer_target(azure)
    target.blobs.write("datasets", "smoke-1/a.jpg", b"jpeg")
    assert list(azure.blobs.accounts[azure.ws.data_account]["datasets"]) == ["smoke-1/a.jpg"]
    assert target.app.key == "function-key-1"
    assert target.app.get("status/smoke-1") == {"route": "/api/status/smoke-1"}


def test_a_missing_azd_output_is_named(azure):
    env = azure.env
    del env["AZURE_FUNCTION_URL"]
    with pytest.raises(SmokeFailure, match="AZURE_FUNCTION_URL"):
        AzureTarget.from_env(env, credential=IdentityCredential("deployer"), transport=azure.transport)


def test_a_function_key_given_in_the_environment_is_used_as_is(azure):
    target = AzureTarget.from_env(azure.env | {"AZURE_FUNCTION_KEY": "given"},
                                  credential=IdentityCredential("function"), transport=azure.transport)
    assert target.app.key == "given"  # no ARM call: the function identity may not list keys


def test_studio_link_endpoint_key_and_cleanup(azure):
    ml, settings = azure.ml_client(), azure_settings(azure)  # the app's ENDPOINT_NAME_PREFIX, tfod-ab12cd
    run = AzureMLTraining(ml, settings).submit(REQUEST)
    azure.ml.finish_job(run.job_name)
    model = AzureMLRegistry(ml).register(ModelCandidate("shapes", run.run_id, REQUEST.batch_id, "v", "b",
                                                        "shapes/b/model", {}))
    endpoints = AzureMLEndpoints(ml, settings)
    with azure.sdk_uploads():
        endpoints.provision(DeploymentSpec("shapes", model.name, model.version, "shapes/b/model"), "blue")
    target = deployer_target(azure)
    assert target.studio_link(run.job_name).startswith("https://ml.azure.com/runs/" + run.job_name)
    assert target.endpoint_key("shapes") == azure.ml.keys["tfod-ab12cd-shapes"]["primaryKey"]
    removed = target.remove_deployment("shapes", model.name)
    assert removed == ["online endpoint tfod-ab12cd-shapes", "model tfod-shapes:1 (archived)"]
    azure.ml.settle()
    assert azure.ml.get("onlineEndpoints/tfod-ab12cd-shapes") is None
    assert azure.ml.get("models/tfod-shapes/versions/1")["properties"]["isArchived"] is True


def _nc4as_t4(azure, free: int) -> None:
    """The training cluster's size and family quota line in the region (the spec examples' DS3_v2 entry and NC
    line, renamed to the Bicep's default size; `free` vCPUs left of 4)."""
    import copy

    region = azure.region
    size = copy.deepcopy(next(s for s in region.vm_sizes if s["name"] == "Standard_DS3_v2"))
    region.vm_sizes.append(size | {"name": "Standard_NC4as_T4_v3", "family": "standardNCASv3_T4Family", "vCPUs": 4,
                                   "gpus": 1, "supportedComputeTypes": ["AmlCompute"]})
    line = copy.deepcopy(next(u for u in region.usages if u["name"]["value"].startswith("Standard NC Family")))
    name = "Standard NCASv3_T4 Family Cluster Dedicated vCPUs"
    region.usages.append(line | {"name": {"value": name, "localizedValue": name}, "limit": 4,
                                 "currentValue": 4 - free,
                                 "id": line["id"].replace("Standard_NC_Family", "Standard_NCASv3_T4_Family")})


def test_a_queued_run_is_explained_from_the_clusters_size_and_the_regions_quota(azure):
    """A fresh subscription has no GPU quota: the smoke test says so with the numbers instead of waiting hours."""
    _nc4as_t4(azure, free=0)
    reason = deployer_target(azure).explain_queue("tfod-smoke-1")
    assert reason.blocking
    assert reason.message.startswith("0 of 4 vCPUs of NCASv3_T4 quota free in westeurope; Standard_NC4as_T4_v3 "
                                     "needs 4 (training) — request more: https://ml.azure.com/quota")


def test_a_queued_run_with_quota_is_waited_for(azure):
    _nc4as_t4(azure, free=4)
    reason = deployer_target(azure).explain_queue("tfod-smoke-1")
    assert not reason.blocking and "cluster gpu-cluster (0 to 1 nodes) is allocating one" in reason.message
