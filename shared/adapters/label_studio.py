"""LabellingTool over Label Studio's HTTP API (Community edition, 1.2x): projects kept in step with the label map,
tasks pushed with the model's boxes as predictions, annotation webhooks registered.

Images are uploaded into Label Studio (its import API, without creating tasks) rather than referenced by a SAS URL
of the `to-label` blob: a labeller opens a task days later, after any short-lived SAS would have expired, and Label
Studio needs no credential of the service's storage. Tasks are then imported as JSON, in rank order (Label Studio's
default labelling stream takes tasks by id, so the model's least sure image comes first), each with its
`data.name` (what makes a second push a no-op), `data.rank` and the model's prediction."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import requests

from shared.labelling.export_files import label_studio_config
from shared.ports import LabellingProject, LabellingTask

log = logging.getLogger(__name__)
WEBHOOK_ACTIONS = ["ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED"]
SECRET_HEADER = "X-Label-Studio-Secret"
TITLE_SUFFIX = " · retraining"
PAGE = 100
UPLOAD_FILES = 50
"""Images per upload call: Label Studio refuses more than DATA_UPLOAD_MAX_NUMBER_FILES (100 by default) in one."""
IMPORT_TASKS = 500


class LabelStudioError(RuntimeError):
    """Label Studio refused or could not be reached; the message says which call and why."""


def project_title(project: str) -> str:
    """Label Studio's title for a service project (its titles are at most 50 characters)."""
    return project[: 50 - len(TITLE_SUFFIX)] + TITLE_SUFFIX


class LabelStudio:
    """One Label Studio, reached with a personal access token (refreshed for short-lived access tokens as its API
    asks) or, for installations that still allow them, a legacy token."""

    def __init__(self, url: str, token: str, *, timeout: float = 30.0,
                 session: requests.Session | None = None) -> None:
        self.url, self.token, self.timeout = url.rstrip("/"), token, timeout
        self.session = session or requests.Session()
        self._access, self._access_until = "", 0.0

    # ---- the port ----
    def ensure_project(self, project: str, labels: list[str]) -> LabellingProject:
        title = project_title(project)
        found = next((p for p in self._pages("/api/projects", "results") if p["title"] == title), None)
        if found is None:
            found = self._call("POST", "/api/projects", json={
                "title": title, "label_config": label_studio_config(labels).decode(),
                "description": f"Images the live model of '{project}' is least sure about, its boxes drawn: correct "
                               "and submit; each submit goes back into training."}).json()
            log.info("labelling project created", extra={"project": project, "tool_project": found["id"]})
        else:
            have = _labels_of(found)
            if missing := [name for name in labels if name not in have]:  # never drop one: annotations use it
                self._call("PATCH", f"/api/projects/{found['id']}",
                           json={"label_config": label_studio_config(have + missing).decode()})
                log.info("labelling project classes added", extra={"project": project, "classes": missing})
        return LabellingProject(found["id"], f"{self.url}/projects/{found['id']}/data")

    def push(self, tool_project: LabellingProject, tasks: list[LabellingTask]) -> dict[str, int]:
        there = {t["data"].get("name") for t in self.tasks(tool_project.id)}
        new = sorted((t for t in tasks if t.name not in there), key=lambda t: t.rank)
        paths: dict[str, str] = {}
        for start in range(0, len(new), UPLOAD_FILES):
            paths |= self._upload(tool_project.id, new[start:start + UPLOAD_FILES])
        for start in range(0, len(new), IMPORT_TASKS):  # in rank order: earlier calls get the lower task ids
            self._call("POST", f"/api/projects/{tool_project.id}/import", json=[
                {"data": {"image": paths[t.name], "name": t.name, "rank": t.rank},
                 "predictions": [{"model_version": t.model_version, "score": t.score, "result": t.result}]}
                for t in new[start:start + IMPORT_TASKS]])
        return {"pushed": len(new), "already_there": len(tasks) - len(new)}

    def ensure_webhook(self, tool_project: LabellingProject, url: str, secret: str) -> None:
        hooks = self._call("GET", "/api/webhooks/", params={"project": tool_project.id}).json()
        wanted = {"project": tool_project.id, "url": url, "send_payload": True, "send_for_all_actions": False,
                  "headers": {SECRET_HEADER: secret}, "actions": WEBHOOK_ACTIONS, "is_active": True}
        same = [h for h in hooks if h.get("url") == url]
        if not same:
            self._call("POST", "/api/webhooks/", json=wanted)
        elif same[0].get("headers") != wanted["headers"] or sorted(same[0].get("actions", [])) != sorted(
                WEBHOOK_ACTIONS) or not same[0].get("is_active"):
            self._call("PATCH", f"/api/webhooks/{same[0]['id']}/", json=wanted)

    def image(self, path: str) -> bytes:
        return self._call("GET", path).content

    def submit(self, task_id: int, result: list[dict[str, Any]], lead_time: float = 1.0) -> dict[str, Any]:
        """What a labeller's Submit sends (the labelling page's own call); the demo and the tests act as the person."""
        return self._call("POST", f"/api/tasks/{task_id}/annotations/", json={
            "result": result, "was_cancelled": False, "lead_time": lead_time}).json()

    # ---- reading ----
    def tasks(self, tool_project_id: int) -> Iterator[dict[str, Any]]:
        yield from self._pages("/api/tasks", "tasks", {"project": tool_project_id})

    # ---- plumbing ----
    def _upload(self, tool_project_id: int, tasks: list[LabellingTask]) -> dict[str, str]:
        """The images stored in Label Studio without tasks; their `/data/upload/...` paths by task name."""
        files = [(f"file{i}", (f"{t.name}.jpg", t.image, "image/jpeg")) for i, t in enumerate(tasks)]
        ids = self._call("POST", f"/api/projects/{tool_project_id}/import", params={"commit_to_project": "false"},
                         files=files).json()["file_upload_ids"]
        uploads = self._call("GET", f"/api/projects/{tool_project_id}/file-uploads",
                             params={"ids": json.dumps(ids)}).json()
        by_file = {u["file"].rsplit("/", 1)[-1].split("-", 1)[-1]: f"/data/{u['file']}" for u in uploads}
        return {t.name: by_file[f"{t.name}.jpg"] for t in tasks}

    def _pages(self, path: str, key: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a paged list. Past its last page Label Studio answers 404 ("Invalid page"), so the pages
        end by the list's own count (`total` for tasks, `next` for projects), not by asking once more."""
        page, seen = 1, 0
        while True:
            body = self._call("GET", path, params={**(params or {}), "page": page, "page_size": PAGE}).json()
            items = body.get(key, []) if isinstance(body, dict) else body
            yield from items
            seen += len(items)
            done = len(items) < PAGE or not isinstance(body, dict)
            if isinstance(body, dict):
                done = done or ("next" in body and not body["next"]) or ("total" in body and seen >= body["total"])
            if done:
                return
            page += 1

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        for attempt in (1, 2):
            try:
                response = self.session.request(method, f"{self.url}{path}", headers=self._auth(attempt > 1),
                                                timeout=self.timeout, **kwargs)
            except requests.RequestException as exc:
                raise LabelStudioError(f"Label Studio at {self.url} did not answer {method} {path}: {exc}") from exc
            if response.status_code == 401 and attempt == 1 and self._is_personal_token():
                continue  # the access token ran out early: refresh once
            if response.status_code >= 400:
                raise LabelStudioError(f"Label Studio answered {response.status_code} to {method} {path}: "
                                       f"{_detail(response)}")
            return response
        raise AssertionError("unreachable")

    def _auth(self, refresh: bool) -> dict[str, str]:
        if not self._is_personal_token():
            return {"Authorization": f"Token {self.token}"}
        if refresh or time.time() > self._access_until:
            try:
                answer = self.session.post(f"{self.url}/api/token/refresh/", json={"refresh": self.token},
                                           timeout=self.timeout)
            except requests.RequestException as exc:
                raise LabelStudioError(f"Label Studio at {self.url} did not answer the token refresh: {exc}") from exc
            if answer.status_code != 200:
                raise LabelStudioError(f"Label Studio refused the personal access token (LABEL_STUDIO_TOKEN): "
                                       f"{answer.status_code} {_detail(answer)}")
            self._access = answer.json()["access"]
            self._access_until = _expiry(self._access) - 30
        return {"Authorization": f"Bearer {self._access}"}

    def _is_personal_token(self) -> bool:
        return self.token.count(".") == 2  # a JWT; legacy tokens are 40 hex characters


def _labels_of(project: dict[str, Any]) -> list[str]:
    parsed = project.get("parsed_label_config") or {}
    return list(next(iter(parsed.values()), {}).get("labels", []))


def _expiry(jwt: str) -> float:
    payload = jwt.split(".")[1]
    return float(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"])


def _detail(response: requests.Response) -> str:
    try:
        body = response.json()
        return str(body.get("detail") or body.get("validation_errors") or body)[:300]
    except ValueError:
        return response.text[:300]
