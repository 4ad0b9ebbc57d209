"""`python -m local_mode aml-build --azure`: the postprovision hook's image path when the registry refuses ACR Tasks
(USE_AML_BUILD=true, free-credit offers): the trainer and serving images become Azure ML environments built from
their Dockerfiles by the workspace's image build cluster, each the first time a run or a deployment uses it."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from local_mode.commands.common import say

WORKSPACE = ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZURE_ML_WORKSPACE")
"""azd's outputs (infra/main.bicep) that name the workspace; the hook has them in its environment."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("aml-build", help="register the images as Azure ML environments built from their "
                                              "Dockerfiles (USE_AML_BUILD: no ACR Tasks)")
    parser.add_argument("--azure", action="store_true", required=True, help="the workspace of azd's environment")
    parser.add_argument("--json", action="store_true", help="print what was registered as one JSON document")
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace, credential: Any = None, transport: Any = None) -> int:
    missing = [name for name in WORKSPACE if not os.environ.get(name)]
    if missing:
        say(f"[aml-build] needs {', '.join(missing)}: run it from azd (the postprovision hook) or export "
            "`azd env get-values`")
        return 2
    from azure.ai.ml import MLClient
    from azure.ai.ml.exceptions import MlException
    from azure.core.exceptions import HttpResponseError

    from shared.adapters.azureml_endpoint import sdk_message
    from shared.adapters.azureml_environments import register, stage_context

    if credential is None:
        from azure.identity import DefaultAzureCredential
        credential = DefaultAzureCredential()
    ml = MLClient(credential, *(os.environ[name] for name in WORKSPACE), show_progress=False,
                  **({"transport": transport} if transport is not None else {}))
    try:
        with tempfile.TemporaryDirectory() as folder:
            done = register(ml, stage_context(Path(folder) / "context"))
    except MlException as exc:  # the SDK's own checks, e.g. no role on the workspace's storage for the upload
        say(f"[aml-build] failed: {sdk_message(exc)}")
        return 1
    except HttpResponseError as exc:
        say(f"[aml-build] failed: Azure ML answered {exc.status_code}: {exc.message}")
        return 1
    if args.json:
        print(json.dumps({"environments": done}, indent=1))
    for item in done:
        say(f"[aml-build] {item['environment']}: version {item['version']}"
            + (" registered; Azure ML builds its image on first use" if item["created"] == "yes" else
               " already has this build context"))
    return 0
