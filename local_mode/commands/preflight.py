"""`python -m local_mode preflight --azure`: before `azd up` (the preprovision hook runs it), whatever would stop
provisioning or the first run on this subscription — providers, quota, region, offer, sign-in — each with the
command that fixes it. Reads only."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
from typing import Any

from local_mode.commands.common import say
from shared.preflight import Finding, Plan, check


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("preflight", help="check an Azure subscription before azd up: providers, quota, region, "
                                              "offer and sign-in, each failure with its fix")
    parser.add_argument("--azure", action="store_true", required=True, help="check the subscription azd targets")
    parser.add_argument("--subscription", default=os.environ.get("AZURE_SUBSCRIPTION_ID"),
                        help="default: AZURE_SUBSCRIPTION_ID (azd sets it)")
    parser.add_argument("--location", default=os.environ.get("AZURE_LOCATION"),
                        help="default: AZURE_LOCATION (azd sets it)")
    parser.add_argument("--gpu-vm-size", default=os.environ.get("AZURE_GPU_VM_SIZE", "Standard_NC4as_T4_v3"),
                        help="the training cluster's VM size (infra/main.bicep's gpuVmSize)")
    parser.add_argument("--gpu-nodes", type=int, default=1, help="training nodes that must fit the quota")
    parser.add_argument("--json", action="store_true", help="print the findings as one JSON document")
    parser.set_defaults(handler=main)


def plan_of(args: argparse.Namespace, env: dict[str, str]) -> Plan:
    """What `azd up` will ask for, from the arguments and azd's environment values."""
    def flag(name: str) -> bool:
        return env.get(name, "").lower() == "true"

    return Plan(subscription_id=args.subscription, location=args.location.replace(" ", "").lower(),
                training_vm_size=args.gpu_vm_size, training_nodes=args.gpu_nodes,
                serving_vm_size=env.get("SERVING_INSTANCE_TYPE") or "Standard_DS3_v2",
                serving_instances=int(env.get("SERVING_INSTANCE_COUNT") or 1),
                kubernetes=flag("KUBERNETES_SERVING"), encryption_at_host=flag("KUBERNETES_ENCRYPTION_AT_HOST"),
                docker_build=flag("USE_DOCKER_BUILD"), tenant_id=env.get("AZURE_TENANT_ID", ""),
                aml_build=flag("USE_AML_BUILD"), docker_here=shutil.which("docker") is not None)


def az_account() -> dict[str, Any] | None:
    """Who the Azure CLI is signed in as (the azd hooks run `az`), or None."""
    az = shutil.which("az")
    if az is None:
        return None
    done = subprocess.run([az, "account", "show", "--output", "json"], capture_output=True, text=True, timeout=60,
                          check=False)
    try:
        return json.loads(done.stdout) if done.returncode == 0 else None
    except ValueError:
        return None


def report(findings: list[Finding], as_json: bool) -> int:
    failed = [f for f in findings if not f.ok]
    if as_json:
        print(json.dumps({"go": not failed, "findings": [f.__dict__ for f in findings]}, indent=1))
    else:
        for finding in findings:
            print(finding.line())
        print("go: nothing found that would stop azd up" if not failed else
              f"no go: {len(failed)} thing{'s' * (len(failed) > 1)} to fix first (above)")
    return 1 if failed else 0


def main(args: argparse.Namespace, credential: Any = None, transport: Any = None) -> int:
    if not args.subscription or not args.location:
        say("[preflight] needs the subscription and the region: run it from azd (azd hooks run preprovision) or "
            "pass --subscription and --location")
        return 2
    from shared.adapters.azure_preflight import ArmReader, read_facts

    if credential is None:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    plan = plan_of(args, dict(os.environ))
    facts = read_facts(plan, ArmReader(credential, transport), az_account())
    return report(check(plan, facts), args.json)
