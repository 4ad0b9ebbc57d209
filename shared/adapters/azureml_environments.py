"""The three images as Azure ML environments built from their Dockerfiles: the path when the registry's ACR Tasks
are refused (free-credit offers). The workspace's image build compute (a small CPU cluster, infra/app/
ml-workspace.bicep with amlImageBuild) builds each one the first time a job or deployment uses it.

One build context serves the three Dockerfiles: the two folders they copy (shared/ and trainer_image/). A version is
added only when that context changed (its digest is the version's `context_sha256` tag), so running the hook again
creates nothing; versions are numbered as the Bicep's image-based ones are, and `name@latest` picks the newest."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTEXT_FOLDERS = ("shared", "trainer_image")
"""What the Dockerfiles COPY, and nothing else (no virtual environments, tests or local data)."""
LEFT_OUT = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache")
DIGEST_TAG = "context_sha256"
SERVING_ROUTES = {"liveness_route": {"port": 5001, "path": "/"}, "readiness_route": {"port": 5001, "path": "/"},
                  "scoring_route": {"port": 5001, "path": "/score"}}
"""The inference server's routes (as the image-based versions in ml-workspace.bicep declare them)."""


@dataclass(frozen=True)
class EnvironmentImage:
    name: str
    dockerfile: str
    serves: bool
    description: str


IMAGES = (
    EnvironmentImage("tfod-trainer-gpu", "trainer_image/Dockerfile.gpu", False,
                     "TensorFlow + TF Object Detection API trainer, built by Azure ML from "
                     "trainer_image/Dockerfile.gpu"),
    EnvironmentImage("tfod-serving-cpu", "trainer_image/Dockerfile", True,
                     "TensorFlow + azureml-inference-server-http (score.py), built by Azure ML from "
                     "trainer_image/Dockerfile"),
    EnvironmentImage("tfod-serving-onnx", "trainer_image/Dockerfile.serving-onnx", True,
                     "ONNX Runtime + azureml-inference-server-http (score.py, no TensorFlow), built by Azure ML "
                     "from trainer_image/Dockerfile.serving-onnx"),
)


def stage_context(destination: Path, repo: Path = REPO_ROOT) -> Path:
    """Copy what the Dockerfiles need into `destination` (the folder the SDK uploads as the build context)."""
    for folder in CONTEXT_FOLDERS:
        shutil.copytree(repo / folder, destination / folder, ignore=LEFT_OUT)
    missing = [i.dockerfile for i in IMAGES if not (destination / i.dockerfile).is_file()]
    if missing:
        raise FileNotFoundError(f"build context without {', '.join(missing)}")
    return destination


def context_digest(context: Path) -> str:
    """sha256 over every file's path and bytes: equal contexts build equal images."""
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(path.relative_to(context).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def register(ml_client: Any, context: Path) -> list[dict[str, str]]:
    """Give each environment a version built from `context`, unless its newest version already is (the hook run
    again); returns the version each one now resolves to as name@latest."""
    from azure.ai.ml.entities import BuildContext, Environment

    digest, done = context_digest(context), []
    for image in IMAGES:
        versions = [v for v in ml_client.environments.list(name=image.name) if str(v.version).isdigit()]
        newest = max(versions, key=lambda v: int(v.version), default=None)
        if newest is not None and (newest.tags or {}).get(DIGEST_TAG) == digest:
            done.append({"environment": image.name, "version": str(newest.version), "created": "no"})
            continue
        environment = Environment(
            name=image.name, version=str(int(newest.version) + 1 if newest else 1), description=image.description,
            build=BuildContext(path=str(context), dockerfile_path=image.dockerfile), os_type="linux",
            tags={DIGEST_TAG: digest}, inference_config=SERVING_ROUTES if image.serves else None)
        created = ml_client.environments.create_or_update(environment)
        done.append({"environment": image.name, "version": str(created.version), "created": "yes"})
    return done
