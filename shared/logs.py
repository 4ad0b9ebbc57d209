"""Structured logging: one JSON object a line, carrying the correlation ids of the work in hand."""

from __future__ import annotations

import collections
import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from shared.log_timeline import render

_context: contextvars.ContextVar[tuple[tuple[str, Any], ...]] = contextvars.ContextVar("log_context", default=())

_STANDARD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


@contextlib.contextmanager
def correlation(**ids: Any) -> Iterator[None]:
    """Attach ids (event, batch, run, model version…) to every log line written inside the block."""
    merged = dict(_context.get()) | {k: v for k, v in ids.items() if v is not None}
    token = _context.set(tuple(merged.items()))
    try:
        yield
    finally:
        _context.reset(token)


class JsonFormatter(logging.Formatter):
    """Renders a record as one JSON line, ready for Application Insights or `jq`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(dict(_context.get()))
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class ConsoleFormatter(JsonFormatter):
    """A record as a person reads it on a terminal (local mode's console): time, level, message and the fields that
    matter, as `local_mode logs` shows a timeline; the JSON line, links included, goes to the log file."""

    def format(self, record: logging.LogRecord) -> str:
        return render(json.loads(super().format(record)))


class RecentLines(logging.Handler):
    """Keeps the last lines written (JSON), so a failing process can say what it was doing when it failed."""

    def __init__(self, size: int = 20) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self._lines: collections.deque[str] = collections.deque(maxlen=size)

    def emit(self, record: logging.LogRecord) -> None:
        self._lines.append(self.format(record)[:1000])

    def lines(self) -> list[str]:
        return list(self._lines)


NOISY = ("azure.core.pipeline.policies.http_logging_policy", "azure.identity", "urllib3", "azure.ai.ml")


def configure(level: str = "INFO", stream: Any = None, file: str | Path | None = None, *,
              human: bool = False) -> None:
    """For processes this project owns (command lines, the trainer, local mode): the root logger writes JSON lines
    to stderr at `level` (`human`: people-lines, for a console someone reads), and with `file` every INFO line and
    above to that file too, as JSON (local mode's log file, the twin of the function app's Application Insights
    traces)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(ConsoleFormatter() if human else JsonFormatter())
    handler.setLevel(level.upper())
    handlers: list[logging.Handler] = [handler]
    if file is not None:
        Path(file).parent.mkdir(parents=True, exist_ok=True)
        kept = logging.FileHandler(file, encoding="utf-8")
        kept.setFormatter(JsonFormatter())
        kept.setLevel(logging.INFO)
        handlers.append(kept)
    root = logging.getLogger()
    for old in root.handlers:
        old.close()
    root.handlers[:] = handlers
    _levels(min(level.upper(), "INFO", key=logging.getLevelName) if file is not None else level)


def attach(level: str = "INFO") -> None:
    """For the Functions worker's process: keep every handler on the root logger and add to them.

    The worker attaches its own handler to the root logger once its channel to the host is up; that handler sends
    each record's `format()`ed text to the host with the invocation id (Application Insights' `traces`). It has no
    formatter of its own, so it gets the JSON one: the host then receives the correlation ids too. Only when no
    handler is there at all (outside the worker) is a JSON stderr handler added.
    """
    root = logging.getLogger()
    if not root.handlers:
        configure(level)
        return
    for handler in root.handlers:
        if handler.formatter is None:
            handler.setFormatter(JsonFormatter())
    _levels(level)


def _levels(level: str) -> None:
    logging.getLogger().setLevel(level.upper())
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
