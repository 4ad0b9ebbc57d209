"""The exported SavedModel converted to ONNX with tf2onnx (opset 17), timed; a conversion that fails is recorded
with its reason and the run goes on (the SavedModel still serves)."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

OPSET = 17
ONNX_FILE = "model.onnx"


def to_onnx(saved_model: Path, package: Path, *, opset: int = OPSET, timeout: float = 900) -> dict[str, Any]:
    """`package/model.onnx` from `saved_model`; its size and conversion time, or `error` with tf2onnx's last line.
    tf2onnx runs as its own process: its graph rewrites keep a second copy of the model in memory."""
    output, started = package / ONNX_FILE, time.monotonic()
    command = [sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(saved_model), "--output", str(output),
               "--opset", str(opset)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return _failed(f"tf2onnx did not finish within {timeout:.0f} s", started)
    if done.returncode != 0 or not output.exists():
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        return _failed(f"tf2onnx exited {done.returncode}: {lines[-1] if lines else 'no output'}", started)
    figures = {"file": ONNX_FILE, "bytes": output.stat().st_size, "seconds": round(time.monotonic() - started, 1),
               "opset": opset}
    log.info("model exported", extra={"format": "onnx", **figures})
    return figures


def _failed(reason: str, started: float) -> dict[str, Any]:
    log.warning("model export failed", extra={"format": "onnx", "error": reason})
    return {"error": reason, "seconds": round(time.monotonic() - started, 1)}
