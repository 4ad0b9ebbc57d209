"""A busy project's history written straight into the service's tables: runs (a share of them registered versions
with per-class AP, the newest waiting for approval) and the release records of those that went live, a run
training with its progress, a live endpoint. For the project page's test and benchmark, where a thousand real runs
would take days."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from shared.pipeline.records import ProjectState, Records, ReleaseRecord, ReleaseState, RunRecord
from shared.ports import BlobStore, TableStore
from shared.registry import PENDING_APPROVAL
from shared.settings import Settings
from shared.training import progress_blob


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def history(project: str, runs: int, versions: int, classes: tuple[str, ...], now: datetime) -> list[RunRecord]:
    """`runs` hourly runs ending at `now`, every (runs // versions)-th registered; each a little better."""
    every = runs // versions
    rows = []
    for i in range(runs):
        start = now - timedelta(hours=runs - i)
        registered = i % every == every - 1
        version = str(i // every + 1) if registered else None
        rows.append(RunRecord(
            project=project, batch_id=f"batch-{i:04d}", status="Completed", dataset_version=f"ds-{i}",
            claimed_at=_iso(start), ended_at=_iso(start + timedelta(minutes=12)), changes=20, new_images=10,
            images=100 + 10 * i,
            map_50=round(0.5 + i / (4 * runs), 4), map=0.3, gates_passed=registered or i % 7 != 0,
            per_class_ap=json.dumps({c: round(0.2 + 0.1 * n + i / (5 * runs), 4) for n, c in enumerate(classes)})
            if registered else None,
            validation_images=40 if registered else None, model_name=f"tfod-{project}" if registered else None,
            golden_map_50=round(0.45 + i / (5 * runs), 4) if registered else None,
            model_version=version, **_released(version, versions, start)))
    return rows


def _released(version: str | None, versions: int, trained: datetime) -> dict[str, object]:
    """A version's release fields: the newest waits for approval, the one before it is live, older ones retired."""
    if version is None:
        return {}
    if version == str(versions):
        return {"model_state": PENDING_APPROVAL}
    live = {"model_state": "deployed", "approver": "ana@contoso.com", "approver_verified": True,
            "deployed_at": _iso(trained + timedelta(minutes=40)), "slot": "blue" if int(version) % 2 else "green"}
    if version != str(versions - 1):
        live |= {"model_state": "retired", "retired_at": _iso(trained + timedelta(hours=100))}
    return live


def write_history(settings: Settings, blobs: BlobStore, tables: TableStore, project: str, *, runs: int = 1000,
                  versions: int = 10, classes: tuple[str, ...] = ("circle", "square"),
                  now: datetime | None = None) -> None:
    """The project's runs, a run training at step 300 of 600, version `versions - 1` live on blue."""
    now = now or datetime.now(UTC)
    blobs.ensure_container(settings.datasets_container)
    blobs.write(settings.datasets_container, f"{project}/a.jpg", b"an image")
    tables.ensure_table(settings.runs_table)
    rows = history(project, runs, versions, classes, now)
    tables.upsert_many(settings.runs_table, [r.to_entity() for r in rows])
    records = Records(tables, settings)
    for run in rows:  # each version that went live left its release record
        if run.deployed_at:
            went_live = datetime.fromisoformat(run.deployed_at)
            records.add_release_record(ReleaseRecord(
                record_id=ReleaseRecord.key(went_live, run.model_version or ""), project=project,
                model_name=run.model_name or "", model_version=run.model_version or "", batch_id=run.batch_id,
                dataset_version=run.dataset_version or "", outcome="live", ended_at=run.deployed_at,
                live_from=run.deployed_at, slot=run.slot or "", gates_passed=True, approver=run.approver or "",
                approver_verified=run.approver_verified, runtime="onnx"))
    training = f"batch-{runs:04d}"
    records.save_project(ProjectState(project=project, phase="training", batch_id=training, step="training",
                                      active_job=f"tfod-{training}"))
    blobs.ensure_container(settings.checkpoints_container)
    blobs.write(settings.checkpoints_container, progress_blob(f"{project}/{training}"), json.dumps(
        {"step": 300, "total_steps": 600, "loss": 0.91, "steps_per_second": 2.5, "eta_seconds": 120,
         "at": _iso(datetime.now(UTC))}).encode())
    live = runs // versions * (versions - 1) - 1
    records.save_release(ReleaseState(
        project=project, phase="live", live_slot="blue", live_model_name=f"tfod-{project}",
        live_model_version=str(versions - 1), live_batch_id=f"batch-{live:04d}", live_since=_iso(now),
        traffic=json.dumps({"blue": 100}), scoring_uri="http://127.0.0.1:1/score"))
