"""Benchmarks (`bash bench/run.sh`): each module measures its figures side by side in one run."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def say(message: str) -> None:
    """Progress, on stderr: stdout holds the figures."""
    print(message, file=sys.stderr, flush=True)


def report(figures: dict[str, Any], json_path: str | None) -> None:
    """The figures as one JSON document on stdout, and in `json_path` when given."""
    text = json.dumps(figures, indent=1)
    print(text)
    if json_path:
        Path(json_path).write_text(text)
