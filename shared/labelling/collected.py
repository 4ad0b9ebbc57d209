"""The endpoint's collected requests, read back: the data collector's JSON Lines files (one CloudEvent a line whose
`data` holds the rows score.py logged), model_inputs joined to model_outputs by request id. Pure: bytes in."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from shared.clock import normalized_time

INPUTS, OUTPUTS = "model_inputs", "model_outputs"


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: tuple[float, float, float, float]
    """xmin, ymin, xmax, ymax, normalized to the upright image."""


@dataclass(frozen=True)
class Sample:
    """One scored request: the image (None when the collector kept only its hash) and what the model saw."""

    request_id: str
    time: str
    image_sha256: str
    image_bytes: int
    width: int
    height: int
    image_base64: str | None
    detections: tuple[Detection, ...] = field(default=())
    model_version: str = ""

    @property
    def image(self) -> bytes | None:
        """Decoded when asked: an export decodes only the images it picks."""
        return base64.b64decode(self.image_base64, validate=True) if self.image_base64 else None

    @property
    def top_score(self) -> float:
        return max((d.score for d in self.detections), default=0.0)


@dataclass
class CollectedRows:
    """Rows of both collections, and the lines that could not be read (named by file and line, never dropped)."""

    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """Each request's output row per model version: a request mirrored to a release's new slot is answered, and
    collected, by both versions under one request id."""
    times: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    latest: str = ""

    def add_file(self, name: str, collection: str, data: bytes, after: str = "") -> None:
        """One collector file; rows collected at or before `after` (an ISO time) were read by an earlier export."""
        target = self.inputs if collection == INPUTS else self.outputs
        for number, line in enumerate(data.splitlines(), 1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
                rows, when = event["data"], normalized_time(str(event["time"]))
                rows = json.loads(rows) if isinstance(rows, str) else rows
                if not isinstance(rows, list):
                    raise TypeError("'data' is not a list of rows")
            except (ValueError, KeyError, TypeError) as exc:
                self.problems.append(f"{name} line {number}: {exc}")
                continue
            if when <= after:
                continue
            self.latest = max(self.latest, when)
            for row in rows:
                if isinstance(row, dict) and row.get("request_id"):
                    target[str(row["request_id"])] = row
                    self.times.setdefault(str(row["request_id"]), when)
                    if collection == OUTPUTS:
                        self.answers.setdefault(str(row["request_id"]), {})[str(row.get("model_version", ""))] = row

    def detections_of(self, version: str) -> Iterator[tuple[Detection, ...]]:
        """What the model version saw in each of its requests, from model_outputs alone (the drift watch)."""
        for request_id, by_version in self.answers.items():
            output = by_version.get(version)
            if output is None or output.get("error"):
                continue
            try:
                yield _detections(output)
            except (ValueError, KeyError, TypeError) as exc:
                self.problems.append(f"request {request_id}: {exc}")

    def samples(self, version: str | None = None) -> Iterator[Sample]:
        """Requests seen in both collections (an input whose output is not stored yet waits for the next export),
        with what `version` answered (default: the output read last)."""
        for request_id, row in self.inputs.items():
            output = self.outputs.get(request_id) if version is None else self.answers.get(request_id, {}).get(version)
            if output is None or output.get("error"):  # a failed request: nothing the model saw to label
                continue
            try:
                yield _sample(request_id, self.times.get(request_id, ""), row, output)
            except (ValueError, KeyError, TypeError, binascii.Error) as exc:
                self.problems.append(f"request {request_id}: {exc}")


def _sample(request_id: str, when: str, row: dict[str, Any], output: dict[str, Any]) -> Sample:
    encoded = row.get("image_base64")
    return Sample(request_id=request_id, time=when, image_sha256=str(row["image_sha256"]),
                  image_bytes=int(row.get("image_bytes") or 0), width=int(row["width"]), height=int(row["height"]),
                  image_base64=str(encoded) if encoded else None, detections=_detections(output),
                  model_version=str(output.get("model_version", "")))


def _detections(output: dict[str, Any]) -> tuple[Detection, ...]:
    """The model's detections of one request, down to the collection floor (`candidates`; older rows: the answer)."""
    raw = output.get("candidates") or output.get("detections") or "[]"
    return tuple(detection_of(d) for d in (json.loads(raw) if isinstance(raw, str) else raw))


def detection_of(raw: dict[str, Any]) -> Detection:
    """One detection of score.py's answer (label, score, `box_normalized`)."""
    box = raw["box_normalized"]
    return Detection(str(raw["label"]), float(raw["score"]),
                     (float(box["xmin"]), float(box["ymin"]), float(box["xmax"]), float(box["ymax"])))


def collection_of(blob_name: str) -> str | None:
    """model_inputs / model_outputs from a collector path `<endpoint>/<deployment>/<collection>/yyyy/MM/dd/HH/…`."""
    parts = blob_name.split("/")
    return parts[2] if len(parts) > 3 and parts[2] in (INPUTS, OUTPUTS) else None

