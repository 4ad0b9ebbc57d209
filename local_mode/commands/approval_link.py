"""`python -m local_mode approval-link --model M --version V`: new links for a pending approval, when the chat
channel failed or the link was lost. The old link stops working; the new one is printed here, on the person's own
terminal, and never logged (the log line names it by a token id). Runs against the storage in DataStorage with the
service's APPROVAL_SECRET and WEBSITE_HOSTNAME (the function app's host name: Azure or the local twin)."""

from __future__ import annotations

import argparse
import json

from shared.adapters.azure_storage import AzureTableStore
from shared.pipeline.approve import Answer, Approve
from shared.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("approval-link", help="re-issue the approval link of a model version waiting for "
                                                  "approval (the old link stops working)")
    parser.add_argument("--model", required=True, help="registered model name, e.g. tfod-demo")
    parser.add_argument("--version", required=True)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    links = Approve(AzureTableStore.from_settings(settings), settings).reissue(args.model, args.version)
    if isinstance(links, Answer):
        print(json.dumps(links.body) if args.json else f"no new link: {links.body['error']}")
        return 1
    print(json.dumps(links, indent=1) if args.json else
          f"approval page for {args.model} version {args.version} (until {links['expires']}; the old link no longer "
          f"works):\n  {links['page']}")
    return 0
