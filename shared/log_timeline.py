"""One batch's story from log lines alone (the JSON lines of the log contract): the uploads its flush took, its
debounce, snapshot, run, gates, registration, approval and release. The same joins as
infra/monitoring/batch-timeline.kql, for local mode's log file."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

Line = dict[str, Any]

SHOWN = ("status", "action", "reason", "hold", "files", "changes", "new_images", "cut", "dataset_version",
         "job_name", "passed", "reasons", "model_name", "model_version", "state", "approver", "slot", "failure",
         "error", "quarantined", "file", "field")
"""Fields a human reading the timeline wants on the line, in this order (the JSON form keeps everything)."""


def parse(lines: Iterable[str]) -> Iterator[Line]:
    """JSON objects with a message; anything else (a traceback's text, a half-written last line) is skipped."""
    for text in lines:
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if isinstance(line, dict) and isinstance(line.get("message"), str):
            yield line


def batches(lines: list[Line], project: str | None = None) -> list[tuple[str, str]]:
    """(project, batch id) of every claimed flush, oldest first."""
    return [(line.get("project", ""), line["batch_id"]) for line in lines
            if line["message"] == "flush claimed" and line.get("batch_id")
            and (project is None or line.get("project") == project)]


def timeline(lines: list[Line], batch_id: str) -> list[Line]:
    """Every line of the batch: lines carrying its id, lines of its runs, and the uploads its flush took (recorded
    after the project's previous cut, up to its own)."""
    own = [line for line in lines if line.get("batch_id") == batch_id]
    if not own:
        return []
    project = next((line["project"] for line in own if line.get("project")), None)
    runs = {line["run_id"] for line in own if line.get("run_id")}
    cut, previous = _cuts(lines, project, batch_id)
    picked = []
    for line in lines:
        if (line.get("batch_id") == batch_id
                or (line.get("run_id") in runs and not line.get("batch_id"))
                or (line.get("project") == project and line["message"] == "uploads recorded" and cut
                    and previous < str(line.get("last_event_time", "")) <= cut)):
            picked.append(line)
    return sorted(picked, key=lambda line: str(line.get("time", "")))


def _cuts(lines: list[Line], project: str | None, batch_id: str) -> tuple[str, str]:
    """The batch's cut and the cut of the project's batch before it ("" when it was the first)."""
    claims = [line for line in lines if line["message"] == "flush claimed" and line.get("project") == project]
    for index, line in enumerate(claims):
        if line.get("batch_id") == batch_id:
            return str(line.get("cut") or ""), str(claims[index - 1].get("cut") or "") if index else ""
    return "", ""


def render(line: Line) -> str:
    """`07:01:02.345  INFO     training submitted  job_name=… dataset_version=…`"""
    time = str(line.get("time", ""))[11:23]
    shown = [f"{key}={_short(line[key])}" for key in SHOWN if line.get(key) not in (None, "", [], {})]
    return f"{time}  {line.get('level', ''):<8} {line['message']}" + ("  " + " ".join(shown) if shown else "")


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= 120 else text[:117] + "…"
