"""One deployment of the service's Azure side, as the Bicep describes it, behind a transport the real SDKs use."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

from tests.fakes.azure_blob import BlobService
from tests.fakes.azure_ml import AzureMLService, Workspace
from tests.fakes.http import IdentityCredential, ServiceTransport
from tests.infra_model import Grants, bicep_grants


class FakeAzure:
    """Blob accounts and the Azure ML workspace, authorizing every call against the Bicep's role grants."""

    def __init__(self, grants: Grants | None = None) -> None:
        self.grants = grants or bicep_grants()
        self.ws = Workspace()
        self.blobs = BlobService(self.grants, {self.ws.data_account: "data", self.ws.storage_account: "mlStorage"})
        self.ml = AzureMLService(self.grants, self.blobs, self.ws).provisioned_by_bicep()
        self.transport = ServiceTransport({"management.azure.com": self.ml.handle,
                                           "blob.core.windows.net": self.blobs.handle,
                                           "inference.ml.azure.com": self.ml.score})

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
