"""What the core asks a training backend for: one run per batch, named by the batch so retries are no-ops."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

SERVICE_TAG = "tfod-retrain"
FAILURE_FILE = "failure.json"
"""Written by the trainer into the run's model folder when it fails for a reason of its own (bad data, bad
config): such a run is not retried. A run that fails without it (killed, lost, preempted) is."""
EXPORT_FORMATS = ("onnx", "tflite")
"""Formats the trainer can write beside the SavedModel (`--export`, EXPORT_FORMATS); `tflite` writes two: a
float16 and a full-integer int8 model (EDGE_FORMATS)."""
SERVED_FORMATS = ("onnx",)
"""Exports an endpoint may serve: always gated on their accuracy against the SavedModel."""
EDGE_FORMATS = ("tflite-fp16", "tflite-int8")
"""Exports for devices: measured and reported; gated only when a project asks (GATE_MAX_EDGE_MAP_DROP)."""


def batch_id_for(project: str, claimed_at: str) -> str:
    """`<project>-<UTC time of the claim, to the microsecond>`: readable, unique per project, and the same
    for every retry of one flush (the claim time is stored with it)."""
    stamp = re.sub(r"[^0-9]", "", claimed_at)[:20]
    return f"{project}-{stamp[:8]}-{stamp[8:14]}-{stamp[14:]}"


def job_name_for(batch_id: str) -> str:
    """Azure ML job names are workspace-unique identities: the same batch always maps to the same job."""
    return re.sub(r"[^a-zA-Z0-9_-]", "-", f"tfod-{batch_id}")[:255].lower()


def model_folder(project: str, batch_id: str) -> str:
    """Where a run's packaged model lands in the models container (both backends, and the gates, agree)."""
    return f"{project}/{batch_id}/model"


FLIPS_IMAGE = "flips.jpg"
"""Beside a model that had a champion: crops of the objects one of the two found and the other missed."""

SHARD_CACHE = "tfrecord-cache"
"""Folder of a project's reusable TFRecord shards, under `<checkpoints>/<project>/`."""


def progress_blob(output_prefix: str) -> str:
    """Where the trainer keeps its latest step, loss and ETA (in the checkpoints container, beside the run's
    checkpoint folder `<project>/<batch id>`): the project page reads it while the run trains."""
    return f"{output_prefix}.progress.json"


@dataclass(frozen=True)
class TrainingRequest:
    project: str
    batch_id: str
    dataset_version: str
    manifest_container: str
    manifest_blob: str
    base_model: str
    num_steps: int
    batch_size: int
    output_prefix: str
    label_map_changed: bool = True
    champion_model: str | None = None
    tfrecord_cache: str | None = None
    """Folder (in the checkpoints container) of the project's TFRecord shard cache, when earlier runs left one:
    mounted into the job so reused shards are read in place instead of downloaded."""
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def job_name(self) -> str:
        return job_name_for(self.batch_id)

    def all_tags(self) -> dict[str, str]:
        return {
            SERVICE_TAG: "1",
            "project": self.project,
            "batch_id": self.batch_id,
            "dataset_version": self.dataset_version,
            "base_model": self.base_model,
            **self.tags,
        }


@dataclass(frozen=True)
class JobState:
    """What the training backend says of a job when asked (reconciliation)."""

    status: str
    """Azure ML's spelling: Queued, Running, Completed, Failed, Canceled…, or Lost (unknown to the backend)."""
    reason: str = ""
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SubmittedRun:
    job_name: str
    run_id: str
    status: str
    created: bool
    """False when the job already existed (a retried submission)."""


def export_arguments(settings: Any) -> list[str]:
    """The trainer's `--export` arguments for EXPORT_FORMATS (the same on Azure ML and in local mode)."""
    return [arg for name in settings.exports for arg in ("--export", name)]
