"""Names shared by both endpoint adapters and the release path."""

from __future__ import annotations

from typing import Any

from shared.naming import ENDPOINT, azure_name
from shared.settings import Settings

DEPLOYMENT_HEADER = "azureml-model-deployment"
"""Request header that pins a call to one deployment of an endpoint (and names it in the answer)."""
ONNX_WORKERS = 2
"""Inference server workers of an ONNX Runtime deployment unless SERVING_WORKERS says otherwise."""


def endpoint_name(settings: Settings, project: str) -> str:
    """`<prefix>-<project>` when that fits Azure's rule (3 to 32 lowercase letters, digits and hyphens, starting
    with a letter); otherwise cleaned and cut, with a hash of the full name so long projects never share one."""
    return azure_name(f"{settings.endpoint_name_prefix}-{project}", ENDPOINT)


def scoring_environment(settings: Settings, runtime: str = "") -> dict[str, str]:
    """What score.py and its inference server read in every deployment, managed, Kubernetes or local: the batching,
    the runtime (the one chosen for the model, else SERVING_RUNTIME) and the server's worker processes."""
    runtime = runtime or settings.serving_runtime
    return {"SCORE_MAX_BATCH": str(settings.serving_max_batch),
            "SCORE_BATCH_WAIT_MS": f"{settings.serving_batch_wait_ms:g}",
            "SERVING_RUNTIME": runtime, "WORKER_COUNT": str(worker_count(settings, runtime))}


def worker_count(settings: Settings, runtime: str) -> int:
    """SERVING_WORKERS, or by runtime: ONNX Runtime's small model leaves the server's Python as the bottleneck,
    which a second process spreads over a second core (measured: +11% requests/s at 16 clients on 2 cores, while a
    second TensorFlow worker lost 10%)."""
    return settings.serving_workers or (ONNX_WORKERS if runtime == "onnx" else 1)


def onnx_usable(export: Any) -> bool:
    """An ONNX export the trainer wrote and measured against the SavedModel (metrics.json's `exports.onnx`): the
    only kind `auto` serves."""
    return isinstance(export, dict) and "error" not in export and "map_50_drop" in (export.get("parity") or {})


def served_runtime(setting: str, metrics: dict[str, Any] | None) -> str:
    """What will run the model (and so which serving environment it gets): `onnx` when SERVING_RUNTIME says so, or
    says `auto` and the model has a measured ONNX export; `tensorflow` otherwise."""
    if setting in ("onnx", "tensorflow"):
        return setting
    return "onnx" if onnx_usable(((metrics or {}).get("exports") or {}).get("onnx")) else "tensorflow"
