"""`python -m local_mode export-labels --project NAME`: the labelling export on demand (the timer does it daily)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from shared.adapters.azure_storage import AzureBlobStore, AzureTableStore
from shared.labelling.export_files import unzipped
from shared.pipeline.labelling import Labelling
from shared.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    lab = sub.add_parser("export-labels", help="export the live model's uncertain production images for labelling "
                         "(storage in DataStorage: local mode's Azurite, or Azure)")
    lab.add_argument("--project", required=True)
    lab.add_argument("--download", help="also copy the export into this folder (import it into CVAT from there)")
    lab.add_argument("--json", action="store_true", help="print only the export's summary as JSON")
    lab.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    """The labelling export on demand, against the storage in DataStorage."""
    settings = Settings.from_env()
    blobs = AzureBlobStore.from_settings(settings)
    summary = Labelling(AzureTableStore.from_settings(settings), blobs, settings).export(args.project)
    if args.download and summary.get("exported"):
        archive = blobs.read(settings.labelling_container, summary["archive"].split("/", 1)[1]).data
        target = Path(args.download) / summary["export_id"]
        for name, data in unzipped(archive).items():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(data)
        (target.parent / f"{summary['export_id']}.zip").write_bytes(archive)
        summary["downloaded_to"] = str(target)
    if args.json:
        print(json.dumps(summary, indent=1))
    elif summary.get("exported"):
        print(f"{summary['exported']} images need labels: {summary['folder']}"
              + (f" (copied to {summary['downloaded_to']})" if "downloaded_to" in summary else ""))
    else:
        print(f"nothing to label: {summary.get('reason')}")
    return 0 if "export_id" in summary else 1
