"""The exported SavedModel converted to ONNX with tf2onnx (opset 17), timed; a conversion that fails is recorded
with its reason and the run goes on (the SavedModel still serves)."""

from __future__ import annotations

import logging
import sys
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
        figures = {"file": ONNX_FILE, "bytes": self.output.stat().st_size, "seconds": seconds, "opset": self.opset}
        log.info("model exported", extra={"format": "onnx", **figures})
        return {"onnx": figures}


def _failed(reason: str, seconds: float) -> dict[str, Any]:
    log.warning("model export failed", extra={"format": "onnx", "error": reason})
    return {"error": reason, "seconds": seconds}
