"""A registered model's files for a device team or another server: the export asked for (ONNX, TFLite), its label
map and its accuracy figures, found from the project's run ledger and read from the models container."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from shared.pipeline.records import Records
from shared.ports import BlobStore, NotFound
from shared.settings import Settings
from shared.training import model_folder

SAVED_MODEL = "saved-model"
FORMATS = (SAVED_MODEL, "onnx", "tflite-fp16", "tflite-int8")
ALWAYS = ("label_map.pbtxt", "metrics.json")
"""Beside any format: the class names of its ids, and the parity figures the release was gated on."""


class ModelFilesError(LookupError):
    """The version or format asked for is not there; the message says what is."""


@dataclass
class ModelFiles:
    """What `model_files()` found: the version, its package folder, and (relative name → bytes) of the selection."""

    project: str
    version: str
    folder: str
    metrics: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)


def model_files(blobs: BlobStore, records: Records, settings: Settings, project: str, version: str | None,
                formats: list[str]) -> ModelFiles:
    """The files of `formats` (all of the package for saved-model) of the project's model `version` (default: the
    live one), with the label map and metrics.json; a clear error for an unknown version or a missing export."""
    if unknown := sorted(set(formats) - set(FORMATS)):
        raise ModelFilesError(f"unknown format {', '.join(unknown)}: use {', '.join(FORMATS)}")
    version = version or records.release(project).live_model_version
    runs = [r for r in records.runs(project) if r.model_version]
    if not version:
        raise ModelFilesError(f"project {project!r} has no live model: name a version ({_versions(runs)})")
    run = next((r for r in runs if r.model_version == str(version)), None)
    if run is None:
        raise ModelFilesError(f"project {project!r} has no model version {version} ({_versions(runs)})")
    folder = model_folder(project, run.batch_id)
    found = ModelFiles(project, str(version), folder, _read_json(blobs, settings.models_container, folder))
    wanted: list[str] = []
    for name in formats:
        if name == SAVED_MODEL:
            wanted += [info.name[len(folder) + 1:] for info in blobs.list(settings.models_container, f"{folder}/")]
            continue
        export = (found.metrics.get("exports") or {}).get(name)
        if export is None:
            raise ModelFilesError(f"version {version} of {project!r} has no {name} export (it was trained without "
                                  f"{name.split('-')[0]} in EXPORT_FORMATS)")
        if "error" in export:
            raise ModelFilesError(f"version {version} of {project!r} has no {name} file: {export['error']}")
        wanted.append(export["file"])
    for name in dict.fromkeys([*wanted, *ALWAYS]):
        found.files[name] = blobs.read(settings.models_container, f"{folder}/{name}").data
    return found


def _read_json(blobs: BlobStore, container: str, folder: str) -> dict[str, Any]:
    try:
        return json.loads(blobs.read(container, f"{folder}/metrics.json").data)
    except NotFound as exc:
        raise ModelFilesError(f"{container}/{folder}/metrics.json is missing: the package is incomplete") from exc


def _versions(runs: list) -> str:
    known = sorted((r.model_version for r in runs), key=lambda v: int(v) if v.isdigit() else 0)
    return f"registered: {', '.join(known)}" if known else "none registered yet"
