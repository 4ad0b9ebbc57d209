"""Use case: add a model-zoo archive as a base model (checked, unpacked into `models/base-models/<name>/` with its
base.json) and list what is there. Re-adding the same archive changes nothing."""

from __future__ import annotations

import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from shared.base_models import BASE_JSON, ArchiveError, ArchiveLimits, describe, unpack, valid_name
from shared.ports import BlobStore, NotFound
from shared.settings import Settings

log = logging.getLogger(__name__)

FOLDER = "base-models"


def name_from(source: str) -> str:
    """`…/ssd_mobilenet_v2_320x320_coco17_tpu-8.tar.gz` → `ssd_mobilenet_v2_320x320_coco17_tpu-8`."""
    base = source.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
    return re.sub(r"\.(tar\.gz|tgz|tar)$", "", base)


class BaseModels:
    def __init__(self, blobs: BlobStore, settings: Settings, limits: ArchiveLimits | None = None) -> None:
        self.blobs, self.container, self.limits = blobs, settings.models_container, limits or ArchiveLimits()

    def add(self, data: bytes, source: str, name: str | None = None) -> dict[str, Any]:
        """Check the archive and upload it; the answer says what was added (or that it was there already)."""
        name = name or name_from(source)
        if not valid_name(name):
            raise ArchiveError(f"{name!r} is not a usable base model name (letters, digits, '.', '_', '-')")
        model = describe(name, source, data, unpack(data, self.limits))
        folder = f"{FOLDER}/{name}/"
        existing = self._described(folder)
        if existing is not None:
            if existing.get("sha256") == model.sha256:
                return existing | {"added": False, "reason": "the same archive is already there"}
            raise ArchiveError(f"{self.container}/{folder} already holds another archive (sha256 "
                               f"{str(existing.get('sha256'))[:12]}…): choose another name")
        self.blobs.ensure_container(self.container)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda item: self.blobs.write(self.container, folder + item[0], item[1]),
                          model.files.items()))
        description = model.description() | {"folder": f"{self.container}/{folder}",
                                             "base_model_setting": f"{FOLDER}/{name}"}
        self.blobs.write(self.container, folder + BASE_JSON, json.dumps(description, indent=1).encode(),
                         content_type="application/json")  # last: its presence marks the upload complete
        logged = ("sha256", "architecture", "input_size", "num_classes")
        log.info("base model added", extra={"base_model": name} | {k: description[k] for k in logged})
        return description | {"added": True}

    def list(self) -> list[dict[str, Any]]:
        """Every base model folder: its base.json, or what its pipeline.config says when it was put there by hand."""
        folders = sorted({info.name.split("/")[1] for info in self.blobs.list(self.container, f"{FOLDER}/")
                          if info.name.count("/") >= 2})
        found = []
        for name in folders:
            described = self._described(f"{FOLDER}/{name}/")
            found.append(described or {"name": name, "source": "uploaded by hand (no base.json)",
                                        "base_model_setting": f"{FOLDER}/{name}"})
        return found

    def _described(self, folder: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.blobs.read(self.container, folder + BASE_JSON).data)
        except NotFound:
            return None
