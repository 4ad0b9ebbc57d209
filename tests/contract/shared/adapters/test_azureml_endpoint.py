"""Online endpoints through the real azure-ai-ml client: code upload, asset resolution, long-running operations,
keys, traffic and deletion, as the release timer drives them tick by tick."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from shared.adapters.azureml_endpoint import AzureMLEndpoints
from shared.adapters.scoring import score_on_slot
from shared.ports import DeploymentSpec
from shared.serving import endpoint_name
from tests.contract.conftest import TELEMETRY, azure_settings
from tests.fakes.azure_cloud import FakeAzure

SPEC = DeploymentSpec("shapes", "tfod-shapes", "1", "shapes/b1/model")
ENDPOINT = "tfod-ab12cd-shapes"


def register_model(azure: FakeAzure, version: str = "1") -> None:
    """A model version as AzureMLRegistry leaves it (the registration itself has its own contract test)."""
    azure.ml._put_resource("models/tfod-shapes", {"properties": {}})
    azure.ml._put_resource(f"models/tfod-shapes/versions/{version}", {"properties": {
        "modelUri": f"azureml://datastores/models/paths/shapes/b{version}/model", "modelType": "custom_model",
        "flavors": {}, "tags": {}, "properties": {}}})


def endpoints(azure: FakeAzure, **overrides) -> AzureMLEndpoints:
    return AzureMLEndpoints(azure.ml_client(), azure_settings(azure, **overrides), scoring_transport=azure.transport)


def provision_until_settled(azure: FakeAzure, adapter: AzureMLEndpoints, spec: DeploymentSpec = SPEC,
                            slot: str = "blue", ticks: int = 5) -> list[str]:
    """What the release timer sees, tick after tick, while Azure works between the ticks."""
    seen = []
    with azure.sdk_uploads():
        for _ in range(ticks):
            seen.append(adapter.provision(spec, slot))
            if seen[-1] != "provisioning":
                break
            azure.ml.settle()
    return seen


def provisioned_cluster() -> tuple[str, list[str], dict[str, str]]:
    """The Kubernetes compute infra/app/aks.bicep attaches (its name and instance types) and the settings
    main.bicep gives the function app with it."""
    infra = Path(__file__).resolve().parents[4] / "infra"
    aks, main = (infra / "app" / "aks.bicep").read_text(), (infra / "main.bicep").read_text()
    name = re.search(r"var computeName = '([^']+)'", aks).group(1)
    types = re.findall(r"(\w+): \w+Instance\b", re.search(r"instanceTypes: .*", aks).group(0))
    block = re.search(r"var kubernetesSettings = kubernetesServing \? \{\n(.*?)\n\}", main, re.S).group(1)
    settings = dict(re.findall(r"^  (\w+): '([^']*)'$", block, re.M))
    return name, sorted(set(types)), settings


KINDS = {"managed": {}, "kubernetes": {
    "endpoint_kind": "kubernetes", "kubernetes_compute": provisioned_cluster()[2]["KUBERNETES_COMPUTE"],
    "serving_instance_type": provisioned_cluster()[2]["SERVING_INSTANCE_TYPE"]}}


@pytest.fixture(params=list(KINDS))
def ready(azure, request) -> AzureMLEndpoints:
    """Provisioned on a managed endpoint, and on the Kubernetes compute the AKS Bicep attaches."""
    if request.param == "kubernetes":
        name, instance_types, _ = provisioned_cluster()
        azure.ml.add_kubernetes_compute(name, tuple(instance_types))
    register_model(azure)
    adapter = endpoints(azure, **KINDS[request.param])
    assert provision_until_settled(azure, adapter) == ["provisioning", "provisioning", "ready"]
    return adapter


def test_the_provisioned_cluster_and_the_settings_it_gives_agree():
    name, instance_types, settings = provisioned_cluster()
    assert settings == {"ENDPOINT_KIND": "kubernetes", "KUBERNETES_COMPUTE": name, "SERVING_INSTANCE_TYPE": "cpu"}
    assert instance_types == ["cpu", "gpu"]


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_model_served_by_onnx_runtime_gets_the_image_without_tensorflow(azure, kind):
    """The release chose ONNX Runtime for this model (its export passed parity): the deployment names the ONNX-only
    environment, and score.py is told the runtime rather than left to choose."""
    if kind == "kubernetes":
        name, instance_types, _ = provisioned_cluster()
        azure.ml.add_kubernetes_compute(name, tuple(instance_types))
    register_model(azure)
    adapter = endpoints(azure, **KINDS[kind])
    onnx = DeploymentSpec("shapes", "tfod-shapes", "1", "shapes/b1/model", runtime="onnx")
    assert provision_until_settled(azure, adapter, onnx)[-1] == "ready"
    props = azure.ml.get(f"onlineEndpoints/{ENDPOINT}/deployments/blue")["properties"]
    assert props["environmentId"] == f"{azure.ws.id}/environments/tfod-serving-onnx/versions/1"
    assert props["environmentVariables"]["SERVING_RUNTIME"] == "onnx"
    # two inference server workers (processes), each taking SERVING_THREADS requests: Azure may send twice as many
    assert props["environmentVariables"]["WORKER_COUNT"] == "2"
    assert props["requestSettings"]["maxConcurrentRequestsPerInstance"] == 32


def test_the_endpoint_azure_receives_is_keyed_and_runs_as_the_endpoint_identity(azure, ready):
    endpoint = azure.ml.get(f"onlineEndpoints/{ENDPOINT}")
    assert endpoint["properties"]["authMode"] == "Key"
    assert endpoint["identity"]["type"] == "UserAssigned"
    assert list(endpoint["identity"]["userAssignedIdentities"]) == [azure.ws.identity_id("serve")]
    assert endpoint["tags"] == {"project": "shapes", "managed_by": "tfod-retraining"}


def test_the_deployment_azure_receives_has_every_name_resolved_and_its_code_uploaded(azure, ready):
    props = azure.ml.get(f"onlineEndpoints/{ENDPOINT}/deployments/blue")["properties"]
    assert props["provisioningState"] == "Succeeded"
    assert props["environmentId"] == f"{azure.ws.id}/environments/tfod-serving-cpu/versions/1"
    assert props["model"] == f"{azure.ws.id}/models/tfod-shapes/versions/1"
    code = azure.ml.get(props["codeConfiguration"]["codeId"].split(f"{azure.ws.name}/", 1)[1])["properties"]
    uploaded = azure.blobs.accounts[azure.ws.storage_account]
    assert any(name.endswith("/score.py") for blobs in uploaded.values() for name in blobs), code["codeUri"]
    assert props["codeConfiguration"]["scoringScript"] == "score.py"
    assert (props["instanceType"], props["endpointComputeType"]) in (("Standard_DS3_v2", "Managed"),
                                                                     ("cpu", "Kubernetes"))
    # the server's own exporter sends with the instrumentation key, which Application Insights refuses (local auth
    # off): score.py sends its lines itself, signed in as the endpoint identity (trainer_image/serving/telemetry.py)
    assert props["appInsightsEnabled"] is False
    assert props["environmentVariables"] == {"MODEL_NAME": "tfod-shapes", "MODEL_VERSION": "1",
                                             "DEPLOYMENT_NAME": "blue", "GUNICORN_CMD_ARGS": "--threads 16",
                                             "SCORE_MAX_BATCH": "8", "SCORE_BATCH_WAIT_MS": "5",
                                             "SERVING_RUNTIME": "auto", "WORKER_COUNT": "1",
                                             "APPLICATIONINSIGHTS_CONNECTION_STRING":
                                             TELEMETRY, "APPLICATIONINSIGHTS_AUTHENTICATION_STRING":
                                             "Authorization=AAD;ClientId=client-id-serve", "ENDPOINT_NAME": ENDPOINT}
    assert props["requestSettings"]["maxConcurrentRequestsPerInstance"] == 16
    collections = props["dataCollector"]["collections"]
    assert set(collections) == {"model_inputs", "model_outputs"}
    for name, collection in collections.items():
        assert collection["dataCollectionMode"] == "Enabled" or collection["dataCollectionMode"] == "enabled"
        assert collection["clientId"] == "client-id-serve"
        data = azure.ml.get(collection["dataId"].split(f"{azure.ws.name}/", 1)[1])
        assert data["properties"]["dataUri"] == \
            f"azureml://datastores/inferencedata/paths/{ENDPOINT}/blue/{name}"


def test_scoring_goes_to_the_slot_with_the_endpoint_key(azure, ready):
    status, body = ready.invoke("shapes", "blue", b"\xff\xd8jpeg", "application/octet-stream")
    assert status == 200 and json.loads(body)["model"]["version"] == "1"
    assert azure.ml.scored == [(ENDPOINT, "blue", b"\xff\xd8jpeg")]
    azure.ml.keys[ENDPOINT]["primaryKey"] = "regenerated"  # keys are read at each call, never cached
    assert ready.invoke("shapes", "blue", b"img", "image/jpeg")[0] == 200
    uri = ready.describe("shapes")["scoring_uri"]
    assert score_on_slot(uri, "not-the-key", "blue", b"img", "image/jpeg", transport=azure.transport)[0] == 401


def test_traffic_moves_as_a_whole_split_and_a_removed_slot_goes_away(azure, ready):
    with azure.sdk_uploads():
        ready.provision(DeploymentSpec("shapes", "tfod-shapes", "1", "shapes/b1/model"), "green")
    azure.ml.settle()
    assert provision_until_settled(azure, ready, slot="green") == ["ready"]
    ready.route("shapes", {"green": 100, "blue": 0})
    assert azure.ml.get(f"onlineEndpoints/{ENDPOINT}")["properties"]["traffic"] == {"green": 100}  # SDK drops 0s
    ready.remove("shapes", "blue")
    azure.ml.settle()
    assert azure.ml.get(f"onlineEndpoints/{ENDPOINT}/deployments/blue") is None
    ready.remove("shapes", "blue")  # already gone: no error
    described = ready.describe("shapes")
    assert described["scoring_uri"] == f"https://{ENDPOINT}.westeurope.inference.ml.azure.com/score"
    assert described["auth_mode"] == "key" and described["traffic"] == {"green": 100}


def test_a_slot_holding_another_version_is_redeployed(azure, ready):
    register_model(azure, "2")
    spec = DeploymentSpec("shapes", "tfod-shapes", "2", "shapes/b2/model")
    assert provision_until_settled(azure, ready, spec) == ["provisioning", "ready"]
    props = azure.ml.get(f"onlineEndpoints/{ENDPOINT}/deployments/blue")["properties"]
    assert props["model"].endswith("/models/tfod-shapes/versions/2")


def test_a_deployment_whose_identity_cannot_pull_the_image_fails_with_the_reason():
    azure = FakeAzure(FakeAzure().grants.without("endpoint", "AcrPull", "registry"))
    register_model(azure)
    seen = provision_until_settled(azure, endpoints(azure))
    assert seen[-1].startswith("failed: deployment blue failed") and "AcrPull" in seen[-1]


def test_a_deployment_whose_identity_cannot_read_its_code_fails_with_the_reason():
    azure = FakeAzure(FakeAzure().grants.without("endpoint", "Storage Blob Data Reader", "mlStorage"))
    register_model(azure)
    seen = provision_until_settled(azure, endpoints(azure))
    assert seen[-1].startswith("failed") and "score.py" in seen[-1]


def test_without_workspace_storage_access_the_function_cannot_upload_the_code():
    azure = FakeAzure(FakeAzure().grants.without("function", "Storage Blob Data Contributor", "mlStorage"))
    register_model(azure)
    seen = provision_until_settled(azure, endpoints(azure))
    assert seen[-1].startswith("failed: Azure ML refused the deployment"), seen
    assert "Storage Blob Data Contributor" in seen[-1]


def test_without_managed_identity_operator_the_endpoint_is_refused_with_the_reason():
    azure = FakeAzure(FakeAzure().grants.without("function", "Managed Identity Operator", "endpointIdentity"))
    register_model(azure)
    seen = provision_until_settled(azure, endpoints(azure))
    assert seen == [seen[0]] and seen[0].startswith("failed: Azure ML refused the deployment (403)")
    assert "userAssignedIdentities/assign/action" in seen[0]


def test_kubernetes_endpoints_use_the_attached_cluster_and_its_default_instance_type(azure):
    azure.ml.add_kubernetes_compute("aks-serving")
    register_model(azure)
    adapter = endpoints(azure, endpoint_kind="kubernetes", kubernetes_compute="aks-serving")
    assert provision_until_settled(azure, adapter) == ["provisioning", "provisioning", "ready"]
    endpoint = azure.ml.get(f"onlineEndpoints/{ENDPOINT}")["properties"]
    assert endpoint["compute"].endswith("/computes/aks-serving") and endpoint["authMode"] == "Key"
    props = azure.ml.get(f"onlineEndpoints/{ENDPOINT}/deployments/blue")["properties"]
    assert (props["endpointComputeType"], props["instanceType"]) == ("Kubernetes", "defaultinstancetype")
    assert props["appInsightsEnabled"] is False and set(props["dataCollector"]["collections"]) == {
        "model_inputs", "model_outputs"}


def test_long_project_names_get_distinct_valid_endpoint_names(azure):
    settings = azure_settings(azure)
    long_a, long_b = "warehouse-shelf-detector-aisle-" + "a" * 10, "warehouse-shelf-detector-aisle-" + "b" * 10
    names = {endpoint_name(settings, p) for p in (long_a, long_b, "Cats & Dogs", "cats-dogs")}
    assert len(names) == 4 and all(3 <= len(n) <= 32 for n in names)
    for project in (long_a, "Cats & Dogs"):
        register_model(azure)
        spec = DeploymentSpec(project, "tfod-shapes", "1", "shapes/b1/model")
        assert provision_until_settled(azure, endpoints(azure), spec)[-1] == "ready"
