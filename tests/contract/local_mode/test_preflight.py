"""`python -m local_mode preflight --azure` through the real azure-core ARM pipeline, over a transport that answers
like Azure Resource Manager with the spec examples' bodies (tests/data/arm/): a subscription with room says go;
each way a fresh or trial subscription fails says what, why and the fix, with exit code 1."""

from __future__ import annotations

import argparse
import copy
import json

import pytest

from local_mode.commands import preflight
from shared.preflight import KUBERNETES_PROVIDERS, PROVIDERS
from tests.fakes.azure_arm import FakeArm
from tests.fakes.http import IdentityCredential, ServiceTransport

SUB, REGION = "291bba3f-e0a5-47bc-a099-3bdcb2a50a05", "westeurope"


@pytest.fixture
def arm(monkeypatch):
    """A pay-as-you-go subscription with its providers registered and room in its quota (changed from the spec
    examples as said: the GPU size is the examples' DS3_v2 entry renamed); `az` signed in to it."""
    fake = FakeArm(SUB, REGION).register_all(PROVIDERS + KUBERNETES_PROVIDERS)
    fake.subscription["subscriptionPolicies"]["quotaId"] = "PayAsYouGo_2014-09-01"
    gpu = copy.deepcopy(next(s for s in fake.vm_sizes if s["name"] == "Standard_DS3_v2"))  # the example's shape
    fake.vm_sizes.append(gpu | {"name": "Standard_NC6", "family": "standardNCFamily", "vCPUs": 6, "gpus": 1,
                                "supportedComputeTypes": ["AmlCompute"]})
    next(u for u in fake.usages if u["name"]["value"] == "Total Cluster Dedicated Regional vCPUs")["limit"] = 100
    monkeypatch.setattr(preflight, "az_account", lambda: {"id": SUB, "tenantId": fake.subscription["tenantId"]})
    return fake


def run(arm: FakeArm, capsys, env: dict[str, str] | None = None, **changes: str) -> tuple[int, dict]:
    args = argparse.Namespace(subscription=SUB, location=REGION, gpu_nodes=1, json=True,
                              gpu_vm_size=changes.get("gpu_vm_size", "Standard_NC6"))
    with pytest.MonkeyPatch.context() as patch:
        for name, value in (env or {}).items():
            patch.setenv(name, value)
        code = preflight.main(args, IdentityCredential("deployer"), ServiceTransport({"management.azure.com":
                                                                                     arm.handle}))
    return code, json.loads(capsys.readouterr().out)


def failed(document: dict) -> dict[str, dict]:
    return {f["check"]: f for f in document["findings"] if not f["ok"]}


def test_a_subscription_with_room_is_a_go_and_nothing_is_written(arm, capsys):
    code, document = run(arm, capsys)
    assert (code, document["go"], failed(document)) == (0, True, {})
    quota = {f["check"]: f["what"] for f in document["findings"]}
    assert quota["training quota"] == ("12 of 24 vCPUs of NC quota free in westeurope; Standard_NC6 needs 6 "
                                       "(training)")
    assert quota["serving quota"].endswith("Standard_DS3_v2 needs 10 (serving)")  # 4 vCPUs, 2 slots, +20%
    assert f"/subscriptions/{SUB}/providers/Microsoft.Web/geoRegions" in arm.calls  # reads only: GETs


def test_an_unregistered_provider_names_the_command(arm, capsys):
    arm.registered["Microsoft.EventGrid"] = "NotRegistered"
    code, document = run(arm, capsys)
    finding = failed(document)["resource providers"]
    assert code == 1 and finding["what"] == "Microsoft.EventGrid is NotRegistered"
    assert finding["fix"] == "az provider register --namespace Microsoft.EventGrid --wait"


def test_no_gpu_quota_gives_the_numbers_and_where_to_ask(arm, capsys):
    nc = next(u for u in arm.usages if u["name"]["value"] == "Standard NC Family Cluster Dedicated vCPUs"
              and "/workspaces/" not in u["id"])
    nc["limit"] = nc["currentValue"] = 0  # what a fresh subscription has
    code, document = run(arm, capsys)
    finding = failed(document)["training quota"]
    assert code == 1 and finding["what"].startswith("0 of 0 vCPUs of NC quota free in westeurope")
    assert "https://ml.azure.com/quota" in finding["fix"]


def test_a_size_the_region_does_not_offer(arm, capsys):
    code, document = run(arm, capsys, gpu_vm_size="Standard_NC4as_T4_v3")
    assert code == 1 and "Standard_NC4as_T4_v3 is not offered" in failed(document)["training VM size"]["what"]


def test_a_region_without_flex_consumption(arm, capsys):
    arm.flex_regions.remove("West Europe")
    code, document = run(arm, capsys)
    assert code == 1 and "az functionapp list-flexconsumption-locations" in failed(document)["Flex Consumption"]["fix"]


def test_a_trial_offer_refuses_acr_tasks_unless_docker_or_azure_ml_builds(arm, capsys, monkeypatch):
    arm.subscription["subscriptionPolicies"]["quotaId"] = "FreeTrial_2014-09-01"
    monkeypatch.setattr(preflight.shutil, "which", lambda tool: "/usr/bin/docker" if tool == "docker" else None)
    code, document = run(arm, capsys)
    assert code == 1 and failed(document)["image build"]["fix"].startswith("azd env set USE_DOCKER_BUILD true")
    code, document = run(arm, capsys, env={"USE_DOCKER_BUILD": "true"})
    assert code == 0, failed(document)
    monkeypatch.setattr(preflight.shutil, "which", lambda tool: None)  # no Docker where azd runs
    code, document = run(arm, capsys)
    assert code == 1 and failed(document)["image build"]["fix"].startswith("azd env set USE_AML_BUILD true")
    code, document = run(arm, capsys, env={"USE_AML_BUILD": "true"})
    found = {f["check"]: f for f in document["findings"]}
    assert code == 0 and "USE_AML_BUILD" in found["image build"]["what"]
    assert found["image build quota"]["what"].endswith("Standard_DS3_v2 needs 4 (image build)")  # one node


def test_encryption_at_host_needs_its_feature(arm, capsys):
    env = {"KUBERNETES_SERVING": "true", "KUBERNETES_ENCRYPTION_AT_HOST": "true"}
    code, document = run(arm, capsys, env=env)  # the example's features: Feature1, Feature2, not this one
    assert code == 1 and "EncryptionAtHost is NotRegistered" in failed(document)["encryption at host"]["what"]
    arm.features.append(copy.deepcopy(arm.features[0]) | {"name": "Microsoft.Compute/EncryptionAtHost"})
    code, document = run(arm, capsys, env=env)  # the example's "registered" state, now under its name
    assert code == 0, failed(document)


def test_az_on_another_subscription(arm, capsys, monkeypatch):
    monkeypatch.setattr(preflight, "az_account", lambda: {"id": "another"})
    code, document = run(arm, capsys)
    assert code == 1 and failed(document)["az sign-in"]["fix"] == f"az account set --subscription {SUB}"


def test_az_or_azd_in_another_tenant(arm, capsys, monkeypatch):
    """The example subscription's tenant (GetSubscription.json) and the tenant that manages it (managedByTenants)."""
    home, manager = arm.subscription["tenantId"], arm.subscription["managedByTenants"][0]["tenantId"]
    monkeypatch.setattr(preflight, "az_account", lambda: {"id": SUB, "tenantId": "another-tenant"})
    code, document = run(arm, capsys)
    finding = failed(document)["az sign-in"]
    assert code == 1 and finding["fix"] == f"az login --tenant {home}"
    assert "another-tenant" in finding["what"]
    monkeypatch.setattr(preflight, "az_account", lambda: {"id": SUB, "tenantId": manager})  # Lighthouse: allowed
    assert run(arm, capsys)[0] == 0
    code, document = run(arm, capsys, env={"AZURE_TENANT_ID": "another-tenant"})
    assert code == 1 and failed(document)["az sign-in"]["fix"].startswith(f"azd auth login --tenant-id {home}")
