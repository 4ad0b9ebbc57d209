"""`python -m local_mode smoke`: the post-deployment smoke test (local_mode/smoke.py) against Azure or a local
twin."""

from __future__ import annotations

import argparse
import json

from local_mode.commands.common import say
from shared.adapters.azure_storage import AzureBlobStore
from shared.registry import model_name_for
from shared.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    smoke_p = sub.add_parser("smoke", help="post-deployment smoke test: a tiny dataset through the whole service")
    smoke_p.add_argument("--azure", action="store_true", help="test the deployment of azd's current environment "
                         "(AZURE_* outputs in the environment; your Azure credential)")
    smoke_p.add_argument("--function-url", help="local twin: the functions' base URL (…/api)")
    smoke_p.add_argument("--function-key", help="local twin: the function key `serve` printed")
    smoke_p.add_argument("--endpoint-key", help="local twin: the endpoint key `serve` printed")
    smoke_p.add_argument("--project", help="project name (default: smoke-<UTC time>)")
    smoke_p.add_argument("--images", type=int, default=60, help="images in the generated dataset")
    smoke_p.add_argument("--approval-link", help="approve with this link instead of waiting for a person")
    smoke_p.add_argument("--cleanup", action="store_true", help="remove the uploads, the endpoint and the model "
                         "versions the test created, pass or fail")
    smoke_p.add_argument("--poll", type=float, default=10.0, help="seconds between two status checks")
    smoke_p.add_argument("--queue-check", type=float, default=300.0, help="seconds a run may wait for machines "
                         "before the test asks why (quota in the region, the cluster): no quota ends it at once")
    for name, default in (("events", 600), ("submission", 1800), ("training", 14400), ("approval", 3600),
                          ("release", 3600)):
        smoke_p.add_argument(f"--{name}-timeout", type=float, help=f"seconds to wait for {name} (default {default})")
    smoke_p.add_argument("--json", action="store_true", help="print only the JSON summary on stdout")
    smoke_p.set_defaults(handler=smoke)


def smoke(args: argparse.Namespace) -> int:
    """The post-deployment smoke test (local_mode/smoke.py) against Azure or a local twin; JSON summary on stdout
    with --json, progress on stderr."""
    from local_mode.smoke import FunctionApp, Smoke, SmokeFailure
    from local_mode.smoke_targets import AzureTarget, LocalTarget

    try:
        if args.azure:
            target = AzureTarget.from_env()
        else:
            settings = Settings.from_env()
            if not (args.function_url and args.function_key and args.endpoint_key
                    and settings.storage_connection_string):
                say("smoke without --azure needs --function-url, --function-key, --endpoint-key and DataStorage "
                     "(what `python -m local_mode serve` prints)")
                return 2
            target = LocalTarget(AzureBlobStore.from_settings(settings),
                                 FunctionApp(args.function_url, args.function_key), args.endpoint_key,
                                 settings.datasets_container)
        timeouts = {name: getattr(args, f"{name}_timeout") for name in Smoke.DEFAULT_TIMEOUTS
                    if getattr(args, f"{name}_timeout") is not None}
        check = Smoke(target, **({"project": args.project} if args.project else {}), images=args.images,
                      timeouts=timeouts, approval_link=args.approval_link, poll=args.poll,
                      queue_check=args.queue_check)
        summary: dict = {"project": check.project, "ok": False}
        try:
            summary = check.run()
        except SmokeFailure as exc:
            summary |= {"error": str(exc), "steps": [s.__dict__ for s in check.steps]}
            say(f"[smoke] FAILED: {exc}")
        if args.cleanup:
            summary["removed"] = check.cleanup(summary.get("model", {}).get("name") or model_name_for(check.project))
    except SmokeFailure as exc:
        summary = {"ok": False, "error": str(exc)}
        say(f"[smoke] FAILED: {exc}")
    if args.json:
        print(json.dumps(summary, indent=1))
    elif summary.get("ok"):
        say(f"[smoke] passed: {summary['model']['name']} version {summary['model']['version']} serves at "
             f"{summary['scoring_uri']}")
    return 0 if summary.get("ok") else 1
