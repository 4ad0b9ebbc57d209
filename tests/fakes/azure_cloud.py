"""One deployment of the service's Azure side, as the Bicep describes it, behind a transport the real SDKs use."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

from tests.fakes.azure_arm import FakeArm
from tests.fakes.azure_blob import BlobService
from tests.fakes.azure_ml import AzureMLService, Workspace
from tests.fakes.http import IdentityCredential, Request, Response, ServiceTransport, error
from tests.infra_model import Grants, bicep_grants


class FakeAzure:
    """Blob accounts and the Azure ML workspace, authorizing every call against the Bicep's role grants."""

    def __init__(self, grants: Grants | None = None) -> None:
        self.grants = grants or bicep_grants()
        self.function_calls: list[str] = []
        self.ws = Workspace()
        self.blobs = BlobService(self.grants, {self.ws.data_account: "data", self.ws.storage_account: "mlStorage"})
        self.ml = AzureMLService(self.grants, self.blobs, self.ws).provisioned_by_bicep()
        self.function_keys = {"default": "function-key-1"}
        self.region = FakeArm(self.ws.subscription, self.ws.location)
        self.transport = ServiceTransport({"management.azure.com": self.arm,
                                           "blob.core.windows.net": self.blobs.handle,
                                           "inference.ml.azure.com": self.ml.score,
                                           "azurewebsites.net": self.function_app})

    @property
    def env(self) -> dict[str, str]:
        """What `azd env get-values` holds after `azd up` (infra/main.bicep's outputs)."""
        return {"AZURE_SUBSCRIPTION_ID": self.ws.subscription, "AZURE_RESOURCE_GROUP": self.ws.resource_group,
                "AZURE_FUNCTION_APP_NAME": "func-token1", "AZURE_FUNCTION_URL": "https://func-token1.azurewebsites.net",
                "AZURE_DATA_STORAGE_ACCOUNT": self.ws.data_account, "AZURE_ML_WORKSPACE": self.ws.name,
                "AZURE_ENDPOINT_NAME_PREFIX": "tfod-ab12cd"}

    def arm(self, request: Request) -> Response:
        """Azure Resource Manager: the workspace's provider, the function app's host keys, and Azure ML's quota and
        VM sizes in the region (the spec examples', tests/fakes/azure_arm.py)."""
        if "/providers/Microsoft.MachineLearningServices/locations/" in request.path:
            return self.region.handle(request)
        if "/providers/Microsoft.Web/sites/" in request.path:
            if not request.path.endswith("/host/default/listKeys") or request.method != "POST":
                return error(404, "NotFound", request.path)
            if request.identity != "deployer":  # Contributor on the resource group: whoever ran `azd up`
                return error(403, "AuthorizationFailed", f"{request.identity} may not list the function keys")
            return Response(200, {"masterKey": "master-key", "functionKeys": self.function_keys, "systemKeys": {}})
        return self.ml.handle(request)

    def function_app(self, request: Request) -> Response:
        """The function app's front door: function-level routes need one of its keys (header or ?code=)."""
        key = request.headers.get("x-functions-key") or request.query.get("code")
        if key not in (*self.function_keys.values(), "master-key"):
            return Response(401, b"")
        self.function_calls.append(request.path)
        return Response(200, {"route": request.path})

    def ml_client(self, identity: str = "function") -> Any:
        """The real MLClient, signed in as one of the service's identities, over this fake's transport."""
        from azure.ai.ml import MLClient

        return MLClient(IdentityCredential(identity), self.ws.subscription, self.ws.resource_group, self.ws.name,
                        transport=self.transport, show_progress=False)

    @contextlib.contextmanager
    def sdk_uploads(self) -> Iterator[None]:
        """azure-ai-ml builds its own BlobServiceClient for code uploads (no transport argument): hand it ours."""
        from azure.ai.ml._artifacts import _blob_storage_helper
        from azure.storage.blob import BlobServiceClient

        original = _blob_storage_helper.BlobServiceClient
        _blob_storage_helper.BlobServiceClient = functools.partial(BlobServiceClient, transport=self.transport)
        try:
            yield
        finally:
            _blob_storage_helper.BlobServiceClient = original
