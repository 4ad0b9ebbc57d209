"""Before `azd up` on a subscription: what would make provisioning or the first run fail, found from what Azure
Resource Manager says about the subscription, each with why and the command that fixes it. Pure: facts in,
findings out (shared/adapters/azure_preflight.py reads the facts)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

PROVIDERS = ("Microsoft.MachineLearningServices", "Microsoft.Web", "Microsoft.Storage", "Microsoft.EventGrid",
             "Microsoft.ContainerRegistry", "Microsoft.KeyVault", "Microsoft.Insights",
             "Microsoft.OperationalInsights", "Microsoft.ManagedIdentity")
"""The resource providers infra/main.bicep deploys to (`azd up` fails on the first one not registered)."""
KUBERNETES_PROVIDERS = ("Microsoft.ContainerService", "Microsoft.KubernetesConfiguration")
NO_ACR_TASKS = ("FreeTrial", "AzurePass", "AzureForStudents")
"""Free-credit offers (the subscription's quotaId), whose registries refuse ACR Tasks (`TasksOperationsNotAllowed`)."""
UPGRADE_HEADROOM = 1.2
"""Managed online endpoints keep 20% of a deployment's cores in reserve for upgrades (Azure ML quota docs)."""
QUOTA_LINK = "https://ml.azure.com/quota"
SIZE_SETTINGS = {"training": "AZURE_GPU_VM_SIZE", "serving": "SERVING_INSTANCE_TYPE"}
"""The azd setting that picks each role's VM size (the image build cluster's is fixed)."""


@dataclass(frozen=True)
class Plan:
    """What the deployment will ask for (infra/main.bicep's parameters and the serving settings)."""

    subscription_id: str
    location: str
    training_vm_size: str = "Standard_NC4as_T4_v3"
    training_nodes: int = 1
    serving_vm_size: str = "Standard_DS3_v2"
    serving_instances: int = 1
    kubernetes: bool = False
    encryption_at_host: bool = False
    docker_build: bool = False
    """The images are built with the local Docker (USE_DOCKER_BUILD), not ACR Tasks."""
    tenant_id: str = ""
    """The tenant azd signed in to (AZURE_TENANT_ID, when azd's environment has it)."""
    aml_build: bool = False
    """Azure ML builds the images on the workspace's CPU cluster (USE_AML_BUILD), not ACR Tasks."""
    docker_here: bool = False
    """Docker is installed where azd runs (the hook could build and push with it)."""
    build_vm_size: str = "Standard_DS3_v2"
    """The image build cluster's size (ml-workspace.bicep's buildVmSize)."""


@dataclass
class Facts:
    """What ARM answered (bodies as the service sends them) and who `az` is signed in as."""

    subscription: dict[str, Any]
    providers: dict[str, str]
    vm_sizes: list[dict[str, Any]]
    usages: list[dict[str, Any]]
    flex_regions: list[dict[str, Any]]
    features: list[dict[str, Any]] = field(default_factory=list)
    az_account: dict[str, Any] | None = None


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    what: str
    fix: str = ""

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.check}: {self.what}" + (f" — fix: {self.fix}" if self.fix
                                                                              else "")


def check(plan: Plan, facts: Facts) -> list[Finding]:
    """Every check, in the order a first-time `azd up` would meet them."""
    return [_signed_in(plan, facts), *_providers(plan, facts), _flex(plan, facts), _acr_tasks(plan, facts),
            *_sizes_and_quota(plan, facts), *([_encryption(facts)] if plan.kubernetes and plan.encryption_at_host
                                             else [])]


def _signed_in(plan: Plan, facts: Facts) -> Finding:
    account = facts.az_account
    if account is None:
        return Finding("az sign-in", False, "the Azure CLI is not signed in (the azd hooks use it)",
                       f"az login && az account set --subscription {plan.subscription_id}")
    if account.get("id") != plan.subscription_id:
        return Finding("az sign-in", False, f"az is on subscription {account.get('id')}, azd on "
                       f"{plan.subscription_id} (the hooks would build and deploy into the wrong one)",
                       f"az account set --subscription {plan.subscription_id}")
    tenant, az_tenant = facts.subscription.get("tenantId"), account.get("tenantId")
    managers = {t.get("tenantId") for t in facts.subscription.get("managedByTenants") or []}
    if tenant and az_tenant and az_tenant != tenant and az_tenant not in managers:
        return Finding("az sign-in", False, f"az is signed in to tenant {az_tenant}; subscription "
                       f"{plan.subscription_id} belongs to tenant {tenant} (the hooks' role assignments and "
                       "registry logins would fail)", f"az login --tenant {tenant}")
    if plan.tenant_id and tenant and plan.tenant_id != tenant:
        return Finding("az sign-in", False, f"azd targets tenant {plan.tenant_id} (AZURE_TENANT_ID); subscription "
                       f"{plan.subscription_id} belongs to tenant {tenant}",
                       f"azd auth login --tenant-id {tenant} && azd env set AZURE_TENANT_ID {tenant}")
    return Finding("az sign-in", True, f"az and azd both on subscription {plan.subscription_id}"
                   + (f" in tenant {tenant}" if tenant else ""))


def _providers(plan: Plan, facts: Facts) -> list[Finding]:
    needed = PROVIDERS + (KUBERNETES_PROVIDERS if plan.kubernetes else ())
    missing = [ns for ns in needed if facts.providers.get(ns, "NotRegistered").lower() != "registered"]
    if not missing:
        return [Finding("resource providers", True, f"{len(needed)} registered")]
    return [Finding("resource providers", False, f"{ns} is {facts.providers.get(ns, 'NotRegistered')}",
                    f"az provider register --namespace {ns} --wait") for ns in missing]


def _flex(plan: Plan, facts: Facts) -> Finding:
    offered = {_region(r.get("name") or "") for r in facts.flex_regions} | {
        _region((r.get("properties") or {}).get(k) or "") for r in facts.flex_regions for k in ("name", "displayName")}
    if _region(plan.location) in offered:
        return Finding("Flex Consumption", True, f"offered in {plan.location}")
    return Finding("Flex Consumption", False, f"the function app's plan (Flex Consumption) is not offered in "
                   f"{plan.location}", "pick a region that has it (az functionapp list-flexconsumption-locations), "
                   "then azd env set AZURE_LOCATION <region>")


def _acr_tasks(plan: Plan, facts: Facts) -> Finding:
    offer = (facts.subscription.get("subscriptionPolicies") or {}).get("quotaId", "")
    if plan.docker_build:
        return Finding("image build", True, "the images are built with the local Docker (USE_DOCKER_BUILD)")
    if plan.aml_build:
        return Finding("image build", True, "Azure ML builds the images from their Dockerfiles on the workspace's "
                       "CPU cluster (USE_AML_BUILD)")
    if any(offer.startswith(prefix) for prefix in NO_ACR_TASKS):
        fix = ("azd env set USE_DOCKER_BUILD true (Docker is installed here: the hook builds and pushes locally)"
               if plan.docker_here else "azd env set USE_AML_BUILD true (no Docker here: Azure ML builds the images "
               "from their Dockerfiles on a small CPU cluster of the workspace, each on first use)")
        return Finding("image build", False, f"this subscription's offer ({offer}) refuses ACR Tasks, which the "
                       "postprovision hook builds the trainer images with (TasksOperationsNotAllowed)",
                       f"{fix}; or upgrade the subscription to pay-as-you-go")
    return Finding("image build", True, f"ACR Tasks allowed on this offer ({offer or 'unknown'})")


def _sizes_and_quota(plan: Plan, facts: Facts) -> list[Finding]:
    findings, total = [], 0
    wants = [("training", plan.training_vm_size, plan.training_nodes, 1.0, "AmlCompute")]
    if not plan.kubernetes:  # blue and green both run during a release
        wants.append(("serving", plan.serving_vm_size, 2 * plan.serving_instances, UPGRADE_HEADROOM, "MIR"))
    if plan.aml_build:  # one node of the image build cluster
        wants.append(("image build", plan.build_vm_size, 1, 1.0, "AmlCompute"))
    for role, name, count, headroom, compute in wants:
        finding, need = node_quota(role, name, count, facts.vm_sizes, facts.usages, plan.location, headroom,
                                   compute)
        findings.append(finding)
        total += need
    regional = _usage(facts.usages, "Total Cluster Dedicated Regional vCPUs")
    if regional is not None and total:
        free = regional["limit"] - regional["currentValue"]
        findings.append(Finding("regional quota", free >= total, f"{free} of {regional['limit']} dedicated vCPUs "
                                f"free in {plan.location}; the deployment needs {total}",
                                "" if free >= total else f"request more: {QUOTA_LINK}"))
    return findings


def node_quota(role: str, name: str, count: int, vm_sizes: list[dict[str, Any]], usages: list[dict[str, Any]],
               location: str, headroom: float = 1.0, compute: str = "AmlCompute") -> tuple[Finding, int]:
    """Whether `count` machines of size `name` fit the family's free quota in the region (Azure ML's vmSizes and
    usages lists), and the vCPUs they need (0 when the size is not offered there)."""
    size = next((s for s in vm_sizes if s["name"].lower() == name.lower()), None)
    if size is None or compute not in (size.get("supportedComputeTypes") or [compute]):
        setting = SIZE_SETTINGS.get(role)
        return Finding(f"{role} VM size", False, f"{name} is not offered for Azure ML "
                       f"{'compute clusters' if compute == 'AmlCompute' else 'managed endpoints'} in {location}",
                       f"az ml compute list-sizes --location {location} shows what is; then "
                       + (f"azd env set {setting} <size> (or another AZURE_LOCATION)" if setting else
                          "another AZURE_LOCATION")), 0
    need = math.ceil(size["vCPUs"] * count * headroom)
    return _family_quota(role, size, need, usages, location), need


def _family_quota(role: str, size: dict[str, Any], need: int, usages: list[dict[str, Any]],
                  location: str) -> Finding:
    family = _family_name(size["family"])
    usage = _usage(usages, f"Standard {family} Family Cluster Dedicated vCPUs")
    if usage is None:
        return Finding(f"{role} quota", False, f"no quota line for the {family} family ({size['name']}) in "
                       f"{location}", f"request it: {QUOTA_LINK}")
    free = usage["limit"] - usage["currentValue"]
    what = (f"{free} of {usage['limit']} vCPUs of {family} quota free in {location}; {size['name']} needs {need} "
            f"({role})")
    return Finding(f"{role} quota", free >= need, what, "" if free >= need else f"request more: {QUOTA_LINK} "
                   f"(Azure ML → Quota → {family} family)")


def _encryption(facts: Facts) -> Finding:
    state = next(((f.get("properties") or {}).get("state", "") for f in facts.features
                  if f.get("name", "").split("/")[-1] == "EncryptionAtHost"), "NotRegistered")
    if state.lower() == "registered":
        return Finding("encryption at host", True, "Microsoft.Compute/EncryptionAtHost registered")
    return Finding("encryption at host", False, f"Microsoft.Compute/EncryptionAtHost is {state} (the AKS node "
                   "pools would fail to create)", "az feature register --namespace Microsoft.Compute --name "
                   "EncryptionAtHost, then az provider register -n Microsoft.Compute; or azd env set "
                   "KUBERNETES_ENCRYPTION_AT_HOST false")


def _usage(usages: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The subscription-wide line of that name (workspace and compute lines repeat it)."""
    for usage in usages:
        if (usage.get("name") or {}).get("value") == name and "/workspaces/" not in usage.get("id", ""):
            return usage
    return None


def _family_name(family: str) -> str:
    """'standardNCASv3_T4Family' → 'NCASv3_T4' (how the usage lines name it)."""
    return re.sub(r"^standard|Family$", "", family)


def _region(name: str) -> str:
    return name.replace(" ", "").lower()
