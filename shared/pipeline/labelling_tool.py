"""The labelling loop's two ends in the team's labelling tool: each labelling export pushed as tasks (the model's
boxes drawn, least sure first), and each submitted annotation written back into `datasets/<project>/label-studio/`
in Label Studio's own JSON, where the ordinary events, debounce and run take it."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from lxml import etree

from shared import logs
from shared.labelling.export_files import ARCHIVE, unzipped
from shared.pipeline.records import ProjectState, Records
from shared.ports import BlobStore, LabellingProject, LabellingTask, LabellingTool, NotFound, TableStore
from shared.settings import Settings

log = logging.getLogger(__name__)
RETURN_FOLDER = "label-studio"
"""Where submitted annotations land in the project's dataset folder: `<name>.json` (the task, Label Studio's JSON)
and `images/<name>.jpg`, as Label Studio's own export lays them out; in a folder of its own, so a Pascal VOC tree
at the project's root does not take the images for strays beside its JPEGImages/."""
WRITE_ACTIONS = {"ANNOTATION_CREATED", "ANNOTATION_UPDATED"}


class LabellingToolSync:
    def __init__(self, tables: TableStore, blobs: BlobStore, settings: Settings, tool: LabellingTool,
                 webhook_url: Callable[[str], str]) -> None:
        self.blobs, self.settings, self.tool, self.webhook_url = blobs, settings, tool, webhook_url
        self.records = Records(tables, settings)

    # ---- out: exports become tasks ----
    def push(self, project: str, folder: str) -> dict[str, Any]:
        """The export in `folder` (of the labelling container) as tasks; if the tool cannot be reached the export
        is kept as pending and pushed again by `retry_pending`, so nothing is lost."""
        with logs.correlation(project=project):
            try:
                files = unzipped(self.blobs.read(self.settings.labelling_container, folder + ARCHIVE).data)
                target = self.tool.ensure_project(project, _labels(files["config.xml"]))
                self.tool.ensure_webhook(target, self.webhook_url(project), self.settings.label_studio_webhook_secret
                                         or "")
                counts = self.tool.push(target, _tasks(files))
            except Exception as exc:  # the tool's outage, or a refusal: the export waits, said in status
                self._remember(project, pending=folder, error=f"{type(exc).__name__}: {exc}")
                log.warning("labelling tool push failed", extra={"folder": folder, "error": str(exc)[:300]})
                return {"pushed": 0, "pending": True, "error": str(exc)[:300]}
            self._remember(project, done=folder, target=target, counts=counts)
            log.info("labelling tool push", extra={"folder": folder, **counts, "tool_project": target.id})
            return {**counts, "tool_project": target.url}

    def retry_pending(self) -> list[dict[str, Any]]:
        """Push again every export a past push could not deliver (the daily tick calls this)."""
        results = []
        for state in self.records.projects():
            for folder in json.loads(state.labelling_tool or "{}").get("pending", []):
                results.append({"project": state.project, "folder": folder, **self.push(state.project, folder)})
        return results

    def _remember(self, project: str, *, pending: str = "", done: str = "", error: str = "",
                  target: LabellingProject | None = None, counts: dict[str, int] | None = None) -> None:
        def change(state: ProjectState) -> None:
            tool = json.loads(state.labelling_tool or "{}")
            waiting = [f for f in tool.get("pending", []) if f != done]
            tool["pending"] = waiting + ([pending] if pending and pending not in waiting else [])
            tool["last_error"] = error
            if target is not None:
                tool |= {"project_id": target.id, "url": target.url, "last_push": {"folder": done, **(counts or {})}}
            state.labelling_tool = json.dumps(tool)

        if self.records.change_project(project, change, "record the labelling tool push") is None:
            state = ProjectState(project=project)
            change(state)
            self.records.save_project(state)

    # ---- back: submitted annotations become dataset files ----
    def receive(self, project: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One webhook call. A submit or correction writes the task's JSON (and its image, once); a skip, a
        cancellation or a deletion removes what an earlier submit wrote. The same call again changes nothing."""
        action = payload.get("action", "")
        with logs.correlation(project=project):
            if action in WRITE_ACTIONS:
                annotation, task = payload.get("annotation") or {}, payload.get("task") or {}
                if annotation.get("was_cancelled"):
                    return self._remove(project, task, "skipped or cancelled in the labelling tool")
                return self._write(project, task, annotation)
            if action == "ANNOTATIONS_DELETED":  # Label Studio sends only the deleted annotations' ids
                gone = {a.get("id") for a in payload.get("annotations", [])}
                removed = [self._remove(project, {"data": {"name": name}}, "deleted in the labelling tool")
                           for name in self._written_with(project, gone)]
                return {"action": "removed", "removed": sum(r["removed"] for r in removed)}
            return {"action": action, "ignored": "not an annotation change"}

    def _write(self, project: str, task: dict[str, Any], annotation: dict[str, Any]) -> dict[str, Any]:
        name, image_path = _name_of(task), (task.get("data") or {}).get("image", "")
        if not name or not image_path:
            raise ValueError(f"webhook task {task.get('id')!r} has no data.name or data.image: not a task the "
                             "service pushed")
        base, image = f"{project}/{RETURN_FOLDER}/{name}", f"{project}/{RETURN_FOLDER}/images/{name}.jpg"
        document = json.dumps([{"id": task.get("id"), "data": task.get("data"), "annotations": [
            {k: annotation.get(k) for k in ("id", "result", "was_cancelled", "ground_truth", "created_at",
                                            "updated_at", "completed_by", "lead_time")}]}], indent=1).encode()
        wrote = []
        if self.blobs.info(self.settings.datasets_container, image) is None:
            self.blobs.write(self.settings.datasets_container, image, self.tool.image(image_path),
                             content_type="image/jpeg")
            wrote.append(image)
        if self._current(base + ".json") != document:  # a replayed webhook rewrites nothing (no new event)
            self.blobs.write(self.settings.datasets_container, base + ".json", document,
                             content_type="application/json")
            wrote.append(base + ".json")
        log.info("labelled image received", extra={"image": name, "boxes": len(annotation.get("result") or []),
                                                    "written": len(wrote)})
        return {"action": "written", "image": name, "written": wrote}

    def _remove(self, project: str, task: dict[str, Any], why: str) -> dict[str, Any]:
        name = _name_of(task)
        removed = 0
        for blob in (f"{project}/{RETURN_FOLDER}/{name}.json", f"{project}/{RETURN_FOLDER}/images/{name}.jpg"):
            if name and self.blobs.info(self.settings.datasets_container, blob) is not None:
                self.blobs.delete(self.settings.datasets_container, blob)
                removed += 1
        log.info("labelled image withdrawn", extra={"image": name, "reason": why, "removed": removed})
        return {"action": "removed", "image": name, "removed": removed, "reason": why}

    def _written_with(self, project: str, annotation_ids: set[Any]) -> list[str]:
        """Names of the returned tasks whose written annotation is one of `annotation_ids` (a deleted annotation
        that is not the one written, e.g. an older one, removes nothing)."""
        names = []
        for blob in self.blobs.list(self.settings.datasets_container, f"{project}/{RETURN_FOLDER}/"):
            if blob.name.endswith(".json") and blob.name.count("/") == 2:
                tasks = json.loads(self._current(blob.name) or b"[]")
                if any(a.get("id") in annotation_ids for t in tasks for a in t.get("annotations", [])):
                    names.append(blob.name.rsplit("/", 1)[-1][:-5])
        return names

    def _current(self, name: str) -> bytes | None:
        try:
            return self.blobs.read(self.settings.datasets_container, name).data
        except NotFound:
            return None


def _name_of(task: dict[str, Any]) -> str:
    name = str((task.get("data") or {}).get("name") or "")
    return name if name and "/" not in name and not name.startswith(".") else ""


def _labels(config: bytes) -> list[str]:
    return [label.get("value") for label in etree.fromstring(config).iter("Label")]


def _tasks(files: dict[str, bytes]) -> list[LabellingTask]:
    """The export's tasks.json as tasks to push: rank in the export's order (the selection's, least sure first)."""
    tasks = []
    for rank, task in enumerate(json.loads(files["tasks.json"]), start=1):
        image = task["data"]["image"]
        prediction = (task.get("predictions") or [{}])[0]
        tasks.append(LabellingTask(name=image.rsplit("/", 1)[-1].rsplit(".", 1)[0], image=files[image], rank=rank,
                                   model_version=prediction.get("model_version", ""),
                                   score=float(prediction.get("score") or 0.0),
                                   result=prediction.get("result") or []))
    return tasks
