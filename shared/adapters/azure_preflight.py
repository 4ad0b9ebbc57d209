"""The preflight's facts, read from Azure Resource Manager with the person's own credential (GETs only: the
preflight changes nothing). REST paths and API versions are those of the public specs the tests answer from."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from azure.core.exceptions import HttpResponseError
from azure.core.pipeline import policies
from azure.core.rest import HttpRequest
from azure.mgmt.core import ARMPipelineClient
from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy

from shared.preflight import KUBERNETES_PROVIDERS, PROVIDERS, Facts, Plan

ARM = "https://management.azure.com"
VERSIONS = {"resources": "2021-04-01", "ml": "2024-10-01", "web": "2024-04-01", "features": "2021-07-01"}


class ArmReader:
    """GET and page through ARM lists; 404 reads as None."""

    def __init__(self, credential: Any, transport: Any = None) -> None:
        config_policies = [policies.RetryPolicy(retry_total=3),
                           ARMChallengeAuthenticationPolicy(credential, f"{ARM}/.default")]
        self.client = ARMPipelineClient(ARM, policies=config_policies, per_call_policies=[],
                                        **({"transport": transport} if transport else {}))

    def get(self, path: str, version: str, **query: str) -> dict[str, Any] | None:
        response = self.client.send_request(HttpRequest("GET", f"{ARM}{path}",
                                                         params={"api-version": version, **query}))
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise HttpResponseError(response=response)
        return response.json()

    def items(self, path: str, version: str, **query: str) -> Iterator[dict[str, Any]]:
        page = self.get(path, version, **query)
        while page:
            yield from page.get("value") or []
            link = page.get("nextLink")
            if not link:
                return
            response = self.client.send_request(HttpRequest("GET", link))
            if response.status_code >= 400:
                raise HttpResponseError(response=response)
            page = response.json()


def ml_region(reader: ArmReader, subscription_id: str, location: str) -> tuple[list[dict], list[dict]]:
    """Azure ML's VM sizes and vCPU quota lines in a region (the preflight; the smoke test's queued run)."""
    ml = f"/subscriptions/{subscription_id}/providers/Microsoft.MachineLearningServices/locations/{location}"
    return list(reader.items(f"{ml}/vmSizes", VERSIONS["ml"])), list(reader.items(f"{ml}/usages", VERSIONS["ml"]))


def read_facts(plan: Plan, reader: ArmReader, az_account: dict[str, Any] | None) -> Facts:
    """Everything the checks read, in a dozen GETs."""
    sub, loc = f"/subscriptions/{plan.subscription_id}", plan.location
    namespaces = PROVIDERS + (KUBERNETES_PROVIDERS if plan.kubernetes else ())
    providers = {ns: ((reader.get(f"{sub}/providers/{ns}", VERSIONS["resources"]) or {}).get("registrationState")
                      or "NotRegistered") for ns in namespaces}
    vm_sizes, usages = ml_region(reader, plan.subscription_id, loc)
    return Facts(
        subscription=reader.get(sub, VERSIONS["resources"]) or {},
        providers=providers,
        vm_sizes=vm_sizes,
        usages=usages,
        flex_regions=list(reader.items(f"{sub}/providers/Microsoft.Web/geoRegions", VERSIONS["web"],
                                       sku="FlexConsumption")),
        features=list(reader.items(f"{sub}/providers/Microsoft.Features/providers/Microsoft.Compute/features",
                                   VERSIONS["features"])) if plan.kubernetes and plan.encryption_at_host else [],
        az_account=az_account)
