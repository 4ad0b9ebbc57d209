"""`python -m local_mode download-model --project NAME [--version V] --format onnx --out DIR`: a registered model's
files for a device team or another server (ONNX, TFLite float16/int8, or the whole package), with its label map
and the accuracy figures its release was gated on. Runs against the storage in DataStorage (local mode's Azurite
or Azure); with DataStorage unset, against the data a local mode kept (`run --keep-data`)."""

from __future__ import annotations

import argparse
import json
from contextlib import ExitStack
from pathlib import Path

from local_mode.azurite import REPO_ROOT, Azurite
from shared.adapters.azure_storage import AzureBlobStore, AzureTableStore
from shared.pipeline.model_files import FORMATS, ModelFiles, ModelFilesError, model_files
from shared.pipeline.records import Records
from shared.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("download-model", help="copy a registered model's ONNX/TFLite files (or its whole "
                                                   "package) into a folder, with its label map and parity figures")
    parser.add_argument("--project", required=True)
    parser.add_argument("--version", help="model version (default: the live one)")
    parser.add_argument("--format", action="append", choices=FORMATS, help="repeatable (default: onnx)")
    parser.add_argument("--out", required=True, help="folder to write into (<out>/<project>-v<version>/)")
    parser.add_argument("--json", action="store_true", help="print only a JSON summary")
    parser.add_argument("--data-dir", default=str(REPO_ROOT / ".local" / "azurite"), help="with DataStorage unset: "
                        "the Azurite data a local mode kept (run --keep-data --data-dir)")
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    with ExitStack() as stack:
        if not (settings.storage_connection_string or settings.blob_service_uri):
            if not Path(args.data_dir).is_dir():
                return _fail(args, f"DataStorage is not set and {args.data_dir} holds no local mode data (run with "
                                   "--keep-data, or point DataStorage at the storage account)")
            azurite = stack.enter_context(Azurite(Path(args.data_dir)))
            settings = settings.with_overrides(storage_connection_string=azurite.connection_string)
        blobs, tables = AzureBlobStore.from_settings(settings), AzureTableStore.from_settings(settings)
        try:
            found = model_files(blobs, Records(tables, settings), settings, args.project, args.version,
                                args.format or ["onnx"])
        except ModelFilesError as exc:
            return _fail(args, str(exc))
    target = Path(args.out) / f"{found.project}-v{found.version}"
    for name, data in found.files.items():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_bytes(data)
    summary = {"project": found.project, "version": found.version, "folder": str(target),
               "files": {name: len(data) for name, data in found.files.items()}, "exports": _figures(found)}
    print(json.dumps(summary, indent=1) if args.json else _render(summary))
    return 0


def _fail(args: argparse.Namespace, reason: str) -> int:
    print(json.dumps({"error": reason}) if args.json else f"no files: {reason}")
    return 1


def _figures(found: ModelFiles) -> dict[str, dict]:
    """Per export written: its file, size and mAP@0.5 against the SavedModel's on the same validation images."""
    figures = {}
    for name, export in (found.metrics.get("exports") or {}).items():
        parity = export.get("parity") or {}
        figures[name] = {"file": export.get("file"), "bytes": export.get("bytes"), "map_50": parity.get("map_50"),
                         "saved_model_map_50": (parity.get("saved_model") or {}).get("map_50"),
                         "map_50_drop": parity.get("map_50_drop"), "error": export.get("error")}
    return figures


def _render(summary: dict) -> str:
    lines = [f"{summary['project']} version {summary['version']}: {len(summary['files'])} files in "
             f"{summary['folder']}/"]
    for name, size in summary["files"].items():
        export = next((f for f in summary["exports"].values() if f["file"] == name), None)
        said = (f"  mAP@0.5 {export['map_50']:.3f} (SavedModel {export['saved_model_map_50']:.3f}, drop "
                f"{export['map_50_drop']:+.3f} on the same validation images)"
                if export and export["map_50"] is not None else "")
        lines.append(f"  {name:<22} {size / 1e6:7.2f} MB{said}")
    return "\n".join(lines)
