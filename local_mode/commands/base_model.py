"""`python -m local_mode base-model add SOURCE` / `base-model list`: TF2 model-zoo archives as base models."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from local_mode.commands.common import say
from shared.adapters.archive_download import fetch
from shared.adapters.azure_storage import AzureBlobStore
from shared.base_models import ArchiveError, ArchiveLimits
from shared.pipeline.base_models import BaseModels
from shared.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    base = sub.add_parser("base-model", help="add a TF2 model-zoo archive as a base model, or list them (storage "
                          "in DataStorage)")
    base_sub = base.add_subparsers(dest="base_command", required=True)
    base_add = base_sub.add_parser("add", help="check and unpack an archive (a file or an https:// URL)")
    base_add.add_argument("source", help="path or https:// URL of the .tar.gz")
    base_add.add_argument("--name", help="folder under models/base-models/ (default: the archive's name)")
    base_add.add_argument("--json", action="store_true")
    base_list = base_sub.add_parser("list", help="the base models in the models container")
    base_list.add_argument("--json", action="store_true")
    base.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    """Against the storage in DataStorage."""
    settings = Settings.from_env()
    models = BaseModels(AzureBlobStore.from_settings(settings), settings)
    if args.base_command == "list":
        found = models.list()
        print(json.dumps(found, indent=1) if args.json else "\n".join(
            f"{m['name']}: {m.get('architecture', '?')} {m.get('input_size', '')}, {m.get('num_classes', '?')} "
            f"classes, from {m['source']}" for m in found) or "no base models")
        return 0
    try:
        source = args.source
        data = fetch(source, ArchiveLimits().max_bytes) if source.startswith(("https://", "http://")) \
            else Path(source).read_bytes()
        added = models.add(data, source, args.name)
    except (ArchiveError, OSError) as exc:
        if args.json:
            print(json.dumps({"error": str(exc)}))
        say(f"[base-model] refused: {exc}")
        return 1
    if args.json:
        print(json.dumps(added, indent=1))
    else:
        print(("added" if added["added"] else "already there") + f": {added['folder']} ({added['architecture']}, "
              f"{added['input_size']}, {added['num_classes']} classes); set BASE_MODEL={added['base_model_setting']}")
    return 0
