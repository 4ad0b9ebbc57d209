"""Local mode command line: `python -m local_mode run` is the README's main command."""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import sys
import tempfile
from pathlib import Path

from local_mode import demo_data
from local_mode.azurite import REPO_ROOT, Azurite
from local_mode.loop import LocalLoop, trainer_command
from shared import logs
from shared.adapters.azure_storage import AzureBlobStore
from shared.dataset.layout import DATASET_CONFIG_NAME, DATASET_SUFFIXES
from shared.dataset.service import DatasetBuilder
from shared.settings import Settings

log = logging.getLogger("local_mode")


def upload_folder(store: AzureBlobStore, settings: Settings, folder: Path, project: str) -> int:
    """Upload every dataset file under `folder` to `<datasets>/<project>/…`, keeping relative paths."""
    store.ensure_container(settings.datasets_container)
    count = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative.lower().endswith(DATASET_SUFFIXES) or relative == DATASET_CONFIG_NAME \
                or "imagesets/" in relative.lower():
            store.write(settings.datasets_container, f"{project}/{relative}", path.read_bytes())
            count += 1
    return count


def validate(settings: Settings, project: str, *, as_json: bool) -> int:
    store = AzureBlobStore.from_settings(settings)
    builder = DatasetBuilder(store, settings)
    build = builder.build(project)
    if build.manifest["counts"]["images"]:
        builder.publish(build)
    print(json.dumps(build.report.to_dict(), indent=1) if as_json else build.report.render())
    return 0 if build.manifest["counts"]["images"] else 1


def run(args: argparse.Namespace) -> int:
    """Start Azurite, drop a dataset into it the way a user would, report on it, then let the event loop train."""
    location = REPO_ROOT / ".local" / "azurite"
    with Azurite(location if args.keep_data else None) as azurite, tempfile.TemporaryDirectory() as scratch:
        settings = Settings.from_env().with_overrides(
            storage_connection_string=azurite.connection_string, training_backend="local",
            local_trainer_command=trainer_command(), quiet_seconds=args.quiet_seconds, min_new_images=1,
            train_steps=args.steps, train_batch_size=args.batch_size, base_model="base-models/ssd_mobilenet_v2_128",
            approval_secret=Settings.from_env().approval_secret or secrets.token_urlsafe(32))
        print(f"[local] Azurite on 127.0.0.1 (blob {azurite.ports['blob']}, table {azurite.ports['table']})")
        folder = Path(args.dataset) if args.dataset else None
        if folder is None:
            folder = Path(scratch) / "demo"
            demo_data.write_files(folder, demo_data.vott_export(args.demo_images, seed=args.seed))
            print(f"[local] made a demo dataset: {args.demo_images} images in VoTT's Pascal VOC layout")
        count = upload_folder(AzureBlobStore.from_settings(settings), settings, folder, args.project)
        print(f"[local] uploaded {count} files to {settings.datasets_container}/{args.project}/")
        code = validate(settings, args.project, as_json=args.json)
        if args.validate_only or code:
            return code
        return train_locally(settings, azurite, Path(scratch) / "runs", args)


def train_locally(settings: Settings, azurite: Azurite, work_dir: Path, args: argparse.Namespace) -> int:
    """Events → ledger → debounce → snapshot → local trainer → run events: the Azure flow, on this machine."""
    loop = LocalLoop(settings, azurite.blob_endpoint, work_dir)
    loop.install_base_model()
    print(f"[local] event loop started: quiet period {settings.quiet_seconds:g}s, {settings.train_steps} "
          f"training steps (batch {settings.train_batch_size})")
    try:
        run = loop.run_until_trained(args.project, timeout=args.timeout)
    finally:
        for job in loop.backend.started():
            loop.backend.cancel(job)  # Ctrl-C or a timeout: stop the trainer this command started
    print(f"[local] run {run.get('job_name')} {run['status']}" + (f": {run['reason']}" if run.get("reason") else ""))
    if run["status"] != "Completed":
        return 1
    prefix = f"{args.project}/{run['batch_id']}/model"
    metrics = json.loads(loop.blobs.read(settings.models_container, f"{prefix}/metrics.json").data)
    ap = ", ".join(f"{k}={v:.3f}" for k, v in metrics.get("per_class_ap", {}).items())
    print(f"[local] model in {settings.models_container}/{prefix}/ (SavedModel, label map, pipeline.config)")
    print(f"[local] mAP@0.5:0.95={metrics['map']:.3f}  mAP@0.5={metrics['map_50']:.3f}  per class: {ap}")
    gates = "passed" if run.get("gates_passed") else "failed: " + "; ".join(run.get("gate_reasons", []))
    print(f"[local] release gates {gates}")
    if run.get("model_version"):
        print(f"[local] registered {run['model_name']} version {run['model_version']} ({run['model_state']}); "
              "the approve/reject links are in the 'approval requested' log line above")
    print("[local] next (release path, not built yet): deployment to a local endpoint on approval")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_mode", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="start Azurite, upload a dataset (or a demo one) and report on it")
    run_p.add_argument("--dataset", help="folder of a VoTT export, flat VOC folder or pets-style folder")
    run_p.add_argument("--project", default="demo", help="project folder name in the datasets container")
    run_p.add_argument("--demo-images", type=int, default=60)
    run_p.add_argument("--seed", type=int, default=0)
    run_p.add_argument("--keep-data", action="store_true", help="keep Azurite's data in .local/azurite")
    run_p.add_argument("--json", action="store_true", help="print the report as JSON")
    run_p.add_argument("--validate-only", action="store_true", help="stop after the dataset report")
    run_p.add_argument("--steps", type=int, default=300, help="training steps of the local run")
    run_p.add_argument("--batch-size", type=int, default=8)
    run_p.add_argument("--quiet-seconds", type=float, default=5.0, help="debounce quiet period")
    run_p.add_argument("--timeout", type=float, default=1800, help="give up after this many seconds")
    up = sub.add_parser("upload", help="upload a folder to the storage in DataStorage (Azurite or Azure)")
    up.add_argument("folder")
    up.add_argument("--project", required=True)
    val = sub.add_parser("validate", help="validate a project already in storage and publish its manifest")
    val.add_argument("--project", required=True)
    val.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logs.configure(os.environ.get("LOG_LEVEL", "WARNING"))
    if args.command == "run":
        return run(args)
    settings = Settings.from_env()
    if args.command == "upload":
        count = upload_folder(AzureBlobStore.from_settings(settings), settings, Path(args.folder), args.project)
        print(f"uploaded {count} files to {settings.datasets_container}/{args.project}/")
        return 0
    return validate(settings, args.project, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
