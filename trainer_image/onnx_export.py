"""The exported SavedModel converted to ONNX with tf2onnx (opset 17), its per-image loops then rebuilt as batched ops
(onnx_postprocess), timed; a conversion that fails is recorded with its reason and the run goes on (the SavedModel
still serves)."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

from trainer_image.background import Background, last_line

log = logging.getLogger(__name__)

OPSET = 17
ONNX_FILE = "model.onnx"


class OnnxConversion:
    """`package/model.onnx` from `saved_model`, converted by tf2onnx in a process of its own, started at once so
    that it runs beside the validation pass (its graph rewrites keep a second copy of the model in memory, and
    take ~25 s on two cores); `results()` waits for it."""

    def __init__(self, saved_model: Path, package: Path, *, opset: int = OPSET, timeout: float = 900) -> None:
        self.output, self.opset = package / ONNX_FILE, opset
        self.command = Background([sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(saved_model),
                                   "--output", str(self.output), "--opset", str(opset)], timeout)

    def stop(self) -> None:
        self.command.stop()

    def results(self) -> dict[str, dict[str, Any]]:
        """{"onnx": its size and conversion time, or `error` with tf2onnx's last line}."""
        code, output, seconds = self.command.wait()
        if code is None:
            return {"onnx": _failed(f"tf2onnx did not finish within {self.command.timeout:.0f} s", seconds)}
        if code != 0 or not self.output.exists():
            return {"onnx": _failed(f"tf2onnx exited {code}: {last_line(output)}", seconds)}
        started = time.monotonic()
        batched = _batch_loops(self.output)
        figures = {"file": ONNX_FILE, "bytes": self.output.stat().st_size, "opset": self.opset, "batched": batched,
                   "seconds": round(seconds + time.monotonic() - started, 2)}
        log.info("model exported", extra={"format": "onnx", **figures})
        return {"onnx": figures}


def _batch_loops(path: Path) -> str:
    """"yes", or why the converted graph's NMS and preprocessing loops were kept as tf2onnx wrote them."""
    from trainer_image.onnx_postprocess import nms_settings, rewrite_file

    try:
        nms, why = nms_settings((path.parent / "pipeline.config").read_text())
        why = why or rewrite_file(path, nms)  # type: ignore[arg-type]
    except Exception as exc:  # the converted graph still serves, only slower
        why = f"the rewrite failed: {type(exc).__name__}: {exc}"[:300]
    if why:
        log.warning("onnx loops kept as converted", extra={"format": "onnx", "error": why})
    return why or "yes"


def _failed(reason: str, seconds: float) -> dict[str, Any]:
    log.warning("model export failed", extra={"format": "onnx", "error": reason})
    return {"error": reason, "seconds": seconds}
