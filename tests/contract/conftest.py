"""Contract tests: the unchanged Azure adapters, through the real SDK clients, against stand-ins for Azure that
answer like the REST APIs and authorize every call against the role grants in infra/app/rbac.bicep."""

from __future__ import annotations

import pytest

from shared.settings import Settings
from tests.fakes.azure_cloud import FakeAzure


@pytest.fixture
def azure() -> FakeAzure:
    return FakeAzure()


TELEMETRY = ("InstrumentationKey=00000000-0000-0000-0000-000000000000;"
             "IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/;"
             "LiveEndpoint=https://westeurope.livediagnostics.monitor.azure.com/")
"""An Application Insights connection string in the form the resource gives it (ConnectionString property)."""


def azure_settings(azure: FakeAzure, **overrides) -> Settings:
    """The function app's settings as infra/app/function.bicep sets them for this deployment."""
    return Settings(azure_subscription_id=azure.ws.subscription, azure_resource_group=azure.ws.resource_group,
                    aml_workspace=azure.ws.name, blob_service_uri=f"https://{azure.ws.data_account}.blob.core.windows.net",
                    compute_identity_client_id="client-id-train", endpoint_name_prefix="tfod-ab12cd",
                    endpoint_identity_id=azure.ws.identity_id("serve"), endpoint_identity_client_id="client-id-serve",
                    endpoint_telemetry_connection_string=TELEMETRY).with_overrides(**overrides)
