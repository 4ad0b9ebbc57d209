"""`python -m local_mode validate --project NAME`: the dataset report of a project already in storage, and its
manifest published."""

from __future__ import annotations

import argparse

from local_mode.commands.common import validate
from shared.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    val = sub.add_parser("validate", help="validate a project already in storage and publish its manifest")
    val.add_argument("--project", required=True)
    val.add_argument("--json", action="store_true")
    val.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    return validate(Settings.from_env(), args.project, as_json=args.json)
