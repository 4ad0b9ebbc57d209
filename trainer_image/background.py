"""A conversion command run beside the trainer's own work (the validation pass), in a process of its own."""

from __future__ import annotations

import subprocess
import tempfile
import time


class Background:
    """Started at once; `wait()` gives its exit code (None: killed at `timeout`), its output and its seconds. The
    output goes to a file, not a pipe: nobody reads it until the end, and a full pipe would stop the command."""

    def __init__(self, command: list[str], timeout: float) -> None:
        self.timeout, self.started = timeout, time.monotonic()
        self.output = tempfile.TemporaryFile()  # noqa: SIM115 - closed in wait()
        self.process = subprocess.Popen(command, stdout=self.output, stderr=subprocess.STDOUT)

    def wait(self) -> tuple[int | None, str, float]:
        try:
            code: int | None = self.process.wait(max(1.0, self.timeout - self.seconds()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            code = None
        self.output.seek(0)
        text = self.output.read().decode(errors="replace")
        self.output.close()
        return code, text, self.seconds()

    def stop(self) -> None:
        """Kill it if it still runs (the trainer failed before waiting for it)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def seconds(self) -> float:
        return round(time.monotonic() - self.started, 1)


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
