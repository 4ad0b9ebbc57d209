"""What several local mode commands share: the log file, the local settings, Azurite's data folder, recovery of
runs a stopped local mode left, uploading a folder and validating a project."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from local_mode.azurite import REPO_ROOT, Azurite
from local_mode.event_source import LOCAL_STORAGE_TOPIC
from local_mode.functions_host import FunctionsHost
from local_mode.loop import LocalLoop, trainer_command
from shared.adapters.azure_storage import AzureBlobStore
from shared.dataset.layout import is_unread_annotation, role_of
from shared.dataset.service import DatasetBuilder
from shared.settings import Settings

LOG_FILE = REPO_ROOT / ".local" / "logs" / "local-mode.jsonl"


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """--keep-data and --data-dir, as `run` and `serve` take them."""
    parser.add_argument("--keep-data", action="store_true", help="keep Azurite's data in --data-dir")
    parser.add_argument("--data-dir", default=str(REPO_ROOT / ".local" / "azurite"),
                        help="Azurite's data folder with --keep-data (one local mode at a time)")


def say(line: str) -> None:
    """Progress for people, on stderr (stdout may hold a --json document)."""
    print(line, file=sys.stderr, flush=True)


def upload_folder(store: AzureBlobStore, settings: Settings, folder: Path, project: str) -> int:
    """Upload every dataset file under `folder` to `<datasets>/<project>/…`, keeping relative paths (and
    annotation files no reader takes, so the report names them)."""
    store.ensure_container(settings.datasets_container)
    count = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if role_of(relative) != "other" or is_unread_annotation(relative) or "imagesets/" in relative.lower():
            store.write(settings.datasets_container, f"{project}/{relative}", path.read_bytes())
            count += 1
    return count


def validate(settings: Settings, project: str, *, as_json: bool, out: Any = None) -> int:
    store = AzureBlobStore.from_settings(settings)
    builder = DatasetBuilder(store, settings, persist=False)
    build = builder.build(project)
    if build.manifest["counts"]["images"]:
        builder.publish(build)
    print(json.dumps(build.report.to_dict(), indent=1) if as_json else build.report.render(), file=out or sys.stdout)
    return 0 if build.manifest["counts"]["images"] else 1


def local_settings(env: Settings, args: argparse.Namespace, azurite: Azurite, host: FunctionsHost,
                   webhook_url: str) -> Settings:
    """The service's settings for local mode: Azurite, the local trainer, the demo's gate, this run's knobs."""
    return env.with_overrides(
        storage_connection_string=azurite.connection_string, training_backend="local",
        local_trainer_command=trainer_command(), quiet_seconds=args.quiet_seconds, min_new_images=1,
        train_steps=args.steps, train_batch_size=args.batch_size, base_model="base-models/ssd_mobilenet_v2_128",
        approval_secret=env.approval_secret or secrets.token_urlsafe(32), public_host=host.host,
        expected_blob_topic=env.expected_blob_topic or LOCAL_STORAGE_TOPIC,
        approval_webhook_url=webhook_url, gate_min_map_50=args.gate_min_map_50,
        gate_min_validation_images=min(env.gate_min_validation_images, 10),
        # a trainer here is watched by this very process: ask it after 30 s of silence, retry lost runs soon
        reconcile_after_seconds=float(os.environ.get("RECONCILE_AFTER_SECONDS", 30)),
        retry_backoff_seconds=float(os.environ.get("RETRY_BACKOFF_SECONDS", 10)),
        # the whole release sequence in a couple of minutes: half the demo's traffic mirrored, a short bake
        release_shadow_percent=int(os.environ.get("RELEASE_SHADOW_PERCENT", 50)),
        release_shadow_requests=int(os.environ.get("RELEASE_SHADOW_REQUESTS", 40)),
        release_shadow_minutes=float(os.environ.get("RELEASE_SHADOW_MINUTES", 2)),
        release_bake_minutes=float(os.environ.get("RELEASE_BAKE_MINUTES", 1)))


def data_folder(args: argparse.Namespace) -> Path | None:
    """Where Azurite keeps its files with --keep-data (locked: one local mode per folder); None: a fresh one."""
    return Path(args.data_dir) if args.keep_data else None


def recover(loop: LocalLoop, timeout: float = 180) -> None:
    """What a stopped local mode left behind in a kept data folder: runs whose trainer died with it are finished
    now (reported as lost, and retried like any run lost to the infrastructure); the endpoints' deployments, which
    died with it (on Azure they outlive the app), are started again as the releases table says."""
    for job in loop.services.reconcile().reconcile_all(force=True):
        say(f"[local] run {job} was interrupted when local mode stopped: reported, and its changes train again")
    release = loop.services.release()
    projects = [row.project for row in release.records.releases() if row.live_model_version]
    deadline = time.monotonic() + timeout
    while projects and time.monotonic() < deadline:
        states = {p: release.restore(p) for p in projects}
        for project, slots in states.items():
            if all(state == "ready" for state in slots.values()):
                say(f"[local] endpoint of {project} restored: {', '.join(slots)} as the releases table says")
                projects.remove(project)
            elif failed := [s for s in slots.values() if s.startswith("failed")]:
                say(f"[local] endpoint of {project} not restored: {failed[0]}")
                projects.remove(project)
        time.sleep(0.5)
