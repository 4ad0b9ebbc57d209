"""What the Azure ML endpoint adapter would send: the exact endpoint and deployment bodies (no network), and the
order of operations of a release step against a recording stand-in for MLClient (Azure cannot be reached)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from azure.core.exceptions import ResourceNotFoundError

from shared.adapters.azureml_endpoint import SERVING_CODE, AzureMLEndpoints
from shared.ports import DeploymentSpec
from shared.settings import Settings

SPEC = DeploymentSpec("shapes", "tfod-shapes", "3", "shapes/b1/model")
IDENTITY = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-serve"


def adapter(**overrides) -> AzureMLEndpoints:
    return AzureMLEndpoints(None, Settings(endpoint_name_prefix="tfod-ab12", endpoint_identity_id=IDENTITY,
                                           endpoint_identity_client_id="client-1", **overrides))


def test_managed_endpoint_uses_key_auth_and_the_endpoint_identity():
    body = adapter().build_endpoint("shapes")._to_rest_online_endpoint(location="westeurope").as_dict()
    assert body["properties"]["authMode"] == "Key"
    assert body["identity"]["type"] == "UserAssigned" and IDENTITY in body["identity"]["userAssignedIdentities"]
    assert body["tags"] == {"project": "shapes", "managed_by": "tfod-retraining"}


def test_managed_deployment_body():
    deployment = adapter().build_deployment(SPEC, "green")
    assert deployment.name == "green" and deployment.endpoint_name == "tfod-ab12-shapes"
    assert deployment.code_configuration.scoring_script == "score.py"
    assert (SERVING_CODE / "score.py").exists()
    collections = deployment.data_collector.collections
    assert set(collections) == {"model_inputs", "model_outputs"}
    assert collections["model_inputs"].data.path == \
        "azureml://datastores/inferencedata/paths/tfod-ab12-shapes/green/model_inputs"
    assert collections["model_outputs"].client_id == "client-1"
    # the SDK registers each collection's data asset and sends its id; stand in for that step
    for name, collection in collections.items():
        collection.data = f"/subscriptions/s/.../data/tfod-ab12-shapes-green-{name}/versions/1"
    body = deployment._to_rest_object(location="westeurope").as_dict()["properties"]
    assert body["model"] == "azureml:tfod-shapes:3"
    assert body["environmentId"] == "azureml:tfod-serving-cpu@latest"
    assert body["appInsightsEnabled"] is True
    assert body["instanceType"] == "Standard_DS3_v2" and body["endpointComputeType"] == "Managed"
    assert body["environmentVariables"] == {"MODEL_NAME": "tfod-shapes", "MODEL_VERSION": "3",
                                             "DEPLOYMENT_NAME": "green", "GUNICORN_CMD_ARGS": "--threads 4"}
    assert body["requestSettings"]["maxConcurrentRequestsPerInstance"] == 4
    assert body["dataCollector"]["collections"]["model_inputs"]["dataCollectionMode"] == "enabled"


def test_kubernetes_option_targets_the_attached_cluster():
    endpoints = adapter(endpoint_kind="kubernetes", kubernetes_compute="aks-gpu")
    endpoint = endpoints.build_endpoint("shapes")._to_rest_online_endpoint(location="westeurope").as_dict()
    assert endpoint["properties"]["compute"] == "aks-gpu" and endpoint["properties"]["authMode"] == "Key"
    deployment = endpoints.build_deployment(SPEC, "blue")
    for collection in deployment.data_collector.collections.values():
        collection.data = "data-id"
    body = deployment._to_rest_object(location="westeurope").as_dict()["properties"]
    assert body["endpointComputeType"] == "Kubernetes" and body["appInsightsEnabled"] is True
    assert body["dataCollector"]["collections"]["model_outputs"]["dataCollectionMode"] == "enabled"


class Operations:
    """Records calls; `items` holds what Azure would return from get()."""

    def __init__(self, calls: list, kind: str) -> None:
        self.calls, self.kind, self.items = calls, kind, {}

    def get(self, name, endpoint_name=None):
        if name not in self.items:
            raise ResourceNotFoundError(f"{self.kind} {name} not found")
        return self.items[name]

    def begin_create_or_update(self, entity):
        self.calls.append((self.kind, "create_or_update", entity.name))
        return SimpleNamespace(result=lambda: entity)

    def begin_delete(self, name, endpoint_name):
        self.calls.append((self.kind, "delete", name))

    def get_logs(self, name, endpoint_name, lines):
        return "ModuleNotFoundError: No module named 'tensorflow'"


@pytest.fixture
def client():
    calls: list = []
    return SimpleNamespace(calls=calls, online_endpoints=Operations(calls, "endpoint"),
                           online_deployments=Operations(calls, "deployment"))


def test_provision_creates_endpoint_then_deployment_and_waits_for_them(client):
    endpoints = AzureMLEndpoints(client, Settings(endpoint_name_prefix="tfod-ab12"))
    assert endpoints.provision(SPEC, "green") == "provisioning"
    assert client.calls == [("endpoint", "create_or_update", "tfod-ab12-shapes")]
    client.online_endpoints.items["tfod-ab12-shapes"] = SimpleNamespace(provisioning_state="Creating")
    assert endpoints.provision(SPEC, "green") == "provisioning" and len(client.calls) == 1
    client.online_endpoints.items["tfod-ab12-shapes"].provisioning_state = "Succeeded"
    assert endpoints.provision(SPEC, "green") == "provisioning"
    assert client.calls[-1] == ("deployment", "create_or_update", "green")
    client.online_deployments.items["green"] = SimpleNamespace(provisioning_state="Updating",
                                                               tags={"model_version": "3"})
    assert endpoints.provision(SPEC, "green") == "provisioning" and len(client.calls) == 2
    client.online_deployments.items["green"].provisioning_state = "Succeeded"
    assert endpoints.provision(SPEC, "green") == "ready"
    client.online_deployments.items["green"].provisioning_state = "Failed"
    assert "No module named 'tensorflow'" in endpoints.provision(SPEC, "green")


def test_a_slot_left_with_another_version_is_redeployed(client):
    endpoints = AzureMLEndpoints(client, Settings(endpoint_name_prefix="tfod-ab12"))
    client.online_endpoints.items["tfod-ab12-shapes"] = SimpleNamespace(provisioning_state="Succeeded")
    client.online_deployments.items["green"] = SimpleNamespace(provisioning_state="Succeeded",
                                                               tags={"model_version": "2"})
    assert endpoints.provision(SPEC, "green") == "provisioning"
    assert client.calls == [("deployment", "create_or_update", "green")]


def test_route_sets_the_whole_split_and_remove_tolerates_a_missing_slot(client):
    endpoints = AzureMLEndpoints(client, Settings(endpoint_name_prefix="tfod-ab12"))
    endpoint = SimpleNamespace(name="tfod-ab12-shapes", traffic={"blue": 100})
    client.online_endpoints.items["tfod-ab12-shapes"] = endpoint
    endpoints.route("shapes", {"green": 100, "blue": 0})
    assert endpoint.traffic == {"green": 100, "blue": 0}
    assert client.calls == [("endpoint", "create_or_update", "tfod-ab12-shapes")]
    endpoints.remove("shapes", "blue")
    assert client.calls[-1] == ("deployment", "delete", "blue")
