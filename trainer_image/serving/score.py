"""Scoring script of the online endpoint (Azure ML managed/Kubernetes deployments and the local twin alike).

The inference server (azureml-inference-server-http) calls `init()` once per worker and `run()` per request.
Requests: the image's raw bytes (any `image/*` or `application/octet-stream` body, options in the query string)
or JSON `{"image": <base64>, "threshold": 0.5, "max_detections": 20}`. The answer lists detections with label
names, scores and boxes in pixels and normalized; a bad image or option is a 400 that says what is wrong.
Inputs and outputs go to the deployment's data collector (azureml-ai-monitoring) for the next round of labelling.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import hashlib
import io
import json
import logging
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from azureml_inference_server_http.api.aml_request import rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse
from PIL import Image, ImageOps, UnidentifiedImageError

from shared import safe_json  # the serving image has shared/ and trainer_image/ on its PYTHONPATH
from shared.dataset.label_map import LabelMap
from trainer_image.serving import runtimes, telemetry
from trainer_image.serving.batching import Batcher

log = logging.getLogger("azmlinfsrv.score")
"""A child of the inference server's logger (its console handler prints these lines); telemetry.py sends them to the
workspace's AppTraces with the endpoint's identity."""

DEFAULT_THRESHOLD = float(os.environ.get("SCORE_THRESHOLD", "0.3"))
DEFAULT_MAX_DETECTIONS = int(os.environ.get("SCORE_MAX_DETECTIONS", "20"))
MAX_IMAGE_BYTES = int(os.environ.get("SCORE_MAX_IMAGE_BYTES", str(8 * 1024 * 1024)))
MAX_PIXELS = int(os.environ.get("SCORE_MAX_PIXELS", str(16_000_000)))
"""Read from the image header before anything is decoded: a 35 KB PNG can declare 36 megapixels."""
COLLECT_IMAGE_BYTES = 1024 * 1024
"""Images up to this size are kept whole in the collected inputs (for labelling); larger ones by hash only."""
COLLECTIONS = ("model_inputs", "model_outputs")
COLLECT_MIN_SCORE = float(os.environ.get("SCORE_COLLECT_MIN_SCORE", "0.1"))
"""Collected outputs keep the model's detections down to this score, below any caller's threshold: the labelling
loop measures uncertainty and draws pre-annotations from them."""
COLLECT_MAX_CANDIDATES = 20
COLLECT_SECONDS = float(os.environ.get("SCORE_COLLECT_SECONDS", "1"))
COLLECT_MAX_ROWS, COLLECT_MAX_BYTES = 100, 4 * 1024 * 1024
INTRA_OP_THREADS = int(os.environ.get("SCORE_INTRA_OP_THREADS", "1"))
INTER_OP_THREADS = int(os.environ.get("SCORE_INTER_OP_THREADS", "0"))
"""Small detectors gain nothing from splitting one op over cores (measured: 3x the requests/s with 1 thread per op
on 2 cores); concurrent requests use the cores instead. 0 lets TensorFlow choose."""
FORMATS = ("JPEG", "PNG")
MAX_BATCH = int(os.environ.get("SCORE_MAX_BATCH", "8"))
"""Most requests of one worker scored in one model call (1: no batching)."""
BATCH_WAIT_MS = float(os.environ.get("SCORE_BATCH_WAIT_MS", "5"))
"""How long the first request of a batch waits for the others inside the worker (a lone caller never waits)."""
BATCH_CALLS = int(os.environ.get("SCORE_BATCH_CALLS", "0")) or min(os.cpu_count() or 1, 4)
"""Batches run at once (0: one per core, up to 4): each op runs on one thread, so one call uses one core."""

_model: runtimes.Detect | None = None
_runtime = ""
"""tensorflow or onnx (SERVING_RUNTIME, default auto: ONNX Runtime when the model has a measured ONNX export)."""
_batch_dimension: int | None = None
_labels: dict[int, str] = {}
_identity: dict[str, str] = {}
_telemetry: logging.Handler | None = None
_buffer: CollectionBuffer | None = None
_batcher: Batcher | None = None
_input_size: tuple[int, int] | None = None
"""(height, width) of the model's fixed_shape_resizer: images of other sizes are brought to it to share a batch."""


class BadRequest(ValueError):
    """The request cannot be scored; the message says which part of it is wrong."""


def init() -> None:
    """Load the model (ONNX Runtime or TensorFlow) and its label map once, warm it, and open the data collectors."""
    global _model, _runtime, _batch_dimension, _labels, _identity, _telemetry
    if _telemetry is None:
        _telemetry = telemetry.send_to_application_insights(log, os.environ)
    root = Path(os.environ["AZUREML_MODEL_DIR"])
    saved = next((p.parent for p in sorted(root.rglob("saved_model.pb"))), None)
    if saved is None:
        raise FileNotFoundError(f"no saved_model.pb under AZUREML_MODEL_DIR={root}")
    package = saved.parent
    _runtime, why = runtimes.choose(os.environ.get("SERVING_RUNTIME", "auto").strip().lower() or "auto", package)
    _labels = read_label_map(package / "label_map.pbtxt")
    if _runtime == "onnx":
        export = runtimes.onnx_export(package) or {}
        _model, _batch_dimension = runtimes.onnx_model(package / export["file"], INTRA_OP_THREADS, INTER_OP_THREADS)
        size = export.get("input_size")
        input_size = (int(size[0]), int(size[1])) if size else None
    else:
        _set_tensorflow_threads()
        _model, _batch_dimension = runtimes.tensorflow_model(saved)
        config = package / "pipeline.config"
        input_size = runtimes.fixed_input_size(config.read_text()) if config.is_file() else None
    _identity = {"model_name": os.environ.get("MODEL_NAME", ""), "model_version": os.environ.get("MODEL_VERSION", ""),
                 "deployment": os.environ.get("DEPLOYMENT_NAME", "")}
    _detect(np.zeros((1, 64, 64, 3), dtype=np.uint8))
    _start_batching(input_size)
    _open_collectors()
    log.info(json.dumps({"message": "model loaded", "saved_model": str(saved), "classes": len(_labels),
                         "runtime": _runtime, "why": why, **_identity}))


def _set_tensorflow_threads() -> None:
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(INTRA_OP_THREADS)
        tf.config.threading.set_inter_op_parallelism_threads(INTER_OP_THREADS)
    except RuntimeError:  # TensorFlow already runs in this process (score.py used in-process): its threads stand
        log.warning(json.dumps({"message": "TensorFlow threads already set: SCORE_*_OP_THREADS not applied"}))


def _start_batching(input_size: tuple[int, int] | None) -> None:
    """The in-worker batcher, with the model's own input size when its resizer is a fixed shape."""
    global _batcher, _input_size
    if MAX_BATCH <= 1:
        return
    if _batch_dimension == 1:  # exported before batching existed
        log.warning(json.dumps({"message": "model takes one image a call: requests are not batched",
                                **_identity}))
        return
    _input_size = input_size
    _batcher = Batcher(_run_batch, MAX_BATCH, BATCH_WAIT_MS / 1000, BATCH_CALLS)
    if _input_size:  # the batched graph's first call is slow: not on a caller's time
        _detect(np.zeros((min(MAX_BATCH, 2), *_input_size, 3), dtype=np.uint8))


def read_label_map(path: Path) -> dict[int, str]:
    """id → display name (or name) from the OD API's StringIntLabelMap text format."""
    return {item.id: item.display_name or item.name for item in LabelMap.parse(path.read_text()).items}


def _open_collectors() -> None:
    """The deployment's data collector; without one (no sidecar configured) collection is simply off."""
    global _buffer
    if not (os.environ.get("AZUREML_MDC_CONFIG_PATH") or os.environ.get("AZUREML_MDC_ENABLED", "").lower() == "true"):
        log.info(json.dumps({"message": "no data collector configured: inputs and outputs are not collected"}))
        return
    try:
        from azureml.ai.monitoring import Collector
    except ImportError:
        log.warning(json.dumps({"message": "azureml-ai-monitoring missing: inputs and outputs are not collected"}))
        return
    collectors = {name: Collector(name=name, on_error=_collection_failed) for name in COLLECTIONS}
    _buffer = CollectionBuffer(collectors, COLLECT_SECONDS)


def _collection_failed(exc: Exception) -> None:
    log.error(json.dumps({"message": "data collection failed", "error": str(exc)}))


class CollectionBuffer:
    """Rows for the data collector, sent as one DataFrame per collection each second (or each 100 rows / 4 MB of
    images): a DataFrame and a post per request cost as much CPU as the detection. Rows join on `request_id`."""

    def __init__(self, collectors: dict[str, Any], seconds: float) -> None:
        self._collectors, self._seconds = collectors, seconds
        self._rows: dict[str, list[dict[str, Any]]] = {name: [] for name in COLLECTIONS}
        self._bytes, self._lock, self._full = 0, threading.Lock(), threading.Event()
        threading.Thread(target=self._flush_every, name="collect-flush", daemon=True).start()
        atexit.register(self.close)

    def add(self, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        with self._lock:
            self._rows["model_inputs"].append(inputs)
            self._rows["model_outputs"].append(outputs)
            self._bytes += len(inputs.get("image_base64") or "")
            if len(self._rows["model_inputs"]) >= COLLECT_MAX_ROWS or self._bytes >= COLLECT_MAX_BYTES:
                self._full.set()

    def flush(self) -> None:
        import pandas as pd

        with self._lock:
            rows, self._rows, self._bytes = self._rows, {name: [] for name in COLLECTIONS}, 0
        if rows["model_inputs"]:
            context = self._collectors["model_inputs"].collect(pd.DataFrame(rows["model_inputs"]))
            self._collectors["model_outputs"].collect(pd.DataFrame(rows["model_outputs"]), context)

    def close(self) -> None:
        """On the worker's exit: send what is buffered and wait until the collector has posted it."""
        from azureml.ai.monitoring import init

        self.flush()
        init.teardown(wait_for_flush=True)

    def _flush_every(self) -> None:
        while True:
            self._full.wait(self._seconds)
            self._full.clear()
            try:
                self.flush()
            except Exception as exc:  # a failed flush must not stop later ones
                _collection_failed(exc)


@rawhttp
def run(request) -> AMLResponse:
    started = time.perf_counter()
    if request.method != "POST":
        return _answer({"error": "POST an image (raw bytes, or JSON with base64 'image')"}, 405)
    if _batcher is None:
        return _score(request, started)
    _batcher.entering()  # others scoring now wait for this one (up to the bound) to share their model call
    try:
        return _score(request, started)
    finally:
        _batcher.leaving()


def _score(request: Any, started: float) -> AMLResponse:
    try:
        data, options = parse_request(request.get_data(), request.headers.get("Content-Type", ""), request.args)
        image = decode_image(data)
    except BadRequest as exc:
        log.warning(json.dumps({"message": "bad request", "status": 400, "error": str(exc), **_identity}))
        return _answer({"error": str(exc)}, 400)
    try:
        result = detect(image, **options)
    except Exception as exc:  # the request fails, the worker goes on; the line counts as a 5xx
        failed = {"request_id": _request_id(request), "status": 500, "error": f"{type(exc).__name__}: {exc}"[:500],
                  "latency_ms": round((time.perf_counter() - started) * 1000, 2), "detections": []}
        log.error(json.dumps({"message": "scoring failed", **failed, **_identity}))
        _collect(data, image, options, failed, [])  # a release watching this slot counts it
        return _answer({"error": "the model failed on this image"}, 500)
    candidates = result.pop("candidates")
    latency = (time.perf_counter() - started) * 1000
    result |= {"latency_ms": round(latency, 2), "request_id": _request_id(request)}
    _collect(data, image, options, result, candidates)
    log.info(json.dumps({"message": "scored", "status": 200, "latency_ms": round(latency, 2), "detections":
                         len(result["detections"]), "width": image.width, "height": image.height,
                         "request_id": result["request_id"], **_identity}))
    return _answer(result, 200)


def parse_request(body: bytes, content_type: str, query: Any) -> tuple[bytes, dict[str, Any]]:
    """The image bytes and scoring options from either request form."""
    if not body:
        raise BadRequest("the request body is empty: send the image bytes or JSON {\"image\": <base64>}")
    options: dict[str, Any] = {"threshold": query.get("threshold"), "max_detections": query.get("max_detections")}
    if content_type.split(";")[0].strip().lower() == "application/json":
        try:
            payload = safe_json.loads(body, what="the JSON body")
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("image"), str):
            raise BadRequest("JSON requests need a field 'image' holding the base64-encoded image")
        try:
            body = base64.b64decode(payload["image"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequest(f"field 'image' is not valid base64: {exc}") from exc
        options |= {k: payload[k] for k in ("threshold", "max_detections") if payload.get(k) is not None}
    return body, {"threshold": _number(options["threshold"], "threshold", float, DEFAULT_THRESHOLD, 0.0, 1.0),
                  "max_detections": _number(options["max_detections"], "max_detections", int,
                                            DEFAULT_MAX_DETECTIONS, 1, 100)}


def _number(value: Any, field: str, kind: type, default: float, low: float, high: float) -> Any:
    if value is None or value == "":
        return default
    try:
        number = kind(value)
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"'{field}' must be a number between {low} and {high}, got {value!r}") from exc
    if not low <= number <= high:
        raise BadRequest(f"'{field}' must be between {low} and {high}, got {number}")
    return number


def decode_image(data: bytes) -> Image.Image:
    """An upright RGB image, or BadRequest naming what is wrong with the bytes."""
    if len(data) > MAX_IMAGE_BYTES:
        raise BadRequest(f"the image is {len(data)} bytes; the limit is {MAX_IMAGE_BYTES}")
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
        if image.width * image.height > MAX_PIXELS:
            raise BadRequest(f"the image is {image.width}x{image.height}: more than {MAX_PIXELS} pixels")
        image.load()
    except UnidentifiedImageError as exc:
        raise BadRequest(f"the body is not a JPEG or PNG image ({len(data)} bytes)") from exc
    except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise BadRequest(f"the image cannot be decoded: {exc}") from exc
    return ImageOps.exif_transpose(image).convert("RGB")


def _detect(batch: np.ndarray) -> dict[str, np.ndarray]:
    return _model(batch)  # type: ignore[misc]


OUTPUTS = runtimes.OUTPUTS


def _infer(pixels: np.ndarray) -> dict[str, np.ndarray]:
    """One image's boxes, classes and scores: through the batcher when it runs, else a call of its own."""
    if _batcher is not None:
        return _batcher.submit(pixels)
    out = _detect(pixels[np.newaxis])
    return {k: out[k][0] for k in OUTPUTS}


def _run_batch(images: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
    """One model call per input shape; with a fixed-shape model, images of other sizes are first resized to its
    input the way its own resizer does (bilinear), so that a batch of mixed sizes is one call. Normalized boxes
    are relative to the image either way: pixel boxes stay those of the original size."""
    shapes = {image.shape for image in images}
    if len(shapes) > 1 and _input_size is not None:
        images = [_to_input_size(image) for image in images]
    results: list[dict[str, np.ndarray] | None] = [None] * len(images)
    for shape in dict.fromkeys(image.shape for image in images):
        indexes = [i for i, image in enumerate(images) if image.shape == shape]
        out = _detect(np.stack([images[i] for i in indexes]))
        for row, i in enumerate(indexes):
            results[i] = {k: out[k][row] for k in OUTPUTS}
    return results  # type: ignore[return-value]


def _to_input_size(image: np.ndarray) -> np.ndarray:
    height, width = _input_size  # type: ignore[misc]
    return runtimes.resize_bilinear(image, height, width)


def detect(image: Image.Image, threshold: float, max_detections: int) -> dict[str, Any]:
    """Detections above `threshold`, best first, with label names and boxes in pixels and normalized; and under
    `candidates` the ones down to COLLECT_MIN_SCORE, which only the data collector gets (the labelling loop's
    pre-annotations and uncertainty need them)."""
    out = _infer(np.asarray(image, dtype=np.uint8))
    width, height = image.size
    floor, found = min(threshold, COLLECT_MIN_SCORE), []
    kept = np.flatnonzero(out["detection_scores"] >= floor)[:max(max_detections, COLLECT_MAX_CANDIDATES)]
    boxes = np.clip(out["detection_boxes"][kept], 0.0, 1.0).astype(float).tolist()  # one array call, not per value
    for (ymin, xmin, ymax, xmax), class_id, score in zip(boxes, out["detection_classes"][kept].astype(int).tolist(),
                                                         out["detection_scores"][kept].astype(float).tolist(),
                                                         strict=True):
        found.append({
            "label": _labels.get(class_id, f"class {class_id}"), "class_id": class_id, "score": round(score, 4),
            "box": {"xmin": round(xmin * width, 1), "ymin": round(ymin * height, 1),
                    "xmax": round(xmax * width, 1), "ymax": round(ymax * height, 1)},
            "box_normalized": {"xmin": round(xmin, 4), "ymin": round(ymin, 4), "xmax": round(xmax, 4),
                               "ymax": round(ymax, 4)}})
    return {"model": {"name": _identity.get("model_name"), "version": _identity.get("model_version"),
                      "runtime": _runtime},
            "image": {"width": width, "height": height}, "threshold": threshold,
            "detections": [d for d in found if d["score"] >= threshold][:max_detections],
            "candidates": [d for d in found if d["score"] >= COLLECT_MIN_SCORE][:COLLECT_MAX_CANDIDATES]}


def _request_id(request: Any) -> str:
    """The id the inference server answers in `x-request-id` (the caller's, or one it made up)."""
    from flask import g

    return getattr(g, "request_id", None) or request.headers.get("x-request-id") or str(uuid.uuid4())


def _collect(data: bytes, image: Image.Image, options: dict[str, Any], result: dict[str, Any],
             candidates: list[dict[str, Any]]) -> None:
    """One row per request in model_inputs and model_outputs, joined by request_id (a failed request's output row
    carries its status and error, and no detection)."""
    if _buffer is None:
        return
    request_id = result["request_id"]
    _buffer.add(
        {"request_id": request_id, "image_sha256": hashlib.sha256(data).hexdigest(), "image_bytes": len(data),
         "width": image.width, "height": image.height, **options,
         "image_base64": base64.b64encode(data).decode() if len(data) <= COLLECT_IMAGE_BYTES else None},
        {"request_id": request_id, "detections": json.dumps(result["detections"]),
         "candidates": json.dumps(candidates), "count": len(result["detections"]), "latency_ms": result["latency_ms"],
         **({"status": result["status"], "error": result["error"]} if "error" in result else {}), **_identity})


def _answer(body: dict[str, Any], status: int) -> AMLResponse:
    return AMLResponse(body, status, json_str=True)
