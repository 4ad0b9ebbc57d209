"""`python -m local_mode upload FOLDER --project NAME`: a folder into the datasets container of the storage in
DataStorage (Azurite or Azure), as a user's sync would."""

from __future__ import annotations

import argparse
from pathlib import Path

from local_mode.commands.common import upload_folder
from shared.adapters.azure_storage import AzureBlobStore
from shared.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    up = sub.add_parser("upload", help="upload a folder to the storage in DataStorage (Azurite or Azure)")
    up.add_argument("folder")
    up.add_argument("--project", required=True)
    up.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    count = upload_folder(AzureBlobStore.from_settings(settings), settings, Path(args.folder), args.project)
    print(f"uploaded {count} files to {settings.datasets_container}/{args.project}/")
    return 0
