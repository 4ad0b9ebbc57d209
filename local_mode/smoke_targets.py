"""Where the smoke test runs: the deployment `azd up` made (names from azd's environment), or a local twin."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from local_mode.smoke import FunctionApp, QueueReason, SmokeFailure, http_json
from shared.adapters.azure_storage import AzureBlobStore
from shared.adapters.azureml_registry import AzureMLRegistry
from shared.ports import BlobStore
from shared.serving import endpoint_name
from shared.settings import Settings

ARM = "https://management.azure.com"
AZD_OUTPUTS = ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZURE_FUNCTION_APP_NAME", "AZURE_FUNCTION_URL",
               "AZURE_DATA_STORAGE_ACCOUNT", "AZURE_ML_WORKSPACE", "AZURE_ENDPOINT_NAME_PREFIX")


@dataclass
class LocalTarget:
    """A local twin started with `python -m local_mode serve`: Azurite, the functions' routes, the endpoint."""

    blobs: BlobStore
    app: FunctionApp
    key: str
    datasets_container: str = "datasets"
    transport: Any = None

    def status(self, project: str) -> dict[str, Any]:
        return self.app.get(f"status/{project}")

    def endpoint_key(self, project: str) -> str:
        return self.key

    def studio_link(self, job_name: str) -> str | None:
        return None

    def remove_deployment(self, project: str, model_name: str | None) -> list[str]:
        return []  # the local endpoints stop with `serve`


@dataclass
class AzureTarget:
    """The deployed service: data account and workspace by identity (the person's or the pipeline's credential),
    the function app's routes with its host key (given, or read from ARM like `az functionapp keys list`)."""

    blobs: BlobStore
    app: FunctionApp
    ml_client: Any
    settings: Settings
    datasets_container: str = "datasets"
    transport: Any = None
    arm: Any = None
    """ArmReader over the same credential: Azure ML's quota and VM sizes, when a run waits for machines."""
    subscription_id: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, credential: Any = None,
                 transport: Any = None) -> AzureTarget:
        env = os.environ if env is None else env
        missing = [name for name in AZD_OUTPUTS if not env.get(name)]
        if missing:
            raise SmokeFailure(f"missing {', '.join(missing)}: run inside `azd env get-values` (or export the "
                               "outputs of infra/main.bicep)")
        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        from azure.ai.ml import MLClient
        from azure.storage.blob import BlobServiceClient

        account = f"https://{env['AZURE_DATA_STORAGE_ACCOUNT']}.blob.core.windows.net"
        extra = {"transport": transport} if transport else {}
        blobs = AzureBlobStore(BlobServiceClient(account, credential=credential, **extra))
        key = env.get("AZURE_FUNCTION_KEY") or function_key(
            credential, env["AZURE_SUBSCRIPTION_ID"], env["AZURE_RESOURCE_GROUP"], env["AZURE_FUNCTION_APP_NAME"],
            transport=transport)
        ml = MLClient(credential, env["AZURE_SUBSCRIPTION_ID"], env["AZURE_RESOURCE_GROUP"],
                      env["AZURE_ML_WORKSPACE"], show_progress=False, **extra)
        settings = Settings.from_env({"ENDPOINT_NAME_PREFIX": env["AZURE_ENDPOINT_NAME_PREFIX"],
                                      "DATASETS_CONTAINER": env.get("DATASETS_CONTAINER", "")})
        from shared.adapters.azure_preflight import ArmReader

        return cls(blobs, FunctionApp(env["AZURE_FUNCTION_URL"].rstrip("/") + "/api", key, transport), ml, settings,
                   settings.datasets_container, transport, ArmReader(credential, transport),
                   env["AZURE_SUBSCRIPTION_ID"])

    def status(self, project: str) -> dict[str, Any]:
        return self.app.get(f"status/{project}")

    def endpoint_key(self, project: str) -> str:
        return self.ml_client.online_endpoints.get_keys(name=endpoint_name(self.settings, project)).primary_key

    def studio_link(self, job_name: str) -> str | None:
        return self.ml_client.jobs.get(job_name).studio_url

    def explain_queue(self, job_name: str) -> QueueReason:
        """A run waiting for machines: the training cluster's size against Azure ML's free quota in its region
        (what `azd up` cannot know for a fresh subscription: most have no GPU quota)."""
        from shared.adapters.azure_preflight import ml_region
        from shared.preflight import node_quota

        compute = self.ml_client.compute.get(self.settings.aml_compute)
        sizes, usages = ml_region(self.arm, self.subscription_id, compute.location)
        finding, _ = node_quota("training", compute.size, 1, sizes, usages, compute.location)
        if not finding.ok:
            return QueueReason(f"{finding.what} — {finding.fix}", blocking=True)
        return QueueReason(f"{finding.what}: the quota allows a node; cluster {compute.name} (0 to "
                           f"{compute.max_instances} nodes) is allocating one, which can take minutes", blocking=False)

    def remove_deployment(self, project: str, model_name: str | None) -> list[str]:
        """The project's endpoint (deleted) and its model versions (archived: Azure ML keeps their lineage)."""
        from azure.core.exceptions import ResourceNotFoundError

        removed = []
        name = endpoint_name(self.settings, project)
        with contextlib.suppress(ResourceNotFoundError):
            self.ml_client.online_endpoints.begin_delete(name=name)
            removed.append(f"online endpoint {name}")
        if model_name:  # a smoke test that failed before registering has no versions (an empty list, or a 404)
            for model in AzureMLRegistry(self.ml_client).versions(model_name):
                self.ml_client.models.archive(name=model_name, version=model.version)
                removed.append(f"model {model_name}:{model.version} (archived)")
        return removed


def function_key(credential: Any, subscription: str, resource_group: str, app: str, *,
                 transport: Any = None) -> str:
    """The function app's default host key, as `az functionapp keys list` reads it (needs Contributor or Website
    Contributor on the app, which whoever ran `azd up` has)."""
    token = credential.get_token(f"{ARM}/.default").token
    url = (f"{ARM}/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Web/sites/{app}"
           "/host/default/listKeys?api-version=2024-04-01")
    status, body = http_json("POST", url, headers={"Authorization": f"Bearer {token}"}, transport=transport)
    if status != 200:
        raise SmokeFailure(f"could not read the function key of {app} ({status}): {str(body)[:300]}; pass "
                           "AZURE_FUNCTION_KEY instead")
    return body["functionKeys"].get("default") or body["masterKey"]
