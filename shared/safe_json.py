"""JSON from strangers: bounded in nesting before it is parsed, so a hostile body gets a clear refusal, not a crash.

Every request path that parses JSON (webhooks, approvals, scoring) goes through `loads`, which raises ValueError
with the reason; callers answer 400 with it.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32
"""Deeper than any event, approval or scoring body this service takes."""

_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)


def depth(data: bytes) -> int:
    """How deeply arrays and objects nest in `data` (brackets inside strings do not count)."""
    deepest = level = 0
    for byte in _STRINGS.sub(b'""', data):
        if byte in b"[{":
            level += 1
            deepest = max(deepest, level)
        elif byte in b"]}":
            level -= 1
    return deepest


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH, what: str = "body") -> Any:
    """`json.loads`, refusing nesting deeper than `max_depth` before parsing; ValueError names the problem."""
    raw = data.encode() if isinstance(data, str) else data
    if depth(raw) > max_depth:
        raise ValueError(f"{what}: JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{what}: not JSON ({str(exc)[:200]})") from None
