"""Collected requests as the data collector stores them: CloudEvents, one a line, whose `data` holds the rows
score.py logged (model_inputs and model_outputs, joined by request id)."""

from __future__ import annotations

import base64
import hashlib
import json
import random
from datetime import datetime

from local_mode.demo_data import jpeg_bytes, make_scene


def scene(seed: int, count: int = 2) -> tuple[bytes, list]:
    image, shapes = make_scene(random.Random(seed), 96, count)
    return jpeg_bytes(image), shapes


def rows(request_id: str, image: bytes | None, candidates: list[dict], version: str = "1", *, size: int = 96,
         image_bytes: int | None = None) -> tuple[dict, dict]:
    data = image or b""
    return ({"request_id": request_id, "image_sha256": hashlib.sha256(data or request_id.encode()).hexdigest(),
             "image_bytes": image_bytes or (len(data) if image else 2_000_000), "width": size, "height": size,
             "threshold": 0.3, "max_detections": 20,
             "image_base64": base64.b64encode(data).decode() if image else None},
            {"request_id": request_id, "detections": json.dumps([c for c in candidates if c["score"] >= 0.3]),
             "candidates": json.dumps(candidates), "count": len(candidates), "latency_ms": 5.0,
             "model_name": "tfod-demo", "model_version": version, "deployment": "blue"})


def box(label: str, score: float, xmin: float = 0.1, ymin: float = 0.1, xmax: float = 0.4,
        ymax: float = 0.4) -> dict:
    return {"label": label, "class_id": 1, "score": score,
            "box": {"xmin": xmin * 96, "ymin": ymin * 96, "xmax": xmax * 96, "ymax": ymax * 96},
            "box_normalized": {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax}}


def collector_file(rows_of_collection: list[dict], when: datetime) -> bytes:
    """One JSON Lines file of a collection: a CloudEvent per flush of score.py's buffer."""
    event = {"specversion": "1.0", "id": f"trace-{when.timestamp()}", "type": "azureml.inference.model_inputs",
             "source": "/subscriptions/s/resourceGroups/r/providers/Microsoft.MachineLearningServices/workspaces/w/"
                       "onlineEndpoints/e/deployments/blue", "time": when.isoformat(), "datacontenttype":
             "application/json", "correlationid": rows_of_collection[0]["request_id"], "data": rows_of_collection}
    return (json.dumps(event) + "\n").encode()
